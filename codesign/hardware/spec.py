"""Hardware specs: frozen dataclasses, the YAML schema that fills them, and knob addressing.

The dataclasses below *are* the schema: every field carries a check in its metadata, and
:func:`load_spec_dict` walks the fields to validate a parsed YAML mapping, so a field added
here is validated, serialised and addressable as a knob without further code. Validation
happens only at load time; :meth:`HardwareSpec.with_knobs` replaces numeric leaves with
scalars or numpy arrays (for vectorized sweeps) and checks knob names only.

Units are in the key names (``clock_hz``, ``dram_bandwidth_bytes_per_s``, ``sram_pj_per_byte``).
Throughput glossary: one MAC = one multiply-accumulate = 2 FLOPs. GPU tensor-core rates are
given as dense FLOPs/clock/SM because that is how vendors and hardware.md state them;
:meth:`HardwareSpec.peak_macs_per_s` converts to MAC/s.

Errors: every problem in a spec raises :class:`~codesign.errors.SpecError` whose message is one
line naming file, key path, value and what is allowed, e.g.
``hw_models/x.yaml: gpu.sm_count = -3; expected a positive integer`` or
``hw_models/x.yaml: gpu.sm_cont: unknown key 'sm_cont' (did you mean 'sm_count'?)``.
Misuse of a loaded spec (unknown knob, unsupported dtype) raises
:class:`~codesign.errors.HardwareError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from functools import lru_cache
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from codesign.errors import HardwareError, SpecError, did_you_mean
from codesign.types import DType, HardwareKind, Layout, values

SCHEMA_VERSION = 1
# w8a16: int8 weights with int16 activations (Qualcomm AI Hub's "w8a16" precision); stored
# activations take 2 bytes.
KINDS: tuple[str, ...] = values(HardwareKind)
DTYPES: tuple[str, ...] = tuple(d for d in values(DType) if d != DType.AMP)  # amp: a precision
LAYOUTS: tuple[str, ...] = values(Layout)  # ccp: cross-channel pooling before the store
# Achieved/peak fractions by op class. "conv" is the family fallback for every "conv.*" key
# (eff() tries the prefix before the first '.'); "memory" is the achieved fraction of DRAM
# bandwidth ("memory.matmul": of cuBLAS matmuls, falling back to "memory"); the others derate
# compute of the unit that runs the op.
EFFICIENCY_KEYS: tuple[str, ...] = (
    "default", "matmul", "conv", "conv.pointwise", "conv.standard", "conv.depthwise",
    "conv.grouped", "conv.dilated", "conv.large_kernel", "conv.band", "conv.3d",
    "conv.transposed", "conv.depthwise_nchw", "conv.depthwise_wgrad", "conv.grouped_nhwc_wide",
    "conv.grouped_nchw_wide",
    "attention", "memory", "memory.matmul",
    "vector", "vector.transcendental", "vector.resample", "softmax", "norm", "reduction", "pool",
)
#: the dtype CUDA autocast ("amp") runs convs and matmuls in: peaks of "amp" are fp16's
AMP_MAC_DTYPE = "fp16"
NO_DERATING = 1.0  # eff() when neither the key, its family, "default" nor a default is given
DTYPE_BYTES: Mapping[str, int] = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "int8": 1, "w8a16": 2}
# CUDA-core int8 throughput: dp4a does 4 int8 MACs per FP32 lane per clock (CC >= 6.1).
GPU_DP4A_MACS_PER_LANE = 4


# --------------------------------------------------------------------------- field checks
# (the one validation engine, shared with the sweep spec)

from codesign.config.schema import (  # noqa: E402
    FRACTION as _FRACTION, NONNEG as _NONNEG, POS as _POS, POS_INT as _POS_INT, Bool as _Bool,
    Free as _Free, FrozenDict, Num as _Num, NumMap as _NumMap, Section as _Section, Str as _Str,
    StrSet as _StrSet, build as _build, show as _show, spec_field as _f,
)


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class DispatchSpec:
    """Host-side cost per launched kernel/op, added to every op's latency."""

    eager_overhead_s: float = _f(_NONNEG)  # eager framework (PyTorch): per aten op
    graph_overhead_s: float = _f(_NONNEG)  # graph replay / compiled engine: per kernel
    #: eager: per kernel of an optimizer's per-parameter Python loop (zero_grad, a non-foreach
    #: step: plain tensor methods, no module call or autograd record); None = eager_overhead_s
    optimizer_overhead_s: float | None = _f(_NONNEG, default=None)


