"""Cost-model contract: one pure function per (op kind, hardware kind), registered once.

A cost function takes ``(op, hw, ctx)`` and returns an :class:`OpCost`. It must be written
with numpy ufuncs (``np.maximum``, ``np.ceil``, ``np.where``, ...) and never branch in Python
on a *hardware* value: sweeps call it once with a spec whose numeric fields are arrays over
thousands of configurations (``HardwareSpec.with_knobs``) and get array-valued costs back.
Branching on op shapes, dtype and mode (Python values) is fine.

Every cost is ``max(compute_s, memory_s) + overhead_s`` (design.md, modeling principles).

A cost is a function of the work an op does, not of where it sits in the graph: a cost
function must not read ``op.index``, ``op.name``, ``op.module`` or tensor ``tid``s
(:func:`cost_key` leaves them out, and ``estimate_costs`` costs ops with equal keys once).
Effects of an op's position (a launch queue, a graph launch) are graph passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Mapping, Union

import numpy as np

from codesign.errors import CodesignError
from codesign.ir.graph import TENSOR_NBYTES, WORK_KEY_MAX_TENSORS, Op, OpKind
from codesign.types import DType, HardwareKind, Layout, Mode, values

if TYPE_CHECKING:
    from codesign.hardware.spec import HardwareSpec

Num = Union[float, np.ndarray]

#: simulated precisions: the compute dtypes, plus "amp" = CUDA autocast (fp16) on GPUs, where
#: each tensor keeps the dtype autocast gives it (a graph traced with ``trace(...,
#: autocast="fp16")``; on a plain fp32 trace "amp" is costed as "fp16" with the weight casts)
DTYPES = values(DType)
PRECISIONS = DTYPES
MODES = values(Mode)
LAYOUTS = values(Layout)
HW_KINDS = values(HardwareKind)

#: bytes per element of each compute dtype (tf32 is stored as fp32)
DTYPE_BYTES = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "int8": 1, "w8a16": 2, "amp": 2}
#: dtype of the weights where it differs from the activations' (w8a16: int8 weights)
WEIGHT_DTYPE = {"w8a16": "int8"}
#: torch dtype name of the stored tensors for each compute dtype
STORAGE_DTYPE = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16",
                 "int8": "int8", "w8a16": "int16", "amp": "float16"}


@dataclass(frozen=True, slots=True)
class CostContext:
    """The run settings every cost function sees (Python values, never arrays)."""

    dtype: DType = DType.FP32
    mode: Mode = Mode.EAGER
    layout: Layout = Layout.NCHW

    @property
    def eager(self) -> bool:
        return self.mode == Mode.EAGER


@dataclass(frozen=True, slots=True)
class Tile:
    """A uniform tile of a tiled op (DSP / accelerator): the event engine pipelines them."""

    count: int                  # number of tiles
    dma_in_bytes: float         # per tile, DRAM -> on-chip
    dma_out_bytes: float        # per tile, on-chip -> DRAM
    compute_s: Num              # per tile
    onchip_bytes: float         # working-set of one tile (buffer occupancy)


@dataclass(frozen=True, slots=True)
class OpCost:
    """Cost of one op on one hardware configuration (fields may be arrays over configs).

    ``onchip_bytes`` is the traffic through on-chip memories (SRAM/VTCM/L1/shared) and
    ``l2_bytes`` through a last-level cache, both for the energy model. ``unit`` names the
    engine that runs it (tensor_core, cuda_core, hvx, hmx, dma, mac_array, simd, none).
    """

    compute_s: Num
    memory_s: Num
    overhead_s: Num
    dram_read_bytes: Num
    dram_write_bytes: Num
    onchip_bytes: Num = 0.0
    l2_bytes: Num = 0.0
    macs: float = 0.0
    vector_ops: float = 0.0
    unit: str = "none"
    tiles: Tile | None = None
    note: str = ""

    @property
    def latency_s(self) -> Num:
        c, m, o = self.compute_s, self.memory_s, self.overhead_s
        if type(c) is float and type(m) is float and type(o) is float:   # one configuration
            return float_maximum(c, m) + o
        return np.maximum(c, m) + o

    @property
    def dram_bytes(self) -> Num:
        return self.dram_read_bytes + self.dram_write_bytes

    @property
    def bound(self):
        """'compute' | 'memory' | 'overhead' (array of strings when vectorized)."""
        c, m, o = self.compute_s, self.memory_s, self.overhead_s
        if type(c) is float and type(m) is float and type(o) is float:   # one configuration
            return float_bound(c, m, o)
        busy = np.maximum(self.compute_s, self.memory_s)
        kind = np.where(self.compute_s >= self.memory_s, "compute", "memory")
        out = np.where(np.asarray(self.overhead_s) > busy, "overhead", kind)
        return str(out) if np.ndim(out) == 0 else out


def float_bound(compute_s: float, memory_s: float, overhead_s: float) -> str:
    """:attr:`OpCost.bound` of one configuration's figures."""
    c, m, o = compute_s, memory_s, overhead_s
    return "overhead" if o > c and o > m else ("compute" if c >= m else "memory")


