"""Workload zoo: a registry of vision models and blocks with their knobs.

``WORKLOADS[name]`` is a :class:`WorkloadEntry`: ``factory(**knobs)`` builds the module,
``knobs`` maps every factory keyword to its default, ``default_input`` is the input shape
the MAC figures in the docstrings refer to. :func:`build_workload` validates and coerces
knob values (they may arrive as strings from the CLI) and returns the model in eval mode.

Importing this package only defines classes and the registry; no model is built.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from torch import nn

from codesign.errors import WorkloadError, did_you_mean
from codesign.zoo import (
    convnext, large_kernel, mobilenet, nonlocal_blocks, resnet, small, super_resolution, yolo,
)
from codesign.zoo.conv_blocks import CrossChannelPoolConv

__all__ = ["WorkloadEntry", "WORKLOADS", "LARGE_KERNEL_WORKLOADS", "LARGE_KERNEL_BLOCKS", "get_workload",
           "build_workload", "coerce_knob"]

RES4_INPUT = (1, 1024, 14, 14)  # ResNet-50 res4 at 224 input


@dataclass(frozen=True)
class WorkloadEntry:
    """One registered workload."""

    name: str  # e.g. "resnet50_nl"
    factory: Callable[..., nn.Module]  # factory(**knobs) -> nn.Module
    default_input: tuple[int, ...]  # e.g. (1, 3, 224, 224)
    knobs: Mapping[str, object]  # knob name -> default value (all factory kwargs)
    description: str
    paper: str  # citation (arXiv id)


# Standalone block factories at the ResNet-50 res4 shape (C = 1024, 14x14).

def nl_block(
    in_ch: int = 1024,
    inner: int = 0,
    mode: str = "embedded_gaussian",
    pool: str = "before",
    use_scale: bool = True,
    bn: bool = True,
) -> nn.Module:
    """2-D non-local block; ``inner`` 0 means C // 2."""
    return nonlocal_blocks.NonLocalBlock(in_ch, inner or None, mode, pool, 2, use_scale, bn)


def nl_block_3d(
    in_ch: int = 1024,
    inner: int = 0,
    mode: str = "embedded_gaussian",
    pool: str = "before",
    use_scale: bool = True,
    bn: bool = True,
) -> nn.Module:
    """3-D (spacetime) non-local block with 1x2x2 pooling; ``inner`` 0 means C // 2."""
    return nonlocal_blocks.NonLocalBlock(in_ch, inner or None, mode, pool, 3, use_scale, bn)


def snl_block(in_ch: int = 1024, planes: int = 0, stage_num: int = 1) -> nn.Module:
    """SNL block; ``planes`` 0 means C // 2."""
    return nonlocal_blocks.SpectralNonLocal(in_ch, planes or None, stage_num, generalized=False)


def gsnl_block(in_ch: int = 1024, planes: int = 0, stage_num: int = 1) -> nn.Module:
    """gSNL block; ``planes`` 0 means C // 2."""
    return nonlocal_blocks.SpectralNonLocal(in_ch, planes or None, stage_num, generalized=True)


def ns_block(in_ch: int = 1024, planes: int = 0, stage_num: int = 1) -> nn.Module:
    """Nonlocal stage; ``planes`` 0 means C // 2."""
    return nonlocal_blocks.NonLocalStage(in_ch, planes or None, stage_num)


def a2_block(in_ch: int = 1024, c_m: int = 0, c_n: int = 0) -> nn.Module:
    """Double attention block; ``c_m``/``c_n`` 0 mean C // 4."""
    return nonlocal_blocks.DoubleAttention(in_ch, c_m or None, c_n or None)


def lightnl_block(channels: int = 1024, ratio: float = 0.25, stride: int = 1, kernel: int = 3) -> nn.Module:
    """LightNL block."""
    return nonlocal_blocks.LightNL(channels, ratio, stride, kernel)


def ccp_conv_block(in_ch: int = 128, out_ch: int = 256, factor: int = 2, kernel: int = 3) -> nn.Module:
    """Cross-channel pooling conv at the shape of Tiny-YOLOv2's fifth conv at 416 input
    (128 -> 256 channels at 26x26)."""
    return CrossChannelPoolConv(in_ch, out_ch, factor, kernel)


def _entry(
    name: str, factory: Callable[..., nn.Module], shape: tuple[int, ...], description: str, paper: str
) -> WorkloadEntry:
    """Entry whose knobs are the factory's keyword parameters with their defaults."""
    params = inspect.signature(factory).parameters.values()
    knobs = MappingProxyType({p.name: p.default for p in params})
    return WorkloadEntry(name, factory, shape, knobs, description, paper)


