"""Figures for reports, drawn from result DataFrames only (no simulation here).

Every function takes tidy frames (the columns of ``SimResult.to_frame()``, sweep rows or
validation rows) and returns a :class:`Plot`: a matplotlib ``Figure`` built without pyplot
(object-oriented API, Agg canvas, no global rcParams change) and the metadata a report needs.
:func:`check_figure` enforces the house rule that every plot has a title, labelled axes (with
units where the axis is a quantity) and a legend or colour bar.

Units shown: latency in ms, energy in mJ, DRAM traffic in MB (10^6 bytes), rates in FLOP/s;
FLOPs = 2 x MACs (design.md glossary) and are taken from the ``flops`` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: op kinds in OpKind order, each with a fixed colour so every figure agrees
KIND_ORDER = ("conv", "matmul", "attention", "softmax", "norm", "elementwise", "reduction",
              "pool", "cross_channel_pool", "resample", "data_movement", "other")
_PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295", "#8cd17d", "#499894")
BOUND_COLORS = {"compute": "#e15759", "memory": "#4e79a7", "overhead": "#edc948",
                "unsupported": "#7f7f7f", "fused": "#bab0ac"}
ENERGY_PARTS = (("energy_compute_j", "compute", "#e15759"),
                ("energy_sram_j", "on-chip (SRAM / cache)", "#f28e2b"),
                ("energy_dram_j", "DRAM", "#4e79a7"),
                ("energy_static_j", "static", "#bab0ac"))
MS, MJ, MB = 1e3, 1e3, 1e-6

_STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
          "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
          "axes.spines.top": False, "axes.spines.right": False}


@dataclass
class Plot:
    """A finished figure and what a report says about it."""

    name: str                   # file stem, e.g. "roofline_a100-sxm4-40gb"
    title: str
    figure: object              # matplotlib.figure.Figure
    caption: str = ""
    info: dict = field(default_factory=dict)


def kind_color(kind: str) -> str:
    if kind in KIND_ORDER:
        return _PALETTE[KIND_ORDER.index(kind)]
    return _PALETTE[(hash(kind) % 3) + len(KIND_ORDER)]


def series_colors(labels) -> dict:
    """A stable colour per label (hardware names, workloads...)."""
    return {lab: _PALETTE[i % len(_PALETTE)] for i, lab in enumerate(labels)}


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw):
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _styled(fn):
    """Run a drawing function under the local style (rc_context, never global rcParams)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _label(ax, which: str) -> str:
    """The axis label, or a shared sibling's where this axes leaves it blank (shared axes)."""
    own = (ax.get_xlabel() if which == "x" else ax.get_ylabel()).strip()
    if own:
        return own
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    for sib in shared.get_siblings(ax):
        lab = (sib.get_xlabel() if which == "x" else sib.get_ylabel()).strip()
        if lab:
            return lab
    return ""


def check_figure(plot: Plot) -> dict:
    """Title, axis labels and legend present on every used axes; returns the metadata
    (title, axis labels, legend entries) a report records. Internal invariant: a figure
    function that forgets one is a bug, so this asserts."""
    fig = plot.figure
    legends, xlabels, ylabels, titles, colorbars = [], [], [], [], 0
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        if getattr(ax, "_colorbar", None) is not None or ax.get_label() == "<colorbar>":
            colorbars += 1
            lab = ax.get_ylabel() or ax.get_xlabel()
            assert lab, f"{plot.name}: colour bar without a label"
            legends.append(lab)
            continue
        if not ax.has_data() and not ax.patches and not ax.collections:
            continue
        titles.append(ax.get_title())
        assert ax.get_title() or fig.get_suptitle(), f"{plot.name}: axes without a title"
        xlab = _label(ax, "x")
        ylab = _label(ax, "y")
        assert xlab, f"{plot.name}: axes {ax.get_title()!r} has no x label"
        assert ylab, f"{plot.name}: axes {ax.get_title()!r} has no y label"
        xlabels.append(xlab)
        ylabels.append(ylab)
        leg = ax.get_legend()
        if leg is not None:
            legends.extend(t.get_text() for t in leg.get_texts())
    for leg in fig.legends:
        legends.extend(t.get_text() for t in leg.get_texts())
    assert legends, f"{plot.name}: figure has no legend or colour bar"
    return {"title": plot.title, "axes_titles": titles, "xlabels": xlabels, "ylabels": ylabels,
            "legend": legends}


