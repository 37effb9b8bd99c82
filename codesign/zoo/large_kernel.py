"""Large-kernel and token-mixer blocks of the seed papers (issue 15).

Each class cites its paper and the public code it follows; where a detail was not available the
docstring states the assumption. Every network has a training form (re-parameterisable
branches, each with its BatchNorm) and a merged inference form (``merged=True``: one
depthwise kernel with a bias, as deployed); :func:`merge_reparam` converts a trained model in
place and the two forms compute the same function (``tests/test_zoo_large_kernel.py``).

* RepLKNet (Ding et al., CVPR 2022, arXiv:2203.06717; code ``DingXiaoH/RepLKNet-pytorch``,
  ``replknet.py``): RepLK block (BN -> 1x1 conv-BN-ReLU -> kxk depthwise (+ 5x5 depthwise
  re-param branch) -> ReLU -> 1x1 conv-BN -> + x) followed by a ConvFFN (BN -> 1x1 -> GELU ->
  1x1 -> + x). RepLKNet-31B: widths 128/256/512/1024, depths 2/2/18/2, kernels 31/29/27/13.
* UniRepLKNet (Ding et al., CVPR 2024, arXiv:2311.15599; code ``AILab-CVC/UniRepLKNet``,
  ``unireplknet.py``): block = Dilated Reparam Block (kxk depthwise + dilated small depthwise
  branches, each with BN) -> BN -> SE -> Linear 4C -> GELU -> GRN -> Linear C -> BN -> layer scale.
* SLaK (Liu et al., ICLR 2023, arXiv:2207.03620; code ``VITA-Group/SLaK``): a k x k kernel
  decomposed into parallel k x 5 and 5 x k depthwise convs plus a 5x5 one, in a ConvNeXt
  block; width x1.3 (sparse groups: dense kernels here, as eager PyTorch runs them).
* DCLS (Khalfaoui-Hassani et al., ICLR 2023, arXiv:2112.03740): a dilated kernel with learnable
  spacings, run as its dense equivalent (a 17x17 depthwise kernel in ConvNeXt-T-dcls).
* HorNet (Rao et al., NeurIPS 2022, arXiv:2207.14284; code ``raoyongming/HorNet``): recursive
  gated convolution gnConv in a ConvNeXt-style block.
* LSNet (Wang et al., CVPR 2025, arXiv:2503.23135; code ``jameslahm/lsnet``): "see large, focus
  small": LS conv = large-kernel perception (7x7 depthwise) that predicts per-pixel 3x3 kernels
  for a small-kernel aggregation; spatial softmax attention in the last stage.
* CAS-ViT (Zhang et al., arXiv:2408.03703; code ``Tianfang-Zhang/CAS-ViT``): convolutional
  additive token mixer (spatial and channel sigmoid gates on Q and K, Q + K, depthwise conv, x V).
* EfficientMod (Ma et al., ICLR 2024, arXiv:2403.19963): context modulation block
  (ctx = 7x7 depthwise of a projection, output = proj(ctx * v)).
* GC block (Cao et al., GCNet, arXiv:1904.11492): global context attention, a softmax over
  positions then a matmul; a relative of the non-local block, validated as a held-out block.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from codesign.errors import WorkloadError
from codesign.zoo._common import check_choice, check_positive
from codesign.zoo.convnext import LayerNorm2d

# --- re-parameterisation helpers ------------------------------------------------------------


def _fuse_bn(kernel: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d):
    """Kernel and bias of conv(+bias) followed by BN in eval mode, as one conv."""
    std = (bn.running_var + bn.eps).sqrt()
    t = (bn.weight / std).reshape(-1, 1, 1, 1)
    b0 = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return kernel * t, bn.bias + (b0 - bn.running_mean) * bn.weight / std


def _dilate_to(kernel: torch.Tensor, dilation: int, size: tuple[int, int]) -> torch.Tensor:
    """A (dilated) small kernel as the equivalent dense kernel, zero-padded to ``size``
    centred (UniRepLKNet ``convert_dilated_to_nondilated`` + ``merge_dilated_into_large_kernel``)."""
    c, _, kh, kw = kernel.shape
    eh, ew = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    dense = kernel.new_zeros(c, 1, eh, ew)
    dense[:, :, ::dilation, ::dilation] = kernel
    ph, pw = (size[0] - eh) // 2, (size[1] - ew) // 2
    return F.pad(dense, (pw, pw, ph, ph))


class ConvBN(nn.Sequential):
    """Conv2d (no bias) + BatchNorm2d, 'same' padding for odd kernels (``conv_bn`` in the
    RepLKNet/SLaK code)."""

    def __init__(self, cin: int, cout: int, kernel, stride: int = 1, groups: int = 1,
                 dilation: int = 1) -> None:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        pad = (dilation * (kh - 1) // 2, dilation * (kw - 1) // 2)
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, (kh, kw), stride, pad, dilation, groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def fused(self):
        return _fuse_bn(self.conv.weight, None, self.bn)


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(ConvBN(cin, cout, kernel, stride, groups), nn.ReLU())


class ReparamDWConv(nn.Module):
    """Depthwise large kernel with parallel small kernels, each conv-BN, summed (training form);
    ``merged`` holds the single equivalent kxk depthwise conv with bias (inference form).

    ``branches``: (kernel_h, kernel_w, dilation) of every branch besides the main one. RepLKNet:
    one 5x5 (``small_kernel``); UniRepLKNet: the dilated branches of its Dilated Reparam Block;
    SLaK: a (k, 5) and a (5, k) kernel plus 5x5 (``main`` False: the k x k kernel itself is not
    trained, only its decomposition)."""

    def __init__(self, channels: int, kernel: int, branches: tuple[tuple[int, int, int], ...],
                 merged: bool = False, main: bool = True) -> None:
        super().__init__()
        self.kernel = kernel
        self.branch_specs = branches
        self.has_main = main
        if merged:
            self.merged = nn.Conv2d(channels, channels, kernel, 1, kernel // 2, groups=channels)
            return
        self.merged = None
        self.main = ConvBN(channels, channels, kernel, groups=channels) if main else None
        self.branches = nn.ModuleList(ConvBN(channels, channels, (kh, kw), groups=channels, dilation=d)
                                      for kh, kw, d in branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.merged is not None:
            return self.merged(x)  # [B, C, H, W]
        out = self.main(x) if self.main is not None else 0
        for b in self.branches:
            out = out + b(x)  # [B, C, H, W]
        return out

    @torch.no_grad()
    def merge(self) -> None:
        """Fold every branch and its BN into one kxk depthwise conv with bias (eval-mode BN)."""
        if self.merged is not None:
            return
        size = (self.kernel, self.kernel)
        c = self.branches[0].conv.in_channels if len(self.branches) else self.main.conv.in_channels
        k = torch.zeros(c, 1, *size)
        b = torch.zeros(c)
        parts = ([(self.main, 1)] if self.main is not None else []) + [
            (m, d) for m, (_, _, d) in zip(self.branches, self.branch_specs)]
        for m, d in parts:
            kk, bb = m.fused()
            if d == 1 and kk.shape[-2:] != size:
                ph, pw = (size[0] - kk.shape[-2]) // 2, (size[1] - kk.shape[-1]) // 2
                kk = F.pad(kk, (pw, pw, ph, ph))
            elif d > 1:
                kk = _dilate_to(kk, d, size)
            k += kk
            b += bb
        conv = nn.Conv2d(c, c, self.kernel, 1, self.kernel // 2, groups=c)
        conv.weight.copy_(k)
        conv.bias.copy_(b)
        self.merged = conv
        del self.main, self.branches
        self.main, self.branches = None, nn.ModuleList()


def merge_reparam(model: nn.Module) -> nn.Module:
    """Convert every :class:`ReparamDWConv` in ``model`` to its merged inference form (in
    place; call in eval mode, after training). Returns ``model``."""
    for m in model.modules():
        if isinstance(m, ReparamDWConv):
            m.merge()
    return model


# --- RepLKNet -------------------------------------------------------------------------------

REPLKNET_31B = {"widths": (128, 256, 512, 1024), "depths": (2, 2, 18, 2), "kernels": (31, 29, 27, 13)}


class RepLKBlock(nn.Module):
    """RepLK block (RepLKNet Fig. 4; ``RepLKBlock``): BN -> 1x1 conv-BN-ReLU (C -> dw_ratio C)
    -> kxk depthwise (+ 5x5 re-param branch) -> ReLU -> 1x1 conv-BN -> + x."""

    def __init__(self, dim: int, kernel: int, small_kernel: int = 5, dw_ratio: float = 1.0,
                 merged: bool = False) -> None:
        super().__init__()
        dw = int(dim * dw_ratio)
        self.prelkb_bn = nn.BatchNorm2d(dim)
        self.pw1 = _conv_bn_relu(dim, dw, 1)
        branches = ((small_kernel, small_kernel, 1),) if small_kernel and small_kernel < kernel else ()
        self.large_kernel = ReparamDWConv(dw, kernel, branches, merged)
        self.lk_nonlinear = nn.ReLU()
        self.pw2 = ConvBN(dw, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.lk_nonlinear(self.large_kernel(self.pw1(self.prelkb_bn(x))))  # [B, dwC, H, W]
        return x + self.pw2(y)  # [B, C, H, W]


class ConvFFN(nn.Module):
    """RepLKNet ConvFFN: BN -> 1x1 conv-BN (C -> rC) -> GELU -> 1x1 conv-BN -> + x."""

    def __init__(self, dim: int, ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.preffn_bn = nn.BatchNorm2d(dim)
        self.pw1 = ConvBN(dim, hidden, 1)
        self.nonlinear = nn.GELU()
        self.pw2 = ConvBN(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pw2(self.nonlinear(self.pw1(self.preffn_bn(x))))  # [B, C, H, W]


class RepLKNet(nn.Module):
    """RepLKNet (arXiv:2203.06717, official ``create_RepLKNet31B``): stem 3x3/2 conv, 3x3 dw,
    1x1, 3x3/2 dw (all conv-BN-ReLU); per stage ``depth`` x (RepLK block + ConvFFN); transitions
    1x1 conv-BN-ReLU + 3x3/2 dw conv-BN-ReLU; BN -> GAP -> fc. RepLKNet-31B at 224: 79.3 M
    params, 15.3 G MACs (paper Tables 5 and 6)."""

    def __init__(self, widths=REPLKNET_31B["widths"], depths=REPLKNET_31B["depths"],
                 kernels=REPLKNET_31B["kernels"], small_kernel: int = 5, ffn_ratio: float = 4.0,
                 merged: bool = False, num_classes: int = 1000) -> None:
        super().__init__()
        if not len(widths) == len(depths) == len(kernels):
            raise WorkloadError(f"kernels = {kernels}; need one per stage ({len(depths)})")
        w0 = widths[0]
        self.stem = nn.Sequential(_conv_bn_relu(3, w0, 3, 2), _conv_bn_relu(w0, w0, 3, 1, w0),
                                  _conv_bn_relu(w0, w0, 1), _conv_bn_relu(w0, w0, 3, 2, w0))
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()
        for i, (w, d, k) in enumerate(zip(widths, depths, kernels)):
            blocks = []
            for _ in range(d):
                blocks += [RepLKBlock(w, k, small_kernel, 1.0, merged), ConvFFN(w, ffn_ratio)]
            self.stages.append(nn.Sequential(*blocks))
            if i < len(widths) - 1:
                self.transitions.append(nn.Sequential(_conv_bn_relu(w, widths[i + 1], 1),
                                                      _conv_bn_relu(widths[i + 1], widths[i + 1], 3, 2,
                                                                    widths[i + 1])))
        self.norm = nn.BatchNorm2d(widths[-1])
        self.head = nn.Linear(widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # [B, C0, H/4, W/4]
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.transitions):
                x = self.transitions[i](x)  # [B, C_i+1, H/2^(i+3), W/2^(i+3)]
        return self.head(self.norm(x).mean((2, 3)))  # [B, classes]


def replknet31b(kernels: tuple[int, ...] = (31, 29, 27, 13), small_kernel: int = 5,
                merged: bool = False, num_classes: int = 1000) -> RepLKNet:
    """RepLKNet-31B; ``kernels`` per stage (the paper's ablation: 3-3-3-3 .. 31-29-27-13)."""
    for k in kernels:
        check_positive("kernels", k)
    return RepLKNet(kernels=tuple(kernels), small_kernel=small_kernel, merged=merged,
                    num_classes=num_classes)


def replknet_block(dim: int = 128, kernel: int = 31, small_kernel: int = 5, merged: bool = False,
                   ffn_ratio: float = 4.0) -> nn.Sequential:
    """One RepLKNet-31B layer (RepLK block + ConvFFN); default: stage 1 at 224 (128 channels,
    56x56, 31x31 kernel)."""
    check_positive("kernel", kernel)
    return nn.Sequential(RepLKBlock(dim, kernel, small_kernel, 1.0, merged), ConvFFN(dim, ffn_ratio))


# --- UniRepLKNet ----------------------------------------------------------------------------

#: Dilated Reparam Block branches per large kernel: (kernel, dilation) pairs (official
#: ``DilatedReparamBlock``)
DILATED_BRANCHES = {
    17: ((5, 1), (9, 2), (3, 4), (3, 5), (3, 7)),
    15: ((5, 1), (7, 2), (3, 3), (3, 5), (3, 7)),
    13: ((5, 1), (7, 2), (3, 3), (3, 4), (3, 5)),
    11: ((5, 1), (5, 2), (3, 3), (3, 4), (3, 5)),
    9: ((5, 1), (5, 2), (3, 3), (3, 4)),
    7: ((5, 1), (3, 2), (3, 3)),
    5: ((3, 1), (3, 2)),
}

#: name -> (dims, depths, kernel per block in each stage) (official ``default_UniRepLKNet_*``)
_K_AFP = ((3, 3), (13, 13), (13,) * 6, (13, 13))
UNIREPLKNET = {
    "a": ((40, 80, 160, 320), (2, 2, 6, 2), _K_AFP),
    "f": ((48, 96, 192, 384), (2, 2, 6, 2), _K_AFP),
    "p": ((64, 128, 256, 512), (2, 2, 6, 2), _K_AFP),
    "n": ((80, 160, 320, 640), (2, 2, 8, 2), ((3, 3), (13, 13), (13,) * 8, (13, 13))),
    "t": ((80, 160, 320, 640), (3, 3, 18, 3), ((3,) * 3, (13,) * 3, (13, 3) * 9, (13,) * 3)),
    "s": ((96, 192, 384, 768), (3, 3, 27, 3), ((3,) * 3, (13,) * 3, (13, 3, 3) * 9, (13,) * 3)),
}


class GRN(nn.Module):
    """Global response normalisation on channels-last tensors (ConvNeXt V2; UniRepLKNet
    ``GRNwithNHWC``): x * (1 + gamma * N(x)) + beta, N = ||x||_HW / mean_C ||x||_HW."""

    def __init__(self, dim: int, bias: bool = True) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)  # [B, 1, 1, C]
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        y = (self.gamma * nx + 1) * x
        return y + self.beta if self.beta is not None else y  # [B, H, W, C]


