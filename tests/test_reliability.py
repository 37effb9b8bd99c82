"""Reliability suite (issue 14), slow tier: bad input across every verb is one line on stderr
and exit 2, never a traceback or a hang; interrupted and concurrent sweeps keep their work.

The bad-input cases replay through ``codesign.cli.main`` in-process (each under a 120 s alarm);
the interruption cases run the CLI as a subprocess and SIGKILL it. ``pytest --update-golden
tests/test_reliability.py -m slow`` rewrites ``docs/reliability.md``, the table of cases and
the messages they give (temporary paths shown as ``<tmp>``).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from codesign.cli.main import main

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "reliability.md"

pytestmark = pytest.mark.slow

T4 = (REPO / "codesign" / "hardware" / "presets" / "t4.yaml").read_text()
BOMB = textwrap.dedent("""\
    provenance:
      a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    """)
SWEEP = textwrap.dedent("""\
    name: ok
    workloads:
      - workload: ccp_conv_block
        input: [1, 32, 16, 16]
        knobs: {in_ch: 32, out_ch: [32, 64], factor: 2}
    hardware:
      - preset: a100-sxm4-40gb
        knobs: {sm_count: [54, 108]}
    dtype: [fp16]
    """)

FILES = {
    "empty.yaml": "",
    "syntax.yaml": "name: [unclosed\nkind: gpu\n",
    "unknown_key.yaml": T4.replace("clock_hz:", "clock_hzz:"),
    "negative_bw.yaml": T4.replace("dram_bandwidth_bytes_per_s: 320.0e9", "dram_bandwidth_bytes_per_s: -1"),
    "string_number.yaml": T4.replace("clock_hz: 1.59e9", "clock_hz: fast"),
    "wrong_kind.yaml": T4.replace("kind: gpu", "kind: fpga"),
    "dup_key.yaml": T4 + "name: again\n",
    "top_list.yaml": "- a\n- b\n",
    "bomb.yaml": T4 + BOMB,
    "sweep_ok.yaml": SWEEP,
    "sweep_unknown_key.yaml": SWEEP + "objectivs: [latency_s]\n",
    "sweep_bad_knob.yaml": SWEEP.replace("sm_count", "sm_cnt"),
    "sweep_bad_value.yaml": SWEEP.replace("[54, 108]", "[54, abc]"),
    "sweep_empty_list.yaml": SWEEP.replace("[54, 108]", "[]"),
    "sweep_unknown_preset.yaml": SWEEP.replace("a100-sxm4-40gb", "a100-nope"),
    "sweep_unknown_workload.yaml": SWEEP.replace("ccp_conv_block", "no_such_net"),
    "sweep_bad_objective.yaml": SWEEP + "objectives: [speed]\n",
    "sweep_bad_dtype.yaml": SWEEP.replace("dtype: [fp16]", "dtype: [fp64]"),
    "sweep_all_skipped.yaml": SWEEP.replace("dtype: [fp16]", "dtype: [int8]\nlayout: [ccp]"),
    "sweep_bomb.yaml": SWEEP + BOMB,
    "sweep_top_list.yaml": "- name: x\n",
    "sweep_bad_engine.yaml": SWEEP + "engine: quantum\n",
    "sweep_bad_search.yaml": SWEEP + "search: {strategy: random, samples: 0}\n",
    "net_syntax.py": "def build(:\n",
    "net_raises.py": "def build():\n    raise RuntimeError('boom')\n",
    "net_not_module.py": "def build():\n    return 42\n",
    "net_ok.py": textwrap.dedent("""\
        import torch.nn as nn
        def build(width: int = 8):
            return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU())
        """),
    "garbage.csv": "not,a,result\n1,2,3\n",
    "garbage.parquet": "this is not parquet",
    "a_file": "x",
}

# (verb, label, argv with {t} = a temporary folder, fragment of the expected one-line message)
CASES = [
    # workloads / trace
    ("workloads", "unknown option", ["workloads", "--bogus"], "unrecognized arguments"),
    ("trace", "unknown workload", ["trace", "resnet5"], "resnet5"),
    ("trace", "non-numeric input", ["trace", "nl_block", "--input", "1,64,a,8"], "--input"),
    ("trace", "zero in input", ["trace", "nl_block", "--input", "0,64,8,8"], "--input"),
    ("trace", "negative input", ["trace", "nl_block", "--input", "1,64,-8,8"], "--input"),
    ("trace", "input of wrong rank", ["trace", "nl_block", "--input", "1,64"], ""),
    ("trace", "unknown knob", ["trace", "nl_block", "--set", "nosuch=1"], "nosuch"),
    ("trace", "bad knob value", ["trace", "nl_block", "--set", "mode=bogus"], "bogus"),
    ("trace", "knob without =", ["trace", "nl_block", "--set", "in_ch"], "expected knob=value"),
    ("trace", "knob of wrong type", ["trace", "nl_block", "--set", "in_ch=wide"], "in_ch"),
    ("trace", "missing factory file", ["trace", "{t}/missing.py:build"], "missing.py"),
    ("trace", "missing factory", ["trace", "{t}/net_ok.py:nosuch"], "nosuch"),
    ("trace", "factory file with a syntax error", ["trace", "{t}/net_syntax.py:build"], "net_syntax.py"),
    ("trace", "factory raises", ["trace", "{t}/net_raises.py:build"], "boom"),
    ("trace", "factory returns a non-module", ["trace", "{t}/net_not_module.py:build"], "nn.Module"),
    ("trace", "unknown format", ["trace", "nl_block", "--format", "xml"], "invalid choice"),
    ("trace", "unknown phase", ["trace", "nl_block", "--phase", "eval"], "invalid choice"),
    # hw
    ("hw", "unknown preset", ["hw", "show", "a100"], "a100"),
    ("hw", "missing file", ["hw", "check", "{t}/missing.yaml"], "not found"),
    ("hw", "empty file", ["hw", "check", "{t}/empty.yaml"], "empty file"),
    ("hw", "YAML syntax error", ["hw", "check", "{t}/syntax.yaml"], "invalid YAML at line"),
    ("hw", "unknown key", ["hw", "check", "{t}/unknown_key.yaml"], "clock_hzz"),
    ("hw", "negative bandwidth", ["hw", "check", "{t}/negative_bw.yaml"], "dram_bandwidth_bytes_per_s"),
    ("hw", "number as text", ["hw", "check", "{t}/string_number.yaml"], "clock_hz"),
    ("hw", "unknown kind", ["hw", "check", "{t}/wrong_kind.yaml"], "fpga"),
    ("hw", "duplicate key", ["hw", "check", "{t}/dup_key.yaml"], "duplicate key"),
    ("hw", "top-level list", ["hw", "check", "{t}/top_list.yaml"], ""),
    ("hw", "alias bomb", ["hw", "check", "{t}/bomb.yaml"], "expands to more than"),
    ("hw", "not UTF-8", ["hw", "check", "{t}/latin1.yaml"], "not UTF-8"),
    ("hw", "a folder", ["hw", "check", "{t}/a_dir"], "a_dir"),
    ("hw", "missing action", ["hw", "frobnicate"], "invalid choice"),
    # simulate
    ("simulate", "unknown hardware", ["simulate", "nl_block", "--hw", "a100"], "a100"),
    ("simulate", "unknown dtype", ["simulate", "nl_block", "--hw", "t4", "--dtype", "int4"], "invalid choice"),
    ("simulate", "dtype the preset lacks", ["simulate", "nl_block", "--hw", "t4", "--dtype", "tf32"], "tf32"),
    ("simulate", "layout the preset lacks", ["simulate", "nl_block", "--hw", "t4", "--layout", "ccp"], "ccp"),
    ("simulate", "zero streams", ["simulate", "nl_block", "--hw", "t4", "--engine", "event", "--streams", "0"], "streams"),
    ("simulate", "streams not a number", ["simulate", "nl_block", "--hw", "t4", "--streams", "two"], "invalid int"),
    ("simulate", "negative threads", ["simulate", "nl_block", "--hw", "host-cpu", "--engine", "event", "--threads", "-1"], "threads"),
    ("simulate", "unknown issue order", ["simulate", "nl_block", "--hw", "t4", "--engine", "event", "--issue-order", "random"], "random"),
    ("simulate", "trace-out without event engine", ["simulate", "nl_block", "--hw", "t4", "--trace-out", "{t}/x.json"], "--engine event"),
    ("simulate", "out under a file", ["simulate", "nl_block", "--hw", "t4", "--out", "{t}/a_file/r.csv"], "is a file, not a folder"),
    ("simulate", "out not writable", ["simulate", "nl_block", "--hw", "t4", "--out", "/proc/r.json"], "cannot write into /proc"),
    ("simulate", "alias bomb hardware", ["simulate", "nl_block", "--hw", "{t}/bomb.yaml"], "expands to more than"),
    ("simulate", "unknown workload", ["simulate", "nosuch", "--hw", "t4"], "nosuch"),
    ("simulate", "missing --hw", ["simulate", "nl_block"], "--hw"),
    # measure
    ("measure", "unknown workload", ["measure", "nosuch"], "nosuch"),
    ("measure", "unknown device", ["measure", "nl_block", "--device", "tpu"], "tpu"),
    ("measure", "zero repeats", ["measure", "nl_block", "--repeat", "0"], "repeat"),
    ("measure", "unknown clock", ["measure", "nl_block", "--clock", "sundial"], "sundial"),
    ("measure", "unknown allocator", ["measure", "nl_block", "--allocator", "bogus"], "bogus"),
    ("measure", "unknown dtype", ["measure", "nl_block", "--dtype", "fp64"], "fp64"),
    ("measure", "csv onto a folder", ["measure", "nl_block", "--csv", "{t}/a_dir"], "a_dir"),
    # calibrate
    ("calibrate", "unknown device", ["calibrate", "--device", "tpu", "--out", "{t}/h.yaml"], "tpu"),
    ("calibrate", "out onto a folder", ["calibrate", "--out", "{t}/a_dir"], "is a folder"),
    ("calibrate", "unknown base preset", ["calibrate", "--hw", "nosuch", "--out", "{t}/h.yaml"], "nosuch"),
    ("calibrate", "unknown clock", ["calibrate", "--clock", "sundial", "--out", "{t}/h.yaml"], "sundial"),
    ("calibrate", "unknown allocator", ["calibrate", "--allocator", "bogus", "--out", "{t}/h.yaml"], "bogus"),
    ("calibrate", "zero threads", ["calibrate", "--threads", "0", "--out", "{t}/h.yaml"], "threads"),
    ("calibrate", "into the presets", ["calibrate", "--out", str(REPO / "codesign/hardware/presets/x.yaml")], "never writes into"),
    # validate
    ("validate", "unknown workload", ["validate", "nosuch", "--out", "{t}/v"], "nosuch"),
    ("validate", "unknown hardware", ["validate", "nl_block", "--hw", "nosuch"], "nosuch"),
    ("validate", "one round", ["validate", "nl_block", "--rounds", "1"], "rounds"),
    ("validate", "zero batch", ["validate", "nl_block", "--batch", "0"], "positive"),
    ("validate", "unknown device", ["validate", "nl_block", "--device", "tpu"], "tpu"),
    ("validate", "out onto a file", ["validate", "nl_block", "--out", "{t}/a_file"], "is a file; expected a folder"),
    ("validate", "hardware YAML syntax error", ["validate", "nl_block", "--hw", "{t}/syntax.yaml"], "invalid YAML"),
    # sweep
    ("sweep", "missing spec", ["sweep", "{t}/missing.yaml", "--out", "{t}/o"], "no such file"),
    ("sweep", "YAML syntax error", ["sweep", "{t}/syntax.yaml", "--out", "{t}/o"], "invalid YAML"),
    ("sweep", "unknown key", ["sweep", "{t}/sweep_unknown_key.yaml", "--out", "{t}/o"], "objectivs"),
    ("sweep", "unknown hardware knob", ["sweep", "{t}/sweep_bad_knob.yaml", "--out", "{t}/o"], "sm_cnt"),
    ("sweep", "knob value not a number", ["sweep", "{t}/sweep_bad_value.yaml", "--out", "{t}/o"], "sm_count"),
    ("sweep", "empty knob list", ["sweep", "{t}/sweep_empty_list.yaml", "--out", "{t}/o"], "sm_count"),
    ("sweep", "unknown preset", ["sweep", "{t}/sweep_unknown_preset.yaml", "--out", "{t}/o"], "a100-nope"),
    ("sweep", "unknown workload", ["sweep", "{t}/sweep_unknown_workload.yaml", "--out", "{t}/o"], "no_such_net"),
    ("sweep", "unknown objective", ["sweep", "{t}/sweep_bad_objective.yaml", "--out", "{t}/o"], "speed"),
    ("sweep", "unknown dtype", ["sweep", "{t}/sweep_bad_dtype.yaml", "--out", "{t}/o"], "fp64"),
    ("sweep", "every point skipped", ["sweep", "{t}/sweep_all_skipped.yaml", "--out", "{t}/o"], "skipped"),
    ("sweep", "alias bomb", ["sweep", "{t}/sweep_bomb.yaml", "--out", "{t}/o"], "expands to more than"),
    ("sweep", "top-level list", ["sweep", "{t}/sweep_top_list.yaml", "--out", "{t}/o"], "mapping"),
    ("sweep", "empty spec", ["sweep", "{t}/empty.yaml", "--out", "{t}/o"], ""),
    ("sweep", "unknown engine", ["sweep", "{t}/sweep_bad_engine.yaml", "--out", "{t}/o"], "quantum"),
    ("sweep", "zero samples", ["sweep", "{t}/sweep_bad_search.yaml", "--out", "{t}/o"], "samples"),
    ("sweep", "zero workers", ["sweep", "{t}/sweep_ok.yaml", "--out", "{t}/o", "--workers", "0"], "workers"),
    ("sweep", "workers and scheduler", ["sweep", "{t}/sweep_ok.yaml", "--out", "{t}/o", "--workers", "2", "--scheduler", "tcp://h:1"], "either workers"),
    ("sweep", "malformed scheduler", ["sweep", "{t}/sweep_ok.yaml", "--out", "{t}/o", "--scheduler", "foo"], "expected a Dask scheduler address"),
    ("sweep", "unreachable scheduler", ["sweep", "{t}/sweep_ok.yaml", "--out", "{t}/o", "--scheduler", "tcp://127.0.0.1:1"], "cannot reach"),
    ("sweep", "zero chunk size", ["sweep", "{t}/sweep_ok.yaml", "--out", "{t}/o", "--chunk-size", "0"], "chunk_size"),
    ("sweep", "out onto a file", ["sweep", "{t}/sweep_ok.yaml", "--out", "{t}/a_file"], "is a file; expected a folder"),
    ("sweep", "out not writable", ["sweep", "{t}/sweep_ok.yaml", "--out", "/proc/sweep"], "cannot write into /proc"),
    # report
    ("report", "missing results", ["report", "{t}/nothing", "--out", "{t}/r"], "nothing"),
    ("report", "folder without results", ["report", "{t}/a_dir", "--out", "{t}/r"], "a_dir"),
    ("report", "CSV that is no result table", ["report", "{t}/garbage.csv", "--out", "{t}/r"], "garbage.csv"),
    ("report", "parquet that is not parquet", ["report", "{t}/garbage.parquet", "--out", "{t}/r"], "garbage.parquet"),
    ("report", "out onto a file", ["report", "{t}/a_dir", "--out", "{t}/a_file"], "is a file; expected a folder"),
    # demo / reproduce
    ("demo", "out onto a file", ["demo", "--out", "{t}/a_file"], "is a file; expected a folder"),
    ("reproduce", "unknown claim", ["reproduce", "no-such-claim", "--out", "{t}/r.md"], "no-such-claim"),
    ("reproduce", "out onto a folder", ["reproduce", "--out", "{t}/a_dir"], "is a folder"),
]

_RESULTS: dict[str, tuple[str, str, int, str]] = {}


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    t = tmp_path_factory.mktemp("bad-inputs")
    for name, text in FILES.items():
        (t / name).write_text(text)
    (t / "a_dir").mkdir()
    (t / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    return t


class _Alarm(Exception):
    pass


def _run(argv: list[str], timeout_s: int = 120) -> tuple[int, str]:
    """main(argv) in-process: (exit status, stderr); SystemExit from argparse counts."""
    err = io.StringIO()

    def ring(*_):
        raise _Alarm(f"no answer after {timeout_s} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(timeout_s)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return code, err.getvalue()


@pytest.mark.parametrize("verb,label,argv,fragment", CASES, ids=[f"{c[0]}: {c[1]}" for c in CASES])
def test_bad_input_is_one_line_and_exit_2(place, monkeypatch, verb, label, argv, fragment):
    monkeypatch.chdir(place)
    monkeypatch.setenv("CODESIGN_TRACE_CACHE", str(place / "trace-cache"))
    t0 = time.perf_counter()
    code, err = _run([a.replace("{t}", str(place)) for a in argv])
    elapsed = time.perf_counter() - t0
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    shown = (lines[-1] if lines else "").replace(str(place), "<tmp>").replace(str(REPO), "<repo>")
    _RESULTS[f"{verb}: {label}"] = (verb, " ".join(argv).replace("{t}", "<tmp>").replace(str(REPO), "<repo>"), code, shown)
    assert code == 2, f"exit {code}: {err[-1500:]}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{err[-1500:]}"
    assert "Traceback" not in err
    assert fragment in lines[0], lines[0]
    assert elapsed < 60, f"took {elapsed:.0f} s"


def test_case_count_covers_every_verb():
    verbs = {c[0] for c in CASES}
    assert len(CASES) >= 60
    assert verbs >= {"workloads", "trace", "hw", "simulate", "measure", "calibrate", "validate",
                     "sweep", "report", "demo", "reproduce"}


# --------------------------------------------------------------------------- interruptions


def _env(tmp_path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["CODESIGN_TRACE_CACHE"] = str(tmp_path / "trace-cache")
    return env


LONG = textwrap.dedent("""\
    name: long
    engine: event
    workloads:
      - workload: nl_block
        input: [1, 64, 8, 8]
        knobs: {in_ch: 64}
    hardware:
      - preset: a100-sxm4-40gb
        knobs: {sm_count: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
                clock_hz: [1.0e9, 1.1e9, 1.2e9, 1.3e9, 1.4e9, 1.5e9, 1.6e9, 1.7e9, 1.8e9, 1.9e9]}
    dtype: [fp16]
    """)


def _sweep_proc(tmp_path, spec, out, *extra) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "codesign.cli", "sweep", str(spec), "--out",
                             str(out), "--chunk-size", "2", "--no-progress", *extra],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_parts(out: Path, n: int, proc: subprocess.Popen, timeout_s: float = 180) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        k = len(list((out / "parts").glob("*.parquet")))
        if k >= n:
            return k
        time.sleep(0.05)
    raise AssertionError(f"the sweep wrote fewer than {n} parts (exit {proc.poll()})")


@pytest.mark.parametrize("workers", [None, 2], ids=["in-process", "2 workers"])
def test_sigkill_mid_sweep_then_resume_identical(tmp_path, workers):
    from codesign.sweeps.runner import sweep

    spec = tmp_path / "long.yaml"
    spec.write_text(LONG)
    full = sweep(str(spec), output=tmp_path / "full", progress=False, chunk_size=2)
    out = tmp_path / "killed"
    extra = ["--workers", str(workers)] if workers else []
    proc = _sweep_proc(tmp_path, spec, out, *extra)
    try:
        _wait_parts(out, 5, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    kept = len(list((out / "parts").glob("*.parquet")))
    assert 5 <= kept < 50
    done = subprocess.run([sys.executable, "-m", "codesign.cli", "sweep", str(spec), "--out",
                           str(out), "--chunk-size", "2", "--no-progress", *extra], cwd=tmp_path,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{kept} reused" in done.stdout
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), full)


def test_two_sweeps_into_one_folder(tmp_path):
    spec = tmp_path / "long.yaml"
    spec.write_text(LONG.replace("[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]",
                                 "[" + ", ".join(str(i) for i in range(1, 401)) + "]"))
    # 4,000 points: the first sweep must still be running when the second has started (it is
    # killed below); 400 points ended first once simulate got faster
    out = tmp_path / "shared"
    first = _sweep_proc(tmp_path, spec, out)
    try:
        _wait_parts(out, 1, first)
        second = subprocess.run([sys.executable, "-m", "codesign.cli", "sweep", str(spec), "--out",
                                 str(out), "--no-progress"], cwd=tmp_path, env=_env(tmp_path),
                                capture_output=True, text=True, timeout=300)
        assert first.poll() is None, "the first sweep ended before the second started"
        assert second.returncode == 2, second.stdout[-500:]
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "another sweep is writing to this folder" in lines[0]
        _RESULTS["sweep: second sweep into a busy folder"] = (
            "sweep", "sweep <spec> --out <busy folder>", second.returncode,
            lines[0].replace(str(tmp_path), "<tmp>"))
    finally:
        first.kill()
        first.wait()


def test_killed_dask_worker_same_table(tmp_path):
    import distributed
    from codesign.sweeps.runner import sweep

    spec = tmp_path / "long.yaml"
    spec.write_text(LONG)
    full = sweep(str(spec), output=tmp_path / "full", progress=False, chunk_size=2)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        killed = []

        def kill_one(chunk_id, n, of):
            if n == 3 and not killed:
                pids = [w.process.process.pid for w in cluster.workers.values()
                        if w.process is not None and w.process.process is not None]
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])

        frame = sweep(str(spec), output=tmp_path / "dask", progress=False, chunk_size=2,
                      scheduler=cluster.scheduler_address, on_chunk=kill_one)
    assert killed, "no worker was killed"
    pd.testing.assert_frame_equal(frame, full)


# --------------------------------------------------------------------------- the table


def test_write_the_table(update_golden):
    """Runs last (file order): the cases and their messages as docs/reliability.md."""
    if not _RESULTS:   # selected alone (-k): the table is built from the cases run before it
        pytest.skip("no bad-input case ran earlier in this session, so there is no table to write")
    lines = ["# Reliability cases", "",
             "Generated by `pytest -m slow tests/test_reliability.py --update-golden` (issue 14):",
             "every bad input below exits with status 2 and one line on stderr, shown as it",
             "appears (temporary paths as `<tmp>`). Interruption cases (SIGKILL mid-sweep and",
             "resume, two sweeps into one folder, a killed Dask worker) are in the same file.", "",
             "| verb | case | command | exit | message |", "|---|---|---|---|---|"]
    for key in sorted(_RESULTS, key=lambda k: (_RESULTS[k][0], k)):
        verb, argv, code, msg = _RESULTS[key]
        esc = msg.replace("|", "\\|")
        cmd = argv.replace("|", "\\|")
        lines.append(f"| {verb} | {key.split(': ', 1)[1]} | `codesign {cmd}` | {code} | {esc} |")
    text = "\n".join(lines) + "\n"
    if update_golden:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text)
    assert len(_RESULTS) >= 1
