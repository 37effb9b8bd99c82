"""Reproduce the published claims of the seed papers: ``codesign reproduce [NAME ...]``.

Every figure is computed here from the workload zoo (``codesign/zoo/``) and the hardware presets
(``codesign/hardware/presets/``); nothing is hard-coded except the *paper's* figures, which are quoted with
their source (``../shared/reference/papers.md`` (beside the repository)). Each claim becomes a :class:`Claim`: the
paper's figure, ours, the configuration and assumptions, a verdict, and the reason for any gap.
:func:`reproduce` writes them as Markdown (``out``) and JSON beside it; the committed copy
``reports/reproductions.md`` is regenerated with ``codesign reproduce --out reports/reproductions.md``.

The verdict texts are computed from the figures (never written for a particular number), so
when a cost model moves, the report says so; the golden tests in ``tests/test_reproduce.py``
pin the figures.

Figure kinds: ``count`` (MACs, params, bytes and ratios of them: exact, from the op graph) and
``sim`` (latency, energy, DRAM traffic and throughput from :func:`codesign.simulation`).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from codesign.errors import CodesignError, did_you_mean

if TYPE_CHECKING:
    from codesign.hardware.spec import HardwareSpec

__all__ = ["Figure", "Claim", "CLAIMS", "reproduce", "run_claims", "write_report"]

# --------------------------------------------------------------------------------- results

FIGURE_KINDS = ("count", "sim")
VERDICTS = ("agrees", "close", "disagrees", "no published figure", "not comparable")


@dataclass(frozen=True, slots=True)
class Figure:
    """One pinned number. ``kind`` is ``count`` (graph arithmetic, exact) or ``sim``
    (simulated: latency, energy, DRAM traffic)."""

    key: str
    value: float
    unit: str
    kind: str
    label: str


@dataclass(frozen=True)
class Claim:
    """One reproduced claim: the paper's figure beside ours, with configuration, assumptions,
    a verdict and the reason for any gap. ``detail`` is an optional table (header first)."""

    name: str
    title: str
    source: str
    paper: str
    ours: str
    verdict: str
    config: str
    assumptions: str
    gap: str
    figures: tuple[Figure, ...]
    detail: tuple[tuple[str, ...], ...] = ()

    def figure(self, key: str) -> float:
        for f in self.figures:
            if f.key == key:
                return f.value
        raise KeyError(key)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["figures"] = [asdict(f) for f in self.figures]
        d["detail"] = [list(r) for r in self.detail]
        return d


# --------------------------------------------------------------------------------- helpers


def _fmt(x: float, unit: str = "") -> str:
    """Engineering format: 266.7 M, 1.23 x, 12.3 ms."""
    if unit == "%":
        return f"{x:.2f}%"
    if unit == "x":
        return f"{x:.3g}x"
    if unit == "s":
        if abs(x) >= 1:
            return f"{x:.3f} s"
        if abs(x) >= 1e-3:
            return f"{x * 1e3:.3f} ms"
        return f"{x * 1e6:.1f} us"
    if unit == "J":
        if abs(x) >= 1:
            return f"{x:.3f} J"
        if abs(x) >= 1e-3:
            return f"{x * 1e3:.3f} mJ"
        return f"{x * 1e6:.2f} uJ"
    sep = "" if unit in ("", "B") else " "  # 1.2 GB, 266.7 M MACs
    for div, pre in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.4g} {pre}{sep}{unit}".rstrip()
    return f"{x:.4g} {unit}".rstrip()


def _pct(new: float, old: float) -> float:
    return 100.0 * (new / old - 1.0)


def _rel(ours: float, paper: float) -> float:
    return abs(ours - paper) / abs(paper)


def _verdict_close(ours: float, paper: float, agree: float = 0.01, close: float = 0.10) -> str:
    r = _rel(ours, paper)
    return "agrees" if r <= agree else "close" if r <= close else "disagrees"


def _verdict_rounded(ours: float, paper: float, digits: int) -> str:
    """Agreement at the paper's printed precision (e.g. 1.2x is 1.15 .. 1.25)."""
    if round(ours, digits) == round(paper, digits):
        return "agrees"
    return _verdict_close(ours, paper, agree=0.0, close=0.10)


def _worst(*verdicts: str) -> str:
    order = {"agrees": 0, "close": 1, "disagrees": 2}
    known = [v for v in verdicts if v in order]
    return max(known, key=order.__getitem__) if known else verdicts[0]


class Session:
    """Owns the caches of one reproduction run (traces and simulations; nothing global).

    Traces are keyed by (workload, knobs, input shape, phase, optimizer); simulations by the
    trace key and the simulate() settings, so claims that share a configuration share it."""

    def __init__(self, progress: Callable[[str], None] | None = None) -> None:
        self._graphs: dict = {}
        self._sims: dict = {}
        self._hw: dict = {}
        self.progress = progress or (lambda msg: None)

    @staticmethod
    def _key(name: str, knobs: Mapping | None, shape, phase: str, optimizer) -> tuple:
        return (name, tuple(sorted((knobs or {}).items())), tuple(shape) if shape else None,
                phase, optimizer)

    def graph(self, name: str, knobs: Mapping | None = None, shape=None, phase: str = "inference",
              optimizer: str | None = None):
        key = self._key(name, knobs, shape, phase, optimizer)
        if key not in self._graphs:
            from codesign.capture.references import trace_workload

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, g = trace_workload(name, dict(knobs or {}), shape, phase=phase,
                                      optimizer=optimizer)
            if g.unsupported:
                raise CodesignError(f"reproduce: {name} {dict(knobs or {})} has "
                                    f"{len(g.unsupported)} unsupported op(s); figures would be incomplete")
            self._graphs[key] = g
        return self._graphs[key]

    def hardware(self, name: str):
        if name not in self._hw:
            from codesign.hardware import load_hardware

            self._hw[name] = load_hardware(name)
        return self._hw[name]

    def sim(self, name: str, knobs: Mapping | None, shape, hw: HardwareSpec, dtype: str, mode: str = "eager",
            layout: str = "nchw", phase: str = "inference", optimizer: str | None = None):
        hw_spec = self.hardware(hw) if isinstance(hw, str) else hw
        key = (self._key(name, knobs, shape, phase, optimizer), hw_spec.name, dtype, mode, layout)
        if key not in self._sims:
            from codesign.simulation import simulate

            g = self.graph(name, knobs, shape, phase, optimizer)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._sims[key] = simulate(g, hw_spec, dtype=dtype, mode=mode, layout=layout)
        return self._sims[key]


def _weight_bytes(graph, dtype_bytes: int) -> float:
    """Model size: every distinct weight tensor of the graph (parameters and BN buffers) at
    ``dtype_bytes`` per floating element (integer buffers keep their size)."""
    seen: dict[int, float] = {}
    for op in graph.ops:
        for t in op.inputs:
            if t.is_weight and t.tid not in seen:
                floating = t.dtype.startswith(("float", "bfloat"))
                seen[t.tid] = float(t.numel * dtype_bytes) if floating else float(t.nbytes)
    return sum(seen.values())


def _ops_frame(res, pred):
    f = res.to_frame()
    return f[pred(f)]


# --------------------------------------------------------------------------------- claims

#: the DSP the claims run on: the preset validated against on-device measurements (issue 13;
#: hexagon-v68 has no public measurements and is not validated)
DSP = "hexagon-v73"
NL_SRC = "Wang et al., Non-local neural networks, CVPR 2018 (arXiv:1711.07971)"
RES4 = (1, 1024, 14, 14)


def claim_nl_block_macs(s: Session) -> Claim:
    paper_before, paper_after = 266_735_616, 420_876_288
    g_b = s.graph("nl_block", {"pool": "before"})
    g_a = s.graph("nl_block", {"pool": "after"})
    attn = [op for op in g_b.ops if op.kind.value == "softmax"]
    attn_elems = attn[0].outputs[0].numel if attn else 0
    ok = g_b.macs == paper_before and g_a.macs == paper_after
    return Claim(
        name="nl_block_macs",
        title="MACs of one non-local block at ResNet-50 res4, both pooling orders",
        source=f"{NL_SRC}, section 3; official Caffe2 nonlocal_helper.py (pool first) and "
               "AlexHex7/Non-local_pytorch (conv then pool); papers.md 1.5 (derived from the "
               "published formulas, not a published table)",
        paper=f"{paper_before:,} MACs (pool before phi/g) / {paper_after:,} MACs (pool after)",
        ours=f"{g_b.macs:,} / {g_a.macs:,} MACs",
        verdict="agrees" if ok else "disagrees",
        config="workload nl_block (embedded Gaussian, Ci = C/2, 2x2 max pool), input 1x1024x14x14 "
               "(R50 res4 at 224); MACs = convolutions + the two bmm products (affinity, aggregation)",
        assumptions="softmax, scaling, BN and the residual add are not MACs (FlopCounterMode convention)",
        gap="" if ok else "the traced block no longer matches the published formulas: check "
                          "codesign/zoo/nonlocal_blocks.py",
        figures=(
            Figure("macs_pool_before", g_b.macs, "MACs", "count", "NL block, pool before phi and g"),
            Figure("macs_pool_after", g_a.macs, "MACs", "count", "NL block, phi and g then pool"),
            Figure("params", g_b.params, "params", "count", "NL block parameters (with bias, BN)"),
            Figure("attention_elements", attn_elems, "elements", "count", "N x N' attention per image"),
        ),
    )