def save_png(plot: Plot, path) -> dict:
    """Check and write the figure as PNG; returns its metadata."""
    info = check_figure(plot)
    plot.figure.savefig(path, format="png", dpi=100)
    return info


# --------------------------------------------------------------------------- helpers

def _short(label: str, n: int = 28) -> str:
    """``label`` in at most ``n`` characters, cut in the middle: the head (the workload of a
    run label "workload · hardware · ...", the top module of a layer path) and the tail both
    stay readable."""
    if len(label) <= n:
        return label
    head = (n - 1 + 1) // 2
    return label[:head] + "…" + label[len(label) - (n - 1 - head):]


#: at most this many layer names under a per-layer bar chart: 13 inches hold about 60 labels
#: at 7 points; more overlap (unreadable) and their layout dominated the report's time
MAX_LAYER_LABELS = 60


def _layer_ticks(ax, x, layers) -> None:
    """Layer names under the bars, every k-th one when there are more than MAX_LAYER_LABELS."""
    step = max(1, -(-len(layers) // MAX_LAYER_LABELS))
    idx = list(range(0, len(layers), step))
    ax.set_xticks([x[i] for i in idx], [_short(layers[i], 22) for i in idx], rotation=70,
                  ha="right", fontsize=7)
    ax.set_xticks(x, minor=True)


def _fmt_ratio(x: float) -> str:
    return f"×{x:.2f}" if x < 10 else f"×{x:.0f}"


def _legend(ax, **kw):
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(**kw)


# --------------------------------------------------------------------------- simulate

@_styled
def summary_bars(runs) -> Plot:
    """Latency and energy of every run (log scale), coloured by hardware."""
    n = len(runs)
    fig, axes = _figure(11, 2.2 + 0.3 * n, 1, 2, sharey=True)
    colors = series_colors(list(dict.fromkeys(runs["hardware"])))
    y = np.arange(n)
    c = [colors[h] for h in runs["hardware"]]
    for ax, col, scale, unit, what in ((axes[0, 0], "latency_s", MS, "ms", "Latency"),
                                       (axes[0, 1], "energy_j", MJ, "mJ", "Energy")):
        vals = runs[col].to_numpy(float) * scale
        ax.barh(y, vals, color=c)
        ax.set_xscale("log")
        ax.set_xlabel(f"{what.lower()} per batch ({unit}, log scale)")
        ax.set_title(f"{what} per run")
        for yi, v in zip(y, vals):
            ax.annotate(f"{v:.3g}", (v, yi), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)
    axes[0, 0].set_yticks(y, [_short(s, 60) for s in runs["run"]])
    axes[0, 0].invert_yaxis()
    axes[0, 0].set_ylabel("run (workload · hardware · …)")
    axes[0, 1].set_ylabel("")
    axes[0, 1].yaxis.label.set_text(" ")
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color=v, label=k) for k, v in colors.items()], title="hardware",
               loc="outside lower center", ncols=min(len(colors), 5))
    fig.suptitle("Latency and energy of every simulated run")
    return Plot("summary", "Latency and energy of every simulated run", fig,
                "Bars on a log scale; colour = hardware preset.")


