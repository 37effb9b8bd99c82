"""GPU model vs timm's published RTX 3090 benchmark (AMP fp16; issue 16).

    python benchmarks/gpu_timm_fidelity.py trace [--limit N]   # fill the graph cache (all 4 sets)
    python benchmarks/gpu_timm_fidelity.py eval [--hw rtx3090]  # metrics, before / after
    python benchmarks/gpu_timm_fidelity.py fit [--all] [--out f.yaml]  # efficiencies, held-out
    python benchmarks/gpu_timm_fidelity.py shares  # error by op class (dense BN convnets)
    python benchmarks/gpu_timm_fidelity.py compare old.csv new.csv  # two eval --out, same rows
    python benchmarks/gpu_timm_fidelity.py zero-grad  # PyTorch 1.x optimizer loop, us / kernel

Rows: ``shared/data/published/timm/*.csv`` (timm ``benchmark.py --amp``: one model at a time,
``torch.autocast("cuda", float16)``, eval + no_grad for inference; training = forward, loss,
backward and an SGD step). Models: a fixed representative subset (``subset()``, a few per
family, no choice by error). Each model is traced with ``timm.create_model(name,
pretrained=False)`` at the row's batch and image size:

* ``fp32``  plain trace (every tensor float32) -- what "before" simulates as ``dtype="fp16"``
  (all floats costed at 2 bytes, conv/linear weight casts added by the cost model);
* ``amp``   ``trace(..., autocast="fp16")`` -- tensors carry autocast's dtypes and its casts are
  ops; simulated with ``dtype="amp"``; the NHWC datasets' rows with ``channels_last=True``
  (their own graphs: model and input channels-last, as ``benchmark.py --channels-last``).

Graphs are pickled under ``$CODESIGN_GPU_CACHE`` (default ``reports/cache/gpu``, git-ignored) keyed by
model, shape, phase and trace kind. Metrics per dataset (NCHW / NHWC inference, NCHW training):
MAPE, median APE, share within 10 %, mean signed error (bias, + = simulated too fast), Spearman
of throughputs, for the model before, after, and a plain roofline on the same preset; and the
same after-figures on the families of the held-out half (families sorted by name, every other
one held out: nothing in the model is fitted to either half, so both halves are out-of-sample
for per-row tuning; the split shows whether a family-level error hides in the mean).
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CODESIGN_PUBLISHED_DIR", ROOT / "codesign" / "published" / "data" / "timm"))
CACHE = Path(os.environ.get("CODESIGN_GPU_CACHE", ROOT / "reports" / "cache" / "gpu"))
FILES = {
    "infer-nchw": "benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv",
    "infer-nhwc": "benchmark-infer-amp-nhwc-pt240-cu124-rtx3090.csv",
    "train-nchw": "benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv",
    "train-nhwc": "benchmark-train-amp-nhwc-pt112-cu113-rtx3090.csv",
}
PER_FAMILY = 1
#: models the issue names, always in the subset (when present in the data)
ANCHORS = ("resnet50", "resnet18", "convnext_tiny", "convnextv2_tiny", "mobilenetv2_100",
           "mobilenetv3_large_100", "efficientnet_b0", "vit_base_patch16_224",
           "swin_tiny_patch4_window7_224", "poolformer_s12", "convformer_s18",
           "regnety_040", "deit_small_patch16_224")

#: ``--models grouped``: train-file models with grouped convs outside the subset (RegNetX/Y,
#: ResNeXt incl. the 32x16d-48d ones, ResNeSt, NFNet, RepVGG-g4, SENet-154, Res2NeXt, DLA-X,
#: the ``*26ts`` ones): an out-of-sample check of the channels-last grouped-conv class
GROUPED_CHECK = (
    "dla60_res2next", "dla60x", "dm_nfnet_f0", "eca_resnext26ts", "gluon_senet154",
    "ig_resnext101_32x16d", "ig_resnext101_32x32d", "ig_resnext101_32x48d", "nfnet_f0",
    "regnetx_008", "regnetx_016", "regnetx_032", "regnetx_064", "regnetx_080", "regnetx_120",
    "regnetx_160", "regnety_008", "regnety_016", "regnety_032", "regnety_064", "regnety_120",
    "regnety_160", "repvgg_b1g4", "res2next50", "resnest14d", "resnest26d", "resnest50d",
    "resnext101_32x8d", "resnext101_64x4d", "resnext50_32x4d", "seresnext101_32x8d",
    "seresnext26ts", "seresnext50_32x4d",
)
MODEL_SETS = {"grouped": GROUPED_CHECK}
#: ``--models outside``: OUTSIDE_SIZE models drawn (seed OUTSIDE_SEED) from the train files'
#: models in both layouts that are neither in the subset nor in GROUPED_CHECK
OUTSIDE_SIZE, OUTSIDE_SEED = 150, 16


def outside_models() -> list[str]:
    """The ``outside`` set (see :data:`OUTSIDE_SIZE`): an out-of-sample check of the whole
    model, on models the subset's fits never saw."""
    import random

    both = set(load("train-nchw")["model"]) & set(load("train-nhwc")["model"])
    pool = sorted(both - set(subset()) - set(GROUPED_CHECK))
    return random.Random(OUTSIDE_SEED).sample(pool, OUTSIDE_SIZE)


def expand_models(names) -> list[str]:
    """Model names with the named sets (``grouped``, ``outside``) expanded."""
    out = []
    for name in names:
        out.extend(outside_models() if name == "outside" else MODEL_SETS.get(name, (name,)))
    return out


def family(name: str) -> str:
    """Model family from a timm name: leading letters (+ a 'vN' generation), prefixes such as
    tf_ / legacy_ dropped (``tf_efficientnet_b0`` -> efficientnet, ``convnextv2_nano`` ->
    convnextv2)."""
    base = re.sub(r"^(tf_|legacy_)", "", name.split(".")[0])
    m = re.match(r"[a-z]+(?:(?<=v)\d)?", base)
    return m.group(0) if m else base


