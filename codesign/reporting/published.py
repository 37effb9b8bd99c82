"""Report section of a published-measurement validation: measured vs simulated (log-log, model
and plain roofline) and the error by model family. Reads the per-row frame only
(``PublishedValidation.rows`` or its ``rows.parquet``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codesign.reporting.plots import (
    Plot,
    _figure,
    _legend,
    _styled,
    check_figure,
    save_png,
)

_UNITS = {"throughput_per_s": ("throughput", "samples/s"), "latency_s": ("latency", "s")}


def _metric(rows) -> tuple[str, str]:
    metrics = set(rows["metric"])
    m = metrics.pop() if len(metrics) == 1 else "throughput_per_s"
    return _UNITS.get(m, (m, ""))


@_styled
def measured_vs_simulated(rows, title: str = "") -> Plot:
    """Log-log scatter of predicted against measured, model and roofline, with y = x and
    +-20% bands."""
    ok = rows[rows["status"] == "ok"]
    what, unit = _metric(ok)
    fig, axes = _figure(5.6, 5.0)
    ax = axes[0][0]
    ax.scatter(ok["measured"], ok["roofline_predicted"], s=7, alpha=0.35, color="#bab0ac",
               label="plain roofline")
    ax.scatter(ok["measured"], ok["predicted"], s=9, alpha=0.7, color="#4e79a7", label="codesign")
    vals = np.concatenate([ok["measured"].to_numpy(float), ok["predicted"].to_numpy(float)])
    vals = vals[np.isfinite(vals) & (vals > 0)]
    lo, hi = (vals.min() / 1.5, vals.max() * 1.5) if vals.size else (1e-3, 1.0)
    xs = np.geomspace(lo, hi, 50)
    ax.plot(xs, xs, color="black", lw=0.8, label="y = x")
    ax.fill_between(xs, xs / 1.2, xs * 1.2, color="#59a14f", alpha=0.12, label="within 20%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"measured {what} ({unit})")
    ax.set_ylabel(f"simulated {what} ({unit})")
    ax.set_title(title or f"measured vs simulated {what} ({len(ok)} rows)")
    _legend(ax, loc="upper left")
    plot = Plot("published_scatter", ax.get_title(), fig,
                caption="Each point is one published row; log-log; y = x is a perfect prediction.")
    check_figure(plot)
    return plot


@_styled
def error_by_family(rows, top: int = 30) -> Plot:
    """Mean signed error per family (bars, model) with the roofline's beside (markers): the
    ``top`` families with most rows."""
    ok = rows[rows["status"] == "ok"]
    g = ok.groupby("family").agg(n=("signed_error", "size"), bias=("signed_error", "mean"),
                                 mape=("ape", "mean"), roof=("roofline_signed_error", "mean"))
    g = g.sort_values("n", ascending=False).head(top).sort_values("bias")
    fig, axes = _figure(6.4, max(2.5, 0.22 * len(g) + 1.2))
    ax = axes[0][0]
    y = np.arange(len(g))
    ax.barh(y, g["bias"] * 100, color=np.where(g["bias"] > 0, "#e15759", "#4e79a7"),
            label="codesign mean signed error")
    ax.scatter(np.clip(g["roof"] * 100, -100, 300), y, marker="|", s=60, color="black",
               label="plain roofline (clipped to 300%)")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{f} ({n})" for f, n in zip(g.index, g["n"])])
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("mean signed error (%) — positive: predicted too high")
    ax.set_ylabel("model family (rows)")
    ax.set_title(f"error by family ({len(g)} largest families)")
    _legend(ax, loc="lower right")
    plot = Plot("published_families", ax.get_title(), fig,
                caption="Bars: mean (predicted - measured) / measured per family.")
    check_figure(plot)
    return plot


def write_published_report(result, out: str | Path, title: str = "") -> tuple[str, ...]:
    """``report.md`` with the summary table, the two figures and the per-family / per-class
    tables, beside the data files of ``result.write(out)``."""
    from codesign.validation.published import format_summary

    out = Path(out)
    files = list(result.write(out))
    rows = result.rows
    figs = []
    if (rows["status"] == "ok").any():
        for plot in (measured_vs_simulated(rows), error_by_family(rows)):
            save_png(plot, out / f"{plot.name}.png")
            files.append(str(out / f"{plot.name}.png"))
            figs.append(plot)
    head = title or f"Published measurements: {result.dataset} on {result.hardware}"
    md = [f"# {head}", "",
          "```", format_summary(result, top=40), "```", ""]
    for p in figs:
        md += [f"![{p.title}]({p.name}.png)", "", p.caption, ""]
    fails = result.failures()
    if len(fails):
        md += ["## Rows not scored", "", "| workload | input | batch | precision | reason |",
               "|---|---|---|---|---|"]
        md += [f"| {r.workload} | {r.input_shape} | {r.batch} | {r.precision} | {r.reason} |"
               for r in fails.itertuples()]
        md.append("")
    (out / "report.md").write_text("\n".join(md))
    files.append(str(out / "report.md"))
    return tuple(files)


__all__ = ["error_by_family", "measured_vs_simulated", "write_published_report"]
