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


def pareto_front_by(frame, objectives: Sequence[str], directions: Mapping[str, int] | None = None,
                    by: Sequence[str] = ("workload", "batch")):
    """The Pareto front computed separately within each group of ``by`` (columns missing from
    ``frame`` are left out): configurations of different workloads or batch sizes do different
    work, so one front across them would let batch 1 "dominate" batch 16 on latency."""
    keys = [c for c in by if c in frame]
    if not keys or len(frame) == 0:
        return pareto_front(frame, objectives, directions)
    directions = directions or {}
    mask = np.zeros(len(frame), dtype=bool)
    for _, idx in frame.groupby(keys, sort=False, dropna=False).indices.items():
        sub = frame.iloc[idx]
        cols = [np.asarray(sub[o], dtype=float) * directions.get(o, 1) for o in objectives]
        values = np.column_stack(cols) if cols else np.empty((len(sub), 0))
        mask[idx] = pareto_mask(values)
    return frame[mask]


__all__ = ["pareto_mask", "pareto_front", "pareto_front_by"]
