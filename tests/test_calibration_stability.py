"""Calibration that knows when it cannot be trusted (issue 14, item 4): rounds until stable or
a stated limit, the spread reported, implausible fitted values and a noisy host flagged, exit
status 3 with --strict."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from codesign.calibration import host, stability
from codesign.cli.main import main
from codesign.hardware import load_hardware, load_spec_dict


def test_spread_and_last_change_by_hand():
    samples = {"a": [1.0, 1.2, 0.8, 1.0], "b": [2.0, 2.0, 2.0, 2.0]}
    # a: q25 0.95, q75 1.05 -> 0.1; b: 0 -> median 0.05
    assert stability.spread(samples) == pytest.approx(0.05)
    # a: median of 4 = 1.0 vs median of 3 = 1.0; b: 0 -> 0
    assert stability.last_change(samples) == 0.0
    assert stability.last_change({"a": [1.0]}) == float("inf")
    assert not stability.is_stable(samples, 2, 3) and stability.is_stable(samples, 4, 3)


def _spec(clock_hz=2.5e9, reported=2.5e9, eager=10e-6):
    hw = load_hardware("host-cpu")
    d = __import__("yaml").safe_load(hw.to_yaml())
    d["clock_hz"] = clock_hz
    d["dispatch"]["eager_overhead_s"] = eager
    d["provenance"] = {"clock": {"reported_hz": reported}}
    return load_spec_dict(d, file="<test>")


QUIET = {"a": [1.0, 1.01, 0.99, 1.0], "b": [2.0, 2.02, 1.98, 2.0]}
NOISY = {"a": [1.0, 1.6, 0.7, 1.3, 0.9], "b": [2.0, 3.1, 1.5, 2.6, 1.9]}


def test_assess_quiet_host_trusted():
    s = stability.assess(QUIET, _spec(), 8)
    assert s.stable and s.trusted and s.spread < 0.02


def test_assess_noisy_host_warns():
    s = stability.assess(NOISY, _spec(), 5)
    assert not s.trusted
    assert any("host too noisy" in w for w in s.warnings)


def test_assess_implausible_fit_warns():
    s = stability.assess(QUIET, _spec(clock_hz=7.98e9, reported=2.5e9, eager=169e-6), 8)
    text = " ".join(s.warnings)
    assert "fitted clock 7.98 GHz is 3.2x the reported 2.50 GHz" in text
    assert "eager overhead 169.0 us/op is outside" in text
    # where the kernel reports the turbo maximum, that is the limit (1.1x)
    s = stability.assess(QUIET, _spec(clock_hz=4.0e9, reported=1.1e9), 8, max_clock_hz=4.7e9)
    assert s.trusted                                  # a laptop: 3.6x its base, under its turbo
    s = stability.assess(QUIET, _spec(clock_hz=6.0e9, reported=1.1e9), 8, max_clock_hz=4.7e9)
    assert "above the CPU's maximum turbo clock 4.70 GHz" in " ".join(s.warnings)


class _FakeRunner:
    def __init__(self, rounds):
        self.rounds_source = iter(rounds)
        self.samples = {"a": [], "b": []}
        self.rounds = 0


class _FakeCalibration:
    """Stands in for host.Calibration: each round appends the next timings."""

    script: list = []

    def __init__(self, *a, **k):
        self.runner = _FakeRunner(self.script)

    def run_round(self):
        a, b = next(self.runner.rounds_source)
        self.runner.samples["a"].append(a)
        self.runner.samples["b"].append(b)
        self.runner.rounds += 1

    def finish(self, out):
        return _spec()


def _run(monkeypatch, script, **kw):
    monkeypatch.setattr(host, "Calibration", _FakeCalibration)
    monkeypatch.setattr(_FakeCalibration, "script", script)
    return host.calibrate(out=None, **kw)


def test_quiet_host_stops_early(monkeypatch):
    spec = _run(monkeypatch, itertools.repeat((1.0, 2.0)))
    st = spec.provenance["stability"]
    assert st["rounds"] == stability.ROUNDS_FULL[0] and st["stable"] and not st["warnings"]


def test_noisy_host_runs_to_the_limit_and_warns(monkeypatch):
    noisy = itertools.cycle([(1.0, 2.0), (1.7, 3.3), (0.6, 1.2), (1.4, 2.9)])
    spec = _run(monkeypatch, noisy, quick=True)
    st = spec.provenance["stability"]
    assert st["rounds"] == st["max_rounds"] == stability.ROUNDS_QUICK[1]
    assert st["warnings"] and st["spread"] > stability.NOISY_SPREAD


def test_explicit_rounds_run_exactly(monkeypatch):
    spec = _run(monkeypatch, itertools.repeat((1.0, 2.0)), rounds=6)
    assert spec.provenance["stability"]["rounds"] == 6


def test_strict_exit_status(monkeypatch, tmp_path, capsys):
    bad = _spec()
    prov = dict(bad.provenance)
    prov.update(stability={"rounds": 8, "max_rounds": 8, "stable": False, "spread": 0.4,
                           "warnings": ["host too noisy: ..."]},
                fit={"median_abs_error": 0.1, "max_abs_error": 0.3}, benchmarks=[])
    bad = dataclasses.replace(bad, provenance=prov)
    monkeypatch.setattr(host, "calibrate", lambda **k: bad)
    out = str(tmp_path / "h.yaml")
    assert main(["calibrate", "--out", out]) == 0
    assert "warning: calibration untrustworthy: host too noisy" in capsys.readouterr().err
    assert main(["calibrate", "--out", out, "--strict"]) == 3
