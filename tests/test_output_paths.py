"""Output paths are checked before any work (issue 14, item 3): an --out that cannot be written
gives one line and exit 2 in every verb that writes, before tracing, benchmarking or sweeping."""

from __future__ import annotations

import time

import pytest

from codesign.cli.main import main
from codesign.results.paths import OutputPathError, check_output_dir, check_output_file

SPEC = """\
name: x
workloads:
  - workload: ccp_conv_block
    knobs: {factor: [2, 4]}
hardware:
  - preset: a100-sxm4-40gb
dtype: [fp16]
"""


@pytest.fixture
def place(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_dir.csv").mkdir()
    (tmp_path / "a_dir.yaml").mkdir()
    (tmp_path / "a_dir.md").mkdir()
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path


def test_check_output_file(place):
    assert check_output_file(place / "new" / "deeper" / "r.csv") == place / "new" / "deeper" / "r.csv"
    assert not (place / "new").exists()                      # nothing created
    with pytest.raises(OutputPathError, match="is a folder; expected a file path"):
        check_output_file(place / "a_dir.csv")
    with pytest.raises(OutputPathError, match="a_file is a file, not a folder"):
        check_output_file(place / "a_file" / "r.csv")
    with pytest.raises(OutputPathError, match="cannot write into /proc"):
        check_output_file("/proc/codesign-r.csv")
    assert not list(place.glob(".codesign-probe-*"))


def test_check_output_dir(place):
    assert check_output_dir(place / "new" / "sub") == place / "new" / "sub"
    assert not (place / "new").exists()
    check_output_dir(place)
    with pytest.raises(OutputPathError, match="is a file; expected a folder"):
        check_output_dir(place / "a_file")
    with pytest.raises(OutputPathError, match="a_file is a file, not a folder"):
        check_output_dir(place / "a_file" / "sub")
    with pytest.raises(OutputPathError, match="cannot write into /proc"):
        check_output_dir("/proc/codesign-out")


CASES = [
    ("simulate into a file's subfolder",
     ["simulate", "nl_block", "--hw", "a100-sxm4-40gb", "--out", "{t}/a_file/r.csv"], "is a file, not a folder"),
    ("simulate onto a folder",
     ["simulate", "nl_block", "--hw", "a100-sxm4-40gb", "--out", "{t}/a_dir.csv"], "is a folder"),
    ("simulate result folder onto a file",
     ["simulate", "nl_block", "--hw", "a100-sxm4-40gb", "--out", "{t}/a_file"], "is a file; expected a folder"),
    ("simulate unwritable",
     ["simulate", "nl_block", "--hw", "a100-sxm4-40gb", "--out", "/proc/r.json"], "cannot write into /proc"),
    ("simulate trace-out onto a folder",
     ["simulate", "nl_block", "--hw", "a100-sxm4-40gb", "--engine", "event", "--trace-out", "{t}/a_dir.csv"],
     "--trace-out"),
    ("sweep onto a file", ["sweep", "{t}/spec.yaml", "--out", "{t}/a_file"], "is a file; expected a folder"),
    ("sweep unwritable", ["sweep", "{t}/spec.yaml", "--out", "/proc/sweep"], "cannot write into /proc"),
    ("calibrate onto a folder", ["calibrate", "--quick", "--out", "{t}/a_dir.yaml"], "is a folder"),
    ("calibrate unwritable", ["calibrate", "--quick", "--out", "/proc/host.yaml"], "cannot write into /proc"),
    ("validate onto a file", ["validate", "nl_block", "--out", "{t}/a_file"], "is a file; expected a folder"),
    ("report onto a file", ["report", "{t}", "--out", "{t}/a_file"], "is a file; expected a folder"),
    ("demo onto a file", ["demo", "--out", "{t}/a_file"], "is a file; expected a folder"),
    ("reproduce onto a folder", ["reproduce", "--out", "{t}/a_dir.md"], "is a folder"),
]


@pytest.mark.parametrize("label,argv,fragment", CASES, ids=[c[0] for c in CASES])
def test_verbs_check_out_before_work(place, capsys, label, argv, fragment):
    t0 = time.perf_counter()
    assert main([a.replace("{t}", str(place)) for a in argv]) == 2
    elapsed = time.perf_counter() - t0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert elapsed < 5.0, f"{label}: the check came after {elapsed:.1f} s of work"
