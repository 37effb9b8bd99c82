"""CPU cost model: cache-aware roofline per op class, eager dispatch overhead per op.

For one op on a CPU with ``P`` cores (all symbols are spec fields, so calibration can fit them
and sweeps can vary them):

    threads   = min(P, ceil(parallel_work / GRAIN))      MAC ops: P (oneDNN/BLAS split all)
    compute_s = (MACs + half_work[class]) / (peak_MAC/s * eff[class] * threads / P)
                x (1 + cpu.half_reduction / K)          GEMM-shaped ops, K = reduction length
                x ceil(N / lanes) lanes / N       ATen's native conv GEMM, N = OH x OW per image
              + vector_ops / (vector_op/s * eff[class] * threads / P)
    memory_s  = max(traffic / (bw(level) * threads / P),  weights+outputs / peak DRAM bw)
    weight_s  = weight bytes / cpu.weight_pack_bytes_per_s   eager conv / GEMM with weights
              | weight bytes / (DRAM bw * eff[memory])  GEMV (one row) and fused graphs
    reorder_s = (input + output bytes) / cpu.reorder_bytes_per_s              eager oneDNN conv
    gather_s  = non-contiguous input bytes / cpu.gather_bytes_per_s      eager conv and copies
    im2col_s  = rows x cpu.im2col_row_s + column bytes / cpu.im2col_bytes_per_s
                                   depthwise conv on oneDNN's GEMM fallback (NCHW, left pad > 6)
    overhead_s = dispatch.eager_overhead_s (eager) | dispatch.graph_overhead_s (fused)
                + weight_s + reorder_s + gather_s + im2col_s
                + first touch of fresh outputs >= the mmap threshold
    latency   = max(compute_s, memory_s) + overhead_s

* ``peak_MAC/s`` = cores x FMA pipes x SIMD lanes (width / element bits) x clock
  (``HardwareSpec.vector_macs_per_s``); ``vector_op/s`` counts one element op per MAC slot.
* ``eff[class]`` is the achieved/peak fraction fitted by ``codesign calibrate``: ``matmul``,
  ``conv.<variant>`` (pointwise, standard, depthwise, grouped, dilated, large_kernel, band, 3d,
  transposed), ``attention``, ``softmax``, ``norm``, ``reduction``, ``pool``, ``vector``
  (elementwise, cross-channel pooling), ``vector.transcendental`` (tanh, exp, sigmoid, gelu,
  ...) and ``vector.resample`` (upsampling, pixel shuffle: gathers with non-unit strides).
* ``half_work[class]`` is ``cpu.half_work_macs[class]`` (0 when absent): the achieved
  efficiency of a MAC op is ``eff[class] x MACs / (MACs + half_work)``, so small GEMMs and
  convs (small spatial size or channel count, as in the late stages of a network at batch 1)
  run below the class's large-op efficiency; equivalently a fixed per-kernel cost of
  ``half_work / (peak x eff)`` that scales with the hardware rate (monotone in clock/cores).
  Both are fitted by calibration. A 1x1x1 conv3d is the GEMM of a 1x1 conv and takes
  ``conv.pointwise``; a 1xkxk conv3d on a single frame (C2D after its temporal pooling) runs
  at the rate of the 2-D kxk conv and takes that variant's efficiency; on several frames
  oneDNN's 3-D kernels run at 0.5-0.7x the 2-D rate, so those keep ``conv.3d`` (measured by
  ``python benchmarks/cpu_effects.py conv3d``; the graph's ``variant`` stays ``3d``).
* ``1 + half_reduction / K``: the micro-kernel of a GEMM-shaped op (matmul, every conv but
  depthwise) keeps an output tile in registers while it runs the reduction of length ``K``
  (``k``; ``in_channels / groups x kernel volume`` for a conv) and loads/stores the tile once,
  so that fixed cost per output is amortised over ``K``. ``cpu.half_reduction`` (one value for
  all classes) is fitted by calibration from convs with 8-32 input channels.
* ``ceil(N / lanes) lanes / N`` (:func:`simd_tail_factor`): a conv that does not take oneDNN
  (a 1x1 conv on one thread at batch < 16, a small <= 3x3 conv at batch 1; :func:`uses_onednn`)
  runs ATen's native GEMM per image, vectorised over its ``N = OH x OW`` output positions: a
  7x7 map fills 49 of 64 AVX-512 lanes and runs at ~0.75x (``python benchmarks/cpu_effects.py
  simdtail``). 1 for one position (a GEMV), oneDNN convs, channels-last and fused graphs.
* ``weight_s``: in a network every layer's weights are cold (a model's weights do not stay in
  the caches between its forward passes), and eager PyTorch on CPU rewrites them in a pass of
  its own before the kernel: oneDNN reorders conv weights to its blocked layout (OIhw8i8o)
  and the BLAS packs a GEMM's weight panel. That pass reads from DRAM and writes a copy, so it
  runs at ``cpu.weight_pack_bytes_per_s`` (fitted by calibration; the calibrated spec in
  ``reports/validation/cpu-host/host.yaml`` records it) and does not overlap the compute: it
  is added. A
  one-row GEMM (GEMV, ``m = 1``) streams its weights unpacked at the achieved DRAM bandwidth,
  and so does a fused (compiled) graph, which prepacks weights once. Calibration's conv/GEMM
  microbenchmarks rotate through weight copies larger than the last-level cache so they time
  the same regime.
* ``reorder_s``: eager PyTorch runs a CPU conv through oneDNN on plain NCHW tensors, so every
  call is four primitives: reorder the input to the blocked layout (nChw8c on AVX2), reorder
  the weights (the weight pass above), the conv kernel, and reorder the output back to NCHW
  (visible with ``ONEDNN_VERBOSE=1``). The activation reorders are passes over input and
  output, which are cache-hot, at ``cpu.reorder_bytes_per_s`` (fitted; all reorders together
  are ~15% of ResNet-50's conv kernel time at batch 8 on this project's host, measured by
  ``python benchmarks/cpu_effects.py reorders``). Which convs take oneDNN follows ATen's
  ``use_mkldnn`` rule (:func:`uses_onednn`): the others (a 1x1 conv on one thread at batch
  < 16, or batch 1 with a <= 3x3 kernel and a tiny input) run ATen's own im2col + GEMM with
  no activation reorders. Fused (compiled) graphs keep the blocked layout between convs, and
  channels-last (``layout="nhwc"``) tensors go to oneDNN as they are: neither pays them.
* ``gather_s``: an input that is a transposed, permuted or sliced view (``contiguous`` false in
  the graph) is gathered with non-unit strides. An eager conv makes such an input dense in a
  pass of its own before oneDNN (a ``transpose(1, 2).reshape(...)`` as in LightNL hands it a
  channels-last tensor: on this project's host a 1024-channel depthwise conv at 14x14 then
  takes 1.6-2.4x as long, ``python benchmarks/cpu_effects.py strided``), and a copy of a
  permuted view is the gather itself. Other kernels take strided operands directly.
  ``cpu.gather_bytes_per_s`` is fitted by calibration.
* ``im2col_s``: oneDNN runs a depthwise conv on plain NCHW tensors with its jit kernel
  (``jit_dw``, blocked layout) only while the left padding fits the kernel's unroll (6 output
  columns with AVX-512, :data:`DW_JIT_MAX_LEFT_PAD`); a 15x15 kernel with 'same' padding, RepLKNet's
  31x31, DCLS's 17x17, SLaK's 5x51 or a 5x5 dilated 4 falls back to ``x64:gemm:jit``: im2col
  into a column buffer of one element per MAC (rows of ``OW`` elements, one per channel, tap
  and output row), then a one-row GEMM per channel. The column is written and streamed once:
  a per-row cost and a per-byte rate, both fitted by calibration from 15x15..27x27 / dilated /
  band depthwise microbenchmarks. On this project's host a 31x31 depthwise conv on 128
  channels at 56x56 takes ~0.4 s on 2 cores this way against ~1.5 ms for a 13x13 on the jit
  kernel (``python benchmarks/cpu_effects.py dwkernel``); channels-last tensors take oneDNN's
  ``brdgmm_dw`` at any kernel size and pay no such term.
* ``level`` is the smallest cache that holds the op's working set (inputs + weights + outputs):
  all cores' L2 (``cpu.l2_bytes * cores``) at ``cpu.l2_bandwidth_bytes_per_s``, the shared L3 at
  ``cpu.l3_bandwidth_bytes_per_s``, else DRAM at ``dram_bandwidth_bytes_per_s * eff[memory]``.
  Past the L2s the L3 serves the fraction :func:`l3_hit_fraction` of the bytes: all of them up
  to ``cpu.l3_share`` of its size (the part other processes on a shared host leave), none
  beyond its full size, linear between (time per byte blended; ``l3_share`` 1 is a step).
  In eager execution an op's inputs were written by the op just before, so they sit in the
  level that holds them; that is the cache-aware part. The second term is the compulsory
  DRAM traffic of the roofline floor (weights read and outputs stored once at peak bandwidth).
* ``GRAIN`` = 32768 elements is ATen's ``at::internal::GRAIN_SIZE``: ``at::parallel_for`` only
  splits elementwise/reduction loops into chunks of at least that size, so small vector ops run
  on one core (ATen source, ``aten/src/ATen/Parallel.h``).
* Traffic counts each tensor once; a data-movement op (copy, cat, pad, permute) is memory
  only. Attention (fused SDPA) streams Q, K, V and the output once (flash-style tiling) and
  does its softmax on the vector path.

Known limits: the layout is the run's (``CostContext.layout``), not per tensor; the size
dependence of efficiency is one curve in MACs per class (no separate
M/N/K shape terms); weights are assumed cold, which overestimates ops of a model small enough
to stay in the LLC; no NUMA, no SMT, no frequency scaling; fp16/bf16/int8 use the
SIMD lane count of their element size.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from codesign.ir.graph import DTYPE_BYTES, AttentionAttrs, ConvVariant, MatMulAttrs, Op, OpKind
from codesign.cost.base import (CalibrationModel, CostContext, OpCost, op_bytes, registrar,
                                tensor_bytes)
from codesign.cost.registry import REGISTRY
from codesign.hardware.spec import HardwareSpec
from codesign.types import Layout

GRAIN = 32768                     # at::internal::GRAIN_SIZE (elements per parallel chunk)
SOFTMAX_OPS_PER_SCORE = 5         # max, subtract, exp, sum, divide per attention score

#: efficiency key per vector op kind
VECTOR_KEY = {
    OpKind.SOFTMAX: "softmax", OpKind.NORM: "norm", OpKind.REDUCTION: "reduction",
    OpKind.POOL: "pool", OpKind.ELEMENTWISE: "vector", OpKind.RESAMPLE: "vector",
    OpKind.CROSS_CHANNEL_POOL: "vector",
}


#: elementwise ops that evaluate a transcendental function per element (exp, tanh, erf, ...):
#: an order of magnitude more work per element than add/mul/relu on a SIMD unit
TRANSCENDENTAL = frozenset({
    "tanh", "exp", "exp2", "expm1", "log", "log1p", "log2", "sigmoid", "gelu", "silu", "erf",
    "erfc", "erfinv", "mish", "softplus", "elu", "selu", "celu", "pow", "sin", "cos", "tan",
    "atan", "asin", "acos", "sinh", "cosh", "logit", "tanh_backward", "sigmoid_backward",
    "gelu_backward", "silu_backward", "mish_backward", "softplus_backward", "elu_backward",
})


def _aten_name(op: Op) -> str:
    return op.aten.split("::")[-1].split(".")[0].rstrip("_")


def efficiency_key(op: Op) -> str:
    """The efficiency-table key that derates ``op``'s compute on a CPU."""
    if op.kind == OpKind.CONV:
        a = op.attrs
        one_frame = op.conv_input.shape[2] == 1 or all(k == 1 for k in a.kernel)
        if (op.variant == ConvVariant.CONV3D and a.kernel[0] == 1 and a.stride[0] == 1 and one_frame
                and not a.transposed):
            # a 1x1x1 conv3d is the GEMM of a 1x1 conv, and a 1xkxk conv3d on a single frame
            # (C2D after temporal pooling) runs at the rate of the 2-D kxk conv; on several
            # frames oneDNN's 3-D kernels run at 0.5-0.7x that rate (benchmarks/cpu_effects.py
            # conv3d), so those keep the conv.3d efficiency
            return "conv." + dataclasses.replace(
                a, kernel=a.kernel[1:], stride=a.stride[1:], padding=a.padding[1:],
                dilation=a.dilation[1:]).variant.value
        return "conv." + op.variant
    if op.kind == OpKind.MATMUL:
        return "matmul"
    if op.kind == OpKind.ATTENTION:
        return "attention"
    if op.kind == OpKind.DATA_MOVEMENT:
        return "memory"
    if op.kind == OpKind.ELEMENTWISE and _aten_name(op) in TRANSCENDENTAL:
        return "vector.transcendental"
    if op.kind == OpKind.RESAMPLE:
        return "vector.resample"
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