def claim_nl_c2d_r101(s: Session) -> Claim:
    shape = (1, 3, 32, 224, 224)
    base = s.graph("c2d_resnet50_nl", {"depth": 101, "nl_blocks": 0}, shape)
    nl5 = s.graph("c2d_resnet50_nl", {"depth": 101, "nl_blocks": 5}, shape)
    r50nl5 = s.graph("c2d_resnet50_nl", {"depth": 50, "nl_blocks": 5}, shape)
    flops_x = nl5.macs / base.macs
    params_x = nl5.params / base.params
    r50_flops = r50nl5.macs / base.macs
    r50_params = r50nl5.params / base.params
    v_ratio = _worst(_verdict_rounded(flops_x, 1.2, 1), _verdict_rounded(params_x, 1.2, 1))
    v_abs = _worst(_verdict_close(base.macs, 34.2e9, 0.02), _verdict_close(base.params, 43.2e6, 0.02))
    v_r50 = _worst(_verdict_rounded(r50_flops, 0.8, 1), _verdict_rounded(r50_params, 0.7, 1))
    verdict = _worst(v_ratio, v_abs, v_r50)
    gaps = []
    if v_abs != "agrees":
        gaps.append(f"our C2D R101 baseline counts {_fmt(base.macs)} MACs vs the paper's 34.2 G "
                    f"({_pct(base.macs, 34.2e9):+.1f}%): the paper's counting convention (its 'FLOPs' "
                    "are multiply-adds) and exact stem padding are not published; ours counts every "
                    "conv, the fc and the NL bmm products at 32x224x224")
    if v_ratio != "agrees":
        gaps.append("the 5-block ratio leaves the paper's one-decimal rounding")
    if v_r50 != "agrees":
        gaps.append("the R50-vs-R101 ratios leave the paper's 'about 70% / 80%'")
    return Claim(
        name="nl_c2d_r101",
        title="ResNet-101 C2D with 5 non-local blocks vs without (Table 2e)",
        source=f"{NL_SRC}, Table 2e (R101 C2D baseline 43.2M params, 34.2B FLOPs; NL C2D 5-block "
               "1.2x params, 1.2x FLOPs) and the text under Table 2c (5-block NL R50 has ~70% of the "
               "params and ~80% of the FLOPs of R101 C2D)",
        paper="1.2x FLOPs, 1.2x params; baseline 34.2 G / 43.2 M; NL R50 5-block ~0.8x FLOPs, ~0.7x params",
        ours=f"{flops_x:.3f}x MACs, {params_x:.3f}x params; baseline {_fmt(base.macs)} / "
             f"{_fmt(base.params)}; NL R50 5-block {r50_flops:.3f}x / {r50_params:.3f}x",
        verdict=verdict,
        config="workload c2d_resnet50_nl (depth 101 or 50, nl_blocks 0 / 5), input 1x3x32x224x224 "
               "(32-frame clip, Table 1), 3-D NL blocks with 1x2x2 pooling before phi/g, Kinetics "
               "400-way head",
        assumptions="5 blocks: 2 in res3 and 3 in res4 in every other residual block (official "
                    "resnet_helper.py); conv1 padding (0, 3, 3), pool1 padding 1, pool2 padding "
                    "(1, 0, 0) so that 32 frames give 16/8/4 as in Table 1; the paper's 'FLOPs' "
                    "are compared with our MACs (FAIR convention)",
        gap="; ".join(gaps),
        figures=(
            Figure("r101_c2d_macs", base.macs, "MACs", "count", "R101 C2D baseline"),
            Figure("r101_c2d_params", base.params, "params", "count", "R101 C2D baseline"),
            Figure("r101_nl5_macs", nl5.macs, "MACs", "count", "R101 NL C2D 5-block"),
            Figure("r101_nl5_params", nl5.params, "params", "count", "R101 NL C2D 5-block"),
            Figure("flops_ratio", flops_x, "x", "count", "NL5 / baseline MACs"),
            Figure("params_ratio", params_x, "x", "count", "NL5 / baseline params"),
            Figure("r50_nl5_vs_r101_flops", r50_flops, "x", "count", "NL R50 5-block / R101 C2D MACs"),
            Figure("r50_nl5_vs_r101_params", r50_params, "x", "count", "NL R50 5-block / R101 C2D params"),
        ),
    )


def claim_nl_one_block_overhead(s: Session) -> Claim:
    rows = [("configuration", "baseline MACs", "with 1 NL block", "NL block MACs", "overhead")]
    figs = []
    cases = (
        ("imagenet_224", "ResNet-50, 1x3x224x224", "resnet50", {}, "resnet50_nl", {"nl_blocks": 1},
         (1, 3, 224, 224)),
        ("detection_800x1344", "ResNet-50 backbone, 1x3x800x1344 (Mask R-CNN input scale)",
         "resnet50", {}, "resnet50_nl", {"nl_blocks": 1}, (1, 3, 800, 1344)),
        ("c2d_r50_32f", "C2D ResNet-50, 1x3x32x224x224", "c2d_resnet50_nl", {"nl_blocks": 0},
         "c2d_resnet50_nl", {"nl_blocks": 1}, (1, 3, 32, 224, 224)),
    )
    over = {}
    nl_det = 0
    for key, label, bname, bk, nname, nk, shape in cases:
        b = s.graph(bname, bk, shape)
        n = s.graph(nname, nk, shape)
        pct = _pct(n.macs, b.macs)
        over[key] = pct
        if key == "detection_800x1344":
            nl_det = n.macs - b.macs
        rows.append((label, _fmt(b.macs), _fmt(n.macs), _fmt(n.macs - b.macs), f"{pct:.2f}%"))
        figs += [Figure(f"{key}_baseline_macs", b.macs, "MACs", "count", label),
                 Figure(f"{key}_overhead_pct", pct, "%", "count", f"{label}: added computation")]
    needed = nl_det / 0.05
    figs.append(Figure("detector_macs_needed", needed, "MACs", "count",
                       "total detector MACs for the 800x1344 block to be 5%"))
    holds = all(v < 5.0 for v in over.values())
    return Claim(
        name="nl_one_block_overhead",
        title="One non-local block in res4 adds under 5% computation",
        source=f"{NL_SRC}, section 6 (COCO, Mask R-CNN): a single NL block 'only adds <5% "
               "computation to the baseline model'",
        paper="< 5% added computation (whole Mask R-CNN, R50)",
        ours=", ".join(f"{k.replace('_', ' ')} {v:+.2f}%" for k, v in over.items()),
        verdict="agrees" if holds else "not comparable",
        config="one embedded-Gaussian NL block (2x2 pool before phi/g) before the last residual "
               "block of res4; ResNet-50 classification network at 224, the same backbone at "
               "800x1344 (no FPN or heads), and the C2D video network at 32x224x224",
        assumptions="the detector (FPN, RPN, RoI box and mask heads) is not in the zoo, so the "
                    "paper's denominator cannot be traced; we report backbone-only overheads and "
                    "the total detector cost at which the 800x1344 block would be 5%",
        gap="" if holds else (
            "our denominators are backbones only; the paper's is the whole Mask R-CNN. The NL "
            "block's affinity grows with N^2, so at detection scale the block costs "
            f"{_fmt(nl_det)} MACs, which is under 5% only if the full detector costs more than "
            f"{_fmt(needed)} MACs (backbone {_fmt(s.graph('resnet50', {}, (1, 3, 800, 1344)).macs)}). "
            "Whether Mask R-CNN's FPN and heads reach that is not computable from the zoo"),
        figures=tuple(figs),
        detail=tuple(rows),
    )


def _lightnl_placements(s: Session, workload: str) -> list[tuple[int, int, int, int, float]]:
    """(C, H, W, stride, ratio) of every LightNL block in an AutoNL network, read from the
    built model's LightNL modules and the traced input shape of their depthwise conv."""
    from codesign.zoo import build_workload
    from codesign.zoo.nonlocal_blocks import LightNL

    model = build_workload(workload)
    g = s.graph(workload)
    out = []
    for mname, mod in model.named_modules():
        if not isinstance(mod, LightNL):
            continue
        conv = next(op for op in g.ops if op.module == f"{mname}.depthwise" and op.kind.value == "conv")
        _, c, h, w = conv.inputs[0].shape
        out.append((c, h, w, mod.stride, mod.slice_ch / mod.channels))
    return out


