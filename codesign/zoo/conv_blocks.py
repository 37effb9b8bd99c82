"""Convolution building blocks shared by the networks: cross-channel pooling conv,
ResNet bottlenecks (2-D, C2D video, ResNeXt), MBConv with SE and optional LightNL."""

from __future__ import annotations

import torch
from torch import nn

from codesign.zoo._common import check_choice, check_positive
from codesign.zoo.nonlocal_blocks import LightNL


class CrossChannelPoolConv(nn.Module):
    """Conv producing k*C channels, then max over groups of k adjacent channels
    (cross-channel pooling, Condensation-Net, arXiv:2104.14124; papers.md 5).

    The pooling is ``y.view(B, C, k, H, W).amax(dim=2)`` right after the conv, so a tracer
    sees a reduction over a channel-group axis that a fused kernel could apply before the
    store ("virtual feature maps"). Assumption (architecture not published): conv without
    bias -> CCP -> BN -> LeakyReLU(0.1), i.e. BN and activation act on the pooled C
    channels (a folded inference BN would sit in the conv; the max then sees BN-scaled
    values, which the paper does not specify).
    """

    def __init__(
        self,
        in_ch: int = 128,
        out_ch: int = 256,
        factor: int = 2,
        kernel: int = 3,
        stride: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        check_positive("factor", factor)
        self.out_ch, self.factor = out_ch, factor
        self.conv = nn.Conv2d(in_ch, out_ch * factor, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.act = nn.LeakyReLU(0.1) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # [B, k*C, H, W]
        b, _, h, w = y.shape
        y = y.view(b, self.out_ch, self.factor, h, w).amax(dim=2)  # [B, C, H, W]
        return self.act(self.bn(y))


class Bottleneck(nn.Module):
    """ResNet bottleneck, torchvision layout (He et al., arXiv:1512.03385; stride on the 3x3,
    "ResNet v1.5"). ``groups``/``base_width`` give ResNeXt (arXiv:1611.05431).

    ``dims=3`` builds the C2D video bottleneck of the NL paper Table 1: every kernel is
    1xkxk (no temporal extent) and strides are (1, s, s).
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        width: int | None = None,
        groups: int = 1,
        dims: int = 2,
    ) -> None:
        super().__init__()
        check_choice("dims", dims, (2, 3))
        width = width if width else planes
        out = planes * self.expansion
        if dims == 2:
            conv, bn = nn.Conv2d, nn.BatchNorm2d
            k1, k3, pad3, st = 1, 3, 1, stride
        else:
            conv, bn = nn.Conv3d, nn.BatchNorm3d
            k1, k3, pad3, st = (1, 1, 1), (1, 3, 3), (0, 1, 1), (1, stride, stride)
        self.conv1 = conv(inplanes, width, k1, bias=False)
        self.bn1 = bn(width)
        self.conv2 = conv(width, width, k3, st, pad3, groups=groups, bias=False)
        self.bn2 = bn(width)
        self.conv3 = conv(width, out, k1, bias=False)
        self.bn3 = bn(out)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(conv(inplanes, out, k1, st, bias=False), bn(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al., arXiv:1709.01507) as in MnasNet/EfficientNet:
    GAP -> 1x1 conv (reduce) -> act -> 1x1 conv (expand) -> sigmoid gate on the expanded
    features."""

    def __init__(self, channels: int, hidden: int, act: type[nn.Module] = nn.SiLU) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.act = act()
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # [B, C, 1, 1]
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2, Sandler et al., arXiv:1801.04381): 1x1 expand (skipped
    when t = 1) -> kxk depthwise -> [SE] -> 1x1 project + BN -> [LightNL] -> (+ x).

    LightNL sits after the projection conv + BN and before the skip add, as in the AutoNL
    code (papers.md 4). SE hidden width = max(1, int(in_ch * se_ratio)) (EfficientNet
    convention; assumption, see ``codesign.zoo.mobilenet.autonl``).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        stride: int,
        expand: float,
        kernel: int = 3,
        act: type[nn.Module] = nn.ReLU6,
        se_ratio: float = 0.0,
        nl_ratio: float = 0.0,
        nl_stride: int = 1,
    ) -> None:
        super().__init__()
        check_choice("stride", stride, (1, 2))
        hidden = int(round(in_ch * expand))
        self.use_residual = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(in_ch, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act()]
        layers += [
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            act(),
        ]
        if se_ratio > 0:
            layers.append(SqueezeExcite(hidden, max(1, int(in_ch * se_ratio)), act))
        layers += [nn.Conv2d(hidden, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)]
        self.body = nn.Sequential(*layers)
        self.nl = LightNL(out_ch, nl_ratio, nl_stride) if nl_ratio > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)  # [B, C_out, H', W']
        if self.nl is not None:
            y = self.nl(y)
        return y + x if self.use_residual else y