def l3_hit_fraction(hw: HardwareSpec, working_set_bytes):
    """Fraction of a working set beyond the L2s that the L3 serves: 1 up to ``l2 + l3_share x
    l3``, falling linearly to 0 at ``l2 + l3`` (other processes keep the rest of a shared L3;
    ``l3_share`` 1, the preset default, gives the step at the L3 size). Evidence: on this
    project's host (AMD EPYC VM, 32 MiB L3, three other processes running) one thread reads a
    24.5 MiB tensor at 26-34 GB/s (the DRAM rate) and 3-12 MiB at 52-78 GB/s (``python
    benchmarks/cpu_effects.py l3read``); with the step alone the calibration's add over 3 x 8 MiB
    and copy of 2 x 16 MiB came out 40% and 46% fast. Calibration fits ``cpu.l3_share`` (0.39
    there, the GC block at batch 8 then -9% / -30% instead of -23% / -41%)."""
    c = hw.cpu
    l2_total = c.l2_bytes * c.cores
    kept = c.l3_bytes * c.l3_share
    ramp = np.maximum(c.l3_bytes - kept, 1.0)
    beyond = np.asarray(working_set_bytes, dtype=float) - l2_total - kept
    return np.clip(1.0 - beyond / ramp, 0.0, 1.0)


