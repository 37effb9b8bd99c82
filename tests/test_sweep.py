"""Sweeps: spec validation (one-line errors before any work), vectorized evaluation equal to
point-by-point simulate(), resume after interruption, identical tables in-process / process
pool / Dask LocalCluster, skips, random search, Pareto fronts, CLI."""

from __future__ import annotations

import argparse
import glob
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from codesign.errors import CodesignError, SpecError
from codesign.results.pareto import pareto_front, pareto_front_by, pareto_mask
from codesign.cli.sweep_cmd import register_cli
from codesign.sweeps.runner import evaluate_chunk, plan_points, run_sweep, sweep
from codesign.sweeps.spec import load_sweep_spec

warnings.filterwarnings("ignore", message="no cost model")

# small workloads so tracing is cheap: a conv + cross-channel pool, a non-local block
CCP = {"workload": "ccp_conv_block", "input": [1, 32, 16, 16],
       "knobs": {"in_ch": 32, "out_ch": [32, 64], "factor": 2}}
NL = {"workload": "nl_block", "input": [1, 64, 8, 8],
      "knobs": {"in_ch": 64, "mode": ["embedded_gaussian", "dot_product"]}}


@pytest.fixture(autouse=True)
def _trace_cache(tmp_path_factory, monkeypatch):
    """One trace cache for this test session, never the user's."""
    root = tmp_path_factory.getbasetemp() / "trace-cache"
    monkeypatch.setenv("CODESIGN_TRACE_CACHE", str(root))
    return root


def small_spec(**over) -> dict:
    spec = {
        "name": "t",
        "workloads": [CCP, NL],
        "hardware": [
            {"preset": "a100-sxm4-40gb",
             "knobs": {"sm_count": [54, 108], "clock_hz": [1.0e9, 1.41e9],
                       "l2_bytes": [2.0e7, 4.0e7]}},
            {"preset": "hexagon-v68", "knobs": {"vtcm_bytes": [2097152, 8388608]}},
        ],
        "dtype": ["fp16", "tf32"],
        "mode": ["eager", "fused"],
        "objectives": ["latency_s", "energy_j"],
    }
    spec.update(over)
    return spec


# --------------------------------------------------------------------------- spec errors


def write(tmp_path, text: str):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    return p


GOOD = """\
name: x
workloads:
  - workload: ccp_conv_block
    knobs: {factor: [2, 4]}
hardware:
  - preset: a100-sxm4-40gb
    knobs: {sm_count: [54, 108]}
dtype: [fp16]
"""

BAD = [
    ("typo top-level key", GOOD + "objectivs: [latency_s]\n", "objectivs",
     "unknown key 'objectivs' (did you mean 'objectives'?)"),
    ("unknown workload knob", GOOD.replace("factor:", "factr:"), "workloads[0].knobs.factr",
     "unknown knob 'factr'"),
    ("unknown hardware knob", GOOD.replace("sm_count:", "sm_cont:"), "hardware[0].knobs.sm_cont",
     "unknown knob 'sm_cont'"),
    ("empty knob list", GOOD.replace("[54, 108]", "[]"), "hardware[0].knobs.sm_count",
     "empty list"),
    ("empty dtype list", GOOD.replace("dtype: [fp16]", "dtype: []"), "dtype", "empty list"),
    ("wrong knob type", GOOD.replace("[54, 108]", "[54, fast]"), "hardware[0].knobs.sm_count[1]",
     "wrong type"),
    ("wrong workload knob value", GOOD.replace("[2, 4]", "[2, two]"), "workloads[0].knobs.factor",
     "not a valid int"),
    ("unknown preset", GOOD.replace("a100-sxm4-40gb", "a100-sxm9"), "hardware[0].preset",
     "unknown hardware 'a100-sxm9'"),
    ("unknown workload", GOOD.replace("ccp_conv_block", "ccp_conv_blok"), "workloads[0].workload",
     "unknown workload 'ccp_conv_blok'"),
    ("unknown dtype", GOOD.replace("[fp16]", "[fp8]"), "dtype[0]", "'fp8'; allowed"),
    ("no preset runs the dtype", GOOD.replace("[fp16]", "[fp16]\n").replace(
        "a100-sxm4-40gb", "hexagon-v68").replace("{sm_count: [54, 108]}", "{}").replace(
        "[fp16]", "[bf16]"), "dtype[0]", "runs on none of the presets"),
    ("bad objective", GOOD + "objectives: [latency]\n", "objectives[0]", "not a metric"),
    ("random without samples", GOOD + "search: {strategy: random}\n", "search.samples",
     "required for strategy random"),
    ("bad strategy", GOOD + "search: {strategy: bayes}\n", "search.strategy", "allowed"),
    ("negative batch", GOOD + "batch: [0]\n", "batch[0]", "positive"),
    ("knobs not a mapping", GOOD.replace("{factor: [2, 4]}", "[factor]"), "workloads[0].knobs",
     "expected a mapping"),
    ("missing workloads", "hardware: [{preset: t4}]\n", "workloads", "missing required key"),
    ("duplicate key", GOOD + "dtype: [fp32]\n", "dtype", "duplicate key"),
]