@dataclass(frozen=True)
class EnergySpec:
    """Dynamic energy per event and static power. Energy = sum(events x pJ) + static_w x latency."""

    mac_pj: Mapping[str, float] = _f(_NumMap(DTYPES, _NONNEG))  # per MAC, by dtype
    vector_op_pj: float = _f(_NONNEG)       # per elementwise op (fp32-equivalent)
    sram_pj_per_byte: float = _f(_NONNEG)   # L1/shared/VTCM/SRAM/line buffer
    l2_pj_per_byte: float = _f(_NONNEG)     # last-level on-chip cache (0 if none)
    dram_pj_per_byte: float = _f(_NONNEG)
    static_w: float = _f(_NONNEG)           # static/idle power charged x latency
    source: str = _f(_Str(nonempty=True))


@dataclass(frozen=True)
class EventResources:
    """What the event engine (:mod:`codesign.schedule.event`) builds for a hardware kind; the
    kind's section says it (:meth:`GpuSpec.event_resources`, ...). Values are the spec's own
    (the engine checks they are scalars)."""

    lanes: str                        # "streams" (GPU) or "threads"
    lane_limit: Any = None            # a cap on threads (cores, DSP threads), None: none
    lane_limit_key: str = ""
    sm_count: Any = 0                 # SMs shared by concurrent kernels (0: no SM pool)
    dma_bandwidth_bytes_per_s: Any = None   # a DMA engine between DRAM and on-chip memory
    dma_engines: Any = 0
    onchip_name: str = ""             # the on-chip buffer tiles occupy (vtcm, sram)
    onchip_bytes: Any = 0.0
    host_dispatch: bool = True        # one host thread issues every op (CPU: each thread its own)
    pool: str | None = ""             # compute pool: None none, "" one per unit, else this name
    tile_pipeline: bool = False       # tiled ops pipeline DMA and compute tile by tile


@dataclass(frozen=True)
class GpuSpec:
    sm_count: int = _f(_POS_INT)
    fp32_lanes_per_sm: int = _f(_POS_INT)
    # dtype -> dense tensor-core FLOPs/clock/SM; an absent dtype has no tensor-core path
    tensor_flops_per_clock_per_sm: Mapping[str, float] = _f(_NumMap(DTYPES, _POS))
    shared_memory_bytes_per_sm: int = _f(_POS_INT)
    l2_bytes: float = _f(_NONNEG)
    l2_bandwidth_bytes_per_s: float = _f(_POS)
    max_warps_per_sm: int = _f(_POS_INT)
    streams: int = _f(_POS_INT, 1)
    cta_tile_m: int = _f(_POS_INT, 128)
    cta_tile_n: int = _f(_POS_INT, 128)
    cta_tile_k: int = _f(_POS_INT, 32)
    # packed half2 (and bf16x2) throughput on CUDA cores relative to FP32
    fp16_vector_speedup: float = _f(_POS, 2.0)

    def peak_macs_per_s(self, hw: "HardwareSpec", dtype: str) -> Any:
        """Tensor cores where the dtype has them, else CUDA cores."""
        if dtype in self.tensor_flops_per_clock_per_sm:
            return self.sm_count * self.tensor_flops_per_clock_per_sm[dtype] / 2 * hw.clock_hz
        return self.vector_macs_per_s(hw, dtype)

    def vector_macs_per_s(self, hw: "HardwareSpec", dtype: str) -> Any:
        """CUDA cores: one FMA per lane per clock; packed half2 for fp16/bf16; dp4a for int8."""
        lanes = self.sm_count * self.fp32_lanes_per_sm * hw.clock_hz
        if dtype in (DType.FP32, DType.TF32):
            return lanes
        if dtype in (DType.FP16, DType.BF16):
            return lanes * self.fp16_vector_speedup
        return lanes * GPU_DP4A_MACS_PER_LANE

    def cache_bandwidth_bytes_per_s(self) -> Any:
        """The last-level cache every operand crosses (the roofline's cache floor)."""
        return self.l2_bandwidth_bytes_per_s

    def cross_check(self, hw: "HardwareSpec", file: str) -> None:
        for i, dt in enumerate(hw.dtypes):
            if dt not in ("fp32", "fp16") and dt not in self.tensor_flops_per_clock_per_sm \
                    and dt != "int8":
                raise SpecError(file, f"dtypes[{i}]", f"{dt!r} needs a tensor-core rate in "
                                "gpu.tensor_flops_per_clock_per_sm (CUDA cores run fp32, fp16, int8)")

    def event_resources(self) -> EventResources:
        """Streams over a pool of SMs; the host enqueues kernels on one thread."""
        return EventResources(lanes="streams", sm_count=self.sm_count, pool=None)


