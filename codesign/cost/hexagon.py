"""Qualcomm Hexagon NPU (HTP) cost model: HVX vector units, HMX matrix unit, VTCM tiles fed by DMA.

One pure function per op kind, registered for hardware kind ``"dsp"``. Every formula is written
with numpy ufuncs so that any numeric field of the spec (``vtcm_bytes``, ``hvx_units``,
``clock_hz``, bandwidths, efficiencies ...) may be an array over sweep configurations.

The model, shared by every op kind (hardware.md §2.1; Hexagon HVX PRM "VTCM"; QNN/ExecuTorch
HTP backend ``use_conv_hmx``, ``vtcm_size_in_mb``):

* **Operands.** ``in`` (streamed activation), ``wt`` (weights, or the second GEMM operand, or
  K and V of attention) and ``out``, in bytes of the run dtype (:func:`op_bytes` sizes).
  Working set ``W = in + wt + out``.
* **VTCM tiling.** The op is cut into ``n_min = max(1, ceil(2 W / vtcm_bytes))`` tiles so that a
  tile's working set fits VTCM double-buffered. When ``n_min > 1`` a MAC op (conv, matmul,
  attention) re-fetches either its weights once per spatial tile or its input once per
  output-channel tile, whichever is cheaper; an operand that fits in half of VTCM stays resident
  and is not re-fetched: ``refetch = (n_min - 1) * min(wt', in')`` with
  ``x' = 0 if 2 x <= vtcm_bytes else x``. Non-increasing in ``vtcm_bytes``. Halo rows of
  spatial tiles and the finer blocking a hand-tuned kernel would use are not modelled.
* **DMA.** ``bw = min(dsp.dma_bandwidth, dram_bandwidth * eff("memory"))`` (the DSP spec's DMA
  bandwidth is the aggregate of its ``dma_engines``); ``memory = dram_latency + bytes / bw``.
* **Compute.** HMX for convs and matmuls (and the GEMMs of attention) when
  ``dsp.hmx_macs_per_cycle`` has the run dtype: ``macs / (hmx_rate * clock * eff * util)``;
  depthwise convs and every dtype without an HMX rate run on HVX:
  ``macs / (hvx_units * macs_per_cycle_per_unit[dtype] * clock * eff * util)``. ``util`` is
  the channel quantization of the HTP's 32-deep channel blocks (assumption: "crouton" layouts;
  HMX pads both reduction and output channels, HVX the channels across its lanes).
  Element-wise work runs on HVX at ``hvx_units * vector_width_bits / (8 * bytes(dtype))``
  lanes per cycle, one op per lane per cycle, derated by ``eff(kind)``. fp32 and fp16 on HVX:
  v68+ has IEEE/qfloat vector float; its rate is ``macs_per_cycle_per_unit["fp32"]`` of the
  spec (hexagon presets assume 64 fp32 MACs/cycle/unit, i.e. 128 B x 2 multiply resources).
  A dtype with no HVX MAC rate falls back to one MAC per lane per cycle (noted on the cost).
* **Double buffering.** With ``n`` tiles of compute ``c = C/n`` and DMA ``d = M/n`` (in and out
  share the DMA/DRAM), load of tile i+1 and store of tile i-1 overlap compute of tile i:
  ``T = d_in + c + d_out + (n - 1) * max(c, d) = max(C, M) + min(C, M) / n``, i.e. first
  DMA-in + (n-1) steady steps + last compute + last write-back. The un-overlapped part is taken
  with the pipeline-granule count ``n_g = max(1, ceil(W / PIPELINE_GRANULE_BYTES))`` (a shape
  property, independent of VTCM) so that a larger VTCM never lengthens the prologue; the tile
  list handed to the event engine has ``max(n_min, n_g)`` tiles, which gives the same time
  whenever ``vtcm_bytes >= 2 * PIPELINE_GRANULE_BYTES`` (every Hexagon with VTCM).
* **Result columns.** ``compute_s = C + e`` and ``memory_s = M + e`` with the exposed
  prologue/epilogue ``e = min(C, M) / n_g``, so ``max(compute_s, memory_s) = T``,
  ``latency_s = T + dispatch`` and ``bound`` names the dominant side. Both columns grow with C
  and with M, which keeps the compiled-graph timeline (:func:`apply_graph_launch`) monotone:
  more bandwidth or VTCM never lengthens it (with ``e`` on the larger side only, time moved
  from the DMA queue to the compute chain when M fell below C, and real graphs got up to 0.4%
  slower with more DRAM bandwidth). ``overhead_s`` = ``dispatch.eager_overhead_s``
  (eager: one FastRPC/QNN op per aten op) or ``dispatch.graph_overhead_s`` (fused).
  ``onchip_bytes`` = 2 x DRAM traffic (every DMA'd byte is written into and read out of VTCM once).

Compiled graphs (``mode="fused"``, a QNN / TFLite-delegate graph on the HTP; issue 13):

* **Activation residency.** An activation tensor (op input or output that is not a weight) of
  at most ``R = dsp.activation_vtcm_fraction x vtcm_bytes`` bytes stays on chip between the
  layers of a compiled graph: it is neither written to nor read from DRAM. Larger tensors
  spill and stream through DRAM whole; weights always stream from DRAM (once, plus the tiling
  re-fetch above). ``dram = weights + sum(t for activation tensors t if t > R) + refetch``.
  Non-increasing in ``vtcm_bytes``. Eager mode keeps every activation in DRAM (each op is a
  separate offload whose tensors live in shared DDR buffers).
* **On-chip traffic.** Resident activations are read and written at
  ``dsp.onchip_bandwidth_bytes_per_s`` (VTCM / L2 moves between the HMX/HVX and the memory
  that holds them): ``memory = dram_latency + dram / bw + resident / onchip_bw``.
* **Fixed costs.** Each op of the compiled graph pays ``dispatch.graph_overhead_s`` (the
  per-layer cost of the graph executor: ~1-2 us per small layer including its compute); one
  execution of the whole graph pays ``dsp.graph_launch_s`` once (:func:`apply_graph_launch`,
  called by :func:`codesign.simulation.estimate_costs` for hardware kind "dsp").
* **Channel padding.** HMX pads the reduction of a conv (input channels per group x kernel
  taps, the taps packed as in an im2col) and its output channels to ``dsp.hmx_channel_block``:
  ``util = q(cin/g * kh * kw) x q(cout)``; a grouped conv is run as a block-diagonal dense
  conv, so groups narrower than a block pay for the padding. The output channels (matmul:
  ``n``) are padded to ``dsp.hmx_output_block[dtype]`` where the spec gives one (default
  ``hmx_channel_block``). Assumption, chosen on the AI Hub 8 Gen 2 rows (no public source): an
  int8 HMX pass produces 64 output channels, an fp16 pass 32, so convs with 32 outputs gain
  only half of the int8 rate: Real-ESRGAN (dense blocks of 32-output convs) runs w8a8 2.56x
  faster than float, QuickSRNet-large (64-channel convs) 3.21x. Depthwise convs run on HVX
  with ``q(C)`` at ``dsp.hvx_channel_block``. Matmuls: ``q(k) x q(n)``.
* **Dtypes.** int8 (w8a8), w8a16 (int8 weights, int16 activations: 2-byte activations,
  1-byte weights) and fp16 each have their own HMX rate in ``dsp.hmx_macs_per_cycle``; softmax
  and norms run in 16-bit on HVX whatever the dtype (quantized graphs keep them in int16 /
  fp16: assumption), other vector work at the dtype's lane width.
* **Weight compression.** The weights of an op cross the DRAM bus at
  ``dsp.weight_dram_fraction[dtype]`` of their size (1 when the dtype is absent), re-fetches
  excepted. Assumption: QNN HTP's deep-learning bandwidth compression (graph option
  ``ENABLE_DLBC``) on the 8-bit weights of quantized graphs; evidence: the weight-bound ResNets
  of the AI Hub 8 Gen 2 rows stream their weights at ~41 GB/s in w8a8 (weight bytes / (run -
  launch)) against ~32 GB/s in float, so w8a8 runs 2.4-2.6x faster where half the bytes alone
  give 2x.
* **Quantization boundaries.** In an int8 (w8a8) graph the 16-bit islands (softmax, layer /
  group norms, the softmax inside attention) are entered through a dequantize (int8 -> 16 bit)
  of each activation input and left through a requantize of the output: two more graph nodes
  (each ``dispatch`` overhead) and ``dsp.requant_ops_per_element`` HVX lane operations per
  element crossing the boundary, at the 16-bit lane rate and ``eff("vector")``
  (:func:`quant_boundary`). fp16 and w8a16 graphs (16-bit activations) have no boundary.
  Evidence: the AI Hub 8 Gen 2 graphs of the transformers have more layers in w8a8 than in
  float (ViT 1267 vs 944, MobileViT 595 vs 472) while the conv nets have fewer, and their
  w8a8 runs are only 1.06-1.15x faster than float (conv nets 1.6-3.2x).
* **Fusion.** Activations, norms and residual adds that follow their producer are folded
  into it by :mod:`codesign.ir.fusion` in ``fused`` mode (their tensors never leave VTCM);
  ``eager`` keeps one offloaded op per aten op, each paying ``dispatch.eager_overhead_s``.

Known limits: HMX and HVX never run concurrently; threads are folded into ``hvx_units``;
halo re-reads and DMA descriptor costs are ignored; softmax/norm rows are assumed to fit VTCM.
"""