class SEBlock(nn.Module):
    """Squeeze-excitation with 1x1 convs (UniRepLKNet ``SEBlock``, internal = C / 4)."""

    def __init__(self, dim: int, internal: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(dim, internal, 1)
        self.up = nn.Conv2d(internal, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.up(F.relu(self.down(F.adaptive_avg_pool2d(x, 1)))))  # [B, C, 1, 1]
        return x * s


class UniRepLKNetBlock(nn.Module):
    """UniRepLKNet block: kernel >= 7: Dilated Reparam Block; 3 or 5: plain depthwise conv; then
    BN -> SE -> (NHWC) Linear 4C -> GELU -> GRN -> Linear C -> (NCHW) BN -> layer scale -> + x.
    Merged form (official ``deploy=True``): one kxk depthwise conv with bias, no BN after it,
    GRN's beta folded into the last Linear, which takes a bias and loses its BN, no layer scale."""

    def __init__(self, dim: int, kernel: int, merged: bool = False, ffn_factor: int = 4) -> None:
        super().__init__()
        self.merged = merged
        if kernel >= 7:
            branches = tuple((k, k, d) for k, d in DILATED_BRANCHES[kernel])
            self.dwconv = ReparamDWConv(dim, kernel, branches, merged)
        else:
            check_choice("kernel", kernel, (3, 5, 7, 9, 11, 13, 15, 17))
            self.dwconv = nn.Conv2d(dim, dim, kernel, 1, kernel // 2, groups=dim, bias=merged)
        self.norm = nn.Identity() if merged else nn.BatchNorm2d(dim)
        self.se = SEBlock(dim, dim // 4)
        hidden = ffn_factor * dim
        self.pwconv1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.grn = GRN(hidden, bias=not merged)
        self.pwconv2 = nn.Linear(hidden, dim, bias=merged)
        self.norm2 = nn.Identity() if merged else nn.BatchNorm2d(dim)
        self.gamma = None if merged else nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.norm(self.dwconv(x))).permute(0, 2, 3, 1)  # [B, H, W, C]
        y = self.pwconv2(self.grn(self.act(self.pwconv1(y)))).permute(0, 3, 1, 2)  # [B, C, H, W]
        y = self.norm2(y)
        if self.gamma is not None:
            y = self.gamma.view(1, -1, 1, 1) * y
        return x + y


class UniRepLKNet(nn.Module):
    """UniRepLKNet (arXiv:2311.15599): stem 3x3/2 conv (C/2) -> LN -> GELU -> 3x3/2 conv -> LN;
    downsampling 3x3/2 conv -> LN; blocks per ``UNIREPLKNET``; GAP -> LN -> fc. Published at 224:
    A 4.4 M params / 0.6 G MACs, F 6.2 M / 0.9 G, P 10.7 M / 1.6 G, N 18.3 M / 2.8 G, T 31 M /
    4.9 G, S 56 M / 9.1 G (paper Table 2)."""

    def __init__(self, variant: str = "t", merged: bool = False, num_classes: int = 1000) -> None:
        super().__init__()
        check_choice("variant", variant, tuple(UNIREPLKNET))
        dims, _depths, kernels = UNIREPLKNET[variant]
        self.downsample = nn.ModuleList([nn.Sequential(
            nn.Conv2d(3, dims[0] // 2, 3, 2, 1), LayerNorm2d(dims[0] // 2, eps=1e-6), nn.GELU(),
            nn.Conv2d(dims[0] // 2, dims[0], 3, 2, 1), LayerNorm2d(dims[0], eps=1e-6))])
        for i in range(3):
            self.downsample.append(nn.Sequential(nn.Conv2d(dims[i], dims[i + 1], 3, 2, 1),
                                                 LayerNorm2d(dims[i + 1], eps=1e-6)))
        self.stages = nn.ModuleList(
            nn.Sequential(*(UniRepLKNetBlock(d, k, merged) for k in ks)) for d, ks in zip(dims, kernels))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample, self.stages):
            x = stage(down(x))  # [B, C_i, H/2^(i+2), W/2^(i+2)]
        return self.head(self.norm(x.mean((2, 3))))  # [B, classes]


def unireplknet(variant: str = "t", merged: bool = False, num_classes: int = 1000) -> UniRepLKNet:
    """UniRepLKNet-A/F/P/N/T/S (``variant``), training or merged inference form."""
    return UniRepLKNet(variant, merged, num_classes)


def unireplknet_block(dim: int = 320, kernel: int = 13, merged: bool = False) -> UniRepLKNetBlock:
    """One UniRepLKNet block; default: UniRepLKNet-T stage 3 at 224 (320 channels, 14x14,
    13x13 Dilated Reparam Block)."""
    return UniRepLKNetBlock(dim, kernel, merged)


# --- SLaK and DCLS (ConvNeXt blocks with other depthwise kernels) ---------------------------

class ConvNeXtStyleBlock(nn.Module):
    """ConvNeXt block (arXiv:2201.03545) with a pluggable depthwise token mixer: mixer -> LN
    (channels-last) -> Linear 4C -> GELU -> Linear C -> layer scale -> + x."""

    def __init__(self, dim: int, mixer: nn.Module) -> None:
        super().__init__()
        self.dwconv = mixer
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # [B, H, W, C]
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)  # [B, C, H, W]


def slak_mixer(dim: int, kernel: int, small: int = 5, merged: bool = False) -> nn.Module:
    """SLaK decomposed kernel (``ReparamLargeKernelConv`` with ``Decom=True``): (k, 5) and (5, k)
    depthwise conv-BN plus a 5x5 depthwise conv-BN, summed. 'Same' padding per dimension
    (assumption: the released code passes one padding for both dimensions; only per-dimension
    'same' padding gives the three branches one output shape). Merged: one kxk kernel."""
    if kernel <= small:
        return nn.Conv2d(dim, dim, kernel, 1, kernel // 2, groups=dim)
    return ReparamDWConv(dim, kernel, ((kernel, small, 1), (small, kernel, 1), (small, small, 1)),
                         merged, main=False)


SLAK_T = {"dims": (124, 249, 499, 998), "depths": (3, 3, 9, 3), "kernels": (51, 49, 47, 13)}


class SLaK(nn.Module):
    """SLaK-T (arXiv:2207.03620): ConvNeXt-T macro design, widths x1.3 (124/249/499/998),
    kernels 51-49-47-13 decomposed as in :func:`slak_mixer`. Published: 30 M params, 5.0 G MACs
    at 224 (paper Table 2)."""

    def __init__(self, kernels=SLAK_T["kernels"], merged: bool = False, num_classes: int = 1000) -> None:
        super().__init__()
        dims, depths = SLAK_T["dims"], SLAK_T["depths"]
        self.downsample = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))])
        for i in range(3):
            self.downsample.append(nn.Sequential(LayerNorm2d(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtStyleBlock(d, slak_mixer(d, k, merged=merged)) for _ in range(n)))
            for d, n, k in zip(dims, depths, kernels))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample, self.stages):
            x = stage(down(x))  # [B, C_i, H/2^(i+2), W/2^(i+2)]
        return self.head(self.norm(x.mean((2, 3))))  # [B, classes]


def slak_t(kernels: tuple[int, ...] = (51, 49, 47, 13), merged: bool = False,
           num_classes: int = 1000) -> SLaK:
    """SLaK-T with per-stage kernels ``kernels``."""
    return SLaK(tuple(kernels), merged, num_classes)


def slak_block(dim: int = 124, kernel: int = 51, merged: bool = False) -> ConvNeXtStyleBlock:
    """One SLaK-T block; default: stage 1 at 224 (124 channels, 56x56, 51x51 decomposed)."""
    return ConvNeXtStyleBlock(dim, slak_mixer(dim, kernel, merged=merged))


class DCLSDense(nn.Module):
    """DCLS depthwise conv as its dense equivalent (arXiv:2112.03740): ``count`` weights per
    channel with learnable real positions inside a ``kernel`` x ``kernel`` window, spread to the
    dense kernel by bilinear interpolation (the paper's construction), then one dense kxk
    depthwise conv (what eager PyTorch runs). ConvNeXt-T-dcls: kernel 17, count 34 (paper
    Section 5). Params per channel: ``count`` weights + 2 x ``count`` positions + bias."""

    def __init__(self, dim: int, kernel: int = 17, count: int = 34, merged: bool = False) -> None:
        super().__init__()
        self.kernel = kernel
        self.dim = dim
        self.bias = nn.Parameter(torch.zeros(dim))
        if merged:
            self.dense = nn.Parameter(torch.zeros(dim, 1, kernel, kernel))
            return
        self.dense = None
        self.weight = nn.Parameter(torch.randn(dim, count) * 0.02)
        lim = (kernel - 1) / 2
        self.pos = nn.Parameter(torch.empty(2, dim, count).uniform_(-lim, lim))

    def construct(self) -> torch.Tensor:
        """Dense [C, 1, k, k] kernel: each weight split bilinearly over the 4 taps around its
        (row, col) position."""
        k, lim = self.kernel, (self.kernel - 1) / 2
        p = (self.pos.clamp(-lim, lim) + lim)  # [2, C, n] in [0, k-1]
        p0 = p.floor().clamp(max=k - 2)
        f = p - p0  # [2, C, n]
        dense = self.weight.new_zeros(self.dim, k * k)
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            wy = f[0] if dy else 1 - f[0]
            wx = f[1] if dx else 1 - f[1]
            idx = ((p0[0] + dy) * k + p0[1] + dx).long()  # [C, n]
            dense = dense.scatter_add(1, idx, self.weight * wy * wx)
        return dense.view(self.dim, 1, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.dense if self.dense is not None else self.construct()
        return F.conv2d(x, w, self.bias, 1, self.kernel // 2, 1, self.dim)  # [B, C, H, W]


def dcls_block(dim: int = 96, kernel: int = 17, count: int = 34, merged: bool = True) -> ConvNeXtStyleBlock:
    """One ConvNeXt-T-dcls block; default: stage 1 at 224 (96 channels, 56x56), inference form
    (dense 17x17 kernel; ``merged`` False also builds the kernel from weights and positions)."""
    return ConvNeXtStyleBlock(dim, DCLSDense(dim, kernel, count, merged))


# --- HorNet ---------------------------------------------------------------------------------

class GnConv(nn.Module):
    """Recursive gated convolution g^n Conv (HorNet Eq. 3-5, official ``gnconv``): 1x1 C -> 2C,
    split p0 (C / 2^(n-1)) | q (sum of dims); 7x7 depthwise on q, scaled by ``s``; p_{k+1} =
    pw_k(p_k) * q_k; 1x1 out. Dims C/2^(n-1), ..., C/2, C."""

    def __init__(self, dim: int, order: int = 3, kernel: int = 7, s: float = 1.0 / 3.0) -> None:
        super().__init__()
        check_positive("order", order)
        self.dims = [dim // 2 ** i for i in range(order)][::-1]
        self.proj_in = nn.Conv2d(dim, 2 * dim, 1)
        self.dwconv = nn.Conv2d(sum(self.dims), sum(self.dims), kernel, 1, kernel // 2, groups=sum(self.dims))
        self.proj_out = nn.Conv2d(dim, dim, 1)
        self.pws = nn.ModuleList(nn.Conv2d(self.dims[i], self.dims[i + 1], 1) for i in range(order - 1))
        self.scale = s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pwa, abc = torch.split(self.proj_in(x), (self.dims[0], sum(self.dims)), dim=1)
        dw = torch.split(self.dwconv(abc) * self.scale, self.dims, dim=1)
        y = pwa * dw[0]  # [B, C/2^(n-1), H, W]
        for i, pw in enumerate(self.pws):
            y = pw(y) * dw[i + 1]
        return self.proj_out(y)  # [B, C, H, W]


class HorBlock(nn.Module):
    """HorNet block: LN (channels-first) -> gnConv -> layer scale -> + x; LN -> Linear 4C ->
    GELU -> Linear C -> layer scale -> + x."""

    def __init__(self, dim: int, order: int, kernel: int = 7) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(dim, eps=1e-6)
        self.gnconv = GnConv(dim, order, kernel)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma1 = nn.Parameter(torch.full((dim, 1, 1), 1e-6))
        self.gamma2 = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.gamma1 * self.gnconv(self.norm1(x))  # [B, C, H, W]
        y = self.pwconv2(self.act(self.pwconv1(self.norm2(x.permute(0, 2, 3, 1)))))  # [B, H, W, C]
        return x + (self.gamma2 * y).permute(0, 3, 1, 2)


class HorNet(nn.Module):
    """HorNet-T (7x7) (arXiv:2207.14284): dims 64/128/256/512, depths 2/3/18/2, gnConv orders
    2/3/4/5, s = 1/3; ConvNeXt stem/downsampling/head. Published: 22 M params, 4.0 G MACs at 224
    (paper Table 1)."""

    def __init__(self, base: int = 64, depths=(2, 3, 18, 2), kernel: int = 7, num_classes: int = 1000) -> None:
        super().__init__()
        dims = tuple(base * 2 ** i for i in range(4))
        self.downsample = nn.ModuleList([nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))])
        for i in range(3):
            self.downsample.append(nn.Sequential(LayerNorm2d(dims[i], eps=1e-6), nn.Conv2d(dims[i], dims[i + 1], 2, 2)))
        self.stages = nn.ModuleList(nn.Sequential(*(HorBlock(d, i + 2, kernel) for _ in range(n)))
                                    for i, (d, n) in enumerate(zip(dims, depths)))
        self.norm = nn.LayerNorm(dims[-1], eps=1e-6)
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample, self.stages):
            x = stage(down(x))
        return self.head(self.norm(x.mean((2, 3))))  # [B, classes]


def hornet_t(kernel: int = 7, num_classes: int = 1000) -> HorNet:
    """HorNet-T with ``kernel`` x ``kernel`` depthwise convs in gnConv."""
    return HorNet(kernel=kernel, num_classes=num_classes)


def hornet_block(dim: int = 128, order: int = 3, kernel: int = 7) -> HorBlock:
    """One HorNet-T block; default: stage 2 at 224 (128 channels, 28x28, order 3)."""
    return HorBlock(dim, order, kernel)


# --- LSNet ----------------------------------------------------------------------------------

class ConvBNAct(nn.Sequential):
    """LSNet ``Conv2d_BN`` (+ optional ReLU)."""

    def __init__(self, cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, act: bool = False) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         *([nn.ReLU()] if act else []))


class LSConv(nn.Module):
    """LS convolution (LSNet Sec. 3): large-kernel perception LKP (1x1 C -> C/2 -> ReLU -> 7x7
    depthwise -> ReLU -> 1x1 -> ReLU -> 1x1 to sks^2 x C/G kernels -> GroupNorm) predicts a 3x3
    kernel per pixel for each of C/G channel groups; small-kernel aggregation SKA applies it to
    a 3x3 neighbourhood of x; BN -> + x. The official SKA is a fused Triton/CUDA kernel; here it
    is unfold -> multiply -> sum (same MACs; assumption: channel c uses kernel group c // G)."""

    def __init__(self, dim: int, lks: int = 7, sks: int = 3, groups: int = 8) -> None:
        super().__init__()
        if dim % groups or dim % 2:
            raise WorkloadError(f"dim = {dim}; must be divisible by groups = {groups} and 2")
        self.dim, self.sks, self.groups = dim, sks, groups
        half = dim // 2
        self.cv1 = ConvBNAct(dim, half, act=True)
        self.cv2 = ConvBNAct(half, half, lks, groups=half, act=True)
        self.cv3 = ConvBNAct(half, half, act=True)
        self.cv4 = nn.Conv2d(half, sks * sks * dim // groups, 1)
        self.norm = nn.GroupNorm(dim // groups, sks * sks * dim // groups)
        self.bn = nn.BatchNorm2d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        wts = self.norm(self.cv4(self.cv3(self.cv2(self.cv1(x)))))  # [B, 9 C/G, H, W]
        wts = wts.view(b, c // self.groups, 1, self.sks ** 2, h, w)
        cols = F.unfold(x, self.sks, padding=self.sks // 2)  # [B, C 9, HW]
        cols = cols.view(b, c // self.groups, self.groups, self.sks ** 2, h, w)
        y = (cols * wts).sum(3).view(b, c, h, w)  # [B, C, H, W]
        return self.bn(y) + x


class SqueezeExcite(nn.Module):
    """timm-style SE with 1x1 convs and ReLU (rd = C / 4)."""

    def __init__(self, dim: int, ratio: float = 0.25) -> None:
        super().__init__()
        rd = max(8, int(dim * ratio))
        self.fc1 = nn.Conv2d(dim, rd, 1)
        self.fc2 = nn.Conv2d(rd, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class RepVGGDW(nn.Module):
    """3x3 depthwise conv-BN + 1x1 depthwise conv-BN + identity (training form)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = ConvBNAct(dim, dim, 3, groups=dim)
        self.conv1 = ConvBNAct(dim, dim, 1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.conv1(x) + x


class SpatialAttention(nn.Module):
    """LSNet / EfficientViT-style attention over positions: 1x1 qkv conv-BN, 3x3 depthwise on q,
    per head softmax(q^T k * scale) over the HW positions, then v @ attn^T; ReLU -> 1x1 proj-BN.
    Key dim 16, value dim 4 x 16 per head (``attn_ratio`` 4). No attention bias (assumption:
    the official learned relative-position biases add one [heads, HW, HW] add)."""

    def __init__(self, dim: int, key_dim: int = 16, heads: int = 4, attn_ratio: int = 4) -> None:
        super().__init__()
        self.heads, self.key_dim = heads, key_dim
        self.scale = key_dim ** -0.5
        self.nh_kd = key_dim * heads
        self.dh = attn_ratio * key_dim * heads
        self.qkv = ConvBNAct(dim, self.dh + 2 * self.nh_kd)
        self.dw = ConvBNAct(self.nh_kd, self.nh_kd, 3, groups=self.nh_kd)
        self.proj = nn.Sequential(nn.ReLU(), ConvBNAct(self.dh, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        n = h * w
        q, k, v = self.qkv(x).split([self.nh_kd, self.nh_kd, self.dh], dim=1)
        q = self.dw(q)
        q, k, v = (t.reshape(b, self.heads, -1, n) for t in (q, k, v))  # [B, h, d, N]
        attn = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)  # [B, h, N, N]
        y = (v @ attn.transpose(-2, -1)).reshape(b, self.dh, h, w)  # [B, h dv, H, W]
        return x + self.proj(y)


class LSBlock(nn.Module):
    """LSNet block: even depth index: RepVGGDW + SE; odd: LS conv (stage < 4) or spatial
    attention (last stage); then FFN (1x1 conv-BN 2C -> ReLU -> 1x1 conv-BN) + x."""

    def __init__(self, dim: int, depth_index: int, last_stage: bool, heads: int = 4) -> None:
        super().__init__()
        if depth_index % 2 == 0:
            self.mixer: nn.Module = RepVGGDW(dim)
            self.se: nn.Module = SqueezeExcite(dim)
        else:
            self.mixer = SpatialAttention(dim, heads=heads) if last_stage else LSConv(dim)
            self.se = nn.Identity()
        self.ffn = nn.Sequential(ConvBNAct(dim, 2 * dim, act=True), ConvBNAct(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.se(self.mixer(x))
        return x + self.ffn(x)


LSNET_T = {"dims": (64, 128, 256, 384), "depths": (0, 2, 8, 10), "heads": (3, 3, 3, 4)}


class LSNet(nn.Module):
    """LSNet-T (arXiv:2503.23135; official ``lsnet_t``): dims 64/128/256/384, depths 0/2/8/10,
    stride-8 stem of three 3x3/2 conv-BN (ReLU between); downsampling 3x3/2 depthwise conv-BN +
    1x1 conv-BN; GAP -> BN -> fc. Published: 11.4 M params, 0.3 G MACs at 224 (paper Table 1).
    Assumptions where the code was not at hand: the downsampling has no extra residual
    depthwise/FFN units, the head is BN + Linear (no distillation head)."""

    def __init__(self, dims=LSNET_T["dims"], depths=LSNET_T["depths"], heads=LSNET_T["heads"],
                 num_classes: int = 1000) -> None:
        super().__init__()
        d0 = dims[0]
        self.stem = nn.Sequential(ConvBNAct(3, d0 // 4, 3, 2, act=True), ConvBNAct(d0 // 4, d0 // 2, 3, 2, act=True),
                                  ConvBNAct(d0 // 2, d0, 3, 2))
        layers: list[nn.Module] = []
        for i, (d, n) in enumerate(zip(dims, depths)):
            if i:
                layers += [ConvBNAct(dims[i - 1], dims[i - 1], 3, 2, groups=dims[i - 1]), ConvBNAct(dims[i - 1], d)]
            layers += [LSBlock(d, j, i == len(dims) - 1, heads[i]) for j in range(n)]
        self.blocks = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm1d(dims[-1]), nn.Linear(dims[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))  # [B, classes]


def lsnet_t(num_classes: int = 1000) -> LSNet:
    """LSNet-T."""
    return LSNet(num_classes=num_classes)


def lsnet_block(dim: int = 128, attention: bool = False, heads: int = 4) -> LSBlock:
    """One LSNet mixing block + FFN; default: LS conv at LSNet-T stage 2 (128 channels, 28x28
    at 224); ``attention`` True: the last stage's spatial attention (384 channels, 7x7)."""
    return LSBlock(dim, 1, attention, heads)


def lsnet_attention_block(dim: int = 384, heads: int = 4) -> LSBlock:
    """LSNet-T last-stage spatial attention block + FFN (384 channels, 7x7 at 224: softmax over
    the 49 positions, then the value matmul)."""
    return LSBlock(dim, 1, True, heads)


# --- CAS-ViT --------------------------------------------------------------------------------

class _SpatialGate(nn.Module):
    """CAS-ViT ``SpatialOperation``: x * sigmoid(1x1(C -> 1)(ReLU(BN(dw3x3 x))))."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, groups=dim), nn.BatchNorm2d(dim), nn.ReLU(),
                                   nn.Conv2d(dim, 1, 1, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.block(x)  # [B, C, H, W] * [B, 1, H, W]


class _ChannelGate(nn.Module):
    """CAS-ViT ``ChannelOperation``: x * sigmoid(1x1(GAP x))."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(dim, dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc(F.adaptive_avg_pool2d(x, 1)))


class AdditiveTokenMixer(nn.Module):
    """Convolutional additive self-attention (CAS-ViT Eq. 5): q, k, v = 1x1(x);
    out = dw3x3_proj(dw3x3(Phi(q) + Phi(k)) * v), Phi = channel gate after spatial gate."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.oper_q = nn.Sequential(_SpatialGate(dim), _ChannelGate(dim))
        self.oper_k = nn.Sequential(_SpatialGate(dim), _ChannelGate(dim))
        self.dwc = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.proj = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=1)
        return self.proj(self.dwc(self.oper_q(q) + self.oper_k(k)) * v)  # [B, C, H, W]


class AdditiveBlock(nn.Module):
    """CAS-ViT block: x + LocalIntegration(x) (1x1 -> BN -> dw3x3 -> GELU -> 1x1); x + mixer(BN x);
    x + MLP(BN x) (1x1 4C -> GELU -> 1x1)."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.local_perception = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.BatchNorm2d(dim),
                                              nn.Conv2d(dim, dim, 3, 1, 1, groups=dim), nn.GELU(),
                                              nn.Conv2d(dim, dim, 1))
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = AdditiveTokenMixer(dim)
        self.norm2 = nn.BatchNorm2d(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.local_perception(x)
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def casvit_block(dim: int = 96) -> AdditiveBlock:
    """One CAS-ViT block; default: CAS-ViT-M stage 2 (96 channels, 28x28 at 224)."""
    return AdditiveBlock(dim)


# --- EfficientMod ---------------------------------------------------------------------------

class ContextModulation(nn.Module):
    """EfficientMod modulation (arXiv:2403.19963 Eq. 4-5): ctx = GELU(dw7x7(Linear x)) (as
    1x1 conv -> depthwise), v = Linear x, out = Linear(ctx * v), pre-LN, + x; then a 1x1-conv MLP
    (ratio 4, GELU) + x. Assumption: the context branch is one 1x1 + one 7x7 depthwise + GELU."""

    def __init__(self, dim: int, kernel: int = 7, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, dim)
        self.ctx = nn.Sequential(nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, dim, kernel, 1, kernel // 2, groups=dim),
                                 nn.GELU())
        self.v = nn.Conv2d(dim, dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.norm2 = nn.GroupNorm(1, dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.GELU(), nn.Conv2d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(x)
        x = x + self.proj(self.ctx(y) * self.v(y))  # [B, C, H, W]
        return x + self.mlp(self.norm2(x))


def efficientmod_block(dim: int = 64, kernel: int = 7) -> ContextModulation:
    """One EfficientMod modulation block + MLP; default: stage 2 of EfficientMod-xxs-like widths
    (64 channels, 28x28)."""
    return ContextModulation(dim, kernel)


# --- GC block -------------------------------------------------------------------------------

class GlobalContext(nn.Module):
    """GC block (GCNet, arXiv:1904.11492 Fig. 4(d)): attention logits = 1x1 conv (C -> 1),
    softmax over the HW positions, context = x @ softmax ([B, C, HW] x [B, HW, 1]); transform:
    1x1 C -> C/r -> LayerNorm -> ReLU -> 1x1 -> C; added to every position."""

    def __init__(self, dim: int = 256, ratio: float = 1 / 16) -> None:
        super().__init__()
        hidden = max(1, int(dim * ratio))
        self.mask = nn.Conv2d(dim, 1, 1)
        self.transform = nn.Sequential(nn.Conv2d(dim, hidden, 1), nn.LayerNorm([hidden, 1, 1]), nn.ReLU(),
                                       nn.Conv2d(hidden, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        attn = self.mask(x).view(b, 1, h * w).softmax(dim=-1)  # [B, 1, HW]
        ctx = torch.bmm(x.view(b, c, h * w), attn.transpose(1, 2)).view(b, c, 1, 1)  # [B, C, 1, 1]
        return x + self.transform(ctx)


def gc_block(dim: int = 256, ratio: float = 0.0625) -> GlobalContext:
    """GC block; default: ResNet-50 res2 output at 224 (256 channels, 56x56), r = 16."""
    return GlobalContext(dim, ratio)