@dataclass(frozen=True)
class DspSpec:
    hvx_units: int = _f(_POS_INT)
    vector_width_bits: int = _f(_Num(integer=True, allowed=(512, 1024)))
    macs_per_cycle_per_unit: Mapping[str, float] = _f(_NumMap(DTYPES, _POS))  # per HVX unit
    hmx_macs_per_cycle: Mapping[str, float] = _f(_NumMap(DTYPES, _POS))       # {} if no HMX
    vtcm_bytes: float = _f(_POS)
    dma_bandwidth_bytes_per_s: float = _f(_POS)
    dma_engines: int = _f(_POS_INT)
    threads: int = _f(_POS_INT)
    # --- compiled-graph (QNN HTP) model, codesign.cost.hexagon; defaults keep the pre-issue-13
    # behaviour (every activation through DRAM, no per-inference cost, 32-deep blocks).
    # Fraction of VTCM that holds activations between the layers of a compiled graph: an
    # activation tensor of at most this x vtcm_bytes stays on chip; larger ones spill to DRAM.
    activation_vtcm_fraction: float = _f(_Num(lower_inclusive=True, upper=1.0), 0.0)
    # Fraction of VTCM into which the DMA prefetches weights of the ops ahead of the one
    # computing (0: one op ahead only).
    weight_prefetch_vtcm_fraction: float = _f(_Num(lower_inclusive=True, upper=1.0), 0.0)
    # Conversion rate of a compiled graph's float32 inputs and outputs (bytes/s, host side).
    graph_io_bytes_per_s: float = _f(_POS, 1.0e15)
    # Bandwidth at which resident activations move between VTCM/L2 and the compute units.
    onchip_bandwidth_bytes_per_s: float = _f(_POS, 1.0e15)
    # Fixed cost of one execution of a compiled graph (host call, FastRPC, graph start/finish,
    # input/output conversion), by run dtype; an absent dtype pays none.
    graph_launch_s: Mapping[str, float] = _f(_NumMap(DTYPES, _NONNEG), default_factory=FrozenDict)
    # HMX tile depth: the reduction (input channels per group x kernel taps) and the output
    # channels are padded to multiples of it. HVX channel block for depthwise / vector convs.
    hmx_channel_block: float = _f(_POS, 32.0)
    hvx_channel_block: float = _f(_POS, 32.0)
    # HVX lane operations per element to carry an int8 activation across a quantization
    # boundary (dequantize int8 -> 16 bit into a softmax / layer-norm island, requantize the
    # island's output back to int8); 0 for no boundary cost (codesign.cost.hexagon).
    requant_ops_per_element: float = _f(_NONNEG, 0.0)
    # HMX output-channel block by run dtype (conv output channels, matmul n are padded to it);
    # an absent dtype uses hmx_channel_block.
    hmx_output_block: Mapping[str, float] = _f(_NumMap(DTYPES, _POS), default_factory=FrozenDict)
    # Fraction of its size a weight tensor occupies on the DRAM bus, by run dtype (weight
    # bandwidth compression of 8-bit weights); an absent dtype streams its weights whole.
    weight_dram_fraction: Mapping[str, float] = _f(_NumMap(DTYPES, _Num(upper=1.0)),
                                                   default_factory=FrozenDict)

    def peak_macs_per_s(self, hw: "HardwareSpec", dtype: str) -> Any:
        """HMX where present for the dtype, else all HVX units."""
        if dtype in self.hmx_macs_per_cycle:
            return self.hmx_macs_per_cycle[dtype] * hw.clock_hz
        return self.vector_macs_per_s(hw, dtype)

    def vector_macs_per_s(self, hw: "HardwareSpec", dtype: str) -> Any:
        if dtype not in self.macs_per_cycle_per_unit:
            raise HardwareError(f"{hw.name!r} has no HVX rate for {dtype!r} "
                                f"(dsp.macs_per_cycle_per_unit)")
        return self.hvx_units * self.macs_per_cycle_per_unit[dtype] * hw.clock_hz

    def cache_bandwidth_bytes_per_s(self) -> Any:
        return None

    def cross_check(self, hw: "HardwareSpec", file: str) -> None:
        for i, dt in enumerate(hw.dtypes):
            if dt not in self.macs_per_cycle_per_unit and dt not in self.hmx_macs_per_cycle:
                raise SpecError(file, f"dtypes[{i}]", f"{dt!r} needs a rate in "
                                "dsp.macs_per_cycle_per_unit or dsp.hmx_macs_per_cycle")

    def event_resources(self) -> EventResources:
        """Hardware threads, a DMA engine into VTCM, tiles pipelined."""
        return EventResources(lanes="threads", lane_limit=self.threads, lane_limit_key="dsp.threads",
                              dma_bandwidth_bytes_per_s=self.dma_bandwidth_bytes_per_s,
                              dma_engines=self.dma_engines, onchip_name="vtcm",
                              onchip_bytes=self.vtcm_bytes, tile_pipeline=True)


