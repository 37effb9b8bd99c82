"""Misapplied setups warn (issue 14, item 8): options the analytical engine ignores, a CPU
measurement validated against a GPU spec."""

from __future__ import annotations

import warnings

import pytest

from codesign.cli.main import main
from codesign.hardware import load_hardware
from codesign.validation.host import warn_device_mismatch


@pytest.mark.parametrize("extra,named", [(["--streams", "2"], "--streams 2"),
                                         (["--threads", "4"], "--threads 4"),
                                         (["--no-double-buffering"], "--no-double-buffering"),
                                         (["--issue-order", "critical_path"], "--issue-order critical_path")])
def test_event_options_with_analytical_engine_warn(capsys, extra, named):
    assert main(["simulate", "nl_block", "--hw", "t4", "--dtype", "fp16", "-q", *extra]) == 0
    err = capsys.readouterr().err
    assert f"warning: {named} ignored by the analytical engine (add --engine event" in err


def test_no_warning_when_the_engine_uses_them(capsys):
    assert main(["simulate", "nl_block", "--hw", "t4", "--dtype", "fp16", "-q", "--engine", "event",
                 "--streams", "2"]) == 0
    assert "ignored" not in capsys.readouterr().err
    assert main(["simulate", "nl_block", "--hw", "t4", "--dtype", "fp16", "-q"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_cpu_measurement_against_gpu_spec_warns():
    with pytest.warns(UserWarning, match="measuring on cpu but --hw 'a100-sxm4-40gb' describes a gpu"):
        warn_device_mismatch(load_hardware("a100-sxm4-40gb"), "cpu")
    with pytest.warns(UserWarning, match="describes a cpu"):
        warn_device_mismatch(load_hardware("host-cpu"), "cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_device_mismatch(load_hardware("host-cpu"), "cpu")
        warn_device_mismatch(load_hardware("t4"), "cuda:0")