@_styled
def layer_breakdown(ops, workload: str, runs, note: str = "") -> Plot:
    """Per-layer latency and energy of one workload, stacked by op kind, one row per run."""
    labels = list(runs["run"])
    layers = list(dict.fromkeys(ops["layer"]))
    kinds = [k for k in KIND_ORDER if k in set(ops["kind"])] + sorted(set(ops["kind"]) - set(KIND_ORDER))
    n = len(labels)
    fig, axes = _figure(13, 1.3 + 2.3 * n, n, 2, sharex=True)
    x = np.arange(len(layers))
    for j, (col, scale, unit, what) in enumerate((("latency_s", MS, "ms", "latency"),
                                                   ("energy_j", MJ, "mJ", "energy"))):
        table = (ops.groupby(["run", "layer", "kind"], sort=False)[col].sum().unstack("kind")
                 .fillna(0.0))
        for i, run in enumerate(labels):
            ax = axes[i, j]
            sub = table.loc[run].reindex(layers, fill_value=0.0) if run in table.index else None
            bottom = np.zeros(len(layers))
            for k in kinds:
                if sub is None or k not in sub:
                    continue
                v = sub[k].to_numpy(float) * scale
                if not v.any():
                    continue
                ax.bar(x, v, bottom=bottom, color=kind_color(k), label=k, width=0.8)
                bottom += v
            ax.margins(y=0.12)                   # headroom above the tallest bar
            ax.set_title(f"{what} by layer · {_short(run.split(' · ', 1)[-1], 60)}")
            ax.set_ylabel(f"{what} ({unit})")
            ax.set_xlabel("layer (module path)" if i == n - 1 else " ")
    for j in range(2):
        _layer_ticks(axes[n - 1, j], x, layers)
    handles, lab = [], []
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in lab:
                handles.append(h)
                lab.append(l)
    order = sorted(range(len(lab)), key=lambda i: KIND_ORDER.index(lab[i]) if lab[i] in KIND_ORDER else 99)
    fig.legend([handles[i] for i in order], [lab[i] for i in order], title="op kind",
               loc="outside right upper")
    title = f"{workload}: per-layer latency and energy by op kind"
    fig.suptitle(title)
    return Plot(f"layers_{workload}", title, fig,
                "Each bar is one layer (module group), stacked by op kind; one row per run."
                + (" " + note if note else ""))


@_styled
def share_by(ops, runs, column: str, what: str, top: int = 8) -> Plot:
    """Share of each run's latency and energy by ``column`` (op kind or top-level module)."""
    labels = list(runs["run"])
    if column == "kind":
        cats = [k for k in KIND_ORDER if k in set(ops["kind"])] + sorted(set(ops["kind"]) - set(KIND_ORDER))
        colors = {k: kind_color(k) for k in cats}
        cat_col = ops["kind"]
    else:
        total = ops.groupby(column)["latency_s"].sum().sort_values(ascending=False)
        keep = list(total.index[:top])
        cat_col = ops[column].where(ops[column].isin(keep), "(other modules)")
        cats = keep + (["(other modules)"] if len(total) > top else [])
        colors = series_colors(cats)
    frame = ops.assign(_cat=cat_col)
    n = len(labels)
    fig, axes = _figure(12, 2.2 + 0.3 * n, 1, 2, sharey=True)
    y = np.arange(n)
    for ax, col, name in ((axes[0, 0], "latency_s", "latency"), (axes[0, 1], "energy_j", "energy")):
        table = frame.pivot_table(index="run", columns="_cat", values=col, aggfunc="sum",
                                  fill_value=0.0).reindex(index=labels, fill_value=0.0)
        tot = table.sum(axis=1).replace(0, np.nan)
        left = np.zeros(n)
        for cat in cats:
            if cat not in table:
                continue
            v = (table[cat] / tot * 100).fillna(0).to_numpy(float)
            ax.barh(y, v, left=left, color=colors[cat], label=cat)
            left += v
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"share of {name} (%)")
        ax.set_title(f"{name.capitalize()} share by {what}")
    axes[0, 0].set_yticks(y, [_short(s, 60) for s in labels])
    axes[0, 0].invert_yaxis()
    axes[0, 0].set_ylabel("run (workload · hardware · …)")
    axes[0, 1].yaxis.label.set_text(" ")
    handles, lab = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, lab, title=what, loc="outside lower center", ncols=min(len(lab), 6))
    title = f"Latency and energy share by {what}"
    fig.suptitle(title)
    return Plot(f"share_{column}", title, fig)


