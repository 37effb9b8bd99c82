"""Cost models, one module per hardware kind; importing a module registers its functions."""

from __future__ import annotations

import importlib

from codesign.cost.base import CostContext, OpCost, Tile  # noqa: F401
from codesign.cost.registry import REGISTRY

#: the module of each hardware kind (hardware kind "dsp" is the Hexagon NPU)
_MODULES = ("gpu", "hexagon", "cpu", "accelerator")


def registry():
    """The populated registry (imports every hardware module once; later calls are no-ops)."""
    for name in _MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return REGISTRY