def claim_lightnl_ratio(s: Session) -> Claim:
    def pair(c, h, w, stride, ratio, pool):
        light = s.graph("lightnl_block", {"channels": c, "ratio": ratio, "stride": stride}, (1, c, h, w))
        nl = s.graph("nl_block", {"in_ch": c, "pool": pool}, (1, c, h, w))
        return light.macs, nl.macs

    rows = [("network", "C x H x W", "r", "s", "LightNL MACs", "NL (no pool) MACs", "ratio",
             "NL (pool before) MACs", "ratio")]
    best_place = (0.0, None)
    totals = {}
    for net in ("autonl_s", "autonl_l"):
        tot_l = tot_n = tot_p = 0
        for c, h, w, st, r in _lightnl_placements(s, net):
            lm, nm = pair(c, h, w, st, r, "none")
            _, pm = pair(c, h, w, st, r, "before")
            tot_l, tot_n, tot_p = tot_l + lm, tot_n + nm, tot_p + pm
            rows.append((net, f"{c}x{h}x{w}", f"{r:g}", str(st), _fmt(lm), _fmt(nm), f"{nm / lm:.1f}x",
                         _fmt(pm), f"{pm / lm:.1f}x"))
            if nm / lm > best_place[0]:
                best_place = (nm / lm, (net, c, h, w, st, r))
        totals[net] = (tot_n / tot_l, tot_p / tot_l)
    # grid: AutoNL stage shapes x channel ratio x key stride, vs NL without / with subsampling
    grid_shapes = ((16, 112), (24, 56), (40, 28), (80, 14), (96, 14), (192, 7), (320, 7))
    best_grid = (0.0, None)
    first_400 = None
    for c, h in grid_shapes:
        for r in (0.125, 0.25, 0.5):
            for st in (1, 2):
                for pool in ("none", "before"):
                    lm, nm = pair(c, h, h, st, r, pool)
                    if nm / lm > best_grid[0]:
                        best_grid = (nm / lm, (c, h, r, st, pool, lm, nm))
                    if nm / lm >= 400 and (first_400 is None or h < first_400[1]):
                        first_400 = (c, h, r, st, pool, nm / lm)
    place_ratio, (pnet, pc, ph, pw, pst, pr) = best_place
    grid_ratio, (gc, gh, gr, gst, gpool, glm, gnm) = best_grid
    # latency ratio at the largest-MAC-ratio AutoNL placement on the DSP (fp16, QNN graph)
    lat_l = s.sim("lightnl_block", {"channels": pc, "ratio": pr, "stride": pst}, (1, pc, ph, pw),
                  DSP, "fp16", "fused").latency_s
    lat_n = s.sim("nl_block", {"in_ch": pc, "pool": "none"}, (1, pc, ph, pw), DSP, "fp16",
                  "fused").latency_s
    # 'agrees' only if AutoNL's own placements reach 400x; a larger-resolution configuration
    # reaching it makes the claim plausible but not reproduced where AutoNL uses the block
    verdict = ("agrees" if place_ratio >= 400 * 0.9 else
               "not comparable" if grid_ratio >= 400 else "disagrees")
    reach = (f"400x is first reached at {first_400[0]}x{first_400[1]}x{first_400[1]} (r {first_400[2]:g}, "
             f"stride {first_400[3]}, NL pool {first_400[4]}: {first_400[5]:.0f}x)" if first_400
             else "no configuration of the grid reaches 400x")
    return Claim(
        name="lightnl_ratio",
        title="LightNL vs the conventional non-local block: cost ratio",
        source="Li et al., Neural Architecture Search for Lightweight Non-Local Networks, CVPR 2020 "
               "(arXiv:2004.01961), abstract; configuration not published (papers.md 4)",
        paper="LightNL is '400x computationally cheaper' than a conventional NL block (configuration unpublished)",
        ours=f"up to {place_ratio:.0f}x at AutoNL's placements ({pnet} {pc}x{ph}x{pw}, r {pr:g}, "
             f"stride {pst}, vs NL without subsampling); whole-network "
             f"{totals['autonl_s'][0]:.0f}x (S) / {totals['autonl_l'][0]:.0f}x (L); largest on the "
             f"grid {grid_ratio:.0f}x at {gc}x{gh}x{gh}, r {gr:g}, stride {gst}, NL pool {gpool}",
        verdict=verdict,
        config="MACs of zoo blocks traced at each placement's shape: lightnl_block (channel "
               "slice r, strided keys, min-MAC matmul order, 3x3 depthwise) vs nl_block "
               "(embedded Gaussian, Ci = C/2, 1x1 theta/phi/g/W_z) without subsampling and with "
               "2x2 pooling before phi/g; AutoNL placements read from autonl_s/autonl_l; grid over "
               "AutoNL's stage shapes, r in {0.125, 0.25, 0.5}, stride in {1, 2}; DSP latency "
               f"on {DSP}, fp16, fused",
        assumptions="the 'conventional counterpart' is the standard NL block at the same C and "
                    "resolution (the paper does not say whether it subsamples); MACs as "
                    "AutoNL's model_profiling.py counts them (convs + matmuls)",
        gap=(f"the ratio grows with resolution (about N / (9 + rC)): at AutoNL's own placements "
             f"it stays below 400x; {reach}. The paper's configuration behind 400x is not "
             f"published. On the DSP the latency ratio at the best placement is only "
             f"{lat_n / lat_l:.1f}x (MAC ratio {place_ratio:.0f}x): LightNL's depthwise conv, "
             f"slices and small matmuls are memory- and overhead-bound"
             if grid_ratio >= 400 else
             f"no configuration on our grid reaches 400x (largest {grid_ratio:.0f}x)"),
        figures=(
            Figure("best_placement_ratio", place_ratio, "x", "count",
                   "max NL(no pool)/LightNL MACs at AutoNL placements"),
            Figure("autonl_s_total_ratio", totals["autonl_s"][0], "x", "count", "AutoNL-S, all placements, NL no pool"),
            Figure("autonl_s_total_ratio_pooled", totals["autonl_s"][1], "x", "count",
                   "AutoNL-S, all placements, NL pool before"),
            Figure("autonl_l_total_ratio", totals["autonl_l"][0], "x", "count", "AutoNL-L, all placements, NL no pool"),
            Figure("autonl_l_total_ratio_pooled", totals["autonl_l"][1], "x", "count",
                   "AutoNL-L, all placements, NL pool before"),
            Figure("grid_max_ratio", grid_ratio, "x", "count", "largest ratio on the grid"),
            Figure("grid_max_lightnl_macs", glm, "MACs", "count", "LightNL MACs at the grid maximum"),
            Figure("grid_max_nl_macs", gnm, "MACs", "count", "NL MACs at the grid maximum"),
            Figure("dsp_latency_ratio_best_placement", lat_n / lat_l, "x", "sim",
                   f"NL/LightNL latency, {DSP} fp16 fused, best placement"),
        ),
        detail=tuple(rows),
    )


def claim_autonl_size(s: Session) -> Claim:
    paper = {"autonl_s": (267e6, 4.4e6), "autonl_l": (353e6, 5.6e6)}
    figs, parts, verdicts = [], [], []
    for net, (pm, pp) in paper.items():
        g = s.graph(net)
        figs += [Figure(f"{net}_macs", g.macs, "MACs", "count", f"{net} MACs at 224"),
                 Figure(f"{net}_params", g.params, "params", "count", f"{net} parameters")]
        parts.append(f"{net}: {_fmt(g.macs)} ({_pct(g.macs, pm):+.2f}%), {_fmt(g.params)} "
                     f"({_pct(g.params, pp):+.2f}%)")
        # published to 3 significant figures: agree when within half a unit of the last digit
        verdicts += ["agrees" if abs(g.macs - pm) <= 0.5e6 else _verdict_close(g.macs, pm),
                     "agrees" if abs(g.params - pp) <= 0.05e6 else _verdict_close(g.params, pp)]
    verdict = _worst(*verdicts)
    return Claim(
        name="autonl_size",
        title="AutoNL-S and AutoNL-L MACs and parameters",
        source="meijieru/yet_another_mobilenet_series README (AutoNL-S 267M / 4.4M, AutoNL-L "
               "353M / 5.6M); architectures from its autonl_{s,l}.yml (papers.md 4)",
        paper="AutoNL-S 267M MACs / 4.4M params; AutoNL-L 353M / 5.6M",
        ours="; ".join(parts),
        verdict=verdict,
        config="workloads autonl_s / autonl_l at 1x3x224x224, 1000 classes; MACs = convs + "
               "linear + LightNL matmuls",
        assumptions="the yml gives the rows, not the block code: SE squeezes to int(C_in x "
                    "se_ratio) with Swish and a sigmoid gate, convs without bias + BN, LightNL "
                    "on the block output with its 3x3 depthwise conv, 32-channel stem, 1280 head",
        gap="" if verdict == "agrees" else (
            "within 1% but below the printed figures: the searched block code (SE width "
            "rounding, biases, stem/head details) is not published, and the re-implementation's "
            "profiler conventions (e.g. counting SE or BN terms) may differ from ours"),
        figures=tuple(figs),
    )


FAMILY = (("NL", "nl_block", {"pool": "before"}), ("SNL", "snl_block", {}),
          ("gSNL", "gsnl_block", {}), ("NS", "ns_block", {}), ("A2", "a2_block", {}))


