"""The sweep spec: YAML (or a dict) -> a validated, resolved :class:`SweepPlan`, before any work.

Two passes, both before anything is traced or evaluated:

1. *Shape and types* (the one validation engine, :mod:`codesign.config.schema`, the same that
   checks hardware YAML): unknown keys, wrong types, empty lists, bad enum values.
2. *Meaning*: presets load, hardware knobs exist on their preset, workloads exist, workload
   knobs exist on their factory and coerce to its defaults, objectives are metrics, at least
   one (dtype, preset) combination runs.

Every problem raises :class:`~codesign.errors.SpecError` whose message is one line,
``file: key.path: what is wrong``, e.g. ``nl.yaml: workloads[0].knobs.nl_ratio: empty list``.

A knob value may be a list (swept) or a scalar (fixed, same as a one-element list). Combinations
a preset cannot run (a dtype or layout missing from its ``dtypes`` / ``layouts``, e.g. tf32 on a
DSP) are *skipped and counted*, not errors, so one spec can sweep several hardware kinds; a
dtype or layout no preset runs at all is an error.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from codesign.config.schema import (
    POS, POS_INT, AnyOf, Bool, FrozenDict, ListOf, MapOf, Num, Scalar, Section, Str, build, spec_field,
)
from codesign.cost.base import DTYPES, LAYOUTS, MODES
from codesign.errors import CodesignError, SpecError, did_you_mean
from codesign.types import Engine, SearchStrategy
from codesign.types import values as choice_values

ENGINES = choice_values(Engine)
STRATEGIES = choice_values(SearchStrategy)

#: result metrics and whether a Pareto front minimizes (+1) or maximizes (-1) them
METRICS: Mapping[str, int] = {
    "latency_s": 1, "energy_j": 1, "dram_bytes": 1, "throughput_per_s": -1, "power_w": 1,
    "energy_compute_j": 1, "energy_sram_j": 1, "energy_dram_j": 1, "energy_static_j": 1,
}
DEFAULT_CHUNK = {"analytical": 4096, "event": 64}

# A knob value may be a scalar (fixed) or a list (swept); a workload knob value may itself be
# a list (a tuple-valued knob such as a kernel size).
_HW_VALUES = ListOf(Scalar(numeric=True), scalar_ok=True)
_WL_VALUES = ListOf(AnyOf((Scalar(), ListOf(Scalar(), min_len=0)),
                          "expected a number, a string, true/false or a list of them"),
                    scalar_ok=True)


@dataclass(frozen=True)
class WorkloadItem:
    workload: str = spec_field(Str(nonempty=True))
    input: Optional[tuple[int, ...]] = spec_field(ListOf(POS_INT), None)
    knobs: Mapping[str, tuple] = spec_field(MapOf(_WL_VALUES), default_factory=FrozenDict)


@dataclass(frozen=True)
class HardwareItem:
    preset: str = spec_field(Str(nonempty=True))
    knobs: Mapping[str, tuple] = spec_field(MapOf(_HW_VALUES), default_factory=FrozenDict)


@dataclass(frozen=True)
class SearchSpec:
    strategy: str = spec_field(Str(allowed=STRATEGIES), "grid")
    samples: Optional[int] = spec_field(POS_INT, None)
    seed: int = spec_field(Num(integer=True, lower_inclusive=True), 0)


@dataclass(frozen=True)
class Constraints:
    """Which points may be chosen: excluded points stay in the results (column ``feasible``)
    but not on the Pareto front or as a "best" configuration."""

    fits_memory: bool = spec_field(Bool(), False)              # peak memory <= the device's
    max_peak_memory_bytes: Optional[float] = spec_field(POS, None)


@dataclass(frozen=True)
class SweepSpec:
    """The YAML schema (pass 1); a lone value stands for a one-element list."""

    workloads: tuple[WorkloadItem, ...] = spec_field(ListOf(Section(WorkloadItem)))
    hardware: tuple[HardwareItem, ...] = spec_field(ListOf(Section(HardwareItem)))
    name: Optional[str] = spec_field(Str(nonempty=True), None)
    dtype: tuple[str, ...] = spec_field(ListOf(Str(allowed=DTYPES), scalar_ok=True, distinct=True),
                                        ("fp32",))
    mode: tuple[str, ...] = spec_field(ListOf(Str(allowed=MODES), scalar_ok=True, distinct=True),
                                       ("eager",))
    layout: tuple[str, ...] = spec_field(ListOf(Str(allowed=LAYOUTS), scalar_ok=True,
                                                distinct=True), ("nchw",))
    batch: Optional[tuple[int, ...]] = spec_field(ListOf(POS_INT, scalar_ok=True, distinct=True), None)
    search: SearchSpec = spec_field(Section(SearchSpec), default_factory=SearchSpec)
    engine: str = spec_field(Str(allowed=ENGINES), "analytical")
    objectives: tuple[str, ...] = spec_field(ListOf(Str(nonempty=True), scalar_ok=True, distinct=True),
                                             ("latency_s", "energy_j"))
    output: Optional[str] = spec_field(Str(nonempty=True), None)
    chunk_size: Optional[int] = spec_field(POS_INT, None)
    constraints: Constraints = spec_field(Section(Constraints), default_factory=Constraints)


def _plain(value: Any) -> Any:
    """The validated spec as plain JSON-able data (the manifest's ``spec``)."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- the resolved plan


@dataclass(frozen=True)
class WorkloadPlan:
    """One ``workloads[i]`` entry, resolved: knob grid with values coerced to the factory's types."""

    index: int
    workload: str
    input_shape: tuple[int, ...]
    knobs: tuple[tuple[str, tuple], ...]          # (name, values) in spec order

    @property
    def knob_names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.knobs)


