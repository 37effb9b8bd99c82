"""codesign: hardware-aware co-design simulator for vision networks.

The public API (design.md) is re-exported lazily so that ``import codesign`` stays cheap and
the IR / cost / schedule layers never pull in torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "trace": ("codesign.extract", "trace"),
    "OpGraph": ("codesign.graph", "OpGraph"),
    "Op": ("codesign.graph", "Op"),
    "OpKind": ("codesign.graph", "OpKind"),
    "TensorSpec": ("codesign.graph", "TensorSpec"),
    "CodesignError": ("codesign.errors", "CodesignError"),
    "load_hardware": ("hw_models", "load_hardware"),
    "list_hardware": ("hw_models", "list_hardware"),
    "HardwareSpec": ("hw_models", "HardwareSpec"),
    "simulate": ("codesign.simulate", "simulate"),
    "SimResult": ("codesign.result", "SimResult"),
    "measure": ("codesign.measure", "measure"),
    "calibrate": ("codesign.calibrate", "calibrate"),
    "validate": ("codesign.validate", "validate"),
    "sweep": ("codesign.sweep", "sweep"),
    "report": ("codesign.report", "report"),
    "reproduce": ("codesign.reproduce", "reproduce"),
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'codesign' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    if module == f"codesign.{name}":
        # importing the submodule bound the (callable) module itself to this attribute
        return globals().get(name, value)
    return value
