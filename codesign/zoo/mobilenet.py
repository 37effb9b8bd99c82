"""Mobile networks: MobileNetV2 (+ LightNL), AutoNL-S/L, MobileNetV1 with grouping modes."""

from __future__ import annotations

import torch
from torch import nn

from codesign.errors import WorkloadError
from codesign.zoo._common import check_choice, check_positive, conv_bn_act, make_divisible
from codesign.zoo.conv_blocks import MBConv

# (expand t, out c, repeat n, stride s), MobileNetV2 paper Table 2.
MOBILENETV2_SETTINGS = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)

# AutoNL rows [t, c, n, s, dw kernel, nl_c (ratio r), nl_s (stride), se_ratio], papers.md 4
# (meijieru/yet_another_mobilenet_series apps/searched/models/autonl/autonl_{s,l}.yml).
AUTONL_S_ROWS = (
    (1, 16, 1, 1, 3, 0.00, 1, 0.00), (3, 24, 1, 2, 3, 0.25, 1, 0.00), (3, 24, 1, 1, 3, 0.00, 1, 0.00),
    (3, 40, 1, 2, 5, 0.25, 1, 0.00), (3, 40, 1, 1, 3, 0.25, 2, 0.00), (3, 40, 1, 1, 3, 0.00, 1, 0.00),
    (6, 80, 1, 2, 5, 0.25, 1, 0.25), (3, 80, 1, 1, 3, 0.00, 1, 0.50), (3, 80, 1, 1, 3, 0.00, 1, 0.50),
    (6, 96, 1, 1, 5, 0.25, 1, 0.25), (3, 96, 1, 1, 3, 0.00, 1, 0.50), (3, 96, 1, 1, 3, 0.00, 1, 0.50),
    (3, 96, 1, 1, 3, 0.00, 1, 0.50),
    (6, 192, 1, 2, 5, 0.25, 1, 0.25), (3, 192, 1, 1, 5, 0.00, 1, 0.50), (3, 192, 1, 1, 5, 0.00, 1, 0.50),
    (3, 192, 1, 1, 5, 0.00, 1, 0.50),
    (6, 320, 1, 1, 5, 0.25, 1, 0.50),
)
AUTONL_L_ROWS = (
    (1, 16, 1, 1, 3, 0, 1, 0), (3, 24, 1, 2, 5, 0.25, 1, 0), (3, 24, 1, 1, 5, 0, 1, 0),
    (3, 24, 1, 1, 3, 0.25, 2, 0),
    (6, 40, 1, 2, 5, 0.25, 1, 0), (3, 40, 1, 1, 3, 0.25, 2, 0), (3, 40, 1, 1, 3, 0.25, 2, 0),
    (3, 40, 1, 1, 3, 0.25, 2, 0),
    (6, 80, 1, 2, 5, 0.25, 1, 0), (3, 80, 1, 1, 3, 0.0, 1, 0.5), (3, 80, 1, 1, 3, 0.0, 1, 0.5),
    (3, 80, 1, 1, 3, 0.125, 2, 0.5),
    (6, 96, 1, 1, 5, 0.25, 1, 0.5), (3, 96, 1, 1, 5, 0.0, 1, 0.5), (3, 96, 1, 1, 5, 0.0, 1, 0.5),
    (3, 96, 1, 1, 3, 0.25, 2, 0.5),
    (6, 192, 1, 2, 5, 0.25, 1, 0.5), (6, 192, 1, 1, 5, 0.125, 1, 0.5), (6, 192, 1, 1, 5, 0.125, 1, 0.5),
    (6, 192, 1, 1, 5, 0, 1, 0.5),
    (6, 320, 1, 1, 5, 0.25, 1, 0.5),
)


class _Classifier(nn.Module):
    """Stem -> blocks -> 1x1 head conv -> global average pool -> dropout -> fc."""

    def __init__(
        self, stem: nn.Module, blocks: nn.Module, head: nn.Module, features: int, num_classes: int, dropout: float
    ) -> None:
        super().__init__()
        self.stem, self.blocks, self.head = stem, blocks, head
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))  # [B, F, H/32, W/32]
        return self.fc(self.dropout(x.mean((2, 3))))  # [B, classes]


def mobilenetv2(
    width: float = 1.0,
    kernel: int = 3,
    nl_ratio: float = 0.25,
    nl_stride: int = 1,
    lightnl_blocks: int = 0,
    num_classes: int = 1000,
) -> nn.Module:
    """MobileNetV2 (Sandler et al., arXiv:1801.04381), torchvision layout (ReLU6, width
    rounded to multiples of 8, last channel 1280 * max(1, width)); at width 1.0 and 224
    input: 0.30 GMACs, 3.50 M params.

    LightNL (Li et al., arXiv:2004.01961) blocks with channel ratio ``nl_ratio`` and strided
    slicing ``nl_stride`` go into the last ``lightnl_blocks`` of the 17 inverted residual
    blocks, after the projection conv + BN (AutoNL placement inside a block). Which blocks
    get LightNL in a hand-made MobileNetV2 is our choice, not the paper's (AutoNL searched
    it); ``kernel`` sets every depthwise kernel (3/5/7).
    """
    check_positive("width", width)
    check_choice("kernel", kernel, (3, 5, 7))
    n_blocks = sum(n for _, _, n, _ in MOBILENETV2_SETTINGS)
    if not 0 <= lightnl_blocks <= n_blocks:
        raise WorkloadError(f"lightnl_blocks = {lightnl_blocks}; allowed: 0..{n_blocks}")
    if lightnl_blocks and not nl_ratio > 0:
        raise WorkloadError(f"nl_ratio = {nl_ratio}; must be > 0 when lightnl_blocks > 0")
    cin = make_divisible(32 * width)
    last = make_divisible(1280 * max(1.0, width))
    stem = conv_bn_act(3, cin, 3, 2, act=nn.ReLU6)  # [B, 32w, H/2, W/2]
    blocks: list[nn.Module] = []
    for t, c, n, s in MOBILENETV2_SETTINGS:
        cout = make_divisible(c * width)
        for i in range(n):
            with_nl = len(blocks) >= n_blocks - lightnl_blocks
            blocks.append(MBConv(cin, cout, s if i == 0 else 1, t, kernel, nn.ReLU6,
                                 nl_ratio=nl_ratio if with_nl else 0.0, nl_stride=nl_stride))
            cin = cout
    head = conv_bn_act(cin, last, 1, act=nn.ReLU6)
    return _Classifier(stem, nn.Sequential(*blocks), head, last, num_classes, 0.2)


