"""The op-graph IR: frozen tensors, ops and graphs. Imports no torch.

Glossary: MACs are multiply-accumulates (one MAC = 2 FLOPs, FLOPs only where shown);
bytes are for the traced dtype; ``elements`` is the output element count that bandwidth-bound
kernels process. Derived numbers are properties, never stored results (style rule 2).
"""

from __future__ import annotations

import enum
import math
import operator
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Mapping

DTYPE_BYTES: Mapping[str, int] = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4,
    "int16": 2, "int8": 1, "uint8": 1, "bool": 1, "complex64": 8, "float8_e4m3fn": 1,
}


class OpKind(str, enum.Enum):
    CONV = "conv"
    MATMUL = "matmul"
    ATTENTION = "attention"          # fused SDPA / fused MHA kernels
    SOFTMAX = "softmax"
    NORM = "norm"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    POOL = "pool"
    CROSS_CHANNEL_POOL = "cross_channel_pool"
    RESAMPLE = "resample"            # interpolate, pixel shuffle
    DATA_MOVEMENT = "data_movement"  # copies, contiguous, cat, materializing permutes
    OTHER = "other"                  # traced but not modelled: unsupported, always visible


class Phase(str, enum.Enum):
    FORWARD = "forward"
    BACKWARD = "backward"
    OPTIMIZER = "optimizer"


