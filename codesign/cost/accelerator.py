"""Fixed-function CNN accelerator (Condensation-Net style) cost model, hardware kind "accelerator".

One pure function per op kind; every formula uses numpy ufuncs so that ``mac_count``,
``sram_bytes``, ``line_buffer_bytes``, bandwidths, ``clock_hz`` and efficiencies may be arrays
over sweep configurations.

The machine (papers.md §5 publishes no block diagram; the structure below is our stated
assumption, sized by the spec):

* **MAC array** of ``mac_count`` int8 MACs mapped as input channels x output channels x pixels:
  ``T_ci = 8`` input channels (dot-product depth) x ``T_co = max(1, floor(mac_count / 32))``
  output channels x a 2 x 2 output-pixel block. A conv layer takes
  ``cycles = B x D x K x ceil(H/2) x ceil(W/2) x ceil(groups / g_par) x ceil(cin_g / 8) x
  ceil(cout_g / T_co)`` where ``K = prod(kernel)`` and ``g_par`` groups share one pass on the
  array's block diagonal (``g_par = max(1, min(floor(8 / cin_g), floor(T_co / cout_g)))``; a
  depthwise conv uses ``min(8, T_co)`` of the ``8 x T_co`` channel pairs). Utilisation =
  MACs / (cycles x 32 T_co). compute = cycles x slowdown(dtype) / (clock x eff("conv.<variant>")).
* **Dtypes.** int8 is native. fp16/bf16 run at 1/2 and fp32/tf32 at 1/4 of the int8 rate
  (multi-cycle MACs, assumption), only where the spec lists the dtype; otherwise HardwareError.
* **Post-processing unit** (output stage: requantize, activation, pooling, element-wise,
  resample, reductions, softmax/norm by look-up tables): ``32 T_co / 8 = 4 T_co`` lanes, one op
  per lane per cycle, derated by eff(kind). Softmax and layer/group norms have no dedicated
  hardware; their slowness is the spec's eff("softmax") / eff("norm") (data, not code).
  Attention has no fused kernel: the two GEMMs run on the MAC array and the score matrix makes
  two DRAM round trips (scores out + in for softmax, probabilities out + in for P V).
* **Memory.** Activations stream from DRAM through line buffers holding ``k_h`` input rows
  (``line_buffer_bytes``); a layer whose ``k_h`` rows do not fit is cut into column strips, each
  re-reading ``k_w - 1`` halo columns (strips <= W_out). Weights sit in the ``sram_bytes``
  buffer; when they do not fit the layer is split into ``n_w = ceil(weights / sram)`` weight
  chunks and either re-reads its input once per extra chunk or re-streams its weights once per
  output row, whichever is cheaper. DRAM traffic = input once (+ halo) + weights once (+
  re-fetch) + output once. ``bw = min(accelerator.dma_bandwidth, dram_bandwidth x eff("memory"))``,
  memory = dram_latency + bytes / bw.
* **Cross-channel pooling** (``CROSS_CHANNEL_POOL`` op) stored unfused reads the full
  pre-pooling map and writes the pooled map. The fusion pass folds it into its conv when the
  accelerator has ``cross_channel_pool`` (layout "ccp"); the merged conv op has the pooled map as
  output, so :func:`conv_cost` writes only the pooled map (Condensation-Net "virtual feature
  maps") while counting the MACs of the full conv; the compares run in the output stage
  concurrently with the array (compute = max(array, output stage)).
* **Streaming.** Compute and DMA overlap row by row: ``T = max(C, M) + min(C, M) / rows`` (the
  double-buffer closed form of :mod:`codesign.cost.hexagon` with one output row per tile; other
  ops use 64 KiB granules). The exposed part is added to the larger column, ``overhead_s`` is
  the per-layer dispatch (eager descriptor submission vs a pre-built chain).
* ``onchip_bytes`` = 2 x DRAM traffic (buffer fill and drain) + line-buffer window reads
  (input bytes x prod(kernel)) for convs.
"""

from __future__ import annotations