def mobilenetv2_lightnl(
    width: float = 1.0,
    kernel: int = 3,
    nl_ratio: float = 0.25,
    nl_stride: int = 1,
    lightnl_blocks: int = 5,
    num_classes: int = 1000,
) -> nn.Module:
    """MobileNetV2 with LightNL in its last 5 inverted residual blocks by default (the last
    96-channel block at 14x14 and the four 7x7 blocks); see :func:`mobilenetv2`."""
    return mobilenetv2(width, kernel, nl_ratio, nl_stride, lightnl_blocks, num_classes)


def _autonl(rows: tuple, num_classes: int, dropout: float) -> nn.Module:
    """AutoNL network from the searched rows (papers.md 4): stem 3x3/2 32 channels,
    MBConv blocks with Swish, SE and LightNL, 1x1 conv to 1280, GAP, fc.

    Assumptions (the yml gives the rows, not the block code): SE squeezes to
    int(block_in * se_ratio) channels with Swish inside and a sigmoid gate (EfficientNet
    convention); every conv without bias + BN; LightNL uses the output channels of the
    block with its 3x3 depthwise conv. MACs counted as conv + linear + matmul.
    """
    act = nn.SiLU
    stem = conv_bn_act(3, 32, 3, 2, act=act)  # [B, 32, 112, 112]
    blocks: list[nn.Module] = []
    cin = 32
    for t, c, n, s, k, nl_c, nl_s, se in rows:
        for i in range(n):
            blocks.append(MBConv(cin, c, s if i == 0 else 1, t, k, act, se, nl_c, nl_s))
            cin = c
    head = conv_bn_act(cin, 1280, 1, act=act)
    return _Classifier(stem, nn.Sequential(*blocks), head, 1280, num_classes, dropout)


def autonl_s(num_classes: int = 1000) -> nn.Module:
    """AutoNL-S (Li et al., CVPR 2020, arXiv:2004.01961): published 267M MACs, 4.4M params."""
    return _autonl(AUTONL_S_ROWS, num_classes, 0.2)


def autonl_l(num_classes: int = 1000) -> nn.Module:
    """AutoNL-L (Li et al., CVPR 2020, arXiv:2004.01961): published 353M MACs, 5.6M params."""
    return _autonl(AUTONL_L_ROWS, num_classes, 0.2)


# MobileNetV1 (Howard et al., arXiv:1704.04861, Table 1): (out channels, stride) of each
# depthwise separable layer.
MOBILENETV1_LAYERS = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)


def mobilenetv1(
    width: float = 1.0,
    group_mode: str = "depthwise",
    groups: int = 32,
    group_size: int = 8,
    num_classes: int = 1000,
) -> nn.Module:
    """MobileNetV1 (Howard et al., arXiv:1704.04861): 3x3/2 conv 32, 13 separable layers,
    GAP, fc (0.57 GMACs, 4.2 M params at width 1.0, 224).

    ``group_mode`` sets the grouping of the 3x3 spatial convs for E2GC studies (Jha et al.,
    arXiv:2006.15100): ``depthwise`` (group size 1, the original), ``constant_groups``
    (``groups`` groups in every layer, capped at the channel count) or
    ``constant_group_size`` (groups of ``group_size`` channels, E2GC).
    """
    check_positive("width", width)
    check_choice("group_mode", group_mode, ("depthwise", "constant_groups", "constant_group_size"))
    check_positive("groups", groups)
    check_positive("group_size", group_size)

    def n_groups(ch: int) -> int:
        if group_mode == "depthwise":
            return ch
        g = min(groups, ch) if group_mode == "constant_groups" else max(1, ch // group_size)
        if ch % g:
            raise WorkloadError(f"{group_mode}: {g} groups do not divide {ch} channels; choose another value")
        return g

    cin = make_divisible(32 * width)
    stem = conv_bn_act(3, cin, 3, 2)
    layers: list[nn.Module] = []
    for c, s in MOBILENETV1_LAYERS:
        cout = make_divisible(c * width)
        layers += [conv_bn_act(cin, cin, 3, s, groups=n_groups(cin)), conv_bn_act(cin, cout, 1)]
        cin = cout
    return _Classifier(stem, nn.Sequential(*layers), nn.Identity(), cin, num_classes, 0.0)