@_styled
def roofline(ops, hardware: str, roofs: list[dict]) -> Plot:
    """Ops on ``hardware`` placed by arithmetic intensity (FLOP per DRAM byte) and achieved
    FLOP/s, coloured by bound, under the peak roofs (``roofs``: dicts with dtype,
    peak_flops_per_s, vector_flops_per_s, dram_bandwidth_bytes_per_s)."""
    from matplotlib.lines import Line2D

    fig, axes = _figure(9, 5.6)
    ax = axes[0, 0]
    dram = ops["dram_read_bytes"] + ops["dram_write_bytes"]
    ok = (ops["flops"] > 0) & (dram > 0) & (ops["latency_s"] > 0)
    pts = ops[ok].assign(ai=(ops["flops"] / dram)[ok], perf=(ops["flops"] / ops["latency_s"])[ok])
    markers = "osD^vP*Xh<>"
    workloads = list(dict.fromkeys(pts["workload"]))
    for wi, wl in enumerate(workloads):
        for bound in BOUND_COLORS:
            sel = pts[(pts["workload"] == wl) & (pts["bound"] == bound)]
            if len(sel):
                ax.scatter(sel["ai"], sel["perf"], s=22, marker=markers[wi % len(markers)],
                           color=BOUND_COLORS[bound], alpha=0.75, edgecolors="white", linewidths=0.4)
    handles = [Line2D([], [], marker="o", ls="", color=c, label=f"{b}-bound")
               for b, c in BOUND_COLORS.items() if b in set(pts["bound"])]
    handles += [Line2D([], [], marker=markers[i % len(markers)], ls="", color="#555", label=wl)
                for i, wl in enumerate(workloads)]
    if len(pts):
        lo, hi = pts["ai"].min() / 3, pts["ai"].max() * 3
    else:
        lo, hi = 0.1, 1e3
    styles = ("-", "--", ":", "-.")
    for i, roof in enumerate(roofs):
        bw, peak = roof.get("dram_bandwidth_bytes_per_s"), roof.get("peak_flops_per_s")
        if not bw or not peak:
            continue
        lo = min(lo, peak / bw / 30)
        hi = max(hi, peak / bw * 30)
        xs = np.geomspace(lo, hi, 200)
        ls = styles[i % len(styles)]
        ax.plot(xs, np.minimum(peak, bw * xs), color="black", lw=1.4, ls=ls,
                label=f"roof {roof['dtype']}: {peak / 1e12:.4g} TFLOP/s, {bw / 1e9:.4g} GB/s")
        vec = roof.get("vector_flops_per_s")
        if vec and abs(vec - peak) / peak > 0.05:
            ax.plot(xs, np.minimum(vec, bw * xs), color="#666", lw=1.0, ls=ls,
                    label=f"vector roof {roof['dtype']}: {vec / 1e12:.3g} TFLOP/s")
    ys = list(pts["perf"]) + [r.get("peak_flops_per_s") or np.nan for r in roofs]
    ys = [y for y in ys if y and np.isfinite(y) and y > 0]
    if ys:
        ax.set_ylim(min(ys) / 3, max(ys) * 3)
    else:
        ax.set_ylim(1e9, 1e15)
    ax.set_xlim(lo, hi)
    ax.set_xscale("log")
    ax.set_yscale("log")
    handles += [h for h in ax.get_lines() if not h.get_label().startswith("_")]
    if not any(r.get("peak_flops_per_s") for r in roofs):
        handles.append(Line2D([], [], color="none", label="peak roofs unknown (no preset)"))
    ax.legend(handles=handles, loc="lower right", fontsize=7)
    ax.set_xlabel("arithmetic intensity (FLOP / DRAM byte, log scale)")
    ax.set_ylabel("achieved throughput (FLOP/s, log scale)")
    skipped = int((~ok & (ops["bound"] != "fused")).sum())
    title = f"Roofline on {hardware}"
    ax.set_title(f"{title} ({len(pts)} ops placed; {skipped} without FLOPs or DRAM traffic not shown)")
    return Plot(f"roofline_{hardware}", title, fig,
                "FLOPs = 2 x MACs; intensity uses modelled DRAM traffic; colour = bound, "
                "marker = workload.")


