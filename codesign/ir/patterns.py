"""Pattern recognition on the op graph (no torch).

* ``nonlocal``: an affinity matmul, a normalisation (softmax, a scale by 1/N, ReLU + symmetric
  normalisation, ...) and an aggregating matmul that consumes the normalised affinity, as in
  NL / SNL / NS / A2 / LightNL blocks (Wang et al. 2018 eq. 1). The details give the affinity
  size (N x N'), whether it is over spatial positions or channels, and the normalisation.
* ``attention``: fused SDPA / MHA kernels.
* ``cross_channel_pool``: a max/mean over a channel-group axis right after a convolution
  (Condensation-Net's cross-channel pooling): the reduction op becomes
  ``OpKind.CROSS_CHANNEL_POOL``.
"""

from __future__ import annotations

from dataclasses import replace

from codesign.ir.graph import MatMulAttrs, Op, OpGraph, OpKind, PatternMatch, Phase, ReduceAttrs

_NORMALISERS = (OpKind.SOFTMAX, OpKind.ELEMENTWISE, OpKind.DATA_MOVEMENT, OpKind.REDUCTION)
_MAX_CHAIN = 12


def _common_module(a: str, b: str) -> str:
    pa, pb = a.split("."), b.split(".")
    out = []
    for x, y in zip(pa, pb):
        if x != y:
            break
        out.append(x)
    return ".".join(out)


def _affinity_source(graph: OpGraph, consumer: Op) -> tuple[int, list[int]] | None:
    """Walk back from a matmul through normalisation ops to an earlier matmul."""
    preds = graph.predecessors
    frontier = [(p, []) for p in preds[consumer.index]]
    seen = set()
    while frontier:
        idx, chain = frontier.pop()
        if idx in seen or len(chain) > _MAX_CHAIN:
            continue
        seen.add(idx)
        op = graph.ops[idx]
        if op.kind == OpKind.MATMUL:
            return (idx, chain) if not op.weights else None
        if op.kind in _NORMALISERS:
            frontier.extend((p, chain + [idx]) for p in preds[idx])
    return None


def _normalisation(graph: OpGraph, chain: list[int], consumer: Op) -> str:
    if not chain:
        # no op between the two products (LightNL): the scale follows the aggregation
        after = [graph.ops[s] for s in graph.successors[consumer.index]]
        if any(a.aten.split("::")[-1].startswith(("div", "mul")) for a in after):
            return "scale"
        return "none"
    atens = [graph.ops[i].aten.split("::")[-1].split(".")[0] for i in chain]
    if any(graph.ops[i].kind == OpKind.SOFTMAX for i in chain):
        return "softmax"
    if any(a in ("rsqrt", "pow", "sqrt") for a in atens) and any(a == "add" for a in atens):
        return "symmetric"
    if any(a in ("div", "mul") for a in atens):
        return "scale"
    return "+".join(dict.fromkeys(atens)) or "none"


def _find_nonlocal(graph: OpGraph) -> list[PatternMatch]:
    matches = []
    used: set[int] = set()
    for op in graph.ops:
        if (op.kind != OpKind.MATMUL or op.phase != Phase.FORWARD or op.index in used
                or op.weights):
            continue
        found = _affinity_source(graph, op)
        if not found:
            continue
        src_idx, chain = found
        src = graph.ops[src_idx]
        a = src.attrs
        if not isinstance(a, MatMulAttrs):
            continue
        module = _common_module(src.module, op.module)
        norm = _normalisation(graph, chain, op)
        # the affinity is the [m, n] output of the first matmul; spatial when it is compared
        # with the positions the aggregation produces, channel-wise (LightNL's theta(phi^T g)
        # order, A2's gather) otherwise
        positions = op.attrs.m if isinstance(op.attrs, MatMulAttrs) else 0
        over = "spatial" if a.m == positions or a.n == positions else "channel"
        matches.append(PatternMatch(
            name="nonlocal", module=module,
            op_indices=tuple(sorted({src_idx, op.index, *chain})),
            details=(("affinity", f"{a.m}x{a.n}"), ("affinity_over", over),
                     ("normalisation", norm), ("batch", a.batch)),
        ))
        used.update({src_idx, op.index})
    return matches


def _is_cross_channel_pool(graph: OpGraph, op: Op) -> bool:
    """A max/mean over one axis of a [B, C/k, k, *S] view of a conv output [B, C, *S]."""
    if op.kind != OpKind.REDUCTION or not isinstance(op.attrs, ReduceAttrs):
        return False
    if op.attrs.mode not in ("amax", "max", "mean", "sum", "amin") or len(op.attrs.dims) != 1:
        return False
    x = op.inputs[0]
    producer = graph.producers.get(x.tid)
    if producer is None or producer >= op.index:
        return False
    conv = graph.ops[producer]
    if conv.kind != OpKind.CONV or not conv.outputs:
        return False
    y = conv.outputs[0].shape
    d = op.attrs.dims[0]
    return (len(x.shape) == len(y) + 1 and d == 2 and x.shape[0] == y[0]
            and x.shape[1] * x.shape[2] == y[1] and tuple(x.shape[3:]) == tuple(y[2:]))


def annotate_patterns(graph: OpGraph) -> OpGraph:
    """Return the graph with ``patterns`` filled and ops labelled with their pattern."""
    ops = list(graph.ops)
    patterns: list[PatternMatch] = []
    for op in ops:
        if _is_cross_channel_pool(graph, op):
            conv = graph.ops[graph.producers[op.inputs[0].tid]]
            ops[op.index] = replace(op, kind=OpKind.CROSS_CHANNEL_POOL, pattern="cross_channel_pool")
            ops[conv.index] = replace(ops[conv.index], pattern="cross_channel_pool")
            patterns.append(PatternMatch(
                "cross_channel_pool", op.module, (conv.index, op.index),
                (("factor", op.attrs.reduced), ("mode", op.attrs.mode)),
            ))
        elif op.kind == OpKind.ATTENTION and op.phase == Phase.FORWARD:
            a = op.attrs
            ops[op.index] = replace(op, pattern="attention")
            patterns.append(PatternMatch(
                "attention", op.module, (op.index,),
                (("affinity", f"{a.q_len}x{a.kv_len}"), ("heads", a.heads),
                 ("normalisation", "softmax")),
            ))
    for m in _find_nonlocal(graph):
        patterns.append(m)
        prefix = m.module + "." if m.module else ""
        for op in ops:
            if op.phase == Phase.FORWARD and not op.pattern and (
                    op.module == m.module or op.module.startswith(prefix) or op.index in m.op_indices):
                if m.module or op.index in m.op_indices:
                    ops[op.index] = replace(op, pattern="nonlocal")
    patterns.sort(key=lambda p: min(p.op_indices))
    return replace(graph, ops=tuple(ops), patterns=tuple(patterns))
