"""ResNet-50/101 with non-local insertion points (image and C2D video) and ResNeXt-50 with
two grouping modes (E2GC)."""

from __future__ import annotations

import torch
from torch import nn

from codesign.errors import WorkloadError
from codesign.zoo._common import check_choice, check_positive
from codesign.zoo.conv_blocks import Bottleneck
from codesign.zoo.nonlocal_blocks import (
    NL_MODES,
    NL_POOLS,
    DoubleAttention,
    NonLocalBlock,
    NonLocalStage,
    SpectralNonLocal,
)

STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
NL_COUNTS = (0, 1, 5, 10)
NL_TYPES = ("nl", "snl", "gsnl", "ns", "a2")


def nl_positions(nl_blocks: int, res3_len: int, res4_len: int) -> tuple[set[int], set[int]]:
    """Indices of the residual blocks of (res3, res4) *after* which a non-local block goes
    (NL paper section 1.2 / official ``resnet_helper.py``):

    * 1: right before the last residual block of res4 (after block res4_len - 2);
    * 5: every other block, 2 in res3 (after blocks 1, 3) and 3 in res4 (after the blocks
      res4_len - 5, - 3, - 1; for R50 that is 1, 3, 5 = ``idx % 2 == 1``);
    * 10: after every block of res3 and res4 for R50. For R101 (23 blocks in res4) the
      count is kept at 10: all 4 of res3 and the last 6 of res4 (assumption, the paper
      does not say where R101's 10 blocks go).
    """
    check_choice("nl_blocks", nl_blocks, NL_COUNTS)
    if nl_blocks == 0:
        return set(), set()
    if nl_blocks == 1:
        return set(), {res4_len - 2}
    if nl_blocks == 5:
        return {1, 3}, {res4_len - 5, res4_len - 3, res4_len - 1}
    return set(range(res3_len)), set(range(res4_len - 6, res4_len))


def make_nl(nl_type: str, channels: int, mode: str, pool: str, dims: int) -> nn.Module:
    """One block of the non-local family at ``channels`` (inner width C / 2)."""
    check_choice("nl_type", nl_type, NL_TYPES)
    if nl_type == "nl":
        return NonLocalBlock(channels, mode=mode, pool=pool, dims=dims)
    if dims != 2:
        raise WorkloadError(f"nl_type = {nl_type!r} has no 3-D version here; allowed with dims=3: 'nl'")
    if nl_type in ("snl", "gsnl"):
        return SpectralNonLocal(channels, generalized=nl_type == "gsnl")
    if nl_type == "ns":
        return NonLocalStage(channels)
    return DoubleAttention(channels)


