"""Tiling and pipelining helpers shared by the cost models of the tiled on-chip-memory kinds
(the Hexagon NPU, :mod:`codesign.cost.hexagon`, and the CCP accelerator,
:mod:`codesign.cost.accelerator`): operand split, channel padding, the double-buffered closed
form, dispatch and sweep-shaped zeros."""

from __future__ import annotations

import numpy as np

from codesign.cost.base import CostContext, op_bytes, tensor_bytes
from codesign.errors import HardwareError
from codesign.hardware.spec import HardwareSpec
from codesign.ir.graph import ConvAttrs, Op, OpKind

#: Bytes of working set a DSP kernel streams per pipeline step when the op fits VTCM anyway
#: (assumption: 64 KiB DMA chunks; sets the exposed prologue/epilogue, not the traffic).
PIPELINE_GRANULE_BYTES = 64 * 1024


def check_dtype(hw: HardwareSpec, dtype: str) -> None:
    """HardwareError naming the dtype and what the spec supports."""
    if dtype not in hw.dtypes:
        raise HardwareError(f"dtype {dtype!r} is not supported by {hw.name!r}; "
                            f"supported: {', '.join(hw.dtypes)}")


def quantized_fraction(c: int, quantum) -> object:
    """Useful fraction of a dimension of size ``c`` padded to a multiple of ``quantum``:
    ``c / (ceil(c / quantum) * quantum)`` (numpy; ``quantum`` may be an array)."""
    return c / (np.ceil(c / quantum) * quantum)


def merged_pool_factor(op: Op) -> int:
    """Channel pooling factor folded into a conv op, 1 if none.

    The fusion pass folds a cross-channel pool into its producing conv by giving the conv the
    pooled map as its output: ``outputs[0]`` then has ``out_channels / k`` channels. The MACs
    are those of the un-pooled conv (``op.macs`` counts the stored output, hence ``x k``)."""
    a = op.attrs
    if (not isinstance(a, ConvAttrs) or a.transposed or op.is_backward_kernel
            or not op.outputs or len(op.outputs[0].shape) < 2):
        return 1
    stored = op.outputs[0].shape[1]
    if stored <= 0 or stored >= a.out_channels or a.out_channels % stored:
        return 1
    return a.out_channels // stored


def conv_macs(op: Op) -> int:
    """MACs of a conv op, of the un-pooled conv for a merged conv + cross-channel pool
    (``Op.macs`` counts ``out_channels`` x the geometric output size, not what is stored)."""
    return op.macs


def operand_bytes(op: Op, dtype: str) -> tuple[float, float, float]:
    """(streamed input, stationary operand, output) bytes for the tiling model.

    conv: activations / weights; matmul: A / B (weights if any are weights); attention:
    Q / K + V; other kinds: all inputs / weights (usually 0)."""
    act, wt, out = op_bytes(op, dtype)
    if op.kind == OpKind.MATMUL and wt == 0.0 and len(op.inputs) >= 2:
        first = tensor_bytes(op.inputs[0], dtype)
        return first, act - first, out
    if op.kind == OpKind.ATTENTION and len(op.inputs) >= 3:
        q = tensor_bytes(op.inputs[0], dtype)
        return q, act + wt - q, out
    return act, wt, out


def pipelined(compute_s, memory_s, n_overlap):
    """Double-buffered closed form split into result columns.

    ``T = max(C, M) + min(C, M) / n`` (= first DMA-in + (n-1) x max(c, d) + last compute + last
    write-back for n uniform tiles). Returns ``(compute_col, memory_col)``: the exposed part
    ``min(C, M) / n`` is added to the larger side, so ``max(compute_col, memory_col) == T``."""
    exposed = np.minimum(compute_s, memory_s) / n_overlap
    compute_dominant = compute_s >= memory_s
    return (compute_s + np.where(compute_dominant, exposed, 0.0),
            memory_s + np.where(compute_dominant, 0.0, exposed))


def dispatch_overhead(hw: HardwareSpec, ctx: CostContext):
    """Per-op host dispatch: eager framework op vs an op inside a compiled graph."""
    return hw.dispatch.eager_overhead_s if ctx.eager else hw.dispatch.graph_overhead_s


def as_count(n):
    """Tile count as int64 (a numpy scalar for a scalar spec, an array for a swept one)."""
    return np.asarray(n).astype(np.int64)[()]


def sweep_zero(hw: HardwareSpec):
    """0 with the spec's configuration-batch shape (:attr:`HardwareSpec.batch_shape`), for
    terms computed before :func:`codesign.cost.base.conform` broadcasts a cost."""
    return np.zeros(hw.batch_shape)[()]
