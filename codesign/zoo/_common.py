"""Small helpers shared by the workload modules: closed-set checks and conv/norm shorthands.

Model constructors validate their knobs here so that a bad value raises one
:class:`codesign.errors.WorkloadError` line naming the knob, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from codesign.errors import WorkloadError, did_you_mean


def check_choice(knob: str, value: object, allowed: Iterable[object]) -> None:
    """Raise WorkloadError unless ``value`` is one of ``allowed`` (closed set, style rule 6)."""
    allowed = tuple(allowed)
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise WorkloadError(f"{knob} = {value!r}; allowed: {shown}{did_you_mean(value, allowed)}")


def check_positive(knob: str, value: float) -> None:
    """Raise WorkloadError unless ``value`` > 0."""
    if not value > 0:
        raise WorkloadError(f"{knob} = {value!r}; must be > 0")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10 %
    (the MobileNetV2 / EfficientNet rule, torchvision ``_make_divisible``)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def conv_nd(dims: int) -> type[nn.Module]:
    """nn.Conv2d or nn.Conv3d."""
    check_choice("dims", dims, (2, 3))
    return nn.Conv2d if dims == 2 else nn.Conv3d


def bn_nd(dims: int) -> type[nn.Module]:
    """nn.BatchNorm2d or nn.BatchNorm3d."""
    check_choice("dims", dims, (2, 3))
    return nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d


def maxpool_nd(dims: int) -> type[nn.Module]:
    """nn.MaxPool2d or nn.MaxPool3d."""
    check_choice("dims", dims, (2, 3))
    return nn.MaxPool2d if dims == 2 else nn.MaxPool3d


def conv_bn_act(
    cin: int,
    cout: int,
    kernel: int | tuple[int, int],
    stride: int = 1,
    groups: int = 1,
    act: type[nn.Module] | None = nn.ReLU,
) -> nn.Sequential:
    """Conv2d (no bias, 'same' padding for odd kernels) + BatchNorm2d (+ activation)."""
    if isinstance(kernel, int):
        padding: int | tuple[int, int] = kernel // 2
    else:
        padding = (kernel[0] // 2, kernel[1] // 2)
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, padding, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)