def cache_bandwidth(hw: HardwareSpec, working_set_bytes: float):
    """Bandwidth of the smallest level holding ``working_set_bytes`` (all cores together); past
    the L2s, the L3 and DRAM rates blended by :func:`l3_hit_fraction` (time per byte)."""
    c = hw.cpu
    l2_total = c.l2_bytes * c.cores
    dram = hw.dram_bandwidth_bytes_per_s * hw.eff("memory")
    h = l3_hit_fraction(hw, working_set_bytes)
    beyond_l2 = 1.0 / (h / c.l3_bandwidth_bytes_per_s + (1.0 - h) / dram)
    return np.where(working_set_bytes <= l2_total, c.l2_bandwidth_bytes_per_s, beyond_l2)


def half_work(hw: HardwareSpec, key: str):
    """``cpu.half_work_macs[key]``, falling back to the family (``conv``), then 0."""
    table = hw.cpu.half_work_macs
    for k in (key, key.split(".", 1)[0]):
        if k in table:
            return table[k]
    return 0.0


def reduction_length(op: Op) -> int:
    """K of the GEMM a MAC op runs: matmul ``k``; conv ``in_channels / groups x kernel
    volume``; 0 for depthwise convs and attention (not GEMM-shaped on a CPU)."""
    a = op.attrs
    if op.kind == OpKind.MATMUL and isinstance(a, MatMulAttrs):
        return a.k
    if op.kind == OpKind.CONV and op.variant != "depthwise":
        return (a.in_channels // a.groups) * math.prod(a.kernel)
    return 0


def short_reduction_factor(op: Op, hw: HardwareSpec):
    """``1 + cpu.half_reduction / K``: a GEMM micro-kernel loads and stores each output tile
    once per call and amortises that over the K loop, so short reductions (a 1x1 conv on 16
    input channels) run well below the class's efficiency; 1 for non-GEMM ops."""
    k = reduction_length(op)
    return 1.0 + hw.cpu.half_reduction / k if k else 1.0


def weight_stream_s(op: Op, hw: HardwareSpec, weight_bytes, ctx: CostContext | None = None):
    """Seconds to bring a conv/matmul's (cold) weights in, in a pass of their own: packed or
    reordered at ``cpu.weight_pack_bytes_per_s`` in eager mode, streamed at the achieved DRAM
    bandwidth by a GEMV (one row) or a fused graph (weights prepacked)."""
    if op.kind not in (OpKind.CONV, OpKind.MATMUL):
        return 0.0
    stream = weight_bytes / (hw.dram_bandwidth_bytes_per_s * hw.eff("memory"))
    if ctx is not None and not ctx.eager:
        return stream
    a = op.attrs
    if op.kind == OpKind.MATMUL and isinstance(a, MatMulAttrs) and a.batch * a.m == 1:
        return stream
    return weight_bytes / hw.cpu.weight_pack_bytes_per_s


#: ATen's use_mkldnn: an fp32 CPU conv with at most this many input elements at batch 1 and a
#: <= 3x3 kernel runs the native kernel ("for some case, native is faster")
NATIVE_CONV_MAX_NUMEL = 20480


def uses_onednn(op: Op, cores):
    """Whether eager PyTorch runs conv ``op`` through oneDNN on ``cores`` threads (ATen
    ``ConvParams::use_mkldnn`` for fp32 CPU tensors; array over ``cores`` in sweeps)."""
    a = op.attrs
    x = op.conv_input.shape
    kernel_1x1 = all(k == 1 for k in a.kernel[-2:])
    plain = all(s == 1 for s in a.stride) and all(d == 1 for d in a.dilation)
    multi = np.asarray(cores) > 1
    not_single_1x1 = (not plain) or x[0] >= 16 or not kernel_1x1 or multi
    big_kernel = all(k > 3 for k in a.kernel[-2:])
    first4 = math.prod(x[:4])
    enough = a.groups > 1 or big_kernel or x[0] > 1 or first4 > NATIVE_CONV_MAX_NUMEL
    return np.logical_and(not_single_1x1, enough)


def reorder_s(op: Op, hw: HardwareSpec, ctx: CostContext, act, out):
    """Seconds of oneDNN activation reorders (input to the blocked layout, output back to
    NCHW) around an eager CPU conv; 0 for other ops and for channels-last (nhwc) tensors,
    which oneDNN takes as they are."""
    if op.kind != OpKind.CONV or not ctx.eager or ctx.layout != Layout.NCHW:
        return 0.0
    return np.where(uses_onednn(op, hw.cpu.cores), (act + out) / hw.cpu.reorder_bytes_per_s, 0.0)


#: left (W) padding oneDNN's jit depthwise kernel (``jit_dw``, blocked nChw16c / nChw8c) accepts,
#: by SIMD width: the kernel unrolls ``ur_w`` output columns and handles at most that much
#: left padding. Measured on this project's AVX-512 host with ``ONEDNN_VERBOSE=1``
#: (``python benchmarks/cpu_effects.py dwkernel``): a 13x13 (pad 6), 31x31 with pad 6 or a
#: 51x5 kernel (W pad 2) run ``jit_dw``; 14x14 / 15x15 (pad 7), a 1x17 band (W pad 8), a 5x5
#: conv dilated 4 (pad 8) and 3x3 with pad 7 run ``x64:gemm:jit``; the H padding and the
#: right padding do not matter. AVX2 (4) and SSE4.1 (3): oneDNN's ``ur_w`` for those ISAs,
#: from its source, not measured here.
DW_JIT_MAX_LEFT_PAD = {512: 6, 256: 4, 128: 3}


def dw_jit_max_left_pad(simd_width_bits):
    """Widest left padding oneDNN's jit depthwise kernel takes at ``simd_width_bits``."""
    w = np.asarray(simd_width_bits)
    return np.where(w >= 512, DW_JIT_MAX_LEFT_PAD[512],
                    np.where(w >= 256, DW_JIT_MAX_LEFT_PAD[256], DW_JIT_MAX_LEFT_PAD[128]))


def is_depthwise_2d(op: Op) -> bool:
    a = op.attrs
    return (op.kind == OpKind.CONV and a.spatial_dims == 2 and not a.transposed
            and a.groups > 1 and a.groups == a.in_channels == a.out_channels)


def dw_gemm_fallback(op: Op, hw: HardwareSpec, ctx: CostContext):
    """Whether oneDNN runs depthwise conv ``op`` as im2col + GEMM (``x64:gemm:jit``) instead of
    its jit depthwise kernel: plain NCHW tensors (channels-last ones take ``brdgmm_dw``, which
    has no such limit) and a left padding wider than :func:`dw_jit_max_left_pad`. This is the
    path of RepLKNet's 31x31, DCLS's 17x17 and SLaK's 5x51 kernels in eager PyTorch on a CPU."""
    if not is_depthwise_2d(op) or ctx.layout != Layout.NCHW:
        return False
    pad_w = op.attrs.padding[-1]
    return np.logical_and(pad_w > dw_jit_max_left_pad(hw.cpu.simd_width_bits),
                          uses_onednn(op, hw.cpu.cores))


def native_gemm_positions(op: Op) -> int:
    """Output positions per image (``OH x OW``) of a 2-D, ungrouped conv: the rows of the
    GEMM that ATen's native conv (``_slow_conv2d_forward``) runs per image, ``out[Cout, OH OW]
    = W[Cout, Cin k k] x col[Cin k k, OH OW]``; 0 for other ops."""
    if op.kind != OpKind.CONV:
        return 0
    a = op.attrs
    if a.spatial_dims != 2 or a.transposed or a.groups != 1:
        return 0
    return math.prod(op.outputs[0].shape[-2:])


def simd_tail_factor(op: Op, hw: HardwareSpec, ctx: CostContext):
    """``ceil(N / lanes) x lanes / N``, ``N`` = :func:`native_gemm_positions`, ``lanes`` the fp
    lanes of one SIMD register: the BLAS micro-kernel of ATen's native conv vectorises the GEMM
    over the output positions of one image (column-major ``m``), so a map whose ``OH x OW`` is
    not a multiple of the lane count runs its last vector part-empty. Only convs that do not
    take oneDNN (:func:`uses_onednn`: a 1x1 conv on one thread at batch < 16, or a small <= 3x3
    conv at batch 1) in eager NCHW; oneDNN's blocked kernels vectorise over channels. Evidence:
    on this project's host (AVX-512, 16 fp32 lanes, 1 thread) 1x1 convs 512->512 / 256->1024 /
    1024->256 run at 0.74-0.77x of their 12x12-28x28 rate at 6x6 and 7x7 (36 / 49 positions,
    3 / 4 registers of 16: factor 1.33 / 1.31), at 0.89-0.93x at 10x10 (1.12) and at ~1.0x at
    8x8 and 12x12 (1.0); the calibration set's 7x7 and 5x5 1x1 convs (``conv1x1_n8_1024to256_7``,
    ``conv1x1_n1_2048to512_5``) were 19-23% slower than the model without it. A single position
    (``N = 1``, the 1x1 map after global pooling) is a GEMV vectorised over the channels: 1. On
    2-15 positions the measured rate is ~2x below even this factor (``python
    benchmarks/cpu_effects.py simdtail``); such maps are rare in vision networks. 1 elsewhere."""
    n = native_gemm_positions(op)
    if n <= 1 or not ctx.eager or ctx.layout != Layout.NCHW:
        return 1.0
    lanes = np.asarray(hw.cpu.simd_width_bits, dtype=float) / (8 * DTYPE_BYTES.get(ctx.dtype, 4))
    lanes = np.maximum(lanes, 1.0)
    return np.where(uses_onednn(op, hw.cpu.cores), 1.0, np.ceil(n / lanes) * lanes / n)


def column_shape(op: Op) -> tuple[int, int]:
    """(rows, elements) of the im2col column buffer of conv ``op`` over the batch: one row per
    (image, input channel, kernel tap, output row), ``OW`` elements each."""
    a = op.attrs
    n, c = op.conv_input.shape[:2]
    oh, ow = op.outputs[0].shape[-2:]
    rows = n * c * math.prod(a.kernel) * oh
    return rows, rows * ow


def im2col_s(op: Op, hw: HardwareSpec, ctx: CostContext):
    """Seconds of oneDNN's im2col + GEMM fallback beyond the conv's MACs (0 on the jit path):
    per column row ``cpu.im2col_row_s`` (the copy loop over one output row, with its padding
    checks) plus the column bytes at ``cpu.im2col_bytes_per_s`` (written by im2col, streamed by
    the one-row GEMM). A depthwise conv's column holds one element per MAC, so a 31x31 kernel
    at 56x56 on 128 channels writes and reads 1.5 GB: ~0.4 s on a 2-core host, against ~5 ms for
    the jit kernel's MACs."""
    if not is_depthwise_2d(op) or ctx.layout != Layout.NCHW:
        return 0.0
    rows, elems = column_shape(op)
    nbytes = elems * DTYPE_BYTES.get(ctx.dtype, 4)
    c = hw.cpu
    return np.where(dw_gemm_fallback(op, hw, ctx),
                    rows * c.im2col_row_s + nbytes / c.im2col_bytes_per_s, 0.0)


#: ops that gather a non-contiguous activation input in a pass of their own on a CPU: eager
#: conv (ATen makes the input dense before oneDNN unless input and weights are both
#: channels-last) and copies (``clone``/``contiguous``/``cat`` of a permuted view are the gather)
GATHERING_KINDS = (OpKind.CONV, OpKind.DATA_MOVEMENT)


def strided_inputs(op: Op) -> list:
    """The non-contiguous activation inputs ``op`` gathers in a pass of its own on a CPU
    (only ops of :data:`GATHERING_KINDS`)."""
    if op.kind not in GATHERING_KINDS:
        return []
    return [t for t in op.inputs if not t.is_weight and not t.contiguous]


#: ATen ops that are gathers by construction: ``F.unfold`` / ``F.fold`` (aten ``im2col`` /
#: ``col2im``) compute a source index per output element in a plain loop; on this project's
#: host ``F.unfold`` of a 3x3 neighbourhood runs at 1-2.3 GB/s of output on one thread, 5-10x
#: slower than a copy of the same bytes (measured in the issue 15 notes), so their output
#: bytes are gathered at ``cpu.gather_bytes_per_s``
GATHER_ATENS = frozenset({"im2col", "col2im"})


def gather_s(op: Op, hw: HardwareSpec, ctx: CostContext):
    """Seconds to gather the op's non-contiguous activation inputs (transposed, permuted or
    sliced views) at ``cpu.gather_bytes_per_s``, or the whole output of an unfold/fold
    (:data:`GATHER_ATENS`); 0 for other ops, whose kernels take strided operands directly (a
    GEMM's transpose flags, TensorIterator's strides)."""
    nbytes = sum(tensor_bytes(t, ctx.dtype) for t in strided_inputs(op)) if ctx.eager else 0.0
    if op.kind == OpKind.DATA_MOVEMENT and _aten_name(op) in GATHER_ATENS:
        nbytes = nbytes + sum(tensor_bytes(t, ctx.dtype) for t in op.outputs)
    return nbytes / hw.cpu.gather_bytes_per_s if nbytes else 0.0


def first_touch_s(op: Op, hw: HardwareSpec, dtype: str):
    """Seconds the kernel spends faulting in fresh output pages: every output of an
    out-of-place op of at least ``cpu.mmap_threshold_bytes`` is a new mmap'ed buffer whose
    pages are zeroed on first write at ``cpu.page_fault_bytes_per_s`` (measured by calibrate)."""
    if op.inplace:
        return 0.0
    c = hw.cpu
    total = 0.0
    for t in op.outputs:
        nbytes = tensor_bytes(t, dtype)
        total = total + np.where(nbytes >= c.mmap_threshold_bytes,
                                 nbytes / c.page_fault_bytes_per_s, 0.0)
    return total


def dispatch_overhead(hw: HardwareSpec, ctx: CostContext):
    return hw.dispatch.eager_overhead_s if ctx.eager else hw.dispatch.graph_overhead_s


def _cpu_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
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
        compute = ((macs + half_work(hw, key)) / (rate * hw.eff(key))
                   * short_reduction_factor(op, hw) * simd_tail_factor(op, hw, ctx))
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
        compute_s=compute, memory_s=memory,
        overhead_s=(dispatch_overhead(hw, ctx) + weight_stream_s(op, hw, w, ctx)
                    + reorder_s(op, hw, ctx, act, out) + first_touch_s(op, hw, ctx.dtype)
                    + gather_s(op, hw, ctx) + im2col_s(op, hw, ctx)),
        dram_read_bytes=dram_read, dram_write_bytes=dram_write, onchip_bytes=traffic,
        l2_bytes=traffic, macs=macs, vector_ops=vector_ops, unit=unit,
        note=key,
    )