IMAGE = (1, 3, 224, 224)
NL_PAPER = "arXiv:1711.07971"

# Large-kernel and token-mixer seeds (issue 15): whole networks and one block of each at its
# stage shape at 224 input. The blocks are the held-out set of the host CPU validation
# (benchmarks/large_kernel_accuracy.py); benchmarks/accuracy.py leaves all of these out.
_LK = large_kernel
LARGE_KERNEL_ENTRIES = (
    _entry("replknet31b", _LK.replknet31b, IMAGE,
           "RepLKNet-31B (kernels 31-29-27-13 knob, 5x5 re-param branch, merged inference form)", "arXiv:2203.06717"),
    _entry("replknet_block", _LK.replknet_block, (1, 128, 56, 56),
           "RepLK block + ConvFFN at RepLKNet-31B stage 1 (31x31 depthwise, 56x56)", "arXiv:2203.06717"),
    _entry("unireplknet", _LK.unireplknet, IMAGE,
           "UniRepLKNet-A/F/P/N/T/S (Dilated Reparam Blocks; training or merged form)", "arXiv:2311.15599"),
    _entry("unireplknet_block", _LK.unireplknet_block, (1, 320, 14, 14),
           "UniRepLKNet block at UniRepLKNet-T stage 3 (13x13 + dilated branches, SE, GRN)", "arXiv:2311.15599"),
    _entry("slak_t", _LK.slak_t, IMAGE, "SLaK-T (51-49-47-13 kernels decomposed into kx5 + 5xk + 5x5)",
           "arXiv:2207.03620"),
    _entry("slak_block", _LK.slak_block, (1, 124, 56, 56),
           "SLaK-T block at stage 1 (51x5 + 5x51 + 5x5 depthwise)", "arXiv:2207.03620"),
    _entry("dcls_block", _LK.dcls_block, (1, 96, 56, 56),
           "ConvNeXt-T-dcls block at stage 1 (DCLS kernel as a dense 17x17 depthwise conv)", "arXiv:2112.03740"),
    _entry("hornet_t", _LK.hornet_t, IMAGE, "HorNet-T 7x7 (recursive gated convolution gnConv)", "arXiv:2207.14284"),
    _entry("hornet_block", _LK.hornet_block, (1, 128, 28, 28),
           "HorNet-T block at stage 2 (gnConv order 3)", "arXiv:2207.14284"),
    _entry("lsnet_t", _LK.lsnet_t, IMAGE, "LSNet-T (LS conv: large-kernel perception, small-kernel aggregation)",
           "arXiv:2503.23135"),
    _entry("lsnet_block", _LK.lsnet_block, (1, 128, 28, 28),
           "LSNet-T LS conv block + FFN at stage 2 (attention=True: last-stage spatial attention)",
           "arXiv:2503.23135"),
    _entry("lsnet_attention_block", _LK.lsnet_attention_block, (1, 384, 7, 7),
           "LSNet-T last-stage block: spatial softmax attention over positions + FFN", "arXiv:2503.23135"),
    _entry("casvit_block", _LK.casvit_block, (1, 96, 28, 28),
           "CAS-ViT convolutional additive attention block", "arXiv:2408.03703"),
    _entry("efficientmod_block", _LK.efficientmod_block, (1, 64, 28, 28),
           "EfficientMod context modulation block + MLP", "arXiv:2403.19963"),
    _entry("gc_block", _LK.gc_block, (1, 256, 56, 56),
           "GCNet global context block (softmax over positions, then matmul) at R50 res2", "arXiv:1904.11492"),
)
LARGE_KERNEL_WORKLOADS = tuple(e.name for e in LARGE_KERNEL_ENTRIES)
#: the held-out blocks of the host CPU validation (single blocks at their stage shapes)
LARGE_KERNEL_BLOCKS = tuple(n for n in LARGE_KERNEL_WORKLOADS if n.endswith("_block"))