def claim_nl_family_res4(s: Session) -> Claim:
    gpu, dsp = "a100-sxm4-40gb", DSP
    rows = [("block", "MACs", "params", f"{gpu} fp16 eager", "bound", f"{gpu} fp16 fused, batch 32", "bound",
             f"{dsp} fp16 fused", "bound")]
    figs = []

    def top(res) -> str:
        b, share = max(res.bound_breakdown().items(), key=lambda kv: kv[1])
        return f"{b} {share:.0%}"

    for label, wl, knobs in FAMILY:
        g = s.graph(wl, knobs)
        rg = s.sim(wl, knobs, None, gpu, "fp16", "eager")
        rf = s.sim(wl, knobs, (32,) + RES4[1:], gpu, "fp16", "fused")
        rd = s.sim(wl, knobs, None, dsp, "fp16", "fused")
        rows.append((label, _fmt(g.macs), _fmt(g.params), _fmt(rg.latency_s, "s"), top(rg),
                     _fmt(rf.latency_s, "s"), top(rf), _fmt(rd.latency_s, "s"), top(rd)))
        k = label.lower()
        figs += [Figure(f"{k}_macs", g.macs, "MACs", "count", f"{label} block MACs"),
                 Figure(f"{k}_params", g.params, "params", "count", f"{label} block params"),
                 Figure(f"{k}_gpu_latency_s", rg.latency_s, "s", "sim", f"{label} on {gpu} fp16 eager"),
                 Figure(f"{k}_gpu_fused_latency_s", rf.latency_s, "s", "sim", f"{label} on {gpu} fp16 fused, batch 32"),
                 Figure(f"{k}_dsp_latency_s", rd.latency_s, "s", "sim", f"{label} on {dsp} fp16 fused")]
    # the one published cost: ResNet-50 + A2 (ECA-Net Table 3 quoting A2-Nets)
    r50 = s.graph("resnet50")
    a2 = s.graph("resnet50", {"nl_blocks": 5, "nl_type": "a2"})
    d_params, d_macs = a2.params - r50.params, a2.macs - r50.macs
    figs += [Figure("r50_a2x5_params", a2.params, "params", "count", "ResNet-50 + 5 A2 blocks"),
             Figure("r50_a2x5_macs", a2.macs, "MACs", "count", "ResNet-50 + 5 A2 blocks")]
    return Claim(
        name="nl_family_res4",
        title="SNL, gSNL, NS, A2 and NL at ResNet-50 res4: MACs, params, latency on a GPU and the DSP",
        source="SNL/gSNL: zh460045050/spectral-nonlocal-block (2019 code); NS: SNL_ICCV2021 "
               "NSUnit; A2: arXiv:1810.11579 (ECA-Net Table 3: ResNet-50 + A2 33.00M params, "
               "6.50 GFLOPs vs ResNet-50 24.37M, 3.86G); papers.md 2-3",
        paper="no per-block FLOPs/params/latency tables published (papers.md 2.2); ResNet-50 + A2: "
              "+8.63M params, +2.64 G 'FLOPs'",
        ours=" | ".join(f"{r[0]} {r[1]} MACs, GPU {r[3]} eager b1 / {r[5]} fused b32, DSP {r[7]}"
                        for r in rows[1:]) +
             f"; ResNet-50 + 5 A2 blocks (ours): {d_params / 1e6:+.2f}M params, {_fmt(d_macs)} MACs added",
        verdict="no published figure",
        config=f"zoo blocks at 1x1024x14x14 (R50 res4 at 224), planes / inner = C/2, A2 c_m = c_n "
               f"= C/4, batch 1 unless stated; GPU {gpu} fp16 eager (one kernel per aten op, PyTorch "
               f"dispatch: at batch 1 it is dispatch-bound, so the block ranking there is a kernel "
               f"count) and fused at batch 32 (compiled; a single block at batch 1 is launch-bound "
               f"even fused), DSP {dsp} fp16 fused (a compiled QNN graph); "
               f"analytical engine",
        assumptions="SNL/gSNL/NS attention is N x N without subsampling (code); the A2 placement "
                    "in ResNet-50 and c_m/c_n are not published: ours uses the NL 5-block "
                    "placement with c_m = c_n = C/4",
        gap=(f"the only published cost (ResNet-50 + A2) adds {8.63:.2f}M params and 2.64 G vs our "
             f"{d_params / 1e6:.2f}M and {_fmt(d_macs)}: A2-Nets' block count, placement and "
             "descriptor widths are not in our sources, so the whole-network figures are not "
             "comparable; the per-block rows are ours only"),
        figures=tuple(figs),
        detail=tuple(rows),
    )


def _ccp_extra_memory(s: Session, hw: HardwareSpec) -> tuple[float, float, float, list]:
    """Extra on-chip memory for pooling before the store, by our definition: a running-max row
    buffer that holds one output row of the pooled channels of one MAC-array pass
    (W_out x T_co / k x bytes), sized for the widest cross-channel-pooling layer; total on-chip
    memory = SRAM buffer + line buffer (+ the extra buffer)."""
    from codesign.cost.accelerator import array_co

    g = s.graph("tiny_yolov2_ccp")
    t_co = float(array_co(hw))
    widest, per_layer = 0.0, []
    for op in g.ops:
        if op.kind.value != "cross_channel_pool":
            continue
        b, c, k, h, w = op.inputs[0].shape
        need = w * max(1.0, t_co / k) * 1.0  # int8 bytes
        per_layer.append((op.module, k, w, need))
        widest = max(widest, need)
    total = float(hw.accelerator.sram_bytes + hw.accelerator.line_buffer_bytes)
    return widest, total, t_co, per_layer


def claim_condensation_bandwidth(s: Session) -> Claim:
    hw = s.hardware("condensation-accelerator")
    wl = "tiny_yolov2_ccp"
    r_nchw = s.sim(wl, {}, None, hw, "int8", "eager", "nchw")
    r_ccp = s.sim(wl, {}, None, hw, "int8", "eager", "ccp")
    saved = 100.0 * (1.0 - r_ccp.dram_bytes / r_nchw.dram_bytes)
    # the same with fused epilogues: a copy of the preset without the ccp layout stores the
    # pre-pooling map even when BN/activation are folded (HardwareSpec is frozen: replace())
    no_ccp = replace(hw, name=hw.name + "-no-ccp", layouts=tuple(l for l in hw.layouts if l != "ccp"))
    r_fused_store = s.sim(wl, {}, None, no_ccp, "int8", "fused", "nchw")
    r_fused_ccp = s.sim(wl, {}, None, hw, "int8", "fused", "nchw")
    saved_fused = 100.0 * (1.0 - r_fused_ccp.dram_bytes / r_fused_store.dram_bytes)
    plain = s.sim("tiny_yolov2", {}, None, hw, "int8", "fused", "nchw")
    verdict = _verdict_close(saved, 26.5, 0.05, 0.25)
    rows = [("run", "DRAM traffic", "latency", "energy"),
            ("eager, layout nchw (pre-pool map stored and re-read)", _fmt(r_nchw.dram_bytes, "B"),
             _fmt(r_nchw.latency_s, "s"), _fmt(r_nchw.energy_j, "J")),
            ("eager, layout ccp (pool before the store)", _fmt(r_ccp.dram_bytes, "B"),
             _fmt(r_ccp.latency_s, "s"), _fmt(r_ccp.energy_j, "J")),
            ("fused epilogues, pre-pool map stored (preset without ccp)",
             _fmt(r_fused_store.dram_bytes, "B"), _fmt(r_fused_store.latency_s, "s"),
             _fmt(r_fused_store.energy_j, "J")),
            ("fused epilogues, pool before the store", _fmt(r_fused_ccp.dram_bytes, "B"),
             _fmt(r_fused_ccp.latency_s, "s"), _fmt(r_fused_ccp.energy_j, "J")),
            ("plain Tiny-YOLOv2 (no CCP), fused", _fmt(plain.dram_bytes, "B"),
             _fmt(plain.latency_s, "s"), _fmt(plain.energy_j, "J"))]
    return Claim(
        name="condensation_bandwidth",
        title="Condensation-Net: DRAM bandwidth saved by cross-channel pooling before the store",
        source="Chen et al., Condensation-Net, arXiv:2104.14124, abstract (papers.md 5)",
        paper="26.5% of memory bandwidth saved",
        ours=f"{saved:.1f}% (eager, layout ccp vs nchw); {saved_fused:.1f}% with fused BN/activation",
        verdict=verdict,
        config="workload tiny_yolov2_ccp (416x416, batch 1, CCP factor 2 on all eight hidden convs) "
               "on condensation-accelerator, int8, analytical engine; saved = 1 - DRAM(ccp) / "
               "DRAM(pre-pool map stored); traffic includes weights and every activation",
        assumptions="the paper's network, CCP placement, pooling factor, bit widths and baseline "
                    "are not published (papers.md 5): Tiny-YOLOv2 backbone with CCP x2 after "
                    "every hidden conv is our stand-in; the accelerator is a stated design point "
                    "(Ethos-U65-sized, 12 GB/s DRAM)",
        gap="" if verdict == "agrees" else (
            f"the saving is a property of our stand-in network: it is the pre-pool map's write "
            f"and re-read over total traffic, so it moves with the CCP layers, the factor and "
            f"what else reaches DRAM: with eager BN/activation round trips it is {saved:.1f}%, "
            f"with them fused {saved_fused:.1f}%; the paper's network and baseline are "
            f"unpublished, and its figure lies between our two"
            if min(saved, saved_fused) <= 26.5 <= max(saved, saved_fused) else
            "the saving is a property of our stand-in network (CCP layers, factor, what else "
            "reaches DRAM); the paper's network and baseline are unpublished"),
        figures=(
            Figure("dram_bytes_nchw", r_nchw.dram_bytes, "B", "sim", "eager, pre-pool map stored"),
            Figure("dram_bytes_ccp", r_ccp.dram_bytes, "B", "sim", "eager, pool before the store"),
            Figure("saved_pct", saved, "%", "sim", "bandwidth saved, eager"),
            Figure("saved_fused_pct", saved_fused, "%", "sim", "bandwidth saved, fused epilogues"),
            Figure("latency_nchw_s", r_nchw.latency_s, "s", "sim", "eager nchw latency"),
            Figure("latency_ccp_s", r_ccp.latency_s, "s", "sim", "eager ccp latency"),
            Figure("energy_nchw_j", r_nchw.energy_j, "J", "sim", "eager nchw energy"),
            Figure("energy_ccp_j", r_ccp.energy_j, "J", "sim", "eager ccp energy"),
        ),
        detail=tuple(rows),
    )


