"""GPU cost models: one pure function per op kind, registered for hardware kind ``"gpu"``.

Every function takes ``(op, hw, ctx)`` and returns an :class:`OpCost` whose fields are numpy
arrays when the spec's numeric leaves are arrays (vectorized sweeps). Formulas use numpy ufuncs
only; Python branches look at op shapes and ``ctx`` (Python values), never at ``hw`` values.

Model (shared/reference/hardware.md section 5):

* **GEMM-like ops** (conv as implicit GEMM, mm/bmm): GEMM-M = N*P*Q, GEMM-N = K/g,
  GEMM-K = C/g*R*S, ``count`` independent problems (bmm batch x groups x backward passes).
  CTA tiles ``tm x tn`` over (M, N), ``tiles = count*ceil(M/tm)*ceil(N/tn)*split_k``; the
  block scheduler is work conserving, so the most loaded SM runs ``ceil(tiles/sm_count)`` tiles
  at the full per-SM MAC rate: ``compute_s = ceil(tiles/SMs) * tm*tn*K_pad / (rate_SM*clock) /
  eff``. That is the guide's wave quantization (108 vs 109 tiles on 108 SMs -> 1 vs 2
  rounds). ``waves = ceil(tiles / (SMs * CTAs/SM))`` with CTAs/SM from shared memory
  (double-buffered A+B tiles) is reported too, but CTAs sharing an SM share its MAC rate, so
  time follows the per-SM rounds; CTAs/SM sets how many panels a wave covers (L2 reuse).
  Like cuBLAS/cuDNN heuristics we pick, per op and per configuration, the tile (the preset's
  tile, 2x in one dimension, halvings down to 32) and split-K factor with the lowest latency;
  the L2->SM operand traffic ``tiles*(tm+tn)*K_pad*bytes / l2_bandwidth`` is what makes large
  tiles win on large problems and small tiles only on small ones.
* **Units**: tensor cores only for a dtype listed in ``tensor_flops_per_clock_per_sm`` whose
  shapes are aligned (fp16/bf16: 8, tf32: 4, int8: 16 elements on GEMM-K and GEMM-N; for convs
  on channels per group, which is what cuDNN vectorizes); fp32 never (tf32 does). Otherwise
  CUDA cores: ``fp32_lanes_per_sm`` FMAs/clock, x ``fp16_vector_speedup`` for fp16/bf16 (half2),
  x4 for int8 (dp4a). Depthwise convs always run on CUDA cores (hardware.md 5.2).
* **DRAM traffic** (capacity model): weights and outputs once; an activation input comes from
  L2 when the producer just wrote it and it fits (ramp: all of it below ``l2/2``, none above
  ``l2``). For GEMMs the smaller operand stays resident while the larger streams panel by
  panel; it is re-read once per pass over the larger one's panels (passes shrink with the
  panels a wave covers) times a miss fraction ``clip(1 - l2/2 / (resident + panel), 0, 1)``.
  Monotone: more L2 never adds traffic.
* ``memory_s = max(dram_bytes / (bw * eff("memory")), l2_bytes / l2_bandwidth, dram_latency)``
  (a kernel lasts at least one DRAM round trip).
* Bandwidth-bound kernels (elementwise, norm, softmax, pools, resample, reductions, copies):
  memory as above, compute = vector ops on the CUDA cores (fp32 "opmath", as PyTorch computes
  half-precision elementwise work in fp32) / eff(kind).
* ``overhead_s`` = ``dispatch.eager_overhead_s`` per kernel in eager mode (PyTorch host
  dispatch, hardware.md 1.3), ``graph_overhead_s`` in fused mode. Eager fp16/bf16 runs as
  ``torch.autocast``: every conv/linear weight is cast per call, one extra kernel (read the
  fp32 weight, write the half copy) -- that is why published eager AMP batch-1 latencies are
  *higher* than fp32 (hardware.md 4: V100 12.78 vs 10.37 ms).
* ``dtype="amp"`` (CUDA autocast, what timm's ``benchmark.py --amp`` runs) on a graph traced
  with ``trace(..., autocast="fp16")``: every tensor keeps the dtype autocast gave it, so
  layer_norm / group_norm / softmax / sum / pow run in fp32, fp32 parameters (layer-scale
  gammas, position embeddings, cls tokens) keep the residual stream of LayerNorm / layer-scale
  models in fp32, and autocast's casts are ops of the graph (``_to_copy``), as are the fp32
  gradient casts in training; a MAC op computes in its inputs' dtype (``compute_dtype``).
  Evidence: timm RTX 3090 AMP inference, the plain fp16 costing left ConvNeXt-V2 / ConvFormer /
  PoolFormer / Swin-V2 25-60% too fast (issue 16); ``benchmarks/gpu_timm_fidelity.py`` measures it.

Kernel classes the timm RTX 3090 measurements expose (each cites its evidence where modelled):
cuDNN's serial NCHW->NHWC input transpose (``nchw_transposes``), depthwise kernels by layout
and pass (``conv_cost``), the NHWC kernels of convs on channels-last inputs in NCHW runs
(``effective_layout``), the block grid of PyTorch's depthwise weight gradient
(``wgrad_grid_rounds``) and cuDNN's channels-last one, whose time does not grow with the taps
but with the input positions (``cudnn_depthwise_wgrad_work``), grouped convs without a fast PyTorch 1.12 kernel
(``grouped_wide_key``), the
second pass of training batch norm and norm backward, absent in cuDNN's persistent
channels-last batch norm (``persistent_batch_norm``), and the GroupNorm channels-last copies
(``norm_cost``), InPlace-ABN's per-channel strided kernels on
channels-last tensors (``channel_block_strided``), a steady-state optimizer step traced per
parameter or with foreach kernels (``trace(foreach=)``).

MAC convention: ``op.macs`` counts multiply-accumulates of convs, matmuls and attention only
(torch.utils.flop_counter's count / 2). timm's published ``infer_gmacs`` (fvcore) also counts
batch norm at 2 per element; our counts match it on 98.5% of timm models within 2% once that
is added (87% without), so the difference is the convention, not the graphs (issue 16).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from codesign.hardware.spec import GPU_DP4A_MACS_PER_LANE

from codesign.ir.graph import (
    AttentionAttrs, ConvAttrs, ConvVariant, MatMulAttrs, Op, OpKind, Phase, TensorSpec,
)
from codesign.cost.base import (
    DTYPE_BYTES, CostContext, Num, OpCost, float_maximum, apply_launch_queue, op_bytes, registrar,
    tensor_bytes,
)
from codesign.cost.registry import REGISTRY
from codesign.types import Layout
from codesign.hardware.spec import HardwareSpec

#: elements GEMM-K / GEMM-N must be multiples of for tensor cores (16 bytes; NVIDIA "Matrix
#: Multiplication Background" guide, Tensor Core requirements; hardware.md 5.1)
TC_ALIGN = {"fp16": 8, "bf16": 8, "tf32": 4, "int8": 16}
#: share of L2 that holds data between kernels / across GEMM passes (the rest streams)
L2_RETAIN_FRACTION = 0.5
#: candidate tile scales per dimension relative to the preset's CTA tile, and the smallest
#: tile edge: cuBLAS tiles range from 256x128 / 128x256 down to 64x64 (hardware.md 5.1);
#: cuDNN goes to 32 for skinny problems. Both dimensions doubled (256x256) is not a CTA tile.
TILE_SCALES = (2.0, 1.0, 0.5, 0.25)
MIN_TILE = 32
#: split-K factors tried when GEMM-K per slice stays >= MIN_K_PER_SPLIT: up to 256 slices, so
#: a GEMM with a tiny output and a huge K (the weight gradient of a narrow Linear over
#: batch*tokens*tokens rows) can fill every SM of current GPUs (82-170) in one round. Evidence
#: (issue 16): with a cap of 16, CaiT's talking-heads weight gradients (4x4 outputs, K = 10.6M,
#: 72 per step) ran on 16 of the RTX 3090's 82 SMs and were 34% of its simulated training step;
#: timm's RTX 3090 train rows of cait_xxs36_384 measured 25-26% faster than simulated (NCHW /
#: NHWC), within 2% with slices up to 64 (saturated from 64: one round on 82 SMs); ConViT's
#: 9x3 positional-projection gradients (K = 7.4M) 16% -> 13%. No inference row and no row of
#: the fit half of the families moves (`python benchmarks/gpu_timm_fidelity.py eval --datasets
#: infer-nchw infer-nhwc train-nchw train-nhwc --families`)
SPLIT_K = (1, 2, 4, 8, 16, 32, 64, 128, 256)
MIN_K_PER_SPLIT = 256
#: shared-memory stages per CTA (double buffering) and threads per 32x64 warp tile
PIPELINE_STAGES = 2
WARP_TILE_ELEMENTS = 32 * 64
#: shared-memory traffic per L2->SM operand byte: stored once, read by the 2 warps that share
#: it in a 2x2 warp grid
SMEM_TRAFFIC_PER_OPERAND_BYTE = 3.0
#: accumulator bytes of split-K partial sums (fp32)
PARTIAL_BYTES = 4
#: Winograd F(2x2, 3x3): (2+3-1)^2 = 16 transformed GEMMs, 36/16 = 2.25x fewer multiplies
WINOGRAD_TILE_ELEMENTS = 16
WINOGRAD_MULT_REDUCTION = 2.25
#: vector ops per attention score in a flash kernel: scale, max, sub, exp, sum
FLASH_VECTOR_OPS_PER_SCORE = 5


# ----------------------------------------------------------------------------- shared pieces


def overhead_s(hw: HardwareSpec, ctx: CostContext, kernels: int = 1, op: Op | None = None) -> Num:
    """Host dispatch per kernel: eager framework or graph replay (hardware.md 1.3). An eager
    optimizer-phase ``op`` (``optimizer.zero_grad()``'s fills, a non-foreach step's
    per-parameter updates: a Python loop over the parameters calling plain tensor methods, no
    module call, no autograd record) takes ``dispatch.optimizer_overhead_s`` when the spec has
    one. Evidence: timm's PyTorch 1.12 RTX 3090 train rows time the whole loop for
    ``samples_per_sec`` but only forward to step for ``step_time``; batch / samples_per_sec -
    step_time is zero_grad's time: 0.046 ms + 5.12 us per parameter tensor, median 5.21 us
    (``benchmarks/gpu_timm_fidelity.py zero-grad``, 208 rows), against the 50 us per op of
    eager inference."""
    if not ctx.eager:
        return kernels * hw.dispatch.graph_overhead_s
    loop = hw.dispatch.optimizer_overhead_s
    if loop is not None and op is not None and op.phase is Phase.OPTIMIZER:
        return kernels * loop
    return kernels * hw.dispatch.eager_overhead_s


def l2_hit_fraction(nbytes: float, hw: HardwareSpec) -> Num:
    """Fraction of an activation input read from L2 because its producer just wrote it:
    1 up to ``l2/2``, falling linearly to 0 at ``l2`` (an LRU cache streaming a tensor larger
    than itself keeps none of its head). Non-decreasing in ``l2_bytes``."""
    l2 = hw.gpu.l2_bytes
    if type(l2) is float and type(nbytes) is float:   # one configuration (see _clip01)
        return _clip01((l2 - nbytes) / float_maximum(0.5 * l2, 1.0))
    return np.clip((l2 - nbytes) / np.maximum(0.5 * l2, 1.0), 0.0, 1.0)


def _clip01(x: float) -> float:
    """``np.clip(x, 0.0, 1.0)`` of a Python float, with numpy's comparisons (NaN propagates,
    -0.0 stays -0.0) but without its per-call overhead (~2 us; issue 16 speed)."""
    if x != x:
        return x
    x = x if x >= 0.0 else 0.0
    return x if x <= 1.0 else 1.0


def memory_time_s(dram_bytes: Num, l2_bytes: Num, hw: HardwareSpec, key: str = "memory") -> Num:
    """max(DRAM time at the achieved bandwidth, L2 time, one DRAM latency). ``key``: the
    efficiency key of the achieved DRAM bandwidth, "memory" or a kernel class's own
    ("memory.matmul": cuBLAS matmuls, which fall back to "memory"; see ``matmul_cost``)."""
    dram = dram_bytes / (hw.dram_bandwidth_bytes_per_s * hw.eff(key))
    l2 = l2_bytes / hw.gpu.l2_bandwidth_bytes_per_s
    latency = hw.dram_latency_s
    if type(dram) is float and type(l2) is float and type(latency) is float:
        return float_maximum(float_maximum(dram, l2), latency)   # one configuration: np.maximum, bit for bit
    return np.maximum(np.maximum(dram, l2), latency)


def tensor_core_eligible(hw: HardwareSpec, dtype: str, k: int, n: int) -> bool:
    """Tensor cores run a GEMM when the dtype has a tensor-core rate (never fp32; tf32 does)
    and GEMM-K and GEMM-N are multiples of 16 bytes' worth of elements (TC_ALIGN)."""
    if dtype == "fp32" or dtype not in hw.gpu.tensor_flops_per_clock_per_sm:
        return False
    a = TC_ALIGN[dtype]
    return k % a == 0 and n % a == 0