WORKLOADS: Mapping[str, WorkloadEntry] = MappingProxyType({e.name: e for e in (
    _entry("nl_block", nl_block, RES4_INPUT,
           "Non-local block (4 pairwise functions, pool before/after phi,g) at R50 res4", NL_PAPER),
    _entry("nl_block_3d", nl_block_3d, (1, 1024, 4, 14, 14),
           "Spacetime non-local block (conv3d, 1x2x2 pool) at C2D res4, T=4", NL_PAPER),
    _entry("snl_block", snl_block, RES4_INPUT, "Spectral non-local block (2019 code)", "arXiv:1911.01059"),
    _entry("gsnl_block", gsnl_block, RES4_INPUT, "Generalized spectral non-local block (2019 code)",
           "arXiv:1911.01059"),
    _entry("ns_block", ns_block, RES4_INPUT, "Nonlocal stage (ICCV 2021 NSUnit)", "arXiv:2108.02451"),
    _entry("a2_block", a2_block, RES4_INPUT, "Double attention block, gather-first order", "arXiv:1810.11579"),
    _entry("lightnl_block", lightnl_block, RES4_INPUT,
           "LightNL (channel slice, strided keys, min-MAC matmul order, dw3x3 + BN)", "arXiv:2004.01961"),
    _entry("ccp_conv_block", ccp_conv_block, (1, 128, 26, 26),
           "Conv to k*C channels + cross-channel max pooling over k adjacent channels", "arXiv:2104.14124"),
    _entry("resnet50", functools.partial(resnet.resnet, nl_blocks=0), IMAGE,
           "ResNet-50 (torchvision layout; depth=101 for ResNet-101), optional NL blocks", "arXiv:1512.03385"),
    _entry("resnet50_nl", functools.partial(resnet.resnet, nl_blocks=1), IMAGE,
           "ResNet-50 with non-local blocks (nl_blocks 1/5/10, nl_type nl/snl/gsnl/ns/a2)", NL_PAPER),
    _entry("c2d_resnet50_nl", resnet.c2d_resnet, (1, 3, 8, 112, 112),
           "C2D ResNet-50/101 video backbone (conv3d) with 3-D NL blocks", NL_PAPER),
    _entry("resnext50", resnet.resnext50, IMAGE,
           "ResNeXt-50 32x4d, constant groups or constant group size (E2GC)", "arXiv:1611.05431"),
    _entry("mobilenetv1", mobilenet.mobilenetv1, IMAGE,
           "MobileNetV1, depthwise or grouped 3x3 (E2GC group modes)", "arXiv:1704.04861"),
    _entry("mobilenetv2", mobilenet.mobilenetv2, IMAGE, "MobileNetV2 (width, kernel knobs)", "arXiv:1801.04381"),
    _entry("mobilenetv2_lightnl", mobilenet.mobilenetv2_lightnl, IMAGE,
           "MobileNetV2 with LightNL in its last blocks", "arXiv:2004.01961"),
    _entry("autonl_s", mobilenet.autonl_s, IMAGE, "AutoNL-S (searched MBConv + SE + LightNL)", "arXiv:2004.01961"),
    _entry("autonl_l", mobilenet.autonl_l, IMAGE, "AutoNL-L (searched MBConv + SE + LightNL)", "arXiv:2004.01961"),
    _entry("tiny_yolov2", yolo.tiny_yolov2, (1, 3, 416, 416), "Tiny-YOLOv2 VOC", "arXiv:1612.08242"),
    _entry("tiny_yolov2_ccp", yolo.tiny_yolov2_ccp, (1, 3, 416, 416),
           "Tiny-YOLOv2 with Condensation-style cross-channel pooling", "arXiv:2104.14124"),
    _entry("convnext_t", convnext.convnext_t, IMAGE, "ConvNeXt-T (depthwise kernel knob)", "arXiv:2201.03545"),
    _entry("inceptionnext_t", convnext.inceptionnext_t, IMAGE,
           "InceptionNeXt-T (Inception depthwise token mixer)", "arXiv:2303.16900"),
    _entry("espcn", small.espcn, (1, 1, 224, 224), "ESPCN sub-pixel super-resolution", "arXiv:1609.05158"),
    _entry("mha_block", small.mha_block, (1, 197, 384),
           "ViT-S encoder layer via nn.TransformerEncoderLayer (MultiheadAttention)", "arXiv:2010.11929"),
    _entry("sdpa_block", small.sdpa_block, (1, 197, 384),
           "ViT-S encoder block via F.scaled_dot_product_attention", "arXiv:2010.11929"),
    _entry("quicksrnet_small", super_resolution.quicksrnet_small, super_resolution.SR_INPUT,
           "QuickSRNet-Small x4 (32 ch, 2 layers; AI Hub quicksrnetsmall)", "arXiv:2303.04336"),
    _entry("quicksrnet_medium", super_resolution.quicksrnet_medium, super_resolution.SR_INPUT,
           "QuickSRNet-Medium x4 (32 ch, 5 layers; AI Hub quicksrnetmedium)", "arXiv:2303.04336"),
    _entry("quicksrnet_large", super_resolution.quicksrnet_large, super_resolution.SR_INPUT,
           "QuickSRNet-Large x4 (64 ch, 11 layers, ito; AI Hub quicksrnetlarge)", "arXiv:2303.04336"),
    _entry("xlsr", super_resolution.xlsr, super_resolution.SR_INPUT,
           "XLSR x4 (stem, 3 GBlocks, shortcut; AI Hub xlsr)", "arXiv:2105.10288"),
    _entry("sesr_m5", super_resolution.sesr_m5, super_resolution.SR_INPUT,
           "SESR-M5 x4, un-collapsed linear blocks (AI Hub sesr_m5)", "arXiv:2103.09404"),
    _entry("srvggnet_compact", super_resolution.srvggnet_compact, super_resolution.SR_INPUT,
           "SRVGGNetCompact x4 (realesr-general-x4v3)", "arXiv:2107.10833"),
    _entry("rrdbnet_x4", super_resolution.rrdbnet_x4, super_resolution.SR_INPUT,
           "RRDBNet x4 (ESRGAN / Real-ESRGAN x4plus)", "arXiv:1809.00219"),
    _entry("unet", super_resolution.unet, super_resolution.UNET_INPUT,
           "U-Net, milesial Pytorch-UNet (bilinear=False, 2 classes; AI Hub unet_segmentation)",
           "arXiv:1505.04597"),
    *LARGE_KERNEL_ENTRIES,
)})


