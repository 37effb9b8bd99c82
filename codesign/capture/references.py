"""Resolve a workload spec: a zoo name, ``path/to/file.py:factory``, ``package.module:factory``
or a hub model ``timm:NAME`` / ``torchvision:NAME[?kwarg=value&...]`` (codesign.capture.hub),
with knobs (``--set k=v``) and an input shape. Shared by the CLI, sweeps and validation."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from dataclasses import dataclass
from typing import Mapping, Sequence

from codesign.errors import WorkloadError


@dataclass(frozen=True)
class ResolvedWorkload:
    name: str
    model: object                      # nn.Module
    input_shape: tuple[int, ...]
    knobs: Mapping[str, object]


def parse_shape(text: str | Sequence[int], what: str = "--input") -> tuple[int, ...]:
    """'1,3,224,224' or '1x3x224x224' or a list -> (1, 3, 224, 224); one-line error otherwise."""
    if isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        import re

        compact = str(text).replace(" ", "")
        if not re.fullmatch(r"\d+([,x]\d+)*", compact):
            raise WorkloadError(f"{what} = {text!r}; expected comma-separated positive integers like 1,3,224,224")
        parts = re.split(r"[,x]", compact)
    try:
        shape = tuple(int(p) for p in parts)
    except (TypeError, ValueError):
        raise WorkloadError(f"{what} = {text!r}; expected comma-separated positive integers like 1,3,224,224") from None
    if not shape or any(s <= 0 for s in shape):
        raise WorkloadError(f"{what} = {text!r}; expected comma-separated positive integers like 1,3,224,224")
    return shape


def parse_knobs(items: Sequence[str] | None) -> dict[str, str]:
    """['a=1', 'b=x'] -> {'a': '1', 'b': 'x'} (values coerced later by the factory's defaults)."""
    out: dict[str, str] = {}
    for item in items or ():
        if "=" not in item:
            raise WorkloadError(f"--set {item!r}; expected knob=value")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _coerce(value, default):
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    if isinstance(default, bool):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    if isinstance(default, tuple):
        return tuple(type(default[0])(v) for v in value.split(",")) if default else tuple(value.split(","))
    return value


def _literal_knob(text: str):
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _load_factory(spec: str):
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py") or os.sep in target or "/" in target:
        if not os.path.isfile(target):
            raise WorkloadError(f"{target}: no such file (from workload spec {spec!r})")
        mod_name = "codesign_user_" + os.path.splitext(os.path.basename(target))[0]
        loader_spec = importlib.util.spec_from_file_location(mod_name, target)
        module = importlib.util.module_from_spec(loader_spec)
        try:
            loader_spec.loader.exec_module(module)
        except Exception as exc:
            raise WorkloadError(f"{target}: failed to import: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise WorkloadError(f"cannot import module {target!r} (from {spec!r}): {exc}") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        from codesign.errors import did_you_mean

        raise WorkloadError(f"{target}: factory {attr!r} not found{did_you_mean(attr, names)}")
    return factory


def resolve_workload(spec: str, knobs: Mapping[str, object] | None = None,
                     input_shape=None) -> ResolvedWorkload:
    """Build the model for ``spec`` with ``knobs``; the input shape defaults to the zoo entry's
    (or (1, 3, 224, 224) for user factories)."""
    knobs = dict(knobs or {})
    shape = parse_shape(input_shape) if input_shape is not None else None
    from codesign.capture.hub import (build_hub_model, hub_default_input, is_hub_reference,
                                      parse_hub_reference)

    if is_hub_reference(spec):
        # timm:NAME / torchvision:NAME[?k=v&...]; knobs (--set) are constructor arguments too
        ref = parse_hub_reference(spec)
        extra = {k: (_literal_knob(v) if isinstance(v, str) else v) for k, v in knobs.items()}
        model = build_hub_model(ref, extra, spec)
        return ResolvedWorkload(spec, model, shape or hub_default_input(ref),
                                {**dict(ref.kwargs), **extra})
    if ":" in spec:
        factory = _load_factory(spec)
        params = inspect.signature(factory).parameters
        accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        defaults = {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}
        for k, v in list(knobs.items()):
            if k not in params and not accepts_any:
                from codesign.errors import did_you_mean

                raise WorkloadError(f"unknown knob {k!r} for {spec}{did_you_mean(k, params)}; "
                                    f"allowed: {', '.join(params) or 'none'}")
            try:
                knobs[k] = _coerce(v, defaults.get(k))
            except ValueError:
                raise WorkloadError(f"knob {k} = {v!r}; expected a value like {defaults.get(k)!r}") from None
        try:
            model = factory(**knobs)
        except Exception as exc:
            raise WorkloadError(f"{spec}: factory failed: {type(exc).__name__}: {exc}") from None
        return ResolvedWorkload(spec, model, shape or (1, 3, 224, 224), knobs)
    from codesign.zoo import build_workload, get_workload

    entry = get_workload(spec)
    model = build_workload(spec, **knobs)
    return ResolvedWorkload(spec, model, shape or tuple(entry.default_input), knobs)


def trace_workload(spec: str, knobs=None, input_shape=None, phase: str = "inference",
                   strict: bool = False, optimizer: str | None = None, **trace_kw):
    """resolve + trace -> (ResolvedWorkload, OpGraph); ``trace_kw`` go to ``trace`` (e.g.
    ``autocast="fp16"``)."""
    from codesign.capture.tracer import trace

    wl = resolve_workload(spec, knobs, input_shape)
    graph = trace(wl.model, wl.input_shape, phase=phase, strict=strict, optimizer=optimizer,
                  name=spec, **trace_kw)
    return wl, graph