@dataclass(frozen=True)
class CpuSpec:
    cores: int = _f(_POS_INT)
    simd_width_bits: int = _f(_Num(integer=True, allowed=(64, 128, 256, 512)))
    fma_units: int = _f(_POS_INT)  # SIMD FMA pipes per core
    l1_bytes: float = _f(_POS)     # per core
    l2_bytes: float = _f(_NONNEG)  # per core
    l3_bytes: float = _f(_NONNEG)  # shared
    l2_bandwidth_bytes_per_s: float = _f(_POS)  # all cores together
    l3_bandwidth_bytes_per_s: float = _f(_POS)
    # Work (MACs) at which an op class reaches half its efficiency: achieved efficiency =
    # efficiency[key] x MACs / (MACs + half_work_macs[key]) (small GEMMs/convs run slower).
    # Keyed like ``efficiency``; an absent key means no size derating. Fitted by calibration.
    half_work_macs: Mapping[str, float] = _f(_NumMap(EFFICIENCY_KEYS, _NONNEG),
                                             default_factory=FrozenDict)
    # First touch of a fresh output buffer: allocations above the C allocator's mmap threshold
    # (glibc: at most 32 MiB) come from new pages that the kernel faults in and zeroes on
    # first write, at this rate. Measured by calibration (fresh vs preallocated output).
    page_fault_bytes_per_s: float = _f(_POS, default=2.0e9)
    mmap_threshold_bytes: float = _f(_NONNEG, default=33554432.0)
    # Layout reorders around an eager oneDNN conv (input and output copied between plain NCHW
    # and the blocked layout): bytes of those tensors per second.
    reorder_bytes_per_s: float = _f(_POS, default=1.5e10)
    # Cold weights rewritten before an eager conv/GEMM kernel (oneDNN weight reorder, BLAS
    # panel packing): weight bytes per second.
    weight_pack_bytes_per_s: float = _f(_POS, default=5.0e9)
    # Reduction length at which a GEMM-shaped op's per-output tile load/store doubles its
    # compute time: compute x (1 + half_reduction / K). Fitted by calibration.
    half_reduction: float = _f(_NONNEG, default=16.0)
    # Non-contiguous (transposed / permuted / sliced) activation inputs gathered before an
    # eager conv, or by a copy: bytes per second.
    gather_bytes_per_s: float = _f(_POS, default=3.0e9)
    # oneDNN's im2col + GEMM fallback for depthwise convs its jit kernel refuses (NCHW, left
    # padding wider than the kernel's unroll): column-buffer bytes per second, and seconds per
    # column row (one row = one output row of one tap of one channel). Fitted by calibration.
    im2col_bytes_per_s: float = _f(_POS, default=5.0e9)
    im2col_row_s: float = _f(_NONNEG, default=1.5e-8)
    # Fraction of the L3 a streaming working set keeps when other processes share the cache:
    # working sets up to l2 + l3_share x l3 hit L3, hits fall linearly to none at l2 + l3.
    # 1: the whole L3 (a step at its size). Fitted by calibration.
    l3_share: float = _f(_FRACTION, default=1.0)

    def peak_macs_per_s(self, hw: "HardwareSpec", dtype: str) -> Any:
        return self.vector_macs_per_s(hw, dtype)

    def vector_macs_per_s(self, hw: "HardwareSpec", dtype: str) -> Any:
        """All cores' SIMD FMA pipes."""
        lanes = self.simd_width_bits / (8 * DTYPE_BYTES[dtype])
        return self.cores * self.fma_units * lanes * hw.clock_hz

    def cache_bandwidth_bytes_per_s(self) -> Any:
        return None

    def cross_check(self, hw: "HardwareSpec", file: str) -> None:
        pass

    def event_resources(self) -> EventResources:
        """Threads up to the core count, each dispatching its own ops, sharing the cores."""
        return EventResources(lanes="threads", lane_limit=self.cores, lane_limit_key="cpu.cores",
                              host_dispatch=False, pool="cores")


