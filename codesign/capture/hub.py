"""Models from the hubs by name: ``timm:NAME`` and ``torchvision:NAME`` workload references.

A reference is ``HUB:NAME`` with optional constructor keyword arguments after ``?``, joined by
``&``: ``timm:convnext_tiny?drop_path_rate=0``, ``torchvision:inception_v3?transform_input=False``.
Values are read as Python literals (int, float, True/False/None, tuples) or kept as strings.
Models are built untrained (timm ``pretrained=False``, torchvision ``weights=None``): tracing
needs shapes, never weights, and nothing is downloaded.

Construction is the slow part of tracing a large model (random initialisation of hundreds of
millions of parameters): models are first built on the ``meta`` device and materialised with
``to_empty`` (uninitialised storage), which gives the same modules, parameters and buffers
without running the initialisers. A model whose constructor reads tensor values (``.item()``
on a meta tensor fails) is built normally instead. Traced graphs depend on shapes only, so the
values do not matter.

Default input (batch 1): timm's ``pretrained_cfg["input_size"]``; torchvision's default
weights' evaluation crop (``weights.transforms().crop_size``, e.g. 299 for inception_v3), else
3x224x224.

timm and torchvision are the optional ``hub`` extra (``pip install 'codesign[hub]'``); on the
project's machines PyPI's torchvision imports only beside ``torch==2.14.1``
(``pip install torch==2.14.1 torchvision==0.29.1``). A missing extra or an unknown model name is
a one-line :class:`~codesign.errors.WorkloadError`.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

from codesign.errors import WorkloadError, did_you_mean

HUBS = ("timm", "torchvision")
EXTRA_HINT = ("install the hub extra: pip install 'codesign[hub]' (timm, torchvision; with "
              "PyPI's torchvision use torch==2.14.1: pip install torch==2.14.1 torchvision==0.29.1)")


@dataclass(frozen=True)
class HubReference:
    """A parsed ``HUB:NAME?k=v&...`` reference."""

    hub: str
    name: str
    kwargs: tuple[tuple[str, object], ...] = ()

    @property
    def text(self) -> str:
        kw = "&".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in self.kwargs)
        return f"{self.hub}:{self.name}" + (f"?{kw}" if kw else "")


def is_hub_reference(spec: str) -> bool:
    """True for ``timm:...`` / ``torchvision:...`` strings."""
    return isinstance(spec, str) and spec.split(":", 1)[0] in HUBS and ":" in spec


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_hub_reference(spec: str) -> HubReference:
    """``"timm:convnext_tiny?drop_path_rate=0"`` -> HubReference("timm", "convnext_tiny",
    (("drop_path_rate", 0),)); one-line error for a malformed reference."""
    hub, _, rest = spec.partition(":")
    if hub not in HUBS:
        raise WorkloadError(f"workload {spec!r}: unknown hub {hub!r}; allowed: {', '.join(HUBS)}")
    name, _, query = rest.partition("?")
    name = name.strip()
    if not name:
        raise WorkloadError(f"workload {spec!r}: expected {hub}:MODEL_NAME")
    kwargs = []
    for item in filter(None, query.split("&")):
        k, eq, v = item.partition("=")
        if not eq or not k.strip():
            raise WorkloadError(f"workload {spec!r}: constructor argument {item!r}; expected key=value")
        kwargs.append((k.strip(), _literal(v.strip())))
    return HubReference(hub, name, tuple(kwargs))


def _import(hub: str, spec: str):
    try:
        if hub == "timm":
            import timm

            return timm
        import torchvision.models

        return torchvision.models
    except Exception as exc:  # noqa: BLE001 - ImportError, or torchvision's operator registration failing
        raise WorkloadError(f"workload {spec!r} needs {hub} ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''}); {EXTRA_HINT}") from None


def _timm_known(timm, name: str) -> bool:
    if timm.is_model(name):
        return True
    try:
        from timm.models._registry import _deprecated_models

        return any(name in d for d in _deprecated_models.values())
    except (ImportError, AttributeError):  # pragma: no cover - older/newer timm
        return False


def check_hub_name(ref: HubReference, spec: str | None = None):
    """The hub module after checking ``ref.name`` exists (one line with did-you-mean if not)."""
    spec = spec or ref.text
    mod = _import(ref.hub, spec)
    if ref.hub == "timm":
        if not _timm_known(mod, ref.name):
            raise WorkloadError(f"workload {spec!r}: timm has no model {ref.name!r}"
                                f"{did_you_mean(ref.name, mod.list_models())}")
    elif ref.name not in mod.list_models():
        raise WorkloadError(f"workload {spec!r}: torchvision has no model {ref.name!r}"
                            f"{did_you_mean(ref.name, mod.list_models())}")
    return mod


def hub_default_input(ref: HubReference) -> tuple[int, ...]:
    """(1, C, H, W) the model is evaluated at (see module docstring)."""
    mod = check_hub_name(ref)
    if ref.hub == "timm":
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(ref.name)
        size = dict(ref.kwargs).get("img_size")
        if cfg is not None and getattr(cfg, "input_size", None):
            c, h, w = cfg.input_size
            if isinstance(size, int):
                h = w = size
            return (1, int(c), int(h), int(w))
        return (1, 3, 224, 224)
    try:
        weights = mod.get_model_weights(ref.name).DEFAULT
        crop = getattr(weights.transforms(), "crop_size", None)
        if crop:
            return (1, 3, int(crop[0]), int(crop[-1]))
    except Exception:  # noqa: BLE001, S110 - no weights enum / transforms: the generic default
        pass
    return (1, 3, 224, 224)


def build_hub_model(ref: HubReference, extra_kwargs: Mapping[str, object] | None = None,
                    spec: str | None = None):
    """The untrained ``nn.Module`` in eval mode (see the module docstring for how)."""
    import torch

    spec = spec or ref.text
    mod = check_hub_name(ref, spec)
    kwargs = {**dict(ref.kwargs), **dict(extra_kwargs or {})}
    if ref.hub == "timm":
        def make():
            return mod.create_model(ref.name, pretrained=False, **kwargs)
    else:
        import inspect

        # detection / segmentation builders also load an ImageNet backbone unless told not to
        if "weights_backbone" in inspect.signature(mod.get_model_builder(ref.name)).parameters:
            kwargs.setdefault("weights_backbone", None)

        def make():
            return mod.get_model(ref.name, weights=None, **kwargs)
    try:
        with torch.device("meta"):
            model = make()
        model = model.to_empty(device="cpu")
    except Exception:  # noqa: BLE001 - e.g. the constructor reads tensor values: build normally
        try:
            model = make()
        except Exception as exc:  # noqa: BLE001
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkloadError(f"workload {spec!r}: {ref.hub} constructor failed: "
                                f"{type(exc).__name__}: {msg}") from None
    return model.eval()


__all__ = [
    "EXTRA_HINT",
    "HUBS",
    "HubReference",
    "build_hub_model",
    "check_hub_name",
    "hub_default_input",
    "is_hub_reference",
    "parse_hub_reference",
]