import math

import numpy as np

from codesign.errors import HardwareError
from codesign.ir.graph import AttentionAttrs, ConvAttrs, MatMulAttrs, Op, OpKind, ReduceAttrs
from codesign.cost.base import DTYPE_BYTES, CostContext, OpCost, Tile, registrar
from codesign.cost.tiling import (
    PIPELINE_GRANULE_BYTES,
    as_count,
    check_dtype,
    conv_macs,
    dispatch_overhead,
    merged_pool_factor,
    operand_bytes,
    pipelined,
    quantized_fraction,
    sweep_zero,
)
from codesign.cost.registry import REGISTRY
from codesign.hardware.spec import HardwareSpec

#: input channels reduced per MAC-array cycle (dot-product depth), assumption
ARRAY_CI = 8
#: output-pixel block computed per cycle (rows, cols), assumption
ARRAY_PX = (2, 2)
#: MAC-rate divisor by dtype (int8 native), assumption
DTYPE_SLOWDOWN = {"int8": 1.0, "fp16": 2.0, "bf16": 2.0, "fp32": 4.0, "tf32": 4.0}

_VECTOR_EFF_KEY = {
    OpKind.SOFTMAX: "softmax", OpKind.NORM: "norm", OpKind.ELEMENTWISE: "vector",
    OpKind.REDUCTION: "reduction", OpKind.POOL: "pool", OpKind.CROSS_CHANNEL_POOL: "pool",
    OpKind.RESAMPLE: "vector",
}


# --------------------------------------------------------------------------- array geometry


def array_co(hw: HardwareSpec):
    """Output-channel lanes T_co = max(1, floor(mac_count / (ARRAY_CI x 4)))."""
    per_co = ARRAY_CI * ARRAY_PX[0] * ARRAY_PX[1]
    return np.maximum(1.0, np.floor(hw.accelerator.mac_count / per_co))


def array_macs(hw: HardwareSpec):
    """MACs the array actually instantiates with this mapping: 8 x T_co x 4."""
    return ARRAY_CI * ARRAY_PX[0] * ARRAY_PX[1] * array_co(hw)


def post_lanes(hw: HardwareSpec):
    """Output-stage lanes: one per (output channel, pixel) the array produces per cycle."""
    return array_co(hw) * ARRAY_PX[0] * ARRAY_PX[1]


def _check(hw: HardwareSpec, dtype: str) -> float:
    check_dtype(hw, dtype)
    if dtype not in DTYPE_SLOWDOWN:
        raise HardwareError(f"dtype {dtype!r} has no accelerator rate; allowed: "
                            f"{', '.join(DTYPE_SLOWDOWN)}")
    return DTYPE_SLOWDOWN[dtype]