CostFn = Callable[[Op, object, CostContext], OpCost]
#: a graph-level pass of one hardware kind over the per-op costs:
#: ``(costs, hw, ctx, ops, graph) -> costs`` (``ops[i]`` the merged op costed in ``costs[i]``)
GraphPass = Callable[[list, object, CostContext, list, object], list]
#: a pre-pass of one hardware kind over the distinct ops a simulation is about to cost:
#: ``(ops, hw, ctx) -> None``; it may only fill a memo of pure functions the cost functions
#: then hit (results are the same with or without it)
PrePass = Callable[[list, object, CostContext], None]


#: the efficiency classes the microbenchmark fit adjusts on a kind with no calibration model
GENERIC_FIT_CLASSES = ("matmul", "conv", "conv.depthwise", "vector", "softmax", "norm",
                       "reduction", "pool", "attention")


def _generic_parameters(hw: HardwareSpec, ops) -> set[str]:
    return {"efficiency." + k for k in GENERIC_FIT_CLASSES}


def _no_bounds(path: str) -> tuple[float, float] | None:
    return None


def _no_warnings(spec: HardwareSpec) -> list[str]:
    return []


def _unchanged(hw: HardwareSpec, params):
    return hw


def _write_clipped(d: dict, values: dict, threads: int) -> dict:
    """Fitted efficiencies capped at 1 (a higher value says a mechanism is missing)."""
    for path in [p for p in values if p.startswith("efficiency.")]:
        d["efficiency"][path.partition(".")[2]] = round(float(min(values.pop(path), 1.0)), 5)
    return {}


@dataclass(frozen=True)
class CalibrationModel:
    """What the microbenchmark fit (:mod:`codesign.calibration.host`) may adjust on one
    hardware kind and how fitted values go back into a spec; owned by that kind's cost module.

    ``parameters(hw, ops)``: knob paths beyond the shared ones (dispatch overhead, memory
    efficiency) that the benchmark ``ops`` exercise. ``bounds(path)``: the fit's bounds of a
    path, or None for the shared defaults. ``prepare(hw, params)``: the spec the fit starts from
    (entries the fitted paths need). ``write(d, values, threads)``: moves the values it owns from
    ``values`` into the spec dict ``d`` (in place) and returns the provenance ``clock`` entry;
    values it leaves are written as plain knob paths. ``plausibility(spec)``: warnings about
    fitted values outside the kind's physical ranges."""

    parameters: Callable = _generic_parameters
    bounds: Callable = _no_bounds
    prepare: Callable = _unchanged
    write: Callable = _write_clipped
    plausibility: Callable = _no_warnings


DEFAULT_CALIBRATION = CalibrationModel()


@dataclass
class CostRegistry:
    """(OpKind, hardware kind) -> cost function. A second registration raises (style rule 3)."""

    table: dict[tuple[OpKind, str], CostFn] = field(default_factory=dict)
    passes: dict[str, list[tuple[str, GraphPass]]] = field(default_factory=dict)
    prepasses: dict[str, PrePass] = field(default_factory=dict)
    calibrations: dict[str, CalibrationModel] = field(default_factory=dict)

    def register(self, kind: OpKind, hw_kind: str, fn: CostFn) -> None:
        if hw_kind not in HW_KINDS:
            raise ValueError(f"unknown hardware kind {hw_kind!r}; allowed: {', '.join(HW_KINDS)}")
        key = (kind, hw_kind)
        if key in self.table:
            old = self.table[key]
            raise ValueError(
                f"cost for {kind.value} on {hw_kind} registered twice: "
                f"{old.__module__}.{old.__qualname__} and {fn.__module__}.{fn.__qualname__}")
        self.table[key] = fn

    def lookup(self, kind: OpKind, hw_kind: str) -> CostFn | None:
        return self.table.get((kind, hw_kind))

    def register_pass(self, hw_kind: str, name: str, fn: GraphPass) -> None:
        """Add a graph-level pass that runs, in registration order, after the per-op costs of
        ``hw_kind`` (the GPU's asynchronous launch queue, a compiled graph's launch cost)."""
        if hw_kind not in HW_KINDS:
            raise ValueError(f"unknown hardware kind {hw_kind!r}; allowed: {', '.join(HW_KINDS)}")
        if any(n == name for n, _ in self.passes.get(hw_kind, ())):
            raise ValueError(f"graph pass {name!r} on {hw_kind} registered twice")
        self.passes.setdefault(hw_kind, []).append((name, fn))

    def graph_passes(self, hw_kind: str) -> tuple[tuple[str, GraphPass], ...]:
        return tuple(self.passes.get(hw_kind, ()))

    def register_prepass(self, hw_kind: str, fn: PrePass) -> None:
        """The pre-pass of ``hw_kind`` (once per kind): it sees every distinct op of a
        simulation before the per-op costs run, so it can batch work they share (the GPU's
        GEMM tile searches, one numpy search over all GEMMs of a graph)."""
        if hw_kind not in HW_KINDS:
            raise ValueError(f"unknown hardware kind {hw_kind!r}; allowed: {', '.join(HW_KINDS)}")
        if hw_kind in self.prepasses:
            raise ValueError(f"pre-pass of {hw_kind} registered twice")
        self.prepasses[hw_kind] = fn

    def prepass(self, hw_kind: str) -> PrePass | None:
        return self.prepasses.get(hw_kind)

    def register_calibration(self, hw_kind: str, model: CalibrationModel) -> None:
        """The microbenchmark-fit parameters of ``hw_kind`` (once per kind)."""
        if hw_kind not in HW_KINDS:
            raise ValueError(f"unknown hardware kind {hw_kind!r}; allowed: {', '.join(HW_KINDS)}")
        if hw_kind in self.calibrations:
            raise ValueError(f"calibration model of {hw_kind} registered twice")
        self.calibrations[hw_kind] = model

    def calibration(self, hw_kind: str) -> CalibrationModel:
        """The calibration model of ``hw_kind`` (the generic efficiency fit when it has none)."""
        return self.calibrations.get(hw_kind, DEFAULT_CALIBRATION)

    def covers(self) -> Mapping[tuple[OpKind, str], str]:
        return {k: f"{f.__module__}.{f.__qualname__}" for k, f in self.table.items()}