def claim_condensation_onchip(s: Session) -> Claim:
    hw = s.hardware("condensation-accelerator")
    extra, total, t_co, per_layer = _ccp_extra_memory(s, hw)
    pct = 100.0 * extra / (total + extra)
    verdict = _verdict_close(pct, 0.2, 0.05, 0.5)
    rows = [("layer", "k", "W_out", "row buffer bytes")] + [
        (m, str(k), str(w), f"{b:.0f}") for m, k, w, b in per_layer]
    return Claim(
        name="condensation_onchip",
        title="Condensation-Net: extra on-chip memory for pooling before the store",
        source="Chen et al., Condensation-Net, arXiv:2104.14124, abstract (papers.md 5)",
        paper="extra memory 0.2% of the total size (extra gates 1.0%)",
        ours=f"{pct:.2f}% ({extra:.0f} B over {_fmt(total, 'B')} on-chip)",
        verdict=verdict,
        config=f"condensation-accelerator: MAC array emitting T_co = {t_co:.0f} output channels per "
               f"pass (codesign.cost.accelerator), SRAM {_fmt(hw.accelerator.sram_bytes, 'B')} + "
               f"line buffer {_fmt(hw.accelerator.line_buffer_bytes, 'B')}; tiny_yolov2_ccp at 416",
        assumptions="our definition (the paper's is not published): pooling before the store "
                    "needs a running-max row buffer holding one output row of the pooled channels "
                    "of one array pass, W_out x T_co / k bytes (int8), sized for the widest CCP "
                    "layer; extra % = that buffer / (SRAM + line buffer + buffer). Both on-chip "
                    "sizes are preset assumptions, so agreement here is not evidence",
        gap="" if verdict == "agrees" else (
            "the figure depends on our buffer definition and on the preset's assumed on-chip "
            "sizes; the paper's hardware is unpublished"),
        figures=(
            Figure("extra_onchip_bytes", extra, "B", "count", "running-max row buffer"),
            Figure("total_onchip_bytes", total, "B", "count", "SRAM + line buffer"),
            Figure("extra_onchip_pct", pct, "%", "count", "extra / total"),
        ),
        detail=tuple(rows),
    )


TRAIN = dict(shape=(128, 3, 224, 224), phase="train", optimizer="adamw")
A100 = "a100-sxm4-40gb"


def _train_throughput(s: Session, wl: str, knobs: Mapping | None = None) -> tuple[float, object]:
    r = s.sim(wl, knobs, TRAIN["shape"], A100, "tf32", "eager", phase="train",
              optimizer=TRAIN["optimizer"])
    return r.throughput_per_s, r


def _dw_share(res) -> float:
    """Share of a run's latency spent in depthwise / large-kernel / band convs (fwd + bwd)."""
    f = res.to_frame()
    dw = f[(f.kind == "conv") & f.variant.isin(["depthwise", "band"])]
    return float(dw.latency_s.sum() / f.latency_s.sum())


def claim_inceptionnext_throughput(s: Session) -> Claim:
    t_r50, r_r50 = _train_throughput(s, "resnet50")
    t_cnx, r_cnx = _train_throughput(s, "convnext_t")
    t_inx, r_inx = _train_throughput(s, "inceptionnext_t")
    a, b = t_cnx / t_r50, t_inx / t_cnx
    verdict = _worst(_verdict_close(a, 0.59, 0.05, 0.15), _verdict_close(b, 1.57, 0.05, 0.15))
    share = _dw_share(r_cnx)
    rows = [("model", "MACs (fwd+bwd)", "train throughput", "depthwise share of time", "bound")]
    for label, r in (("ResNet-50", r_r50), ("ConvNeXt-T", r_cnx), ("InceptionNeXt-T", r_inx)):
        bb = ", ".join(f"{k} {v:.0%}" for k, v in sorted(r.bound_breakdown().items()))
        rows.append((label, _fmt(r.macs), f"{r.throughput_per_s:.0f} img/s", f"{_dw_share(r):.1%}", bb))
    return Claim(
        name="inceptionnext_throughput",
        title="InceptionNeXt: training throughput on A100 (TF32, batch 128)",
        source="Yu et al., InceptionNeXt, CVPR 2024 (arXiv:2303.16900), abstract (papers.md 6)",
        paper="ConvNeXt-T / ResNet-50 about 0.59 (\"about 60%\"); InceptionNeXt-T / ConvNeXt-T about 1.57",
        ours=f"ConvNeXt-T / ResNet-50 {a:.2f}; InceptionNeXt-T / ConvNeXt-T {b:.2f}",
        verdict=verdict,
        config=f"{A100}, tf32, eager (PyTorch, no compile), NCHW, batch 128, phase=train with "
               "AdamW step, analytical engine; throughput = 128 / simulated step time",
        assumptions="ConvNeXt as in the official code: channels-first LayerNorm op chain (mean, "
                    "sub, pow, mean, sqrt, div, scale, shift) in the stem and downsampling layers, "
                    "so tensors between blocks are NCHW, and permute + channels-last LayerNorm/"
                    "Linear in the blocks; InceptionNeXt with BN and 1x1-conv MLP; loss = sum of "
                    "logits (no cross-entropy); no data loading, no AMP, no drop path",
        gap="" if verdict == "agrees" else (
            "the depthwise convs run PyTorch's own NCHW kernels (every fp32/TF32 depthwise conv "
            "on NCHW tensors does), costed eff('conv.depthwise_nchw') and, for the weight "
            "gradient, eff('conv.depthwise_wgrad') (Ampere values fitted to timm's RTX 3090 "
            f"data), {share:.0%} of ConvNeXt-T's step. Two mechanisms moved the ratios from "
            "0.70 / 1.73: (1) the weight-gradient kernel launches one block per (channel, tap) "
            "and runs in rounds of full SMs (codesign.cost.gpu.wgrad_grid_rounds): "
            "InceptionNeXt-T's C/8-channel branch convs (12 channels x 9 or 11 taps in the first "
            "stage) fill an eighth of an A100's 864 block slots, ConvNeXt-T's 7x7 convs over "
            "every channel fill them (InceptionNeXt-T 1176 -> 1009 img/s, ConvNeXt-T 681 -> 669); "
            "(2) ConvNeXt's official channels-first LayerNorm keeps the network NCHW, so each "
            "block's LayerNorm copies its permuted input (forward and backward) and the Linear "
            "backward copies its permuted gradient, and the stem/downsampling norms are op "
            "chains (ConvNeXt-T 669 -> 611 img/s; a permute-LayerNorm-permute stem instead "
            "returns channels-last tensors that the residual adds keep, which on CUDA would send "
            "the depthwise convs to cuDNN). What is left: "
            f"ConvNeXt-T / ResNet-50 {a:.2f} and InceptionNeXt-T / ConvNeXt-T {b:.2f} are "
            f"{a / 0.59 - 1:+.0%} / {b / 1.57 - 1:+.0%} off the paper's; the paper's PyTorch "
            "release and train loop are not stated in the reference "
            "(benchmarks/inceptionnext_loops.py shows the ratios under timm's PyTorch 1.x loop "
            "and the PyTorch 1.x profile); the A100 efficiencies are transferred from a GeForce "
            "Ampere fit, not measured on an A100"),
        figures=(
            Figure("resnet50_train_img_s", t_r50, "img/s", "sim", "ResNet-50 training throughput"),
            Figure("convnext_t_train_img_s", t_cnx, "img/s", "sim", "ConvNeXt-T training throughput"),
            Figure("inceptionnext_t_train_img_s", t_inx, "img/s", "sim", "InceptionNeXt-T training throughput"),
            Figure("convnext_over_resnet50", a, "x", "sim", "ConvNeXt-T / ResNet-50"),
            Figure("inceptionnext_over_convnext", b, "x", "sim", "InceptionNeXt-T / ConvNeXt-T"),
            Figure("convnext_dw_time_share", share, "x", "sim", "ConvNeXt-T depthwise share of step time"),
        ),
        detail=tuple(rows),
    )