def mac_rate_per_sm(hw: HardwareSpec, dtype: str, tensor_core: bool) -> Num:
    """MACs per clock per SM: tensor cores (dense FLOPs/2) or CUDA-core FMAs (half2 for
    fp16/bf16, dp4a x4 for int8)."""
    g = hw.gpu
    if tensor_core:
        return g.tensor_flops_per_clock_per_sm[dtype] / 2.0
    lanes = g.fp32_lanes_per_sm
    if dtype in ("fp16", "bf16"):
        return lanes * g.fp16_vector_speedup
    if dtype == "int8":
        return lanes * GPU_DP4A_MACS_PER_LANE
    return lanes * 1.0


def vector_rate(hw: HardwareSpec) -> Num:
    """Elementwise ops/s of all CUDA cores (one fp32 op per lane per clock)."""
    g = hw.gpu
    return g.sm_count * g.fp32_lanes_per_sm * hw.clock_hz


def _scalarize(x):
    if type(x) is float:    # the common case, without np.ndim's overhead
        return x
    return float(x) if np.ndim(x) == 0 else x


#: traced tensor dtype -> compute dtype of a GEMM under "amp"; fp32 GEMMs under autocast keep
#: PyTorch's defaults: cuDNN convs in TF32 (``allow_tf32`` True), cuBLAS matmuls in fp32
AMP_COMPUTE = {"float16": "fp16", "bfloat16": "bf16"}


def compute_dtype(op: Op, ctx: CostContext, conv: bool = False) -> str:
    """The dtype a MAC op computes in: ``ctx.dtype``, or under "amp" (an autocast trace) the
    dtype autocast gave its first floating input."""
    if ctx.dtype != "amp":
        return ctx.dtype
    for t in op.inputs:
        if t.dtype.startswith(("float", "bfloat")):
            return AMP_COMPUTE.get(t.dtype, "tf32" if conv else "fp32")
    return "fp16"


def _autocast_cast(op: Op, ctx: CostContext) -> tuple[int, float, float]:
    """(extra kernels, extra DRAM read, extra DRAM write) of eager autocast casting the fp32
    weights of a conv / linear to half precision on every call. Under "amp" (an autocast
    trace) the casts are ops of the graph already."""
    if not (ctx.eager and ctx.dtype in ("fp16", "bf16")) or op.phase is not Phase.FORWARD:
        return 0, 0.0, 0.0
    w = [t for t in op.inputs if t.is_weight and t.dtype.startswith(("float", "bfloat"))]
    if not w:
        return 0, 0.0, 0.0
    numel = float(sum(t.numel for t in w))
    return 1, 4.0 * numel, DTYPE_BYTES[ctx.dtype] * numel


# ----------------------------------------------------------------------------- GEMM core


def gemm_candidate(hw: HardwareSpec, *, m: int, n: int, k: int, count: int, dtype: str, tensor_core: bool,
                   eff: Num, tm: Num, tn: Num, split: int = 1, a_bytes: float, b_bytes: float,
                   first_read_dram: Num, first_read_l2: float, write_bytes: float,
                   mem_key: str = "memory") -> dict:
    """One tiling choice of ``count`` [m, k] x [k, n] GEMMs.

    compute_s = ceil(tiles / SMs) * tm*tn*K_pad / (rate_SM * clock) / eff, with
    tiles = count*ceil(m/tm)*ceil(n/tn)*split and K_pad = ceil(k/(split*tk))*tk.
    DRAM = compulsory first reads + re-reads of the resident (smaller) operand + split-K
    partials that miss L2 + writes. ``a_bytes``/``b_bytes`` are the whole operands (all
    ``count`` problems); ``first_read_dram`` the compulsory DRAM reads after L2 hits;
    ``mem_key`` the efficiency key of the achieved DRAM bandwidth (``memory_time_s``).
    Returns arrays (or floats) for latency, compute_s, memory_s, DRAM/L2/on-chip bytes, waves.
    """
    g = hw.gpu
    bs = DTYPE_BYTES[dtype]
    tk = g.cta_tile_k
    tiles_m = np.ceil(m / tm)
    tiles_n = np.ceil(n / tn)
    tiles = count * tiles_m * tiles_n * split
    k_pad = np.ceil(k / (split * tk)) * tk
    rate = mac_rate_per_sm(hw, dtype, tensor_core) * hw.clock_hz
    per_sm = np.ceil(tiles / g.sm_count)
    compute = per_sm * tm * tn * k_pad / rate / eff

    # CTAs per SM from shared memory (double-buffered A and B tiles) and warps
    footprint = (tm + tn) * tk * bs * PIPELINE_STAGES
    warps = np.maximum(tm * tn / WARP_TILE_ELEMENTS, 1.0)
    cps = np.maximum(np.minimum(np.floor(g.shared_memory_bytes_per_sm / footprint),
                                np.floor(g.max_warps_per_sm / warps)), 1.0)
    waves = np.ceil(tiles / (g.sm_count * cps))  # scheduler waves of resident CTAs

    # re-reads of the resident operand: once per pass over the other operand's panels; a wave
    # of SMs x CTAs/SM tiles covers several panels at once
    a1, b1 = a_bytes / count, b_bytes / count
    if np.ndim(a1) or np.ndim(b1):   # many GEMMs along the trailing axis (_search_tilings)
        a_res = a1 <= b1
        resident = np.where(a_res, a1, b1)
        panels, across = np.where(a_res, tiles_n, tiles_m), np.where(a_res, tiles_m, tiles_n)
        panel = np.where(a_res, b1 / tiles_n, a1 / tiles_m)
    elif a1 <= b1:  # A resident, B streams in column panels
        resident, panels, across = a1, tiles_n, tiles_m
        panel = b1 / tiles_n
    else:
        resident, panels, across = b1, tiles_m, tiles_n
        panel = a1 / tiles_m
    in_flight = np.maximum(np.floor(g.sm_count * cps / (across * split)), 1.0)
    passes = np.ceil(panels / in_flight)
    retain = L2_RETAIN_FRACTION * g.l2_bytes
    miss = np.clip(1.0 - retain / np.maximum(resident + panel, 1.0), 0.0, 1.0)
    reread = count * resident * (passes - 1.0) * miss

    partials = 2.0 * (split - 1) * count * m * n * PARTIAL_BYTES
    partial_miss = np.where(split > 1, np.clip(1.0 - retain / np.maximum(partials, 1.0), 0.0, 1.0), 0.0)

    dram_read = first_read_dram + reread + partials / 2.0 * partial_miss
    dram_write = write_bytes + partials / 2.0 * partial_miss
    operand = tiles * (np.minimum(tm, m) + np.minimum(tn, n)) * k_pad * bs
    l2_traffic = operand + first_read_l2 + write_bytes + partials
    memory = memory_time_s(dram_read + dram_write, l2_traffic, hw, mem_key)
    return {
        "latency": np.maximum(compute, memory), "compute_s": compute, "memory_s": memory,
        "dram_read": dram_read, "dram_write": dram_write, "l2": l2_traffic,
        "onchip": SMEM_TRAFFIC_PER_OPERAND_BYTE * operand, "waves": waves, "rounds": per_sm,
        "tiles": tiles, "ctas_per_sm": cps,
    }


