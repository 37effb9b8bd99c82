"""Super-resolution and segmentation nets profiled by Qualcomm AI Hub (issue 13).

Each class is written from its published definition and checked against the parameter count
AI Hub publishes for it (``qai_hub_models/models/<id>/manifest.yaml`` of the qai-hub-models
0.65.0 wheel, "Number of parameters"; tests/test_zoo_super_resolution.py):

| zoo name | AI Hub id | published params | ours |
|---|---|---|---|
| quicksrnet_small | quicksrnetsmall | 33.3K | 33,264 |
| quicksrnet_medium | quicksrnetmedium | 61.0K | 61,008 |
| quicksrnet_large | quicksrnetlarge | 436K | 435,696 |
| xlsr | xlsr | 28.0K | 28,432 (+1.5%, see :class:`XLSR`) |
| sesr_m5 | sesr_m5 | 343K | 343,024 |
| srvggnet_compact | real_esrgan_general_x4v3 | 1.21M | 1,213,296 |
| rrdbnet_x4 | esrgan, real_esrgan_x4plus | 16.7M | 16,697,987 |
| unet | unet_segmentation | 31.0M | 31,037,698 |

Inputs as AI Hub profiles them: 1x3x128x128 for the super-resolution nets (x4), 1x3x640x1280
for UNet. Only shapes matter here (the tracer runs under fake tensors; no weights are loaded).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codesign.zoo._common import check_positive

# --------------------------------------------------------------------------- QuickSRNet


class QuickSRNet(nn.Module):
    """QuickSRNet (Berger et al., arXiv:2303.04336; aimet-model-zoo
    ``aimet_zoo_torch/quicksrnet/model/models.py`` QuickSRNetBase): a plain stack of 3x3
    convs with clipped ReLU (Hardtanh 0..1), a 3x3 conv to ``3 s^2`` channels and
    PixelShuffle(s). ``ito`` (input-to-output) adds the input, repeated ``s^2`` times along
    channels, before the shuffle (used by the Large variant); the output is clamped to 0..1.
    AI Hub: Small = 32 ch / 2 layers, Medium = 32 ch / 5 layers, Large = 64 ch / 11 layers + ito.
    """

    def __init__(self, scale: int = 4, channels: int = 32, layers: int = 2, ito: bool = False) -> None:
        super().__init__()
        check_positive("scale", scale)
        check_positive("channels", channels)
        body: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.Hardtanh(0.0, 1.0)]
        for _ in range(layers):
            body += [nn.Conv2d(channels, channels, 3, padding=1), nn.Hardtanh(0.0, 1.0)]
        self.cnn = nn.Sequential(*body)
        self.conv_last = nn.Conv2d(channels, 3 * scale**2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        self.scale = scale
        self.ito = ito

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv_last(self.cnn(x))  # [B, 3 s^2, H, W]
        if self.ito:
            y = y + torch.repeat_interleave(x, self.scale**2, dim=1)
        return torch.clamp(self.shuffle(y), 0.0, 1.0)  # [B, 3, sH, sW]


def quicksrnet_small(scale: int = 4) -> QuickSRNet:
    """QuickSRNet-Small: 32 channels, 2 intermediate layers."""
    return QuickSRNet(scale, 32, 2, False)


def quicksrnet_medium(scale: int = 4) -> QuickSRNet:
    """QuickSRNet-Medium: 32 channels, 5 intermediate layers."""
    return QuickSRNet(scale, 32, 5, False)


def quicksrnet_large(scale: int = 4) -> QuickSRNet:
    """QuickSRNet-Large: 64 channels, 11 intermediate layers, input-to-output connection."""
    return QuickSRNet(scale, 64, 11, True)


# --------------------------------------------------------------------------- XLSR


class GBlock(nn.Module):
    """XLSR GBlock: grouped 3x3 conv (4 groups) -> ReLU -> 1x1 conv -> ReLU."""

    def __init__(self, channels: int = 32, groups: int = 4) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=groups), nn.ReLU(),
            nn.Conv2d(channels, channels, 1), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class XLSR(nn.Module):
    """XLSR (Ayazoglu, CVPRW 2021, arXiv:2105.10288, Fig. 2; aimet-model-zoo XLSRRelease):
    stem of four parallel 3x3 convs with 8 filters each (one 3 -> 32 conv), three GBlocks, a
    1x1 shortcut conv of the input (8 filters) concatenated with the GBlock output, a 3x3
    conv to ``3 s^2`` channels, PixelShuffle(s) and a clipped ReLU (0..1).

    Known gap: 28,432 parameters against AI Hub's published 28.0K (+1.5%); the exact widths
    of aimet's XLSRRelease could not be read offline, the paper's figure gives these."""

    def __init__(self, scale: int = 4, channels: int = 32, shortcut: int = 8, gblocks: int = 3) -> None:
        super().__init__()
        check_positive("scale", scale)
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.gblocks = nn.Sequential(*(GBlock(channels) for _ in range(gblocks)))
        self.shortcut = nn.Conv2d(3, shortcut, 1)
        self.tail = nn.Conv2d(channels + shortcut, 3 * scale**2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.gblocks(F.relu(self.stem(x)))  # [B, 32, H, W]
        y = torch.cat([y, self.shortcut(x)], dim=1)  # [B, 40, H, W]
        return F.hardtanh(self.shuffle(self.tail(y)), 0.0, 1.0)  # [B, 3, sH, sW]


def xlsr(scale: int = 4) -> XLSR:
    """XLSR x``scale``."""
    return XLSR(scale)


# --------------------------------------------------------------------------- SESR


class CollapsibleLinearBlock(nn.Module):
    """SESR linear block, un-collapsed (training-time form, as AI Hub profiles it): a k x k
    conv expanding to ``tmp`` channels (no bias) followed by a 1x1 conv to ``cout``."""

    def __init__(self, cin: int, cout: int, tmp: int, kernel: int) -> None:
        super().__init__()
        self.expand = nn.Conv2d(cin, tmp, kernel, padding=kernel // 2, bias=False)
        self.squeeze = nn.Conv2d(tmp, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.squeeze(self.expand(x))


class SESR(nn.Module):
    """SESR (Bhardwaj et al., MLSys 2022, arXiv:2103.09404; aimet-model-zoo SESRRelease,
    ARM-software/sesr): 5x5 linear block 3 -> f, PReLU; ``m`` residual 3x3 linear blocks
    (each PReLU(block(x) + x)); long residual; 5x5 linear block f -> 3 s^2; the input repeated
    s^2 times added; PixelShuffle(s); clamp 0..1. Linear blocks expand to ``tmp`` = 256.
    M5: f = 16, m = 5."""

    def __init__(self, scale: int = 4, channels: int = 16, blocks: int = 5, tmp: int = 256) -> None:
        super().__init__()
        check_positive("scale", scale)
        self.first = CollapsibleLinearBlock(3, channels, tmp, 5)
        self.act_first = nn.PReLU(channels)
        self.blocks = nn.ModuleList(CollapsibleLinearBlock(channels, channels, tmp, 3) for _ in range(blocks))
        self.acts = nn.ModuleList(nn.PReLU(channels) for _ in range(blocks))
        self.last = CollapsibleLinearBlock(channels, 3 * scale**2, tmp, 5)
        self.shuffle = nn.PixelShuffle(scale)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y0 = self.act_first(self.first(x))  # [B, f, H, W]
        y = y0
        for block, act in zip(self.blocks, self.acts):
            y = act(block(y) + y)
        y = self.last(y + y0)  # [B, 3 s^2, H, W]
        y = y + torch.repeat_interleave(x, self.scale**2, dim=1)
        return torch.clamp(self.shuffle(y), 0.0, 1.0)


def sesr_m5(scale: int = 4, tmp: int = 256) -> SESR:
    """SESR-M5 x``scale`` (16 channels, 5 linear blocks), un-collapsed with ``tmp`` channels."""
    return SESR(scale, 16, 5, tmp)


# --------------------------------------------------------------------------- Real-ESRGAN compact


class SRVGGNetCompact(nn.Module):
    """SRVGGNetCompact (Wang et al., Real-ESRGAN, arXiv:2107.10833; xinntao/Real-ESRGAN
    ``realesrgan/archs/srvgg_arch.py``): 3x3 conv + PReLU, ``num_conv`` x (3x3 conv + PReLU),
    3x3 conv to 3 s^2, PixelShuffle(s), plus the nearest-upsampled input.
    realesr-general-x4v3 (AI Hub real_esrgan_general_x4v3): 64 features, 32 convs, x4."""

    def __init__(self, feat: int = 64, num_conv: int = 32, scale: int = 4) -> None:
        super().__init__()
        check_positive("scale", scale)
        body: list[nn.Module] = [nn.Conv2d(3, feat, 3, padding=1), nn.PReLU(feat)]
        for _ in range(num_conv):
            body += [nn.Conv2d(feat, feat, 3, padding=1), nn.PReLU(feat)]
        body.append(nn.Conv2d(feat, 3 * scale**2, 3, padding=1))
        self.body = nn.Sequential(*body)
        self.shuffle = nn.PixelShuffle(scale)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.shuffle(self.body(x))  # [B, 3, sH, sW]
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")


def srvggnet_compact(feat: int = 64, num_conv: int = 32, scale: int = 4) -> SRVGGNetCompact:
    """SRVGGNetCompact (realesr-general-x4v3 defaults)."""
    return SRVGGNetCompact(feat, num_conv, scale)


# --------------------------------------------------------------------------- RRDBNet


class ResidualDenseBlock(nn.Module):
    """ESRGAN residual dense block: five 3x3 convs, each seeing the concatenation of the block
    input and all earlier outputs (growth ``grow``), LeakyReLU(0.2); out = 0.2 x5 + x."""

    def __init__(self, feat: int = 64, grow: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(feat + i * grow, grow if i < 4 else feat, 3, padding=1) for i in range(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            y = conv(torch.cat(feats, dim=1))
            if i < 4:
                feats.append(F.leaky_relu(y, 0.2))
        return y * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks, out = 0.2 y + x."""

    def __init__(self, feat: int = 64, grow: int = 32) -> None:
        super().__init__()
        self.rdbs = nn.Sequential(*(ResidualDenseBlock(feat, grow) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdbs(x) * 0.2 + x


class RRDBNet(nn.Module):
    """RRDBNet x4 (Wang et al., ESRGAN, arXiv:1809.00219; basicsr ``archs/rrdbnet_arch.py``
    as copied into qai_hub_models/extern): conv_first, ``blocks`` RRDBs, conv_body + trunk
    residual, two (nearest x2 upsample, 3x3 conv, LeakyReLU), conv_hr + LeakyReLU, conv_last.
    ESRGAN and Real-ESRGAN x4plus share this graph (64 features, 23 blocks, growth 32)."""

    def __init__(self, feat: int = 64, blocks: int = 23, grow: int = 32) -> None:
        super().__init__()
        self.conv_first = nn.Conv2d(3, feat, 3, padding=1)
        self.body = nn.Sequential(*(RRDB(feat, grow) for _ in range(blocks)))
        self.conv_body = nn.Conv2d(feat, feat, 3, padding=1)
        self.conv_up1 = nn.Conv2d(feat, feat, 3, padding=1)
        self.conv_up2 = nn.Conv2d(feat, feat, 3, padding=1)
        self.conv_hr = nn.Conv2d(feat, feat, 3, padding=1)
        self.conv_last = nn.Conv2d(feat, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))  # [B, 64, H, W]
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")), 0.2)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), 0.2))  # [B, 3, 4H, 4W]


def rrdbnet_x4(feat: int = 64, blocks: int = 23, grow: int = 32) -> RRDBNet:
    """RRDBNet x4 (ESRGAN / Real-ESRGAN x4plus defaults)."""
    return RRDBNet(feat, blocks, grow)


# --------------------------------------------------------------------------- UNet


class DoubleConv(nn.Module):
    """(3x3 conv, no bias -> BN -> ReLU) x 2."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Up(nn.Module):
    """Transposed 2x2 conv (stride 2) halving channels, concat with the skip, DoubleConv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(nn.Module):
    """U-Net (Ronneberger et al., arXiv:1505.04597) as milesial/Pytorch-UNet ``unet/unet_model.py``
    with ``bilinear=False`` (AI Hub unet_segmentation: n_channels 3, n_classes 2, Carvana):
    DoubleConv encoder 64-128-256-512-1024 with 2x2 max pooling, transposed-conv decoder with
    skip concatenation, 1x1 output conv. Input sides must be multiples of 16 (no padding)."""

    def __init__(self, classes: int = 2, base: int = 64) -> None:
        super().__init__()
        check_positive("classes", classes)
        w = [base * 2**i for i in range(5)]
        self.inc = DoubleConv(3, w[0])
        self.downs = nn.ModuleList(DoubleConv(w[i], w[i + 1]) for i in range(4))
        self.ups = nn.ModuleList(Up(w[i + 1], w[i]) for i in reversed(range(4)))
        self.outc = nn.Conv2d(w[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return self.outc(y)  # [B, classes, H, W]


def unet(classes: int = 2, base: int = 64) -> UNet:
    """milesial U-Net (bilinear=False)."""
    return UNet(classes, base)


SR_INPUT = (1, 3, 128, 128)
UNET_INPUT = (1, 3, 640, 1280)
#: zoo name -> published parameter count (AI Hub manifest.yaml, rounded as published)
PUBLISHED_PARAMS = {
    "quicksrnet_small": 33.3e3, "quicksrnet_medium": 61.0e3, "quicksrnet_large": 436e3,
    "xlsr": 28.0e3, "sesr_m5": 343e3, "srvggnet_compact": 1.21e6, "rrdbnet_x4": 16.7e6,
    "unet": 31.0e6,
}
