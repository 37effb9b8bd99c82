"""Fusion rules, all in one place (no torch).

``eager``: nothing fuses; one kernel per aten op, as PyTorch eager runs.

``fused`` (a compiler or an accelerator):
1. *Epilogue fusion*: elementwise ops and norms (BN, activations, residual adds, scales) that
   consume the single-use output of the previous member fold into the producing conv, matmul,
   attention, norm or elementwise op. The group's intermediate tensors never reach DRAM.
2. *Cross-channel pooling before the store* (Condensation-Net): a cross-channel pool that
   follows a conv (possibly through its epilogue) folds into it, so the pre-pooling map is
   never stored. Applies in ``fused`` mode where the hardware lists the ``ccp`` layout, and in
   any mode with ``layout="ccp"`` (an error where the hardware does not support it).

A group is costed as one *merged op*: the leader's kind and attributes, every input read from
outside the group, and the last member's outputs. Members become zero-cost rows that name the
leader in ``fused_into``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from codesign.ir.graph import Op, OpGraph, OpKind, Phase
from codesign.types import Mode

LEADERS = frozenset({OpKind.CONV, OpKind.MATMUL, OpKind.ATTENTION, OpKind.NORM,
                     OpKind.ELEMENTWISE, OpKind.SOFTMAX, OpKind.POOL, OpKind.RESAMPLE})
EPILOGUE = frozenset({OpKind.ELEMENTWISE, OpKind.NORM})


@dataclass(frozen=True, slots=True)
class FusionPlan:
    """``leader[i]`` is the index of the op that op ``i`` is fused into (itself if none);
    ``merged[i]`` the op to cost for leader ``i``."""

    leader: tuple[int, ...]
    merged: dict

    def members(self, i: int) -> tuple[int, ...]:
        return tuple(j for j, l in enumerate(self.leader) if l == i)

    @property
    def fused_count(self) -> int:
        return sum(1 for j, l in enumerate(self.leader) if l != j)


def plan_fusion(graph: OpGraph, mode: str, ccp: bool) -> FusionPlan:
    """Group ops per the rules above. ``ccp``: fold cross-channel pooling into its conv."""
    n = len(graph.ops)
    leader = list(range(n))
    if mode == Mode.EAGER and not ccp:
        return FusionPlan(tuple(leader), {})
    succ = graph.successors
    # Reads of each op's outputs. An in-place op (relu_, add_) writes a new version of its
    # input's tid, so later readers count against that op, not against the first writer
    # (counting by tid alone kept every conv -> BN -> relu_ chain from fusing).
    reads: dict[int, int] = {}
    writer: dict[int, int] = {}
    for op in graph.ops:
        for t in op.inputs:
            if t.tid in writer:
                reads[writer[t.tid]] = reads.get(writer[t.tid], 0) + 1
        for t in op.outputs:
            writer[t.tid] = op.index
    graph_outputs = {t.tid for t in graph.outputs}

    def single_use(op: Op) -> bool:
        return (len(succ[op.index]) == 1 and reads.get(op.index, 0) <= 1
                and all(t.tid not in graph_outputs for t in op.outputs))

    groups: dict[int, list[int]] = {}
    for op in graph.ops:
        if leader[op.index] != op.index or not op.supported or op.phase is not Phase.FORWARD:
            continue
        if op.kind not in LEADERS:
            continue
        members = [op.index]
        cur = op
        saw_conv = op.kind == OpKind.CONV
        while single_use(cur):
            nxt = graph.ops[succ[cur.index][0]]
            if not nxt.supported or nxt.phase is not Phase.FORWARD or leader[nxt.index] != nxt.index:
                break
            if mode == Mode.FUSED and nxt.kind in EPILOGUE:
                pass
            elif ccp and saw_conv and nxt.kind == OpKind.CROSS_CHANNEL_POOL:
                pass
            else:
                break
            # every input of the next op from inside the chain must be the current output
            members.append(nxt.index)
            cur = nxt
        if len(members) > 1:
            for m in members:
                leader[m] = op.index
            groups[op.index] = members
    merged = {i: merge_ops(graph, members) for i, members in groups.items()}
    return FusionPlan(tuple(leader), merged)


def merge_ops(graph: OpGraph, members: list[int]) -> Op:
    """The op that stands for a fused group: external inputs in, last outputs out."""
    first = graph.ops[members[0]]
    inner = {t.tid for i in members[:-1] for t in graph.ops[i].outputs}
    seen: set[int] = set()
    inputs = []
    for i in members:
        for t in graph.ops[i].inputs:
            if t.tid in inner and i != members[0]:
                continue
            key = (t.tid, t.shape)
            if key in seen:
                continue
            seen.add(key)
            inputs.append(t)
    last = graph.ops[members[-1]]
    return replace(first, inputs=tuple(inputs), outputs=last.outputs,
                   name=first.name + " [+" + str(len(members) - 1) + " fused]")
