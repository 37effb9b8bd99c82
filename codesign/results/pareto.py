"""Pareto fronts of sweep results (no torch).

A row is on the front when no other row is at least as good in every objective and strictly
better in one. Objectives are minimized, except those whose direction is -1 (maximized, e.g.
``throughput_per_s``). Rows with a non-finite objective are never on the front; exact
duplicates of a front row are all kept.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Boolean mask of non-dominated rows of ``values`` [n, k], every column minimized.

    Rows are visited in lexicographic order, so a row can only be dominated by a row before it
    or equal to it; each row is compared with the current front only (O(n x front))."""
    v = np.asarray(values, dtype=float)
    n = len(v)
    mask = np.zeros(n, dtype=bool)
    if n == 0:
        return mask
    finite = np.isfinite(v).all(axis=1)
    idx = np.flatnonzero(finite)
    if idx.size == 0:
        return mask
    order = idx[np.lexsort(v[idx].T[::-1])]
    front: list[int] = []
    front_vals = np.empty((0, v.shape[1]))
    for i in order:
        row = v[i]
        if front:
            le = (front_vals <= row).all(axis=1)
            lt = (front_vals < row).any(axis=1)
            if (le & lt).any():
                continue
        front.append(i)
        front_vals = np.vstack([front_vals, row])
    mask[front] = True
    return mask


def pareto_front(frame, objectives: Sequence[str], directions: Mapping[str, int] | None = None):
    """The rows of ``frame`` on the Pareto front of ``objectives`` (original order kept)."""
    directions = directions or {}
    cols = [np.asarray(frame[o], dtype=float) * directions.get(o, 1) for o in objectives]
    values = np.column_stack(cols) if cols else np.empty((len(frame), 0))
    return frame[pareto_mask(values)]


__all__ = ["pareto_mask", "pareto_front"]