@dataclass(frozen=True)
class AcceleratorSpec:
    mac_count: int = _f(_POS_INT)
    sram_bytes: float = _f(_POS)
    dma_bandwidth_bytes_per_s: float = _f(_POS)
    cross_channel_pool: bool = _f(_Bool())
    line_buffer_bytes: float = _f(_NONNEG)

    def peak_macs_per_s(self, hw: "HardwareSpec", dtype: str) -> Any:
        return self.vector_macs_per_s(hw, dtype)

    def vector_macs_per_s(self, hw: "HardwareSpec", dtype: str) -> Any:
        """The MAC array."""
        return self.mac_count * hw.clock_hz

    def cache_bandwidth_bytes_per_s(self) -> Any:
        return None

    def cross_check(self, hw: "HardwareSpec", file: str) -> None:
        pass

    def event_resources(self) -> EventResources:
        """A DMA engine into the SRAM, tiles pipelined."""
        return EventResources(lanes="threads",
                              dma_bandwidth_bytes_per_s=self.dma_bandwidth_bytes_per_s,
                              dma_engines=1, onchip_name="sram", onchip_bytes=self.sram_bytes,
                              tile_pipeline=True)


SECTIONS: Mapping[str, type] = {
    "dispatch": DispatchSpec, "energy": EnergySpec, "gpu": GpuSpec, "dsp": DspSpec,
    "cpu": CpuSpec, "accelerator": AcceleratorSpec,
}