from __future__ import annotations

import math

import numpy as np

from codesign.ir.graph import AttentionAttrs, ConvAttrs, ConvVariant, MatMulAttrs, Op, OpKind, ReduceAttrs
from codesign.cost.base import (DTYPE_BYTES, CostContext, OpCost, Tile, op_bytes, registrar,
                                tensor_bytes)
from codesign.cost.tiling import (PIPELINE_GRANULE_BYTES, as_count, check_dtype, conv_macs,
                                  dispatch_overhead, merged_pool_factor, operand_bytes,
                                  quantized_fraction, sweep_zero)
from codesign.cost.registry import REGISTRY
from codesign.hardware.spec import HardwareSpec

#: HTP channel block depth of the default spec (dsp.hmx_channel_block / hvx_channel_block).
CHANNEL_QUANTUM = 32
#: ops whose vector work runs in 16-bit lanes on HVX even in an int8 graph (assumption: QNN
#: keeps softmax and norm statistics in int16 / fp16)
_WIDE_VECTOR_KINDS = (OpKind.SOFTMAX, OpKind.NORM)
_MAC_KINDS = (OpKind.CONV, OpKind.MATMUL, OpKind.ATTENTION)
_VECTOR_EFF_KEY = {
    OpKind.SOFTMAX: "softmax", OpKind.NORM: "norm", OpKind.ELEMENTWISE: "vector",
    OpKind.REDUCTION: "reduction", OpKind.POOL: "pool", OpKind.CROSS_CHANNEL_POOL: "pool",
    OpKind.RESAMPLE: "vector",
}


