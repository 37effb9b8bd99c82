"""Local sweep workers (issue 14, items 1 and 7): ``codesign.sweep(..., workers=N)`` works in a
plain script without ``if __name__ == "__main__":`` (the script runs once), and worker
processes end when the sweeping process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""\
    import sys
    import codesign
    print("SCRIPT-START", flush=True)
    spec = {"name": "t",
            "workloads": [{"workload": "ccp_conv_block", "input": [1, 32, 16, 16],
                           "knobs": {"in_ch": 32, "out_ch": [32, 64], "factor": 2}}],
            "hardware": [{"preset": "a100-sxm4-40gb",
                          "knobs": {"sm_count": [54, 108], "clock_hz": [1.0e9, 1.41e9]}}],
            "dtype": ["fp16"], "mode": ["eager"]}
    frame = codesign.sweep(spec, workers=2, output=sys.argv[1], progress=False, chunk_size=2)
    print("ROWS", len(frame), flush=True)
    """)


def _env(tmp_path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["CODESIGN_TRACE_CACHE"] = str(tmp_path / "cache")
    return env


def test_workers_in_a_script_without_main_guard(tmp_path):
    script = tmp_path / "plain_script.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "out")], cwd=tmp_path,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("SCRIPT-START") == 1          # never re-run by a worker
    assert "ROWS 8" in proc.stdout


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and (b"codesign.sweeps.workers" in cmd or b"spawn_main" in cmd):
            out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


SLOW_SPEC = textwrap.dedent("""\
    name: slow
    engine: event
    workloads:
      - workload: nl_block
        input: [1, 64, 8, 8]
        knobs: {in_ch: 64}
    hardware:
      - preset: a100-sxm4-40gb
        knobs: {sm_count: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 108, 110, 120, 130, 140,
                           150, 160, 170, 180, 190],
                clock_hz: [1.0e9, 1.05e9, 1.1e9, 1.15e9, 1.2e9, 1.25e9, 1.3e9, 1.35e9, 1.4e9,
                           1.41e9, 1.45e9, 1.5e9, 1.55e9, 1.6e9, 1.65e9, 1.7e9, 1.75e9, 1.8e9,
                           1.85e9, 1.9e9]}
    dtype: [fp16]
    mode: [eager]
    """)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="finds the worker processes through /proc, which only Linux has")
def test_workers_end_when_the_sweep_is_killed(tmp_path):
    spec = tmp_path / "slow.yaml"
    spec.write_text(SLOW_SPEC)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "codesign.cli", "sweep", str(spec), "--workers",
                             "2", "--chunk-size", "1", "--out", str(out), "--no-progress"],
                            cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _children(proc.pid)
            if len(workers) == 2 and len(list((out / "parts").glob("*.parquet"))) >= 2:
                break
            time.sleep(0.1)
        assert len(workers) == 2, "the sweep never ran two workers"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "worker processes outlived their parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_progress_lines_when_not_a_terminal(tmp_path, monkeypatch, capsys):
    """Issue 14 item 9: a sweep whose stderr is not a terminal prints progress lines."""
    from codesign.sweeps import runner

    monkeypatch.setenv("CODESIGN_TRACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "LINE_PROGRESS_INTERVAL_S", 0.0)
    spec = {"name": "p", "workloads": [{"workload": "ccp_conv_block", "input": [1, 32, 16, 16],
                                        "knobs": {"in_ch": 32, "factor": 2}}],
            "hardware": [{"preset": "a100-sxm4-40gb", "knobs": {"sm_count": [54, 108]}}],
            "dtype": ["fp16"]}
    runner.sweep(spec, output=tmp_path / "o", chunk_size=1)          # progress=None: automatic
    err = capsys.readouterr().err
    assert "tracing: 1/1 (100%)" in err
    assert "sweep p: 1/2 (50%)" in err and "sweep p: 2/2 (100%)" in err
    runner.sweep(spec, output=tmp_path / "o2", chunk_size=1, progress=False)
    assert capsys.readouterr().err == ""