def load(kind: str):
    import pandas as pd

    df = pd.read_csv(DATA / FILES[kind])
    if kind.startswith("infer"):
        df = df.rename(columns={"infer_img_size": "img", "infer_batch_size": "batch",
                                "infer_samples_per_sec": "measured"})
    else:
        df = df.rename(columns={"train_img_size": "img", "train_batch_size": "batch",
                                "train_samples_per_sec": "measured"})
    df["family"] = df["model"].map(family)
    return df[["model", "img", "batch", "measured", "family"]]


def subset() -> list[str]:
    """Up to PER_FAMILY models per family present in both inference files and (where
    possible) the NCHW training file, spread over the family's sizes (smallest, middle,
    largest by published GMACs), test_* models excluded."""
    import pandas as pd

    inf = pd.read_csv(DATA / FILES["infer-nchw"])
    nhwc = set(pd.read_csv(DATA / FILES["infer-nhwc"])["model"])
    train = set(pd.read_csv(DATA / FILES["train-nchw"])["model"])
    inf = inf[inf["model"].isin(nhwc) & ~inf["model"].str.startswith("test_")]
    inf = inf[inf["infer_img_size"] <= 384]
    inf["family"] = inf["model"].map(family)
    inf["in_train"] = inf["model"].isin(train)
    out = [m for m in ANCHORS if m in set(inf["model"])]
    for _, grp in sorted(inf.groupby("family")):
        grp = grp.sort_values(["in_train", "infer_gmacs"], ascending=[False, True])
        pref = grp[grp["in_train"]] if grp["in_train"].any() else grp
        pref = pref.sort_values("infer_gmacs")
        idx = sorted({len(pref) // 2, 0, len(pref) - 1}, key=lambda i: (i != len(pref) // 2, i))
        out += list(pref.iloc[idx[:PER_FAMILY]]["model"])
    return list(dict.fromkeys(out))


def settings_of(ds: str, kind: str = "amp"):
    """The run settings of a dataset's rows (``codesign.validation.published.run_settings``,
    the same as ``codesign validate --published``): phase, layout, and the PyTorch version
    recorded in the file name, which selects the software profile (training loop, efficiency
    factors)."""
    from codesign.published.timm import read_timm
    from codesign.validation.published import run_settings

    version = str(read_timm(DATA / FILES[ds])["torch_version"].iloc[0])
    phase = "training" if ds.startswith("train") else "inference"
    return run_settings("amp" if kind == "amp" else "fp32", "pytorch", ds.split("-")[1], phase,
                        version)


def timm_era(ds: str) -> str:
    """The timm release a dataset's rows were measured with (``TIMM_ERA``; "" = current)."""
    from codesign.published.timm import TIMM_ERA

    m = re.search(r"-(pt\d+)-", FILES[ds])
    return TIMM_ERA.get(m.group(1), "") if m else ""


def cache_path(model: str, shape: tuple, settings, kind: str, era: str = "") -> Path:
    from codesign.published.timm import definition_change

    knobs = settings.cache_knobs() or {}
    knobs.pop("autocast", None)
    if kind != "amp":  # the plain trace of the code before this work: contiguous model, input
        knobs.pop("channels_last", None)
    change = definition_change(model, era)
    if change is not None:  # traced as measured: the model's definition of that timm release
        knobs["def"] = f"timm{era}"
    tag = "".join(f"-{k}={v}" for k, v in sorted(knobs.items()))
    return CACHE / f"{model}__{'x'.join(map(str, shape))}__{settings.trace_phase}__{kind}{tag}.pkl"


def get_graph(model: str, shape: tuple, settings, kind: str, build: bool = True,
              era: str = ""):
    """The cached graph, tracing it when missing (``build``); None when it fails/missing.
    ``kind`` "amp" traces with the row's settings (``RunSettings.trace_options``); "fp32" is
    the plain trace of the code before this work. ``era``: the timm release the row was
    measured with; a model whose definition changed since is rebuilt as it was
    (``codesign.published.timm.DEFINITION_CHANGES``)."""
    from codesign.capture.hub import REBUILDS, timm_architecture
    from codesign.published.timm import definition_change

    p = cache_path(model, shape, settings, kind, era)
    if p.exists():
        with p.open("rb") as f:
            g = pickle.load(f)
        return None if isinstance(g, str) else g
    if not build:
        return None
    import timm
    import torch

    from codesign.capture.tracer import trace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            change = definition_change(model, era)
            arch, fixed = timm_architecture(change.base if change and change.base else model)
            m = timm.create_model(arch, pretrained=False, **fixed)
            if change is not None:
                m = REBUILDS[change.rebuild](m)
            m.eval()
            kw = settings.trace_options()
            if kind != "amp":
                kw = {"phase": kw["phase"], "optimizer": kw.get("optimizer")}
            g = trace(m, shape, name=model, **kw)
        except Exception as exc:  # record the failure, do not retry every run
            g = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            torch.set_num_threads(1)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    with tmp.open("wb") as f:
        pickle.dump(g, f)
    tmp.replace(p)
    return None if isinstance(g, str) else g


def cmd_trace(args) -> int:
    import torch

    torch.set_num_threads(1)
    models = args.models or subset()[: args.limit or None]
    jobs = []
    for kind_ds in args.datasets:
        df = load(kind_ds)
        df = df[df["model"].isin(models)]
        for r in df.itertuples():
            for kind in args.kinds:
                jobs.append((r.model, (int(r.batch), 3, int(r.img), int(r.img)),
                             settings_of(kind_ds, kind), kind, timm_era(kind_ds)))
    jobs = list(dict.fromkeys(jobs))
    print(f"{len(models)} models, {len(jobs)} traces", flush=True)
    for i, (model, shape, st, kind, era) in enumerate(jobs):
        t0 = time.time()
        g = get_graph(model, shape, st, kind, era=era)
        print(f"[{i + 1}/{len(jobs)}] {model} {shape} {st.trace_phase} {kind}: "
              f"{'ok' if g is not None else 'FAILED'} {time.time() - t0:.1f}s", flush=True)
    return 0


def metrics(meas, sim) -> dict:
    import numpy as np
    from scipy.stats import spearmanr

    meas, sim = np.asarray(meas, float), np.asarray(sim, float)
    err = (sim - meas) / meas
    ape = np.abs(err)
    return {"n": len(meas), "mape": 100 * ape.mean(), "medape": 100 * np.median(ape),
            "within10": 100 * (ape <= 0.10).mean(), "bias": 100 * err.mean(),
            "spearman": spearmanr(meas, sim).statistic if len(meas) > 2 else float("nan")}


def roofline_throughput(g, hw, batch: int) -> float:
    """Plain roofline on the same preset: the sum over ops of max(MACs at peak, compulsory bytes
    at peak bandwidth) (``codesign.cost.roofline.roofline_floor``), fp16, no overheads."""
    from codesign.cost.base import CostContext
    from codesign.cost.roofline import roofline_floor

    ctx = CostContext(dtype="fp16", mode="fused", layout="nhwc")
    return batch / sum(float(roofline_floor(op, hw, ctx)) for op in g.ops if op.supported)


def cmd_eval(args) -> int:
    import numpy as np
    import pandas as pd

    from codesign.hardware import load_hardware
    from codesign.simulation import simulate

    from codesign.cost.base import DTYPES

    has_amp = "amp" in DTYPES   # False when run on the code before this work (PYTHONPATH)
    hw = load_hardware(args.hw)
    models = set(subset())
    fams = sorted({family(m) for m in models})
    held = set(fams[1::2])
    if args.models:  # these models instead (split: the subset's families, new ones held out)
        held |= {family(m) for m in args.models} - set(fams)
        models = set(args.models)
    rows = []
    for ds in args.datasets:
        df = load(ds)
        df = df[df["model"].isin(models)]
        layout = ds.split("-")[1]
        st, st32 = settings_of(ds, "amp"), settings_of(ds, "fp32")
        era = timm_era(ds)
        # the row's software profile (PyTorch version), unless asked to leave it out
        hw_row = hw if args.no_software else st.hardware(hw)
        for r in df.itertuples():
            shape = (int(r.batch), 3, int(r.img), int(r.img))
            g32 = get_graph(r.model, shape, st32, "fp32", build=False, era=era)
            gamp = (get_graph(r.model, shape, st, "amp", build=False, era=era) if has_amp
                    else None)
            if g32 is None and gamp is None:
                continue
            rec = {"dataset": ds, "model": r.model, "family": r.family, "measured": r.measured,
                   "held_out": r.family in held}
            if g32 is not None:
                rec["before"] = r.batch / float(simulate(g32, hw, dtype="fp16", mode="eager",
                                                         layout=layout).latency_s)
            if g32 is not None or gamp is not None:  # the roofline counts MACs and bytes
                rec["roofline"] = roofline_throughput(g32 if g32 is not None else gamp, hw,
                                                      r.batch)
            if gamp is not None:
                t0 = time.perf_counter()
                rec["after"] = r.batch / float(simulate(gamp, hw_row, dtype="amp", mode="eager",
                                                        layout=layout).latency_s)
                rec["sim_ms"] = 1e3 * (time.perf_counter() - t0)
            rows.append(rec)
    res = pd.DataFrame(rows)
    if args.before_csv:  # "before" from a run of the old code: python ... eval --out before.csv
        old = pd.read_csv(args.before_csv)[["dataset", "model", "measured", "before"]]
        res = res.drop(columns=["before"], errors="ignore").merge(
            old, on=["dataset", "model", "measured"], how="left")
    if args.out:
        res.to_csv(args.out, index=False)
    print(f"hardware {hw.name}; {res['model'].nunique()} models; held-out families: "
          f"{len(held)} of {len(fams)}")
    hdr = (f"{'dataset':11s} {'model':9s} {'rows':>4s} {'MAPE':>6s} {'medAPE':>6s} {'<=10%':>6s} "
           f"{'bias':>6s} {'rho':>5s}")
    print(hdr)
    for ds, grp in res.groupby("dataset", sort=False):
        for col in ("roofline", "before", "after"):
            if col not in grp:
                continue
            sub = grp.dropna(subset=[col])
            m = metrics(sub["measured"], sub[col])
            print(f"{ds:11s} {col:9s} {m['n']:4d} {m['mape']:6.1f} {m['medape']:6.1f} "
                  f"{m['within10']:6.1f} {m['bias']:+6.1f} {m['spearman']:5.2f}")
        if "after" in grp:
            for flag, lab in ((False, "after/fit"), (True, "after/held")):
                sub = grp[grp["held_out"] == flag].dropna(subset=["after"])
                if len(sub) > 2:
                    m = metrics(sub["measured"], sub["after"])
                    print(f"{ds:11s} {lab:9s} {m['n']:4d} {m['mape']:6.1f} {m['medape']:6.1f} "
                          f"{m['within10']:6.1f} {m['bias']:+6.1f} {m['spearman']:5.2f}")
    if "after" in res:
        res["err_after"] = 100 * (res["after"] - res["measured"]) / res["measured"]
        if args.families:
            fam = res.groupby(["dataset", "family"])["err_after"].mean().unstack(0).round(1)
            print(fam.to_string())
        if args.rows:
            cols = ["dataset", "model", "held_out", "measured", "after", "err_after"]
            print(res[cols].round(1).to_string(index=False))
        if "sim_ms" in res:
            print(f"simulate time per model: median {np.median(res['sim_ms']):.1f} ms, "
                  f"max {res['sim_ms'].max():.1f} ms")
    return 0


#: share classes of ``shares``: a dense conv, batch norm (forward and backward), the
#: bandwidth-bound rest; everything else (depthwise / grouped convs, matmuls, other norms) "rest"
SHARE_CLASSES = ("conv", "batch_norm", "elementwise", "rest")


def share_class(op) -> str:
    from codesign.ir.graph import ConvAttrs, ConvVariant, OpKind

    if op.kind is OpKind.CONV:
        a = op.attrs
        dense = isinstance(a, ConvAttrs) and a.variant not in (ConvVariant.DEPTHWISE,
                                                                 ConvVariant.GROUPED)
        return "conv" if dense else "rest"
    if op.kind is OpKind.NORM:
        return "batch_norm" if "batch_norm" in op.aten else "rest"
    if op.kind in (OpKind.MATMUL, OpKind.ATTENTION):
        return "rest"
    return "elementwise"


#: kernel classes of ``shares --kernels`` (every model of the chosen half): cuDNN convs, cuBLAS
#: matmuls, batch norm, the other bandwidth-bound kernels on 4-D (and 5-D) tensors and on
#: lower-rank ones ([B, N, C] layer norm, GELU, softmax, copies); the optimizer step "rest"
KERNEL_CLASSES = ("conv", "matmul", "batch_norm", "bandwidth_4d", "bandwidth_lowrank", "rest")


def kernel_class(op) -> str:
    from codesign.ir.graph import OpKind, Phase

    if op.phase is Phase.OPTIMIZER:
        return "rest"
    if op.kind is OpKind.CONV:
        return "conv"
    if op.kind in (OpKind.MATMUL, OpKind.ATTENTION):
        return "matmul"
    if op.kind is OpKind.NORM and "batch_norm" in op.aten:
        return "batch_norm"
    rank = max((len(t.shape) for t in op.outputs or op.inputs), default=0)
    return "bandwidth_4d" if rank >= 4 else "bandwidth_lowrank"


def _kernel_shares(args, hw) -> int:
    """``shares --kernels``: every model of one half of the families (``--half``), busy time
    (max of compute and memory per op) by ``KERNEL_CLASSES``; with ``--no-memory-factor`` the
    rows' software profile without its ``memory`` factors, so a class's coefficient is the
    factor its time needs under that release (1 = right, 1 / 0.741 = 1.35 = the factor)."""
    import dataclasses

    import numpy as np

    import codesign.cost.gpu  # noqa: F401  (registers the GPU cost functions)
    from codesign.simulation import make_context, simulate

    models = set(subset())
    fams = sorted({family(m) for m in models})
    held = set(fams[1::2])
    for ds in args.datasets:
        df = load(ds)
        df = df[df["model"].isin(models)]
        if args.half != "all":
            df = df[df["family"].isin(held) == (args.half == "held")]
        layout = ds.split("-")[1]
        st = settings_of(ds, "amp")
        prof = st.profile
        if args.no_memory_factor:
            prof = dataclasses.replace(prof, efficiency_scale={
                k: v for k, v in prof.efficiency_scale.items() if not k.startswith("memory")})
        hw_row = prof.apply(hw)
        ctx = make_context(hw_row, "amp", "eager", layout)
        xs, ys = [], []
        for r, g, est in _row_costs(df, ds, st, hw_row, ctx):
            share = dict.fromkeys(KERNEL_CLASSES, 0.0)
            for op, c in zip(g.ops, est.costs):
                if c is not None:
                    share[kernel_class(op)] += max(float(c.compute_s), float(c.memory_s))
            total = sum(share.values())
            sim = r.batch / float(simulate(g, hw_row, dtype="amp", mode="eager",
                                           layout=layout).latency_s)
            xs.append([share[k] / total for k in KERNEL_CLASSES])
            ys.append(sim / r.measured)
        x, y = np.array(xs), np.array(ys)
        fit = lambda i: np.linalg.lstsq(x[i, :-1], y[i] - x[i, -1], rcond=None)[0]  # noqa: E731
        coef = fit(np.arange(len(y)))
        rng = np.random.default_rng(0)   # bootstrap over rows: the spread of each coefficient
        boot = np.std([fit(rng.integers(0, len(y), len(y))) for _ in range(500)], axis=0)
        print(f"{ds} ({args.half} half{', no memory factor' if args.no_memory_factor else ''}):"
              f" {len(y)} rows, mean measured/simulated time {y.mean():.3f}; factors "
              + ", ".join(f"{k} {v:.2f}+-{b:.2f}" for k, v, b in zip(KERNEL_CLASSES, coef, boot))
              + "; mean shares " + ", ".join(f"{k} {v:.2f}" for k, v in
                                            zip(KERNEL_CLASSES, x.mean(axis=0))))
    return 0


def _row_costs(df, ds: str, st, hw_row, ctx):
    """(row, graph, per-op costs without the launch queue) of each row of ``df`` whose graph
    is cached."""
    from codesign.simulation import estimate_costs

    for r in df.itertuples():
        g = get_graph(r.model, (int(r.batch), 3, int(r.img), int(r.img)), st, "amp",
                      build=False, era=timm_era(ds))
        if g is not None:
            yield r, g, estimate_costs(g, hw_row, ctx, launch_queue=False)


def _copy_shares(args, hw) -> int:
    """``shares --copies``: per dataset, the mean share of the simulated time (busy time of
    every op, no launch queue) spent in layout copies: the NCHW -> channels-last conversions
    convs make of their inputs (``conv_layout_copies``; forward and backward) and the copy
    ops the trace holds (``clone``: reshapes that cannot be views, ``.contiguous()``), and the
    ``--top`` rows with the largest share."""
    import numpy as np

    import codesign.cost.gpu  # noqa: F401  (registers the GPU cost functions)
    from codesign.cost.gpu import conv_layout_copy_bytes, memory_time_s
    from codesign.ir.graph import OpKind
    from codesign.simulation import make_context

    models = set(subset())
    for ds in args.datasets:
        df = load(ds)
        df = df[df["model"].isin(models)]
        st = settings_of(ds, "amp")
        hw_row = st.hardware(hw)
        ctx = make_context(hw_row, "amp", "eager", ds.split("-")[1])
        rows = []
        for r, g, est in _row_costs(df, ds, st, hw_row, ctx):
            total, conv_f, conv_b, clone = 0.0, 0.0, 0.0, 0.0
            for op, c in zip(g.ops, est.costs):
                if c is None:
                    continue
                total += max(float(c.compute_s), float(c.memory_s))
                if op.kind is OpKind.CONV:
                    moved = conv_layout_copy_bytes(op, ctx)
                    t = float(memory_time_s(2.0 * moved, 2.0 * moved, hw_row)) if moved else 0.0
                    if op.is_backward_kernel:
                        conv_b += t
                    else:
                        conv_f += t
                elif op.aten.startswith("aten::clone"):
                    clone += max(float(c.compute_s), float(c.memory_s))
            rows.append((r.model, *(100 * v / total for v in (conv_f, conv_b, clone))))
        if not rows:
            continue
        a = np.array([x[1:] for x in rows])
        print(f"{ds}: {len(rows)} rows ({'channels-last' if g.channels_last else 'NCHW'} "
              f"graphs); mean share of conv input conversions: forward {a[:, 0].mean():.2f}%, "
              f"backward {a[:, 1].mean():.2f}%; traced clone ops {a[:, 2].mean():.2f}%")
        for x in sorted(rows, key=lambda x: -sum(x[1:]))[:args.top]:
            print(f"  {x[0]:30s} conversions {x[1]:.1f}% + {x[2]:.1f}%, clone {x[3]:.1f}%")
    return 0


def cmd_shares(args) -> int:
    """Which op class a layout's error sits in: over the dense BatchNorm convnets of each
    dataset (no grouped / depthwise convs above ``--max-other`` of the simulated time, dense
    convs above 30%, no InPlace-ABN), least squares of measured / simulated time (= 1 + the
    throughput error) on the simulated time shares of dense convs, batch norm and the
    bandwidth-bound rest (the small "rest" share taken as right); a class's coefficient is the
    factor its simulated time would need (1 = right)."""
    import numpy as np

    import codesign.cost.gpu  # noqa: F401  (registers the GPU cost functions)
    from codesign.cost.gpu import CHANNEL_BLOCK_NORMS
    from codesign.hardware import load_hardware
    from codesign.simulation import estimate_costs, make_context, simulate

    hw = load_hardware(args.hw)
    if args.kernels:
        return _kernel_shares(args, hw)
    if args.copies:
        return _copy_shares(args, hw)
    models = set(subset())
    for ds in args.datasets:
        df = load(ds)
        df = df[df["model"].isin(models)]
        layout = ds.split("-")[1]
        st = settings_of(ds, "amp")
        hw_row = st.hardware(hw)
        ctx = make_context(hw_row, "amp", "eager", layout)
        xs, ys, names = [], [], []
        for r in df.itertuples():
            g = get_graph(r.model, (int(r.batch), 3, int(r.img), int(r.img)), st, "amp",
                          build=False, era=timm_era(ds))
            if g is None or any(op.module_type in CHANNEL_BLOCK_NORMS for op in g.ops):
                continue
            est = estimate_costs(g, hw_row, ctx, launch_queue=False)
            share = dict.fromkeys(SHARE_CLASSES, 0.0)
            for op, c in zip(g.ops, est.costs):
                if c is not None:
                    share[share_class(op)] += float(c.latency_s)
            total = sum(share.values())
            share = {k: v / total for k, v in share.items()}
            if share["rest"] > args.max_other or share["conv"] < 0.3:
                continue
            sim = r.batch / float(simulate(g, hw_row, dtype="amp", mode="eager",
                                           layout=layout).latency_s)
            xs.append([share[k] for k in SHARE_CLASSES])
            ys.append(sim / r.measured)
            names.append(r.model)
        x, y = np.array(xs), np.array(ys)
        # the small "rest" share is taken as right (factor 1), the other three fitted
        coef = np.linalg.lstsq(x[:, :-1], y - x[:, -1], rcond=None)[0]
        print(f"{ds}: {len(y)} rows, mean measured/simulated time {y.mean():.3f}; factors "
              + ", ".join(f"{k} {v:.2f}" for k, v in zip(SHARE_CLASSES, coef))
              + "; mean shares " + ", ".join(f"{k} {v:.2f}" for k, v in
                                            zip(SHARE_CLASSES, x.mean(axis=0))))
    return 0



def cmd_zero_grad(args) -> int:
    """``zero-grad``: the host time of PyTorch 1.x's per-parameter optimizer loop, measured by
    the train rows themselves. timm's benchmark.py reports ``samples_per_sec`` over the whole
    loop and ``step_time`` from after ``optimizer.zero_grad()``: batch / samples_per_sec -
    step_time is zero_grad's time, regressed on the zero fills of the traced step (one per
    parameter tensor; ``codesign.hardware.software.PYTORCH_1.optimizer_overhead_s``)."""
    import numpy as np
    import pandas as pd

    out = []
    models = set(args.models or subset())
    for ds in args.datasets:
        raw = pd.read_csv(DATA / FILES[ds])
        st, era = settings_of(ds, "amp"), timm_era(ds)
        for r in raw[raw["model"].isin(models)].itertuples():
            b, img = int(r.train_batch_size), int(r.train_img_size)
            g = get_graph(r.model, (b, 3, img, img), st, "amp", build=False, era=era)
            if g is None:
                continue
            fills = sum(op.module_type == "zero_grad" for op in g.ops)
            if fills:
                gap = 1e3 * b / r.train_samples_per_sec - r.train_step_time
                out.append((ds, r.model, fills, gap))
    df = pd.DataFrame(out, columns=["dataset", "model", "fills", "gap_ms"])
    slope, icpt = np.polyfit(df["fills"], df["gap_ms"], 1)
    per = 1e3 * df["gap_ms"] / df["fills"]
    print(f"{len(df)} rows: zero_grad = {icpt:.3f} ms + {1e3 * slope:.2f} us per parameter "
          f"tensor (least squares); per tensor median {per.median():.2f} us, "
          f"5-95% {per.quantile(0.05):.2f}-{per.quantile(0.95):.2f} us")
    return 0


def cmd_compare(args) -> int:
    """Two ``eval --out`` tables (e.g. main and a branch) on the rows both scored: MAPE and
    share within 10% of "after" per dataset and half, rows only one has, and the rows that
    moved most (``--top``) or match ``--match`` (a regular expression on the model name)."""
    import pandas as pd

    key = ["dataset", "model", "measured"]
    old, new = pd.read_csv(args.old), pd.read_csv(args.new)
    both = old[key + ["held_out", "after"]].merge(new[key + ["after"]], on=key,
                                                  suffixes=("_old", "_new")).dropna()
    for col in ("old", "new"):
        both[f"err_{col}"] = 100 * (both[f"after_{col}"] - both["measured"]) / both["measured"]
    print(f"{'dataset':11s} {'half':5s} {'rows':>4s} {'MAPE old':>8s} {'new':>6s} "
          f"{'<=10% old':>9s} {'new':>6s}")
    for ds, grp in both.groupby("dataset", sort=False):
        for lab, sub in (("all", grp), ("fit", grp[~grp["held_out"]]),
                         ("held", grp[grp["held_out"]])):
            eo, en = sub["err_old"].abs(), sub["err_new"].abs()
            print(f"{ds:11s} {lab:5s} {len(sub):4d} {eo.mean():8.1f} {en.mean():6.1f} "
                  f"{100 * (eo <= 10).mean():9.1f} {100 * (en <= 10).mean():6.1f}")
    for name, a, b in (("old", old, new), ("new", new, old)):
        only = a.dropna(subset=["after"]).merge(b.dropna(subset=["after"])[key], on=key,
                                                how="left", indicator=True)
        only = only[only["_merge"] == "left_only"]
        if len(only):
            print(f"rows only in {name}: " + ", ".join(
                f"{r.dataset}/{r.model}" for r in only.itertuples()))
    both["move"] = both["err_new"] - both["err_old"]
    sel = (both[both["model"].str.contains(args.match)] if args.match
           else both.reindex(both["move"].abs().sort_values(ascending=False).index).head(args.top))
    cols = ["dataset", "model", "held_out", "measured", "err_old", "err_new"]
    print(sel[cols].round(1).to_string(index=False))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("trace")
    t.add_argument("--limit", type=int, default=0)
    t.add_argument("--datasets", nargs="+", default=list(FILES),
                   help="NHWC datasets get their own channels-last graphs")
    t.add_argument("--kinds", nargs="+", default=["amp", "fp32"])
    t.add_argument("--models", nargs="+", default=[], help="these models, not the subset "
                   "(or a named set: grouped, outside)")
    e = sub.add_parser("eval")
    e.add_argument("--hw", default="rtx3090")
    e.add_argument("--datasets", nargs="+", default=["infer-nchw", "infer-nhwc", "train-nchw"])
    e.add_argument("--out", default="")
    e.add_argument("--families", action="store_true")
    e.add_argument("--models", nargs="+", default=[], help="these models, not the subset "
                   "(e.g. rows outside it; families not in the subset count as held out; or a "
                   "named set: grouped, outside)")
    e.add_argument("--rows", action="store_true", help="print every row's error")
    e.add_argument("--no-software", action="store_true", help="simulate without the rows' "
                   "software profile efficiency factors (the traced loop stays)")
    e.add_argument("--before-csv", default="", help="take 'before' from this eval output of "
                   "the code before this work (run with PYTHONPATH pointing at it)")
    f = sub.add_parser("fit")
    f.add_argument("--hw", default="rtx3090")
    f.add_argument("--datasets", nargs="+", default=["infer-nchw", "infer-nhwc", "train-nchw"])
    f.add_argument("--iters", type=int, default=20)
    f.add_argument("--all", action="store_true", help="fit on every family (no held-out half)")
    f.add_argument("--out", default="")
    f.add_argument("--fit-dispatch", action="store_true")
    f.add_argument("--keys", nargs="+", default=[], choices=FIT_KEYS + ("none",),
                   help="fit only these efficiency keys (the others stay at the preset's); "
                   "'none' with --fit-dispatch: the host dispatch alone")
    f.add_argument("--models", nargs="+", default=[], help="fit on these models' rows, not "
                   "the subset's (or a named set: grouped, outside)")
    f.add_argument("--method", choices=("powell", "nelder-mead"), default="powell",
                   help="optimizer (Nelder-Mead for a few keys whose loss is flat past the 1.0 "
                   "clip, where Powell's line searches stall)")
    f.add_argument("--software", action="store_true", help="fit a software profile: the rows' "
                   "profile factors are not applied, the printed scales are the new factors")
    sh = sub.add_parser("shares", help="error by op class: measured / simulated time "
                        "regressed on the simulated time shares (dense BatchNorm convnets)")
    sh.add_argument("--hw", default="rtx3090")
    sh.add_argument("--datasets", nargs="+", default=["train-nchw", "train-nhwc"])
    sh.add_argument("--max-other", type=float, default=0.01,
                    help="largest share of the 'rest' class (grouped/depthwise convs, ...)")
    sh.add_argument("--kernels", action="store_true", help="every model of --half, by kernel "
                    "class (cuDNN conv, cuBLAS matmul, batch norm, bandwidth-bound 4-D / lower "
                    "rank; the optimizer step taken as right)")
    sh.add_argument("--half", choices=("fit", "held", "all"), default="fit")
    sh.add_argument("--copies", action="store_true", help="share of layout copies (conv input "
                    "conversions, traced clone ops) per dataset, every model")
    sh.add_argument("--top", type=int, default=10, help="--copies: rows with the largest share")
    sh.add_argument("--no-memory-factor", action="store_true", help="the rows' software "
                    "profile without its memory factors (which classes need one)")
    z = sub.add_parser("zero-grad", help="PyTorch 1.x optimizer-loop host time per kernel: "
                       "batch / samples_per_sec - step_time (zero_grad) vs parameter tensors")
    z.add_argument("--datasets", nargs="+", default=["train-nchw", "train-nhwc"])
    z.add_argument("--models", nargs="+", default=[], help="these models, not the subset")
    c = sub.add_parser("compare", help="two eval --out tables on the rows both scored")
    c.add_argument("old")
    c.add_argument("new")
    c.add_argument("--top", type=int, default=20, help="rows that moved most")
    c.add_argument("--match", default="", help="these models instead (regular expression)")
    args = p.parse_args(argv)
    if getattr(args, "models", None):
        args.models = expand_models(args.models)
    return {"trace": cmd_trace, "eval": cmd_eval, "fit": cmd_fit, "shares": cmd_shares,
            "zero-grad": cmd_zero_grad, "compare": cmd_compare}[args.cmd](args)


# ----------------------------------------------------------------------------- fitting
#: efficiency keys fitted (Ampere generation values for the rtx3090 preset) and the dispatch
FIT_KEYS = ("conv.standard", "conv.pointwise", "conv.depthwise", "conv.depthwise_nchw",
            "conv.depthwise_wgrad", "conv.grouped", "conv.grouped_nhwc_wide",
            "conv.grouped_nchw_wide", "conv.large_kernel",
            "matmul", "attention",
            "memory", "vector", "norm", "softmax", "reduction", "pool", "memory.matmul")


def op_mem_key(op) -> str:
    """The efficiency key of an op's achieved DRAM bandwidth: cuBLAS matmuls have their own
    (``memory.matmul``, falling back to ``memory``; ``codesign.cost.gpu.matmul_cost``)."""
    from codesign.ir.graph import MatMulAttrs, OpKind

    return ("memory.matmul" if op.kind is OpKind.MATMUL and isinstance(op.attrs, MatMulAttrs)
            else "memory")


def op_eff_key(op, layout: str = "nchw") -> str:
    """The efficiency key that dominates an op's compute time (the fit's first-order model)."""
    from codesign.ir.graph import ConvAttrs, ConvVariant, OpKind

    k = op.kind
    if k is OpKind.CONV:
        if not isinstance(op.attrs, ConvAttrs):
            return "conv"
        if op.attrs.variant is ConvVariant.DEPTHWISE:
            if "backward" in op.aten:
                return "conv.depthwise_wgrad"
            return "conv.depthwise_nchw" if layout == "nchw" else "conv.depthwise"
        from codesign.cost.gpu import grouped_wide_key

        return grouped_wide_key(op.attrs, layout) or f"conv.{op.attrs.variant.value}"
    return {OpKind.MATMUL: "matmul", OpKind.ATTENTION: "attention", OpKind.SOFTMAX: "softmax",
            OpKind.NORM: "norm", OpKind.REDUCTION: "reduction", OpKind.POOL: "pool",
            OpKind.CROSS_CHANNEL_POOL: "pool", OpKind.DATA_MOVEMENT: "memory"}.get(k, "vector")


def features(g, hw, layout: str, profile=None):
    """Per-op (key index, compute at efficiency 1, memory at memory-efficiency 1, kernels,
    memory key index) from the cost functions at the preset: the fit rescales them (a
    first-order model of the efficiencies; the reported figures always come from the full
    simulation). ``profile``: the row's software profile; its optimizer loop's host time per
    kernel (``optimizer_overhead_s``) counts each optimizer-phase kernel as that fraction of
    the preset's dispatch."""
    import numpy as np

    import codesign.cost.gpu  # noqa: F401  (registers the GPU cost functions)
    from codesign.cost.registry import REGISTRY
    from codesign.ir.graph import Phase
    from codesign.simulation import make_context

    ctx = make_context(hw, "amp", "eager", layout)
    keys, c1, m1, k1, mk = [], [], [], [], []
    disp = hw.dispatch.eager_overhead_s
    for op in g.ops:
        fn = REGISTRY.lookup(op.kind, "gpu") if op.supported else None
        if fn is None:
            continue
        c = fn(op, hw, ctx)
        key = op_eff_key(op, layout)
        keys.append(FIT_KEYS.index(key) if key in FIT_KEYS else -1)
        c1.append(float(c.compute_s) * hw.eff(key))
        mem_key = op_mem_key(op)
        m1.append(float(c.memory_s) * hw.eff(mem_key))
        k = float(c.overhead_s) / disp
        loop = profile.optimizer_overhead_s if profile is not None else None
        if loop is not None and op.phase is Phase.OPTIMIZER:
            k *= loop / disp
        k1.append(k)
        mk.append(FIT_KEYS.index(mem_key))
    return (np.array(keys, dtype=int), np.array(c1), np.array(m1), np.array(k1),
            np.array(mk, dtype=int))


def fast_latency(feat, eff, dispatch: float) -> float:
    """End-to-end time with the launch queue: e_n = max_i (h_i + sum_{j>=i} busy_j)."""
    import numpy as np

    keys, c1, m1, k1, mk = feat
    e = np.where(keys >= 0, eff[np.maximum(keys, 0)], 1.0)
    busy = np.maximum(c1 / e, m1 / eff[mk])
    host = np.cumsum(k1 * dispatch)
    tail = np.cumsum(busy[::-1])[::-1]
    return float(np.max(host + tail)) if len(busy) else 0.0


def cmd_fit(args) -> int:
    import numpy as np
    from scipy.optimize import minimize

    from codesign.hardware import load_hardware

    hw = load_hardware(args.hw)
    models = set(subset())
    fams = sorted({family(m) for m in models})
    held = set(fams[1::2])
    if args.models:  # these models instead (split: the subset's families, new ones held out)
        held |= {family(m) for m in args.models} - set(fams)
        models = set(args.models)
    rows = []
    for ds in args.datasets:
        df = load(ds)
        df = df[df["model"].isin(models)]
        layout = ds.split("-")[1]
        st = settings_of(ds, "amp")
        for r in df.itertuples():
            g = get_graph(r.model, (int(r.batch), 3, int(r.img), int(r.img)), st, "amp",
                          build=False, era=timm_era(ds))
            if g is None:
                continue
            # the row's software profile scales the efficiencies being fitted (none with
            # --software: then the fitted values are the profile's)
            prof = {k: v for k, v in st.profile.efficiency_scale.items()
                    if not args.software or k not in args.keys}
            scale = np.array([prof.get(k, 1.0) for k in FIT_KEYS])
            rows.append((ds, r.model, r.family, float(r.batch) / r.measured,
                         (features(g, hw, layout, st.profile), scale)))
    print(f"{len(rows)} rows with features", flush=True)
    x_start = np.log([hw.eff(k) for k in FIT_KEYS] + [hw.dispatch.eager_overhead_s])
    # memory.matmul (a software profile's split of "memory") is fitted only when named
    free = [i for i, k in enumerate(FIT_KEYS)
            if k in args.keys or (not args.keys and k != "memory.matmul")] + [len(FIT_KEYS)]
    if args.keys == ["none"] and not args.fit_dispatch:
        print("--keys none fits nothing without --fit-dispatch", file=sys.stderr)
        return 2
    x0 = x_start[free]
    if args.software:  # start a profile's factors below the 1.0 clip, where the loss is flat
        x0[:-1] = np.minimum(x0[:-1], np.log(0.5))

    def unpack(xf):
        x = x_start.copy()
        x[free] = xf
        eff = np.clip(np.exp(x[:-1]), 0.02, 1.0)
        if not args.software and FIT_KEYS.index("memory.matmul") not in free:
            # the preset's matmul bandwidth is its "memory" (eff() falls back) unless fitted
            eff[FIT_KEYS.index("memory.matmul")] = eff[FIT_KEYS.index("memory")]
        # host dispatch is not fitted unless asked: it is a property of the host and framework
        # (hardware.md 1.3 cites 39-60 us); fitted freely it absorbs other errors
        disp = float(np.exp(x[-1])) if args.fit_dispatch else hw.dispatch.eager_overhead_s
        return eff, disp

    def loss(x, sel):
        eff, disp = unpack(x)
        err = [np.log(fast_latency(f, np.minimum(1.0, eff * sc), disp) / t)
               for (_, _, fam, t, (f, sc)) in rows if sel(fam)]
        return float(np.mean(np.abs(err)))

    def report(x, label):
        out = []
        for ds in args.datasets:
            for lab, sel in (("fit", lambda f: f not in held), ("held", lambda f: f in held)):
                eff, disp = unpack(x)
                err = [fast_latency(f, np.minimum(1.0, eff * sc), disp) / t - 1
                       for (d, _, fam, t, (f, sc)) in rows if d == ds and sel(fam)]
                e = np.asarray(err)
                thr = -e / (1 + e)  # error of the throughput (batch / latency)
                if len(err):
                    out.append(f"{ds}/{lab}: n={len(err)} MAPE {100 * np.abs(thr).mean():.1f} "
                               f"bias {100 * thr.mean():+.1f}")
        print(label, "; ".join(out), flush=True)

    report(x0, "start")
    split = (lambda f: f not in held) if not args.all else (lambda f: True)
    if args.method == "nelder-mead":  # a simplex: steps out of flat (clipped) regions
        res = minimize(loss, x0, args=(split,), method="Nelder-Mead",
                       options={"maxiter": 200 * args.iters, "xatol": 1e-3, "fatol": 1e-5})
    else:
        res = minimize(loss, x0, args=(split,), method="Powell",
                       options={"maxiter": args.iters, "xtol": 1e-3, "ftol": 1e-4})
    report(res.x, "fitted")
    eff, disp = unpack(res.x)
    fitted = {f"efficiency.{k}": round(float(v), 3) for i, (k, v) in enumerate(zip(FIT_KEYS, eff))
              if k != "memory.matmul" or i in free}   # tied to memory unless fitted
    fitted["dispatch.eager_overhead_s"] = float(f"{disp:.3g}")
    for k, v in fitted.items():
        if k.startswith("efficiency.") and args.keys and k.split(".", 1)[1] not in args.keys:
            continue
        scale = v / hw.eff(k.split(".", 1)[1]) if k.startswith("efficiency.") else 1.0
        print(f"  {k}: {v}  (x{scale:.3f} of the preset)")
    if args.out:
        import yaml

        Path(args.out).write_text(yaml.safe_dump(fitted, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