def _granules(working_set_bytes: float) -> int:
    return max(1, math.ceil(working_set_bytes / PIPELINE_GRANULE_BYTES))


def resident_budget_bytes(hw: HardwareSpec):
    """Largest activation tensor a compiled graph keeps on chip between layers:
    ``activation_vtcm_fraction x vtcm_bytes`` (module docstring)."""
    return hw.dsp.activation_vtcm_fraction * hw.dsp.vtcm_bytes


def spilled_activation_bytes(op: Op, hw: HardwareSpec, dtype: str):
    """(input, output) activation bytes that go through DRAM in a compiled graph: every
    activation tensor larger than :func:`resident_budget_bytes` (whole), none of the others.
    Weights are not included (they always stream)."""
    budget = resident_budget_bytes(hw)
    ins = 0.0
    for t in op.inputs:
        if not t.is_weight:
            b = tensor_bytes(t, dtype)
            ins = ins + np.where(b <= budget, 0.0, b)
    outs = 0.0
    for t in op.outputs:
        b = tensor_bytes(t, dtype)
        outs = outs + np.where(b <= budget, 0.0, b)
    return ins, outs


def apply_graph_launch(costs: list, hw: HardwareSpec, ctx: CostContext, ops=None, io_elements: float = 0.0) -> list:
    """Graph-level terms of a compiled graph (fused mode; eager ops are offloaded one by one
    and keep their own costs). ``ops[i]`` is the (merged) op costed in ``costs[i]`` (its weight
    bytes size the prefetch window); without it every op counts as weightless.

    * **Launch.** One execution pays ``dsp.graph_launch_s[dtype]`` once, before the first op,
      plus the conversion of the graph's float32 inputs and outputs (``io_elements`` of them,
      4 bytes each on the host side) at ``dsp.graph_io_bytes_per_s``.
    * **Weight prefetch across layers.** The DMA engine runs ahead of HMX/HVX into a window of
      ``P = dsp.weight_prefetch_vtcm_fraction x vtcm_bytes``: the DRAM traffic of op i (its
      memory time ``m_i``) may start once op k has started computing, k the earliest op with
      ``W_i - W_k <= P`` (``W`` cumulative weight bytes; at least op i-1), and the previous
      transfer has finished. With ``o_i`` the op's overhead and ``c_i`` its compute time:
      ``dma_i = max(dma_{i-1}, start_k) + m_i``, ``end_i = max(end_{i-1} + o_i + c_i, dma_i)``,
      ``start_i = end_i - c_i`` (all from 0; the launch is part of the first op's overhead, so
      the first weights load during it). ``c_i`` and ``m_i`` are the op's own pipelined
      compute and memory columns (each already carries the exposed first/last tile), so an op
      alone still takes ``max(c_i + o_i, m_i)``. Each op keeps ``compute_s = c_i`` and
      ``overhead_s = o_i`` and gets ``memory_s = end_i - end_{i-1} - o_i`` (its share of the
      end time, including any wait for the DMA), so per-op latencies sum to the end time.
      Non-increasing in DRAM bandwidth and VTCM.

    Source: QNN HTP prefetches weights into VTCM ahead of the op that uses them (assumption,
    consistent with the AI Hub rows: Inception-v3 int8 streams 22 MB of weights, 0.33 ms at
    67 GB/s, in a 0.63 ms run that includes the ~0.25 ms launch); launch and window fitted to
    the AI Hub Snapdragon 8 Gen 2 rows (benchmarks/hexagon_fidelity.py)."""
    from dataclasses import replace

    if ctx.eager:
        return costs
    d = hw.dsp
    launch = d.graph_launch_s.get(ctx.dtype, 0.0) + 4.0 * io_elements / d.graph_io_bytes_per_s
    window = d.weight_prefetch_vtcm_fraction * d.vtcm_bytes + 0.0 * sweep_zero(hw)
    out = list(costs)
    shape = tuple(hw.batch_shape)
    live = [i for i, c in enumerate(out) if c is not None and c.unit != "none"]
    starts = np.zeros((len(live),) + shape)  # compute start of each costed op
    cum = np.zeros(len(live))                # cumulative weight bytes after each costed op
    end = dma = 0.0
    total = 0.0
    for j, i in enumerate(live):
        c = out[i]
        # fused members (unit "none") and unsupported rows (None) are skipped above
        over = c.overhead_s + (launch if j == 0 else 0.0)
        if ops is not None and ops[i] is not None:
            total += op_bytes(ops[i], ctx.dtype)[1]
        if j:
            k = np.minimum(np.searchsorted(cum[:j], total - window, side="left"), j - 1)
            gate = (np.take_along_axis(starts[:j], np.asarray(k)[None, ...], 0)[0]
                    if shape else starts[int(k)])
        else:
            gate = 0.0
        comp = c.compute_s
        dma = np.maximum(dma, gate) + c.memory_s
        new_end = np.maximum(end + over + comp, dma)
        out[i] = replace(c, compute_s=comp + 0.0 * new_end, memory_s=new_end - end - over,
                         overhead_s=over + 0.0 * new_end)
        starts[j] = new_end - comp
        cum[j] = total
        end = new_end
    return out