registrar(REGISTRY, tuple(k for k in OpKind if k is not OpKind.OTHER), "cpu")(_cpu_cost)


# --------------------------------------------------------------------------- calibration
# What the microbenchmark fit (codesign.calibration.host) adjusts on a CPU, and how the fitted
# values go back into a spec (CalibrationModel, registered for kind "cpu" below).

#: bounds of the CPU-only knob paths in the fit
CALIBRATION_BOUNDS = {
    "cpu.l2_bandwidth_bytes_per_s": (1e8, 1e13),
    "cpu.l3_bandwidth_bytes_per_s": (1e8, 1e13),
    "cpu.reorder_bytes_per_s": (1e8, 1e12),
    "cpu.weight_pack_bytes_per_s": (1e8, 1e12),
    "cpu.half_reduction": (1e-2, 1e4),
    "cpu.gather_bytes_per_s": (1e8, 1e12),
    "cpu.im2col_bytes_per_s": (1e8, 1e12),
    "cpu.im2col_row_s": (1e-11, 1e-5),
    "cpu.l3_share": (0.05, 1.0),
}
HALF_WORK = "cpu.half_work_macs."
HALF_WORK_BOUNDS = (1e3, 1e9)      # MACs
HALF_WORK_START = 1e5
L3_SHARE_START = 0.5
HALF_WORK_CLASSES = ("matmul",)    # + every conv.<variant>
#: CPU efficiencies of the FMA-bound classes may exceed 1 in the fit: the OS reports the
#: nominal clock, while the cores run at their boost clock; the written spec rescales clock
#: and efficiencies so that the largest of them is 1 (:func:`normalise_clock`). Vector-path
#: classes stay <= 1: they are mostly memory-bound, so their efficiency is weakly determined
#: and must not set the clock.
BOOST_EFF_BOUNDS = (1e-4, 4.0)
BOOST_CLASSES = ("matmul", "conv", "attention")
#: the DRAM term is dram_bandwidth x eff(memory): the fit addresses the product through the
#: efficiency, with the peak raised to at least this so that the fitted fraction stays <= 1
FIT_DRAM_PEAK = 1e11