def claim_convnext_kernel_trend(s: Session) -> Claim:
    kernels = (7, 5, 3)
    thr = {k: _train_throughput(s, "convnext_t", {"kernel": k})[0] for k in kernels}
    increasing = all(thr[kernels[i + 1]] > thr[kernels[i]] for i in range(len(kernels) - 1))
    gain = _pct(thr[3], thr[7])
    rows = [("depthwise kernel", "train throughput", "vs 7x7")] + [
        (f"{k}x{k}", f"{thr[k]:.0f} img/s", f"{_pct(thr[k], thr[7]):+.1f}%") for k in kernels]
    return Claim(
        name="convnext_kernel_trend",
        title="ConvNeXt-T training throughput as the depthwise kernel shrinks 7, 5, 3",
        source="Yu et al., InceptionNeXt, CVPR 2024 (arXiv:2303.16900): throughput rises as the "
               "kernel shrinks (papers.md 6, the paper's trend)",
        paper="throughput increases 7 -> 5 -> 3 (smaller kernel, faster)",
        ours=", ".join(f"k{k}: {thr[k]:.0f} img/s" for k in kernels) + f" (k3 {gain:+.1f}% vs k7)",
        verdict="agrees" if increasing else "disagrees",
        config=f"convnext_t with kernel 7/5/3, {A100}, tf32, eager, batch 128, phase=train + AdamW",
        assumptions="same as inceptionnext_throughput",
        gap="" if increasing else "our depthwise cost does not fall with the kernel (see "
                                  "inceptionnext_throughput)",
        figures=tuple(Figure(f"k{k}_train_img_s", thr[k], "img/s", "sim", f"ConvNeXt-T kernel {k}")
                      for k in kernels) + (Figure("k3_vs_k7_pct", gain, "%", "sim", "kernel 3 vs 7"),),
        detail=tuple(rows),
    )


LK_KERNELS = (3, 5, 7, 9, 13, 21, 31)


def claim_large_kernel_roofline(s: Session) -> Claim:
    runs = (("gpu", A100, "fp16", "eager", (64, 3, 224, 224)),
            ("dsp", DSP, "fp16", "fused", (1, 3, 224, 224)))
    rows = [("kernel", "dw MACs", "dw DRAM", f"{A100} fp16 b64: dw time", "compute / memory / overhead",
             f"{DSP} fp16 b1: dw time", "compute / memory / overhead")]
    figs = []
    flip: dict[str, int] = {}
    for k in LK_KERNELS:
        cells = [f"{k}x{k}"]
        for tag, hw, dtype, mode, shape in runs:
            res = s.sim("convnext_t", {"kernel": k}, shape, hw, dtype, mode)
            f = res.to_frame()
            dw = f[(f.kind == "conv") & (f.module.str.endswith("dwconv"))]
            t = float(dw.latency_s.sum())
            share = {b: float(dw[dw.bound == b].latency_s.sum() / t) if t > 0 else 0.0
                     for b in ("compute", "memory", "overhead")}
            if tag == "gpu":
                cells += [_fmt(float(dw.macs.sum())),
                          _fmt(float((dw.dram_read_bytes + dw.dram_write_bytes).sum()), "B")]
            cells += [_fmt(t, "s"), " / ".join(f"{share[b]:.0%}" for b in ("compute", "memory", "overhead"))]
            figs += [Figure(f"{tag}_k{k}_dw_latency_s", t, "s", "sim", f"{hw} depthwise time, kernel {k}"),
                     Figure(f"{tag}_k{k}_dw_memory_share", share["memory"], "x", "sim",
                            f"{hw} share of depthwise time whose bound is 'memory', kernel {k}"),
                     Figure(f"{tag}_k{k}_dw_compute_share", share["compute"], "x", "sim",
                            f"{hw} share of depthwise time whose bound is 'compute', kernel {k}")]
            if share["compute"] > share["memory"] and tag not in flip:
                flip[tag] = k
        rows.append(tuple(cells))

    def where(tag: str) -> str:
        k = flip.get(tag)
        if k is None:
            return f"memory-bound (or overhead-bound) at every kernel up to {LK_KERNELS[-1]}"
        if k == LK_KERNELS[0]:
            return f"compute-bound time exceeds memory-bound time already at {k}x{k}"
        prev = LK_KERNELS[LK_KERNELS.index(k) - 1]
        return f"memory-bound up to {prev}x{prev}, compute-bound from {k}x{k}"

    return Claim(
        name="large_kernel_roofline",
        title="Large depthwise kernels: latency vs kernel size on a GPU and the DSP, and where they are memory-bound",
        source="UniRepLKNet / LSNet / InceptionNeXt: large-kernel depthwise convs cost little FLOPs "
               "but much memory traffic (papers.md 6)",
        paper="qualitative: depthwise convs are memory-bound; the roofline shows why",
        ours=f"GPU: {where('gpu')}; DSP: {where('dsp')}",
        verdict="no published figure",
        config=f"convnext_t with depthwise kernel {', '.join(map(str, LK_KERNELS))}; summed over the "
               f"18 depthwise convs: GPU {A100} fp16 eager batch 64, DSP {DSP} fp16 fused "
               "batch 1; shares = depthwise time by each op's `bound` column; the turn is the "
               "first kernel whose compute-bound time exceeds its memory-bound time",
        assumptions="depthwise on CUDA cores (GPU) and HVX (DSP) per the cost models; the DRAM "
                    "traffic of a depthwise conv barely grows with k (input + output once, "
                    "weights k^2 C), its MACs grow with k^2, so intensity rises until the op "
                    "crosses the ridge. On the GPU a depthwise input that its producer just wrote "
                    "and that fits in half the L2 is read from L2 (cost model), so only the "
                    "56x56 stage reaches DRAM at batch 64 fp16",
        gap="",
        figures=tuple(figs),
        detail=tuple(rows),
    )


#: RepLKNet (arXiv:2203.06717) Table 5: per-stage kernel sizes -> (params M, FLOPs G = MACs) at 224
REPLKNET_TABLE5 = (((3, 3, 3, 3), 71.8, 12.9), ((7, 7, 7, 7), 72.2, 13.1),
                   ((13, 13, 13, 13), 73.7, 13.4), ((25, 25, 25, 13), 78.2, 15.0),
                   ((31, 29, 27, 13), 79.3, 15.3))


