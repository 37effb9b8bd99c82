"""Roofline floor of one op: the time no cost model may undercut (Williams, Waterman and
Patterson, "Roofline", CACM 2009; hardware.md 5.4).

floor = max(executed MACs / peak MAC/s, vector ops / vector op/s,
            compulsory DRAM bytes / peak DRAM bandwidth, all bytes / L2 bandwidth [GPU])

Compulsory DRAM bytes are the weights read and the outputs written: an activation input may
legitimately come from the last-level cache (its producer just wrote it), so it is counted only
against the cache bandwidth, which every byte crosses. Executed MACs equal ``op.macs`` except
causal attention, whose kernels skip the masked half. Works on array-valued specs.
"""

from __future__ import annotations

import numpy as np

from codesign.ir.graph import AttentionAttrs, ConvAttrs, Op, OpKind
from codesign.cost.base import CostContext, Num, op_bytes
from codesign.hardware.spec import HardwareSpec


def executed_macs(op: Op) -> float:
    """The fewest multiplies a known kernel needs: ``op.macs``, except causal attention (the
    masked half is skipped) and 3x3 stride-1 convs (Winograd F(2x2,3x3): 2.25x fewer; Lavin
    and Gray, CVPR 2016)."""
    a = op.attrs
    if op.kind == OpKind.ATTENTION and isinstance(a, AttentionAttrs) and a.causal:
        return float(op.macs - a.extra_macs) / 2.0 + a.extra_macs
    if (op.kind == OpKind.CONV and isinstance(a, ConvAttrs) and not a.transposed
            and a.groups == 1 and a.kernel == (3, 3) and a.stride == (1, 1)
            and a.dilation == (1, 1)):
        return float(op.macs) / 2.25
    return float(op.macs)


def roofline_floor(op: Op, hw: HardwareSpec, ctx: CostContext) -> Num:
    """Lower bound on ``max(compute_s, memory_s)`` of ``op`` on ``hw`` (no overheads)."""
    act, w, out = op_bytes(op, ctx.dtype)
    # the faster of the main unit and the vector path (a swept spec may make tensor cores slower)
    peak = np.maximum(hw.peak_macs_per_s(ctx.dtype), hw.vector_macs_per_s(ctx.dtype))
    floor = np.maximum(executed_macs(op) / peak,
                       (w + out) / hw.dram_bandwidth_bytes_per_s)
    if op.vector_ops:
        floor = np.maximum(floor, op.vector_ops / _vector_ops_per_s(hw, ctx.dtype))
    cache_bw = hw.unit.cache_bandwidth_bytes_per_s()    # GPU: every operand crosses L2
    if cache_bw is not None:
        floor = np.maximum(floor, (act + w + out) / cache_bw)
    return floor


def _vector_ops_per_s(hw: HardwareSpec, dtype: str) -> Num:
    """Peak elementwise rate: the vector path's MAC rate counted as one op per MAC slot."""
    return hw.vector_macs_per_s(dtype)


__all__ = ["roofline_floor", "executed_macs"]
