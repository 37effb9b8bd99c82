"""End-to-end CLI tests: every foundation verb, and one-line errors with exit code 2."""

import json
import subprocess
import sys
import textwrap

import pytest

from codesign.cli import main


def run(*argv):
    return subprocess.run([sys.executable, "-m", "codesign.cli", *argv], capture_output=True,
                          text=True, timeout=600)


def test_workloads_lists_zoo(capsys):
    assert main(["workloads"]) == 0
    out = capsys.readouterr().out
    for name in ("resnet50_nl", "mobilenetv2_lightnl", "tiny_yolov2_ccp", "convnext_t"):
        assert name in out


def test_trace_table_json_csv(capsys):
    assert main(["trace", "nl_block", "--set", "pool=after"]) == 0
    out = capsys.readouterr().out
    assert "420,876,288" in out and "pattern       nonlocal" in out and "coverage" in out
    assert main(["trace", "espcn", "--format", "json", "--input", "1,1,32,32"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["ops"] == len(data["ops"]) > 0
    assert main(["trace", "resnet50", "--format", "csv", "--input", "1,3,64,64"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("index,name,module")


@pytest.mark.slow
def test_trace_user_file_and_unsupported(tmp_path, capsys):
    f = tmp_path / "net.py"
    f.write_text(textwrap.dedent("""
        import torch, torch.nn as nn
        class Odd(nn.Module):
            def __init__(self, width=8):
                super().__init__()
                self.conv = nn.Conv2d(3, width, 3)
            def forward(self, x):
                return torch.linalg.qr(self.conv(x).flatten(1)[:, :4].reshape(-1, 2, 2))[0]
        def make(width=8):
            return Odd(width)
    """))
    assert main(["trace", f"{f}:make", "--input", "1,3,8,8", "--set", "width=4"]) == 0
    captured = capsys.readouterr()
    assert "UNSUPPORTED" in captured.out and "linalg_qr" in captured.err + captured.out
    r = run("trace", f"{f}:make", "--input", "1,3,8,8", "--strict")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "linalg_qr" in r.stderr and "conv" not in r.stderr.split("module")[0]


@pytest.mark.parametrize("argv,needle", [
    (["trace", "no_such_net"], "unknown workload"),
    (["trace", "missing/file.py:make"], "no such file"),
    (["trace", "codesign.ir.graph:nothing_here"], "factory 'nothing_here' not found"),
    (["trace", "resnet50", "--input", "1,3,x"], "--input"),
    (["trace", "resnet50", "--set", "wdth=2"], "wdth"),
    (["simulate", "resnet50", "--hw", "no-such-gpu"], "no-such-gpu"),
    (["simulate", "resnet50", "--hw", "hexagon-v68", "--dtype", "tf32"], "tf32"),
    (["hw", "check", "missing.yaml"], "missing.yaml"),
])
def test_user_errors_one_line_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err


def test_hw_list_show_check(tmp_path, capsys):
    assert main(["hw", "list"]) == 0
    out = capsys.readouterr().out
    assert "a100-sxm4-40gb" in out and "hexagon-v68" in out
    assert main(["hw", "show", "t4"]) == 0
    yaml_text = capsys.readouterr().out
    f = tmp_path / "t4.yaml"
    f.write_text(yaml_text)
    assert main(["hw", "check", str(f)]) == 0
    f.write_text(yaml_text.replace("sm_count", "sm_cont"))
    assert main(["hw", "check", str(f)]) == 2
    err = capsys.readouterr().err
    assert "sm_cont" in err and "did you mean 'sm_count'" in err


def test_simulate_prints_totals_and_writes(tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["simulate", "resnet50_nl", "--set", "nl_blocks=1", "--hw", "a100-sxm4-40gb",
                 "--dtype", "fp16", "--mode", "fused", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for key in ("latency", "throughput", "DRAM traffic", "energy", "bound", "fused ops"):
        assert key in text
    import pandas as pd

    frame = pd.read_csv(out)
    assert {"latency_s", "energy_j", "dram_read_bytes", "bound", "fused_into"} <= set(frame.columns)
    assert (frame["fused_into"].fillna("") != "").any()
