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
import math
import numbers
import re
from functools import lru_cache
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any, Iterator

import numpy as np
import yaml

from codesign.errors import HardwareError, SpecError, did_you_mean

SCHEMA_VERSION = 1
KINDS: tuple[str, ...] = ("gpu", "dsp", "cpu", "accelerator")
DTYPES: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "int8")
LAYOUTS: tuple[str, ...] = ("nchw", "nhwc", "ccp")  # ccp: cross-channel pooling before the store
# Achieved/peak fractions by op class. "conv" is the family fallback for every "conv.*" key
# (eff() tries the prefix before the first '.'); "memory" is the achieved fraction of DRAM
# bandwidth; the others derate compute of the unit that runs the op.
EFFICIENCY_KEYS: tuple[str, ...] = (
    "default", "matmul", "conv", "conv.pointwise", "conv.standard", "conv.depthwise",
    "conv.grouped", "conv.dilated", "conv.large_kernel", "conv.band", "conv.3d",
    "conv.transposed", "conv.depthwise_nchw", "conv.depthwise_wgrad", "attention", "memory", "vector", "vector.transcendental",
    "vector.resample", "softmax", "norm", "reduction", "pool",
)
NO_DERATING = 1.0  # eff() when neither the key, its family, "default" nor a default is given
DTYPE_BYTES: Mapping[str, int] = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "int8": 1}
# CUDA-core int8 throughput: dp4a does 4 int8 MACs per FP32 lane per clock (CC >= 6.1).
GPU_DP4A_MACS_PER_LANE = 4


# --------------------------------------------------------------------------- immutable mapping