# --------------------------------------------------------------------------- DSP rates


def _hvx_macs_per_cycle(hw: HardwareSpec, dtype: str):
    """HVX MACs/cycle/unit for ``dtype`` and a note when falling back to one MAC per lane."""
    rates = hw.dsp.macs_per_cycle_per_unit
    if dtype in rates:
        return rates[dtype], ""
    lanes = hw.dsp.vector_width_bits / (8 * DTYPE_BYTES[dtype])
    return lanes, f"no HVX MAC rate for {dtype}: one MAC per lane per cycle assumed"


def _hvx_lane_ops_per_s(hw: HardwareSpec, dtype: str, eff_key: str, min_bytes: int = 1):
    """Element ops/s of all HVX units: one op per lane per cycle, derated by eff(eff_key);
    lanes of ``max(bytes(dtype), min_bytes)`` bytes."""
    d = hw.dsp
    lanes = d.vector_width_bits / (8 * max(DTYPE_BYTES[dtype], min_bytes))
    return d.hvx_units * lanes * hw.clock_hz * hw.eff(eff_key)


def hmx_output_block(hw: HardwareSpec, dtype: str):
    """Output channels (conv) / columns (matmul) one HMX pass produces in ``dtype``:
    ``dsp.hmx_output_block[dtype]``, else ``dsp.hmx_channel_block`` (module docstring)."""
    return hw.dsp.hmx_output_block.get(dtype, hw.dsp.hmx_channel_block)


