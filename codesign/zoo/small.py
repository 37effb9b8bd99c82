"""Small workloads: ESPCN super-resolution and two attention blocks (nn.MultiheadAttention
via nn.TransformerEncoderLayer, and F.scaled_dot_product_attention) for tracer tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codesign.errors import WorkloadError
from codesign.zoo._common import check_positive


class ESPCN(nn.Module):
    """ESPCN (Shi et al., CVPR 2016, arXiv:1609.05158): 5x5 conv 64 -> tanh -> 3x3 conv 32 ->
    tanh -> 3x3 conv channels*r^2 -> PixelShuffle(r). Input is the low-resolution image
    (luminance only by default), output r times larger."""

    def __init__(self, upscale: int = 3, channels: int = 1) -> None:
        super().__init__()
        check_positive("upscale", upscale)
        self.body = nn.Sequential(
            nn.Conv2d(channels, 64, 5, padding=2), nn.Tanh(),
            nn.Conv2d(64, 32, 3, padding=1), nn.Tanh(),
            nn.Conv2d(32, channels * upscale**2, 3, padding=1),
        )
        self.shuffle = nn.PixelShuffle(upscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.body(x))  # [B, C, rH, rW]


def espcn(upscale: int = 3, channels: int = 1) -> ESPCN:
    """ESPCN with upscale factor ``upscale``."""
    return ESPCN(upscale, channels)


def mha_block(dim: int = 384, heads: int = 6, mlp_ratio: int = 4) -> nn.Module:
    """One pre-norm ViT-S style encoder layer (Vaswani et al., arXiv:1706.03762; Dosovitskiy
    et al., arXiv:2010.11929) as ``nn.TransformerEncoderLayer`` (batch_first, GELU).

    In eval mode under ``torch.no_grad`` PyTorch takes its fast path: the whole layer is
    one fused aten op, ``_transformer_encoder_layer_fwd`` (FlopCounterMode counts it as 0).
    With grad enabled it decomposes into linear / bmm / softmax / layer_norm ops with the
    same MACs as :func:`sdpa_block`. Input [B, N, dim]."""
    if dim % heads:
        raise WorkloadError(f"dim = {dim}; must be divisible by heads = {heads}")
    return nn.TransformerEncoderLayer(
        dim, heads, dim_feedforward=mlp_ratio * dim, dropout=0.0, activation="gelu",
        batch_first=True, norm_first=True,
    )


class SDPABlock(nn.Module):
    """Pre-norm ViT encoder block written with ``F.scaled_dot_product_attention``
    (fused attention): LN -> qkv Linear -> SDPA -> proj -> + x; LN -> MLP (GELU) -> + x."""

    def __init__(self, dim: int = 384, heads: int = 6, mlp_ratio: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise WorkloadError(f"dim = {dim}; must be divisible by heads = {heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads)  # [B, N, 3, h, d_h]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x [B, h, N, d_h]
        y = F.scaled_dot_product_attention(q, k, v)  # [B, h, N, d_h]
        x = x + self.proj(y.transpose(1, 2).reshape(b, n, d))  # [B, N, D]
        return x + self.mlp(self.norm2(x))


def sdpa_block(dim: int = 384, heads: int = 6, mlp_ratio: int = 4) -> SDPABlock:
    """ViT-S style block using scaled_dot_product_attention. Input [B, N, dim]."""
    return SDPABlock(dim, heads, mlp_ratio)
