"""CPU cost model: cache-aware roofline per op class, eager dispatch overhead per op.

For one op on a CPU with ``P`` cores (all symbols are spec fields, so calibration can fit them
and sweeps can vary them):

    threads   = min(P, ceil(parallel_work / GRAIN))      MAC ops: P (oneDNN/BLAS split all)
    compute_s = MACs / (peak_MAC/s * eff[class] * threads / P)
              + vector_ops / (vector_op/s * eff[class] * threads / P)
    memory_s  = max(traffic / (bw(level) * threads / P),  weights+outputs / peak DRAM bw)
    overhead_s = dispatch.eager_overhead_s (eager) | dispatch.graph_overhead_s (fused)
    latency   = max(compute_s, memory_s) + overhead_s

* ``peak_MAC/s`` = cores x FMA pipes x SIMD lanes (width / element bits) x clock
  (``HardwareSpec.vector_macs_per_s``); ``vector_op/s`` counts one element op per MAC slot.
* ``eff[class]`` is the achieved/peak fraction fitted by ``codesign calibrate``: ``matmul``,
  ``conv.<variant>`` (pointwise, standard, depthwise, grouped, dilated, large_kernel, band, 3d,
  transposed), ``attention``, ``softmax``, ``norm``, ``reduction``, ``pool`` and ``vector``
  (elementwise, resample, cross-channel pooling).
* ``level`` is the smallest cache that holds the op's working set (inputs + weights + outputs):
  all cores' L2 (``cpu.l2_bytes * cores``) at ``cpu.l2_bandwidth_bytes_per_s``, the shared L3 at
  ``cpu.l3_bandwidth_bytes_per_s``, else DRAM at ``dram_bandwidth_bytes_per_s * eff[memory]``.
  In eager execution an op's inputs were written by the op just before, so they sit in the
  level that holds them; that is the cache-aware part. The second term is the compulsory
  DRAM traffic of the roofline floor (weights read and outputs stored once at peak bandwidth).
* ``GRAIN`` = 32768 elements is ATen's ``at::internal::GRAIN_SIZE``: ``at::parallel_for`` only
  splits elementwise/reduction loops into chunks of at least that size, so small vector ops run
  on one core (ATen source, ``aten/src/ATen/Parallel.h``).
* Traffic counts each tensor once; a data-movement op (copy, cat, pad, permute) is memory
  only. Attention (fused SDPA) streams Q, K, V and the output once (flash-style tiling) and
  does its softmax on the vector path.

Known limits: no per-class fixed kernel cost (oneDNN primitive and weight reorders cost more
than an add: the fitted ``eager_overhead_s`` is the mean over a typical op mix); one efficiency
per class regardless of shape; no NUMA, no SMT, no frequency scaling; fp16/bf16/int8 use the
SIMD lane count of their element size.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import AttentionAttrs, Op, OpKind
from .base import CostContext, OpCost, op_bytes, registrar
from .registry import REGISTRY

GRAIN = 32768                     # at::internal::GRAIN_SIZE (elements per parallel chunk)
SOFTMAX_OPS_PER_SCORE = 5         # max, subtract, exp, sum, divide per attention score

#: efficiency key per vector op kind
VECTOR_KEY = {
    OpKind.SOFTMAX: "softmax", OpKind.NORM: "norm", OpKind.REDUCTION: "reduction",
    OpKind.POOL: "pool", OpKind.ELEMENTWISE: "vector", OpKind.RESAMPLE: "vector",
    OpKind.CROSS_CHANNEL_POOL: "vector",
}


def efficiency_key(op: Op) -> str:
    """The efficiency-table key that derates ``op``'s compute on a CPU."""
    if op.kind == OpKind.CONV:
        return "conv." + op.variant
    if op.kind == OpKind.MATMUL:
        return "matmul"
    if op.kind == OpKind.ATTENTION:
        return "attention"
    if op.kind == OpKind.DATA_MOVEMENT:
        return "memory"
    return VECTOR_KEY.get(op.kind, "default")