class ConvVariant(str, enum.Enum):
    POINTWISE = "pointwise"
    STANDARD = "standard"
    DEPTHWISE = "depthwise"
    GROUPED = "grouped"
    DILATED = "dilated"
    LARGE_KERNEL = "large_kernel"
    BAND = "band"
    CONV3D = "3d"
    TRANSPOSED = "transposed"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor value seen in the trace. ``tid`` is its identity: two specs with the same tid
    are the same value (a view of a value keeps the tid of what it aliases)."""

    tid: int
    shape: tuple[int, ...]
    dtype: str = "float32"
    is_weight: bool = False
    # dense row-major as the op received it; a transposed/permuted or sliced view is not (the
    # op, or a copy the framework makes for it, then gathers with non-unit strides)
    contiguous: bool = True
    # a 4-D / 5-D tensor dense in channels-last order and not in NCHW order (e.g. timm's
    # LayerNorm2d output, ``layer_norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)``, and the
    # residual adds that follow its strides): PyTorch's CUDA convs pick their kernels from it
    # (``codesign.cost.gpu.effective_layout``)
    channels_last: bool = False

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return DTYPE_BYTES.get(self.dtype, 4)

    @property
    def nbytes(self) -> int:
        # numel * itemsize written out: read ~25k times per simulate of a large training graph
        return math.prod(self.shape) * DTYPE_BYTES.get(self.dtype, 4)


#: the getters of TensorSpec.numel / .nbytes, for sums over long tensor lists without a
#: generator (multi-tensor optimizer kernels carry ~1,000-1,800 tensors)
TENSOR_NUMEL = TensorSpec.numel.fget
TENSOR_NBYTES = TensorSpec.nbytes.fget


@dataclass(frozen=True, slots=True)
class ConvAttrs:
    """Convolution geometry. ``kernel``/``stride``/... have one entry per spatial dim."""

    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int = 1
    transposed: bool = False
    passes: int = 1          # convolution_backward: grad-input + grad-weight = 2 passes

    @property
    def spatial_dims(self) -> int:
        return len(self.kernel)

    @property
    def variant(self) -> ConvVariant:
        """Derived variant; the first matching rule wins (transposed, 3-D, depthwise, grouped,
        pointwise, band, large-kernel (max k >= 7), dilated, standard)."""
        if self.transposed:
            return ConvVariant.TRANSPOSED
        if self.spatial_dims == 3:
            return ConvVariant.CONV3D
        if self.groups > 1 and self.groups == self.in_channels:
            return ConvVariant.DEPTHWISE
        if self.groups > 1:
            return ConvVariant.GROUPED
        if all(k == 1 for k in self.kernel):
            return ConvVariant.POINTWISE
        if self.spatial_dims == 2 and min(self.kernel) == 1 and max(self.kernel) > 1:
            return ConvVariant.BAND
        if max(self.kernel) >= 7:
            return ConvVariant.LARGE_KERNEL
        if any(d > 1 for d in self.dilation):
            return ConvVariant.DILATED
        return ConvVariant.STANDARD


@dataclass(frozen=True, slots=True)
class MatMulAttrs:
    """``batch`` independent [m, k] x [k, n] products."""

    batch: int
    m: int
    n: int
    k: int


@dataclass(frozen=True, slots=True)
class AttentionAttrs:
    """Fused scaled-dot-product attention: per (batch*heads), Q [q_len, head_dim],
    K [kv_len, head_dim], V [kv_len, v_dim]."""

    batch: int
    heads: int
    q_len: int
    kv_len: int
    head_dim: int
    v_dim: int
    causal: bool = False
    extra_macs: int = 0      # fused projections / FFN of MHA and encoder-layer fast paths
    passes: int = 1          # backward recomputes: 5 GEMM-sized passes over 2 forward ones


@dataclass(frozen=True, slots=True)
class PoolAttrs:
    """Window pooling (``mode`` max/avg) or adaptive/global; ``window`` elements per output."""

    mode: str
    kernel: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def window(self) -> int:
        return math.prod(self.kernel)


@dataclass(frozen=True, slots=True)
class ReduceAttrs:
    """Reduction of ``reduced`` input elements into each output element."""

    mode: str
    dims: tuple[int, ...]
    reduced: int


Attrs = ConvAttrs | MatMulAttrs | AttentionAttrs | PoolAttrs | ReduceAttrs | None


#: what of a tensor an op's work depends on (not its identity, ``tid``)
_TENSOR_KEY = operator.attrgetter("shape", "dtype", "is_weight", "contiguous", "channels_last")
#: ops with more tensors than this (multi-tensor optimizer kernels over every parameter) are
#: one of a kind in a graph: their work key is the op object itself, not its long tensor list
WORK_KEY_MAX_TENSORS = 16


@dataclass(frozen=True, slots=True)
class Op:
    """One traced aten call that costs something (views and metadata ops are not ops).

    ``inputs`` include weights (``is_weight``); ``name`` is "module.path/aten_op".
    ``pattern`` names the recognised block this op belongs to (e.g. "nonlocal").
    """

    index: int
    name: str
    aten: str
    kind: OpKind
    module: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    attrs: Attrs = None
    supported: bool = True
    phase: Phase = Phase.FORWARD
    module_type: str = ""
    pattern: str = ""
    inplace: bool = False

    @property
    def macs(self) -> int:
        a = self.attrs
        if isinstance(a, ConvAttrs):
            # MACs = (output elements) x (input channels per group) x prod(kernel); for a
            # transposed conv every *input* element is scattered over out_ch/g x prod(kernel).
            # This is exactly torch.utils.flop_counter's conv_flop_count / 2.
            k = math.prod(a.kernel)
            x = self.conv_input
            if a.transposed:
                per_pass = x.numel * (a.out_channels // a.groups) * k
            else:
                per_pass = (x.shape[0] * math.prod(self.conv_output_spatial) * a.out_channels
                            * (a.in_channels // a.groups) * k)
            return per_pass * a.passes
        if isinstance(a, MatMulAttrs):
            return a.batch * a.m * a.n * a.k
        if isinstance(a, AttentionAttrs):
            bh = a.batch * a.heads
            core = bh * a.q_len * a.kv_len * (a.head_dim + a.v_dim)
            return (core * a.passes) // 2 if a.passes > 1 else core + a.extra_macs
        return 0

    @property
    def is_backward_kernel(self) -> bool:
        """Whether the op is an aten backward kernel (``convolution_backward``,
        ``native_batch_norm_backward``, ...), whose inputs start with the output gradient."""
        return "backward" in self.aten

    @property
    def conv_input(self) -> TensorSpec:
        # forward: inputs = (x, w[, b]); backward: (grad_out, x, w)
        return self.inputs[1] if self.is_backward_kernel else self.inputs[0]

    @property
    def conv_output_spatial(self) -> tuple[int, ...]:
        """Output spatial size of a convolution from its input and geometry (so MACs do not
        depend on what a fused op finally stores)."""
        a = self.attrs
        x = self.conv_input.shape[2:]
        if a.transposed:
            return tuple((i - 1) * s - 2 * p + d * (k - 1) + 1
                         for i, s, p, d, k in zip(x, a.stride, a.padding, a.dilation, a.kernel))
        return tuple((i + 2 * p - d * (k - 1) - 1) // s + 1
                     for i, s, p, d, k in zip(x, a.stride, a.padding, a.dilation, a.kernel))

    @property
    def flops(self) -> int:
        """FLOPs for display: 2 x MACs for MAC ops, else one per output element (vector ops)."""
        macs = self.macs
        return 2 * macs if macs else self.vector_ops

    @property
    def vector_ops(self) -> int:
        """Element operations of a non-MAC op: the work a vector unit does."""
        if self.kind in (OpKind.CONV, OpKind.MATMUL, OpKind.ATTENTION):
            return 0
        a = self.attrs
        if isinstance(a, PoolAttrs):
            return self.elements * a.window
        if isinstance(a, ReduceAttrs):
            return self.elements * a.reduced
        if self.kind == OpKind.SOFTMAX:
            return 5 * self.elements  # max, sub, exp, sum, div
        if self.kind == OpKind.NORM:
            return 4 * self.elements
        if self.kind == OpKind.DATA_MOVEMENT:
            return 0
        return self.elements

    @property
    def elements(self) -> int:
        return sum(map(TENSOR_NUMEL, self.outputs))

    @property
    def weights(self) -> tuple[TensorSpec, ...]:
        return tuple(t for t in self.inputs if t.is_weight)

    @property
    def weight_bytes(self) -> int:
        return sum(t.nbytes for t in self.weights)

    @property
    def activation_read_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs if not t.is_weight)

    @property
    def read_bytes(self) -> int:
        """Bytes the op reads once: every input (activations and weights)."""
        return sum(map(TENSOR_NBYTES, self.inputs))

    @property
    def write_bytes(self) -> int:
        return sum(map(TENSOR_NBYTES, self.outputs))

    @property
    def dtype(self) -> str:
        ts = self.outputs or self.inputs
        return ts[0].dtype if ts else "float32"

    @property
    def variant(self) -> str:
        return self.attrs.variant.value if isinstance(self.attrs, ConvAttrs) else ""

    @property
    def work_key(self) -> tuple:
        """Everything of the op but its identity (index, name, module path, tensor ids): ops
        with equal keys do the same work (``codesign.cost.base.cost_key``: cost models read
        nothing else). An op with more than ``WORK_KEY_MAX_TENSORS`` tensors is keyed by its
        identity (equal only to itself)."""
        ins, outs = self.inputs, self.outputs
        if len(ins) + len(outs) > WORK_KEY_MAX_TENSORS:
            return ("op", id(self))
        # the tensors flat after the number of inputs (one tuple fewer to build and hash)
        return (self.kind, self.aten, self.attrs, self.supported, self.phase, self.inplace,
                self.module_type, self.pattern, len(ins), *map(_TENSOR_KEY, ins + outs))


@dataclass(frozen=True, slots=True)
class PatternMatch:
    """A recognised block: its name, the module it lives in, the ops it spans and details
    (for non-local blocks the affinity size N x N' and the normalisation)."""

    name: str
    module: str
    op_indices: tuple[int, ...]
    details: tuple[tuple[str, object], ...] = ()

    @property
    def info(self) -> dict:
        return dict(self.details)


@dataclass(frozen=True, slots=True)
class Coverage:
    """How every traced aten call was treated: costed, ignored (documented list) or unsupported."""

    handled: int
    ignored: int
    unsupported: tuple[tuple[str, int], ...] = ()

    @property
    def unsupported_count(self) -> int:
        return sum(n for _, n in self.unsupported)

    @property
    def fraction(self) -> float:
        total = self.handled + self.unsupported_count
        return self.handled / total if total else 1.0

    def __str__(self) -> str:
        s = f"{self.handled} costed, {self.ignored} ignored, {self.unsupported_count} unsupported"
        if self.unsupported:
            s += " (" + ", ".join(f"{a} x{n}" for a, n in self.unsupported) + ")"
        return s


FRAME_COLUMNS = (
    "index", "name", "module", "module_type", "kind", "aten", "variant", "pattern", "phase",
    "dtype", "macs", "flops", "read_bytes", "write_bytes", "weight_bytes", "output_shape",
    "supported",
)


@dataclass(frozen=True)
class OpGraph:
    """A traced network: ops in execution order, edges by tensor identity."""

    ops: tuple[Op, ...]
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    params_count: int = 0
    coverage: Coverage = field(default_factory=lambda: Coverage(0, 0))
    patterns: tuple[PatternMatch, ...] = ()
    name: str = ""
    phase: str = "inference"
    #: "" (traced in fp32) or the CUDA autocast dtype it was traced under ("fp16", "bf16"):
    #: then every tensor carries the dtype autocast gives it
    autocast: str = ""
    #: traced with a channels-last model and input (``trace(..., channels_last=True)``)
    channels_last: bool = False

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def params(self) -> int:
        return self.params_count

    @property
    def unsupported(self) -> tuple[Op, ...]:
        return tuple(op for op in self.ops if not op.supported)

    @property
    def activation_bytes(self) -> int:
        return sum(op.write_bytes for op in self.ops)

    @cached_property
    def producers(self) -> dict[int, int]:
        """tensor id -> index of the last op that wrote it (before each read, see ``edges``)."""
        out: dict[int, int] = {}
        for op in self.ops:
            for t in op.outputs:
                out[t.tid] = op.index
        return out

    @cached_property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """(producer index, consumer index) pairs, by tensor identity in execution order (an
        in-place op becomes the producer of the value it overwrote)."""
        latest: dict[int, int] = {}
        edges: list[tuple[int, int]] = []
        for op in self.ops:
            seen = set()
            for t in op.inputs:
                p = latest.get(t.tid)
                if p is not None and p not in seen:
                    edges.append((p, op.index))
                    seen.add(p)
            for t in op.outputs:
                latest[t.tid] = op.index
        return tuple(edges)

    @cached_property
    def predecessors(self) -> tuple[tuple[int, ...], ...]:
        preds: list[list[int]] = [[] for _ in self.ops]
        for p, c in self.edges:
            preds[c].append(p)
        return tuple(tuple(p) for p in preds)

    @cached_property
    def _works(self) -> tuple[tuple[int, ...], tuple[Op, ...]]:
        """(per op, the number of its ``Op.work_key``; per number, the first op with that key),
        numbered in order of first appearance in one pass over the ops."""
        ids: dict = {}
        first: list[Op] = []
        numbers = []
        for op in self.ops:
            key = op.work_key
            i = ids.get(key)
            if i is None:
                i = ids[key] = len(first)
                first.append(op)
            numbers.append(i)
        return tuple(numbers), tuple(first)

    @property
    def work_ids(self) -> tuple[int, ...]:
        """Per op, a small int naming its ``Op.work_key`` (equal ints, equal work), numbered
        once per graph: every simulation of the graph costs ops of equal work once."""
        return self._works[0]

    @cached_property
    def work_sizes(self) -> tuple[tuple[float, float, float, float], ...]:
        """Per distinct work (indexed by ``work_ids``): its (MACs, FLOPs, read bytes, write
        bytes) as floats, derived once per graph (every simulation's rows carry them)."""
        return tuple((float(op.macs), float(op.flops), float(op.read_bytes), float(op.write_bytes))
                     for op in self._works[1])

    @cached_property
    def successors(self) -> tuple[tuple[int, ...], ...]:
        succ: list[list[int]] = [[] for _ in self.ops]
        for p, c in self.edges:
            succ[p].append(c)
        return tuple(tuple(s) for s in succ)

    def by_module(self) -> dict[str, list[Op]]:
        groups: dict[str, list[Op]] = {}
        for op in self.ops:
            groups.setdefault(op.module, []).append(op)
        return groups

    def kinds(self) -> Counter:
        return Counter(op.kind.value for op in self.ops)

    def to_frame(self):
        """One row per op with the IR columns of design.md."""
        import pandas as pd

        rows = [
            {
                "index": op.index, "name": op.name, "module": op.module,
                "module_type": op.module_type, "kind": op.kind.value, "aten": op.aten,
                "variant": op.variant, "pattern": op.pattern, "phase": op.phase.value,
                "dtype": op.dtype, "macs": op.macs, "flops": op.flops,
                "read_bytes": op.read_bytes, "write_bytes": op.write_bytes,
                "weight_bytes": op.weight_bytes,
                "output_shape": "x".join(map(str, op.outputs[0].shape)) if op.outputs else "",
                "supported": op.supported,
            }
            for op in self.ops
        ]
        return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))

    def summary(self) -> dict:
        return {
            "name": self.name, "phase": self.phase, "ops": len(self.ops), "macs": self.macs,
            "flops": self.flops, "params": self.params,
            "activation_bytes": self.activation_bytes,
            "weight_bytes": sum(op.weight_bytes for op in self.ops),
            "coverage": str(self.coverage),
            "patterns": [
                {"name": p.name, "module": p.module, **{k: v for k, v in p.details}}
                for p in self.patterns
            ],
        }


def with_dtype(graph: OpGraph, dtype: str) -> OpGraph:
    """The same graph with every floating tensor re-typed (e.g. traced fp32, run in fp16)."""
    from dataclasses import replace

    def conv(t: TensorSpec) -> TensorSpec:
        return replace(t, dtype=dtype) if t.dtype.startswith(("float", "bfloat")) else t

    ops = tuple(
        replace(op, inputs=tuple(map(conv, op.inputs)), outputs=tuple(map(conv, op.outputs)))
        for op in graph.ops
    )
    return replace(graph, ops=ops)


def iter_tensors(ops: Iterable[Op]):
    for op in ops:
        yield from op.inputs
        yield from op.outputs
