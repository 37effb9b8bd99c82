"""Error figures of predictions against measurements (fractions, not percent).

For paired predicted ``p`` and measured ``m`` values of the quantity a source measured:

* APE = |p - m| / m; **MAPE** its mean, **median APE** its median, **within 10% / 20%** the
  share of rows with APE <= 0.10 / 0.20;
* signed error = (p - m) / m; **bias** its mean (positive: predictions too high, i.e. too fast
  for throughputs, too slow for latencies);
* **Spearman** rank correlation of p and m (scipy), NaN with fewer than 3 pairs.

Rows with a non-finite or non-positive value on either side are not scored and are counted in
``n_invalid``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METRIC_NAMES = ("n", "mape", "median_ape", "within_10", "within_20", "bias", "spearman")


def _pairs(predicted, measured) -> tuple[np.ndarray, np.ndarray, int]:
    p = np.asarray(predicted, dtype=float).ravel()
    m = np.asarray(measured, dtype=float).ravel()
    if p.shape != m.shape:
        raise ValueError(f"predicted and measured differ in length: {p.size} vs {m.size}")
    ok = np.isfinite(p) & np.isfinite(m) & (m > 0) & (p > 0)
    return p[ok], m[ok], int((~ok).sum())


def ape(predicted, measured) -> np.ndarray:
    """|p - m| / m element-wise."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    return np.abs(p - m) / m


def signed_error(predicted, measured) -> np.ndarray:
    """(p - m) / m element-wise."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    return (p - m) / m


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation, NaN when fewer than 3 pairs or one side is constant."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)


def error_summary(predicted, measured) -> dict:
    """Every figure of the module docstring as a dict (``n`` scored pairs, ``n_invalid``)."""
    p, m, bad = _pairs(predicted, measured)
    if p.size == 0:
        return {"n": 0, "mape": float("nan"), "median_ape": float("nan"),
                "within_10": float("nan"), "within_20": float("nan"), "bias": float("nan"),
                "spearman": float("nan"), "n_invalid": bad}
    a = ape(p, m)
    return {"n": int(p.size), "mape": float(a.mean()), "median_ape": float(np.median(a)),
            "within_10": float((a <= 0.10 + 1e-12).mean()),
            "within_20": float((a <= 0.20 + 1e-12).mean()),
            "bias": float(signed_error(p, m).mean()), "spearman": spearman(p, m),
            "n_invalid": bad}


def grouped_summary(frame, by: str, predicted: str, measured: str):
    """:func:`error_summary` per group of ``frame[by]`` as a DataFrame sorted by MAPE."""
    import pandas as pd

    rows = []
    for key, grp in frame.groupby(by, sort=True):
        rows.append({by: key, **error_summary(grp[predicted], grp[measured])})
    out = pd.DataFrame(rows, columns=[by, *METRIC_NAMES, "n_invalid"])
    return out.sort_values("mape", ascending=False, kind="stable").reset_index(drop=True)


__all__ = ["METRIC_NAMES", "ape", "error_summary", "grouped_summary", "signed_error", "spearman"]
