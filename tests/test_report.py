"""Reports: simulate, sweep and validate results -> report.md + self-contained report.html.

Synthetic frames (no torch) cover every section; end-to-end tests use real traces, presets
and the sweep; the HTML is rendered in headless Chromium, which must load every image."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from codesign.errors import CodesignError
from codesign.reporting.document import collect, layer_groups, report, save_result

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("conv", "cross_channel_pool", "norm", "elementwise", "pool")


# --------------------------------------------------------------------------- synthetic data

def op_rows(workload="toy_ccp", hardware="condensation-accelerator", dtype="int8", mode="eager",
            layout="nchw", event=False, layers=6, scale=1.0) -> pd.DataFrame:
    """Per-op rows with SimResult.to_frame() columns: ``layers`` conv + ccp + bn + act + pool
    layers; with layout ccp the conv writes only the pooled half (pool fused before the store)."""
    rows, t = [], 0.0
    for i in range(layers):
        for j, kind in enumerate(KINDS):
            macs = 1e8 * (i + 1) if kind == "conv" else 0.0
            write = 4e5 * (i + 1)
            if kind == "conv" and layout == "ccp":
                write /= 2
            fused = kind == "cross_channel_pool" and layout == "ccp"
            lat = 0.0 if fused else scale * (2e-4 * (i + 1) if kind == "conv" else 3e-5)
            comp = lat * (0.9 if kind == "conv" else 0.3)
            row = dict(
                index=len(rows), name=f"features.{i}.{kind}/op", module=f"features.{i}.{kind}",
                kind=kind, variant="standard" if kind == "conv" else "", pattern="", phase="forward",
                unit="fused" if fused else "mac_array", fused_into=f"features.{i}.conv/op" if fused else "",
                supported=True, macs=macs, flops=2 * macs, read_bytes=5e5, write_bytes=write,
                dram_read_bytes=0.0 if fused else 5e5, dram_write_bytes=0.0 if fused else write,
                latency_s=lat, compute_s=comp, memory_s=lat * 0.5, overhead_s=lat * 0.05,
                bound="fused" if fused else ("compute" if kind == "conv" else "memory"),
                energy_compute_j=macs * 0.2e-12, energy_sram_j=1e-6, energy_dram_j=(5e5 + write) * 20e-12,
                energy_static_j=lat * 0.5)
            row["energy_j"] = (row["energy_compute_j"] + row["energy_sram_j"] + row["energy_dram_j"]
                               + row["energy_static_j"])
            if event:
                row.update(engine="dma" if kind in ("pool", "elementwise") else "compute",
                           start_s=t, end_s=t + lat)
                t += lat * 0.7
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame = frame.assign(workload=workload, hardware=hardware, dtype=dtype, mode=mode,
                         layout=layout, batch=1)
    # one op the hardware cannot run stays visible
    extra = frame.iloc[[0]].assign(index=len(frame), name="head/grid_sampler", module="head",
                                   kind="other", supported=False, bound="unsupported", macs=0.0,
                                   flops=0.0, latency_s=0.0, energy_j=0.0)
    return pd.concat([frame, extra], ignore_index=True)


def simulate_frame() -> pd.DataFrame:
    return pd.concat([
        op_rows(layout="nchw"), op_rows(layout="ccp"),
        op_rows(hardware="hexagon-v68", mode="fused", event=True, scale=0.5),
        op_rows(workload="toy_net", hardware="a100-sxm4-40gb", dtype="fp16", scale=0.05, layers=3),
    ], ignore_index=True)


def sweep_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows, cid = [], 0
    for preset, base in (("hexagon-v68", 5e-3), ("condensation-accelerator", 2e-2)):
        for clock in (0.5e9, 1e9, 2e9):
            for sram in (1 << 20, 1 << 21):
                for dtype in ("int8", "fp16"):
                    lat = base * 1e9 / clock * (1.3 if dtype == "fp16" else 1.0) * (1 + 0.02 * rng.random())
                    rows.append(dict(point=cid, config_id=f"c{cid:04d}", workload="toy_ccp",
                                     preset=preset, clock_hz=clock, sram_bytes=sram, dtype=dtype,
                                     mode="fused", layout="nchw", batch=1, engine="analytical",
                                     latency_s=lat, energy_j=lat * 2 + 1e-3 * clock / 1e9,
                                     dram_bytes=6e7 * (1.5 if sram == 1 << 20 else 1.0),
                                     throughput_per_s=1 / lat))
                    cid += 1
    return pd.DataFrame(rows)


def validate_frame() -> pd.DataFrame:
    ops = op_rows(hardware="host-cpu", dtype="fp32")
    ops = ops[ops["supported"] & (ops["latency_s"] > 0)]
    rng = np.random.default_rng(1)
    return ops.assign(estimated_latency_s=ops["latency_s"],
                      measured_latency_s=ops["latency_s"] * rng.uniform(0.6, 1.6, len(ops)))


def write_sweep_folder(path: Path) -> Path:
    """The layout codesign.sweeps.runner writes: parts/*.parquet, results.parquet, pareto.*, manifest."""
    frame = sweep_frame()
    (path / "parts").mkdir(parents=True)
    frame.iloc[:12].to_parquet(path / "parts" / "a.parquet")
    frame.iloc[12:].to_parquet(path / "parts" / "b.parquet")
    frame.to_parquet(path / "results.parquet")
    front = frame.sort_values("latency_s").iloc[:3]
    front.to_parquet(path / "pareto.parquet")
    front.to_csv(path / "pareto.csv", index=False)
    (path / "manifest.json").write_text(json.dumps({"name": "toy", "spec": {
        "workloads": [{"workload": "toy_ccp"}],
        "hardware": [{"preset": "hexagon-v68", "knobs": {"clock_hz": [0.5e9, 1e9, 2e9],
                                                          "sram_bytes": [1, 2]}}],
        "dtype": ["int8", "fp16"]}}))
    return path


def write_validate_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    val = validate_frame()
    val.to_parquet(path / "ops.parquet")
    (path / "validation.json").write_text(json.dumps({
        "workload": "toy_ccp", "device": "cpu", "estimated_latency_s": float(val["estimated_latency_s"].sum()),
        "measured_latency_s": float(val["measured_latency_s"].sum()),
        "error": {"total_rel": 0.12, "mape_per_op": 0.3}}))
    return path


def meta(out_html: Path) -> dict:
    return json.loads((out_html.parent / "report.json").read_text())


def assert_figures_labelled(m: dict) -> None:
    assert m["figures"], "no figures"
    for png, f in m["figures"].items():
        assert f["title"], png
        assert f["xlabels"] and all(f["xlabels"]), png
        assert f["ylabels"] and all(f["ylabels"]), png
        assert f["legend"], f"{png} has no legend"
        quantity = [lab for lab in f["xlabels"] + f["ylabels"] if "(" not in lab]
        assert not quantity, f"{png}: axis label without unit: {quantity}"


def assert_self_contained(html: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I), "network reference"
    assert "<link" not in html.lower()
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)


# --------------------------------------------------------------------------- simulate

@pytest.mark.slow
def test_simulate_frame_report_has_every_section(tmp_path):
    html = report(simulate_frame(), out=tmp_path / "r")
    m = meta(html)
    ids = [s["id"] for s in m["sections"]]
    assert ids == ["summary", "breakdown", "roofline", "energy", "dram", "timeline"]
    runs = (html.parent / "report.md").read_text().split("**Runs")[1].split("**Unsupported")[0]
    assert runs.count("| event |") == 1 and runs.count("| analytical |") == 3
    assert_figures_labelled(m)
    figs = set(m["figures"])
    assert {"summary.png", "energy_breakdown.png", "share_kind.png", "share_top_module.png",
            "timeline_1.png"} <= figs
    assert {f"roofline_{h}.png" for h in ("condensation-accelerator", "hexagon-v68",
                                          "a100-sxm4-40gb")} <= figs
    for f in figs:
        assert (html.parent / f).stat().st_size > 5000
    # the ccp pair: same workload / hardware / dtype / mode, layouts nchw and ccp
    ccp = m["figures"]["ccp_toy_ccp_condensation-accelerator.png"]
    assert 0 < ccp["saved_bytes"] < ccp["base_bytes"]
    md = (html.parent / "report.md").read_text()
    assert "Saving from cross-channel pooling before the store" in md
    assert "head/grid_sampler" not in md and "Unsupported ops" in md   # counted, listed by kind
    assert "![Roofline on hexagon-v68](roofline_hexagon-v68.png)" in md
    assert_self_contained(html.read_text())


def test_roofline_uses_preset_peaks(tmp_path):
    from codesign.hardware import list_hardware, load_hardware

    assert "a100-sxm4-40gb" in list_hardware()
    m = meta(report(op_rows(hardware="a100-sxm4-40gb", dtype="fp16"), out=tmp_path / "r"))
    legend = " ".join(m["figures"]["roofline_a100-sxm4-40gb.png"]["legend"])
    peak = float(load_hardware("a100-sxm4-40gb").peak_macs_per_s("fp16")) * 2
    assert f"{peak / 1e12:.4g} TFLOP/s" in legend


def test_unknown_hardware_roofline_says_peaks_unknown(tmp_path):
    m = meta(report(op_rows(hardware="my-board"), out=tmp_path / "r"))
    assert "peak roofs unknown (no preset)" in m["figures"]["roofline_my-board.png"]["legend"]


@pytest.mark.slow
def test_codesign_report_is_callable_after_submodule_import(tmp_path):
    import codesign
    import codesign.reporting.document  # binds the name codesign.reporting.document to the submodule

    assert codesign.report(op_rows(layers=2), out=tmp_path / "r").name == "report.html"


def test_layer_groups_pick_a_readable_depth():
    mods = pd.Series([f"layer{i}.{j}.conv{k}" for i in range(1, 5) for j in range(3) for k in range(3)])
    groups = layer_groups(mods)
    assert groups.nunique() == 12 and groups.iloc[0] == "layer1.0"
    assert layer_groups(pd.Series(["", "fc"])).tolist() == ["(top)", "fc"]


# --------------------------------------------------------------------------- sweep

def test_sweep_folder_report(tmp_path):
    html = report(write_sweep_folder(tmp_path / "sweep"), out=tmp_path / "r")
    m = meta(html)
    ids = [s["id"] for s in m["sections"]]
    assert ids == ["sweep", "sensitivity"]
    assert_figures_labelled(m)
    assert {"hexagon-v68", "condensation-accelerator", "Pareto front"} <= set(m["figures"]["pareto.png"]["legend"])
    md = (html.parent / "report.md").read_text()
    # parts/ are the same rows as results.parquet: read once; knobs from the manifest
    assert "24 configuration(s)" in md
    assert "swept knobs: clock_hz, sram_bytes, dtype" in md
    assert "3 on the latency/energy Pareto front" in md
    # clock moves latency x4, sram does not move it
    sens = md.split("Sensitivity (max/min ratio of median)")[1]
    assert re.search(r"\| clock_hz \| ×4\.0\d \|", sens)
    assert re.search(r"\| sram_bytes \| ×1\.0\d \|", sens)


def test_sweep_dataframe_report_computes_the_front(tmp_path):
    frame = sweep_frame()
    m = meta(report(frame, out=tmp_path / "r"))
    assert "pareto.png" in m["figures"]
    # the computed front: no point is both faster and lower-energy than a front point
    from codesign.reporting.document import pareto_mask

    mask = pareto_mask(frame, [])
    f = frame[mask]
    for _, p in f.iterrows():
        assert not ((frame["latency_s"] < p["latency_s"]) & (frame["energy_j"] < p["energy_j"])).any()


# --------------------------------------------------------------------------- validate

def test_validate_folder_report(tmp_path):
    html = report(write_validate_folder(tmp_path / "val"), out=tmp_path / "r")
    m = meta(html)
    assert [s["id"] for s in m["sections"]] == ["validation"]
    assert_figures_labelled(m)
    assert {"validation.json", "Error by op kind"} <= set(m["sections"][0]["tables"])
    md = (html.parent / "report.md").read_text()
    assert "| all ops |" in md and "error.mape_per_op" in md


@pytest.mark.slow
def test_end_to_end_validate_report(tmp_path):
    _presets("host-cpu")
    from codesign.validation.host import validate

    validate("ccp_conv_block", rounds=2, repeat=2, warmup=1, profile_runs=1, out=tmp_path / "val")
    html = report(tmp_path / "val", out=tmp_path / "r")
    m = meta(html)
    assert [s["id"] for s in m["sections"]] == ["validation"]
    assert {"validation.json", "Error by op kind"} <= set(m["sections"][0]["tables"])
    assert_figures_labelled(m)


# --------------------------------------------------------------------------- errors, CLI

def test_empty_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    with pytest.raises(CodesignError, match="no results found"):
        report(tmp_path / "empty", out=tmp_path / "r")
    with pytest.raises(CodesignError, match="no such file"):
        report(tmp_path / "missing", out=tmp_path / "r")
    with pytest.raises(CodesignError, match="not recognised"):
        report(pd.DataFrame({"a": [1]}), out=tmp_path / "r")
    with pytest.raises(CodesignError, match="cannot read results of type"):
        report(42, out=tmp_path / "r")


def test_cli_report_and_exit_2(tmp_path, capsys):
    from codesign.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no results found" in err
    folder = write_validate_folder(tmp_path / "val")
    assert main(["report", str(folder), "--out", str(tmp_path / "r2")]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "r2" / "report.html") in out
    assert (tmp_path / "r2" / "report.md").is_file()


def test_cli_report_default_out(tmp_path, monkeypatch):
    from codesign.cli import main

    folder = write_validate_folder(tmp_path / "runs" / "val1")
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(folder)]) == 0
    assert (tmp_path / "reports" / "val1" / "report.html").is_file()


@pytest.mark.slow
def test_no_pyplot_and_no_global_style(tmp_path):
    code = (
        "import sys, matplotlib\n"
        "before = dict(dict.items(matplotlib.rcParams))  # no backend resolution\n"
        "import codesign.reporting.document, codesign.reporting.plots\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_report import op_rows\n"
        f"codesign.reporting.document.report(op_rows(event=True), out={str(tmp_path / 'r')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "after = dict(dict.items(matplotlib.rcParams))\n"
        "changed = [k for k in before if str(before[k]) != str(after[k])]\n"
        "assert not changed, changed\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)


# --------------------------------------------------------------------------- end to end

def _presets(*names):
    from codesign.hardware import list_hardware

    missing = [n for n in names if n not in list_hardware()]
    assert not missing, f"presets missing: {', '.join(missing)}"


@pytest.mark.slow
def test_end_to_end_trace_simulate_save_report(tmp_path):
    import torch
    from torch import nn

    _presets("a100-sxm4-40gb", "condensation-accelerator")
    import codesign
    from codesign.simulation import simulate

    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    g = codesign.trace(model, torch.randn(1, 3, 32, 32))
    runs = [simulate(g, "a100-sxm4-40gb", dtype="fp16", mode="eager"),
            simulate(g, "a100-sxm4-40gb", dtype="fp16", mode="fused"),
            simulate(g, "condensation-accelerator", dtype="int8", mode="fused")]
    for i, r in enumerate(runs):
        folder = save_result(r, tmp_path / "sims" / str(i))
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["latency_s"] == pytest.approx(r.latency_s)
        assert summary["roofline"]["peak_flops_per_s"] > 0
    html = report(tmp_path / "sims", out=tmp_path / "r")
    m = meta(html)
    assert_figures_labelled(m)
    md = (html.parent / "report.md").read_text()
    assert "3 simulated run(s)" in md
    # totals in the report equal the SimResult's
    col = collect(tmp_path / "sims")
    from codesign.reporting.document import op_frame, run_table

    table = run_table(op_frame(col)).set_index("run")
    for r in runs:
        row = table[(table["hardware"] == r.hardware) & (table["mode"] == r.mode)].iloc[0]
        assert row["latency_s"] == pytest.approx(r.latency_s)
        assert row["energy_j"] == pytest.approx(r.energy_j)
        assert row["dram_bytes"] == pytest.approx(r.dram_bytes)
    # a SimResult (and a list of them) works directly too
    assert report(runs[0], out=tmp_path / "r1").is_file()


@pytest.mark.slow
def test_end_to_end_sweep_report(tmp_path):
    _presets("condensation-accelerator")
    from codesign.sweeps.runner import sweep

    spec = {"name": "t", "workloads": [{"workload": "ccp_conv_block", "knobs": {"factor": [2, 4]}}],
            "hardware": [{"preset": "condensation-accelerator",
                          "knobs": {"mac_count": [256, 512, 1024]}}],
            "dtype": ["int8"], "mode": ["fused"], "layout": ["nchw", "ccp"]}
    frame = sweep(spec, output=tmp_path / "sweep", progress=False)
    assert len(frame) == 12
    m = meta(report(tmp_path / "sweep", out=tmp_path / "r"))
    assert [s["id"] for s in m["sections"]] == ["sweep", "sensitivity"]
    md = (tmp_path / "r" / "report.md").read_text()
    assert "12 configuration(s)" in md and "mac_count" in md and "factor" in md


@pytest.mark.slow
def test_demo_small(tmp_path, capsys):
    _presets("a100-sxm4-40gb", "hexagon-v68", "condensation-accelerator")
    from codesign.cli.demo import run_demo

    html = run_demo(tmp_path / "demo", workloads=("tiny_yolov2_ccp",))
    m = meta(html)
    ids = [s["id"] for s in m["sections"]]
    assert {"summary", "breakdown", "roofline", "energy", "dram", "sweep", "sensitivity"} <= set(ids)
    assert any(f.startswith("ccp_") for f in m["figures"])
    out = capsys.readouterr().out
    assert "traced tiny_yolov2_ccp" in out and "report written" in out
    # everything the demo wrote is saved, so `codesign report <out>` rebuilds the same report
    again = collect(tmp_path / "demo")
    assert len(again.ops) == len(list((tmp_path / "demo" / "runs").iterdir())) >= 6
    assert len(again.sweeps) == 1 and again.paretos


def test_cli_demo_is_registered():
    from codesign.cli.main import build_parser

    args = build_parser().parse_args(["demo", "--out", "x"])
    assert args.out == "x" and callable(args.func)


# --------------------------------------------------------------------------- browser

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def _browser(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_html_renders_in_headless_chromium(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium); the HTML render check did not run")
    results = [simulate_frame(), write_sweep_folder(tmp_path / "sweep"),
               write_validate_folder(tmp_path / "val")]
    html = report(results, out=tmp_path / "report")
    m = meta(html)
    n_images = len(m["figures"])
    assert n_images >= 15
    url = html.resolve().as_uri()
    dom = _browser(binary, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, dom.stdout[:500]
    assert 'data-images-loaded="true"' in body.group(0), body.group(0)
    assert f'data-images-total="{n_images}"' in body.group(0)
    for sid in ("summary", "breakdown", "roofline", "energy", "dram", "timeline", "sweep",
                "sensitivity", "validation"):
        assert f'<section id="{sid}">' in dom.stdout, sid
    shot = tmp_path / "report.png"
    res = _browser(binary, tmp_path / "profile", "--window-size=1280,4000", "--hide-scrollbars",
                   f"--screenshot={shot}", url)
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.is_file() and shot.stat().st_size > 50_000
