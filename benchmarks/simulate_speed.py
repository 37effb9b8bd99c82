"""Analytical simulation speed (issue 16: one traced model on one preset under 50 ms).

ResNet-50 inference on each preset kind, then -- when timm is installed -- large timm
training graphs (forward, backward and the optimizer step under CUDA autocast, as timm's
``benchmark.py --amp`` trains) on the RTX 3090 with ``dtype="amp"``. Each line gives medians
of process CPU time (on a shared host the CPU time is what the simulator itself spends), wall
time in parentheses, of

* ``fresh process``: the first call on a graph loaded in a new process, what a user pays once
  per model (issue 16's target): ``--first-runs`` subprocesses each import codesign (no torch),
  simulate another graph on another preset (imports, registry, numpy's first calls), clear the
  GEMM tile-search memo (``codesign.cost.gpu.clear_search_memo``), unpickle the graph (pickled
  before any simulation of it, so nothing the graph derives is cached on it) and time one
  ``simulate``;
* ``here``: the same first call in this process, on fresh copies of the graph after the
  tracing (the garbage of tracing collected first: a full collection of a process that traced
  with torch takes a few hundred ms and is the tracer's, not the simulator's);
* ``repeat``: calls after the first on one graph (``--runs``), e.g. a sweep over presets.

Every call's latency is checked equal to the first. ``--fresh-code DIR`` runs the fresh-process
samples with another checkout's codesign package (an earlier commit: before / after).

Run: python benchmarks/simulate_speed.py [--runs 20] [--first-runs 10] [--no-timm]
     [--timm-models maxvit_tiny_tf_224 efficientnet_b7] [--fresh-code DIR]
"""

import argparse
import gc
import importlib.util
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import codesign
from codesign.cost.gpu import clear_search_memo
from codesign.zoo import build_workload

#: one fresh-process sample: argv = graph pickle, warm-up graph pickle, preset, dtype; prints
#: [CPU s, wall s, latency s] of the timed simulate
CHILD = """
import json, pickle, sys, time
import codesign
path, warm, preset, dtype = sys.argv[1:5]
with open(warm, "rb") as f:
    codesign.simulate(pickle.load(f), "a100-sxm4-40gb", dtype="fp16")
try:
    from codesign.cost.gpu import clear_search_memo
except ImportError:     # --fresh-code of an earlier commit: an lru_cache, empty for this spec
    pass
else:
    clear_search_memo()
hw = codesign.load_hardware(preset)
with open(path, "rb") as f:
    g = pickle.load(f)
w, c = time.perf_counter(), time.process_time()
r = codesign.simulate(g, hw, dtype=dtype)
print(json.dumps([time.process_time() - c, time.perf_counter() - w, r.latency_s]))
"""
REPO = Path(__file__).resolve().parents[1]

PRESETS = [("a100-sxm4-40gb", "fp16"), ("hexagon-v68", "int8"), ("host-cpu", "fp32"),
           ("condensation-accelerator", "int8")]
