"""The sweep spec: YAML (or a dict) -> a validated, resolved :class:`SweepPlan`, before any work.

Two passes, both before anything is traced or evaluated:

1. *Shape and types* (pydantic): unknown keys, wrong types, empty lists, bad enum values.
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

import inspect
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from codesign.cost.base import DTYPES, LAYOUTS, MODES
from codesign.errors import CodesignError, SpecError, did_you_mean

ENGINES = ("analytical", "event")
STRATEGIES = ("grid", "random")

#: result metrics and whether a Pareto front minimizes (+1) or maximizes (-1) them
METRICS: Mapping[str, int] = {
    "latency_s": 1, "energy_j": 1, "dram_bytes": 1, "throughput_per_s": -1, "power_w": 1,
    "energy_compute_j": 1, "energy_sram_j": 1, "energy_dram_j": 1, "energy_static_j": 1,
}
DEFAULT_CHUNK = {"analytical": 4096, "event": 64}

Scalar = Union[bool, int, float, str]


def _as_list(v: Any) -> Any:
    """A scalar knob value means a fixed knob: a one-element list."""
    if isinstance(v, (list, tuple)):
        return list(v)
    if isinstance(v, (bool, int, float, str)):
        return [v]
    return v


def _nonempty(v: list) -> list:
    if not v:
        raise ValueError("empty list; give at least one value")
    return v


def _finite(v: list) -> list:
    for x in _nonempty(v):
        if not isinstance(x, bool) and not math.isfinite(x):
            raise ValueError(f"{x!r} is not a finite number")
    return v


WorkloadValues = Annotated[list[Union[Scalar, list[Scalar]]], AfterValidator(_nonempty)]
HardwareValues = Annotated[list[Union[bool, int, float]], AfterValidator(_finite)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class WorkloadItem(_Strict):
    workload: str = Field(min_length=1)
    input: Optional[list[int]] = None
    # each value: a scalar, or a list for a tuple-valued knob
    knobs: dict[str, WorkloadValues] = Field(default_factory=dict)

    @field_validator("knobs", mode="before")
    @classmethod
    def _lists(cls, v):
        return {k: _as_list(x) for k, x in v.items()} if isinstance(v, dict) else v

    @field_validator("input")
    @classmethod
    def _input_positive(cls, v):
        if v is not None and (not v or any(d <= 0 for d in v)):
            raise ValueError("expected a non-empty list of positive integers like [1, 3, 224, 224]")
        return v


class HardwareItem(_Strict):
    preset: str = Field(min_length=1)
    knobs: dict[str, HardwareValues] = Field(default_factory=dict)

    @field_validator("knobs", mode="before")
    @classmethod
    def _lists(cls, v):
        return {k: _as_list(x) for k, x in v.items()} if isinstance(v, dict) else v


class SearchSpec(_Strict):
    strategy: Literal["grid", "random"] = "grid"
    samples: Optional[int] = Field(default=None, gt=0)
    seed: int = 0


class SweepSpecModel(_Strict):
    """The YAML schema (pass 1)."""

    name: Optional[str] = Field(default=None, min_length=1)
    workloads: list[WorkloadItem] = Field(min_length=1)
    hardware: list[HardwareItem] = Field(min_length=1)
    dtype: list[Literal["fp32", "tf32", "fp16", "bf16", "int8"]] = Field(default=["fp32"], min_length=1)
    mode: list[Literal["eager", "fused"]] = Field(default=["eager"], min_length=1)
    layout: list[Literal["nchw", "nhwc", "ccp"]] = Field(default=["nchw"], min_length=1)
    batch: Optional[list[int]] = Field(default=None, min_length=1)
    search: SearchSpec = Field(default_factory=SearchSpec)
    engine: Literal["analytical", "event"] = "analytical"
    objectives: list[str] = Field(default=["latency_s", "energy_j"], min_length=1)
    output: Optional[str] = None
    chunk_size: Optional[int] = Field(default=None, gt=0)

    @field_validator("dtype", "mode", "layout", "batch", "objectives", mode="before")
    @classmethod
    def _lists(cls, v):
        """``dtype: fp16`` means ``dtype: [fp16]``."""
        return [v] if isinstance(v, (str, int)) and not isinstance(v, bool) else v

    @field_validator("batch")
    @classmethod
    def _batch_positive(cls, v):
        if v is not None and any(b <= 0 for b in v):
            raise ValueError("expected positive integers")
        return v


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


# --------------------------------------------------------------------------- loading


def _loc_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_TYPE_WORDS = {
    "string_type": "expected a string", "int_type": "expected an integer",
    "float_type": "expected a number", "bool_type": "expected true or false",
    "list_type": "expected a list", "dict_type": "expected a mapping",
    "model_type": "expected a mapping", "int_from_float": "expected an integer",
}


def _pydantic_to_spec_error(err: ValidationError, file: str, data: Any) -> SpecError:
    """The first error of ``err`` as one SpecError line with the key path."""
    errors = err.errors(include_url=False)
    # union members report one error each, with the member type appended to the loc: strip
    # those tags (anything that is not a key in the data) and merge
    first = errors[0]
    loc = list(first["loc"])
    clean: list = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            clean.append(part)
            node = node[part]
        elif isinstance(node, Mapping) and part in node:
            clean.append(part)
            node = node[part]
        elif isinstance(node, Mapping) and first["type"] in ("extra_forbidden", "missing"):
            clean.append(part)
            node = None
        else:
            break
    key = _loc_path(tuple(clean))
    kind = first["type"]
    if kind == "extra_forbidden":
        parent = clean[:-1]
        allowed = _allowed_keys(parent)
        hint = did_you_mean(str(clean[-1]), allowed)
        msg = f"unknown key {clean[-1]!r}" + (hint or f"; allowed: {', '.join(allowed)}")
    elif kind == "missing":
        msg = "missing required key"
    elif kind == "literal_error":
        msg = f"{node!r}; allowed: {first['ctx']['expected'].replace(chr(39), '')}"
        if isinstance(node, str):
            exp = [s.strip().strip("'") for s in first["ctx"]["expected"].replace(" or ", ", ").split(",")]
            msg += did_you_mean(node, exp)
    elif kind in ("too_short",) and isinstance(node, list) and not node:
        msg = "empty list; give at least one value"
    elif kind == "value_error":
        msg = str(first["msg"]).removeprefix("Value error, ")
    elif len(clean) < len(loc) and not isinstance(node, (list, Mapping)):
        msg = f"{node!r} has the wrong type; " + _expected_for(clean)
    else:
        msg = f"{node!r}: " + _TYPE_WORDS.get(kind, first["msg"]) if kind in _TYPE_WORDS \
            else f"{first['msg']}"
    return SpecError(file, key, msg)


def _expected_for(path: list) -> str:
    if len(path) >= 3 and path[0] == "hardware" and path[2] == "knobs":
        return "hardware knob values are numbers (or true/false)"
    if len(path) >= 3 and path[0] == "workloads" and path[2] == "knobs":
        return "workload knob values are numbers, strings or true/false"
    return "see the sweep spec schema in codesign/sweep_spec.py"


def _allowed_keys(parent: list) -> list[str]:
    model: type[BaseModel] = SweepSpecModel
    names = [p for p in parent if isinstance(p, str)]
    for n in names:
        ann = {"workloads": WorkloadItem, "hardware": HardwareItem, "search": SearchSpec}.get(n)
        if ann is None:
            break
        model = ann
    return list(model.model_fields)


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
    try:
        model = SweepSpecModel.model_validate(data)
    except ValidationError as err:
        raise _pydantic_to_spec_error(err, file, data) from None
    return _resolve(model, file)


def _resolve(m: SweepSpecModel, file: str) -> SweepPlan:
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
                hw.with_knobs({k: vals[0]})
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
        raw=m.model_dump(mode="json"),
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
           "SweepSpecModel", "METRICS", "ENGINES", "STRATEGIES", "DTYPES", "MODES", "LAYOUTS"]