def _candidate_columns(splits: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tile-m scale, tile-n scale, split-K) of every candidate of :func:`gemm_cost` as
    read-only [candidates, 1] columns: each tile shape of TILE_SCALES x TILE_SCALES but both
    doubled, with each split-K factor of ``splits``."""
    cand = [(sm_, sn, s) for sm_ in TILE_SCALES for sn in TILE_SCALES
            if not (sm_ > 1 and sn > 1) for s in splits]
    cols = []
    for j in range(3):
        col = np.asarray([c[j] for c in cand], dtype=float).reshape(-1, 1)
        col.flags.writeable = False
        cols.append(col)
    return cols[0], cols[1], cols[2]


#: the candidate columns for each number of split-K factors that apply (a prefix of SPLIT_K),
#: built once at import instead of per GEMM (issue 16 speed)
_CANDIDATES = {n: _candidate_columns(SPLIT_K[:n]) for n in range(1, len(SPLIT_K) + 1)}


def gemm_cost(hw: HardwareSpec, ctx: CostContext, *, m: int, n: int, k: int, count: int, eff_key: str,
              tensor_core: bool, a_bytes: float, b_bytes: float, act_read: float,
              weight_read: float, write: float, macs: float, extra_kernels: int = 0,
              extra_dram_read: float = 0.0, extra_dram_write: float = 0.0,
              note: str = "", dtype: str | None = None, mem_key: str = "memory") -> OpCost:
    """The best (lowest-latency) candidate over tile shapes and split-K factors, computing in
    ``dtype`` (default ``ctx.dtype``), at the achieved DRAM bandwidth of ``mem_key``. The
    search of one configuration is memoised
    (:func:`_best_tiling`); a sweep's is vectorized over its configurations."""
    search = _gemm_search(hw, ctx, m=m, n=n, k=k, count=count, eff_key=eff_key,
                          tensor_core=tensor_core, a_bytes=a_bytes, b_bytes=b_bytes,
                          act_read=act_read, weight_read=weight_read, write=write,
                          extra_dram_read=extra_dram_read, extra_dram_write=extra_dram_write,
                          dtype=dtype, mem_key=mem_key)
    if hw.batch_shape or not _TILINGS.hashable(hw):
        best = _best_tiling_vectorized(hw, **search)
    else:
        best = _best_tiling(hw, **search)
    compute_s, memory_s, dram_read, dram_write, onchip, l2 = best
    return OpCost(
        compute_s=compute_s, memory_s=memory_s, overhead_s=overhead_s(hw, ctx, 1 + extra_kernels),
        dram_read_bytes=dram_read, dram_write_bytes=dram_write, onchip_bytes=onchip,
        l2_bytes=l2, macs=float(macs), vector_ops=0.0,
        unit="tensor_core" if tensor_core else "cuda_core", note=note)


def _gemm_search(hw: HardwareSpec, ctx: CostContext, *, m: int, n: int, k: int, count: int,
                 eff_key: str, tensor_core: bool, a_bytes: float, b_bytes: float, act_read: float,
                 weight_read: float, write: float, extra_dram_read: float = 0.0,
                 extra_dram_write: float = 0.0, dtype: str | None = None,
                 mem_key: str = "memory", macs: float = 0.0, extra_kernels: int = 0,
                 note: str = "") -> dict:
    """The tile search's arguments for :func:`gemm_cost`'s arguments (``macs``,
    ``extra_kernels`` and ``note`` do not enter the search)."""
    del macs, extra_kernels, note
    hit = l2_hit_fraction(act_read, hw)
    return dict(m=m, n=n, k=k, count=count, dtype=dtype or ctx.dtype, tensor_core=tensor_core,
                eff=hw.eff(eff_key), a_bytes=a_bytes, b_bytes=b_bytes,
                first_read_dram=act_read * (1.0 - hit) + weight_read + extra_dram_read,
                first_read_l2=act_read + weight_read, write_bytes=write + extra_dram_write,
                mem_key=mem_key)


def _hashable(hw: HardwareSpec) -> bool:
    """False for a spec with a knob set to a 0-d array (one configuration, not hashable)."""
    try:
        hash(hw)
    except TypeError:
        return False
    return True


#: the figures of the chosen candidate that ``gemm_cost`` keeps, in its OpCost's order
_BEST_KEYS = ("compute_s", "memory_s", "dram_read", "dram_write", "onchip", "l2")