@_styled
def energy_breakdown(runs) -> Plot:
    """Energy per run split into compute, on-chip, DRAM and static (absolute and share)."""
    labels = list(runs["run"])
    n = len(labels)
    fig, axes = _figure(12, 2.2 + 0.3 * n, 1, 2, sharey=True)
    y = np.arange(n)
    total = sum(runs[c].to_numpy(float) for c, _, _ in ENERGY_PARTS)
    left_a, left_s = np.zeros(n), np.zeros(n)
    for col, label, color in ENERGY_PARTS:
        v = runs[col].to_numpy(float)
        axes[0, 0].barh(y, v * MJ, left=left_a, color=color, label=label)
        share = np.divide(v, total, out=np.zeros(n), where=total > 0) * 100
        axes[0, 1].barh(y, share, left=left_s, color=color)
        left_a += v * MJ
        left_s += share
    axes[0, 0].set_xscale("log") if (left_a.max() > 100 * max(left_a.min(), 1e-30)) else None
    axes[0, 0].set_xlabel("energy per batch (mJ)" + (", log scale" if axes[0, 0].get_xscale() == "log" else ""))
    axes[0, 0].set_title("Energy by component")
    axes[0, 1].set_xlim(0, 100)
    axes[0, 1].set_xlabel("share of energy (%)")
    axes[0, 1].set_title("Energy share by component")
    axes[0, 0].set_yticks(y, [_short(s, 60) for s in labels])
    axes[0, 0].invert_yaxis()
    axes[0, 0].set_ylabel("run (workload · hardware · …)")
    axes[0, 1].yaxis.label.set_text(" ")
    handles, lab = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, lab, title="component", loc="outside lower center", ncols=4)
    title = "Energy breakdown: compute, on-chip, DRAM, static"
    fig.suptitle(title)
    return Plot("energy_breakdown", title, fig,
                "Stacked segments start at zero, so on a log axis the first segment dominates "
                "visually; read the shares on the right.")


@_styled
def dram_by_layer(ops, workload: str, runs) -> Plot:
    """DRAM traffic per layer of one workload, one bar group per run."""
    labels = list(runs["run"])
    layers = list(dict.fromkeys(ops["layer"]))
    fig, axes = _figure(13, 4.6)
    ax = axes[0, 0]
    x = np.arange(len(layers))
    w = 0.8 / max(len(labels), 1)
    colors = series_colors(labels)
    for i, run in enumerate(labels):
        sub = ops[ops["run"] == run]
        v = (sub.assign(d=sub["dram_read_bytes"] + sub["dram_write_bytes"])
             .groupby("layer")["d"].sum().reindex(layers, fill_value=0.0).to_numpy(float))
        ax.bar(x + (i - (len(labels) - 1) / 2) * w, v * MB, width=w, color=colors[run],
               label=_short(run.split(" · ", 1)[-1], 70))
    _layer_ticks(ax, x, layers)
    ax.set_xlabel("layer (module path)")
    ax.set_ylabel("DRAM traffic, read + write (MB)")
    title = f"{workload}: DRAM traffic per layer"
    ax.set_title(title)
    ax.legend(title="run (hardware · dtype · mode · layout)", fontsize=7)
    return Plot(f"dram_{workload}", title, fig)


