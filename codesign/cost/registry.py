"""The one cost registry: (OpKind, hardware kind) -> pure cost function (style rule 3)."""

from codesign.cost.base import CostRegistry

REGISTRY = CostRegistry()