@dataclass(frozen=True)
class HardwarePlan:
    """One ``hardware[i]`` entry: the loaded base spec and the knob grid."""

    index: int
    preset: str
    spec: Any                                     # codesign.hardware.HardwareSpec
    knobs: tuple[tuple[str, tuple[float, ...]], ...]

    @property
    def knob_names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.knobs)

    @property
    def grid_size(self) -> int:
        return math.prod(len(v) for _, v in self.knobs)


@dataclass(frozen=True)
class SweepPlan:
    file: str
    name: str
    workloads: tuple[WorkloadPlan, ...]
    hardware: tuple[HardwarePlan, ...]
    dtypes: tuple[str, ...]
    modes: tuple[str, ...]
    layouts: tuple[str, ...]
    batches: Optional[tuple[int, ...]]
    strategy: str
    samples: Optional[int]
    seed: int
    engine: str
    objectives: tuple[str, ...]
    output: Optional[str]
    chunk_size: int
    raw: Mapping[str, Any]                        # the validated spec as plain data
    constraints: Constraints = Constraints()


# --------------------------------------------------------------------------- loading


def read_spec(spec: Union[str, os.PathLike, Mapping[str, Any]]) -> tuple[str, dict]:
    """(file label, parsed mapping) from a path or a dict."""
    from codesign.hardware import parse_yaml

    if isinstance(spec, Mapping):
        return "<dict>", dict(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise CodesignError(f"sweep spec must be a YAML path or a dict, not {type(spec).__name__}")
    path = Path(spec)
    label = str(spec)
    if not path.is_file():
        raise SpecError(label, "", "no such file")
    data = parse_yaml(path.read_text(encoding="utf-8"), label)
    if not isinstance(data, Mapping):
        raise SpecError(label, "", "expected a mapping at the top level (name, workloads, hardware, ...)")
    return label, dict(data)


def load_sweep_spec(spec: Union[str, os.PathLike, Mapping[str, Any]]) -> SweepPlan:
    """Validate ``spec`` completely (both passes) and resolve presets and workload knobs."""
    file, data = read_spec(spec)
    return _resolve(build(SweepSpec, data, file, ""), file)


def _resolve(m: SweepSpec, file: str) -> SweepPlan:
    from codesign.hardware import load_hardware

    from codesign.errors import HardwareError, WorkloadError

    hws: list[HardwarePlan] = []
    for i, item in enumerate(m.hardware):
        try:
            hw = load_hardware(item.preset)
        except (HardwareError, SpecError) as e:
            raise SpecError(file, f"hardware[{i}].preset", str(e)) from None
        knobs = []
        for k, vals in item.knobs.items():
            try:
                hw.with_knobs({k: list(vals)})
            except HardwareError as e:
                raise SpecError(file, f"hardware[{i}].knobs.{k}", str(e)) from None
            if len(set(vals)) != len(vals):
                raise SpecError(file, f"hardware[{i}].knobs.{k}", f"{vals}: duplicate values")
            knobs.append((k, tuple(vals)))
        hws.append(HardwarePlan(i, item.preset, hw, tuple(knobs)))

    wls: list[WorkloadPlan] = []
    for i, item in enumerate(m.workloads):
        defaults, default_input = _workload_signature(item.workload, file, f"workloads[{i}].workload")
        knobs = []
        for k, vals in item.knobs.items():
            key = f"workloads[{i}].knobs.{k}"
            if defaults is not None and k not in defaults:
                raise SpecError(file, key, f"unknown knob {k!r} for {item.workload}"
                                f"{did_you_mean(k, defaults)}; allowed: {', '.join(defaults) or 'none'}")
            coerced = []
            for v in vals:
                v = list(v) if isinstance(v, tuple) else v
                try:
                    coerced.append(_coerce(item.workload, k, v, (defaults or {}).get(k)))
                except WorkloadError as e:
                    raise SpecError(file, key, str(e)) from None
            if len(set(map(repr, coerced))) != len(coerced):
                raise SpecError(file, key, f"{vals}: duplicate values")
            knobs.append((k, tuple(coerced)))
        shape = tuple(item.input) if item.input is not None else tuple(default_input)
        wls.append(WorkloadPlan(i, item.workload, shape, tuple(knobs)))

    for key, values, attr in (("dtype", m.dtype, "dtypes"), ("layout", m.layout, "layouts")):
        if len(set(values)) != len(values):
            raise SpecError(file, key, f"{values}: duplicate values")
        for j, v in enumerate(values):
            if not any(v in getattr(h.spec, attr) for h in hws):
                names = ", ".join(f"{h.preset} ({', '.join(getattr(h.spec, attr))})" for h in hws)
                raise SpecError(file, f"{key}[{j}]", f"{v!r} runs on none of the presets: {names}")
    for key, values in (("mode", m.mode), ("batch", m.batch or []), ("objectives", m.objectives)):
        if len(set(values)) != len(values):
            raise SpecError(file, key, f"{values}: duplicate values")
    for j, o in enumerate(m.objectives):
        if o not in METRICS:
            raise SpecError(file, f"objectives[{j}]", f"{o!r} is not a metric{did_you_mean(o, METRICS)}; "
                            f"allowed: {', '.join(METRICS)}")
    s = m.search
    if s.strategy == "random" and s.samples is None:
        raise SpecError(file, "search.samples", "required for strategy random")
    if s.strategy == "grid" and s.samples is not None:
        raise SpecError(file, "search.samples", "only for strategy random (grid evaluates every point)")
    name = m.name or (Path(file).stem if file != "<dict>" else "sweep")
    return SweepPlan(
        file=file, name=name, workloads=tuple(wls), hardware=tuple(hws), dtypes=tuple(m.dtype),
        modes=tuple(m.mode), layouts=tuple(m.layout),
        batches=tuple(m.batch) if m.batch is not None else None, strategy=s.strategy,
        samples=s.samples, seed=s.seed, engine=m.engine, objectives=tuple(m.objectives),
        output=m.output, chunk_size=m.chunk_size or DEFAULT_CHUNK[m.engine],
        raw=_plain(m), constraints=m.constraints,
    )


def _workload_signature(spec: str, file: str, key: str) -> tuple[Optional[dict], tuple[int, ...]]:
    """(knob -> default, default input) of a zoo name or ``file.py:factory``; knob dict None
    when the factory takes ``**kwargs`` (anything goes)."""
    from codesign.errors import WorkloadError

    try:
        from codesign.capture.hub import hub_default_input, is_hub_reference, parse_hub_reference

        if is_hub_reference(spec):  # constructor kwargs are open-ended: any knob goes
            return None, hub_default_input(parse_hub_reference(spec))
        if ":" in spec:
            from codesign.capture.references import _load_factory

            params = inspect.signature(_load_factory(spec)).parameters
            if any(p.kind is p.VAR_KEYWORD for p in params.values()):
                return None, (1, 3, 224, 224)
            return ({k: (None if p.default is inspect.Parameter.empty else p.default)
                     for k, p in params.items()}, (1, 3, 224, 224))
        from codesign.zoo import get_workload

        entry = get_workload(spec)
        return dict(entry.knobs), tuple(entry.default_input)
    except WorkloadError as e:
        raise SpecError(file, key, str(e)) from None


def _coerce(workload: str, knob: str, value: Any, default: Any) -> Any:
    """A knob value converted to the type of the factory's default (tuples hashable)."""
    if default is None:
        return tuple(value) if isinstance(value, list) else value
    from codesign.zoo import coerce_knob

    out = coerce_knob(workload, knob, value, default)
    return tuple(out) if isinstance(out, list) else out


__all__ = ["load_sweep_spec", "read_spec", "SweepPlan", "WorkloadPlan", "HardwarePlan",
           "SweepSpec", "METRICS", "ENGINES", "STRATEGIES", "DTYPES", "MODES", "LAYOUTS"]