@_styled
def ccp_saving(ops, pair: dict) -> Plot:
    """DRAM traffic per layer without and with cross-channel pooling fused before the store."""
    layers = list(dict.fromkeys(ops["layer"]))
    fig, axes = _figure(13, 4.6)
    ax = axes[0, 0]
    x = np.arange(len(layers))
    vals = {}
    for i, (key, color) in enumerate((("base", "#4e79a7"), ("ccp", "#59a14f"))):
        sub = ops[ops["run"] == pair[key]]
        vals[key] = (sub.assign(d=sub["dram_read_bytes"] + sub["dram_write_bytes"])
                     .groupby("layer")["d"].sum().reindex(layers, fill_value=0.0).to_numpy(float))
        label = (f"layout {pair[key + '_layout']}" + (" (pool fused before the store)" if key == "ccp" else ""))
        ax.bar(x + (i - 0.5) * 0.4, vals[key] * MB, width=0.4, color=color, label=label)
    saved = vals["base"] - vals["ccp"]
    for xi, s, b in zip(x, saved, vals["base"]):
        if b > 0 and s / b > 0.005:
            ax.annotate(f"-{s / b:.0%}", (xi, b * MB), xytext=(0, 2), textcoords="offset points",
                        ha="center", fontsize=7, color="#2d6a2d")
    tot_b, tot_c = vals["base"].sum(), vals["ccp"].sum()
    _layer_ticks(ax, x, layers)
    ax.set_xlabel("layer (module path)")
    ax.set_ylabel("DRAM traffic, read + write (MB)")
    title = (f"{pair['workload']} on {pair['hardware']}: cross-channel pooling before the store "
             f"saves {(tot_b - tot_c) * MB:.3g} MB ({(tot_b - tot_c) / tot_b:.0%}) of DRAM traffic"
             if tot_b > 0 else f"{pair['workload']} on {pair['hardware']}: DRAM traffic")
    ax.set_title(title)
    ax.legend(title="layout")
    return Plot(f"ccp_{pair['workload']}_{pair['hardware']}", title, fig,
                "Per-layer labels give the share of that layer's traffic removed.",
                {"saved_bytes": float(tot_b - tot_c), "base_bytes": float(tot_b)})


@_styled
def gantt(ops, run: str) -> Plot:
    """Event-engine timeline: one lane per engine, ops as bars coloured by op kind."""
    sub = ops[(ops["run"] == run) & ops["start_s"].notna() & ops["end_s"].notna()]
    sub = sub[sub["end_s"] > sub["start_s"]]
    engines = list(dict.fromkeys(sub.sort_values("start_s")["engine"].astype(str)))
    fig, axes = _figure(13, 1.6 + 0.55 * max(len(engines), 1))
    ax = axes[0, 0]
    for k in [k for k in KIND_ORDER if k in set(sub["kind"])] + sorted(set(sub["kind"]) - set(KIND_ORDER)):
        sel = sub[sub["kind"] == k]
        for lane, eng in enumerate(engines):
            s = sel[sel["engine"].astype(str) == eng]
            if len(s):
                ax.broken_barh(list(zip(s["start_s"] * MS, (s["end_s"] - s["start_s"]) * MS)),
                               (lane - 0.38, 0.76), facecolors=kind_color(k), edgecolor="white",
                               linewidth=0.3,
                               label=k if lane == engines.index(s["engine"].astype(str).iloc[0]) else None)
    ax.set_yticks(range(len(engines)), engines)
    ax.invert_yaxis()
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("engine (hardware unit)")
    makespan = float(sub["end_s"].max() - min(sub["start_s"].min(), 0.0)) * MS if len(sub) else 0.0
    title = f"Event-engine timeline: {run} (makespan {makespan:.3g} ms)"
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    ax.legend(seen.values(), seen.keys(), title="op kind", loc="upper left",
              bbox_to_anchor=(1.0, 1.0), fontsize=7)
    return Plot(f"timeline_{len(run)}", title, fig)


# --------------------------------------------------------------------------- sweeps