@dataclass(frozen=True)
class HardwareSpec:
    """One hardware target. Load with :func:`codesign.hardware.load_hardware`; never mutate, derive."""

    schema_version: int = _f(_Num(integer=True, allowed=(SCHEMA_VERSION,)))
    name: str = _f(_Str(nonempty=True))
    kind: str = _f(_Str(allowed=KINDS))
    source: str = _f(_Str(nonempty=True))
    clock_hz: float = _f(_POS)
    dram_bandwidth_bytes_per_s: float = _f(_POS)
    dram_bytes: float = _f(_POS)
    dram_latency_s: float = _f(_NONNEG)
    dtypes: tuple[str, ...] = _f(_StrSet(DTYPES))
    layouts: tuple[str, ...] = _f(_StrSet(LAYOUTS))
    dispatch: DispatchSpec = _f(_Section(DispatchSpec))
    efficiency: Mapping[str, float] = _f(_NumMap(EFFICIENCY_KEYS, _FRACTION, empty_ok=True))
    energy: EnergySpec = _f(_Section(EnergySpec))
    gpu: GpuSpec | None = _f(_Section(GpuSpec), None)
    dsp: DspSpec | None = _f(_Section(DspSpec), None)
    cpu: CpuSpec | None = _f(_Section(CpuSpec), None)
    accelerator: AcceleratorSpec | None = _f(_Section(AcceleratorSpec), None)
    notes: str = _f(_Str(), "")
    provenance: Mapping[str, object] = _f(_Free(), default_factory=FrozenDict)

    # ------------------------------------------------------------------ lookups

    @property
    def unit(self) -> GpuSpec | DspSpec | CpuSpec | AcceleratorSpec:
        """The section of this spec's own kind (``spec.gpu`` for a GPU, ...)."""
        return getattr(self, self.kind)

    def eff(self, key: str, default: float | None = None) -> float:
        """Achieved/peak for an op class: exact key, then its parent class before a '_'
        (``conv.depthwise_wgrad`` -> ``conv.depthwise``), then the family before the first '.'
        (``conv.depthwise`` -> ``conv``), then ``default`` in the table, then ``default`` here,
        then 1.0 (no derating). Unknown keys raise, so a typo in a cost model cannot pass silently."""
        if key not in EFFICIENCY_KEYS:
            raise HardwareError(
                f"unknown efficiency key {key!r}{did_you_mean(key, EFFICIENCY_KEYS)}; "
                f"allowed: {', '.join(EFFICIENCY_KEYS)}")
        table = self.efficiency
        family = key.split(".", 1)[0]
        parent = key.split("_", 1)[0] if "." in key else key
        for k in (key, parent, family, "default"):
            if k in table:
                return table[k]
        return NO_DERATING if default is None else default

    def _check_dtype(self, dtype: str) -> None:
        if dtype not in DTYPES:
            raise HardwareError(f"unknown dtype {dtype!r}{did_you_mean(dtype, DTYPES)}; "
                                f"allowed: {', '.join(DTYPES)}")
        if dtype not in self.dtypes:
            raise HardwareError(f"dtype {dtype!r} is not supported by {self.name!r}; "
                                f"supported: {', '.join(self.dtypes)}")

    def peak_macs_per_s(self, dtype: str) -> Any:
        """Headline dense MAC/s for ``dtype`` on the main unit: GPU tensor cores where the dtype
        has them, else CUDA cores; DSP HMX where present for the dtype, else all HVX units;
        CPU all cores' SIMD FMA pipes; accelerator the MAC array (the kind's section says
        which). Works on knob arrays. ``"amp"`` (CUDA autocast) is its MAC dtype, fp16."""
        dtype = AMP_MAC_DTYPE if dtype == DType.AMP else dtype
        self._check_dtype(dtype)
        return self.unit.peak_macs_per_s(self, dtype)

    def vector_macs_per_s(self, dtype: str) -> Any:
        """MAC/s of the general-purpose vector path (GPU CUDA cores, DSP HVX, CPU SIMD); the rate
        depthwise convs and elementwise work get. Accelerator: its MAC array."""
        dtype = AMP_MAC_DTYPE if dtype == DType.AMP else dtype
        self._check_dtype(dtype)
        return self.unit.vector_macs_per_s(self, dtype)

    # ------------------------------------------------------------------ knobs

    def _leaves(self) -> dict[str, tuple[str, ...]]:
        """Addressable numeric (and bool) leaves of this spec: dotted path -> field path."""
        return _leaves_of(self, all_sections=False)

    def knob_names(self) -> tuple[str, ...]:
        """Every addressable leaf, by its short name where that resolves to it, else its path."""
        leaves = self._leaves()
        out = []
        for path in leaves:
            short = _short(path)
            try:
                out.append(short if self._resolve(short, leaves) == path else path)
            except HardwareError:
                out.append(path)
        return tuple(out)

    def knob_value(self, name: str) -> Any:
        """Current value of the knob ``name`` (short name or dotted path, as :meth:`with_knobs`
        takes it); efficiency keys without an entry give what :meth:`eff` falls back to."""
        path = self._leaves()[self._resolve(name, self._leaves())]
        obj: Any = self
        for part in path:
            if isinstance(obj, Mapping):
                if part not in obj and path[0] == "efficiency":
                    return self.eff(part)
                obj = obj[part]
            else:
                obj = getattr(obj, part)
        return obj

    def _resolve(self, name: str, leaves: Mapping[str, tuple[str, ...]]) -> str:
        if name in leaves:
            return name
        hits = [p for p in leaves if _short(p) == name]
        if len(hits) > 1:  # e.g. l2_bytes on a GPU spec that also carries a cpu section
            own = [p for p in hits if p.startswith(self.kind + ".")]
            if len(own) == 1:
                return own[0]
            raise HardwareError(f"knob {name!r} is ambiguous on {self.name!r}; "
                                f"use one of: {', '.join(hits)}")
        if hits:
            return hits[0]
        elsewhere = [p for p in _all_paths() if p == name or _short(p) == name]
        if elsewhere:
            section = elsewhere[0].split(".", 1)[0]
            if section in SECTIONS and getattr(self, section) is None:
                raise HardwareError(f"knob {name!r} belongs to the {section} section, which "
                                    f"{self.name!r} (kind {self.kind}) does not have")
            raise HardwareError(f"knob {name!r}: {self.name!r} has no such entry "
                                f"(add it to the YAML to sweep it)")
        choices = list(self.knob_names())
        hint = did_you_mean(name, choices + list(leaves)) or "; see knob_names()"
        raise HardwareError(f"unknown knob {name!r} for {self.name!r}{hint}")

    def with_knobs(self, knobs: Mapping[str, object], *, check: bool = True) -> "HardwareSpec":
        """A copy with numeric leaves replaced. Values may be scalars or numpy arrays (lists
        become arrays) for vectorized cost evaluation. Every element is checked by the same rule
        the YAML loader applies to that key (a negative SM count or an efficiency above 1 is a
        :class:`HardwareError` naming the knob, the value and what is expected). ``check=False``
        is for fitting code that explores unbounded parameters (an efficiency above 1 before it
        is folded into the clock) and never hands the spec to a user."""
        leaves = self._leaves()
        spec: HardwareSpec = self
        seen: dict[str, str] = {}
        shapes: list[tuple[int, ...]] = [self.batch_shape]
        for name, value in knobs.items():
            path = self._resolve(str(name), leaves)
            if path in seen:
                raise HardwareError(f"knobs {seen[path]!r} and {name!r} both set {path}")
            seen[path] = str(name)
            if isinstance(value, (list, tuple)):
                value = np.asarray(value)
            if check:
                _check_knob(str(name), leaves[path], value)
            spec = _set_leaf(spec, leaves[path], value)
            shapes.append(np.shape(value))
        try:
            batch = np.broadcast_shapes(*shapes)
        except ValueError:
            raise HardwareError("knob arrays of shapes " + ", ".join(map(str, shapes[1:]))
                                + " do not broadcast to one batch shape") from None
        object.__setattr__(spec, "_batch_shape", tuple(int(n) for n in batch))
        return spec

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Shape of the configuration batch this spec stands for: () for one configuration,
        else the broadcast shape of every knob array set by :meth:`with_knobs` (computed once
        there). Every cost of this spec has this shape (``cost.base.conform``)."""
        return getattr(self, "_batch_shape", ())

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """Plain YAML/JSON-able dict (sections left out when absent); loads back equal."""
        return _to_plain(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    def spec_hash(self) -> str:
        """sha256[:12] of the canonical JSON of to_dict(): stable across runs and machines."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- knob helpers

