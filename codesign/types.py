"""Closed sets of the project as enums, and the one conversion from user strings.

Members are ``str`` subclasses that hash and compare like their value, so ``DType.FP16 ==
"fp16"``, dicts keyed by plain strings accept them, and JSON / Parquet / f-strings see the
value. Convert user input once at the boundary with :func:`parse_choice` (one error line naming
the key and the choices); CLI ``choices=`` and YAML schemas come from :func:`values`.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from codesign.errors import CodesignError, did_you_mean


class Choice(str, Enum):
    """Base of the closed sets: behaves as its string value everywhere."""

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class DType(Choice):
    """The precision a workload runs in on the hardware."""

    FP32 = "fp32"
    TF32 = "tf32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"
    W8A16 = "w8a16"     # int8 weights, int16 activations (Qualcomm AI Hub's w8a16 precision)
    AMP = "amp"         # CUDA autocast (fp16): each tensor in the dtype autocast gives it (GPUs)


class Mode(Choice):
    """``eager``: one kernel per aten op with framework dispatch; ``fused``: compiled graph."""

    EAGER = "eager"
    FUSED = "fused"


class Layout(Choice):
    """Activation layout; ``ccp``: cross-channel pooling folded before the store."""

    NCHW = "nchw"
    NHWC = "nhwc"
    CCP = "ccp"


class Engine(Choice):
    """Scheduler: closed forms (vectorizable) or the simpy event simulation."""

    ANALYTICAL = "analytical"
    EVENT = "event"


class HardwareKind(Choice):
    """Hardware families; each has one cost module (``dsp`` is the Hexagon NPU)."""

    GPU = "gpu"
    DSP = "dsp"
    CPU = "cpu"
    ACCELERATOR = "accelerator"


class Bound(Choice):
    """What limits an op: its compute, its memory traffic or fixed overheads."""

    COMPUTE = "compute"
    MEMORY = "memory"
    OVERHEAD = "overhead"


class SearchStrategy(Choice):
    GRID = "grid"
    RANDOM = "random"


C = TypeVar("C", bound=Choice)


def values(enum: type[Choice]) -> tuple[str, ...]:
    """The allowed strings of ``enum`` in declaration order (CLI choices, YAML schemas)."""
    return tuple(m.value for m in enum)


def parse_choice(enum: type[C], key: str, value: object) -> C:
    """``value`` as a member of ``enum``, or one CodesignError line naming ``key`` and the
    allowed values (with a did-you-mean)."""
    try:
        return enum(value)
    except ValueError:
        allowed = values(enum)
        raise CodesignError(f"{key} = {value!r}; allowed: {', '.join(allowed)}"
                            f"{did_you_mean(str(value), allowed)}") from None


__all__ = ["Choice", "DType", "Mode", "Layout", "Engine", "HardwareKind", "Bound",
           "SearchStrategy", "values", "parse_choice"]