def parallel_work(op: Op) -> int:
    """Elements ``at::parallel_for`` splits for a vector op (its largest tensor)."""
    sizes = [t.numel for t in op.inputs if not t.is_weight] + [t.numel for t in op.outputs]
    return max(sizes) if sizes else 1


def active_threads(op: Op, cores):
    """Cores an op keeps busy: all for MAC ops, ceil(work / GRAIN) capped at cores otherwise."""
    if op.kind in (OpKind.CONV, OpKind.MATMUL, OpKind.ATTENTION):
        return np.asarray(cores, dtype=float) * 1.0
    chunks = max(1, math.ceil(parallel_work(op) / GRAIN))
    return np.minimum(np.asarray(cores, dtype=float), float(chunks))


def cache_bandwidth(hw, working_set_bytes: float):
    """Bandwidth of the smallest level holding ``working_set_bytes`` (all cores together)."""
    c = hw.cpu
    l2_total = c.l2_bytes * c.cores
    dram = hw.dram_bandwidth_bytes_per_s * hw.eff("memory")
    return np.where(working_set_bytes <= l2_total, c.l2_bandwidth_bytes_per_s,
                    np.where(working_set_bytes <= l2_total + c.l3_bytes,
                             c.l3_bandwidth_bytes_per_s, dram))


def dispatch_overhead(hw, ctx: CostContext):
    return hw.dispatch.eager_overhead_s if ctx.eager else hw.dispatch.graph_overhead_s


def _cpu_cost(op: Op, hw, ctx: CostContext) -> OpCost:
    """Cache-aware roofline of any modelled op on a CPU (formula in the module docstring)."""
    act, w, out = op_bytes(op, ctx.dtype)
    traffic = act + w + out
    threads = active_threads(op, hw.cpu.cores)
    share = threads / np.asarray(hw.cpu.cores, dtype=float)
    key = efficiency_key(op)
    macs = float(op.macs)
    vector_ops = float(op.vector_ops)
    rate = hw.vector_macs_per_s(ctx.dtype) * share
    compute = 0.0
    unit = "simd"
    if op.kind == OpKind.DATA_MOVEMENT:
        unit = "memory"
    elif macs:
        compute = macs / (rate * hw.eff(key))
        a = op.attrs
        if op.kind == OpKind.ATTENTION and isinstance(a, AttentionAttrs):
            # executed scores: the CPU flash kernel skips masked blocks of causal attention
            scores = a.batch * a.heads * a.q_len * a.kv_len * a.passes
            if a.causal:
                compute = compute / 2.0
                scores = scores / 2.0
            vector_ops = SOFTMAX_OPS_PER_SCORE * scores
            compute = compute + vector_ops / (rate * hw.eff("softmax"))
    else:
        compute = vector_ops / (rate * hw.eff(key))
    memory = traffic / (cache_bandwidth(hw, traffic) * share)
    memory = np.maximum(memory, (w + out) / hw.dram_bandwidth_bytes_per_s)
    spilled = traffic > hw.cpu.l2_bytes * hw.cpu.cores + hw.cpu.l3_bytes
    dram_read = np.where(spilled, act + w, w)
    dram_write = np.where(spilled, out, 0.0)
    return OpCost(
        compute_s=compute, memory_s=memory, overhead_s=dispatch_overhead(hw, ctx),
        dram_read_bytes=dram_read, dram_write_bytes=dram_write, onchip_bytes=traffic,
        l2_bytes=traffic, macs=macs, vector_ops=vector_ops, unit=unit,
        note=key,
    )


registrar(REGISTRY, tuple(k for k in OpKind if k is not OpKind.OTHER), "cpu")(_cpu_cost)

__all__ = ["efficiency_key", "active_threads", "cache_bandwidth", "parallel_work", "GRAIN"]