@pytest.mark.parametrize("label,text,key,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_spec_one_line_before_any_work(tmp_path, label, text, key, fragment):
    path = write(tmp_path, text)
    out = tmp_path / "out"
    with pytest.raises(SpecError) as info:
        sweep(path, output=out, progress=False)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith((f"{path}: {key}: ", f"{path}: {key} = ")), msg
    assert fragment in msg, msg
    assert not out.exists()  # nothing was started


def test_good_spec_loads(tmp_path):
    plan = load_sweep_spec(write(tmp_path, GOOD))
    assert plan.name == "x" and plan.hardware[0].knobs == (("sm_count", (54, 108)),)
    assert plan.workloads[0].input_shape == (1, 128, 26, 26)


@pytest.mark.parametrize("path", sorted(glob.glob("workloads/sweeps/*.yaml")))
def test_example_specs_validate(path):
    plan = load_sweep_spec(path)
    pp = plan_points(plan)
    assert pp.points > 0 and pp.chunks


def test_example_specs_cover_the_issue():
    names = {p.rsplit("/", 1)[-1] for p in glob.glob("workloads/sweeps/*.yaml")}
    assert {"nl_mobile.yaml", "nl_variants_gpus.yaml", "ccp_accelerator.yaml",
            "convnext_kernel_gpus.yaml"} <= names


# --------------------------------------------------------------------------- planning


def test_skips_counted_not_errors():
    pp = plan_points(load_sweep_spec(small_spec()))
    # tf32 is not in hexagon-v68's dtypes: 2 ccp + 2 nl variants x 2 vtcm x 2 modes skipped
    assert pp.skipped == (("dtype tf32 on hexagon-v68 (supported: fp32, fp16, int8)", 16),)
    assert pp.points == 4 * (8 * 2 * 2 + 2 * 1 * 2)


def test_random_search_is_seeded_subset():
    grid = plan_points(load_sweep_spec(small_spec()))
    spec = small_spec(search={"strategy": "random", "samples": 20, "seed": 3})
    a, b = plan_points(load_sweep_spec(spec)), plan_points(load_sweep_spec(spec))
    ids = lambda pp: [i for c in pp.chunks for p in c.pieces for i in p.config_ids]
    assert a.points == 20 and ids(a) == ids(b)
    assert set(ids(a)) <= set(ids(grid))
    other = plan_points(load_sweep_spec(small_spec(search={"strategy": "random", "samples": 20,
                                                            "seed": 4})))
    assert ids(other) != ids(a)


def test_config_id_stable_and_distinct(tmp_path):
    pp = plan_points(load_sweep_spec(small_spec()))
    ids = [i for c in pp.chunks for p in c.pieces for i in p.config_ids]
    assert len(set(ids)) == len(ids)
    # independent of chunking and of the output folder
    pp2 = plan_points(load_sweep_spec(small_spec()), chunk_size=3)
    assert ids == [i for c in pp2.chunks for p in c.pieces for i in p.config_ids]
    assert all(c.points <= 3 for c in pp2.chunks)


# --------------------------------------------------------------------------- evaluation


def _simulate_point(row, graphs, plan):
    from codesign.simulation import simulate

    hw_plan = next(h for h in plan.hardware if h.preset == row["preset"])
    knobs = {k: row[k] for k in hw_plan.knob_names}
    knobs = {k: (v.item() if hasattr(v, "item") else v) for k, v in knobs.items()}
    return simulate(graphs[row["variant"]], hw_plan.spec.with_knobs(knobs), dtype=row["dtype"],
                    mode=row["mode"], layout=row["layout"])


@pytest.mark.parametrize("presets", [
    [("a100-sxm4-40gb", {"sm_count": (20, 140, "int"), "clock_hz": (0.8e9, 2.0e9, "float"),
                         "dram_bandwidth_bytes_per_s": (3e11, 3e12, "float"),
                         "l2_bytes": (1e6, 8e7, "float")}),
     ("t4", {"sm_count": (10, 60, "int"), "shared_memory_bytes_per_sm": (32768, 131072, "int")})],
    [("hexagon-v68", {"vtcm_bytes": (2.5e5, 1.6e7, "float"),
                      "dma_bandwidth_bytes_per_s": (5e9, 8e10, "float"),
                      "clock_hz": (5e8, 1.5e9, "float")}),
     ("condensation-accelerator", {"sram_bytes": (3e4, 2e6, "float"),
                                   "mac_count": (64, 2048, "int")}),
     ("host-cpu", {"cores": (1, 32, "int"), "l2_bytes": (2.5e5, 4e6, "float"),
                   "dram_bandwidth_bytes_per_s": (1e10, 2e11, "float")})],
], ids=["gpus", "dsp-accel-cpu"])
def test_vectorized_equals_pointwise_simulate(presets):
    """Random hardware configurations: evaluate_chunk (one estimate_costs per run of points,
    knob arrays) against simulate() per point, for every metric, relative difference < 1e-9."""
    from codesign.sweeps.runner import _trace

    rng = np.random.default_rng(0)
    hardware = []
    for preset, ranges in presets:
        knobs = {}
        for k, (lo, hi, kind) in ranges.items():
            vals = rng.uniform(lo, hi, 12)
            knobs[k] = sorted({int(v) for v in vals}) if kind == "int" else sorted(set(vals.tolist()))
        hardware.append({"preset": preset, "knobs": knobs})
    dtypes = ["fp32", "fp16", "int8"]
    layouts = ["nchw", "ccp"] if any(p == "condensation-accelerator" for p, _ in presets) \
        else ["nchw", "nhwc"]
    spec = small_spec(hardware=hardware, dtype=dtypes, layout=layouts,
                      search={"strategy": "random", "samples": 150, "seed": 1})
    plan = load_sweep_spec(spec)
    pp = plan_points(plan)
    graphs = _trace(pp.variants.values())
    checked = 0
    for chunk in pp.chunks:
        frame = evaluate_chunk(chunk, *(graphs[k] for k in chunk.variants))
        variant_of = {i: p.variant for p in chunk.pieces for i in p.config_ids}
        for _, row in frame.iterrows():
            r = _simulate_point({**row, "variant": variant_of[row["config_id"]]}, graphs, plan)
            for metric, expect in (("latency_s", r.latency_s), ("energy_j", r.energy_j),
                                   ("dram_bytes", sum(x.dram_read_bytes + x.dram_write_bytes
                                                      for x in r.rows)),
                                   ("energy_static_j", r.static_energy_j)):
                got = row[metric]
                assert math.isclose(got, expect, rel_tol=1e-9, abs_tol=0.0), (metric, got, expect)
            assert math.isclose(row["throughput_per_s"], r.throughput_per_s, rel_tol=1e-9)
            checked += 1
    assert checked == pp.points >= 100


# --------------------------------------------------------------------------- resume


@pytest.mark.slow
def test_interrupted_sweep_resumes_to_identical_table(tmp_path):
    spec = small_spec()
    full = sweep(spec, output=tmp_path / "full", progress=False, chunk_size=7)
    total = len(plan_points(load_sweep_spec(spec), chunk_size=7).chunks)
    assert total >= 6

    done = []

    def stop_after_three(chunk_id, n, of):
        done.append(chunk_id)
        if n == 3:
            raise KeyboardInterrupt

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        sweep(spec, output=out, progress=False, chunk_size=7, on_chunk=stop_after_three)
    assert len(list((out / "parts").glob("*.parquet"))) == 3
    again = []
    run = run_sweep(spec, output=out, progress=False, chunk_size=7,
                    on_chunk=lambda c, n, of: again.append(c))
    assert len(again) == total - 3 and not set(again) & set(done)  # nothing recomputed
    assert run.summary.reused_chunks == 3 and run.summary.computed_chunks == total - 3
    pd.testing.assert_frame_equal(run.frame, full)

    # a deleted and a damaged part are recomputed (only those), a stray temp file is removed
    parts = sorted((out / "parts").glob("*.parquet"))
    parts[0].unlink()
    parts[1].write_bytes(parts[1].read_bytes()[:100])
    (out / "parts" / ".x.parquet.123.abc.tmp").write_bytes(b"partial")
    again.clear()
    run = run_sweep(spec, output=out, progress=False, chunk_size=7,
                    on_chunk=lambda c, n, of: again.append(c))
    assert sorted(again) == sorted(p.stem for p in parts[:2])
    assert not list((out / "parts").glob(".*.tmp"))
    pd.testing.assert_frame_equal(run.frame, full)

    # a finished sweep reruns without tracing or computing anything
    run = run_sweep(spec, output=out, progress=False, chunk_size=7)
    assert run.summary.computed_chunks == 0 and run.summary.traced_variants == 0
    pd.testing.assert_frame_equal(run.frame, full)


def test_results_pareto_and_manifest_written(tmp_path):
    run = run_sweep(small_spec(), output=tmp_path, progress=False)
    frame = run.frame
    assert list(frame["point"]) == list(range(len(frame)))
    assert frame["config_id"].is_unique
    for col in ("workload", "out_ch", "wl.mode", "batch", "preset", "sm_count", "clock_hz",
                "l2_bytes", "vtcm_bytes", "dtype", "mode", "latency_s", "energy_j",
                "dram_bytes", "throughput_per_s", "power_w", "energy_compute_j",
                "energy_static_j", "preset_hash", "codesign_version"):
        assert col in frame, col
    assert set(frame["mode"]) == {"eager", "fused"}          # run mode, not nl_block's knob
    assert set(frame["wl.mode"].dropna()) == {"embedded_gaussian", "dot_product"}
    assert str(frame["sm_count"].dtype) == "Int64"           # NaN on the DSP rows
    assert (frame["throughput_per_s"] * frame["latency_s"]).round(9).eq(frame["batch"]).all()
    assert not ((frame["preset"] == "hexagon-v68") & (frame["dtype"] == "tf32")).any()
    saved = pd.read_parquet(tmp_path / "results.parquet")
    pd.testing.assert_frame_equal(saved, frame)
    front = pd.read_parquet(tmp_path / "pareto.parquet")
    assert len(front) == run.summary.pareto_points >= 1
    assert (tmp_path / "pareto.csv").read_text().startswith("point,config_id,")
    expected = pareto_front_by(frame, ["latency_s", "energy_j"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(front, expected)
    import json

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["summary"]["complete"] and manifest["points"] == len(frame)


# --------------------------------------------------------------------------- backends


@pytest.mark.slow
def test_process_pool_same_table(tmp_path):
    spec = small_spec()
    local = sweep(spec, output=tmp_path / "a", progress=False, chunk_size=9)
    pooled = sweep(spec, output=tmp_path / "b", progress=False, chunk_size=9, workers=2)
    pd.testing.assert_frame_equal(local, pooled)


@pytest.mark.slow
@pytest.mark.slow
def test_dask_local_cluster_same_table(tmp_path):
    import distributed
    spec = small_spec()
    local = sweep(spec, output=tmp_path / "a", progress=False, chunk_size=9)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        remote = sweep(spec, output=tmp_path / "b", progress=False, chunk_size=9,
                       scheduler=cluster.scheduler_address)
    pd.testing.assert_frame_equal(local, remote)


def test_bad_execution_arguments(tmp_path):
    with pytest.raises(CodesignError, match="either workers"):
        sweep(small_spec(), output=tmp_path, workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(CodesignError, match="workers = 0"):
        sweep(small_spec(), output=tmp_path, workers=0)


def test_event_engine_per_point(tmp_path):
    from codesign.simulation import simulate
    from codesign.sweeps.runner import _trace

    spec = small_spec(workloads=[CCP], engine="event", dtype=["fp16"], mode=["fused"],
                      hardware=[{"preset": "hexagon-v68",
                                 "knobs": {"vtcm_bytes": [262144, 8388608]}}])
    frame = sweep(spec, output=tmp_path, progress=False)
    assert (frame["engine"] == "event").all() and len(frame) == 4
    plan = load_sweep_spec(spec)
    variants = plan_points(plan).variants
    graphs = _trace(variants.values())
    g = next(graphs[k] for k, v in variants.items() if dict(v.knobs)["out_ch"] == 32)
    hw = plan.hardware[0].spec.with_knobs({"vtcm_bytes": 262144})
    r = simulate(g, hw, dtype="fp16", mode="fused", engine="event")
    row = frame[(frame["out_ch"] == 32) & (frame["vtcm_bytes"] == 262144)].iloc[0]
    assert math.isclose(row["latency_s"], r.latency_s, rel_tol=1e-12)


def test_trace_cache_is_explicit_and_hits_skip_tracing(tmp_path, monkeypatch):
    import codesign.capture.references as refs

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    spec = small_spec(workloads=[CCP])
    first = sweep(spec, output=tmp_path / "a", progress=False, trace_cache=tmp_path / "cache")
    assert len(list((tmp_path / "cache").rglob("*.pkl"))) == 2        # two workload variants
    assert not (tmp_path / "home").exists()                           # nothing under $HOME

    def no_trace(*a, **k):
        raise AssertionError("traced although cached")

    monkeypatch.setattr(refs, "trace_workload", no_trace)
    second = sweep(spec, output=tmp_path / "b", progress=False, trace_cache=tmp_path / "cache")
    pd.testing.assert_frame_equal(first, second)
    with pytest.raises(AssertionError, match="traced although cached"):
        sweep(spec, output=tmp_path / "c", progress=False)            # no cache unless given


# --------------------------------------------------------------------------- pareto


def test_pareto_mask_closed_form():
    pts = np.array([[1, 5], [2, 2], [5, 1], [3, 3], [2, 2], [6, 6], [1, 6], [np.nan, 0]])
    assert pareto_mask(pts).tolist() == [True, True, True, False, True, False, False, False]
    assert pareto_mask(np.empty((0, 2))).tolist() == []


def test_pareto_front_maximizes_throughput():
    df = pd.DataFrame({"latency_s": [1.0, 2.0, 3.0], "throughput_per_s": [5.0, 9.0, 4.0]})
    front = pareto_front(df, ["latency_s", "throughput_per_s"], {"throughput_per_s": -1})
    assert front.index.tolist() == [0, 1]


# --------------------------------------------------------------------------- CLI


def _parser():
    parser = argparse.ArgumentParser(prog="codesign")
    register_cli(parser.add_subparsers(dest="cmd"))
    return parser


def test_cli_prints_summary(tmp_path, capsys):
    import yaml

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(small_spec()))
    args = _parser().parse_args(["sweep", str(spec), "--out", str(tmp_path / "o"),
                                 "--no-progress"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "sweep t: 144 points" in text and "skipped 16 points: dtype tf32 on hexagon-v68" in text
    assert "best latency_s:" in text and "best energy_j:" in text
    assert str(tmp_path / "o" / "results.parquet") in text


def test_cli_bad_spec_exits_2(tmp_path, capsys):
    from codesign.cli import main

    bad = write(tmp_path, GOOD.replace("sm_count:", "sm_cont:"))
    assert main(["sweep", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "hardware[0].knobs.sm_cont" in err[0]