def claim_replknet_kernel_sizes(s: Session) -> Claim:
    """RepLKNet's kernel-size ablation: params and MACs per kernel configuration (published),
    and what the simulators make of the latency of the same configurations."""
    shape = (1, 3, 224, 224)
    cpu = s.hardware("host-cpu").with_knobs({"simd_width_bits": 512})
    rows = [("kernels", "params (paper / ours)", "MACs (paper / ours)",
             "rtx2080ti fp32 b64 latency", "host CPU b1 NCHW", "host CPU b1 NHWC")]
    figs, verdicts, off = [], [], []
    base = {}
    for kernels, p_pub, m_pub in REPLKNET_TABLE5:
        knobs = {"kernels": kernels, "merged": True}
        g = s.graph("replknet31b", knobs, shape)
        tag = "k" + "-".join(map(str, kernels))
        gpu = s.sim("replknet31b", knobs, (64, 3, 224, 224), "rtx2080ti", "fp32").latency_s
        nchw = s.sim("replknet31b", knobs, shape, cpu, "fp32", layout="nchw").latency_s
        nhwc = s.sim("replknet31b", knobs, shape, cpu, "fp32", layout="nhwc").latency_s
        if not base:
            base = {"params": g.params, "macs": g.macs, "gpu": gpu, "nchw": nchw, "nhwc": nhwc}
        for what, v, pub in (("params", g.params / 1e6, p_pub), ("MACs", g.macs / 1e9, m_pub)):
            verdicts.append(_verdict_rounded(v, pub, 1))
            if verdicts[-1] != "agrees":
                off.append(f"{'-'.join(map(str, kernels))} {what} {v:.2f} vs {pub} ({v / pub - 1:+.1%})")
        rows.append(("-".join(map(str, kernels)), f"{p_pub} M / {g.params / 1e6:.2f} M",
                     f"{m_pub} G / {g.macs / 1e9:.3f} G", f"{_fmt(gpu, 's')} ({gpu / base['gpu']:.2f}x)",
                     f"{_fmt(nchw, 's')} ({nchw / base['nchw']:.2f}x)",
                     f"{_fmt(nhwc, 's')} ({nhwc / base['nhwc']:.2f}x)"))
        figs += [Figure(f"{tag}_params", float(g.params), "", "count", f"params, kernels {tag}"),
                 Figure(f"{tag}_macs", float(g.macs), "MACs", "count", f"MACs, kernels {tag}"),
                 Figure(f"{tag}_rtx2080ti_b64_s", gpu, "s", "sim", f"rtx2080ti fp32 batch 64, {tag}"),
                 Figure(f"{tag}_cpu_nchw_s", nchw, "s", "sim", f"host CPU (AVX-512) b1 NCHW, {tag}"),
                 Figure(f"{tag}_cpu_nhwc_s", nhwc, "s", "sim", f"host CPU (AVX-512) b1 NHWC, {tag}")]
    last = figs[-5:]
    macs_ratio = last[1].value / base["macs"]
    gpu_ratio, nchw_ratio, nhwc_ratio = (last[2].value / base["gpu"], last[3].value / base["nchw"],
                                         last[4].value / base["nhwc"])
    figs += [Figure("macs_ratio_31_vs_3", macs_ratio, "x", "count", "MACs 31-29-27-13 / 3-3-3-3"),
             Figure("rtx2080ti_ratio_31_vs_3", gpu_ratio, "x", "sim", "rtx2080ti latency ratio"),
             Figure("cpu_nchw_ratio_31_vs_3", nchw_ratio, "x", "sim", "host CPU NCHW latency ratio"),
             Figure("cpu_nhwc_ratio_31_vs_3", nhwc_ratio, "x", "sim", "host CPU NHWC latency ratio")]
    verdict = _worst(*verdicts, _verdict_close(macs_ratio, 15.3 / 12.9, 0.01, 0.05))
    return Claim(
        name="replknet_kernel_sizes",
        title="RepLKNet-31B kernel sizes 3-3-3-3 .. 31-29-27-13: params, MACs and latency",
        source="Ding et al., Scaling Up Your Kernels to 31x31 (RepLKNet), CVPR 2022 "
               "(arXiv:2203.06717), Table 5 (params and FLOPs by kernel size; not in "
               "shared/reference/papers.md: quoted from the paper, check against the PDF)",
        paper="params 71.8 / 72.2 / 73.7 / 78.2 / 79.3 M and FLOPs 12.9 / 13.1 / 13.4 / 15.0 / 15.3 G: "
              f"the 31x31 kernels add {15.3 / 12.9 - 1:.0%} FLOPs over 3x3",
        ours=f"MACs x{macs_ratio:.3f}; simulated latency x{gpu_ratio:.2f} on an RTX 2080 Ti (fp32, "
             f"batch 64), x{nchw_ratio:.2f} on the host CPU in eager NCHW, x{nhwc_ratio:.2f} in NHWC",
        verdict=verdict,
        config="replknet31b merged inference form (one kxk depthwise kernel per layer), 224 input; "
               "rtx2080ti preset fp32 eager NCHW batch 64; host-cpu preset with AVX-512 "
               "(simd_width_bits 512, as this project's host) fp32 eager batch 1, NCHW and NHWC",
        assumptions="FLOPs in the paper are multiply-adds; stem, transitions and head as in the "
                    "official create_RepLKNet31B; published figures rounded to 0.1 M / 0.1 G",
        gap="" if verdict == "agrees" else (
            "at the paper's printed precision: " + "; ".join(off) + ". The 31x31 kernels cost "
            f"x{macs_ratio:.2f} MACs but x{nchw_ratio:.1f} simulated latency on the host CPU in eager "
            "NCHW: oneDNN's jit depthwise kernel takes a left padding of at most 6, so every kernel "
            "above 13x13 runs im2col + GEMM (cost/cpu.py dw_gemm_fallback, measured by "
            "benchmarks/cpu_effects.py dwkernel); channels-last keeps the FLOPs ratio"),
        figures=tuple(figs),
        detail=tuple(rows),
    )


def _e2gc_pick(s: Session, wl: str, base_knobs: Mapping, sizes, shape) -> tuple[int, list]:
    """The constant group size whose MACs are closest to the constant-groups network's."""
    base = s.graph(wl, base_knobs, shape).macs
    cands = []
    for gs in sizes:
        try:
            m = s.graph(wl, {"group_mode": "constant_group_size", "group_size": gs}, shape).macs
        except CodesignError:
            continue
        cands.append((abs(m / base - 1.0), gs, m))
    best = min(cands)[1]
    return best, cands


def claim_e2gc_energy(s: Session) -> Claim:
    hw, dtype, shape = "p100", "fp32", (64, 3, 224, 224)
    cases = (("mobilenetv1", "MobileNet-V1", {"group_mode": "constant_groups", "groups": 32}, 10.8,
              (2, 4, 8, 16, 32)),
             ("resnext50", "ResNeXt-50", {"group_mode": "constant_groups", "groups": 32}, 4.73,
              (4, 8, 16, 32)))
    figs, parts, verdicts, best_gain = [], [], [], []
    rows = [("network", "grouping", "MACs", "energy", "latency", "vs constant groups")]
    for wl, label, base_knobs, paper, sizes, in cases:
        gs, cands = _e2gc_pick(s, wl, base_knobs, sizes, shape)
        rb = s.sim(wl, base_knobs, shape, hw, dtype, "eager")
        rows.append((label, f"constant groups {base_knobs['groups']}", _fmt(rb.macs),
                     _fmt(rb.energy_j, "J"), _fmt(rb.latency_s, "s"), "-"))
        best = (-math.inf, 0)
        for _, size, _m in sorted(cands, key=lambda c: c[1]):
            r = s.sim(wl, {"group_mode": "constant_group_size", "group_size": size}, shape, hw, dtype, "eager")
            best = max(best, (_pct(rb.energy_j, r.energy_j), size))
            mark = " (matched)" if size == gs else ""
            rows.append((label, f"constant group size {size}{mark}", _fmt(r.macs), _fmt(r.energy_j, "J"),
                         _fmt(r.latency_s, "s"), f"{_pct(rb.energy_j, r.energy_j):+.1f}% efficiency"))
        re = s.sim(wl, {"group_mode": "constant_group_size", "group_size": gs}, shape, hw, dtype, "eager")
        gain = _pct(rb.energy_j, re.energy_j)  # energy efficiency = 1 / energy
        best_gain.append((label, best[0], best[1]))
        verdicts.append(_verdict_close(gain, paper, 0.10, 0.5) if gain > 0 else "disagrees")
        parts.append(f"{label} {gain:+.1f}% (G = {gs}, MACs {_pct(re.macs, rb.macs):+.1f}%)")
        key = wl
        figs += [Figure(f"{key}_matched_group_size", gs, "channels", "count", f"{label} matched G"),
                 Figure(f"{key}_groups_energy_j", rb.energy_j, "J", "sim", f"{label} constant groups"),
                 Figure(f"{key}_size_energy_j", re.energy_j, "J", "sim", f"{label} constant group size"),
                 Figure(f"{key}_efficiency_gain_pct", gain, "%", "sim", f"{label} energy-efficiency gain")]
    verdict = _worst(*verdicts)
    best_txt = "; ".join(f"{label} best {g:+.1f}% at G = {size}" for label, g, size in best_gain)
    return Claim(
        name="e2gc_energy",
        title="E2GC: constant group size vs constant group count, energy on P100",
        source="Jha et al., E2GC, VLSID 2020 (arXiv:2006.15100), abstract (papers.md 8)",
        paper="+10.8% energy efficiency (MobileNet-V1), +4.73% (ResNeXt-50) on P100, at comparable complexity",
        ours="; ".join(parts),
        verdict=verdict,
        config=f"{hw}, {dtype}, eager, inference batch {shape[0]} at 224, analytical engine; "
               "baseline 32 groups in every grouped 3x3 (MobileNet-V1: capped at the channel "
               "count); E2GC: constant group size G chosen among the candidates as the one whose "
               "MACs are closest to the baseline's; gain = E(groups) / E(group size) - 1",
        assumptions="the paper's G, batch size, phase (training or inference) and power "
                    "measurement are not published; MobileNet-V1 with grouped (not depthwise) "
                    "3x3 convs is our reading of 'GConv in MobileNet-V1'",
        gap="" if verdict == "agrees" else (
            "our energy is the cost model's compute + SRAM + DRAM + static energy over the "
            "simulated time: at matched MACs the two groupings move similar bytes, and the "
            "difference comes from the grouped-conv efficiency per group size and the static "
            "energy of a longer run, so the gain depends on which G is compared (see the table: "
            f"{best_txt}); the paper's G, batch and power measurement are unpublished, and its "
            "figures are measured board energy, which includes kernel effects the model does not have"),
        figures=tuple(figs),
        detail=tuple(rows),
    )


