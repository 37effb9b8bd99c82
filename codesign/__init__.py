"""codesign: hardware-aware co-design simulator for vision networks.

The public API (design.md) is re-exported lazily so that ``import codesign`` stays cheap and
the IR / cost / schedule layers never pull in torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_API = {
    "trace": ("codesign.capture.tracer", "trace"),
    "OpGraph": ("codesign.ir.graph", "OpGraph"),
    "Op": ("codesign.ir.graph", "Op"),
    "OpKind": ("codesign.ir.graph", "OpKind"),
    "TensorSpec": ("codesign.ir.graph", "TensorSpec"),
    "CodesignError": ("codesign.errors", "CodesignError"),
    "load_hardware": ("codesign.hardware", "load_hardware"),
    "list_hardware": ("codesign.hardware", "list_hardware"),
    "HardwareSpec": ("codesign.hardware", "HardwareSpec"),
    "simulate": ("codesign.simulation", "simulate"),
    "SimResult": ("codesign.results.records", "SimResult"),
    "measure": ("codesign.measurement.runner", "measure"),
    "calibrate": ("codesign.calibration.host", "calibrate"),
    "validate": ("codesign.validation.host", "validate"),
    "sweep": ("codesign.sweeps.runner", "sweep"),
    "report": ("codesign.reporting.document", "report"),
    "reproduce": ("codesign.reproductions.claims", "reproduce"),
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'codesign' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), attr)
