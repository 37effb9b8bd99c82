"""The non-local family: NL (four pairwise functions, two pooling orders), SNL / gSNL,
nonlocal stage (NS), double attention (A2) and LightNL.

All affinity and aggregation products use ``torch.bmm`` / ``torch.matmul`` so that a tracer
sees them as matmul ops (and ``FlopCounterMode`` counts them). Definitions, official-code
semantics and the derived MAC counts are in ``../shared/reference/papers.md`` (beside the repository) (sections
1.4, 1.5, 2.1, 3, 4); the section is cited on each class.

Shape legend: B batch, C input channels, Ci inner channels, N = (T)HW query positions,
N' key positions after subsampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from codesign.zoo._common import bn_nd, check_choice, check_positive, conv_nd, maxpool_nd

NL_MODES = ("embedded_gaussian", "dot_product", "concatenation", "gaussian")
NL_POOLS = ("before", "after", "none")


def _zero_init_bn(bn: nn.Module) -> nn.Module:
    """BN whose scale starts at 0, so the block starts as identity (NL paper section 4.1)."""
    nn.init.zeros_(bn.weight)
    nn.init.zeros_(bn.bias)
    return bn


class NonLocalBlock(nn.Module):
    """Non-local block (Wang et al., CVPR 2018, arXiv:1711.07971; papers.md section 1).

    ``z = BN(W_z y) + x`` with ``y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j)``.

    Args:
        in_ch: C, channels of x.
        inner: Ci, bottleneck channels of theta/phi/g (default C // 2, paper and both codes).
        mode: pairwise function f. ``embedded_gaussian`` = softmax(theta^T phi) (paper default),
            ``dot_product`` = theta^T phi / N', ``concatenation`` = ReLU(w_f^T [theta_i, phi_j]) / N'
            (AlexHex7 code: repeat + cat + 1x1 conv 2Ci -> 1), ``gaussian`` = softmax(x^T x')
            with no theta/phi convs (AlexHex7: theta = x, phi = maxpool(x), all C channels).
        pool: where the 2x2 (2-D) or 1x2x2 (3-D) max-pool of the key/value path goes.
            ``before`` = official Caffe2 / SlowFast code (pool x, then phi and g convs),
            ``after`` = AlexHex7 port (phi and g convs at full resolution, then pool),
            ``none`` = no subsampling.
        dims: 2 (images, [B, C, H, W]) or 3 (video, [B, C, T, H, W]).
        use_scale: scale the embedded-Gaussian logits by Ci ** -0.5 (official code default;
            AlexHex7 does not). Ignored by the other modes.
        bn: BN after W_z with zero-initialised scale (paper, both codes).

    MACs (papers.md 1.5, C=1024, 14x14, Ci=512, 2x2 pool): 266,735,616 pool-before and
    420,876,288 pool-after, counting convs and the two bmm products.
    """

    def __init__(
        self,
        in_ch: int = 1024,
        inner: int | None = None,
        mode: str = "embedded_gaussian",
        pool: str = "before",
        dims: int = 2,
        use_scale: bool = True,
        bn: bool = True,
    ) -> None:
        super().__init__()
        check_choice("mode", mode, NL_MODES)
        check_choice("pool", pool, NL_POOLS)
        conv, pool_cls = conv_nd(dims), maxpool_nd(dims)
        self.in_ch, self.mode, self.pool_order, self.dims = in_ch, mode, pool, dims
        self.inner = inner if inner else max(in_ch // 2, 1)
        check_positive("inner", self.inner)
        self.use_scale = use_scale
        ci = self.inner
        self.g = conv(in_ch, ci, 1)
        if mode != "gaussian":
            self.theta = conv(in_ch, ci, 1)
            self.phi = conv(in_ch, ci, 1)
        if mode == "concatenation":
            self.concat_project = nn.Sequential(nn.Conv2d(2 * ci, 1, 1, bias=False), nn.ReLU())
        kernel = 2 if dims == 2 else (1, 2, 2)
        self.pool = pool_cls(kernel) if pool != "none" else nn.Identity()
        self.w_z = conv(ci, in_ch, 1)
        self.bn = _zero_init_bn(bn_nd(dims)(in_ch)) if bn else nn.Identity()

    def _key_value(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """phi(x_hat) and g(x_hat), both [B, C', *spatial'] with the configured pool order."""
        if self.mode == "gaussian":
            phi = self.pool(x)  # [B, C, *S'] raw input as key (AlexHex7)
            g = self.g(self.pool(x)) if self.pool_order == "before" else self.pool(self.g(x))
            return phi, g
        if self.pool_order == "before":
            xp = self.pool(x)  # [B, C, *S']
            return self.phi(xp), self.g(xp)  # [B, Ci, *S']
        return self.pool(self.phi(x)), self.pool(self.g(x))  # conv at full res, then pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, spatial = x.shape[0], x.shape[2:]
        theta = x if self.mode == "gaussian" else self.theta(x)  # [B, Ck, *S]
        phi, g = self._key_value(x)
        theta = theta.flatten(2)  # [B, Ck, N]
        phi = phi.flatten(2)  # [B, Ck, N']
        g = g.flatten(2).transpose(1, 2)  # [B, N', Ci]
        n_keys = phi.shape[-1]
        if self.mode == "concatenation":
            n, ck = theta.shape[-1], theta.shape[1]
            th = theta.unsqueeze(3).expand(b, ck, n, n_keys)  # [B, Ci, N, N']
            ph = phi.unsqueeze(2).expand(b, ck, n, n_keys)  # [B, Ci, N, N']
            f = self.concat_project(torch.cat([th, ph], dim=1)).squeeze(1)  # [B, N, N']
            attn = f / n_keys
        else:
            f = torch.bmm(theta.transpose(1, 2), phi)  # [B, N, N'] affinity, N*N'*Ck MACs
            if self.mode == "dot_product":
                attn = f / n_keys
            else:
                if self.mode == "embedded_gaussian" and self.use_scale:
                    f = f * (self.inner ** -0.5)
                attn = F.softmax(f, dim=-1)  # [B, N, N']
        y = torch.bmm(attn, g)  # [B, N, Ci] aggregation, N*N'*Ci MACs
        y = y.transpose(1, 2).reshape(b, self.inner, *spatial)  # [B, Ci, *S]
        return self.bn(self.w_z(y)) + x  # [B, C, *S]


class _SpectralAttention(nn.Module):
    """Shared attention of an SNL / NS stage: softmax(t^T p) over keys, N x N, no subsampling
    (2019 SNL code ``SNLStage``; ICCV 2021 ``Stage.DotKernel`` for 'nl'/'ns')."""

    def __init__(self, in_ch: int, planes: int) -> None:
        super().__init__()
        self.t = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.p = nn.Conv2d(in_ch, planes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.t(x).flatten(2)  # [B, P, N]
        p = self.p(x).flatten(2)  # [B, P, N]
        return F.softmax(torch.bmm(t.transpose(1, 2), p), dim=2)  # [B, N, N]


class _SNLUnit(nn.Module):
    """``out = BN(W1 g + W2 (A g) [+ W3 ((2A - I) g)]) (+ReLU) + x`` (2019 SNL code)."""

    def __init__(self, in_ch: int, planes: int, generalized: bool, relu: bool) -> None:
        super().__init__()
        self.generalized = generalized
        self.g = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.w_1 = nn.Conv2d(planes, in_ch, 1, bias=False)
        self.w_2 = nn.Conv2d(planes, in_ch, 1, bias=False)
        self.w_3 = nn.Conv2d(planes, in_ch, 1, bias=False) if generalized else None
        self.bn = _zero_init_bn(nn.BatchNorm2d(in_ch))
        self.act = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        g = self.g(x)  # [B, P, H, W]
        planes = g.shape[1]
        ag = torch.bmm(att, g.flatten(2).transpose(1, 2))  # [B, N, P]  A g
        ag = ag.transpose(1, 2).reshape(b, planes, h, w)  # [B, P, H, W]
        out = self.w_1(g) + self.w_2(ag)  # [B, C, H, W]
        if self.w_3 is not None:
            out = out + self.w_3(2 * ag - g)  # Chebyshev 2nd order: (2A - I) g
        return self.act(self.bn(out)) + x


class SpectralNonLocal(nn.Module):
    """Spectral non-local block, SNL (``generalized=False``) or gSNL (``generalized=True``)
    (Zhu et al., arXiv:1911.01059; papers.md section 2.1, 2019 official code
    ``snl_block.py``: ``SNLStage`` + ``SNLUnit`` / ``gSNLUnit``).

    Assumptions (from the code, the formulas were not readable): t, p, g, W1..W3 are 1x1
    convs without bias, planes = C // 2 (``div=2``), attention softmax(t^T p) over N x N
    positions without subsampling, computed once and shared by ``stage_num`` units; no ReLU
    after BN (``relu=False`` default in the 2019 code).
    """

    def __init__(
        self,
        in_ch: int = 1024,
        planes: int | None = None,
        stage_num: int = 1,
        generalized: bool = False,
        relu: bool = False,
    ) -> None:
        super().__init__()
        check_positive("stage_num", stage_num)
        planes = planes if planes else max(in_ch // 2, 1)
        self.attention = _SpectralAttention(in_ch, planes)
        self.units = nn.ModuleList(
            _SNLUnit(in_ch, planes, generalized, relu) for _ in range(stage_num)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = self.attention(x)  # [B, N, N]
        for unit in self.units:
            x = unit(x, att)
        return x


class _NSUnit(nn.Module):
    """``out = ReLU(BN(W g - W A g)) + x`` with one shared W (ICCV 2021 ``ns.py``)."""

    def __init__(self, in_ch: int, planes: int) -> None:
        super().__init__()
        self.g = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.w = nn.Conv2d(planes, in_ch, 1, bias=False)
        self.bn = _zero_init_bn(nn.BatchNorm2d(in_ch))

    def forward(self, x: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        g = self.g(x)  # [B, P, H, W]
        ag = torch.bmm(att, g.flatten(2).transpose(1, 2))  # [B, N, P]
        ag = ag.transpose(1, 2).reshape(b, g.shape[1], h, w)  # [B, P, H, W]
        return F.relu(self.bn(self.w(g) - self.w(ag))) + x


class NonLocalStage(nn.Module):
    """Nonlocal stage, NS (Zhu et al., ICCV 2021, arXiv:2108.02451; papers.md 2.1 ``NSUnit``).

    The attention softmax(t^T p) (N x N, no subsampling) is shared by ``stage_num`` units;
    each unit applies the same 1x1 W to g and to A g (two conv calls, as in the code).
    planes defaults to C // 2 (``--div 2``).
    """

    def __init__(self, in_ch: int = 1024, planes: int | None = None, stage_num: int = 1) -> None:
        super().__init__()
        check_positive("stage_num", stage_num)
        planes = planes if planes else max(in_ch // 2, 1)
        self.attention = _SpectralAttention(in_ch, planes)
        self.units = nn.ModuleList(_NSUnit(in_ch, planes) for _ in range(stage_num))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = self.attention(x)  # [B, N, N]
        for unit in self.units:
            x = unit(x, att)
        return x


class DoubleAttention(nn.Module):
    """Double attention block, A2 (Chen et al., NeurIPS 2018, arXiv:1810.11579; papers.md 3).

    ``Z = [A softmax(B)^T] softmax(V)`` in the gather-first order (c_m x c_n descriptors,
    never an HW x HW matrix), then a 1x1 reconstruction conv c_m -> C and the residual add.

    Assumptions: A, B, V are 1x1 convs with bias (widely copied snippet); the gather
    softmax is over positions; the distribution softmax is over the c_n descriptors at each
    position (paper: sum_j v_ij = 1; the popular snippet normalises over positions instead,
    same MACs). c_m = c_n = C // 4 by default (not found in the sources; a knob).
    """

    def __init__(self, in_ch: int = 1024, c_m: int | None = None, c_n: int | None = None) -> None:
        super().__init__()
        self.c_m = c_m if c_m else max(in_ch // 4, 1)
        self.c_n = c_n if c_n else max(in_ch // 4, 1)
        self.conv_a = nn.Conv2d(in_ch, self.c_m, 1)
        self.conv_b = nn.Conv2d(in_ch, self.c_n, 1)
        self.conv_v = nn.Conv2d(in_ch, self.c_n, 1)
        self.reconstruct = nn.Conv2d(self.c_m, in_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        a = self.conv_a(x).flatten(2)  # [B, c_m, N]
        att_b = F.softmax(self.conv_b(x).flatten(2), dim=-1)  # [B, c_n, N] over positions
        att_v = F.softmax(self.conv_v(x).flatten(2), dim=1)  # [B, c_n, N] over descriptors
        gathered = torch.bmm(a, att_b.transpose(1, 2))  # [B, c_m, c_n] gather, N*c_m*c_n MACs
        z = torch.bmm(gathered, att_v)  # [B, c_m, N] distribute, N*c_m*c_n MACs
        return self.reconstruct(z.reshape(b, self.c_m, h, w)) + x


class LightNL(nn.Module):
    """LightNL block (Li et al., "Neural Architecture Search for Lightweight Non-Local
    Networks", CVPR 2020, arXiv:2004.01961; papers.md 4, TF code ``non_local_op``).

    No 1x1 convs: theta = x[:, :rC] (channel slice), phi = x_s[:, :rC] and g = x_s (all C)
    where x_s = x[:, :, ::s, ::s] (strided slicing, not pooling). The product
    ``theta^T phi g / HW`` is evaluated in the order with fewer MACs:
    ``(theta^T phi) g`` costs HW*HW'*C*(1+r), ``theta^T (phi g^T)`` costs (HW+HW')*C^2*r.
    Then a 3x3 depthwise conv (no bias), BN with zero-initialised scale, residual add.
    rC = max(1, int(C * r)) as the TF code's ``int(C * nl_ratio)``.
    """

    def __init__(self, channels: int = 1024, ratio: float = 0.25, stride: int = 1, kernel: int = 3) -> None:
        super().__init__()
        check_positive("ratio", ratio)
        check_positive("stride", stride)
        self.channels, self.stride = channels, stride
        self.slice_ch = max(1, int(channels * ratio))
        self.depthwise = nn.Conv2d(channels, channels, kernel, 1, kernel // 2, groups=channels, bias=False)
        self.bn = _zero_init_bn(nn.BatchNorm2d(channels))

    def attention_first(self, h: int, w: int) -> bool:
        """True when (theta^T phi) g is cheaper than theta^T (phi g^T) at this size."""
        hw = h * w
        hw_k = math.ceil(h / self.stride) * math.ceil(w / self.stride)
        c, rc = self.channels, self.slice_ch
        return hw * hw_k * (c + rc) < (hw + hw_k) * c * rc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        xs = x[:, :, :: self.stride, :: self.stride]  # [B, C, H', W']
        theta = x[:, : self.slice_ch].flatten(2)  # [B, rC, HW]
        phi = xs[:, : self.slice_ch].flatten(2)  # [B, rC, HW']
        g = xs.flatten(2)  # [B, C, HW']
        if self.attention_first(h, w):
            att = torch.matmul(theta.transpose(1, 2), phi)  # [B, HW, HW']
            y = torch.matmul(att, g.transpose(1, 2))  # [B, HW, C]
        else:
            ctx = torch.matmul(phi, g.transpose(1, 2))  # [B, rC, C]
            y = torch.matmul(theta.transpose(1, 2), ctx)  # [B, HW, C]
        y = (y / (h * w)).transpose(1, 2).reshape(b, c, h, w)  # [B, C, H, W]
        return self.bn(self.depthwise(y)) + x