def is_16bit_island(op: Op) -> bool:
    """Softmax and layer / group / RMS norms: the ops a quantized graph keeps in 16 bit
    (batch norms fold into their conv or run as a per-channel int8 scale)."""
    return op.kind == OpKind.SOFTMAX or (op.kind == OpKind.NORM and "batch_norm" not in op.aten)


def quant_boundary(hw: HardwareSpec, ctx: CostContext, elements: float):
    """(seconds, extra graph nodes) to carry ``elements`` across the int8 <-> 16-bit
    boundary of a 16-bit island (module docstring): ``elements x requant_ops_per_element /
    (16-bit HVX lane rate x eff("vector"))`` and 2 nodes (a dequantize and a requantize), in an
    int8 graph only; (0, 0) for 16-bit or wider activations. Evidence: AI Hub 8 Gen 2 layer
    counts, w8a8 vs float (ViT 1267 vs 944 layers, MobileViT 595 vs 472)."""
    if DTYPE_BYTES[ctx.dtype] != 1:
        return 0.0, 0
    ops = elements * hw.dsp.requant_ops_per_element
    return ops / _hvx_lane_ops_per_s(hw, ctx.dtype, "vector", 2), 2


def _mac_time(hw: HardwareSpec, dtype: str, macs: float, eff_key: str, hmx_util, hvx_util, allow_hmx: bool):
    """(seconds, unit, note) for ``macs`` on HMX (if it has ``dtype`` and ``allow_hmx``) or HVX."""
    d = hw.dsp
    eff = hw.eff(eff_key)
    if allow_hmx and dtype in d.hmx_macs_per_cycle:
        rate = d.hmx_macs_per_cycle[dtype] * hw.clock_hz * eff * hmx_util
        return macs / rate, "hmx", ""
    per_unit, note = _hvx_macs_per_cycle(hw, dtype)
    rate = d.hvx_units * per_unit * hw.clock_hz * eff * hvx_util
    return macs / rate, "hvx", note


# --------------------------------------------------------------------------- the common frame


