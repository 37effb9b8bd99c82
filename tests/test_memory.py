"""Peak memory footprint (issue 14, item 8): hand-computed on a two-op graph, reported by
simulate with a warning when it does not fit, and a sweep column."""

from __future__ import annotations


import torch  # noqa: E402 - a hard dependency

import codesign  # noqa: E402
from codesign.cli.main import main  # noqa: E402
from codesign.hardware import load_hardware  # noqa: E402
from codesign.results.memory import memory_footprint  # noqa: E402


def _net():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())


def test_conv_relu_by_hand():
    g = codesign.trace(_net(), (1, 3, 8, 8))
    m = memory_footprint(g, load_hardware("t4"), "fp32")
    assert m.weights_bytes == (8 * 3 * 3 * 3 + 8) * 4                 # 224 params
    # conv output and relu output live together while relu runs; the input died after conv
    assert m.activations_peak_bytes == 2 * 8 * 8 * 8 * 4
    assert m.workspace_bytes == 1 * 3 * 3 * 3 * 8 * 8 * 4              # im2col [27, 64]
    assert m.optimizer_bytes == m.gradients_bytes == 0
    assert m.total_bytes == 896 + 4096 + 6912 and m.fits
    half = memory_footprint(g, load_hardware("t4"), "fp16")
    assert half.activations_peak_bytes == m.activations_peak_bytes // 2


def test_training_counts_gradients_and_optimizer_state():
    g = codesign.trace(_net(), (1, 3, 8, 8), phase="train", optimizer="adamw")
    m = memory_footprint(g, load_hardware("t4"), "fp16")
    assert m.weights_bytes == m.gradients_bytes == 224 * 4             # fp32 master + grads
    assert m.optimizer_bytes == 2 * 224 * 4                            # AdamW: two moments


def test_simulate_flags_a_run_that_does_not_fit(capsys):
    assert main(["simulate", "nl_block", "--hw", "t4", "--dtype", "fp16", "-q"]) == 0
    cap = capsys.readouterr()
    assert "memory        peak" in cap.out and "warning" not in cap.err
    assert main(["simulate", "nl_block", "--hw", "t4", "--dtype", "fp16", "-q",
                 "--input", "1000000,1024,14,14"]) == 0
    cap = capsys.readouterr()
    assert "warning: the run needs" in cap.err and "t4 has 17.180 GB" in cap.err


def test_sweep_memory_columns(tmp_path, monkeypatch):
    from codesign.sweeps.runner import run_sweep

    monkeypatch.setenv("CODESIGN_TRACE_CACHE", str(tmp_path / "cache"))
    spec = {"name": "m", "workloads": [{"workload": "ccp_conv_block", "input": [1, 32, 16, 16],
                                        "knobs": {"in_ch": 32, "factor": 2}}],
            "hardware": [{"preset": "a100-sxm4-40gb", "knobs": {"dram_bytes": [1000, 4.0e10]}}],
            "dtype": ["fp16"]}
    run = run_sweep(spec, output=tmp_path / "o", progress=False)
    f = run.frame
    assert (f["peak_memory_bytes"] > 1000).all()
    assert list(f["fits_memory"]) == [False, True]
    assert run.summary.unfit_points == 1
