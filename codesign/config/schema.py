"""The one validation engine for every YAML the project reads (hardware specs, sweep specs).

A schema is a frozen dataclass whose fields carry their check in metadata
(``spec_field(Num(integer=True))``); :func:`build` turns a parsed mapping into that dataclass
or raises one :class:`~codesign.errors.SpecError` line ``file: key.path = value; expected ...``
naming the first problem (unknown keys with a did-you-mean, missing keys, wrong types, values
out of range). Checks are data, so the same rule validates a YAML key and a swept knob value
(``HardwareSpec.with_knobs``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any, Iterator

import numpy as np

from codesign.errors import SpecError, did_you_mean

# --------------------------------------------------------------------------- immutable mapping


class FrozenDict(Mapping):
    """A read-only, hashable, picklable mapping (MappingProxyType does not pickle, which Dask needs)."""

    __slots__ = ("_d",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._d = dict(*args, **kwargs)

    def __getitem__(self, key: str) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    # the dict's own lookups (Mapping's generic ones go through __getitem__ and KeyError: the
    # cost models look efficiencies and energies up thousands of times per simulation)
    def __contains__(self, key: object) -> bool:
        return key in self._d

    def get(self, key: str, default: Any = None) -> Any:
        return self._d.get(key, default)

    def __hash__(self) -> int:
        return hash(tuple(self._d.items()))

    def __repr__(self) -> str:
        return f"FrozenDict({self._d!r})"

    def __reduce__(self):
        return (FrozenDict, (self._d,))


def deep_freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return FrozenDict({str(k): deep_freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(deep_freeze(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


# --------------------------------------------------------------------------- field checks


@dataclass(frozen=True)
class Num:
    """A number: integer or real, with a lower bound, optional upper bound or allowed set."""

    integer: bool = False
    lower: float = 0.0
    lower_inclusive: bool = False
    upper: float | None = None
    allowed: tuple[int, ...] | None = None

    def expected(self) -> str:
        if self.allowed:
            return "allowed: " + ", ".join(str(a) for a in self.allowed)
        if self.upper is not None:
            lo = "[" if self.lower_inclusive else "("
            return f"expected a number in {lo}{self.lower:g}, {self.upper:g}]"
        what = "an integer" if self.integer else "a number"
        if self.lower == 0 and not self.lower_inclusive:
            return f"expected a positive {what.split(' ', 1)[1]}"
        return f"expected {what} {'>=' if self.lower_inclusive else '>'} {self.lower:g}"

    def convert(self, v: Any) -> int | float | None:
        """The converted value, or None when v does not satisfy the check."""
        # numbers.Real admits numpy scalars (calibration output); bools are not numbers here
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            return None
        if not math.isfinite(v):
            return None
        if self.integer:
            if isinstance(v, float) and not v.is_integer():
                return None
            v = int(v)
        else:
            v = float(v)
        if self.allowed is not None:
            return v if v in self.allowed else None
        if v < self.lower or (v == self.lower and not self.lower_inclusive):
            return None
        if self.upper is not None and v > self.upper:
            return None
        return v


@dataclass(frozen=True)
class Str:
    allowed: tuple[str, ...] | None = None
    nonempty: bool = False


@dataclass(frozen=True)
class StrSet:
    """A non-empty list of distinct strings from ``allowed``; stored as a tuple."""

    allowed: tuple[str, ...]


@dataclass(frozen=True)
class NumMap:
    """A mapping from a closed key set to numbers; stored as a FrozenDict."""

    keys: tuple[str, ...]
    value: Num
    empty_ok: bool = False    # a missing key reads as an empty mapping


@dataclass(frozen=True)
class Bool:
    pass


@dataclass(frozen=True)
class Section:
    cls: type


@dataclass(frozen=True)
class Free:
    """Free-form YAML mapping (provenance); deep-frozen."""


POS_INT = Num(integer=True)
POS = Num()
NONNEG = Num(lower_inclusive=True)
FRACTION = Num(upper=1.0)


def spec_field(check: Any, default: Any = MISSING, *, default_factory: Any = MISSING) -> Any:
    """A dataclass field carrying its load-time check in metadata."""
    return field(default=default, default_factory=default_factory, metadata={"check": check})



def show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return repr(v)
    text = json.dumps(v, default=str) if isinstance(v, (list, dict)) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def bad_value(file: str, key: str, value: Any, expected: str) -> SpecError:
    """``file: key = value; expected ...`` (the key path stays in .key for programs)."""
    err = SpecError(file, key, f"{show(value)}; {expected}")
    err.args = (f"{file}: {key} = {show(value)}; {expected}",)
    return err


def unknown_key(file: str, prefix: str, key: Any, allowed: tuple[str, ...]) -> SpecError:
    path = f"{prefix}.{key}" if prefix else str(key)
    hint = did_you_mean(str(key), allowed)
    tail = hint if hint else f"; allowed: {', '.join(allowed)}"
    return SpecError(file, path, f"unknown key {str(key)!r}{tail}")


def build(cls: type, data: Any, file: str, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise bad_value(file, prefix or "<top level>", data, "expected a mapping of keys")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            raise unknown_key(file, prefix, key, tuple(fields))
    kwargs = {}
    for name, f in fields.items():
        path = f"{prefix}.{name}" if prefix else name
        check = f.metadata["check"]
        if name not in data:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue
            if isinstance(check, NumMap) and check.empty_ok:
                kwargs[name] = FrozenDict()
                continue
            raise SpecError(file, path, f"missing required key ({describe(check)})")
        if data[name] is None and f.default is None:   # an optional key given as null
            kwargs[name] = None
            continue
        kwargs[name] = convert(check, data[name], file, path)
    return cls(**kwargs)


def describe(check: Any) -> str:
    if isinstance(check, Num):
        return check.expected()
    if isinstance(check, Str):
        return "allowed: " + ", ".join(check.allowed) if check.allowed else "expected a string"
    if isinstance(check, StrSet):
        return "a list from: " + ", ".join(check.allowed)
    if isinstance(check, NumMap):
        return "a mapping with keys from: " + ", ".join(check.keys)
    if isinstance(check, Section):
        return "a mapping"
    if isinstance(check, Bool):
        return "true or false"
    return "a mapping"


def convert(check: Any, v: Any, file: str, path: str) -> Any:
    if isinstance(check, Num):
        out = check.convert(v)
        if out is None:
            raise bad_value(file, path, v, check.expected())
        return out
    if isinstance(check, Bool):
        if not isinstance(v, bool):
            raise bad_value(file, path, v, "expected true or false")
        return v
    if isinstance(check, Str):
        if not isinstance(v, str) or (check.nonempty and not v.strip()):
            raise bad_value(file, path, v, "expected a non-empty string" if check.nonempty
                             else "expected a string")
        if check.allowed is not None and v not in check.allowed:
            raise bad_value(file, path, v, "allowed: " + ", ".join(check.allowed)
                             + did_you_mean(v, check.allowed))
        return v
    if isinstance(check, StrSet):
        if isinstance(v, str) or not isinstance(v, (list, tuple)) or not v:
            raise bad_value(file, path, v, "expected a non-empty list from: "
                             + ", ".join(check.allowed))
        for i, item in enumerate(v):
            if item not in check.allowed:
                raise bad_value(file, f"{path}[{i}]", item, "allowed: " + ", ".join(
                    check.allowed) + did_you_mean(str(item), check.allowed))
        if len(set(v)) != len(v):
            raise bad_value(file, path, v, "expected distinct entries")
        return tuple(v)
    if isinstance(check, NumMap):
        if v is None:
            v = {}
        if not isinstance(v, Mapping):
            raise bad_value(file, path, v, "expected a mapping with keys from: "
                             + ", ".join(check.keys))
        out = {}
        for k, x in v.items():
            if k not in check.keys:
                raise unknown_key(file, path, k, check.keys)
            out[k] = convert(check.value, x, file, f"{path}.{k}")
        return FrozenDict(out)
    if isinstance(check, Section):
        return build(check.cls, v, file, path)
    if isinstance(check, Free):
        if v is None:
            return FrozenDict()
        if not isinstance(v, Mapping):
            raise bad_value(file, path, v, "expected a mapping")
        return deep_freeze(v)
    return _convert_container(check, v, file, path)


# --------------------------------------------------------------------------- containers


@dataclass(frozen=True)
class ListOf:
    """A list of ``item`` (stored as a tuple); ``scalar_ok``: a lone value means a one-element
    list; ``min_len``: at least that many; ``distinct``: no repeated values."""

    item: Any
    min_len: int = 1
    scalar_ok: bool = False
    distinct: bool = False


@dataclass(frozen=True)
class MapOf:
    """A mapping with free string keys and ``value``-checked values (stored as a FrozenDict)."""

    value: Any


@dataclass(frozen=True)
class Scalar:
    """One YAML scalar: a finite number or true/false (and a string unless ``numeric``)."""

    numeric: bool = False

    def expected(self) -> str:
        return "expected a number or true/false" if self.numeric else \
            "expected a number, a string or true/false"

    def ok(self, v: Any) -> bool:
        if isinstance(v, bool):
            return True
        if isinstance(v, numbers.Real):
            return math.isfinite(v)
        return isinstance(v, str) and not self.numeric


@dataclass(frozen=True)
class AnyOf:
    """The first of ``checks`` that accepts the value; else one error listing what was expected
    (``what``)."""

    checks: tuple
    what: str


def _convert_container(check: Any, v: Any, file: str, path: str) -> Any:
    if isinstance(check, ListOf):
        if check.scalar_ok and not isinstance(v, (list, tuple, Mapping)) and v is not None:
            v = [v]
        if not isinstance(v, (list, tuple)):
            raise bad_value(file, path, v, "expected a list")
        if len(v) < check.min_len:
            raise SpecError(file, path, "empty list; give at least one value" if not v
                            else f"expected at least {check.min_len} entries")
        out = tuple(convert(check.item, x, file, f"{path}[{i}]") for i, x in enumerate(v))
        if check.distinct and len(set(map(repr, out))) != len(out):
            raise SpecError(file, path, f"{show(list(v))}: duplicate values")
        return out
    if isinstance(check, MapOf):
        if not isinstance(v, Mapping):
            raise bad_value(file, path, v, "expected a mapping")
        return FrozenDict({str(k): convert(check.value, x, file, f"{path}.{k}") for k, x in v.items()})
    if isinstance(check, Scalar):
        if not check.ok(v):
            raise SpecError(file, path, f"{show(v)} has the wrong type; {check.expected()}")
        return v
    if isinstance(check, AnyOf):
        for c in check.checks:
            try:
                return convert(c, v, file, path)
            except SpecError:
                continue
        raise bad_value(file, path, v, check.what)
    raise AssertionError(f"no converter for {check!r}")  # internal invariant


__all__ = ["FrozenDict", "deep_freeze", "Num", "Str", "StrSet", "NumMap", "Bool", "Section",
           "Free", "ListOf", "MapOf", "Scalar", "AnyOf", "POS_INT", "POS", "NONNEG", "FRACTION",
           "spec_field", "build", "convert", "describe", "show", "bad_value", "unknown_key"]
