"""Which round time calibration fits (codesign.calibration.host.round_statistic)."""

from __future__ import annotations

import pytest

from codesign.calibration.host import BenchmarkRunner, round_statistic
from codesign.errors import MeasureError


def test_round_statistic_quantiles():
    times = [4.0, 1.0, 3.0, 2.0]
    assert round_statistic(times) == 2.5                     # the median, as before
    assert round_statistic(times, 0.0) == 1.0                # the fastest round
    assert round_statistic(times, 0.25) == pytest.approx(1.75)
    assert round_statistic([5.0], 0.25) == 5.0


def test_round_quantile_is_checked():
    with pytest.raises(MeasureError, match="round quantile"):
        round_statistic([1.0], 1.5)
    with pytest.raises(MeasureError, match="round quantile"):
        BenchmarkRunner([], quantile=-0.1)
