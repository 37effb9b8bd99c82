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

``?rebuild=NAME`` (timm only; not a constructor argument) rebuilds layers after construction,
to trace a model as an older timm release defined it: ``rebuild='inplace_abn'`` turns every
``BatchNormAct2d`` into ``InplaceAbn`` (pre-0.9 TResNet, the removed ``*_iabn`` models;
``codesign.published.timm.DEFINITION_CHANGES``).

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


#: timm's deprecated names whose mapping points at another architecture (timm 0.9-1.0's
#: ``models/resnet.py`` maps ig_resnext101_32x16d / 32x32d / 32x48d to
#: ``resnext101_32x8d.fb_wsl_ig1b_ft_in1k``): built as the architecture the name denotes, as
#: (timm name, constructor arguments); timm no longer registers resnext101_32x48d, which is
#: resnext101_32x32d's constructor with ``base_width=48``
TIMM_ALIAS_ERRATA = {
    "ig_resnext101_32x16d": ("resnext101_32x16d", {}),
    "ig_resnext101_32x32d": ("resnext101_32x32d", {}),
    "ig_resnext101_32x48d": ("resnext101_32x32d", {"base_width": 48}),
}


def timm_architecture(name: str) -> tuple[str, dict]:
    """The timm name and constructor arguments to build for ``name``: itself, or the right
    architecture for a deprecated name timm maps to another one (:data:`TIMM_ALIAS_ERRATA`)."""
    arch, kwargs = TIMM_ALIAS_ERRATA.get(name, (name, {}))
    return arch, dict(kwargs)


def _timm_known(timm, name: str) -> bool:
    if timm.is_model(name):
        return True
    try:
        from timm.models._registry import _deprecated_models

        return name in _deprecated_models
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


def norm_act_to_inplace_abn(model):
    """``model`` with every timm ``BatchNormAct2d`` (BatchNorm + activation) replaced by timm's
    ``InplaceAbn`` with the same features, eps, momentum and activation (leaky_relu with its
    slope, elu, or none; a ReLU becomes leaky_relu with InplaceAbn's default slope 0.01, the
    activation timm's ``_iabn`` models used): the layers of a pre-0.9 TResNet and of the
    removed ``*_iabn`` models."""
    import torch
    from timm.layers import BatchNormAct2d, InplaceAbn

    from codesign.errors import CodesignError

    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if not isinstance(child, BatchNormAct2d):
                continue
            act = child.act
            if isinstance(act, torch.nn.LeakyReLU):
                kind, param = "leaky_relu", act.negative_slope
            elif isinstance(act, torch.nn.ReLU):
                kind, param = "leaky_relu", 0.01
            elif isinstance(act, torch.nn.ELU):
                kind, param = "elu", act.alpha
            elif isinstance(act, torch.nn.Identity):
                kind, param = "identity", 0.0
            else:
                raise CodesignError(f"{type(act).__name__} has no InplaceAbn activation")
            setattr(parent, name, InplaceAbn(child.num_features, eps=child.eps,
                                             momentum=child.momentum or 0.1,
                                             affine=child.affine, act_layer=kind,
                                             act_param=param))
    return model


#: rebuilds a timm reference may ask for with ``?rebuild=NAME`` (applied after construction,
#: not passed to the constructor): the layers a model had in an older timm release
#: (``codesign.published.timm.DEFINITION_CHANGES``)
REBUILDS = {"inplace_abn": norm_act_to_inplace_abn}


def build_hub_model(ref: HubReference, extra_kwargs: Mapping[str, object] | None = None,
                    spec: str | None = None):
    """The untrained ``nn.Module`` in eval mode (see the module docstring for how)."""
    import torch

    spec = spec or ref.text
    mod = check_hub_name(ref, spec)
    kwargs = {**dict(ref.kwargs), **dict(extra_kwargs or {})}
    rebuild = kwargs.pop("rebuild", None) if ref.hub == "timm" else None
    if rebuild is not None and rebuild not in REBUILDS:
        raise WorkloadError(f"workload {spec!r}: rebuild={rebuild!r}; allowed: "
                            f"{', '.join(REBUILDS)}")
    if ref.hub == "timm":
        def make():
            arch, fixed = timm_architecture(ref.name)
            return mod.create_model(arch, pretrained=False, **{**fixed, **kwargs})
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
            raise WorkloadError(f"workload {spec!r}: {ref.hub} constructor failed: "
                                f"{type(exc).__name__}: {_first_line(exc)}") from None
    if rebuild is not None:
        try:
            model = REBUILDS[rebuild](model)
        except Exception as exc:  # noqa: BLE001 - a layer the rebuild cannot map
            raise WorkloadError(f"workload {spec!r}: rebuild={rebuild!r} failed: "
                                f"{type(exc).__name__}: {_first_line(exc)}") from None
    return model.eval()


def _first_line(exc) -> str:
    """An exception's message as one line (its type name when empty)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


__all__ = [
    "EXTRA_HINT",
    "HUBS",
    "REBUILDS",
    "HubReference",
    "build_hub_model",
    "check_hub_name",
    "hub_default_input",
    "is_hub_reference",
    "norm_act_to_inplace_abn",
    "parse_hub_reference",
]
