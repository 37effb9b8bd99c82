"""Bounded YAML (issue 14, item 5): an alias bomb, deep nesting, a recursive alias or an
oversized file in a hardware or sweep spec is one line and exit 2, never a hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codesign.config.yaml import check_yaml_bounds, read_yaml_text
from codesign.errors import CodesignError, SpecError
from codesign.hardware import PRESET_DIR, load_hardware

REPO = Path(__file__).resolve().parent.parent

BOMB = """\
provenance:
  a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
"""


def test_alias_bomb_is_refused_fast():
    with pytest.raises(SpecError, match="expands to more than 200,000 nodes"):
        check_yaml_bounds(BOMB, "bomb.yaml")


def test_small_aliases_are_fine():
    check_yaml_bounds("base: &b {x: 1, y: 2}\nother: *b\nthird: {<<: *b, z: 3}\n", "ok.yaml")


def test_deep_nesting_refused():
    deep = "x: " + "[" * 100 + "]" * 100 + "\n"
    with pytest.raises(SpecError, match="nested deeper than 64 levels"):
        check_yaml_bounds(deep, "deep.yaml")
    very_deep = "x: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(SpecError, match="nested deeper"):
        check_yaml_bounds(very_deep, "deep.yaml")


def test_recursive_alias_refused():
    with pytest.raises(SpecError, match="recursive YAML alias"):
        check_yaml_bounds("a: &a [1, *a]\n", "rec.yaml")


def test_size_limit(tmp_path):
    with pytest.raises(SpecError, match="the limit is 100"):
        check_yaml_bounds("x: " + "1" * 200, "big.yaml", max_bytes=100)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"x: 1\n" + b"#" * (9 * 2**20))
    with pytest.raises(SpecError, match="bytes of YAML; the limit is"):
        read_yaml_text(big, "big.yaml")
    with pytest.raises(CodesignError, match="bytes of YAML"):
        load_hardware(big)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(CodesignError, match="not UTF-8"):
        load_hardware(bad)


def _cli(*argv, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "codesign.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_alias_bomb_in_hardware_file_cli(tmp_path):
    hw = tmp_path / "bomb.yaml"
    hw.write_text((PRESET_DIR / "t4.yaml").read_text() + BOMB)
    for argv in (["hw", "check", str(hw)], ["simulate", "nl_block", "--hw", str(hw)]):
        proc = _cli(*argv, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr[-1000:]
        err = proc.stderr.strip().splitlines()
        assert len(err) == 1 and "expands to more than" in err[0], err


def test_alias_bomb_in_sweep_spec_cli(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\nworkloads: [{workload: nl_block}]\nhardware: [{preset: t4}]\n" + BOMB)
    proc = _cli("sweep", str(spec), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-1000:]
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "expands to more than" in err[0], err