class ResNet(nn.Module):
    """ResNet-50/101 (He et al., arXiv:1512.03385), torchvision layer structure, with
    non-local blocks (Wang et al., arXiv:1711.07971) inserted per ``nl_positions``.

    ``dims=2``: ImageNet network, input [B, 3, H, W]; at 224 with no NL blocks ResNet-50 has
    4.09 GMACs (conv + fc) and 25.56 M params, exactly torchvision's ``resnet50``.

    ``dims=3``: the C2D video backbone of the NL paper Table 1, input [B, 3, T, H, W]:
    conv1 1x7x7 stride (2, 2, 2), pool1 3x3x3 max stride 2, pool2 3x1x1 max stride
    (2, 1, 1) after res2, every other kernel 1xkxk, NL blocks 3-D with 1x2x2 pooling.
    Assumption: conv1 padding (0, 3, 3), pool1 padding 1, pool2 padding (1, 0, 0), so
    32 frames give 16 / 8 / 4 as in Table 1.

    ``groups``/``width_per_group`` turn it into ResNeXt; ``group_size`` > 0 instead keeps
    the group *size* constant (E2GC, arXiv:2006.15100): groups = width / group_size.
    """

    def __init__(
        self,
        depth: int = 50,
        nl_blocks: int = 0,
        nl_mode: str = "embedded_gaussian",
        nl_pool: str = "before",
        nl_type: str = "nl",
        num_classes: int = 1000,
        dims: int = 2,
        groups: int = 1,
        width_per_group: int = 64,
        group_size: int = 0,
    ) -> None:
        super().__init__()
        check_choice("depth", depth, tuple(STAGE_BLOCKS))
        check_choice("nl_mode", nl_mode, NL_MODES)
        check_choice("nl_pool", nl_pool, NL_POOLS)
        check_choice("dims", dims, (2, 3))
        check_positive("num_classes", num_classes)
        layers = STAGE_BLOCKS[depth]
        res3_nl, res4_nl = nl_positions(nl_blocks, layers[1], layers[2])
        if dims == 2:
            self.stem = nn.Sequential(
                nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                nn.MaxPool2d(3, 2, 1),
            )  # [B, 64, H/4, W/4]
            self.pool2: nn.Module = nn.Identity()
            self.head_pool: nn.Module = nn.AdaptiveAvgPool2d(1)
        else:
            self.stem = nn.Sequential(
                nn.Conv3d(3, 64, (1, 7, 7), (2, 2, 2), (0, 3, 3), bias=False),
                nn.BatchNorm3d(64), nn.ReLU(),
                nn.MaxPool3d(3, 2, 1),
            )  # [B, 64, T/4, H/4, W/4]
            self.pool2 = nn.MaxPool3d((3, 1, 1), (2, 1, 1), (1, 0, 0))
            self.head_pool = nn.AdaptiveAvgPool3d(1)
        inplanes = 64
        stages = []
        for idx, (planes, n_blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            nl_after = {1: res3_nl, 2: res4_nl}.get(idx, set())
            blocks: list[nn.Module] = []
            for i in range(n_blocks):
                width = int(planes * width_per_group / 64) * groups
                g = width // group_size if group_size > 0 else groups
                if group_size > 0 and width % group_size:
                    raise WorkloadError(f"group_size = {group_size}; must divide the stage width {width}")
                stride = 2 if (i == 0 and idx > 0) else 1
                blocks.append(Bottleneck(inplanes, planes, stride, width, g, dims))
                inplanes = planes * Bottleneck.expansion
                if i in nl_after:
                    blocks.append(make_nl(nl_type, inplanes, nl_mode, nl_pool, dims))
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)) and m.out_channels > 1:
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # [B, 64, (T/4,) H/4, W/4]
        x = self.pool2(self.layer1(x))  # [B, 256, (T/8,) H/4, W/4]
        x = self.layer2(x)  # [B, 512, ..., H/8, W/8]
        x = self.layer3(x)  # [B, 1024, ..., H/16, W/16]
        x = self.layer4(x)  # [B, 2048, ..., H/32, W/32]
        return self.fc(self.head_pool(x).flatten(1))  # [B, classes]


def resnet(
    depth: int = 50,
    nl_blocks: int = 0,
    nl_mode: str = "embedded_gaussian",
    nl_pool: str = "before",
    nl_type: str = "nl",
    num_classes: int = 1000,
) -> ResNet:
    """ImageNet ResNet-50/101 with optional non-local family blocks."""
    return ResNet(depth, nl_blocks, nl_mode, nl_pool, nl_type, num_classes, dims=2)


def c2d_resnet(
    depth: int = 50,
    nl_blocks: int = 5,
    nl_mode: str = "embedded_gaussian",
    nl_pool: str = "before",
    num_classes: int = 400,
) -> ResNet:
    """C2D ResNet-50/101 video backbone (NL paper Table 1) with 3-D NL blocks; Kinetics-400
    head. R101 with nl_blocks=5 is the "NL C2D, 5-block" row of Table 2e."""
    return ResNet(depth, nl_blocks, nl_mode, nl_pool, "nl", num_classes, dims=3)


def resnext50(
    group_mode: str = "constant_groups",
    groups: int = 32,
    group_size: int = 4,
    num_classes: int = 1000,
) -> ResNet:
    """ResNeXt-50 (Xie et al., arXiv:1611.05431), 32x4d: bottleneck widths 128/256/512/1024.

    ``constant_groups``: 32 groups everywhere, so the group size grows 4/8/16/32 (ResNeXt).
    ``constant_group_size``: every 3x3 has groups of ``group_size`` channels (E2GC,
    arXiv:2006.15100), so groups = width / group_size. The default 4 equals ResNeXt's first
    stage (assumption: the E2GC paper's chosen G is not published in the sources we have).
    """
    check_choice("group_mode", group_mode, ("constant_groups", "constant_group_size"))
    check_positive("groups", groups)
    check_positive("group_size", group_size)
    if group_mode == "constant_groups":
        return ResNet(50, num_classes=num_classes, groups=groups, width_per_group=4)
    return ResNet(50, num_classes=num_classes, groups=32, width_per_group=4, group_size=group_size)
