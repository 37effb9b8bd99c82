"""CPU cost model: closed forms, cache levels, thread grain, invariants, vectorization."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.cost import registry
from codesign.cost.base import CostContext
from codesign.cost.cpu import GRAIN, active_threads, cache_bandwidth, efficiency_key
from codesign.cost.roofline import roofline_floor
from codesign.ir.graph import (
    AttentionAttrs, ConvAttrs, MatMulAttrs, Op, OpKind, PoolAttrs, ReduceAttrs, TensorSpec,
)
from codesign.hardware import load_hardware

CTX = CostContext()


@pytest.fixture(scope="module")
def cpu():
    return load_hardware("host-cpu")


def _cost(op, hw, ctx=CTX):
    return registry().lookup(op.kind, "cpu")(op, hw, ctx)


def ew(n):
    return Op(0, "m/add", "aten::add.Tensor", OpKind.ELEMENTWISE, "m",
              (TensorSpec(1, (n,)), TensorSpec(2, (n,))), (TensorSpec(3, (n,)),))


def conv(c=64, k=64, hw=56, r=3, groups=1):
    a = ConvAttrs(c, k, (r, r), (1, 1), (r // 2, r // 2), (1, 1), groups)
    return Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m",
              (TensorSpec(1, (1, c, hw, hw)), TensorSpec(2, (k, c // groups, r, r), is_weight=True)),
              (TensorSpec(3, (1, k, hw, hw)),), a)


def mm(m, n, k):
    return Op(0, "m/mm", "aten::mm", OpKind.MATMUL, "m",
              (TensorSpec(1, (m, k)), TensorSpec(2, (k, n), is_weight=True)),
              (TensorSpec(3, (m, n)),), MatMulAttrs(1, m, n, k))


def test_every_kind_but_other_is_registered():
    reg = registry()
    for kind in OpKind:
        assert (reg.lookup(kind, "cpu") is not None) == (kind is not OpKind.OTHER)


def test_conv_compute_closed_form(cpu):
    op = conv()
    c = _cost(op, cpu)
    peak = cpu.cpu.cores * cpu.cpu.fma_units * cpu.cpu.simd_width_bits / 32 * cpu.clock_hz
    assert op.macs == 64 * 64 * 9 * 56 * 56
    half = cpu.cpu.half_work_macs.get("conv.standard", 0.0)
    k = 64 * 9                                     # reduction length: in_channels x 3 x 3
    assert c.compute_s == pytest.approx((op.macs + half) / (peak * cpu.eff("conv.standard"))
                                        * (1 + cpu.cpu.half_reduction / k))
    weights = 64 * 64 * 9 * 4
    act = out = 64 * 56 * 56 * 4
    # eager oneDNN conv: cold weights reordered (packed), input and output reordered
    assert c.overhead_s == pytest.approx(
        cpu.dispatch.eager_overhead_s + weights / cpu.cpu.weight_pack_bytes_per_s
        + (act + out) / cpu.cpu.reorder_bytes_per_s)
    fused = _cost(op, cpu, CostContext(mode="fused"))
    assert fused.overhead_s == pytest.approx(
        cpu.dispatch.graph_overhead_s
        + weights / (cpu.dram_bandwidth_bytes_per_s * cpu.eff("memory")))
    assert float(c.latency_s) == pytest.approx(max(float(c.compute_s), float(c.memory_s)) + c.overhead_s)


def test_variant_keys():
    assert efficiency_key(conv(r=1)) == "conv.pointwise"
    assert efficiency_key(conv(groups=64)) == "conv.depthwise"
    assert efficiency_key(conv(groups=4)) == "conv.grouped"
    assert efficiency_key(mm(4, 4, 4)) == "matmul"
    assert efficiency_key(ew(8)) == "vector"


def test_small_vector_ops_run_on_one_core(cpu):
    assert float(active_threads(ew(GRAIN // 2), cpu.cpu.cores)) == 1
    assert float(active_threads(ew(GRAIN * 8), cpu.cpu.cores)) == cpu.cpu.cores
    assert float(active_threads(conv(), cpu.cpu.cores)) == cpu.cpu.cores


def test_cache_levels(cpu):
    c = cpu.cpu
    l2 = c.l2_bytes * c.cores
    assert float(cache_bandwidth(cpu, l2 / 2)) == c.l2_bandwidth_bytes_per_s
    assert float(cache_bandwidth(cpu, l2 + c.l3_bytes / 2)) == c.l3_bandwidth_bytes_per_s
    dram = cpu.dram_bandwidth_bytes_per_s * cpu.eff("memory")
    assert float(cache_bandwidth(cpu, 4 * (l2 + c.l3_bytes))) == pytest.approx(dram)
    # a DRAM-sized add takes longer per byte than an L2-sized one
    small, big = ew(2 ** 14), ew(2 ** 24)
    per_byte = lambda op: float(_cost(op, cpu).memory_s) / (op.read_bytes + op.write_bytes)
    assert per_byte(big) > per_byte(small)


@pytest.mark.parametrize("op", [conv(), conv(r=1), conv(groups=64), mm(128, 256, 512), ew(1 << 20),
                                ew(100)])
def test_never_below_roofline_floor(cpu, op):
    c = _cost(op, cpu)
    assert float(np.maximum(c.compute_s, c.memory_s)) >= float(roofline_floor(op, cpu, CTX)) * (1 - 1e-9)


def test_more_bandwidth_or_cores_never_slower(cpu):
    ops = [conv(), ew(1 << 22), mm(64, 64, 64)]
    for op in ops:
        base = float(_cost(op, cpu).latency_s)
        faster = cpu.with_knobs({"dram_bandwidth_bytes_per_s": cpu.dram_bandwidth_bytes_per_s * 2,
                                 "l3_bandwidth_bytes_per_s": cpu.cpu.l3_bandwidth_bytes_per_s * 2})
        assert float(_cost(op, faster).latency_s) <= base
        more = cpu.with_knobs({"cores": cpu.cpu.cores * 2})
        assert float(_cost(op, more).latency_s) <= base


def test_vectorized_over_knobs(cpu):
    swept = cpu.with_knobs({"cores": np.array([1, 2, 4]),
                            "dram_bandwidth_bytes_per_s": np.array([5e9, 20e9, 80e9])})
    for op in (conv(), ew(1 << 22), mm(64, 64, 64)):
        c = _cost(op, swept)
        lat = np.asarray(c.latency_s)
        assert lat.shape == (3,)
        for i, (cores, bw) in enumerate(((1, 5e9), (2, 20e9), (4, 80e9))):
            one = cpu.with_knobs({"cores": cores, "dram_bandwidth_bytes_per_s": bw})
            assert lat[i] == pytest.approx(float(_cost(op, one).latency_s))


def test_other_kinds_cost_something(cpu):
    x = TensorSpec(1, (1, 64, 56, 56))
    y = TensorSpec(2, (1, 64, 28, 28))
    ops = [
        Op(0, "p", "aten::max_pool2d", OpKind.POOL, "m", (x,), (y,), PoolAttrs("max", (2, 2), (2, 2))),
        Op(0, "r", "aten::mean.dim", OpKind.REDUCTION, "m", (x,), (TensorSpec(3, (1, 64)),),
           ReduceAttrs("mean", (2, 3), 56 * 56)),
        Op(0, "s", "aten::_softmax", OpKind.SOFTMAX, "m", (x,), (TensorSpec(4, x.shape),)),
        Op(0, "n", "aten::native_batch_norm", OpKind.NORM, "m", (x,), (TensorSpec(5, x.shape),)),
        Op(0, "c", "aten::clone", OpKind.DATA_MOVEMENT, "m", (x,), (TensorSpec(6, x.shape),)),
        Op(0, "a", "aten::_scaled_dot_product_flash_attention_for_cpu", OpKind.ATTENTION, "m",
           (TensorSpec(7, (1, 6, 197, 64)),) * 3, (TensorSpec(8, (1, 6, 197, 64)),),
           AttentionAttrs(1, 6, 197, 197, 64, 64)),
    ]
    for op in ops:
        c = _cost(op, cpu)
        assert float(c.latency_s) > cpu.dispatch.eager_overhead_s
    fused = _cost(ops[0], cpu, CostContext(mode="fused"))
    assert fused.overhead_s == cpu.dispatch.graph_overhead_s


def test_half_work_slows_small_ops_only_relatively(cpu):
    """efficiency x MACs / (MACs + half_work): small ops lose more, compute stays monotone."""
    import dataclasses

    from codesign.hardware.spec import FrozenDict

    cpu = dataclasses.replace(cpu, cpu=dataclasses.replace(cpu.cpu, half_work_macs=FrozenDict()))
    sized = dataclasses.replace(cpu, cpu=dataclasses.replace(
        cpu.cpu, half_work_macs=FrozenDict({"conv": 1e6})))
    big, small = conv(hw=56), conv(c=32, k=32, hw=7)
    for op in (big, small):
        c0, c1 = float(_cost(op, cpu).compute_s), float(_cost(op, sized).compute_s)
        assert c1 == pytest.approx(c0 * (op.macs + 1e6) / op.macs)
    slow = lambda op: float(_cost(op, sized).compute_s) / float(_cost(op, cpu).compute_s)
    assert slow(small) > slow(big)
    more = sized.with_knobs({"cores": 4, "clock_hz": sized.clock_hz * 2})
    assert float(_cost(small, more).latency_s) <= float(_cost(small, sized).latency_s)


def test_short_reductions_run_slower_per_mac(cpu):
    from codesign.cost.cpu import reduction_length, short_reduction_factor

    hw = cpu.with_knobs({"half_reduction": 16.0})
    assert reduction_length(conv(c=16, k=96, r=1)) == 16
    assert reduction_length(conv(c=64, k=64, r=3)) == 576
    assert reduction_length(conv(c=64, k=64, r=3, groups=4)) == 16 * 9
    assert reduction_length(conv(c=64, k=64, r=3, groups=64)) == 0          # depthwise
    assert reduction_length(mm(8, 2048, 1024)) == 1024
    assert short_reduction_factor(conv(c=16, k=96, r=1), hw) == pytest.approx(2.0)
    assert short_reduction_factor(conv(c=64, k=64, r=3, groups=64), hw) == 1.0
    per_mac = [float(_cost(conv(c=c, k=64, r=1), hw).compute_s) / conv(c=c, k=64, r=1).macs
               for c in (8, 32, 256)]
    assert per_mac[0] > per_mac[1] > per_mac[2]
    none = cpu.with_knobs({"half_reduction": 0.0})
    assert short_reduction_factor(conv(c=16, k=96, r=1), none) == 1.0


def test_one_frame_conv3d_takes_its_2d_efficiency():
    """benchmarks/cpu_effects.py conv3d: on one frame a 1x3x3 conv3d runs at the 2-D rate."""
    def c3(kernel, stride=(1, 1, 1), frames=1):
        a = ConvAttrs(64, 64, kernel, stride, tuple(k // 2 for k in kernel), (1, 1, 1), 1)
        shape = (1, 64, frames, 28, 28)
        return Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m",
                  (TensorSpec(1, shape), TensorSpec(2, (64, 64, *kernel), is_weight=True)),
                  (TensorSpec(3, shape),), a)

    assert efficiency_key(c3((1, 3, 3))) == "conv.standard"
    assert efficiency_key(c3((1, 7, 7))) == "conv.large_kernel"
    assert efficiency_key(c3((1, 1, 7))) == "conv.band"
    assert efficiency_key(c3((3, 3, 3))) == "conv.3d"
    assert efficiency_key(c3((3, 1, 1))) == "conv.3d"
    assert efficiency_key(c3((1, 3, 3), (2, 1, 1))) == "conv.3d"   # temporal stride: not per frame
    assert efficiency_key(c3((1, 3, 3), frames=4)) == "conv.3d"     # several frames: 3-D kernels
    assert efficiency_key(c3((1, 1, 1), frames=4)) == "conv.pointwise"   # a GEMM either way


def test_conv3d_1x1x1_uses_pointwise_efficiency():
    a = ConvAttrs(64, 32, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1)
    op = Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m",
            (TensorSpec(1, (1, 64, 4, 14, 14)), TensorSpec(2, (32, 64, 1, 1, 1), is_weight=True)),
            (TensorSpec(3, (1, 32, 4, 14, 14)),), a)
    assert op.variant == "3d"                      # the graph's variant is unchanged
    assert efficiency_key(op) == "conv.pointwise"


def test_cold_weights_are_packed_except_by_gemv_and_fused_graphs(cpu):
    from codesign.cost.cpu import weight_stream_s

    w = 2048 * 1024 * 4
    dram = w / (cpu.dram_bandwidth_bytes_per_s * cpu.eff("memory"))
    assert float(weight_stream_s(mm(8, 2048, 1024), cpu, w)) == pytest.approx(
        w / cpu.cpu.weight_pack_bytes_per_s)                       # GEMM packs its weights
    assert float(weight_stream_s(mm(1, 2048, 1024), cpu, w)) == pytest.approx(dram)   # GEMV
    assert float(weight_stream_s(mm(8, 2048, 1024), cpu, w, CostContext(mode="fused"))) == \
        pytest.approx(dram)                                        # prepacked in a fused graph
    assert weight_stream_s(ew(1024), cpu, 0.0) == 0.0
    op = mm(1, 2048, 1024)
    faster = cpu.with_knobs({"dram_bandwidth_bytes_per_s": cpu.dram_bandwidth_bytes_per_s * 2})
    assert float(_cost(op, faster).latency_s) < float(_cost(op, cpu).latency_s)
    op = mm(8, 2048, 1024)
    quicker = cpu.with_knobs({"weight_pack_bytes_per_s": cpu.cpu.weight_pack_bytes_per_s * 2})
    assert float(_cost(op, quicker).latency_s) < float(_cost(op, cpu).latency_s)


def test_resampling_gathers_have_their_own_efficiency():
    x = TensorSpec(0, (1, 64, 56, 56))
    up = Op(0, "u", "aten::upsample_nearest2d", OpKind.RESAMPLE, "", (x,),
            (TensorSpec(1, (1, 64, 112, 112)),))
    assert efficiency_key(up) == "vector.resample"
    hw = load_hardware("host-cpu")
    slow = hw.with_knobs({"efficiency.vector.resample": hw.eff("vector.resample") / 4})
    assert float(_cost(up, slow).compute_s) == pytest.approx(4 * float(_cost(up, hw).compute_s))


def test_transcendental_elementwise_has_its_own_efficiency():
    from codesign.cost.cpu import efficiency_key
    from codesign.ir.graph import Op, OpKind, TensorSpec

    x = TensorSpec(0, (1, 64, 56, 56))
    tanh = Op(0, "t", "aten::tanh", OpKind.ELEMENTWISE, "", (x,), (TensorSpec(1, x.shape),))
    add = Op(1, "a", "aten::add.Tensor", OpKind.ELEMENTWISE, "", (x, x), (TensorSpec(2, x.shape),))
    assert efficiency_key(tanh) == "vector.transcendental"
    assert efficiency_key(add) == "vector"


def test_first_touch_of_large_fresh_outputs():
    import codesign.hardware
    from codesign.cost.cpu import first_touch_s
    from codesign.ir.graph import Op, OpKind, TensorSpec

    hw = codesign.hardware.load_hardware("host-cpu").with_knobs(
        {"page_fault_bytes_per_s": 2e9, "mmap_threshold_bytes": 32 * 2**20})
    big = TensorSpec(0, (16 * 2**20,))            # 64 MiB of fp32
    small = TensorSpec(1, (2**20,))               # 4 MiB
    op_big = Op(0, "r", "aten::relu", OpKind.ELEMENTWISE, "", (big,), (TensorSpec(2, big.shape),))
    op_small = Op(1, "r", "aten::relu", OpKind.ELEMENTWISE, "", (small,), (TensorSpec(3, small.shape),))
    inplace = Op(2, "r", "aten::relu_", OpKind.ELEMENTWISE, "", (big,), (big,), inplace=True)
    assert first_touch_s(op_big, hw, "fp32") == pytest.approx(64 * 2**20 / 2e9)
    assert first_touch_s(op_small, hw, "fp32") == 0.0
    assert first_touch_s(inplace, hw, "fp32") == 0.0
    assert first_touch_s(op_big, hw, "fp16") == pytest.approx(32 * 2**20 / 2e9)


def test_onednn_rule_follows_aten_use_mkldnn():
    from codesign.cost.cpu import uses_onednn

    def c(n, cin, hw, r, groups=1, stride=1):
        a = ConvAttrs(cin, cin, (r, r), (stride, stride), (r // 2, r // 2), (1, 1), groups)
        return Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m",
                  (TensorSpec(1, (n, cin, hw, hw)),
                   TensorSpec(2, (cin, cin // groups, r, r), is_weight=True)),
                  (TensorSpec(3, (n, cin, hw, hw)),), a)

    assert not uses_onednn(c(1, 64, 56, 1), 1)          # 1x1 on one thread: native GEMM
    assert uses_onednn(c(1, 64, 56, 1), 2)              # ... multi-threaded: oneDNN
    assert uses_onednn(c(16, 64, 56, 1), 1)             # ... batch >= 16: oneDNN
    assert uses_onednn(c(1, 64, 56, 1, stride=2), 1)    # strided 1x1: oneDNN
    assert not uses_onednn(c(1, 16, 8, 3), 2)           # batch 1, 3x3, 1024 elements: native
    assert uses_onednn(c(1, 16, 40, 3), 2)              # 25600 > 20480 elements: oneDNN
    assert uses_onednn(c(2, 16, 8, 3), 2)               # batch > 1: oneDNN
    assert uses_onednn(c(1, 16, 8, 3, groups=16), 2)    # grouped/depthwise: oneDNN
    assert uses_onednn(c(1, 16, 8, 5), 2)               # kernel > 3x3: oneDNN
    assert list(uses_onednn(c(1, 64, 56, 1), np.array([1, 2]))) == [False, True]


def test_reorders_cost_bytes_over_reorder_rate(cpu):
    from codesign.cost.cpu import reorder_s

    op = conv(c=32, k=16, hw=28, r=1)
    act, w, out = 32 * 28 * 28 * 4, 16 * 32 * 4, 16 * 28 * 28 * 4
    hw = cpu.with_knobs({"reorder_bytes_per_s": 5e9, "cores": 2})
    assert float(reorder_s(op, hw, CTX, act, out)) == pytest.approx((act + out) / 5e9)
    assert reorder_s(op, hw, CostContext(mode="fused"), act, out) == 0.0
    assert reorder_s(mm(8, 8, 8), hw, CTX, 1.0, 1.0) == 0.0
    assert reorder_s(op, hw, CostContext(layout="nhwc"), act, out) == 0.0   # oneDNN takes nhwc
    one = cpu.with_knobs({"cores": 1})                  # native 1x1 path: no activation
    assert float(reorder_s(op, one, CTX, act, out)) == 0.0      # reorders, weights still packed
    assert float(_cost(op, one).overhead_s) == pytest.approx(
        one.dispatch.eager_overhead_s + w / one.cpu.weight_pack_bytes_per_s)
    slow = hw.with_knobs({"reorder_bytes_per_s": 1e9})
    assert float(_cost(op, slow).latency_s) > float(_cost(op, hw).latency_s)


def test_strided_inputs_are_gathered_by_convs_and_copies(cpu):
    from codesign.cost.cpu import gather_s

    hw = cpu.with_knobs({"gather_bytes_per_s": 2e9})
    a = ConvAttrs(64, 64, (3, 3), (1, 1), (1, 1), (1, 1), 64)
    x = TensorSpec(1, (1, 64, 14, 14), contiguous=False)         # e.g. x.transpose().reshape()
    w = TensorSpec(2, (64, 1, 3, 3), is_weight=True)
    dw = Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m", (x, w),
            (TensorSpec(3, (1, 64, 14, 14)),), a)
    dense = Op(0, "m/convolution", "aten::convolution", OpKind.CONV, "m",
               (TensorSpec(1, (1, 64, 14, 14)), w), (TensorSpec(3, (1, 64, 14, 14)),), a)
    assert gather_s(dw, hw, CTX) == pytest.approx(64 * 14 * 14 * 4 / 2e9)
    assert gather_s(dense, hw, CTX) == 0.0
    assert gather_s(dw, hw, CostContext(mode="fused")) == 0.0
    assert float(_cost(dw, hw).overhead_s) == pytest.approx(
        float(_cost(dense, hw).overhead_s) + 64 * 14 * 14 * 4 / 2e9)
    clone = Op(0, "m/clone", "aten::clone", OpKind.DATA_MOVEMENT, "m", (x,),
               (TensorSpec(4, x.shape),))
    assert gather_s(clone, hw, CTX) == pytest.approx(64 * 14 * 14 * 4 / 2e9)
    bmm = Op(0, "m/bmm", "aten::bmm", OpKind.MATMUL, "m",
             (TensorSpec(5, (2, 8, 4), contiguous=False), TensorSpec(6, (2, 4, 8))),
             (TensorSpec(7, (2, 8, 8)),), MatMulAttrs(2, 8, 8, 4))
    assert gather_s(bmm, hw, CTX) == 0.0                          # BLAS transpose flags
