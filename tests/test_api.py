"""The public API of design.md: every name is a callable function, whatever was imported before.

Function names (simulate, sweep, report, ...) used to coincide with module names, so importing a
submodule rebound the package attribute to the module. Each check runs in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest

API = ("trace", "load_hardware", "list_hardware", "simulate", "measure", "calibrate", "validate",
       "sweep", "report", "reproduce")

CHECK = f"""
import inspect, codesign
bad = [n for n in {API!r} if not inspect.isfunction(getattr(codesign, n))]
assert not bad, "not functions: " + ", ".join(bad)
"""

ALL_SUBMODULES = """
import pkgutil, importlib, codesign
for m in pkgutil.walk_packages(codesign.__path__, "codesign."):
    if not m.name.endswith("__main__"):
        importlib.import_module(m.name)
"""


@pytest.mark.parametrize("before", [
    pytest.param("", id="fresh"), pytest.param("import codesign.cli", id="after-cli"),
    pytest.param(ALL_SUBMODULES, id="after-every-submodule", marks=pytest.mark.slow)])
def test_api_names_are_functions(before):
    proc = subprocess.run([sys.executable, "-c", before + CHECK], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_no_public_function_shares_a_module_name():
    code = """
import pkgutil, importlib, inspect, codesign
names = {m.name.rsplit(".", 1)[-1] for m in pkgutil.walk_packages(codesign.__path__, "codesign.")}
clash = [n for n in codesign.__all__ if n in names]
assert not clash, clash
"""
    proc = subprocess.run([sys.executable, "-c", ALL_SUBMODULES + code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_calibrate_is_callable_from_a_fresh_interpreter(tmp_path):
    """The exact failing call of the issue now reaches calibrate's own argument checks."""
    code = "import codesign\ntry:\n    codesign.calibrate(device='tpu', out=None)\n" \
           "except codesign.CodesignError as e:\n    print('ok', e)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr
