"""Shared assertion for the tiled cost models: array-valued specs equal scalar specs."""

import numpy as np
import pytest

FIELDS = ("latency_s", "compute_s", "memory_s", "overhead_s", "dram_read_bytes",
          "dram_write_bytes", "onchip_bytes")


def assert_vectorized_matches_scalar(cost, op, hw, knobs, n: int) -> None:
    """``cost(op, hw.with_knobs(arrays))`` equals, element by element, the scalar costs."""
    vec = cost(op, hw.with_knobs(knobs))
    for i in range(n):
        one = cost(op, hw.with_knobs({k: v[i] for k, v in knobs.items()}))
        for field in FIELDS:
            assert np.shape(getattr(vec, field)) == (n,), field
            assert getattr(vec, field)[i] == pytest.approx(float(getattr(one, field)), rel=1e-12)
        assert vec.tiles.count[i] == one.tiles.count
        assert vec.tiles.compute_s[i] == pytest.approx(float(one.tiles.compute_s), rel=1e-12)