#: (timm model, batch, optimizer): the largest training graphs of the families issue 16 names
#: (efficientnet_b7 at the batch of timm's RTX 3090 training rows)
TIMM_TRAIN = [("convnext_tiny", 64, "sgd"), ("swin_base_patch4_window7_224", 64, "adamw"),
              ("efficientnet_b3", 64, "sgd"), ("maxvit_tiny_tf_224", 32, "adamw"),
              ("efficientnet_b7", 8, "sgd")]


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def fresh_process(blob: bytes, warm: str, preset: str, dtype: str, runs: int,
                  latency_s: float, code: Path = REPO) -> tuple[float, float]:
    """Median (CPU, wall) seconds of the first simulate of the graph pickled in ``blob`` in
    ``runs`` new processes (see the module docstring) running the codesign package of
    ``code``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(code), os.environ.get("PYTHONPATH", "")) if p)}
    cpu, wall = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "graph.pkl")
        with open(path, "wb") as f:
            f.write(blob)
        for _ in range(runs):
            # cwd=code: ``python -c`` puts the working directory first on sys.path
            out = subprocess.run([sys.executable, "-c", CHILD, path, warm, preset, dtype],
                                 check=True, capture_output=True, text=True, env=env,
                                 cwd=code).stdout
            c, w, lat = json.loads(out.strip().splitlines()[-1])
            if lat != latency_s:
                raise AssertionError(f"{preset}: a fresh process simulated {lat!r}, here {latency_s!r}")
            cpu.append(c)
            wall.append(w)
    return statistics.median(cpu), statistics.median(wall)


def timed(blob: bytes, hw, dtype: str, runs: int, first_runs: int, warm: str,
          code: Path = REPO) -> tuple[tuple[float, ...], object]:
    """Median (fresh-process CPU, wall, first-call-here CPU, wall, repeat CPU, wall) seconds of
    ``simulate`` on the graph pickled in ``blob`` (before any simulation of it) and the result."""
    first_cpu, first_wall = [], []
    result = None
    for _ in range(first_runs):
        fresh = pickle.loads(blob)
        clear_search_memo()
        gc.collect()
        w, c = _clock()
        r = codesign.simulate(fresh, hw, dtype=dtype)
        first_wall.append(time.perf_counter() - w)
        first_cpu.append(time.process_time() - c)
        if result is not None and r != result:
            raise AssertionError(f"{fresh.name}: a first call on a fresh copy differs")
        result = r
    graph = pickle.loads(blob)
    codesign.simulate(graph, hw, dtype=dtype)           # its first call
    wall, cpu = [], []
    for _ in range(runs):
        w, c = _clock()
        r = codesign.simulate(graph, hw, dtype=dtype)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    if r != result:
        raise AssertionError(f"{graph.name}: a repeated call differs from a first call")
    med = statistics.median
    proc = fresh_process(blob, warm, hw.name, dtype, first_runs, r.latency_s, code)
    return (*proc, med(first_cpu), med(first_wall), med(cpu), med(wall)), r


def line(label: str, ops: int, t: tuple[float, ...], latency_s: float) -> str:
    p_cpu, p_wall, h_cpu, h_wall, cpu, wall = (x * 1e3 for x in t)
    return (f"{label:46s} {ops:5d} ops  first call: fresh process {p_cpu:5.1f} ms ({p_wall:5.1f}),"
            f" here {h_cpu:5.1f} ms ({h_wall:5.1f});  repeat {cpu:5.1f} ms ({wall:5.1f})"
            f"  -> latency {latency_s * 1e3:.3f} ms")


def load_average() -> str:
    return "load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="repeated calls per graph")
    ap.add_argument("--first-runs", type=int, default=10,
                    help="first calls per graph, each on a freshly unpickled copy")
    ap.add_argument("--no-timm", action="store_true", help="skip the timm training graphs")
    ap.add_argument("--fresh-code", type=Path, default=REPO, metavar="DIR",
                    help="run the fresh-process samples with the codesign package in DIR (e.g. "
                         "`git worktree add DIR REV` of an earlier commit, to compare; its "
                         "latencies must equal this checkout's)")
    ap.add_argument("--timm-models", nargs="+", metavar="MODEL",
                    choices=[m for m, _, _ in TIMM_TRAIN], help="only these timm graphs")
    args = ap.parse_args()

    g = codesign.trace(build_workload("resnet50"), (1, 3, 224, 224))
    blob = pickle.dumps(g)
    tmp = tempfile.TemporaryDirectory()
    warm = os.path.join(tmp.name, "warm.pkl")          # the fresh processes' warm-up graph
    with open(warm, "wb") as f:
        f.write(blob)
    codesign.simulate(g, PRESETS[0][0], dtype=PRESETS[0][1])   # warm-up (imports, registry)
    for name, dtype in PRESETS:
        hw = codesign.load_hardware(name)
        t, r = timed(blob, hw, dtype, args.runs, args.first_runs, warm, args.fresh_code)
        print(line(f"resnet50 inference on {name} {dtype}", len(g.ops), t, r.latency_s))
    if args.no_timm or importlib.util.find_spec("timm") is None:
        print("timm training graphs skipped (timm not installed or --no-timm)")
        print(load_average())
        return
    import timm

    hw = codesign.load_hardware("rtx3090")
    for model, batch, optimizer in TIMM_TRAIN:
        if args.timm_models and model not in args.timm_models:
            continue
        m = timm.create_model(model)
        shape = (batch, *m.default_cfg["input_size"])
        g = codesign.trace(m, shape, phase="train", optimizer=optimizer, autocast="fp16",
                           name=model)
        t, r = timed(pickle.dumps(g), hw, "amp", args.runs, args.first_runs, warm,
                     args.fresh_code)
        print(line(f"timm {model} train b{batch} {optimizer} rtx3090 amp", len(g.ops), t,
                   r.latency_s))
    print(load_average())


if __name__ == "__main__":
    main()
