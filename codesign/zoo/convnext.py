"""ConvNeXt-T and InceptionNeXt-T (large-kernel depthwise vs. Inception depthwise)."""

from __future__ import annotations

import torch
from torch import nn

from codesign.zoo._common import check_positive

TINY_DIMS = (96, 192, 384, 768)
TINY_DEPTHS = (3, 3, 9, 3)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an NCHW tensor (ConvNeXt ``channels_first`` LayerNorm),
    written as permute -> LayerNorm -> permute; same math as the official custom op."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # [B, C, H, W]


class LayerNormChannelsFirst(nn.Module):
    """ConvNeXt's official ``LayerNorm(data_format="channels_first")`` (stem and downsampling
    layers), op for op: mean, subtract, square, mean, add eps, sqrt, divide, scale, shift over
    the channels of an NCHW tensor. Its output stays NCHW, so the stages' depthwise convs get
    NCHW tensors (PyTorch's own depthwise kernels in fp32). :class:`LayerNorm2d`'s permute ->
    LayerNorm -> permute has the same math in one kernel but returns a channels-last tensor,
    and every residual add after it keeps that layout (elementwise outputs follow their first
    input's strides), so the whole network would run channels-last, which on CUDA sends the
    depthwise convs to cuDNN instead."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)  # [B, 1, H, W]
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]  # [B, C, H, W]


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block (Liu et al., arXiv:2201.03545): kxk depthwise -> channels-last
    LayerNorm -> Linear 4C -> GELU -> Linear C -> layer scale -> + x. Drop path is identity
    at inference."""

    def __init__(self, dim: int, kernel: int = 7, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, int(mlp_ratio * dim))
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(int(mlp_ratio * dim), dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # [B, H, W, C] channels-last
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))  # [B, H, W, C]
        return x + (self.gamma * y).permute(0, 3, 1, 2)  # [B, C, H, W]


class ConvNeXt(nn.Module):
    """ConvNeXt-T (Liu et al., CVPR 2022, arXiv:2201.03545): dims 96/192/384/768, depths
    3/3/9/3, 4x4/4 stem + LN, LN + 2x2/2 downsampling, GAP -> LN -> fc. About 4.47 GMACs and
    28.6 M params at 224 with ``kernel`` 7 (the depthwise kernel knob). The stem and
    downsampling LayerNorms are the official channels-first op chain
    (:class:`LayerNormChannelsFirst`), so tensors between blocks are NCHW as in the official
    code."""

    def __init__(self, kernel: int = 7, num_classes: int = 1000) -> None:
        super().__init__()
        check_positive("kernel", kernel)
        dims = TINY_DIMS
        ln = LayerNormChannelsFirst
        self.downsample = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), ln(dims[0], eps=1e-6))])
        for i in range(3):
            self.downsample.append(nn.Sequential(ln(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(d, kernel) for _ in range(n))) for d, n in zip(dims, TINY_DEPTHS)
        )
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample, self.stages):
            x = stage(down(x))  # [B, C_i, H/2^(i+2), W/2^(i+2)]
        return self.head(self.norm(x.mean((2, 3))))  # [B, classes]


class InceptionDWConv2d(nn.Module):
    """Inception depthwise token mixer (Yu et al., InceptionNeXt, CVPR 2024,
    arXiv:2303.16900): channels split into identity | 3x3 square | 1x11 band | 11x1 band,
    each conv branch with gc = int(C * branch_ratio) channels (1/8), concatenated back."""

    def __init__(self, dim: int, square: int = 3, band: int = 11, branch_ratio: float = 0.125) -> None:
        super().__init__()
        gc = int(dim * branch_ratio)
        self.dwconv_hw = nn.Conv2d(gc, gc, square, padding=square // 2, groups=gc)
        self.dwconv_w = nn.Conv2d(gc, gc, (1, band), padding=(0, band // 2), groups=gc)
        self.dwconv_h = nn.Conv2d(gc, gc, (band, 1), padding=(band // 2, 0), groups=gc)
        self.split = (dim - 3 * gc, gc, gc, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_id, x_hw, x_w, x_h = torch.split(x, self.split, dim=1)  # [B, C - 3gc | gc | gc | gc, H, W]
        return torch.cat((x_id, self.dwconv_hw(x_hw), self.dwconv_w(x_w), self.dwconv_h(x_h)), dim=1)


class MetaNeXtBlock(nn.Module):
    """MetaNeXt block of InceptionNeXt: token mixer -> BatchNorm -> 1x1 conv MLP (GELU) ->
    layer scale -> + x (official code: ``norm_layer=nn.BatchNorm2d``, ``ConvMlp``)."""

    def __init__(self, dim: int, mlp_ratio: float, band: int) -> None:
        super().__init__()
        hidden = int(mlp_ratio * dim)
        self.token_mixer = InceptionDWConv2d(dim, band=band)
        self.norm = nn.BatchNorm2d(dim)
        self.mlp = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, dim, 1))
        self.gamma = nn.Parameter(torch.full((dim, 1, 1), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.gamma * self.mlp(self.norm(self.token_mixer(x)))  # [B, C, H, W]


class InceptionNeXt(nn.Module):
    """InceptionNeXt-T (Yu et al., CVPR 2024, arXiv:2303.16900; papers.md 6): dims
    96/192/384/768, depths 3/3/9/3, MLP ratios 4/4/4/3, 4x4/4 stem + BN, BN + 2x2/2
    downsampling, head GAP -> fc 3C -> GELU -> LN -> fc (official ``MlpHead``, ratio 3).
    About 4.2 GMACs and 28 M params at 224. ``band`` is the band kernel length (11)."""

    def __init__(self, band: int = 11, num_classes: int = 1000) -> None:
        super().__init__()
        check_positive("band", band)
        dims, ratios = TINY_DIMS, (4, 4, 4, 3)
        self.downsample = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), nn.BatchNorm2d(dims[0]))])
        for i in range(3):
            self.downsample.append(nn.Sequential(nn.BatchNorm2d(dims[i]), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = nn.ModuleList(
            nn.Sequential(*(MetaNeXtBlock(d, r, band) for _ in range(n)))
            for d, n, r in zip(dims, TINY_DEPTHS, ratios)
        )
        self.head = nn.Sequential(
            nn.Linear(dims[-1], 3 * dims[-1]), nn.GELU(), nn.LayerNorm(3 * dims[-1], eps=1e-6),
            nn.Linear(3 * dims[-1], num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample, self.stages):
            x = stage(down(x))  # [B, C_i, H/2^(i+2), W/2^(i+2)]
        return self.head(x.mean((2, 3)))  # [B, classes]


def convnext_t(kernel: int = 7, num_classes: int = 1000) -> ConvNeXt:
    """ConvNeXt-T with depthwise kernel ``kernel``."""
    return ConvNeXt(kernel, num_classes)


def inceptionnext_t(band: int = 11, num_classes: int = 1000) -> InceptionNeXt:
    """InceptionNeXt-T with band kernel ``band``."""
    return InceptionNeXt(band, num_classes)
