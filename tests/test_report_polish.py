"""Report polish (issue 14, item 10): one Pareto front per (workload, batch), labels keep the
workload name, small multiples keep fonts >= 9 px on the page, numbers formatted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from codesign.reporting import plots
from codesign.results.pareto import pareto_front, pareto_front_by

#: the report page's content width (report.html: main max-width 1400 px minus 2 x 32 px padding)
PAGE_PX = 1336


def test_pareto_per_batch():
    f = pd.DataFrame({"workload": ["a"] * 4, "batch": [1, 1, 16, 16],
                      "latency_s": [1.0, 2.0, 10.0, 20.0], "energy_j": [2.0, 1.0, 20.0, 10.0]})
    # one front across batches would drop batch 16 (slower and costlier per batch)
    assert len(pareto_front(f, ["latency_s", "energy_j"])) == 2
    assert list(pareto_front_by(f, ["latency_s", "energy_j"]).index) == [0, 1, 2, 3]


def test_short_keeps_the_workload_name():
    label = "resnet50_nl · a100-sxm4-40gb · tf32 · eager · nchw · batch 128"
    s = plots._short(label, 28)
    assert len(s) == 28 and s.startswith("resnet50_nl") and s.endswith("batch 128")


def _min_font_px(fig) -> float:
    from matplotlib.text import Text

    width_px = fig.get_size_inches()[0] * fig.dpi
    scale = min(1.0, PAGE_PX / width_px)
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) * fig.dpi / 72 * scale


def test_small_multiples_fonts_at_least_9px():
    rng = np.random.default_rng(0)
    n = 64
    sweep = pd.DataFrame({"preset": rng.choice(["a100", "t4"], n),
                          **{f"k{i}": rng.choice([1.0, 2.0, 4.0], n) for i in range(6)},
                          "latency_s": rng.uniform(1e-3, 2e-3, n), "energy_j": rng.uniform(1, 2, n),
                          "dram_bytes": rng.uniform(1e6, 2e6, n)})
    plot = plots.sensitivity_lines(sweep, "preset", [f"k{i}" for i in range(6)],
                                   ["latency_s", "energy_j", "dram_bytes"])
    assert _min_font_px(plot.figure) >= 9.0


@pytest.mark.parametrize("x,expected", [(1410000000.0, "1.41e+09"), (0.000123, "1.23e-04"),
                                         (54.0, "54"), (1.5, "1.5")])
def test_numbers_formatted(x, expected):
    from codesign.reporting.document import _sig

    assert _sig(x) == expected