def registrar(registry: CostRegistry, kinds, hw_kind: str):
    """Decorator: register ``fn`` for each op kind in ``kinds`` on ``hw_kind``."""
    kinds = (kinds,) if isinstance(kinds, OpKind) else tuple(kinds)

    def deco(fn: CostFn) -> CostFn:
        for k in kinds:
            registry.register(k, hw_kind, fn)
        return fn

    return deco


def check_choice(name: str, value: str, allowed) -> str:
    if value not in allowed:
        raise CodesignError(f"{name} = {value!r}; allowed: {', '.join(allowed)}")
    return value


def op_bytes(op: Op, dtype: str) -> tuple[float, float, float]:
    """(activation read, weight read, write) bytes of ``op`` when run in ``dtype``.

    Floating tensors take the compute dtype's size (weights that of ``WEIGHT_DTYPE`` where the
    dtype names one); integer tensors (indices) keep theirs.
    """
    if dtype == DType.AMP:   # tensor_bytes under "amp", inlined: foreach optimizer kernels
        # carry hundreds of tensors (issue 16 speed)
        # one pass over the inputs, integer sums (exact: byte counts stay far below 2**53, so
        # equal to the sums of floats)
        act = w = 0
        for t in op.inputs:
            if t.is_weight:
                w += TENSOR_NBYTES(t)
            else:
                act += TENSOR_NBYTES(t)
        return float(act), float(w), float(sum(map(TENSOR_NBYTES, op.outputs)))
    act = sum(tensor_bytes(t, dtype) for t in op.inputs if not t.is_weight)
    w = sum(tensor_bytes(t, WEIGHT_DTYPE.get(dtype, dtype)) for t in op.inputs if t.is_weight)
    out = sum(tensor_bytes(t, dtype) for t in op.outputs)
    return act, w, out


def tensor_bytes(t, dtype: str) -> float:
    """Bytes of tensor ``t`` when run in ``dtype``: floating tensors take the compute dtype's
    size, integer tensors (indices) keep theirs; under "amp" every tensor keeps its traced
    dtype (autocast decided it)."""
    if dtype == DType.AMP:
        return float(t.nbytes)
    if t.dtype.startswith(("float", "bfloat")):
        return float(t.numel * DTYPE_BYTES[dtype])
    return float(t.nbytes)


_ARRAY_FIELDS = ("compute_s", "memory_s", "overhead_s", "dram_read_bytes", "dram_write_bytes",
                 "onchip_bytes", "l2_bytes")


