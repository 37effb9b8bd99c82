"""The one cost registry: (OpKind, hardware kind) -> pure cost function (style rule 3)."""

from .base import CostRegistry

REGISTRY = CostRegistry()
