"""Speed of ``validate --published`` (issue 16: 300 published rows from a warm cache in under
5 minutes) and where its time goes.

Runs :func:`codesign.validation.published.validate_published` on ``--dataset`` / ``--hw`` with
the trace cache ``--cache`` (empty folder: a cold run that traces every model; the same folder
again: a warm run), and prints its wall and process CPU time. Then, over the graphs it used,
times the three parts of a warm run separately (process CPU, so the figures hold on a shared
host): reading the cached pickles, ``simulate``, and the plain roofline -- shared per
``cost_key`` as the validation computes it, beside the per-op sum it replaced (the two must be
equal; the script says so). The end-to-end CLI command (start-up and the report included) is
``codesign validate --published DATASET --hw PRESET --limit N --cache DIR --out DIR``.

Run: python benchmarks/published_speed.py --cache reports/pubspeed/cache [--limit 300]
"""

import argparse
import time

import numpy as np

from codesign.capture.cache import TraceCache
from codesign.cost.roofline import roofline_floor
from codesign.published import load_published
from codesign.simulation import make_context, simulate
from codesign.validation.published import (
    roofline_latency_s,
    run_settings,
    select_rows,
    trace_row_graph,
    validate_published,
    _load_hw,
    _shape,
)


def per_op_roofline(graph, hw, ctx) -> float:
    """The plain roofline as computed before the per-key sharing (the reference)."""
    return float(sum(float(np.asarray(roofline_floor(op, hw, ctx))) for op in graph.ops
                     if op.supported))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="timm-rtx3090-infer-nchw")
    ap.add_argument("--hw", default="rtx3090")
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--cache", required=True, help="trace cache folder (empty: a cold run)")
    args = ap.parse_args()
    cache = TraceCache(args.cache)

    t, c = time.perf_counter(), time.process_time()
    res = validate_published(args.dataset, args.hw, cache=cache, limit=args.limit)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    s = res.summary()
    print(f"validate_published {args.dataset} on {args.hw}: {s['rows']} rows, {s['scored']} "
          f"scored: {wall:.1f} s wall, {cpu:.1f} s CPU")

    frame = select_rows(load_published(args.dataset), args.limit)
    hw_cache: dict = {}
    load = sim = shared = plain = 0.0
    equal = n = 0
    seen = set()
    for r in frame.itertuples(index=False):
        st = run_settings(r.precision, r.runtime, r.layout, r.phase,
                          getattr(r, "torch_version", None))
        if isinstance(st, str) or not str(r.workload or "").strip():
            continue
        shape = _shape(r)
        if (r.workload, shape, st.trace_phase) in seen:
            continue
        seen.add((r.workload, shape, st.trace_phase))
        c = time.process_time()
        graph, _ = trace_row_graph(r.workload, shape, st, cache)
        load += time.process_time() - c
        if graph is None:
            continue
        hw = st.hardware(_load_hw(args.hw, hw_cache))
        ctx = make_context(hw, st.dtype, st.mode, st.layout)
        c = time.process_time()
        simulate(graph, hw, dtype=st.dtype, mode=st.mode, layout=st.layout)
        sim += time.process_time() - c
        c = time.process_time()
        a = roofline_latency_s(graph, hw, ctx)
        shared += time.process_time() - c
        c = time.process_time()
        b = per_op_roofline(graph, hw, ctx)
        plain += time.process_time() - c
        n += 1
        equal += a == b
    print(f"parts over {n} graphs (process CPU): cache read {load:.2f} s, simulate {sim:.2f} s, "
          f"roofline {shared:.2f} s shared per cost_key ({plain:.2f} s per op); "
          f"roofline equal to the per-op sum on {equal} of {n}")


if __name__ == "__main__":
    main()