#: plausible fitted eager dispatch overhead per op (PyTorch CPU dispatch is microseconds, not
#: a tenth of a millisecond)
EAGER_OVERHEAD_RANGE_S = (0.5e-6, 100e-6)


def calibration_plausibility(spec: HardwareSpec) -> list[str]:
    """Warnings about a fitted CPU spec: the eager overhead outside :data:`EAGER_OVERHEAD_RANGE_S`."""
    eager = float(spec.dispatch.eager_overhead_s)
    lo, hi = EAGER_OVERHEAD_RANGE_S
    if lo <= eager <= hi:
        return []
    return [f"fitted eager overhead {eager * 1e6:.1f} us/op is outside the plausible "
            f"{lo * 1e6:.1f}-{hi * 1e6:.0f} us"]


def calibration_parameters(hw: HardwareSpec, ops) -> set[str]:
    """The CPU knob paths that the benchmark ``ops`` exercise: cache bandwidths, the efficiency
    (and half-efficiency work) of every op class, oneDNN reorders, weight packing, short
    reductions, strided gathers and the im2col fallback of depthwise convolutions."""
    eager_nchw = CostContext("fp32", "eager", "nchw")
    keys = {"cpu.l2_bandwidth_bytes_per_s", "cpu.l3_bandwidth_bytes_per_s", "cpu.l3_share"}
    for op in (op for op in ops if op.supported):
        k = efficiency_key(op)
        if k not in ("memory", "default"):
            keys.add("efficiency." + k)
            if k in HALF_WORK_CLASSES or k.startswith("conv."):
                keys.add(HALF_WORK + k)
        if op.kind == OpKind.CONV:
            keys.add("cpu.reorder_bytes_per_s")
        if op.kind in (OpKind.CONV, OpKind.MATMUL) and any(t.is_weight for t in op.inputs):
            keys.add("cpu.weight_pack_bytes_per_s")
        if reduction_length(op):
            keys.add("cpu.half_reduction")
        if np.any(gather_s(op, hw, eager_nchw)):   # strided inputs, or an unfold/fold
            keys.add("cpu.gather_bytes_per_s")
        if op.kind == OpKind.CONV and np.any(dw_gemm_fallback(op, hw, eager_nchw)):
            keys |= {"cpu.im2col_bytes_per_s", "cpu.im2col_row_s"}
    return keys


