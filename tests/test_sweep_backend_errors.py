"""Sweep backend failures (issue 14, item 6): a malformed or unreachable --scheduler is one line
within seconds, before tracing; a cluster that dies mid-sweep is one line with the command
that resumes, and resuming gives the identical table."""

from __future__ import annotations

import time

import pandas as pd
import pytest

from codesign.cli.main import main
from codesign.errors import CodesignError
from codesign.sweeps import runner
from codesign.sweeps.runner import check_scheduler_address, run_sweep, sweep
from codesign.sweeps.workers import SweepBackendError

SPEC = {"name": "t",
        "workloads": [{"workload": "ccp_conv_block", "input": [1, 32, 16, 16],
                       "knobs": {"in_ch": 32, "out_ch": [32, 64], "factor": 2}}],
        "hardware": [{"preset": "a100-sxm4-40gb",
                      "knobs": {"sm_count": [54, 108], "clock_hz": [1.0e9, 1.41e9]}}],
        "dtype": ["fp16"], "mode": ["eager", "fused"]}


@pytest.fixture(autouse=True)
def _trace_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CODESIGN_TRACE_CACHE", str(tmp_path_factory.getbasetemp() / "tc"))


@pytest.mark.parametrize("address", ["foo", "tcp://127.0.0.1:notaport", "tcp://host", "http://h:1",
                                     "tcp://127.0.0.1:99999", "", "tcp://a b:80"])
def test_malformed_scheduler(address):
    with pytest.raises(CodesignError, match="expected a Dask scheduler address"):
        check_scheduler_address(address)


@pytest.mark.parametrize("address", ["tcp://10.0.0.5:8786", "10.0.0.5:8786", "tls://h.example:1",
                                     "tcp://[::1]:8786", "ucx://node-3:13337"])
def test_wellformed_scheduler(address):
    check_scheduler_address(address)


@pytest.mark.parametrize("address,fragment", [("foo", "expected a Dask scheduler address"),
                                              ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler")])
def test_cli_bad_scheduler_is_one_fast_line(tmp_path, capsys, address, fragment):
    import yaml

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    t0 = time.perf_counter()
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--scheduler", address]) == 2
    assert time.perf_counter() - t0 < 8
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert not (tmp_path / "o" / "parts").exists()           # failed before any work


def test_cli_backend_failure_names_the_resume_command(tmp_path, capsys, monkeypatch):
    import yaml

    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SPEC))

    def dying(*a, **k):
        raise SweepBackendError("the Dask cluster at tcp://h:1 failed (KilledWorker: x); "
                                "finished chunks are kept, rerun the same command to resume")

    monkeypatch.setattr(runner, "run_sweep", dying)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--scheduler",
                 "tcp://h:1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].endswith(f"codesign sweep {spec} --out {tmp_path / 'o'} --scheduler tcp://h:1")


@pytest.mark.slow
def test_dask_cluster_dying_mid_sweep_then_resume(tmp_path):
    import distributed
    full = sweep(SPEC, output=tmp_path / "full", progress=False, chunk_size=2)
    out = tmp_path / "o"
    cluster = distributed.LocalCluster(n_workers=1, processes=True, threads_per_worker=1,
                                       dashboard_address=None)

    def kill_cluster(chunk_id, n, of):
        if n == 1:
            cluster.close()

    try:
        with pytest.raises(SweepBackendError, match="rerun the same command to resume"):
            run_sweep(SPEC, output=out, progress=False, chunk_size=2,
                      scheduler=cluster.scheduler_address, on_chunk=kill_cluster)
    finally:
        cluster.close()
    kept = len(list((out / "parts").glob("*.parquet")))
    assert kept >= 1
    run = run_sweep(SPEC, output=out, progress=False, chunk_size=2)
    assert run.summary.reused_chunks == kept
    pd.testing.assert_frame_equal(run.frame, full)