def conform(cost: OpCost, shape: tuple[int, ...]) -> OpCost:
    """The vectorization contract in one place: every array field of ``cost`` takes the spec's
    batch shape (``HardwareSpec.batch_shape``): a float for one configuration, an array of
    ``shape`` for a sweep. A cost function may return scalars for fields that do not depend on
    the swept knobs; a field whose shape does not broadcast to ``shape`` is a bug and raises."""
    if not shape and type(cost.compute_s) is float and type(cost.memory_s) is float \
            and type(cost.overhead_s) is float and type(cost.dram_read_bytes) is float \
            and type(cost.dram_write_bytes) is float and type(cost.onchip_bytes) is float \
            and type(cost.l2_bytes) is float:   # _ARRAY_FIELDS written out (once per work)
        return cost                     # one configuration, every field a float already

    def fit(v):
        if not shape:
            if np.ndim(v) > 0:
                if np.size(v) != 1:
                    raise ValueError(f"cost field of shape {np.shape(v)} for one configuration")
                return float(np.asarray(v).reshape(()))
            return float(v)
        return np.broadcast_to(np.asarray(v, dtype=float), shape)

    changes = {name: fit(getattr(cost, name)) for name in _ARRAY_FIELDS}
    tiles = cost.tiles
    if tiles is not None and shape and np.ndim(tiles.compute_s) == 0:
        tiles = replace(tiles, compute_s=np.broadcast_to(float(tiles.compute_s), shape))
    return replace(cost, tiles=tiles, **changes)


#: ops with more tensors than this are keyed by their identity (``Op.work_key``)
KEY_MAX_TENSORS = WORK_KEY_MAX_TENSORS


def cost_key(op: Op) -> tuple:
    """Everything of ``op`` a cost function may read: all fields but its identity (index,
    name, module path, tensor ids). Ops with equal keys have equal costs. An op with more than
    ``KEY_MAX_TENSORS`` tensors is keyed by its identity (equal only to itself). This is the
    IR's ``Op.work_key``; ``OpGraph.work_ids`` numbers the keys of a graph's ops once."""
    return op.work_key


#: the cost of an op fused into another (its leader carries the work)
ZERO = OpCost(0.0, 0.0, 0.0, 0.0, 0.0)


def apply_launch_queue(costs: list) -> list:
    """Asynchronous launch: the host issues kernel i at h_i = h_{i-1} + dispatch_i, the device
    ends it at e_i = max(h_i, e_{i-1}) + busy_i (busy = max(compute, memory)). Each op keeps
    as ``overhead_s`` only the dispatch time it exposes, max(0, h_i - e_{i-1}), so the sum of
    per-op latencies is the end-to-end time e_n. Small kernels at batch 1 stay dispatch-bound
    (as eager PyTorch is); large ones hide dispatch entirely. Vectorizes over configs.
    Fused-away ops (zero cost) and unsupported ops (None) pass through.
    """
    out = []
    hidden: dict = {}     # id(cost) -> the cost with its dispatch fully hidden (overhead 0)
    for c, exposed in zip(costs, launch_queue_dispatch(costs)):
        if exposed is None:
            out.append(c)
            continue
        if type(exposed) is float:                 # one configuration
            if exposed == c.overhead_s and exposed != 0.0:   # all of it exposed: as it is
                out.append(c)
                continue
            if exposed == 0.0:                     # all hidden (+0.0): one copy per cost
                h = hidden.get(id(c))
                if h is None:
                    h = hidden[id(c)] = with_overhead(c, exposed)
                out.append(h)
                continue
        out.append(with_overhead(c, exposed))
    return out


def launch_queue_dispatch(costs: list) -> list:
    """Per cost, the dispatch time it exposes under the asynchronous launch queue
    (:func:`apply_launch_queue`: the ``overhead_s`` it gives that op); None for a fused-away
    (``ZERO``) or unsupported (None) op. A Python float while every figure is one (one
    configuration: the same IEEE operations as the numpy path), else numpy."""
    host = 0.0
    end = 0.0
    out = []
    for c in costs:
        if c is None or c is ZERO:
            out.append(None)
            continue
        o, cs, ms = c.overhead_s, c.compute_s, c.memory_s
        if type(host) is float and type(end) is float and type(o) is float \
                and type(cs) is float and type(ms) is float:
            # one configuration: the same IEEE operations as the numpy path, on floats (with
            # float_maximum's comparisons written out: ~3,300 kernels a training step)
            host = host + o
            exposed = host - end
            if not (exposed > 0.0 or exposed != exposed):
                exposed = 0.0
            end = end + exposed + (cs if (cs > ms or cs != cs) else ms)
        else:
            host = host + o
            exposed = np.maximum(host - end, 0.0)
            end = end + exposed + np.maximum(cs, ms)
        out.append(exposed)
    return out


def with_overhead(c: OpCost, overhead: Num) -> OpCost:
    """``c`` with its overhead replaced (the launch queue's exposed dispatch)."""
    return OpCost(c.compute_s, c.memory_s, overhead, c.dram_read_bytes, c.dram_write_bytes,
                  c.onchip_bytes, c.l2_bytes, c.macs, c.vector_ops, c.unit, c.tiles, c.note)


def float_maximum(a: float, b: float) -> float:
    """``np.maximum`` on two floats, bit for bit: NaN propagates, a tie returns ``b``."""
    return a if (a > b or a != a) else b