def get_workload(name: str) -> WorkloadEntry:
    """The registered entry for ``name``; WorkloadError (with a suggestion) if unknown."""
    try:
        return WORKLOADS[name]
    except KeyError:
        known = ", ".join(sorted(WORKLOADS))
        raise WorkloadError(f"unknown workload {name!r}{did_you_mean(name, WORKLOADS)}; known: {known}") from None


_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def _coerce_scalar(value: object, target: type) -> object:
    """Convert ``value`` to ``target`` (int/float/bool/str); ValueError if impossible."""
    if target is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError
    if target is int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                as_float = float(text)
                if as_float.is_integer():
                    return int(as_float)
                raise
        raise ValueError
    if target is float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            return float(value.strip())
        raise ValueError
    if target is str:
        if isinstance(value, str):
            return value.strip()
        raise ValueError
    return value


def _guess_scalar(text: str) -> object:
    """int, else float, else the stripped string (tuple elements with no typed default)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def coerce_knob(workload: str, knob: str, value: object, default: object) -> object:
    """``value`` converted to the type of ``default`` (int/float/bool/str/tuple).

    Tuples accept a sequence or a comma-separated string (``"0,1,2"``, ``"(0, 1)"``,
    ``""`` for the empty tuple); elements take the type of the default's first element.
    A default of None accepts anything unchanged.
    """
    if default is None:
        return value
    target = type(default)
    try:
        if isinstance(default, tuple):
            if isinstance(value, str):
                text = value.strip().strip("()[]")
                items: list[object] = [t for t in (s.strip() for s in text.split(",")) if t]
            elif isinstance(value, (list, tuple)):
                items = list(value)
            else:
                items = [value]
            if default:
                return tuple(_coerce_scalar(v, type(default[0])) for v in items)
            return tuple(_guess_scalar(v) if isinstance(v, str) else v for v in items)
        return _coerce_scalar(value, target)
    except ValueError:
        shown = f"tuple of {type(default[0]).__name__}" if isinstance(default, tuple) and default else target.__name__
        raise WorkloadError(f"workload {workload!r}: knob {knob} = {value!r} is not a valid {shown}") from None


def build_workload(name: str, **knobs: object) -> nn.Module:
    """Build workload ``name`` with ``knobs`` over its defaults, in eval mode.

    Unknown knobs and values that cannot be coerced or are outside the allowed set raise
    WorkloadError naming the workload, the knob and what is allowed.
    """
    entry = get_workload(name)
    kwargs: dict[str, object] = {}
    for knob, value in knobs.items():
        if knob not in entry.knobs:
            allowed = ", ".join(entry.knobs) or "(none)"
            raise WorkloadError(
                f"unknown knob {knob!r} for workload {name!r}{did_you_mean(knob, entry.knobs)}; allowed: {allowed}"
            )
        kwargs[knob] = coerce_knob(name, knob, value, entry.knobs[knob])
    try:
        model = entry.factory(**kwargs)
    except WorkloadError as err:
        raise WorkloadError(f"workload {name!r}: {err}") from err
    except (ValueError, RuntimeError) as err:
        raise WorkloadError(f"workload {name!r} with {kwargs}: {err}") from err
    return model.eval()