def _spatial(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(D, H, W) of an N-C-spatial shape; missing leading dims are 1."""
    s = tuple(shape[2:])
    if not s:
        return 1, 1, 1
    if len(s) == 1:
        return 1, 1, s[0]
    return math.prod(s[:-2]), s[-2], s[-1]


def conv_cycles(op: Op, hw: HardwareSpec):
    """MAC-array cycles of a conv op (module docstring); transposed and backward convs use
    MACs / (array MACs x channel quantization) instead of the pixel-exact form."""
    a: ConvAttrs = op.attrs
    t_co = array_co(hw)
    cin_g, cout_g = a.in_channels // a.groups, a.out_channels // a.groups
    if a.transposed or op.is_backward_kernel:
        util = quantized_fraction(cin_g, ARRAY_CI) * quantized_fraction(cout_g, t_co)
        return op.macs / (array_macs(hw) * util)
    d, h, w = _spatial((0, 0) + op.conv_output_spatial)
    px_blocks = d * math.ceil(h / ARRAY_PX[0]) * math.ceil(w / ARRAY_PX[1])
    g_par = np.maximum(1.0, np.minimum(ARRAY_CI // cin_g, np.floor(t_co / cout_g)))
    return (op.inputs[0].shape[0] * math.prod(a.kernel) * px_blocks * np.ceil(a.groups / g_par)
            * math.ceil(cin_g / ARRAY_CI) * np.ceil(cout_g / t_co))


def conv_utilisation(op: Op, hw: HardwareSpec):
    """Useful MACs / (cycles x array MACs) of a conv on the array (numpy)."""
    return conv_macs(op) / (conv_cycles(op, hw) * array_macs(hw))


# --------------------------------------------------------------------------- the common frame


def _bandwidth(hw: HardwareSpec):
    return np.minimum(hw.accelerator.dma_bandwidth_bytes_per_s,
                      hw.dram_bandwidth_bytes_per_s * hw.eff("memory"))


def _weight_refetch(streamed_b: float, weight_b: float, rows: int, hw: HardwareSpec):
    """Extra DRAM bytes when weights exceed the SRAM: min(input per extra weight chunk,
    weights per extra output row); zero when they fit."""
    n_w = np.maximum(1.0, np.ceil(weight_b / hw.accelerator.sram_bytes))
    return np.where(n_w > 1.0, np.minimum((n_w - 1.0) * streamed_b, (rows - 1) * weight_b), 0.0)


def _streamed_cost(hw: HardwareSpec, ctx: CostContext, compute_s, reads, writes, rows: int, macs: float,
                   vector_ops: float, unit: str, note: str, onchip_extra=0.0) -> OpCost:
    memory_s = hw.dram_latency_s + (reads + writes) / _bandwidth(hw) + sweep_zero(hw)
    compute_s = compute_s + 0.0 * memory_s
    compute_col, memory_col = pipelined(compute_s, memory_s, rows)
    return OpCost(
        compute_s=compute_col,
        memory_s=memory_col,
        overhead_s=dispatch_overhead(hw, ctx) + 0.0 * memory_s,
        dram_read_bytes=reads + 0.0 * memory_s,
        dram_write_bytes=writes + 0.0 * memory_s,
        onchip_bytes=2.0 * (reads + writes) + onchip_extra + 0.0 * memory_s,
        macs=float(macs),
        vector_ops=float(vector_ops),
        unit=unit,
        tiles=Tile(count=as_count(rows + 0.0 * memory_s), dma_in_bytes=reads / rows,
                   dma_out_bytes=writes / rows, compute_s=compute_s / rows,
                   onchip_bytes=(reads + writes) / rows + 0.0 * memory_s),
        note=note,
    )


def _granules(nbytes: float) -> int:
    return max(1, math.ceil(nbytes / PIPELINE_GRANULE_BYTES))


# --------------------------------------------------------------------------- MAC ops


@registrar(REGISTRY, OpKind.CONV, "accelerator")
def conv_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Convolution on the MAC array with line-buffered input and SRAM-resident weights.

    compute = max(cycles x slowdown / (clock x eff("conv.<variant>")), output-stage compares
    of a merged cross-channel pool / (4 T_co lanes x clock x eff("pool"))).
    DRAM read = input + halo + weights + weight re-fetch, write = stored output (the pooled map
    for a conv merged with its cross-channel pool). Formulas, assumptions and sources: module
    docstring (array mapping after Ethos-U style ci x co x pixel blocks, hardware.md §2.2;
    pooling before the store, Condensation-Net, papers.md §5)."""
    slow = _check(hw, ctx.dtype)
    a: ConvAttrs = op.attrs
    acc = hw.accelerator
    factor = merged_pool_factor(op)
    macs = conv_macs(op)
    array_s = conv_cycles(op, hw) * slow / (hw.clock_hz * hw.eff(f"conv.{a.variant.value}"))
    vector_ops = float(op.elements * (factor - 1))
    post_s = vector_ops * slow / (post_lanes(hw) * hw.clock_hz * hw.eff("pool"))
    compute_s = np.maximum(array_s, post_s)

    act_b, w_b, out_b = operand_bytes(op, ctx.dtype)
    x = op.inputs[0] if op.inputs else None
    if x is not None and len(x.shape) >= 3 and not a.transposed and "backward" not in op.aten:
        _, _, w_in = _spatial(x.shape)
        k_h = (a.kernel[-2] - 1) * a.dilation[-2] + 1 if len(a.kernel) >= 2 else 1
        k_w = (a.kernel[-1] - 1) * a.dilation[-1] + 1
        k_d = math.prod(a.kernel[:-2]) if len(a.kernel) > 2 else 1
        row_b = w_in * a.in_channels * DTYPE_BYTES[ctx.dtype]
        column_b = act_b / w_in
        w_out = _spatial((0, 0) + op.conv_output_spatial)[2]
        strips = np.minimum(float(w_out), np.maximum(
            1.0, np.ceil(k_d * k_h * row_b / np.maximum(acc.line_buffer_bytes, 1.0))))
        halo = (strips - 1.0) * (k_w - 1) * column_b
    else:
        halo = 0.0
    d, h, _ = _spatial((0, 0) + op.conv_output_spatial)
    batch = (op.inputs[1] if op.is_backward_kernel else op.inputs[0]).shape[0]
    rows = max(1, batch * d * h)
    reads = act_b + halo + w_b + _weight_refetch(act_b, w_b, rows, hw)
    note = f"cross-channel pool x{factor} fused before the store" if factor > 1 else ""
    return _streamed_cost(hw, ctx, compute_s, reads, out_b, rows, macs, vector_ops,
                          "mac_array", note, onchip_extra=act_b * math.prod(a.kernel))


@registrar(REGISTRY, OpKind.MATMUL, "accelerator")
def matmul_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """[m, k] x [k, n] on the MAC array: m on the pixel axis (4), k on the input-channel axis
    (8), n on the output-channel axis (T_co).

    cycles = batch x ceil(m / 4) x ceil(k / 8) x ceil(n / T_co); compute = cycles x slowdown /
    (clock x eff("matmul")). DRAM: A + B + C once, B re-fetch when it exceeds the SRAM (module
    docstring). Assumption: linear layers map like 1 x 1 convs."""
    slow = _check(hw, ctx.dtype)
    a = op.attrs
    bt, m, n, k = (a.batch, a.m, a.n, a.k) if isinstance(a, MatMulAttrs) else (1, 1, 1, 1)
    pix = ARRAY_PX[0] * ARRAY_PX[1]
    cycles = bt * math.ceil(m / pix) * math.ceil(k / ARRAY_CI) * np.ceil(n / array_co(hw))
    compute_s = cycles * slow / (hw.clock_hz * hw.eff("matmul"))
    in_b, w_b, out_b = operand_bytes(op, ctx.dtype)
    rows = max(1, bt * math.ceil(m / pix))
    reads = in_b + w_b + _weight_refetch(in_b, w_b, rows, hw)
    return _streamed_cost(hw, ctx, compute_s, reads, out_b, rows, op.macs, 0.0, "mac_array", "")


@registrar(REGISTRY, OpKind.ATTENTION, "accelerator")
def attention_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Attention without a fused kernel (fallback): S = Q K^T and O = P V on the MAC array,
    softmax on the output stage, the score matrix through DRAM.

    cycles = B H [ceil(q/4) ceil(d/8) ceil(kv/T_co) + ceil(q/4) ceil(kv/8) ceil(dv/T_co)]
    (x passes) + extra_macs / array MACs; compute = cycles x slowdown / (clock x
    eff("attention")) + 5 B H q kv softmax ops / (4 T_co x clock x eff("softmax")) (sequential).
    DRAM = Q + K + V + O + 4 x scores (write S, read S, write P, read P). The accelerator was not
    built for this: expect it to be slow, which is the point of showing it."""
    slow = _check(hw, ctx.dtype)
    a = op.attrs
    in_b, kv_b, out_b = operand_bytes(op, ctx.dtype)
    t_co = array_co(hw)
    if isinstance(a, AttentionAttrs):
        bh, pix = a.batch * a.heads, ARRAY_PX[0] * ARRAY_PX[1]
        qb = math.ceil(a.q_len / pix)
        cycles = a.passes * bh * (qb * math.ceil(a.head_dim / ARRAY_CI) * np.ceil(a.kv_len / t_co)
                                  + qb * math.ceil(a.kv_len / ARRAY_CI) * np.ceil(a.v_dim / t_co))
        cycles = cycles + a.extra_macs / array_macs(hw)
        scores = float(bh * a.q_len * a.kv_len * a.passes)
        rows = max(1, bh * qb)
    else:
        cycles, scores, rows = op.macs / array_macs(hw), 0.0, 1
    vector_ops = 5.0 * scores
    compute_s = (cycles * slow / (hw.clock_hz * hw.eff("attention"))
                 + vector_ops * slow / (post_lanes(hw) * hw.clock_hz * hw.eff("softmax")))
    score_b = scores * DTYPE_BYTES[ctx.dtype]
    reads = in_b + kv_b + 2.0 * score_b
    writes = out_b + 2.0 * score_b
    return _streamed_cost(hw, ctx, compute_s, reads, writes, rows, op.macs, vector_ops,
                          "mac_array", "no fused attention: scores round-trip through DRAM")


# --------------------------------------------------------------------------- output-stage ops


def _post_cost(op: Op, hw: HardwareSpec, ctx: CostContext, vector_ops: float) -> OpCost:
    slow = _check(hw, ctx.dtype)
    key = _VECTOR_EFF_KEY[op.kind]
    compute_s = vector_ops * slow / (post_lanes(hw) * hw.clock_hz * hw.eff(key))
    act_b, w_b, out_b = operand_bytes(op, ctx.dtype)
    rows = _granules(act_b + w_b + out_b)
    return _streamed_cost(hw, ctx, compute_s, act_b + w_b, out_b, rows, 0.0, vector_ops, "simd", "")


@registrar(REGISTRY, (OpKind.SOFTMAX, OpKind.NORM, OpKind.ELEMENTWISE, OpKind.REDUCTION,
                      OpKind.POOL, OpKind.RESAMPLE), "accelerator")
def vector_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Non-MAC ops on the output-stage unit, streamed from DRAM (64 KiB granules).

    compute = op.vector_ops x slowdown / (4 T_co lanes x clock x eff(key)); key: softmax, norm,
    vector (elementwise, resample), reduction, pool. Softmax and layer/group norm use look-up
    tables on the same lanes (no dedicated unit; their derating is eff("softmax"/"norm")).
    DRAM = inputs + output once. Assumption: an output stage as wide as the array's per-cycle
    output (module docstring)."""
    return _post_cost(op, hw, ctx, float(op.vector_ops))


@registrar(REGISTRY, OpKind.CROSS_CHANNEL_POOL, "accelerator")
def cross_channel_pool_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Cross-channel pooling stored unfused: read the full pre-pooling map [B, C, k, H, W] from
    DRAM, reduce groups of k channels on the output stage (B C H W k ops, eff "pool"), write the
    pooled map [B, C, H, W]. When fused (layout "ccp", ``cross_channel_pool``), the fusion pass
    removes this op and :func:`conv_cost` of the merged conv writes only the pooled map
    (Condensation-Net, papers.md §5: 26.5% less memory bandwidth on their network)."""
    a = op.attrs
    k = a.reduced if isinstance(a, ReduceAttrs) else 1
    return _post_cost(op, hw, ctx, float(op.elements * k))


@registrar(REGISTRY, OpKind.DATA_MOVEMENT, "accelerator")
def data_movement_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Copies, concatenations, materialized permutes: DMA only, compute 0.

    memory = dram_latency + (read + write) / min(dma_bw, dram_bw x eff("memory"))."""
    _check(hw, ctx.dtype)
    act_b, w_b, out_b = operand_bytes(op, ctx.dtype)
    rows = _granules(act_b + w_b + out_b)
    return _streamed_cost(hw, ctx, 0.0, act_b + w_b, out_b, rows, 0.0, 0.0, "dma", "")