def calibration_bounds(path: str) -> tuple[float, float] | None:
    if path.startswith(HALF_WORK):
        return HALF_WORK_BOUNDS
    if path.startswith("efficiency.") and path.split(".")[1] in BOOST_CLASSES:
        return BOOST_EFF_BOUNDS
    return CALIBRATION_BOUNDS.get(path)


def prepare_calibration(hw: HardwareSpec, params) -> HardwareSpec:
    """The spec the fit starts from: the DRAM peak raised to :data:`FIT_DRAM_PEAK` when the
    memory efficiency is fitted, and a ``cpu.half_work_macs`` entry (start value) for every
    fitted class that has none, so the fit can address it as a knob."""
    from codesign.hardware.spec import FrozenDict

    if "efficiency.memory" in params:
        hw = hw.with_knobs({"dram_bandwidth_bytes_per_s":
                            max(hw.dram_bandwidth_bytes_per_s, FIT_DRAM_PEAK)})
    if "cpu.l3_share" in params and hw.cpu.l3_share >= 1.0:
        hw = hw.with_knobs({"l3_share": L3_SHARE_START})   # inside the bounds: a gradient
    table = dict(hw.cpu.half_work_macs)
    missing = {p[len(HALF_WORK):] for p in params if p.startswith(HALF_WORK)} - set(table)
    if not missing:
        return hw
    table.update({k: HALF_WORK_START for k in missing})
    return dataclasses.replace(hw, cpu=dataclasses.replace(hw.cpu,
                                                           half_work_macs=FrozenDict(table)))


