"""CPU cost model for large depthwise kernels: oneDNN's jit depthwise kernel versus its im2col +
GEMM fallback (codesign/cost/cpu.py: dw_gemm_fallback, im2col_s), against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.cost import registry
from codesign.cost.base import CostContext
from codesign.cost.cpu import (
    column_shape,
    dw_gemm_fallback,
    dw_jit_max_left_pad,
    im2col_s,
)
from codesign.hardware import load_hardware
from codesign.ir.graph import ConvAttrs, Op, OpKind, TensorSpec

NCHW = CostContext("fp32", "eager", "nchw")
NHWC = CostContext("fp32", "eager", "nhwc")


@pytest.fixture(scope="module")
def avx512():
    return load_hardware("host-cpu").with_knobs({"simd_width_bits": 512, "im2col_row_s": 1e-8,
                                                 "im2col_bytes_per_s": 1e9})


def dw(c=8, hw=20, kernel=(15, 15), pad=None, dil=1, n=1):
    kh, kw = kernel
    pad = pad if pad is not None else (dil * (kh - 1) // 2, dil * (kw - 1) // 2)
    oh = hw + 2 * pad[0] - dil * (kh - 1)
    ow = hw + 2 * pad[1] - dil * (kw - 1)
    a = ConvAttrs(c, c, (kh, kw), (1, 1), pad, (dil, dil), c)
    return Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m",
              (TensorSpec(1, (n, c, hw, hw)), TensorSpec(2, (c, 1, kh, kw), is_weight=True)),
              (TensorSpec(3, (n, c, oh, ow)),), a)


def test_jit_kernel_takes_left_padding_up_to_its_unroll(avx512):
    # measured with ONEDNN_VERBOSE on the AVX-512 host (benchmarks/cpu_effects.py dwkernel)
    assert not dw_gemm_fallback(dw(kernel=(13, 13)), avx512, NCHW)          # pad 6: jit_dw
    assert dw_gemm_fallback(dw(kernel=(15, 15)), avx512, NCHW)              # pad 7: gemm
    assert dw_gemm_fallback(dw(kernel=(14, 14), pad=(7, 7)), avx512, NCHW)
    assert not dw_gemm_fallback(dw(kernel=(31, 31), pad=(6, 6)), avx512, NCHW)
    assert dw_gemm_fallback(dw(kernel=(5, 5), dil=4), avx512, NCHW)         # pad 8
    assert not dw_gemm_fallback(dw(kernel=(3, 3), dil=6), avx512, NCHW)     # pad 6
    assert dw_gemm_fallback(dw(kernel=(1, 17)), avx512, NCHW)               # W pad 8
    assert not dw_gemm_fallback(dw(kernel=(17, 1)), avx512, NCHW)           # H pad only
    assert not dw_gemm_fallback(dw(kernel=(51, 5)), avx512, NCHW)           # W pad 2


def test_channels_last_never_falls_back(avx512):
    assert not dw_gemm_fallback(dw(kernel=(31, 31)), avx512, NHWC)
    assert im2col_s(dw(kernel=(31, 31)), avx512, NHWC) == 0.0


def test_unroll_by_simd_width_vectorizes():
    assert list(dw_jit_max_left_pad(np.array([128, 256, 512]))) == [3, 4, 6]
    assert dw_gemm_fallback(dw(kernel=(11, 11)),
                            load_hardware("host-cpu").with_knobs({"simd_width_bits": 256}), NCHW)


def test_im2col_seconds_by_hand(avx512):
    op = dw(c=8, hw=20, kernel=(15, 15))
    rows = 8 * 225 * 20                     # channel x tap x output row
    assert column_shape(op) == (rows, rows * 20)
    expected = rows * 1e-8 + rows * 20 * 4 / 1e9
    assert float(im2col_s(op, avx512, NCHW)) == pytest.approx(expected)
    assert float(im2col_s(dw(kernel=(13, 13)), avx512, NCHW)) == 0.0


def test_fallback_dominates_a_31x31_kernel():
    hw = load_hardware("host-cpu").with_knobs({"simd_width_bits": 512})
    cost = registry().lookup(OpKind.CONV, "cpu")
    big = dw(c=128, hw=56, kernel=(31, 31))
    jit = dw(c=128, hw=56, kernel=(31, 31), pad=(6, 6))
    assert cost(big, hw, NCHW).latency_s > 20 * cost(jit, hw, NCHW).latency_s
    # the channels-last path runs the same MACs without the column buffer
    assert cost(big, hw, NHWC).latency_s < cost(big, hw, NCHW).latency_s / 20


def test_calibration_fits_the_im2col_rates_from_synthetic_timings(avx512):
    from codesign.calibration.host import Observation, fit, free_parameters, predict

    base = avx512.with_knobs({"dram_bandwidth_bytes_per_s": 1e11})
    ops = {f"dw{k}_{c}_{hw}": (dw(c=c, hw=hw, kernel=(k, k)),)
           for k, c, hw in ((15, 96, 32), (21, 192, 12), (27, 48, 40), (15, 64, 64), (9, 64, 24))}
    obs0 = [Observation(n, "synthetic", 1.0, o) for n, o in ops.items()]
    params = free_parameters(base, obs0)
    assert {"cpu.im2col_bytes_per_s", "cpu.im2col_row_s"} <= set(params)
    truth = {"cpu.im2col_bytes_per_s": 4e9, "cpu.im2col_row_s": 6e-9}
    measured = predict(base, list(ops.values()), truth)
    obs = [Observation(n, "synthetic", float(t), o) for (n, o), t in zip(ops.items(), measured)]
    res = fit(base, obs, list(truth), loss="linear")
    for k, v in truth.items():
        assert res.values[k] == pytest.approx(v, rel=0.02), k


def test_unfold_is_a_gather_of_its_output(avx512):
    import torch.nn.functional as F
    from torch import nn

    import codesign
    from codesign.cost.cpu import gather_s

    class Unfold(nn.Module):
        def forward(self, x):
            return F.unfold(x, 3, padding=1)

    g = codesign.trace(Unfold(), (1, 16, 10, 10))
    (op,) = [o for o in g.ops if o.aten.split("::")[-1].split(".")[0] == "im2col"]
    hw = avx512.with_knobs({"gather_bytes_per_s": 1e9})
    assert gather_s(op, hw, NCHW) == pytest.approx(16 * 9 * 100 * 4 / 1e9)