@_styled
def pareto(sweep, hw_col: str, front_mask) -> Plot:
    """Latency vs energy of every configuration, coloured by hardware; the front highlighted."""
    from matplotlib.lines import Line2D

    workloads = list(dict.fromkeys(sweep["workload"])) if "workload" in sweep else [""]
    n = len(workloads)
    fig, axes = _figure(6.2 * min(n, 2) + 1.5, 4.8 * ((n + 1) // 2), (n + 1) // 2, min(n, 2))
    hws = list(dict.fromkeys(sweep[hw_col].astype(str)))
    colors = series_colors(hws)
    for i, wl in enumerate(workloads):
        ax = axes.flat[i]
        sel = sweep["workload"] == wl if wl else np.ones(len(sweep), bool)
        sub, front = sweep[sel], front_mask[sel]
        for hw in hws:
            h = sub[hw_col].astype(str) == hw
            ax.scatter(sub.loc[h, "latency_s"] * MS, sub.loc[h, "energy_j"] * MJ, s=10,
                       color=colors[hw], alpha=0.35, linewidths=0)
            f = h & front
            ax.scatter(sub.loc[f, "latency_s"] * MS, sub.loc[f, "energy_j"] * MJ, s=40,
                       color=colors[hw], edgecolors="black", linewidths=0.8, zorder=3)
        fr = sub[front].sort_values("latency_s")
        ax.step(fr["latency_s"] * MS, fr["energy_j"] * MJ, where="post", color="black", lw=0.9,
                zorder=2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("latency per batch (ms, log scale)")
        ax.set_ylabel("energy per batch (mJ, log scale)")
        ax.set_title(f"Pareto front{': ' + wl if wl else ''} ({int(front.sum())} of {len(sub)} configs)")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    handles = [Line2D([], [], marker="o", ls="", color=colors[h], label=h) for h in hws]
    handles += [Line2D([], [], marker="o", ls="-", color="black", mfc="white", label="Pareto front")]
    fig.legend(handles=handles, title="hardware", loc="outside right upper")
    title = "Sweep: latency vs energy, Pareto front"
    fig.suptitle(title)
    return Plot("pareto", title, fig, "Faint dots: every configuration; outlined: on the front.")


@_styled
def sensitivity_heatmap(table) -> Plot:
    """``table``: knobs x metrics of max/min ratios of the median metric across knob values."""
    import matplotlib.colors as mcolors

    fig, axes = _figure(1.8 + 1.6 * table.shape[1], 1.2 + 0.45 * table.shape[0])
    ax = axes[0, 0]
    data = np.log10(table.to_numpy(float).clip(min=1.0))
    vmax = max(float(np.nanmax(data)) if data.size else 0.0, 0.05)
    im = ax.imshow(data, aspect="auto", cmap="viridis", norm=mcolors.Normalize(0, vmax))
    for (i, j), v in np.ndenumerate(table.to_numpy(float)):
        ax.text(j, i, "n/a" if not np.isfinite(v) else _fmt_ratio(v), ha="center", va="center",
                fontsize=8, color="white" if np.isfinite(v) and np.log10(max(v, 1)) < 0.6 * vmax else "black")
    ax.set_xticks(range(table.shape[1]), [METRIC_NAMES.get(c, c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), list(table.index))
    ax.set_xlabel("metric (max/min ratio)")
    ax.set_ylabel("knob (swept)")
    ax.grid(False)
    title = "Sensitivity: max/min ratio of the median metric across each knob's values"
    ax.set_title("Sensitivity of each metric to each knob")
    cb = fig.colorbar(im, ax=ax)
    cb.set_label("log10(max/min median ratio)")
    return Plot("sensitivity", title, fig,
                "Within each (workload, hardware) group the metric's median is taken per knob "
                "value; the cell is the median over groups of max/min of those medians (×1 = no effect).")


METRIC_NAMES = {"latency_s": "latency", "energy_j": "energy", "dram_bytes": "DRAM traffic",
                "throughput_per_s": "throughput", "power_w": "power"}


#: knobs side by side in the small multiples: a wider figure is scaled down to the report's
#: page width (1336 px) and its 8-point tick labels fall below 9 px
MAX_KNOB_COLUMNS = 4


@_styled
def sensitivity_lines(sweep, hw_col: str, knobs: list, metrics: list) -> Plot:
    """Median metric (normalised to each hardware's median) against each knob's values;
    numeric knobs as multiples of that hardware's median knob value so presets compare."""
    from matplotlib.lines import Line2D

    knobs = list(knobs)[:MAX_KNOB_COLUMNS]
    hws = list(dict.fromkeys(sweep[hw_col].astype(str)))
    colors = series_colors(hws)
    fig, axes = _figure(3.0 * len(knobs) + 1.8, 2.4 * len(metrics) + 0.6, len(metrics), len(knobs))
    for j, k in enumerate(knobs):
        numeric = np.issubdtype(np.asarray(sweep[k].dropna()).dtype, np.number)
        for i, m in enumerate(metrics):
            ax = axes[i, j]
            for hw in hws:
                sub = sweep[(sweep[hw_col].astype(str) == hw) & sweep[k].notna()]
                if sub.empty or sub[m].median() <= 0 or sub[k].nunique() < 2:
                    continue
                med = sub.groupby(k)[m].median() / sub[m].median()
                if numeric:
                    xs = np.asarray(med.index, float) / float(np.median(sub[k].astype(float)))
                    ax.plot(xs, med.to_numpy(float), marker="o", ms=3, color=colors[hw])
                else:
                    ax.plot([str(v) for v in med.index], med.to_numpy(float), marker="o", ms=3,
                            color=colors[hw])
            name = METRIC_NAMES.get(m, m)
            ax.set_xlabel(f"{k} (x hardware's median)" if numeric else f"{k} (value)")
            ax.set_ylabel(f"{name} / median (ratio)")
            ax.set_title(f"{name} vs {k}", fontsize=9)
    handles = [Line2D([], [], marker="o", color=colors[h], label=h) for h in hws]
    fig.legend(handles=handles, title="hardware", loc="outside right upper")
    title = "Median metric against each knob, per hardware"
    fig.suptitle(title)
    return Plot("sensitivity_lines", title, fig,
                "Each line: one hardware's median metric at each knob value, divided by its "
                "overall median; numeric knobs as multiples of the hardware's median value.")


# --------------------------------------------------------------------------- validation

@_styled
def validation_scatter(val, est_col: str, meas_col: str) -> Plot:
    """Estimated vs measured latency per op (log-log) with the y = x line and ±2x band."""
    fig, axes = _figure(7.5, 6.0)
    ax = axes[0, 0]
    ok = (val[est_col] > 0) & (val[meas_col] > 0)
    v = val[ok]
    kinds = [k for k in KIND_ORDER if k in set(v["kind"])] + sorted(set(v["kind"]) - set(KIND_ORDER)) \
        if "kind" in v else [None]
    for k in kinds:
        s = v[v["kind"] == k] if k is not None else v
        ax.scatter(s[meas_col] * MS, s[est_col] * MS, s=18, alpha=0.8,
                   color=kind_color(k) if k else "#4e79a7", label=k or "op")
    if len(v):
        lo = min(v[meas_col].min(), v[est_col].min()) * MS / 2
        hi = max(v[meas_col].max(), v[est_col].max()) * MS * 2
    else:
        lo, hi = 1e-3, 1.0
    xs = np.geomspace(lo, hi, 50)
    ax.plot(xs, xs, color="black", lw=1, label="estimate = measured")
    ax.fill_between(xs, xs / 2, xs * 2, color="#999", alpha=0.15, label="within 2x")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured latency per op (ms, log scale)")
    ax.set_ylabel("estimated latency per op (ms, log scale)")
    title = "Validation: estimated vs measured latency per op"
    ax.set_title(title)
    ax.legend(title="op kind", fontsize=7, loc="upper left")
    return Plot("validation", title, fig, f"{len(v)} ops with both numbers.")