def _tiled_cost(op: Op, hw: HardwareSpec, ctx: CostContext, compute_s, macs: float, vector_ops: float,
                unit: str, note: str, refetch: bool, extra_nodes: int = 0) -> OpCost:
    """VTCM tiling + DMA + double buffering around a given total compute time (module doc);
    ``extra_nodes`` graph nodes the op brings with it (quantization boundaries) each pay the
    dispatch overhead."""
    d = hw.dsp
    in_b, wt_b, out_b = operand_bytes(op, ctx.dtype)
    working = in_b + wt_b + out_b
    vtcm = d.vtcm_bytes
    n_min = np.maximum(1.0, np.ceil(2.0 * working / vtcm))
    if refetch:
        wt_streamed = np.where(2.0 * wt_b <= vtcm, 0.0, wt_b)
        in_streamed = np.where(2.0 * in_b <= vtcm, 0.0, in_b)
        extra = (n_min - 1.0) * np.minimum(wt_streamed, in_streamed)
    else:
        extra = 0.0 * n_min
    if ctx.eager:
        in_dram, out_dram = in_b, out_b
    else:
        in_dram, out_dram = spilled_activation_bytes(op, hw, ctx.dtype)
    # weight bandwidth compression (8-bit weights): the weight bytes on the DRAM bus
    squeeze = 1.0 - d.weight_dram_fraction.get(ctx.dtype, 1.0)
    reads = in_dram + wt_b + extra - squeeze * op_bytes(op, ctx.dtype)[1]
    writes = out_dram
    resident = (in_b - in_dram) + (out_b - out_dram)  # activations kept on chip (fused mode)
    bw = np.minimum(d.dma_bandwidth_bytes_per_s, hw.dram_bandwidth_bytes_per_s * hw.eff("memory"))
    memory_s = (hw.dram_latency_s + (reads + writes) / bw + resident / d.onchip_bandwidth_bytes_per_s
                + sweep_zero(hw))
    compute_s = compute_s + 0.0 * memory_s  # broadcast to the sweep shape
    n_g = _granules(working)
    # both sides carry the exposed first / last granule min(C, M) / n_g: the larger column is
    # the pipelined time T, and both are non-decreasing in C and M, so the graph timeline
    # (apply_graph_launch) is monotone in them
    exposed = np.minimum(compute_s, memory_s) / n_g
    compute_col = compute_s + exposed
    memory_col = memory_s + exposed
    n = np.maximum(n_min, n_g)
    tiles = Tile(
        count=as_count(n),
        dma_in_bytes=reads / n,
        dma_out_bytes=writes / n,
        compute_s=compute_s / n,
        onchip_bytes=np.minimum(2.0 * working / n, vtcm),
    )
    return OpCost(
        compute_s=compute_col,
        memory_s=memory_col,
        overhead_s=(1 + extra_nodes) * dispatch_overhead(hw, ctx) + 0.0 * memory_s,
        dram_read_bytes=reads,
        dram_write_bytes=writes + 0.0 * reads,
        onchip_bytes=2.0 * (reads + writes),
        macs=float(macs),
        vector_ops=float(vector_ops),
        unit=unit,
        tiles=tiles,
        note=note,
    )


# --------------------------------------------------------------------------- MAC ops