def _split_count(k: int) -> int:
    """How many split-K factors apply to GEMM-K ``k``: a prefix of SPLIT_K (k // s falls as s
    grows)."""
    return sum(1 for s in SPLIT_K if s == 1 or k // s >= MIN_K_PER_SPLIT)


def _candidates(hw: HardwareSpec, k, n_splits: int | None = None, **search) -> tuple[dict, int]:
    """Every (tile shape, split-K) candidate of a GEMM at once, along a leading axis (hardware
    arrays of a sweep, or the GEMMs of one batched search, along the trailing axis):
    gemm_candidate's figures and the number of candidates. ``n_splits`` defaults to that of
    ``k`` (a batch passes its GEMMs' common count)."""
    g = hw.gpu
    scale_m, scale_n, split = _CANDIDATES[_split_count(k) if n_splits is None else n_splits]
    tm = np.maximum(np.floor(g.cta_tile_m * scale_m), MIN_TILE)
    tn = np.maximum(np.floor(g.cta_tile_n * scale_n), MIN_TILE)
    return gemm_candidate(hw, k=k, tm=tm, tn=tn, split=split, **search), len(split)


class _SearchMemo:
    """Bounded LRU memo of one configuration's tile searches: spec -> (search arguments, their
    types) -> the chosen figures, as ``functools.lru_cache(typed=True)`` keeps them (at most
    ``maxsize`` searches of each of the ``specs`` most recent specs), plus batched insertion
    (:func:`prefetch_tilings`). A spec is hashed once per lookup table (its hash costs ~3 us),
    not once per GEMM. Only pure results go in, so a hit returns exactly what the search
    would."""

    def __init__(self, maxsize: int, specs: int):
        self.maxsize = maxsize
        self.specs = specs
        self.tables: dict = {}
        self.last: tuple = (None, None)     # (spec, its table): the spec object last looked up

    def table(self, hw: HardwareSpec) -> dict:
        """The searches memoised for ``hw`` (an empty table the first time; most recent last).
        The spec object of the previous lookup is recognised by identity, without hashing (a
        simulation looks the same spec up once per GEMM)."""
        last, table = self.last
        if hw is last:
            return table
        table = self.tables.pop(hw, None)
        if table is None:
            table = {}
            if len(self.tables) >= self.specs:
                del self.tables[next(iter(self.tables))]
        self.tables[hw] = table
        self.last = (hw, table)
        return table

    def hashable(self, hw: HardwareSpec) -> bool:
        """False for a spec with a knob set to a 0-d array (one configuration, not hashable)."""
        return hw is self.last[0] or _hashable(hw)

    @staticmethod
    def key(search: dict) -> tuple:
        return (*search.items(), *map(type, search.values()))

    def get(self, table: dict, key: tuple):
        value = table.pop(key, None)
        if value is not None:
            table[key] = value              # most recently used last
        return value

    def put(self, table: dict, key: tuple, value: tuple) -> None:
        table[key] = value
        if len(table) > self.maxsize:
            del table[next(iter(table))]

    def __len__(self) -> int:
        return sum(map(len, self.tables.values()))

    def clear(self) -> None:
        self.tables.clear()
        self.last = (None, None)


#: the searches of one configuration done so far in this process
_TILINGS = _SearchMemo(maxsize=2048, specs=16)


def clear_search_memo() -> None:
    """Forget every memoised GEMM tile search (benchmarks/simulate_speed.py times a first
    simulation this way; results never depend on the memo)."""
    _TILINGS.clear()


def _best_tiling(hw: HardwareSpec, **search) -> tuple[float, ...]:
    """One configuration: :func:`_search_tiling`, memoised. The search is a pure function of
    the (hashable, frozen) spec and the GEMM's scalars, and costs ~60-100 us of numpy calls;
    repeated simulations of a graph (sweeps over dtypes or modes, calibration, validation) and
    repeated GEMM shapes across models then reuse it (issue 16 speed). Keys keep the argument
    types (an int 1 and a float 1.0 apart), so a hit returns exactly what the call would."""
    table = _TILINGS.table(hw)
    key = _TILINGS.key(search)
    best = _TILINGS.get(table, key)
    if best is None:
        best = _search_tiling(hw, **search)
        _TILINGS.put(table, key, best)
    return best


def _search_tiling(hw: HardwareSpec, **search) -> tuple[float, ...]:
    """One configuration, one GEMM: the first fastest candidate's figures (``_BEST_KEYS``) as
    floats."""
    c, n_cand = _candidates(hw, **search)
    first = int(np.argmin(np.asarray(c["latency"], dtype=float).reshape(n_cand)))

    def chosen(v):
        v = np.asarray(v, dtype=float)
        return float(v.reshape(n_cand)[first] if v.ndim else v[()])
    return tuple(chosen(c[key]) for key in _BEST_KEYS)


#: the search arguments that differ between the GEMMs of one batch (a [1, GEMMs] row each)
_BATCH_COLUMNS = ("m", "n", "k", "count", "eff", "a_bytes", "b_bytes", "first_read_dram",
                  "first_read_l2", "write_bytes")


def _search_tilings(hw: HardwareSpec, searches: list[dict]) -> list[tuple[float, ...]]:
    """One configuration, many GEMMs: :func:`_search_tiling` of each, bit for bit, in one numpy
    search per (split-K count, dtype, unit, DRAM bandwidth key) group over [candidates, GEMMs]
    arrays instead of ~60-100 us of numpy calls per GEMM. Every element goes through the same
    IEEE operations as in the one-GEMM search, and ``argmin`` along the candidates picks the
    first fastest."""
    out: list = [None] * len(searches)
    groups: dict = {}
    for j, s in enumerate(searches):
        group = (_split_count(s["k"]), s["dtype"], s["tensor_core"], s["mem_key"])
        groups.setdefault(group, []).append(j)
    for (n_splits, dtype, tensor_core, mem_key), idx in groups.items():
        cols = {name: np.asarray([searches[j][name] for j in idx]).reshape(1, -1)
                for name in _BATCH_COLUMNS}
        c, _ = _candidates(hw, n_splits=n_splits, dtype=dtype, tensor_core=tensor_core,
                           mem_key=mem_key, **cols)
        lat = np.asarray(c["latency"], dtype=float)
        first = np.argmin(lat, axis=0)
        gemms = np.arange(len(idx))
        figures = [np.broadcast_to(np.asarray(c[key], dtype=float), lat.shape)[first, gemms].tolist()
                   for key in _BEST_KEYS]
        for t, j in enumerate(idx):
            out[j] = tuple(f[t] for f in figures)
    return out


def _best_tiling_vectorized(hw: HardwareSpec, **search) -> tuple:
    """A spec whose knobs are arrays (sweeps; or a 0-d array, one configuration that cannot be
    hashed): the first fastest candidate per configuration, each figure an array of the
    spec's batch shape (a float for shape ())."""
    c, n_cand = _candidates(hw, **search)
    shape = hw.batch_shape
    n_cfg = int(np.prod(shape))
    lat = np.asarray(c["latency"], dtype=float).reshape(n_cand, -1)
    lat = np.broadcast_to(lat, (n_cand, n_cfg))      # [candidates, configs]
    pick = np.argmin(lat, axis=0)
    cols = np.arange(lat.shape[1])

    def chosen(v):
        v = np.asarray(v, dtype=float)
        v = np.broadcast_to(v.reshape(v.shape[0], -1) if v.ndim else v, lat.shape)
        return _scalarize(v[pick, cols].reshape(shape))
    return tuple(chosen(c[key]) for key in _BEST_KEYS)


# ----------------------------------------------------------------------------- MAC ops


def _float_numel_bytes(t, dtype: str) -> float:
    size = DTYPE_BYTES[dtype] if t.dtype.startswith(("float", "bfloat")) else t.itemsize
    return float(t.numel * size)


@registrar(REGISTRY, OpKind.CONV, "gpu")
def conv_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """:func:`_conv_cost` plus the gather of non-contiguous activation inputs
    (:func:`gather_copies`), in the layout PyTorch runs the conv in (:func:`effective_layout`)."""
    layout = effective_layout(op, ctx)
    if layout != ctx.layout:
        ctx = replace(ctx, layout=layout)
    # a channels-last input is the NHWC kernels' own layout: no gather for it
    cost = gather_copies(_conv_cost(op, hw, ctx), op, hw, ctx,
                         skip_channels_last=layout == Layout.NHWC)
    return conv_layout_copies(cost, op, hw, ctx)


def conv_weight(op: Op) -> TensorSpec | None:
    """The weight of a conv op (forward: inputs (x, w[, b]); backward: (grad_out, x, w))."""
    i = 2 if op.is_backward_kernel else 1
    return op.inputs[i] if len(op.inputs) > i else None


def _both_orders(t: TensorSpec) -> bool:
    """A 4-D / 5-D tensor whose NCHW and channels-last orders coincide (one channel, or one
    spatial position): ``.contiguous(channels_last)`` of it copies nothing."""
    return len(t.shape) < 4 or t.shape[1] == 1 or math.prod(t.shape[2:]) == 1


def conv_layout_copies(cost: OpCost, op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """A conv whose weight is channels-last (a model converted with
    ``model.to(memory_format=torch.channels_last)``, traced with ``trace(...,
    channels_last=True)``) runs channels-last whatever its input (:func:`effective_layout`),
    and PyTorch first converts every activation operand that is not:
    ``input.contiguous(backend_memory_format)`` (and ``grad_output.contiguous(...)`` in the
    backward) in ``_convolution`` / ``convolution_backward``
    (aten/src/ATen/native/Convolution.cpp, PyTorch 1.12 to 2.x; the format from
    ``cudnn_conv_suggest_memory_format``: input OR weight channels-last). Each dense NCHW
    operand (a ``reshape`` copy of a channels-last tensor, a GroupNorm output: PyTorch's CUDA
    group_norm writes NCHW) is one copy kernel in series, read + write of its bytes; strided
    operands already pay their gather (:func:`gather_copies`, which writes them in the conv's
    format), channels-last ones and those dense in both orders pay nothing. Evidence:
    PyTorch's source above (the copies happen inside the conv's aten op, so the trace does
    not show them); on timm's RTX 3090 NHWC rows traced channels-last they are 0.27% (train)
    / 0.24% (inference) of the simulated time on average, up to ~2.6% (MobileViT-V2,
    HaloNet / BoTNet backward: attention outputs reshaped back to 4-D), so the rows barely
    move (``gpu_timm_fidelity.py shares --copies``, ``compare``)."""
    moved = conv_layout_copy_bytes(op, ctx)
    if not moved:
        return cost
    seconds = memory_time_s(2.0 * moved, 2.0 * moved, hw)
    return serial_kernels(cost, seconds, 1, moved, moved, hw, ctx,
                          "NCHW -> channels-last copy of the conv's inputs")


def conv_layout_copy_bytes(op: Op, ctx: CostContext) -> float:
    """Bytes of the NCHW activation operands a conv converts to channels-last
    (:func:`conv_layout_copies`); 0 for a conv whose weight is not channels-last."""
    w = conv_weight(op)
    if not isinstance(op.attrs, ConvAttrs) or w is None or not w.channels_last:
        return 0.0
    operands = (op.inputs[0], op.inputs[1]) if op.is_backward_kernel else (op.inputs[0],)
    return float(sum(tensor_bytes(t, ctx.dtype) for t in operands
                     if not t.is_weight and t.contiguous and not t.channels_last
                     and not _both_orders(t)))


def effective_layout(op: Op, ctx: CostContext) -> Layout:
    """The layout a conv runs in: ``ctx.layout``, except that a conv whose activation input or
    weight is channels-last (``TensorSpec.channels_last``) in an NCHW run runs in NHWC. PyTorch
    picks a conv's memory format with ``suggest_memory_format`` of its input and weight
    (``cudnn_conv_suggest_memory_format`` / ``_determine_backend_memory_format`` in
    aten/src/ATen/native/Convolution.cpp): channels-last when either is, so such a conv (and its
    backward, keyed on the forward input) runs cuDNN's NHWC kernels -- no NCHW->NHWC transpose,
    cuDNN's depthwise kernels instead of PyTorch's NCHW conv_depthwise2d -- and writes a
    channels-last output (an NCHW input into a channels-last weight is converted first:
    :func:`conv_layout_copies`). Where the tensors come from: timm's LayerNorm2d
    (``layer_norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)``) leaves a channels-last view and
    the residual adds after it keep that layout (TensorIterator follows its inputs' strides).
    Evidence: timm RTX 3090 AMP, the LayerNorm2d families' NCHW rows came out too slow where
    their NHWC rows did not (``gpu_timm_fidelity.py eval --datasets infer-nchw infer-nhwc
    --families``: ConvNeXt -16.6% vs -6.8%, ConvFormer -20.3% vs -7.3%, CAFormer -18.0% vs
    -9.4%, ConvNeXt-V2 -11.1% vs -5.4%; train-nchw ConvNeXt -22.6%)."""
    if ctx.layout == Layout.NCHW and isinstance(op.attrs, ConvAttrs) and op.inputs:
        w = conv_weight(op)
        if op.conv_input.channels_last or (w is not None and w.channels_last):
            return Layout.NHWC
    return ctx.layout


def gather_copies(cost: OpCost, op: Op, hw: HardwareSpec, ctx: CostContext,
                  skip_channels_last: bool = False) -> OpCost:
    """A conv or norm kernel takes dense tensors: PyTorch makes a non-contiguous activation
    input (a channel slice, a permuted view) contiguous first, a copy kernel in series (read +
    write of its bytes). Elementwise ops read strided tensors directly (TensorIterator) and
    cuBLAS takes transposed operands, so neither pays it. Evidence: InceptionNeXt's branches
    (channel slices of one tensor) and ConvNeXt's permuted gradients; the A100 training ratio
    InceptionNeXt-T / ConvNeXt-T (paper 1.57) came out 1.74 without it. ``skip_channels_last``:
    a channels-last input of a conv run in NHWC (a channels-last run, or
    :func:`effective_layout`) is taken as it is."""
    moved = sum(tensor_bytes(t, ctx.dtype) for t in op.inputs
                if not t.is_weight and not t.contiguous
                and not (skip_channels_last and t.channels_last))
    if not moved:
        return cost
    seconds = memory_time_s(2.0 * moved, 2.0 * moved, hw)
    return serial_kernels(cost, seconds, 1, moved, moved, hw, ctx,
                          "gather of non-contiguous inputs")


#: channels per group from which a channels-last grouped conv is "wide" (its own kernel class)
WIDE_GROUP = 16
#: groups from which a channels-last grouped conv of at most :data:`MANY_GROUPS_MAX_WIDTH`
#: channels per group is not "wide" (ResNeXt's 32-group convs run the fast path)
WIDE_GROUP_MAX_GROUPS = 32
#: channels per group up to which many groups run the fast path (ResNeXt-101 32x8d's 64-wide
#: and 32x16d / 32x32d's 64-256-wide convs in 32 groups do not)
MANY_GROUPS_MAX_WIDTH = 32


def grouped_wide_key(a: ConvAttrs, layout) -> str | None:
    """The kernel class of a grouped (not depthwise) conv that PyTorch 1.12 / cuDNN 8.3 has
    no fast kernel for: ``conv.grouped_nhwc_wide`` in channels-last, ``conv.grouped_nchw_wide``
    in NCHW; None for other convs. The fast kernels seen in the data take square 3x3 undilated
    groups (as many output as input channels per group) that are narrow (< :data:`WIDE_GROUP`
    channels per group) or many (>= :data:`WIDE_GROUP_MAX_GROUPS` groups of at most
    :data:`MANY_GROUPS_MAX_WIDTH`); every other grouped conv is in the class: wide groups,
    other kernel sizes, dilation, unequal input / output widths (evidence in
    :func:`_conv_cost`). Both keys fall back to ``conv.grouped`` (PyTorch 2 rows unchanged)."""
    if a.variant is not ConvVariant.GROUPED:
        return None
    cin_g, cout_g = a.in_channels // a.groups, a.out_channels // a.groups
    square_3x3 = (cin_g == cout_g and tuple(a.kernel) == (3, 3)
                  and all(d == 1 for d in a.dilation))
    many = a.groups >= WIDE_GROUP_MAX_GROUPS and cin_g <= MANY_GROUPS_MAX_WIDTH
    if square_3x3 and (cin_g < WIDE_GROUP or many):
        return None
    return "conv.grouped_nhwc_wide" if layout == Layout.NHWC else "conv.grouped_nchw_wide"


def _conv_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Convolution as implicit GEMM (cuDNN/CUTLASS; hardware.md 5.2).

    GEMM-M = N*P*Q (input positions for transposed convs), GEMM-N = K/g, GEMM-K = C/g*R*S,
    ``groups * passes`` independent problems; MACs = M*N*K*g*passes = ``op.macs``. Tensor cores
    when the dtype has them and C/g, K/g are aligned; efficiency ``conv.<variant>``. In NCHW a
    tensor-core conv pays cuDNN's NCHW->NHWC transpose of its input (read + write) -- the reason
    channels_last is recommended (hardware.md 5.2).
    Depthwise: CUDA cores, compute = MACs / CUDA-core rate / eff, memory from input + weights +
    output (no GEMM mapping; hardware.md 5.2). eff is ``conv.depthwise`` (cuDNN, channels-last),
    ``conv.depthwise_nchw`` (PyTorch's own conv_depthwise2d kernels, which NCHW tensors get),
    and ``conv.depthwise_wgrad`` for the weight-gradient pass of a backward op (a reduction
    over N*H*W per tap; in NCHW PyTorch's kernel runs one block per (channel, tap), in rounds of
    full SMs: :func:`wgrad_grid_rounds`). Evidence: timm RTX 3090 AMP, depthwise-heavy nets (MobileNet/
    EfficientNet/MnasNet/LCNet families) came out ~10% too fast in NCHW and ~1% in NHWC with one
    depthwise efficiency; MobileNet-V2/V3 and EfficientNet training 60-117% too fast.
    Grouped convs with at least :data:`WIDE_GROUP` channels per group and fewer than
    :data:`WIDE_GROUP_MAX_GROUPS` groups in channels-last use ``conv.grouped_nhwc_wide``
    (:func:`grouped_wide_key`; falls back to ``conv.grouped``; the PyTorch 1.x software
    profile derates it): timm's RTX 3090 PyTorch 1.12 training rows run such models at
    0.3-0.8x their own NCHW throughput (RegNetX/Y/V: 40-64 channels per group in 2-34 groups;
    NFNet: 128 in 2-6; gcresnext50ts / bat_resnext26ts: 32 in 2-16; EfficientNet-B0-G16: 16)
    while narrow groups (RegNetZ: 8 per group) and ResNeXt's 32 groups (32x4d: 4-32 per group,
    16- and 32-wide included) run 1.3-1.4x faster in NHWC, like dense convnets. The group
    count bound is an observed boundary of PyTorch 1.12 / cuDNN 8.3's kernel choice, not a
    derived one. Grouped convs that are not square 3x3 groups are in the class at any width:
    SENet-154's 3x3 convs with twice as many output as input channels per group (64 groups,
    2-16 in) run 0.63x their NCHW speed, SK-ResNeXt's dilated 3x3 branch (32 groups) 0.73x and
    EfficientNet-B0-G16's 5x5 convs (16 per group, 42-72 groups) 0.42x, while ResNeXt's square
    3x3 convs with the same group counts and widths run 1.4-1.5x (fit-half train NHWC MAPE
    11.0% -> 9.1%, legacy_senet154 +94% -> +1.5%; the kernel-size / dilation part was found on
    held-out rows: skresnext50_32x4d +52% -> -17%, efficientnet_b0_g16_evos +76% -> +40%).
    The group bound holds up to 32 channels per group: timm's ResNeXt-101 32x16d / 32x32d /
    32x48d train rows (not in the benchmark's subset; 16-384 per group in 32 groups) run 0.50 /
    0.34 / 0.35x their NCHW speed, 32x8d (8-64) 1.13x, 32x4d (4-32) 1.51x; with the width
    limit the fit half stays at 9.1-9.2% and 34 grouped-conv models outside the subset
    (`eval --models ...`, listed in docs/gpu-model.md) go from 50.5% to 29.4% train NHWC MAPE.
    Without the group bound the fit half gets worse (fit-half MAPE 9.1% -> 10.2%: ResNeXt's
    16- and 32-wide convs in 32 groups count as slow; ``gpu_timm_fidelity.py fit --datasets
    train-nhwc --software --keys conv.grouped_nhwc_wide``, which refits the factor to 0.079
    with and without the shape rule); the per-model slowdowns of the class still scatter (~9x
    RegNetX-040 to ~30x RegNetY-040 of the tensor-core time), so one factor is a compromise.
    """
    a = op.attrs
    if not isinstance(a, ConvAttrs):
        return _bandwidth_cost(op, hw, ctx, "conv", "cuda_core")
    if a.variant is ConvVariant.DEPTHWISE:
        return _depthwise_cost(op, hw, ctx)
    direct_args, *wino_args = _conv_gemms(op, hw, ctx)
    direct = gemm_cost(hw, ctx, **direct_args)
    if direct_args["tensor_core"] and ctx.layout == "nchw":
        return nchw_transposes(direct, direct_args["act_read"], direct_args["write"], hw, ctx)
    if not wino_args:
        return direct
    return pick_faster(direct, gemm_cost(hw, ctx, **wino_args[0]))


def _depthwise_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """A depthwise conv on CUDA cores (see :func:`_conv_cost`)."""
    a = op.attrs
    dtype = compute_dtype(op, ctx, conv=True)
    act, w, out = op_bytes(op, ctx.dtype)
    casts, cast_r, cast_w = _autocast_cast(op, ctx)
    hit = l2_hit_fraction(act, hw)
    dram_r = act * (1.0 - hit) + w + cast_r
    dram_w = out + cast_w
    rate = hw.gpu.sm_count * mac_rate_per_sm(hw, dtype, False) * hw.clock_hz
    # forward / grad-input: cuDNN's NHWC kernels in channels-last, PyTorch's own
    # conv_depthwise2d kernels on NCHW tensors (efficiency conv.depthwise_nchw); the
    # weight gradient is a reduction over N*H*W per filter tap (conv.depthwise_wgrad)
    nchw = ctx.layout == Layout.NCHW
    fwd_key = "conv.depthwise_nchw" if nchw else "conv.depthwise"
    per_pass = op.macs / max(a.passes, 1)
    wgrad = a.passes > 1 or (op.is_backward_kernel and len(op.outputs) == 1
                             and op.outputs[0].is_weight)
    compute = per_pass * (a.passes - int(wgrad)) / rate / hw.eff(fwd_key)
    if wgrad:
        # PyTorch's own weight-gradient kernel (NCHW) launches one block per (channel, tap);
        # cuDNN's channels-last one streams the (input position, channel) pairs once
        work = per_pass * wgrad_grid_rounds(op, hw) if nchw else cudnn_depthwise_wgrad_work(
            per_pass, a, math.prod(op.conv_input.shape[2:]), math.prod(op.conv_output_spatial))
        compute = compute + work / rate / hw.eff("conv.depthwise_wgrad")
    memory = memory_time_s(dram_r + dram_w, act + w + out, hw)
    return OpCost(
        compute_s=_scalarize(compute), memory_s=_scalarize(memory),
        overhead_s=overhead_s(hw, ctx, 1 + casts), dram_read_bytes=_scalarize(dram_r),
        dram_write_bytes=float(dram_w), onchip_bytes=float(act + w + out),
        l2_bytes=float(act + w + out), macs=float(op.macs), vector_ops=0.0,
        unit="cuda_core", note="depthwise on CUDA cores")


def _conv_gemms(op: Op, hw: HardwareSpec, ctx: CostContext) -> tuple[dict, ...]:
    """:func:`gemm_cost`'s arguments of a GEMM-mapped (not depthwise) conv: the implicit GEMM,
    then Winograd's where cuDNN may pick it (CUDA cores, :func:`winograd_eligible`)."""
    a = op.attrs
    dtype = compute_dtype(op, ctx, conv=True)
    act, w, out = op_bytes(op, ctx.dtype)
    casts, cast_r, cast_w = _autocast_cast(op, ctx)
    variant = a.variant
    eff_key = f"conv.{variant.value}"
    g = a.groups
    cin_g, cout_g = a.in_channels // g, a.out_channels // g
    eff_key = grouped_wide_key(a, ctx.layout) or eff_key
    kvol = math.prod(a.kernel)
    x = op.conv_input  # the forward input (backward ops carry grad_out first)
    if a.transposed:
        m = x.numel // max(a.in_channels, 1)
    else:
        m = x.shape[0] * math.prod(op.conv_output_spatial)
    n, k = cout_g, cin_g * kvol
    count = g * a.passes
    tc = tensor_core_eligible(hw, dtype, cin_g, cout_g)
    a_bytes = _float_numel_bytes(x, dtype)
    direct = dict(
        m=m, n=n, k=k, count=count, eff_key=eff_key, tensor_core=tc,
        a_bytes=a_bytes, b_bytes=max(w, 1.0), act_read=act, weight_read=w, write=out,
        macs=op.macs, extra_kernels=casts, extra_dram_read=cast_r,
        extra_dram_write=cast_w, note=f"implicit GEMM {m}x{n}x{k} x{count}",
        dtype=dtype)
    if tc or not winograd_eligible(op):
        return (direct,)
    # Winograd F(2x2, 3x3) (Lavin & Gray, CVPR 2016; cuDNN CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD):
    # 16 batched GEMMs [tiles, C] x [C, K] over 2x2 output tiles, 2.25x fewer multiplies;
    # transforms fused (input read once). cudnn.benchmark keeps the faster algorithm.
    p, q = op.conv_output_spatial
    wm = x.shape[0] * -(-p // 2) * -(-q // 2)
    wino = dict(
        m=wm, n=n, k=cin_g, count=WINOGRAD_TILE_ELEMENTS, eff_key=eff_key,
        tensor_core=False, a_bytes=a_bytes, b_bytes=max(w, 1.0) * WINOGRAD_TILE_ELEMENTS / 9,
        act_read=act, weight_read=w, write=out,
        macs=op.macs / WINOGRAD_MULT_REDUCTION, extra_kernels=casts, extra_dram_read=cast_r,
        extra_dram_write=cast_w, note=f"winograd F(2x2,3x3) 16 x GEMM {wm}x{n}x{cin_g}",
        dtype=dtype)
    return direct, wino


def serial_kernels(cost: OpCost, seconds: Num, kernels: int, dram_r: float, dram_w: float,
                   hw: HardwareSpec, ctx: CostContext, note: str) -> OpCost:
    """``cost`` followed by ``kernels`` more kernels that run ``seconds`` in series with it
    (added to both compute and memory time, so latency grows by exactly ``seconds``), each
    with its own dispatch."""
    return replace(
        cost, compute_s=_scalarize(cost.compute_s + seconds),
        memory_s=_scalarize(cost.memory_s + seconds),
        overhead_s=cost.overhead_s + overhead_s(hw, ctx, kernels),
        dram_read_bytes=_scalarize(cost.dram_read_bytes + dram_r),
        dram_write_bytes=_scalarize(cost.dram_write_bytes + dram_w),
        note=f"{cost.note}; {note}")


def nchw_transposes(cost: OpCost, act: float, out: float, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """cuDNN's tensor-core convolutions are NHWC kernels: on NCHW tensors cuDNN first transposes
    the activation input to NHWC (``nchwToNhwcKernel``), a bandwidth-bound kernel in series with
    the conv (read + write of the input). The output is taken as written in NCHW by the conv's
    epilogue (``out`` is not moved again). Evidence: timm RTX 3090 AMP inference, channels-last
    runs ResNets 1.14-1.19x faster (resnet50 at 224: 3730 vs 3219 img/s); the same transpose
    folded into the conv's own DRAM traffic (hidden under its compute time) gave 1.04x, and
    transposing the output back as well gives 1.32x."""
    del out
    seconds = memory_time_s(2.0 * act, 2.0 * act, hw)
    return serial_kernels(cost, seconds, 1, act, act, hw, ctx, "NCHW->NHWC input transpose (cuDNN)")


#: filter taps up to which cuDNN's channels-last depthwise weight gradient costs in proportion
#: to its MACs; from there on its time stays that of this many taps (see
#: :func:`cudnn_depthwise_wgrad_work`). 9 = a 3x3 filter, the smallest depthwise filter of the
#: rows ``conv.depthwise_wgrad`` was fitted on, so the efficiency keeps its meaning there.
CUDNN_DW_WGRAD_TAPS = 9
#: the largest filter edge of cuDNN's fast channels-last depthwise kernels seen in the data:
#: ConvMixer's 7x7 convs run 1.7x (inference, PyTorch 2.4) / 2.2x (training, 1.12) faster in
#: channels-last than in NCHW, its 9x9 convs 0.50x / 0.42-0.49x (convmixer_1024_20_ks9_p14,
#: convmixer_1536_20), a slower path this model does not cover (kept MAC-proportional)
CUDNN_DW_FAST_MAX_EDGE = 7


def cudnn_depthwise_wgrad_work(per_pass: float, a: ConvAttrs, in_positions: int,
                               out_positions: int) -> float:
    """MAC-equivalent work of cuDNN's channels-last (NHWC) depthwise weight gradient, costed
    at ``conv.depthwise_wgrad``: ``per_pass * min(1, CUDNN_DW_WGRAD_TAPS / taps) *
    in_positions / out_positions`` for filters up to :data:`CUDNN_DW_FAST_MAX_EDGE` wide, i.e.
    its time follows the N*H*W*C (input position, channel) pairs it streams, not the taps each
    is reduced into (held on chip), from 3x3 on; ``per_pass`` (MAC-proportional) for larger
    filters. ``in_positions`` / ``out_positions``: spatial positions of the conv's input (H*W)
    and output (P*Q; ``per_pass`` counts N*P*Q*C*taps); 0 for either (an empty map): ratio 1.

    The NCHW path is PyTorch's ``conv_depthwise2d_grad_weight_kernel``, one block per
    (channel, tap), whose time grows with the taps (:func:`wgrad_grid_rounds`). PyTorch 1.12
    sends every depthwise conv on a channels-last input to cuDNN (``use_cudnn_depthwise``:
    "always use cudnn_depthwise for channels_last format"), backward included.

    Evidence: timm RTX 3090 PyTorch 1.12 channels-last training rows (subset of
    ``benchmarks/gpu_timm_fidelity.py``), measured minus simulated step time regressed on the
    simulated depthwise weight-gradient time by filter size (a helper's one-off analysis, its
    script not in the repo; the before / after figures below are ``eval`` runs), costed in
    proportion to MACs:
    3x3 1.41x, 5x5 0.36x (9/25 = 0.36), 7x7 0.13x (9/49 = 0.18; ConvNeXt-T alone 0.17x,
    ConvMixer-768/32 0.13x); NCHW rows (PyTorch's kernel) 0.81x / 0.92x / 1.39x, MAC-
    proportional. ConvMixer-768/32 measures 2.2x faster in channels-last than in NCHW where the
    MAC-proportional cost gave 1.24x; ConvNeXt-T / -S (channels-last depthwise convs in both
    layouts) came out 15-18% too slow in both train files; after: ConvNeXt-T +1.5 / -0.4%,
    ConvNeXt-S -2.7 / -3.2% (NCHW / NHWC), ConvMixer-768/32 NHWC -36.1 -> -3.4%; held-out
    train MAPE NCHW 7.1 -> 6.6%, NHWC 15.0 -> 14.8%, fit half NHWC 9.2 -> 8.8%, no inference
    row moves. Saturating at 16 or 25 taps instead of 9 leaves the fit-half MAPE within 0.2
    points and ConvNeXt / ConvMixer 4-20% too slow.

    Input positions (``in_positions / out_positions``, 4 for a stride-2 conv): the kernel
    streams the input x (H*W positions) as well as dy (P*Q); a stride-2 conv costs its 4x as
    many input (position, channel) pairs, as if every input position met every tap (masked).
    Evidence: the MobileNet-style rows (stride-2 3x3 / 5x5 depthwise convs at 112x112 and
    56x56 inputs) came out 5-24% too fast after the tap saturation above; measured minus
    simulated step time regressed on the wgrad time of stride-1 and stride-2 convs (fit-half
    families, 3x3-7x7) wants 0.45x / 5.4x the output-position cost, and a one-factor scan of
    the stride-2 multiple on the fit half (each row's depthwise backward ops re-costed; a
    helper's analysis, not a repo command) is best at 4 (fit-half MAPE 8.49%; x3 8.53, x5
    8.65, x1 9.05%), the input-position count, with nothing refitted (``gpu_timm_fidelity.py
    eval --datasets train-nhwc``): train NHWC fit half 9.1 -> 8.5%, held-out 14.0 ->
    13.3% (within 10%: 66.7 -> 70.2%); FBNet-C +8.7 -> -0.8%, SPNASNet +8.4 -> +1.1%,
    MobileNet-V3-L +24.2 -> +14.3% (the rest unexplained), MnasNet +10.9 -> +3.4%; ConvNeXt /
    ConvMixer (stride 1) do not move, nor does any NCHW or inference row. Out of sample
    (``eval --datasets train-nhwc --models outside``, 147 models): 14.1 -> 13.9%
    (MobileNet-V3-RW +24.9 -> +14.8%, MnasNet-A1 +13.8 -> +4.7%), but EfficientNet-B1..B5 /
    Lite rows at batch <= 256 go -2..-6 -> -8..-12% (already too slow before, like the larger
    EfficientNets at smaller batches). Lane padding of C (to 8 / 16 / 32) or a per-tap term on
    top moved the fit half by at most 0.2 points (not kept); ``conv.depthwise_wgrad`` stays at
    0.02 (``fit --datasets train-nhwc --keys conv.depthwise_wgrad``: at its clip either way).
    """
    taps = math.prod(a.kernel)
    if not taps or max(a.kernel) > CUDNN_DW_FAST_MAX_EDGE:
        return per_pass
    spread = in_positions / out_positions if in_positions and out_positions else 1.0
    return per_pass * min(1.0, CUDNN_DW_WGRAD_TAPS / taps) * spread


#: threads per block of PyTorch's depthwise weight-gradient kernel: one warp per batch item, at
#: most 256 (``getGradParamsNumThreads`` in aten/src/ATen/native/cuda/DepthwiseConv2d.cu)
WGRAD_MAX_THREADS = 256
WARP_SIZE = 32


def wgrad_grid_rounds(op: Op, hw: HardwareSpec) -> float:
    """Occupancy factor (>= 1) of PyTorch's NCHW depthwise weight-gradient kernel
    (``conv_depthwise2d_grad_weight_kernel``, aten/src/ATen/native/cuda/DepthwiseConv2d.cu).

    The kernel launches one block per weight element, ``C_out * kH * kW`` blocks of
    ``min(32 * N, 256)`` threads; each block reduces ``N * P * Q`` products of grad_output and
    input for its (channel, tap) with one warp per batch item, so every block does the same work.
    It is latency-bound (two global loads and an integer index computation per product), so an
    SM's throughput grows with its resident warps up to a full SM (Little's law); the efficiency
    ``conv.depthwise_wgrad`` is that full-occupancy rate. A block then takes the same time at any
    occupancy, and the kernel lasts ``ceil(blocks / (SMs * blocks_per_SM))`` rounds of one block
    time, with ``blocks_per_SM = max_warps_per_sm / warps_per_block``: factor = rounds *
    SMs * blocks_per_SM / blocks (1 when the grid fills the GPU in whole rounds).

    Evidence: InceptionNeXt's branch convs (C/8 channels: 12 x 9 = 108 blocks for the 3x3 branch
    of the first stage on an A100's 108 SMs x 8 blocks) fill an eighth of the GPU; ConvNeXt's 7x7 convs
    over every channel (96 x 49 = 4,704 blocks, 5.4 rounds) fill it. timm RTX 3090 NCHW training
    (benchmarks/gpu_timm_fidelity.py eval, no refit): held-out MAPE 8.8 -> 8.4%, within 10%
    63 -> 68% (MobileNet / EfficientNet / LCNet first depthwise layers have 16-32 channels x 9
    taps); the A100 ratio InceptionNeXt-T / ConvNeXt-T drops from 1.73 toward the paper's 1.57.
    """
    a = op.attrs
    n = op.conv_input.shape[0]
    blocks = a.out_channels * math.prod(a.kernel)
    warps = -(-min(WARP_SIZE * n, WGRAD_MAX_THREADS) // WARP_SIZE)
    per_round = hw.gpu.sm_count * np.maximum(np.floor(hw.gpu.max_warps_per_sm / warps), 1.0)
    return _scalarize(np.ceil(blocks / per_round) * per_round / blocks)


def winograd_eligible(op: Op) -> bool:
    """Forward 2-D 3x3 stride-1, undilated, ungrouped convs: cuDNN's Winograd algorithms apply
    (used on the CUDA-core path; tensor-core implicit GEMM is faster where eligible)."""
    a = op.attrs
    return (isinstance(a, ConvAttrs) and not a.transposed and a.groups == 1 and a.passes == 1
            and "backward" not in op.aten and a.kernel == (3, 3) and a.stride == (1, 1)
            and a.dilation == (1, 1))


def pick_faster(a: OpCost, b: OpCost) -> OpCost:
    """Element-wise choice of the lower-latency cost (an autotuner such as cudnn.benchmark)."""
    take = b.latency_s < a.latency_s
    fields = ("compute_s", "memory_s", "overhead_s", "dram_read_bytes", "dram_write_bytes",
              "onchip_bytes", "l2_bytes", "macs")
    vals = {f: _scalarize(np.where(take, getattr(b, f), getattr(a, f))) for f in fields}
    assert a.unit == b.unit and a.vector_ops == b.vector_ops
    return OpCost(**vals, vector_ops=a.vector_ops, unit=a.unit,
                  note=f"faster of: {a.note}; {b.note}")


@registrar(REGISTRY, OpKind.MATMUL, "gpu")
def matmul_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """mm / addmm / bmm as ``batch`` GEMMs [m, k] x [k, n] (cuBLAS; hardware.md 5.1): tile and
    wave quantization, tensor cores when eligible and K, N aligned, efficiency ``matmul``.
    Operand re-reads from the L2 capacity model; bias / epilogue inputs read once. DRAM time
    at cuBLAS's own achieved bandwidth, ``memory.matmul`` (the preset's ``memory`` unless a
    software profile sets it): the PyTorch 1.x profile's bandwidth factor belongs to PyTorch's
    own bandwidth-bound kernels and cuDNN's convs, not to cuBLAS (``hardware/software.py``)."""
    if not isinstance(op.attrs, MatMulAttrs):
        return _bandwidth_cost(op, hw, ctx, "matmul", "cuda_core")
    return gemm_cost(hw, ctx, **_matmul_gemm(op, hw, ctx))


def _matmul_gemm(op: Op, hw: HardwareSpec, ctx: CostContext) -> dict:
    """:func:`gemm_cost`'s arguments of a matmul."""
    a = op.attrs
    dtype = compute_dtype(op, ctx)
    bs = DTYPE_BYTES[dtype]
    act, w, out = op_bytes(op, ctx.dtype)
    casts, cast_r, cast_w = _autocast_cast(op, ctx)
    tc = tensor_core_eligible(hw, dtype, a.k, a.n)
    return dict(
        m=a.m, n=a.n, k=a.k, count=a.batch, eff_key="matmul", tensor_core=tc,
        a_bytes=float(a.batch * a.m * a.k * bs), b_bytes=float(a.batch * a.k * a.n * bs),
        act_read=act, weight_read=w, write=out, macs=op.macs, extra_kernels=casts,
        extra_dram_read=cast_r, extra_dram_write=cast_w,
        note=f"GEMM {a.m}x{a.n}x{a.k} x{a.batch}", dtype=dtype, mem_key="memory.matmul")


@registrar(REGISTRY, OpKind.ATTENTION, "gpu")
def attention_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Fused (flash-style) attention: Q, K, V read and O written once, scores never stored
    (Dao et al., FlashAttention, 2022).

    One CTA per (batch*head, q block of ``cta_tile_m`` rows); the most loaded SM runs
    ``ceil(ctas / SMs)`` of them, each ``bq*kv*(d+dv)`` MACs on tensor cores (when eligible)
    plus ``5*bq*kv`` softmax ops on the CUDA cores, serialized (FlashAttention-2 does not
    overlap them): compute = mma / eff("attention") + softmax / eff("softmax") + extra MACs
    (fused projections) / rate / eff("matmul"). Causal masks skip half the blocks; backward
    (passes > 1) scales the work by passes/2 like ``op.macs``. K/V are re-read by every q block
    of a head, from L2 unless one head's K/V exceeds the retained L2 (head-major grid).
    """
    a = op.attrs
    if not isinstance(a, AttentionAttrs):
        return _bandwidth_cost(op, hw, ctx, "attention", "cuda_core")
    g = hw.gpu
    dtype = compute_dtype(op, ctx)
    bs = DTYPE_BYTES[dtype]
    act, w, out = op_bytes(op, ctx.dtype)
    bh = a.batch * a.heads
    tc = tensor_core_eligible(hw, dtype, a.head_dim, a.v_dim)
    bq = np.minimum(g.cta_tile_m, a.q_len)
    q_blocks = np.ceil(a.q_len / bq)
    ctas = bh * q_blocks
    per_sm = np.ceil(ctas / g.sm_count)
    work = (0.5 if a.causal else 1.0) * (a.passes / 2.0 if a.passes > 1 else 1.0)
    mma_macs = per_sm * bq * a.kv_len * (a.head_dim + a.v_dim) * work
    rate = mac_rate_per_sm(hw, dtype, tc) * hw.clock_hz
    mma = mma_macs / rate / hw.eff("attention")
    scores = bh * a.q_len * a.kv_len * work
    vec = per_sm * bq * a.kv_len * work * FLASH_VECTOR_OPS_PER_SCORE / (
        g.fp32_lanes_per_sm * hw.clock_hz) / hw.eff("softmax")
    proj = a.extra_macs / (g.sm_count * rate) / hw.eff("matmul")
    compute = mma + vec + proj

    kv_bytes = float(bh * a.kv_len * (a.head_dim + a.v_dim) * bs)
    kv_reread = kv_bytes * (q_blocks - 1.0)
    # the grid is head-major: the q blocks of one head run together, so one head's K/V must
    # stay resident while they do
    kv_head = kv_bytes / bh
    miss = np.clip(1.0 - L2_RETAIN_FRACTION * g.l2_bytes / max(kv_head, 1.0), 0.0, 1.0)
    hit = l2_hit_fraction(act, hw)
    dram_r = act * (1.0 - hit) + w + kv_reread * miss
    dram_w = out
    l2_traffic = act + w + out + kv_reread
    memory = memory_time_s(dram_r + dram_w, l2_traffic, hw)
    return OpCost(
        compute_s=_scalarize(compute), memory_s=_scalarize(memory),
        overhead_s=overhead_s(hw, ctx), dram_read_bytes=_scalarize(dram_r),
        dram_write_bytes=float(dram_w), onchip_bytes=_scalarize(2.0 * l2_traffic),
        l2_bytes=_scalarize(l2_traffic), macs=float(op.macs),
        vector_ops=float(FLASH_VECTOR_OPS_PER_SCORE * scores),
        unit="tensor_core" if tc else "cuda_core", note="fused flash attention")


# ----------------------------------------------------------------------------- bandwidth-bound


def _bandwidth_cost(op: Op, hw: HardwareSpec, ctx: CostContext, eff_key: str, unit: str) -> OpCost:
    """A bandwidth-bound kernel: DRAM = activation inputs not found in L2 + weights + outputs;
    L2 traffic = every byte; compute = vector ops / CUDA-core op rate / eff(eff_key)."""
    act, w, out = op_bytes(op, ctx.dtype)
    hit = l2_hit_fraction(act, hw)
    dram_r = act * (1.0 - hit) + w
    dram_w = out
    total = act + w + out
    memory = memory_time_s(dram_r + dram_w, total, hw)
    vops = float(op.vector_ops)
    compute = vops / vector_rate(hw) / hw.eff(eff_key) if vops else 0.0
    return OpCost(
        compute_s=_scalarize(compute), memory_s=_scalarize(memory),
        overhead_s=overhead_s(hw, ctx, op=op), dram_read_bytes=_scalarize(dram_r),
        dram_write_bytes=float(dram_w), onchip_bytes=float(total), l2_bytes=float(total),
        macs=0.0, vector_ops=vops, unit=unit)


@registrar(REGISTRY, OpKind.ELEMENTWISE, "gpu")
def elementwise_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Pointwise ops (activations, adds, scales, dropout, optimizer updates): bandwidth-bound,
    no tensor cores (hardware.md 5.2); one vector op per output element, efficiency ``vector``."""
    return _bandwidth_cost(op, hw, ctx, "vector", "cuda_core")


@registrar(REGISTRY, OpKind.SOFTMAX, "gpu")
def softmax_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Row softmax in one kernel (row kept on chip): read once, write once, 5 ops per element
    (max, sub, exp, sum, div), efficiency ``softmax``."""
    return _bandwidth_cost(op, hw, ctx, "softmax", "cuda_core")


@registrar(REGISTRY, OpKind.NORM, "gpu")
def norm_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Batch/layer/group norm: statistics and normalization in one kernel, activations read and
    written once (+ per-channel parameters), 4 ops per element, efficiency ``norm``. Then:

    * a second pass over the activation inputs (one more kernel reading them again, from DRAM
      unless they fit L2) where the statistics need a full pass before the output can be
      written: training-mode batch norm (batch statistics, then normalisation) and every norm
      backward (BN: the dgamma/dbeta reduction, then dx; LN/GN: dx per row, then PyTorch's
      separate gamma/beta-gradient kernel re-reading dy and x); not for batch norm on
      channels-last tensors, which runs cuDNN's one-pass persistent kernels
      (:func:`persistent_batch_norm`);
    * GroupNorm on channels-last tensors: PyTorch's CUDA group_norm takes contiguous NCHW
      (``input.contiguous()``), so the input is transposed and the NCHW output transposed back
      for the next channels-last op: two copies.

    Evidence: timm RTX 3090 AMP training, BatchNorm nets (MobileNet-V2/V3, EfficientNet) 60-117%
    too fast with single-pass norms; PoolFormer (GroupNorm) measures 0.96x in channels-last vs
    NCHW where the convs alone predict 1.06x.
    """
    c = _bandwidth_cost(op, hw, ctx, "norm", "cuda_core")
    act, _, out = op_bytes(op, ctx.dtype)
    if ((op.is_backward_kernel or op.aten in TRAINING_BATCH_NORM)
            and not persistent_batch_norm(op, ctx)):
        hit = l2_hit_fraction(act, hw)
        seconds = memory_time_s(act * (1.0 - hit), act, hw)
        c = serial_kernels(c, seconds, 1, act * (1.0 - hit), 0.0, hw, ctx,
                           "second pass over the inputs")
    if ctx.layout == Layout.NHWC and "group_norm" in op.aten:
        moved, kernels = group_norm_copies(op, ctx, act + out)
        if kernels:
            c = serial_kernels(c, memory_time_s(2.0 * moved, 2.0 * moved, hw), kernels, moved,
                               moved, hw, ctx, "channels-last <-> NCHW copies around group_norm")
    if ctx.layout == Layout.NHWC and op.module_type in CHANNEL_BLOCK_NORMS:
        c = channel_block_strided(c, op, hw, ctx)
    return gather_copies(c, op, hw, ctx, skip_channels_last=ctx.layout == Layout.NHWC)


def group_norm_copies(op: Op, ctx: CostContext, legacy: float) -> tuple[float, int]:
    """(bytes, kernels) of the copies around a group_norm op in a channels-last run. On a graph
    traced with NCHW tensors (every activation operand NCHW): ``legacy`` bytes (inputs and
    outputs) in two kernels, the input made NCHW and the output converted back for the next
    channels-last op. On a graph traced channels-last (an activation operand carries the
    format, ``trace(..., channels_last=True)``): one copy per channels-last 4-D / 5-D
    activation operand, input or output -- the CUDA kernel works on NCHW
    (``input.contiguous()`` in ``group_norm``, aten/src/ATen/native/group_norm.cpp, PyTorch
    1.12 to 2.4 on CUDA; the output is written contiguous) -- while an output traced NCHW stays
    so and its consumer pays the conversion (:func:`conv_layout_copies`), which is not counted
    twice. Known gap: an NCHW output meeting channels-last tensors in elementwise ops
    (PoolFormer's ``x + gamma * (pool(norm(x)) - norm(x))``) is read against its strides by
    TensorIterator at no modelled cost; PoolFormer's NHWC inference rows went from +10 / +13%
    to +18 / +21% with the channels-last traces (train -6 / -9% -> -4 / -8%)."""
    acts = [t for t in (*op.inputs, *op.outputs) if not t.is_weight and len(t.shape) >= 4]
    if not any(t.channels_last for t in acts):
        return legacy, 2
    cl = [t for t in acts if t.channels_last]
    return float(sum(tensor_bytes(t, ctx.dtype) for t in cl)), len(cl)


#: bytes of one DRAM / L2 transaction (sector) on NVIDIA GPUs since Maxwell: a warp's loads are
#: served in 32-byte sectors, so a load of one 2-byte element strided away from its neighbours
#: moves a whole sector (CUDA C++ Best Practices Guide, "Coalesced Access to Global Memory")
DRAM_SECTOR_BYTES = 32
#: norm layers whose CUDA kernels run one thread block per channel, the threads of a warp on
#: consecutive (batch, spatial) positions through a strided accessor of the tensor viewed as
#: (N, C, H*W): the InPlace-ABN library's statistics / forward / backward kernels
#: (mapillary/inplace_abn, the layout of PyTorch's batch-norm kernels before they had
#: channels-last variants); timm's ``InplaceAbn`` and the library's own modules call them
CHANNEL_BLOCK_NORMS = frozenset({"InplaceAbn", "InPlaceABN", "InPlaceABNSync"})


def channel_block_strided(cost: OpCost, op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Per-channel-block norm kernels on a channels-last tensor: in NHWC consecutive spatial
    positions of one channel are ``C`` elements apart, so each element a warp loads or stores
    is its own ``DRAM_SECTOR_BYTES`` sector: the activation traffic of the op's passes (reads
    of every >= 3-D input, twice where the norm makes a second pass; writes of every >= 3-D
    output) is multiplied by ``DRAM_SECTOR_BYTES / element bytes`` (16 for fp16), added in
    series. No fitted parameter: sector size and element size only.

    Evidence: timm's RTX 3090 PyTorch 1.12 training rows of the models built on InPlace-ABN
    (TResNet, densenet264d_iabn, ese_vovnet99b_iabn, timm < 0.9) run at 0.20-0.32x their own
    NCHW throughput, while the same nets with BatchNorm run 1.0-1.1x in NHWC inference
    (TResNet, timm 0.9+, pt240 rows) and BatchNorm ResNets 1.2-1.5x in NHWC training; the
    tresnet_l step (4.98 s at batch 512 vs 1.26 s in NCHW) needs its IABN kernels ~18x slower
    than coalesced."""
    passes = 2.0 if op.is_backward_kernel or op.aten in TRAINING_BATCH_NORM else 1.0

    def extra(tensors, times: float) -> float:
        total = 0.0
        for t in tensors:
            if t.is_weight or len(t.shape) < 3 or not t.numel:
                continue
            nbytes = tensor_bytes(t, ctx.dtype)
            total += times * nbytes * max(DRAM_SECTOR_BYTES * t.numel / nbytes - 1.0, 0.0)
        return total

    read, write = extra(op.inputs, passes), extra(op.outputs, 1.0)
    if not read + write:
        return cost
    seconds = memory_time_s(read + write, read + write, hw)
    return serial_kernels(cost, seconds, 0, read, write, hw, ctx,
                          "per-channel strided accesses on channels-last (sector per element)")


#: batch norm in training mode (batch statistics): the aten ops autograd records for it
TRAINING_BATCH_NORM = frozenset({
    "aten::native_batch_norm", "aten::_native_batch_norm_legit",
    "aten::_native_batch_norm_legit_functional", "aten::_batch_norm_with_update",
})
#: the backward of training batch norm
BATCH_NORM_BACKWARD = frozenset({
    "aten::native_batch_norm_backward", "aten::cudnn_batch_norm_backward",
    "aten::batch_norm_backward",
})


def persistent_batch_norm(op: Op, ctx: CostContext) -> bool:
    """Whether a batch norm op with batch statistics (training forward, or its backward) runs
    cuDNN's persistent NHWC kernels, which ``norm_cost`` charges one pass over the inputs
    (forward: read x, write y; backward: read dy and x, write dx) instead of two.

    PyTorch's ``cudnn_batch_norm`` (used for fp16 inputs with fp32 parameters, PyTorch 1.12 to
    2.x) selects ``CUDNN_BATCHNORM_SPATIAL_PERSISTENT`` when training on a channels-last 4-D /
    5-D input and ``CUDNN_BATCHNORM_SPATIAL`` otherwise (``getCudnnBatchNormMode`` in
    aten/src/ATen/native/cudnn/BatchNorm.cpp). In NHWC a pixel's channel vector is contiguous,
    so one launch reduces the per-channel sums across the grid and then normalises (or forms
    dx) from the tiles it holds, where the NCHW kernels run statistics and normalisation as
    separate passes. The data fits the one-pass cost; it does not tell whether the tiles of a
    tensor larger than the on-chip storage come back from L2 or DRAM. InPlace-ABN's own
    kernels (:data:`CHANNEL_BLOCK_NORMS`) are not cuDNN's and keep the second pass, as do
    bfloat16 tensors (PyTorch keeps them off cuDNN's batch norm and runs its own
    channels-last statistics and elementwise kernels).

    Evidence: timm RTX 3090 PyTorch 1.12 training, the dense BatchNorm convnets (ResNet,
    DarkNet, RepVGG, VoVNet, ...; ``benchmarks/gpu_timm_fidelity.py shares``): measured /
    simulated time regressed on the simulated time shares put batch norm (forward + backward)
    at 0.64x in channels-last and 1.02x in NCHW, convs at 0.99x / 1.14x, elementwise at 1.09x
    / 0.89x with the second pass (1.08x in channels-last without it); one pass instead of two
    is 2/3 of a forward's bytes and 3/5 of a backward's. ResNet-50 measures 1.47x faster in
    channels-last than in NCHW; with the second pass the model gave 1.20x, now 1.35x (train
    NHWC held-out rows within 10%: 34% -> 57%)."""
    x = op.inputs[0] if op.inputs else None
    return (ctx.layout == Layout.NHWC and op.module_type not in CHANNEL_BLOCK_NORMS
            and (op.aten in TRAINING_BATCH_NORM or op.aten in BATCH_NORM_BACKWARD)
            and x is not None and len(x.shape) >= 4    # channels-last: 4-D / 5-D tensors
            and ctx.dtype != "bf16" and x.dtype != "bfloat16")   # bf16: PyTorch's kernels


@registrar(REGISTRY, OpKind.REDUCTION, "gpu")
def reduction_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """sum/mean/max/var over dims: input read once, small output, ``reduced`` ops per output,
    efficiency ``reduction``."""
    return _bandwidth_cost(op, hw, ctx, "reduction", "cuda_core")


@registrar(REGISTRY, OpKind.POOL, "gpu")
def pool_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Max/avg/adaptive pooling: input read once (overlapping windows hit L1), output written,
    ``window`` ops per output element, efficiency ``pool``."""
    return _bandwidth_cost(op, hw, ctx, "pool", "cuda_core")


@registrar(REGISTRY, OpKind.CROSS_CHANNEL_POOL, "gpu")
def cross_channel_pool_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Cross-channel (maxout-style) pooling as a standalone kernel: a strided reduction over
    channel groups, read once and written once, efficiency ``pool``. (Folding it into the conv
    before the store is the fusion plan's job.)"""
    return _bandwidth_cost(op, hw, ctx, "pool", "cuda_core")


@registrar(REGISTRY, OpKind.RESAMPLE, "gpu")
def resample_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Interpolation / pixel shuffle: each output gathers a few neighbours through L1; input
    read once, output written once, one op per output element, efficiency ``vector``."""
    return _bandwidth_cost(op, hw, ctx, "vector", "cuda_core")


@registrar(REGISTRY, OpKind.DATA_MOVEMENT, "gpu")
def data_movement_cost(op: Op, hw: HardwareSpec, ctx: CostContext) -> OpCost:
    """Copies, cat, pads, contiguous permutes, fills: pure bandwidth (no compute); a fill has
    no input and only writes."""
    return _bandwidth_cost(op, hw, ctx, "memory", "dram")


__all__ = [
    "attention_cost", "conv_cost", "cross_channel_pool_cost", "data_movement_cost",
    "elementwise_cost", "gemm_candidate", "gemm_cost", "l2_hit_fraction", "mac_rate_per_sm",
    "matmul_cost", "memory_time_s", "norm_cost", "overhead_s", "pool_cost", "reduction_cost",
    "resample_cost", "softmax_cost", "tensor_core_eligible", "vector_rate",
]


def _launch_queue_pass(costs: list, hw: HardwareSpec, ctx: CostContext, ops: list, graph) -> list:
    """CUDA streams: the host enqueues kernels asynchronously (see ``apply_launch_queue``)."""
    return apply_launch_queue(costs)


REGISTRY.register_pass("gpu", "launch_queue", _launch_queue_pass)


def gemm_searches(op: Op, hw: HardwareSpec, ctx: CostContext) -> list[dict]:
    """The tile searches (:func:`_best_tiling`'s arguments) that costing ``op`` runs: one per
    GEMM of a GEMM-mapped conv or a matmul, none for other ops."""
    a = op.attrs
    if op.kind is OpKind.CONV and isinstance(a, ConvAttrs) and a.variant is not ConvVariant.DEPTHWISE:
        layout = effective_layout(op, ctx)
        gemms = _conv_gemms(op, hw, ctx if layout == ctx.layout else replace(ctx, layout=layout))
    elif op.kind is OpKind.MATMUL and isinstance(a, MatMulAttrs):
        gemms = (_matmul_gemm(op, hw, ctx),)
    else:
        return []
    return [_gemm_search(hw, ctx, **args) for args in gemms]


def prefetch_tilings(ops: list, hw: HardwareSpec, ctx: CostContext) -> None:
    """The GPU pre-pass: every tile search the simulation's ``ops`` will run that the memo
    lacks, in one batched search (:func:`_search_tilings`), into the memo. On a freshly loaded
    graph this replaces ~130 one-GEMM searches (~13 ms on maxvit_tiny training) by a few numpy
    calls over [candidates, GEMMs]; figures are bit for bit the same. Sweeps (array knobs) and
    unhashable specs search per op as before."""
    if hw.batch_shape or not _TILINGS.hashable(hw):
        return
    table = _TILINGS.table(hw)
    todo: dict = {}
    for op in ops:
        for search in gemm_searches(op, hw, ctx):
            key = _TILINGS.key(search)
            if key not in table:
                todo.setdefault(key, search)
    if todo:
        for key, best in zip(todo, _search_tilings(hw, list(todo.values()))):
            _TILINGS.put(table, key, best)


REGISTRY.register_prepass("gpu", prefetch_tilings)
