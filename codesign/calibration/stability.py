"""When calibration cannot be trusted (issue 14, item 4).

On a busy host, three ``calibrate`` runs gave 42, 91 and 169 us of per-op overhead and one
wrote a 7.98 GHz clock, without a word. This module decides how many rounds to run and
judges the result:

* **Rounds until stable.** After each round (at least ``min_rounds``), the per-benchmark
  medians are compared with the medians one round earlier; calibration stops when the median
  benchmark moved by less than ``tol`` (2%), or at ``max_rounds``, the stated limit.
* **Spread.** The round-to-round spread of each benchmark is its interquartile range over
  rounds relative to its median; the median over benchmarks is reported (``spread``). Above
  ``NOISY_SPREAD`` (15%) the host was too noisy for the fit to mean much.
* **Physical ranges** of what the fit produced: the effective clock at most 1.1x the maximum
  turbo frequency the kernel reports (``cpufreq/cpuinfo_max_freq``), or, where it reports none
  (VMs), at most ``MAX_BOOST`` (2.5x) the "cpu MHz" of /proc/cpuinfo; more means the benchmarks
  ran at different speeds, not a faster clock. The eager per-op overhead within
  ``EAGER_OVERHEAD_RANGE_S`` (PyTorch CPU dispatch is microseconds, not a tenth of a
  millisecond), compute efficiencies at most 1 after the clock normalisation.

:func:`assess` returns a :class:`Stability` record (stored in the spec's
``provenance.stability``); its ``warnings`` are what the CLI prints, and ``--strict`` turns
them into exit status 3 (the spec is still written).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from codesign.cost.cpu import EAGER_OVERHEAD_RANGE_S  # the CPU kind owns its plausible ranges

#: stop when the median benchmark's median moved by less than this after a round
STABLE_TOL = 0.02
#: median round-to-round spread (IQR / median) above which the host counts as too noisy
NOISY_SPREAD = 0.15
#: largest plausible ratio of fitted clock to the clock /proc/cpuinfo reports ("cpu MHz" may be
#: the base or even the current frequency: laptops turbo to 2-4x their base), used only when
#: the kernel does not report the maximum (turbo) frequency
MAX_BOOST = 2.5
#: tolerance over the kernel's maximum turbo frequency (cpufreq cpuinfo_max_freq)
MAX_OVER_TURBO = 1.1
#: rounds: (min, max) for --quick and for a full calibration
ROUNDS_QUICK = (2, 4)
ROUNDS_FULL = (3, 8)


def _q(xs: Sequence[float], p: float) -> float:
    s = sorted(xs)
    if len(s) == 1:
        return s[0]
    k = (len(s) - 1) * p
    i = int(k)
    j = min(i + 1, len(s) - 1)
    return s[i] + (s[j] - s[i]) * (k - i)


def spread(samples: Mapping[str, Sequence[float]]) -> float:
    """Median over benchmarks of (q75 - q25) / median of its round times (0 with < 2 rounds)."""
    vals = [(_q(v, 0.75) - _q(v, 0.25)) / statistics.median(v)
            for v in samples.values() if len(v) >= 2 and statistics.median(v) > 0]
    return float(statistics.median(vals)) if vals else 0.0


def last_change(samples: Mapping[str, Sequence[float]]) -> float:
    """Median over benchmarks of |median(all rounds) / median(all but the last) - 1|
    (inf with < 2 rounds)."""
    vals = [abs(statistics.median(v) / statistics.median(v[:-1]) - 1.0)
            for v in samples.values() if len(v) >= 2 and statistics.median(v[:-1]) > 0]
    return float(statistics.median(vals)) if vals else float("inf")


def is_stable(samples: Mapping[str, Sequence[float]], rounds: int, min_rounds: int,
              tol: float = STABLE_TOL) -> bool:
    return rounds >= min_rounds and last_change(samples) < tol


@dataclass(frozen=True)
class Stability:
    rounds: int
    max_rounds: int
    stable: bool
    spread: float
    last_change: float
    warnings: tuple[str, ...] = field(default=())

    @property
    def trusted(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict:
        return {"rounds": self.rounds, "max_rounds": self.max_rounds, "stable": self.stable,
                "spread": round(self.spread, 4),
                "last_change": (round(self.last_change, 4)
                                if self.last_change != float("inf") else None),
                "tolerance": STABLE_TOL, "noisy_spread": NOISY_SPREAD,
                "warnings": list(self.warnings)}


def max_cpu_clock_hz() -> float | None:
    """The maximum (turbo) frequency the kernel reports for cpu0, or None."""
    from pathlib import Path

    try:
        return float(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
                     .read_text().strip()) * 1e3
    except (OSError, ValueError):
        return None


def assess(samples: Mapping[str, Sequence[float]], spec, max_rounds: int,
           tol: float = STABLE_TOL, max_clock_hz: float | None = None) -> Stability:
    """Judge a finished calibration: convergence, spread, and the fitted values against
    physical ranges (see the module docstring)."""
    rounds = max((len(v) for v in samples.values()), default=0)
    s, change = spread(samples), last_change(samples)
    stable = change < tol
    warns: list[str] = []
    if not stable:
        warns.append(f"not stable after {rounds} rounds (the last round moved the median "
                     f"benchmark by {change:.1%}, tolerance {tol:.0%})")
    if s > NOISY_SPREAD:
        warns.append(f"host too noisy: rounds of the same benchmark differ by {s:.0%} "
                     f"(interquartile range / median; above {NOISY_SPREAD:.0%} the fit is "
                     "unreliable): close other work or use --clock cpu --threads 1")
    prov = getattr(spec, "provenance", {}) or {}
    clock = prov.get("clock", {}) if isinstance(prov, Mapping) else {}
    reported = clock.get("reported_hz") if isinstance(clock, Mapping) else None
    effective = float(spec.clock_hz)
    if max_clock_hz and effective > MAX_OVER_TURBO * max_clock_hz:
        warns.append(f"fitted clock {effective / 1e9:.2f} GHz is above the CPU's maximum turbo "
                     f"clock {max_clock_hz / 1e9:.2f} GHz")
    elif not max_clock_hz and reported and effective / float(reported) > MAX_BOOST:
        warns.append(f"fitted clock {effective / 1e9:.2f} GHz is {effective / float(reported):.1f}x "
                     f"the reported {float(reported) / 1e9:.2f} GHz (plausible: <= {MAX_BOOST}x)")
    if hasattr(spec, "kind"):
        from codesign.cost import registry

        warns.extend(registry().calibration(spec.kind).plausibility(spec))
    return Stability(rounds, max_rounds, stable, s, change, tuple(warns))


__all__ = ["Stability", "assess", "max_cpu_clock_hz", "spread", "last_change", "is_stable", "STABLE_TOL",
           "NOISY_SPREAD", "MAX_BOOST", "EAGER_OVERHEAD_RANGE_S", "ROUNDS_QUICK", "ROUNDS_FULL"]