@registrar(REGISTRY, OpKind.CONV, "dsp")
def conv_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Convolution on HMX (or HVX for depthwise / dtypes without HMX), tiled through VTCM.

    compute = MACs / (rate x clock x eff("conv.<variant>") x util), rate = HMX MACs/cycle or
    hvx_units x HVX MACs/cycle/unit; util = q(cin/g x kh x kw) x q(cout) on HMX (taps packed
    into the reduction, groups as a block-diagonal dense conv), q(cout/g) on HVX, q(C) for
    depthwise, with q(c) = c / (b ceil(c / b)), b = dsp.hmx_channel_block / hvx_channel_block
    (HTP 32-deep channel blocks, assumption). A conv merged with the cross-channel pool after it
    (fused mode) has the pooled
    map as output: MACs of the full conv, plus (k-1) compares per stored element on HVX
    (eff "pool"), and only the pooled map is written. Memory, re-fetch, double buffering and
    dispatch: module docstring. Source: hardware.md §2.1 (HTP ``use_conv_hmx``)."""
    check_dtype(hw, ctx.dtype)
    a: ConvAttrs = op.attrs
    factor = merged_pool_factor(op)
    macs = conv_macs(op)
    variant = a.variant
    cin_g, cout_g = a.in_channels // a.groups, a.out_channels // a.groups
    depthwise = variant == ConvVariant.DEPTHWISE
    d = hw.dsp
    taps = math.prod(a.kernel)
    hmx_util = (quantized_fraction(cin_g * taps, d.hmx_channel_block)
                * quantized_fraction(a.out_channels, hmx_output_block(hw, ctx.dtype)))
    hvx_util = quantized_fraction(a.out_channels if depthwise else cout_g, d.hvx_channel_block)
    compute_s, unit, note = _mac_time(hw, ctx.dtype, macs, f"conv.{variant.value}",
                                      hmx_util, hvx_util, allow_hmx=not depthwise)
    vector_ops = 0.0
    if factor > 1:
        vector_ops = float(op.elements * (factor - 1))
        compute_s = compute_s + vector_ops / _hvx_lane_ops_per_s(hw, ctx.dtype, "pool")
        fused = f"cross-channel pool x{factor} fused before the store"
        note = f"{note}; {fused}" if note else fused
    return _tiled_cost(op, hw, ctx, compute_s, macs, vector_ops, unit, note, refetch=True)


@registrar(REGISTRY, OpKind.MATMUL, "dsp")
def matmul_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """[m, k] x [k, n] products on HMX (HVX when HMX lacks the dtype), tiled through VTCM.

    compute = MACs / (rate x clock x eff("matmul") x util); util = q(k) x q(n) on HMX, q(n) on
    HVX (32-element blocks, assumption). Re-fetch of A or B when neither fits half of VTCM
    (module docstring). Source: hardware.md §2.1."""
    check_dtype(hw, ctx.dtype)
    a = op.attrs
    k, n = (a.k, a.n) if isinstance(a, MatMulAttrs) else (1, 1)
    blk = hw.dsp.hmx_channel_block
    hmx_util = quantized_fraction(k, blk) * quantized_fraction(n, hmx_output_block(hw, ctx.dtype))
    hvx_util = quantized_fraction(n, hw.dsp.hvx_channel_block)
    compute_s, unit, note = _mac_time(hw, ctx.dtype, op.macs, "matmul", hmx_util, hvx_util, True)
    return _tiled_cost(op, hw, ctx, compute_s, op.macs, 0.0, unit, note, refetch=True)


@registrar(REGISTRY, OpKind.ATTENTION, "dsp")
def attention_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Fused attention as a VTCM-tiled flash-style kernel: Q tiles resident, K/V streamed.

    compute = GEMM MACs / (HMX or HVX rate x eff("attention") x q(head_dim)) + softmax
    5 x (batch x heads x q_len x kv_len) element ops on HVX (eff "softmax"), run one after the
    other (HMX/HVX overlap not modelled); in an int8 graph the scores also cross the
    quantization boundary into and out of the 16-bit softmax (:func:`quant_boundary`). The
    projections fused into an MHA op (``extra_macs``) are costed as matmuls (eff "matmul",
    q(E) x q(E) with E = heads x head_dim), as the GPU model does. DRAM: Q, K, V once + O once; K and V re-read once
    per extra Q tile when they do not fit half of VTCM. Source: hardware.md §2.1; FlashAttention
    tiling (papers.md) as the kernel shape."""
    check_dtype(hw, ctx.dtype)
    a = op.attrs
    if isinstance(a, AttentionAttrs):
        scores = a.batch * a.heads * a.q_len * a.kv_len * a.passes
        util = quantized_fraction(a.head_dim, hw.dsp.hmx_channel_block)
        extra = a.extra_macs
        width = a.heads * a.head_dim
        proj_util = (quantized_fraction(width, hw.dsp.hmx_channel_block)
                     * quantized_fraction(width, hmx_output_block(hw, ctx.dtype)))
    else:
        scores, util, extra, proj_util = 0, 1.0, 0, 1.0
    gemm_s, unit, note = _mac_time(hw, ctx.dtype, op.macs - extra, "attention", util, util, True)
    if extra:
        # the fused in/out projections (MHA fast path) are plain [tokens, E] x [E, E] GEMMs
        # (the matmul kernel class), as in codesign.cost.gpu
        proj_s, _, _ = _mac_time(hw, ctx.dtype, extra, "matmul", proj_util, proj_util, True)
        gemm_s = gemm_s + proj_s
    vector_ops = 5.0 * scores
    boundary_s, nodes = quant_boundary(hw, ctx, 2.0 * scores)  # scores in, probabilities out
    compute_s = gemm_s + vector_ops / _hvx_lane_ops_per_s(hw, ctx.dtype, "softmax", 2) + boundary_s
    return _tiled_cost(op, hw, ctx, compute_s, op.macs, vector_ops, unit, note, refetch=True,
                       extra_nodes=nodes)


