"""The vectorization contract: a spec with knob arrays costs every configuration at once, and
each configuration's cost equals the cost of the spec with that configuration's scalar knobs."""

from __future__ import annotations

import math

import numpy as np
import torch.nn as nn

import codesign
from codesign.simulation import estimate_costs, make_context


def _small_convnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
        nn.Conv2d(128, 128, 3, padding=1, groups=128), nn.Conv2d(128, 256, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))


def test_regression_efficiency_knob_sweeps_every_point():
    """Bug 2 of the architecture issue: a sweep over ``efficiency.conv.standard`` returned the
    first configuration's cost for every point (the GPU GEMM path decided 'vectorized' from six
    hard-coded fields). Each point must equal the pointwise cost, and the two must differ."""
    graph = codesign.trace(_small_convnet(), (32, 64, 56, 56))
    hw = codesign.load_hardware("a100-sxm4-40gb")
    ctx = make_context(hw, "fp16", "fused", "nchw")
    values = [0.2, 0.9]
    swept = estimate_costs(graph, hw.with_knobs({"efficiency.conv.standard": values}), ctx)
    vec = np.asarray(swept.latency_s)
    assert vec.shape == (2,)
    for i, v in enumerate(values):
        point = estimate_costs(graph, hw.with_knobs({"efficiency.conv.standard": v}), ctx)
        assert math.isclose(vec[i], float(point.latency_s), rel_tol=1e-12)
    assert vec[0] > 1.2 * vec[1]          # the slower efficiency is visibly slower


def test_batch_shape_computed_once_by_with_knobs():
    hw = codesign.load_hardware("a100-sxm4-40gb")
    assert hw.batch_shape == ()
    assert hw.with_knobs({"sm_count": [10, 20, 30]}).batch_shape == (3,)
    assert hw.with_knobs({"sm_count": 40}).batch_shape == ()