def _short(path: str) -> str:
    """Short knob name: the path without its section (``gpu.sm_count`` -> ``sm_count``)."""
    head, _, rest = path.partition(".")
    return rest if head in SECTIONS and rest else path


def _numeric_field(f: dataclasses.Field) -> bool:
    return isinstance(f.metadata.get("check"), (_Num, _Bool))


def _leaves_of(spec: HardwareSpec | None, all_sections: bool) -> dict[str, tuple[str, ...]]:
    """Dotted path -> field path. ``all_sections`` enumerates every path the schema allows
    (used to explain a knob that needs a missing section)."""
    out: dict[str, tuple[str, ...]] = {}

    def walk(obj: Any, cls: type, prefix: tuple[str, ...]) -> None:
        for f in dataclasses.fields(cls):
            check = f.metadata["check"]
            path = prefix + (f.name,)
            if f.name == "schema_version":
                continue
            if _numeric_field(f):
                out[".".join(path)] = path
            elif isinstance(check, _NumMap):
                # efficiency keys are all addressable (eff() has fallbacks); other maps only
                # where the entry exists, since an entry there declares a capability
                keys = check.keys if (all_sections or f.name == "efficiency") \
                    else tuple(getattr(obj, f.name))
                for k in keys:
                    out[".".join(path) + "." + k] = path + (k,)
            elif isinstance(check, _Section):
                sub = None if obj is None else getattr(obj, f.name)
                if sub is not None or all_sections:
                    walk(sub, check.cls, path)

    walk(spec, HardwareSpec, ())
    return out