def claim_quantization(s: Session) -> Claim:
    dsp, acc = s.hardware(DSP), s.hardware("condensation-accelerator")
    rows = [("workload", "hardware", "dtype", "latency", "energy", "model size")]
    figs, parts = [], []
    for wl in ("mobilenetv2", "resnet50"):
        g = s.graph(wl)
        size32, size8 = _weight_bytes(g, 4), _weight_bytes(g, 1)
        r32 = s.sim(wl, {}, None, dsp, "fp32", "fused")
        r16 = s.sim(wl, {}, None, dsp, "fp16", "fused")
        r8 = s.sim(wl, {}, None, dsp, "int8", "fused")
        for dt, r, size in (("fp32", r32, size32), ("fp16", r16, _weight_bytes(g, 2)), ("int8", r8, size8)):
            rows.append((wl, dsp.name, dt, _fmt(r.latency_s, "s"), _fmt(r.energy_j, "J"), _fmt(size, "B")))
        figs += [Figure(f"{wl}_size_factor", size32 / size8, "x", "count", f"{wl} fp32 / int8 weight bytes"),
                 Figure(f"{wl}_dsp_speedup", r32.latency_s / r8.latency_s, "x", "sim", f"{wl} fp32 / int8 latency"),
                 Figure(f"{wl}_dsp_speedup_vs_fp16", r16.latency_s / r8.latency_s, "x", "sim",
                        f"{wl} fp16 / int8 latency (fp16 is the float the NPU's HMX runs)"),
                 Figure(f"{wl}_dsp_energy_ratio", r32.energy_j / r8.energy_j, "x", "sim", f"{wl} fp32 / int8 energy"),
                 Figure(f"{wl}_dsp_int8_latency_s", r8.latency_s, "s", "sim", f"{wl} int8 latency on {dsp.name}")]
        parts.append(f"{wl} on {dsp.name}: {r32.latency_s / r8.latency_s:.2f}x faster than fp32 "
                     f"({r16.latency_s / r8.latency_s:.2f}x than fp16), "
                     f"{r32.energy_j / r8.energy_j:.2f}x less energy, {size32 / size8:.2f}x smaller")
    nearest = [d for d in ("fp32", "fp16", "bf16") if d in acc.dtypes]
    ra = s.sim("tiny_yolov2", {}, None, acc, "int8", "fused")
    g = s.graph("tiny_yolov2")
    rows.append(("tiny_yolov2", acc.name, "int8", _fmt(ra.latency_s, "s"), _fmt(ra.energy_j, "J"),
                 _fmt(_weight_bytes(g, 1), "B")))
    figs += [Figure("accelerator_tiny_yolov2_int8_latency_s", ra.latency_s, "s", "sim", "int8 latency"),
             Figure("accelerator_tiny_yolov2_int8_energy_j", ra.energy_j, "J", "sim", "int8 energy"),
             Figure("tiny_yolov2_size_factor", _weight_bytes(g, 4) / _weight_bytes(g, 1), "x", "count",
                    "fp32 / int8 weight bytes")]
    if nearest:
        parts.append(f"{acc.name}: compared with {nearest[0]}")
    else:
        parts.append(f"{acc.name} runs int8 only (preset dtypes: {', '.join(acc.dtypes)}): no "
                     f"float run to compare, int8 {_fmt(ra.latency_s, 's')} / {_fmt(ra.energy_j, 'J')} "
                     "for tiny_yolov2")
    factor_ok = all(abs(f.value - 4.0) < 1e-9 for f in figs if f.key.endswith("size_factor"))
    return Claim(
        name="quantization",
        title="Quantization: int8 vs fp32 on the DSP and the accelerator",
        source="general claim of the issue (int8 weights are a quarter of fp32); no paper figure "
               "for latency or energy",
        paper="4x smaller model; latency and energy: no published figure",
        ours="; ".join(parts),
        verdict="agrees" if factor_ok else "disagrees",
        config="batch 1 at 224 (tiny_yolov2 at 416), fused mode (a compiled QNN graph / descriptor "
               "chain), analytical engine; model size = distinct weight tensors (parameters and "
               "BN buffers) x bytes per element",
        assumptions="int8 stores no per-channel scales or int32 biases here (real int8 models are "
                    "slightly above 1/4 of fp32); the accelerator preset has no fp32 or fp16 rate, "
                    "so its row is int8 only",
        gap="" if factor_ok else "weight bytes no longer scale 4:1 (integer buffers?)",
        figures=tuple(figs),
        detail=tuple(rows),
    )


CLAIMS: Mapping[str, Callable[[Session], Claim]] = {
    "nl_block_macs": claim_nl_block_macs,
    "nl_c2d_r101": claim_nl_c2d_r101,
    "nl_one_block_overhead": claim_nl_one_block_overhead,
    "lightnl_ratio": claim_lightnl_ratio,
    "autonl_size": claim_autonl_size,
    "nl_family_res4": claim_nl_family_res4,
    "condensation_bandwidth": claim_condensation_bandwidth,
    "condensation_onchip": claim_condensation_onchip,
    "inceptionnext_throughput": claim_inceptionnext_throughput,
    "convnext_kernel_trend": claim_convnext_kernel_trend,
    "large_kernel_roofline": claim_large_kernel_roofline,
    "replknet_kernel_sizes": claim_replknet_kernel_sizes,
    "e2gc_energy": claim_e2gc_energy,
    "quantization": claim_quantization,
}


# --------------------------------------------------------------------------------- driver


def check_names(names) -> list[str]:
    """The claim names to run, in registry order; CodesignError naming an unknown one."""
    if not names:
        return list(CLAIMS)
    for n in names:
        if n not in CLAIMS:
            raise CodesignError(f"unknown claim {n!r}{did_you_mean(n, CLAIMS)}; known: {', '.join(CLAIMS)}")
    return [n for n in CLAIMS if n in set(names)]


def run_claims(names=None, session: Session | None = None) -> list[Claim]:
    """Compute the claims ``names`` (all when None) without writing anything."""
    chosen = check_names(names)
    s = session or Session()
    out = []
    for i, n in enumerate(chosen, 1):
        s.progress(f"[{i}/{len(chosen)}] {n}")
        claim = CLAIMS[n](s)
        assert claim.verdict in VERDICTS and all(f.kind in FIGURE_KINDS for f in claim.figures)
        out.append(claim)
    return out


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(claims: list[Claim]) -> str:
    from codesign import __version__

    lines = [
        "# Reproductions of published claims",
        "",
        f"Generated by `codesign reproduce` (codesign {__version__}). Every figure under 'ours' is "
        "computed from the workload zoo and the hardware presets; the papers' figures and their "
        "sources are quoted from `shared/reference/papers.md`. Cost models are analytical and "
        "their efficiencies are uncalibrated assumptions (see each preset's `notes`), so "
        "simulated figures are estimates, not measurements.",
        "",
        "| claim | paper | ours | verdict |",
        "|---|---|---|---|",
    ]
    for c in claims:
        lines.append(f"| [{_md_escape(c.title)}](#{c.name}) | {_md_escape(c.paper)} | "
                     f"{_md_escape(c.ours)} | {c.verdict} |")
    for c in claims:
        lines += ["", f"## {c.title}", f'<a id="{c.name}"></a>', "",
                  f"- **Name:** `{c.name}` (`codesign reproduce {c.name}`)",
                  f"- **Source:** {c.source}",
                  f"- **Paper:** {c.paper}",
                  f"- **Ours:** {c.ours}",
                  f"- **Verdict:** {c.verdict}",
                  f"- **Configuration:** {c.config}",
                  f"- **Assumptions:** {c.assumptions}"]
        if c.gap:
            lines.append(f"- **Why we differ:** {c.gap}")
        if c.detail:
            head, *body = c.detail
            lines += ["", "| " + " | ".join(map(_md_escape, head)) + " |",
                      "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(map(_md_escape, r)) + " |" for r in body]
        lines += ["", "<details><summary>pinned figures</summary>", "",
                  "| figure | value | kind | what |", "|---|---|---|---|"]
        lines += [f"| `{f.key}` | {_fmt(f.value, f.unit)} | {f.kind} | {_md_escape(f.label)} |"
                  for f in c.figures]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write_report(claims: list[Claim], out: str | Path) -> tuple[Path, Path]:
    """Write ``out`` (Markdown) and the same path with ``.json``; returns both paths."""
    md = Path(out)
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(render_markdown(claims))
    js = md.with_suffix(".json")
    js.write_text(json.dumps({"claims": [c.to_dict() for c in claims]}, indent=1, default=float) + "\n")
    return md, js


def reproduce(names=None, out: str | Path | None = None,
              progress: Callable[[str], None] | None = None) -> list[Claim]:
    """Compute the claims ``names`` (all when None), write ``out`` (Markdown) and the JSON
    beside it (nothing is written when ``out`` is None, the default; the CLI writes
    ``reports/reproduce/reproductions.md``), and return the claims."""
    chosen = check_names(names)
    if out is not None:
        from codesign.results.paths import check_output_file

        check_output_file(out)
    claims = run_claims(chosen, Session(progress))
    if out is not None:
        write_report(claims, out)
    return claims


