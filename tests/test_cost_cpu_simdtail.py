"""CPU cost model: ATen's native conv GEMM vectorises over the output positions of one image, so
a map whose OH x OW is not a multiple of the SIMD lane count pays a part-empty last vector
(codesign/cost/cpu.py: simd_tail_factor), against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.cost import registry
from codesign.cost.base import CostContext
from codesign.cost.cpu import native_gemm_positions, simd_tail_factor
from codesign.hardware import load_hardware
from codesign.ir.graph import ConvAttrs, Op, OpKind, TensorSpec

NCHW = CostContext("fp32", "eager", "nchw")


@pytest.fixture(scope="module")
def one_core():
    # one thread: a 1x1 conv at batch < 16 runs ATen's native GEMM, not oneDNN
    return load_hardware("host-cpu").with_knobs({"cores": 1, "simd_width_bits": 512})


def conv1x1(cin=512, cout=512, h=7, w=7, n=1, groups=1):
    a = ConvAttrs(cin, cout, (1, 1), (1, 1), (0, 0), (1, 1), groups)
    return Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m",
              (TensorSpec(1, (n, cin, h, w)), TensorSpec(2, (cout, cin // groups, 1, 1), is_weight=True)),
              (TensorSpec(3, (n, cout, h, w)),), a)


def test_factor_by_hand(one_core):
    # 16 fp32 lanes (AVX-512): 49 positions fill 4 registers = 64 lanes
    assert native_gemm_positions(conv1x1(h=7, w=7)) == 49
    assert float(simd_tail_factor(conv1x1(h=7, w=7), one_core, NCHW)) == pytest.approx(64 / 49)
    assert float(simd_tail_factor(conv1x1(h=10, w=10), one_core, NCHW)) == pytest.approx(112 / 100)
    assert float(simd_tail_factor(conv1x1(h=14, w=14), one_core, NCHW)) == pytest.approx(208 / 196)
    assert float(simd_tail_factor(conv1x1(h=8, w=8), one_core, NCHW)) == 1.0
    # AVX2: 8 lanes, 49 -> 56
    avx2 = one_core.with_knobs({"simd_width_bits": 256})
    assert float(simd_tail_factor(conv1x1(h=7, w=7), avx2, NCHW)) == pytest.approx(56 / 49)


def test_factor_is_one_off_the_native_path(one_core):
    op = conv1x1(h=7, w=7)
    # a 1x1 map after global pooling is a GEMV
    assert float(simd_tail_factor(conv1x1(h=1, w=1), one_core, NCHW)) == 1.0
    # two threads: oneDNN (blocked, vectorised over channels)
    two = one_core.with_knobs({"cores": 2})
    assert float(simd_tail_factor(op, two, NCHW)) == 1.0
    # batch 16 on one thread: oneDNN too
    assert float(simd_tail_factor(conv1x1(h=7, w=7, n=16), one_core, NCHW)) == 1.0
    # channels-last, fused graphs, grouped convs
    assert simd_tail_factor(op, one_core, CostContext("fp32", "eager", "nhwc")) == 1.0
    assert simd_tail_factor(op, one_core, CostContext("fp32", "fused", "nchw")) == 1.0
    assert native_gemm_positions(conv1x1(groups=4)) == 0


def test_compute_scales_by_the_factor(one_core):
    cost = registry().lookup(OpKind.CONV, "cpu")
    seven = cost(conv1x1(h=7, w=7), one_core, NCHW).compute_s
    two = one_core.with_knobs({"cores": 2})
    # same MACs on oneDNN at 2 cores: half the per-core time, no tail factor
    ref = cost(conv1x1(h=7, w=7), two, NCHW).compute_s * 2
    assert float(seven) == pytest.approx(float(ref) * 64 / 49)


def test_sweep_over_cores_vectorises(one_core):
    f = simd_tail_factor(conv1x1(h=7, w=7), one_core.with_knobs({"cores": np.array([1, 2])}), NCHW)
    assert np.allclose(f, [64 / 49, 1.0])