@lru_cache(maxsize=1)
def _all_paths() -> tuple[str, ...]:
    """Every knob path the schema allows, whatever sections a spec has (immutable, cached)."""
    return tuple(_leaves_of(None, all_sections=True))


def _leaf_check(path: tuple[str, ...]) -> Any:
    """The load-time check of the leaf at ``path`` (a field of a section, or a map entry)."""
    cls: Any = HardwareSpec
    check: Any = None
    for part in path:
        if isinstance(check, _NumMap):
            return check.value
        check = {f.name: f.metadata["check"] for f in dataclasses.fields(cls)}[part]
        if isinstance(check, _Section):
            cls = check.cls
    return check.value if isinstance(check, _NumMap) else check


def _check_knob(name: str, path: tuple[str, ...], value: Any) -> None:
    """Every element of a knob value passes the YAML rule of its key, else HardwareError."""
    check = _leaf_check(path)
    for v in np.asarray(value, dtype=object).ravel():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(check, _Num) and check.convert(v) is None:
            raise HardwareError(f"knob {name!r} = {_show(v)}; {check.expected()}")
        if isinstance(check, _Bool) and v not in (0, 1):   # True/False, or 0/1 in arrays
            raise HardwareError(f"knob {name!r} = {_show(v)}; expected true or false")


def _set_leaf(obj: Any, path: tuple[str, ...], value: Any) -> Any:
    head = path[0]
    if len(path) == 1:
        if isinstance(obj, Mapping):
            return FrozenDict({**obj, head: value})
        return dataclasses.replace(obj, **{head: value})
    child = obj[head] if isinstance(obj, Mapping) else getattr(obj, head)
    new_child = _set_leaf(child, path[1:], value)
    if isinstance(obj, Mapping):
        return FrozenDict({**obj, head: new_child})
    return dataclasses.replace(obj, **{head: new_child})


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- loading

# YAML 1.1 (PyYAML) reads 1e9 and 405e-9 as strings; spec files use them everywhere, so accept
# the YAML 1.2 float forms. Duplicate keys are an error instead of "last one wins".
_FLOAT_RE = re.compile(r"""^[-+]?(?:
    [0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
  | [0-9][0-9_]*[eE][-+]?[0-9]+
  | \.[0-9_]+(?:[eE][-+]?[0-9]+)?
  | \.(?:inf|Inf|INF) | \.(?:nan|NaN|NAN))$""", re.X)


class _SpecLoader(yaml.SafeLoader):
    pass


_SpecLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE,
                                  list("-+0123456789."))


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        self.key, self.line = key, line


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    out = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in out:
            raise _DuplicateKey(str(key), key_node.start_mark.line + 1)
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


_SpecLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, file: str) -> Any:
    """YAML text -> Python objects with the spec loader; syntax errors become SpecError."""
    try:
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - SafeLoader subclass
    except _DuplicateKey as e:
        raise SpecError(file, e.key, f"duplicate key at line {e.line}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SpecError(file, "", f"invalid YAML{where}: {problem}") from None


def _cross_check(spec: HardwareSpec, file: str) -> None:
    """Rules spanning several keys."""
    if getattr(spec, spec.kind) is None:
        raise SpecError(file, spec.kind, f"missing required section for kind {spec.kind!r}")
    for i, dt in enumerate(spec.dtypes):
        if dt not in spec.energy.mac_pj:
            raise SpecError(file, "energy.mac_pj", f"missing entry for supported dtype {dt!r} "
                            f"(dtypes[{i}])")
    spec.unit.cross_check(spec, file)
    if "ccp" in spec.layouts and not (spec.accelerator and spec.accelerator.cross_channel_pool):
        raise SpecError(file, "layouts", "'ccp' needs accelerator.cross_channel_pool: true")


def load_spec_dict(d: Mapping[str, Any], file: str = "<dict>") -> HardwareSpec:
    """Validate a parsed spec mapping and build the frozen :class:`HardwareSpec`."""
    spec = _build(HardwareSpec, d, file, "")
    _cross_check(spec, file)
    return spec