# --------------------------------------------------------------------------- vector ops


def _vector_cost(op: Op, hw: HardwareSpec, ctx: CostContext, vector_ops: float) -> OpCost:
    check_dtype(hw, ctx.dtype)
    key = _VECTOR_EFF_KEY[op.kind]
    min_bytes = 2 if op.kind in _WIDE_VECTOR_KINDS else 1
    compute_s = vector_ops / _hvx_lane_ops_per_s(hw, ctx.dtype, key, min_bytes)
    nodes = 0
    if is_16bit_island(op):
        crossing = sum(t.numel for t in op.inputs if not t.is_weight) + op.elements
        boundary_s, nodes = quant_boundary(hw, ctx, float(crossing))
        compute_s = compute_s + boundary_s
    return _tiled_cost(op, hw, ctx, compute_s, 0.0, vector_ops, "hvx", "", refetch=False,
                       extra_nodes=nodes)


@registrar(REGISTRY, (OpKind.SOFTMAX, OpKind.NORM, OpKind.ELEMENTWISE, OpKind.REDUCTION,
                      OpKind.POOL, OpKind.RESAMPLE), "dsp")
def vector_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Element-wise style ops on HVX, streamed through VTCM (no re-fetch).

    compute = op.vector_ops / (hvx_units x vector_width_bits / (8 bytes(dtype)) x clock x
    eff(key)), key: softmax, norm, vector (elementwise, resample), reduction, pool. vector_ops
    counts 5 per softmax element, 4 per norm element, the window per pooled element.
    memory = inputs + output once (module docstring). Source: HVX 128-byte vectors
    (hardware.md §2.1); one vector ALU op per unit per cycle is an assumption."""
    return _vector_cost(op, hw, ctx, float(op.vector_ops))


@registrar(REGISTRY, OpKind.CROSS_CHANNEL_POOL, "dsp")
def cross_channel_pool_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Stand-alone cross-channel pooling (max/mean over k adjacent channels) on HVX.

    Reads the full pre-pooling map [B, C, k, H, W] from DRAM and writes [B, C, H, W]:
    compute = B C H W k element ops / HVX lane rate (eff "pool"); memory as the module
    docstring. The DSP has no fused pooling-before-store unit: the fusion pass decides whether
    it folds this op into its conv. Source: Condensation-Net (papers.md §5)."""
    a = op.attrs
    k = a.reduced if isinstance(a, ReduceAttrs) else 1
    return _vector_cost(op, hw, ctx, float(op.elements * k))


@registrar(REGISTRY, OpKind.DATA_MOVEMENT, "dsp")
def data_movement_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Copies, concatenations and materialized permutes: DMA only (DRAM -> VTCM -> DRAM).

    compute = 0; memory = dram_latency + (read + write bytes) / min(dma_bw, dram_bw x
    eff("memory")); double-buffered in pipeline granules. Permutes done by the DMA's 2-D
    descriptors are assumed to run at full DMA bandwidth."""
    check_dtype(hw, ctx.dtype)
    return _tiled_cost(op, hw, ctx, 0.0, 0.0, 0.0, "dma", "", refetch=False)


def _graph_launch_pass(costs: list, hw: HardwareSpec, ctx: CostContext, ops: list, graph) -> list:
    """A compiled graph's per-inference terms (see :func:`apply_graph_launch`)."""
    io_elements = sum(t.numel for t in graph.inputs + graph.outputs)
    return apply_graph_launch(costs, hw, ctx, ops, io_elements)


REGISTRY.register_pass("dsp", "graph_launch", _graph_launch_pass)
