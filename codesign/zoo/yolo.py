"""Tiny-YOLOv2 (VOC) with and without Condensation-style cross-channel pooling."""

from __future__ import annotations

import torch
from torch import nn

from codesign.errors import WorkloadError
from codesign.zoo._common import check_positive
from codesign.zoo.conv_blocks import CrossChannelPoolConv

# Darknet yolov2-tiny-voc.cfg: 3x3 conv widths; a 2x2 max-pool follows each of the first six
# (stride 2 for the first five, stride 1 for the sixth), then two 3x3 1024 convs.
TINY_YOLOV2_WIDTHS = (16, 32, 64, 128, 256, 512, 1024, 1024)
HIDDEN_LAYERS = tuple(range(len(TINY_YOLOV2_WIDTHS)))


class _DarknetPoolStride1(nn.Module):
    """Darknet ``maxpool size=2 stride=1``: out[i] = max(x[i], x[i+1]) with -inf beyond the
    border, so 13x13 stays 13x13. MaxPool2d pads with -inf on both sides; dropping the first
    row and column keeps darknet's right/bottom padding."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, 1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)[:, :, 1:, 1:]  # [B, C, H, W]


class TinyYoloV2(nn.Module):
    """Tiny-YOLOv2 for VOC (Redmon and Farhadi, YOLO9000, arXiv:1612.08242; darknet
    ``yolov2-tiny-voc.cfg``): 416x416 input, nine convs 16..1024, 1024, 1x1 125 (5 anchors x
    (20 classes + 5)), 13x13 output. Convs without bias + BN + LeakyReLU(0.1); the last conv
    has a bias and no BN. About 3.49 GMACs at 416.

    ``ccp_layers`` lists the hidden convs (0..7) that become Condensation-Net style
    cross-channel pooling convs (Chen et al., arXiv:2104.14124): the conv produces
    ``ccp_factor`` x its channels and a max over groups of ``ccp_factor`` adjacent channels
    brings it back, so every later layer keeps the Tiny-YOLOv2 shape. Assumptions (the
    paper publishes no layer table): same backbone, CCP on every hidden conv by default,
    pooling factor 2, CCP before BN and activation.
    """

    def __init__(
        self,
        ccp_factor: int = 2,
        ccp_layers: tuple[int, ...] = (),
        num_anchors: int = 5,
        num_classes: int = 20,
    ) -> None:
        super().__init__()
        check_positive("ccp_factor", ccp_factor)
        bad = [i for i in ccp_layers if i not in HIDDEN_LAYERS]
        if bad:
            raise WorkloadError(f"ccp_layers = {tuple(ccp_layers)!r}; allowed indices: 0..{len(HIDDEN_LAYERS) - 1}")
        layers: list[nn.Module] = []
        cin = 3
        for i, cout in enumerate(TINY_YOLOV2_WIDTHS):
            factor = ccp_factor if i in ccp_layers else 1
            layers.append(CrossChannelPoolConv(cin, cout, factor) if factor > 1 else nn.Sequential(
                nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)))
            if i < 5:
                layers.append(nn.MaxPool2d(2, 2))
            elif i == 5:
                layers.append(_DarknetPoolStride1())
            cin = cout
        self.features = nn.Sequential(*layers)  # [B, 1024, H/32, W/32]
        self.detect = nn.Conv2d(cin, num_anchors * (num_classes + 5), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detect(self.features(x))  # [B, 125, H/32, W/32]


def tiny_yolov2(num_classes: int = 20) -> TinyYoloV2:
    """Plain Tiny-YOLOv2 (VOC)."""
    return TinyYoloV2(ccp_layers=(), num_classes=num_classes)


def tiny_yolov2_ccp(
    ccp_factor: int = 2,
    ccp_layers: tuple[int, ...] = HIDDEN_LAYERS,
    num_classes: int = 20,
) -> TinyYoloV2:
    """Tiny-YOLOv2 with cross-channel pooling on ``ccp_layers`` (default all eight hidden
    convs) by ``ccp_factor``; see :class:`TinyYoloV2`."""
    return TinyYoloV2(ccp_factor, tuple(ccp_layers), num_classes=num_classes)