class FrozenDict(Mapping):
    """A read-only, hashable, picklable mapping (MappingProxyType does not pickle, which Dask needs)."""

    __slots__ = ("_d",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._d = dict(*args, **kwargs)

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        return hash(tuple(self._d.items()))

    def __repr__(self) -> str:
        return f"FrozenDict({self._d!r})"

    def __reduce__(self):
        return (FrozenDict, (self._d,))


def _deep_freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return FrozenDict({str(k): _deep_freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_deep_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- field checks


@dataclass(frozen=True)
class _Num:
    """A number: integer or real, with a lower bound, optional upper bound or allowed set."""

    integer: bool = False
    lower: float = 0.0
    lower_inclusive: bool = False
    upper: float | None = None
    allowed: tuple[int, ...] | None = None

    def expected(self) -> str:
        if self.allowed:
            return "allowed: " + ", ".join(str(a) for a in self.allowed)
        if self.upper is not None:
            lo = "[" if self.lower_inclusive else "("
            return f"expected a number in {lo}{self.lower:g}, {self.upper:g}]"
        what = "an integer" if self.integer else "a number"
        if self.lower == 0 and not self.lower_inclusive:
            return f"expected a positive {what.split(' ', 1)[1]}"
        return f"expected {what} {'>=' if self.lower_inclusive else '>'} {self.lower:g}"

    def convert(self, v: Any) -> int | float | None:
        """The converted value, or None when v does not satisfy the check."""
        # numbers.Real admits numpy scalars (calibration output); bools are not numbers here
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            return None
        if not math.isfinite(v):
            return None
        if self.integer:
            if isinstance(v, float) and not v.is_integer():
                return None
            v = int(v)
        else:
            v = float(v)
        if self.allowed is not None:
            return v if v in self.allowed else None
        if v < self.lower or (v == self.lower and not self.lower_inclusive):
            return None
        if self.upper is not None and v > self.upper:
            return None
        return v


@dataclass(frozen=True)
class _Str:
    allowed: tuple[str, ...] | None = None
    nonempty: bool = False


@dataclass(frozen=True)
class _StrSet:
    """A non-empty list of distinct strings from ``allowed``; stored as a tuple."""

    allowed: tuple[str, ...]


@dataclass(frozen=True)
class _NumMap:
    """A mapping from a closed key set to numbers; stored as a FrozenDict."""

    keys: tuple[str, ...]
    value: _Num


@dataclass(frozen=True)
class _Bool:
    pass


@dataclass(frozen=True)
class _Section:
    cls: type


@dataclass(frozen=True)
class _Free:
    """Free-form YAML mapping (provenance); deep-frozen."""


_POS_INT = _Num(integer=True)
_POS = _Num()
_NONNEG = _Num(lower_inclusive=True)
_FRACTION = _Num(upper=1.0)


def _f(check: Any, default: Any = MISSING, *, default_factory: Any = MISSING) -> Any:
    """A dataclass field carrying its load-time check in metadata."""
    return field(default=default, default_factory=default_factory, metadata={"check": check})


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class DispatchSpec:
    """Host-side cost per launched kernel/op, added to every op's latency."""

    eager_overhead_s: float = _f(_NONNEG)  # eager framework (PyTorch): per aten op
    graph_overhead_s: float = _f(_NONNEG)  # graph replay / compiled engine: per kernel


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


@dataclass(frozen=True)
class AcceleratorSpec:
    mac_count: int = _f(_POS_INT)
    sram_bytes: float = _f(_POS)
    dma_bandwidth_bytes_per_s: float = _f(_POS)
    cross_channel_pool: bool = _f(_Bool())
    line_buffer_bytes: float = _f(_NONNEG)


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
    efficiency: Mapping[str, float] = _f(_NumMap(EFFICIENCY_KEYS, _FRACTION))
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
        CPU all cores' SIMD FMA pipes; accelerator the MAC array. Works on knob arrays."""
        self._check_dtype(dtype)
        clk = self.clock_hz
        if self.kind == "gpu":
            g = self.gpu
            if dtype in g.tensor_flops_per_clock_per_sm:
                return g.sm_count * g.tensor_flops_per_clock_per_sm[dtype] / 2 * clk
            return self.vector_macs_per_s(dtype)
        if self.kind == "dsp":
            d = self.dsp
            if dtype in d.hmx_macs_per_cycle:
                return d.hmx_macs_per_cycle[dtype] * clk
            return self.vector_macs_per_s(dtype)
        return self.vector_macs_per_s(dtype)

    def vector_macs_per_s(self, dtype: str) -> Any:
        """MAC/s of the general-purpose vector path (GPU CUDA cores, DSP HVX, CPU SIMD); the rate
        depthwise convs and elementwise work get. Accelerator: its MAC array."""
        self._check_dtype(dtype)
        clk = self.clock_hz
        if self.kind == "gpu":
            g = self.gpu
            lanes = g.sm_count * g.fp32_lanes_per_sm * clk  # one FMA per lane per clock
            if dtype in ("fp32", "tf32"):
                return lanes
            if dtype in ("fp16", "bf16"):
                return lanes * g.fp16_vector_speedup
            return lanes * GPU_DP4A_MACS_PER_LANE
        if self.kind == "dsp":
            d = self.dsp
            if dtype not in d.macs_per_cycle_per_unit:
                raise HardwareError(f"{self.name!r} has no HVX rate for {dtype!r} "
                                    f"(dsp.macs_per_cycle_per_unit)")
            return d.hvx_units * d.macs_per_cycle_per_unit[dtype] * clk
        if self.kind == "cpu":
            c = self.cpu
            lanes = c.simd_width_bits / (8 * DTYPE_BYTES[dtype])
            return c.cores * c.fma_units * lanes * clk
        return self.accelerator.mac_count * clk

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

    def with_knobs(self, knobs: Mapping[str, object]) -> "HardwareSpec":
        """A copy with numeric leaves replaced. Values may be scalars or numpy arrays (lists
        become arrays) for vectorized cost evaluation; nothing is validated but the names."""
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


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return repr(v)
    text = json.dumps(v, default=str) if isinstance(v, (list, dict)) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad_value(file: str, key: str, value: Any, expected: str) -> SpecError:
    """``file: key = value; expected ...`` (the key path stays in .key for programs)."""
    err = SpecError(file, key, f"{_show(value)}; {expected}")
    err.args = (f"{file}: {key} = {_show(value)}; {expected}",)
    return err


def _unknown_key(file: str, prefix: str, key: Any, allowed: tuple[str, ...]) -> SpecError:
    path = f"{prefix}.{key}" if prefix else str(key)
    hint = did_you_mean(str(key), allowed)
    tail = hint if hint else f"; allowed: {', '.join(allowed)}"
    return SpecError(file, path, f"unknown key {str(key)!r}{tail}")


def _build(cls: type, data: Any, file: str, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise _bad_value(file, prefix or "<top level>", data, "expected a mapping of keys")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise _unknown_key(file, prefix, key, tuple(fields))
    kwargs = {}
    for name, f in fields.items():
        path = f"{prefix}.{name}" if prefix else name
        check = f.metadata["check"]
        if name not in data:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue
            if cls is HardwareSpec and name == "efficiency":
                kwargs[name] = FrozenDict()
                continue
            raise SpecError(file, path, f"missing required key ({_describe(check)})")
        kwargs[name] = _convert(check, data[name], file, path)
    return cls(**kwargs)


def _describe(check: Any) -> str:
    if isinstance(check, _Num):
        return check.expected()
    if isinstance(check, _Str):
        return "allowed: " + ", ".join(check.allowed) if check.allowed else "expected a string"
    if isinstance(check, _StrSet):
        return "a list from: " + ", ".join(check.allowed)
    if isinstance(check, _NumMap):
        return "a mapping with keys from: " + ", ".join(check.keys)
    if isinstance(check, _Section):
        return "a mapping"
    if isinstance(check, _Bool):
        return "true or false"
    return "a mapping"


def _convert(check: Any, v: Any, file: str, path: str) -> Any:
    if isinstance(check, _Num):
        out = check.convert(v)
        if out is None:
            raise _bad_value(file, path, v, check.expected())
        return out
    if isinstance(check, _Bool):
        if not isinstance(v, bool):
            raise _bad_value(file, path, v, "expected true or false")
        return v
    if isinstance(check, _Str):
        if not isinstance(v, str) or (check.nonempty and not v.strip()):
            raise _bad_value(file, path, v, "expected a non-empty string" if check.nonempty
                             else "expected a string")
        if check.allowed is not None and v not in check.allowed:
            raise _bad_value(file, path, v, "allowed: " + ", ".join(check.allowed)
                             + did_you_mean(v, check.allowed))
        return v
    if isinstance(check, _StrSet):
        if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v:
            raise _bad_value(file, path, v, "expected a non-empty list from: "
                             + ", ".join(check.allowed))
        for i, item in enumerate(v):
            if item not in check.allowed:
                raise _bad_value(file, f"{path}[{i}]", item, "allowed: " + ", ".join(
                    check.allowed) + did_you_mean(str(item), check.allowed))
        if len(set(v)) != len(v):
            raise _bad_value(file, path, v, "expected distinct entries")
        return tuple(v)
    if isinstance(check, _NumMap):
        if v is None:
            v = {}
        if not isinstance(v, Mapping):
            raise _bad_value(file, path, v, "expected a mapping with keys from: "
                             + ", ".join(check.keys))
        out = {}
        for k, x in v.items():
            if k not in check.keys:
                raise _unknown_key(file, path, k, check.keys)
            out[k] = _convert(check.value, x, file, f"{path}.{k}")
        return FrozenDict(out)
    if isinstance(check, _Section):
        return _build(check.cls, v, file, path)
    if isinstance(check, _Free):
        if v is None:
            return FrozenDict()
        if not isinstance(v, Mapping):
            raise _bad_value(file, path, v, "expected a mapping")
        return _deep_freeze(v)
    raise AssertionError(f"no converter for {check!r}")  # internal invariant


def _cross_check(spec: HardwareSpec, file: str) -> None:
    """Rules spanning several keys."""
    if getattr(spec, spec.kind) is None:
        raise SpecError(file, spec.kind, f"missing required section for kind {spec.kind!r}")
    for i, dt in enumerate(spec.dtypes):
        if dt not in spec.energy.mac_pj:
            raise SpecError(file, "energy.mac_pj", f"missing entry for supported dtype {dt!r} "
                            f"(dtypes[{i}])")
    if spec.kind == "gpu":
        tensor = spec.gpu.tensor_flops_per_clock_per_sm
        for i, dt in enumerate(spec.dtypes):
            if dt not in ("fp32", "fp16") and dt not in tensor and dt != "int8":
                raise SpecError(file, f"dtypes[{i}]", f"{dt!r} needs a tensor-core rate in "
                                "gpu.tensor_flops_per_clock_per_sm (CUDA cores run fp32, fp16, int8)")
    if spec.kind == "dsp":
        d = spec.dsp
        for i, dt in enumerate(spec.dtypes):
            if dt not in d.macs_per_cycle_per_unit and dt not in d.hmx_macs_per_cycle:
                raise SpecError(file, f"dtypes[{i}]", f"{dt!r} needs a rate in "
                                "dsp.macs_per_cycle_per_unit or dsp.hmx_macs_per_cycle")
    if "ccp" in spec.layouts and not (spec.accelerator and spec.accelerator.cross_channel_pool):
        raise SpecError(file, "layouts", "'ccp' needs accelerator.cross_channel_pool: true")


def load_spec_dict(d: Mapping[str, Any], file: str = "<dict>") -> HardwareSpec:
    """Validate a parsed spec mapping and build the frozen :class:`HardwareSpec`."""
    spec = _build(HardwareSpec, d, file, "")
    _cross_check(spec, file)
    return spec