def normalise_clock(d: dict) -> float:
    """Fold compute efficiencies above 1 into the clock (in place on a spec dict): the compute
    rate is clock x efficiency, so scaling the clock up by the largest efficiency ``m`` and
    every compute efficiency down by ``m`` changes no estimate. Returns ``m`` (1: unchanged)."""
    eff = d["efficiency"]
    m = max([float(v) for k, v in eff.items() if k.split(".")[0] in BOOST_CLASSES] + [1.0])
    if m > 1.0:
        d["clock_hz"] = float(d["clock_hz"]) * m
        for k in list(eff):
            if k != "memory":
                eff[k] = round(float(eff[k]) / m, 5)
    return m


def write_calibration(d: dict, values: dict, threads: int) -> dict:
    """Fitted CPU values into the spec dict ``d`` (in place; the owned ones are popped from
    ``values``): the achieved DRAM bandwidth split into a peak and a fraction <= 0.9, half-work
    entries, efficiencies (boost above 1 folded into the clock), the thread count as cores.
    Returns the provenance ``clock`` entry."""
    if "efficiency.memory" in values:
        achieved = max(d["dram_bandwidth_bytes_per_s"], FIT_DRAM_PEAK) * values.pop("efficiency.memory")
        peak = max(d["dram_bandwidth_bytes_per_s"], achieved / 0.9)
        d["dram_bandwidth_bytes_per_s"] = float(peak)
        d["efficiency"]["memory"] = float(achieved / peak)
    for path in list(values):
        if path.startswith(HALF_WORK):
            d["cpu"].setdefault("half_work_macs", {})[path[len(HALF_WORK):]] = \
                float(f"{values.pop(path):.4g}")
        elif path.startswith("efficiency."):
            d["efficiency"][path.partition(".")[2]] = float(values.pop(path))
        elif path.startswith("cpu."):
            d["cpu"][path.partition(".")[2]] = float(values.pop(path))
    d["cpu"]["cores"] = int(threads)
    nominal = float(d["clock_hz"])
    boost = normalise_clock(d)
    if boost > 1.0:
        return {"reported_hz": nominal, "effective_hz": float(d["clock_hz"]),
                "note": "compute ran faster than the reported clock allows (boost clock): "
                        "clock_hz raised and compute efficiencies divided by the same factor"}
    return {"reported_hz": nominal}


REGISTRY.register_calibration("cpu", CalibrationModel(
    parameters=calibration_parameters, bounds=calibration_bounds,
    prepare=prepare_calibration, write=write_calibration,
    plausibility=calibration_plausibility))

__all__ = ["efficiency_key", "active_threads", "cache_bandwidth", "parallel_work", "half_work",
           "weight_stream_s", "reorder_s", "gather_s", "strided_inputs", "reduction_length",
           "uses_onednn", "GRAIN", "dw_gemm_fallback", "dw_jit_max_left_pad", "im2col_s",
           "column_shape", "is_depthwise_2d", "DW_JIT_MAX_LEFT_PAD", "calibration_parameters",
           "calibration_bounds", "prepare_calibration", "write_calibration", "normalise_clock",
           "HALF_WORK", "simd_tail_factor", "native_gemm_positions", "l3_hit_fraction"]
