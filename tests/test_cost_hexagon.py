"""Hexagon compiled-graph model (issue 13, codesign/cost/hexagon.py): one hand-computed oracle
per mechanism, and the graph-level invariants (more VTCM / bandwidth never slows a graph, int8
never slower than fp16 on a compute-bound op, the roofline floor, arrays equal scalars)."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest

from codesign.cost import CostContext, registry
from codesign.cost.base import OpCost, op_bytes
from codesign.cost.hexagon import apply_graph_launch
from codesign.cost.roofline import executed_macs
from codesign.hardware import load_hardware, load_spec_dict
from codesign.ir.fusion import plan_fusion
from codesign.ir.graph import AttentionAttrs, ConvAttrs, Op, OpGraph, OpKind, PoolAttrs, TensorSpec
from codesign.simulation import estimate_costs, make_context

REG = registry()
preset = functools.lru_cache(maxsize=None)(load_hardware)


def cost(op, hw, ctx):
    return REG.lookup(op.kind, "dsp")(op, hw, ctx)


def simple_dsp(**dsp_over):
    """Round numbers: 1 GHz, 1 GB/s DRAM and DMA, no latency, efficiency 1, 2 HVX units,
    HMX 1024 int8 / 512 fp16 / 256 w8a16 MACs per cycle, 1 MiB VTCM, no dispatch cost."""
    d = copy.deepcopy(load_hardware("hexagon-v73").to_dict())
    d.update(clock_hz=1e9, dram_bandwidth_bytes_per_s=1e9, dram_latency_s=0.0, efficiency={},
             dispatch={"eager_overhead_s": 1e-6, "graph_overhead_s": 0.0})
    d["dsp"].update({"hvx_units": 2, "vector_width_bits": 1024,
                     "macs_per_cycle_per_unit": {"int8": 128, "fp16": 64, "fp32": 32, "w8a16": 64},
                     "hmx_macs_per_cycle": {"int8": 1024, "fp16": 512, "w8a16": 256},
                     "vtcm_bytes": 1048576.0, "dma_bandwidth_bytes_per_s": 1e9,
                     "activation_vtcm_fraction": 0.0, "weight_prefetch_vtcm_fraction": 0.0,
                     "onchip_bandwidth_bytes_per_s": 1e15, "graph_launch_s": {},
                     "graph_io_bytes_per_s": 1e15, "requant_ops_per_element": 0.0,
                     "weight_dram_fraction": {}, "hmx_output_block": {}, **dsp_over})
    return load_spec_dict(d)


def conv_op(cin, cout, k, size, groups=1, dtype="int8", index=0, tids=(1, 2, 3)):
    pad = k // 2
    x = TensorSpec(tids[0], (1, cin, size, size), dtype)
    w = TensorSpec(tids[1], (cout, cin // groups, k, k), dtype, is_weight=True)
    y = TensorSpec(tids[2], (1, cout, size, size), dtype)
    attrs = ConvAttrs(cin, cout, (k, k), (1, 1), (pad, pad), (1, 1), groups)
    return Op(index, f"c{index}/convolution", "convolution", OpKind.CONV, f"c{index}", (x, w), (y,), attrs)


FUSED = CostContext("int8", "fused")
EAGER = CostContext("int8", "eager")


# --------------------------------------------------------------------------- residency


def test_small_activations_stay_on_chip_in_a_compiled_graph():
    # x 2048 B, w 1024 B, y 2048 B (int8); budget 0.5 MiB: only the weights reach DRAM
    op = conv_op(32, 32, 1, 8)
    c = cost(op, simple_dsp(activation_vtcm_fraction=0.5), FUSED)
    assert c.dram_read_bytes == pytest.approx(1024)
    assert c.dram_write_bytes == pytest.approx(0)
    # memory = 1024 B / 1 GB/s + 4096 resident B / 1e15; compute 65536 MACs / 1024 per ns = 64 ns
    # exposed (one granule): the smaller side, 64 ns, is added to the memory side
    assert c.compute_s == pytest.approx(64e-9)
    assert c.memory_s == pytest.approx(1.024e-6 + 4096 / 1e15 + 64e-9)


def test_larger_tensors_spill_whole_and_eager_keeps_dram():
    # x 4096 B spills (budget 2048 B), y 1024 B stays; w 1024 B always streams
    op = conv_op(64, 16, 1, 8)
    hw = simple_dsp(activation_vtcm_fraction=2048 / 1048576)
    c = cost(op, hw, FUSED)
    assert c.dram_read_bytes == pytest.approx(4096 + 1024)
    assert c.dram_write_bytes == pytest.approx(0)
    e = cost(op, hw, EAGER)
    assert e.dram_read_bytes == pytest.approx(4096 + 1024)
    assert e.dram_write_bytes == pytest.approx(1024)
    assert e.overhead_s == pytest.approx(1e-6)


def test_resident_traffic_at_onchip_bandwidth():
    op = conv_op(32, 32, 1, 8)
    c = cost(op, simple_dsp(activation_vtcm_fraction=1.0, onchip_bandwidth_bytes_per_s=1e9), FUSED)
    # 1024 B DRAM + 4096 B on chip, both at 1 GB/s; + exposed 64 ns compute
    assert c.memory_s == pytest.approx(1.024e-6 + 4.096e-6 + 64e-9)


# --------------------------------------------------------------------------- padding and dtypes


def test_grouped_conv_pads_the_tap_packed_reduction():
    # 32 groups of 4 channels, 3x3: K = 4 x 9 = 36 -> 64; cout 128 -> 128
    op = conv_op(128, 128, 3, 8, groups=32)
    c = cost(op, simple_dsp(activation_vtcm_fraction=1.0), FUSED)
    assert c.unit == "hmx" and c.macs == 64 * 128 * 4 * 9
    assert c.tiles.count == 1
    assert c.tiles.compute_s == pytest.approx(294912 / (1024e9 * 36 / 64))  # 512 ns


def test_few_channel_conv_pads_to_the_block():
    # 3 -> 32, 5x5: K = 75 -> 96
    c = cost(conv_op(3, 32, 5, 8), simple_dsp(), FUSED)
    assert c.tiles.compute_s == pytest.approx(153600 * 96 / (1024 * 75) * 1e-9)  # 192 ns
    # output channels 48 -> 64 on a 1x1 conv with K = 32
    c48 = cost(conv_op(32, 48, 1, 8), simple_dsp(), FUSED)
    assert c48.tiles.compute_s == pytest.approx(64 * 48 * 32 / (1024e9 * 48 / 64))


def test_block_width_is_a_spec_value():
    c = cost(conv_op(3, 32, 5, 8), simple_dsp(hmx_channel_block=16.0), FUSED)
    assert c.tiles.compute_s == pytest.approx(153600 * 80 / (1024 * 75) * 1e-9)  # 75 -> 80


def test_w8a16_has_int8_weights_int16_activations_and_its_own_rate():
    op = conv_op(32, 32, 1, 8, dtype="float32")
    c = cost(op, simple_dsp(), CostContext("w8a16", "eager"))
    assert op_bytes(op, "w8a16") == (4096.0, 1024.0, 4096.0)
    assert c.dram_read_bytes == pytest.approx(4096 + 1024)
    assert c.dram_write_bytes == pytest.approx(4096)
    assert c.tiles.compute_s == pytest.approx(65536 / 256e9)


def test_softmax_runs_in_16_bit_lanes_in_an_int8_graph():
    x = TensorSpec(1, (64, 1024), "int8")
    sm = Op(0, "m/softmax", "_softmax", OpKind.SOFTMAX, "m", (x,), (TensorSpec(2, (64, 1024), "int8"),))
    add = Op(0, "m/add", "add", OpKind.ELEMENTWISE, "m", (x, TensorSpec(3, (64, 1024), "int8")),
             (TensorSpec(2, (64, 1024), "int8"),))
    hw = simple_dsp(activation_vtcm_fraction=1.0)
    s = cost(sm, hw, FUSED)
    # 5 ops per element, 2 units x 1024 bit / 16 bit = 128 lanes per cycle
    assert s.tiles.compute_s * s.tiles.count == pytest.approx(5 * 65536 / 128e9)
    a = cost(add, hw, FUSED)
    assert a.tiles.compute_s * a.tiles.count == pytest.approx(65536 / 256e9)  # int8: 256 lanes


def test_weight_compression_shrinks_the_weight_stream_of_its_dtype_only():
    op = conv_op(32, 32, 1, 8, dtype="float32")  # int8: weights 1024 B, x and y 2048 B, resident
    hw = simple_dsp(activation_vtcm_fraction=1.0, weight_dram_fraction={"int8": 0.5})
    c = cost(op, hw, FUSED)
    assert c.dram_read_bytes == pytest.approx(512)
    # 512 B at 1 GB/s; compute 64 ns exposed on the memory side (one granule)
    assert c.memory_s == pytest.approx(0.512e-6 + 4096 / 1e15 + 64e-9)
    f = cost(op, hw, CostContext("fp16", "fused"))
    assert f.dram_read_bytes == pytest.approx(2048)  # fp16 weights stream whole


def test_int8_hmx_output_block_pads_narrow_outputs():
    # 32 -> 32 1x1 conv, 64 output pixels: 65536 MACs; int8 passes produce 64 output channels:
    # util 32/64 -> 65536 / (1024 x 0.5) ns = 128 ns; fp16 keeps 32: 65536 / 512 = 128 ns
    op = conv_op(32, 32, 1, 8, dtype="float32")
    hw = simple_dsp(activation_vtcm_fraction=1.0, hmx_output_block={"int8": 64.0})
    assert cost(op, hw, FUSED).tiles.compute_s == pytest.approx(128e-9)
    assert cost(op, hw, CostContext("fp16", "fused")).tiles.compute_s == pytest.approx(128e-9)
    # 64 output channels fill the int8 block: 131072 MACs / 1024 per ns = 128 ns
    assert cost(conv_op(32, 64, 1, 8, dtype="float32"), hw, FUSED).tiles.compute_s == pytest.approx(128e-9)


def test_fused_mha_projections_cost_as_matmuls():
    d = simple_dsp(activation_vtcm_fraction=1.0).to_dict()
    d["efficiency"] = {"attention": 0.5, "matmul": 1.0, "softmax": 1.0}
    hw = load_spec_dict(d)
    extra = 4 * 64 * 64 * 64  # q, k, v and out projections of 64 tokens, width 2 x 32
    a = AttentionAttrs(1, 2, 64, 64, 32, 32, extra_macs=extra)
    x = TensorSpec(1, (1, 64, 64), "float32")
    op = Op(0, "m/mha", "_native_multi_head_attention", OpKind.ATTENTION, "m", (x, x, x),
            (TensorSpec(2, (1, 64, 64), "float32"),), a)
    c = cost(op, hw, FUSED)
    # core 524288 MACs at eff 0.5: 1.024 us; projections 1048576 MACs at eff 1: 1.024 us;
    # softmax 5 x 8192 ops at 128 16-bit lanes per ns: 0.32 us
    assert op.macs == 524288 + extra
    assert c.tiles.compute_s * c.tiles.count == pytest.approx(1.024e-6 + 1.024e-6 + 0.32e-6)


def _norm_op(aten="native_layer_norm", shape=(64, 1024)):
    x = TensorSpec(1, shape, "float32")
    g = TensorSpec(3, shape[-1:], "float32", is_weight=True)
    return Op(0, f"m/{aten}", aten, OpKind.NORM, "m", (x, g), (TensorSpec(2, shape, "float32"),))


def test_int8_graph_pays_the_quantization_boundary_of_a_16_bit_island():
    hw = simple_dsp(activation_vtcm_fraction=1.0, requant_ops_per_element=4.0)
    hw = hw.with_knobs({"graph_overhead_s": 1e-6})
    ln = _norm_op()
    i8 = cost(ln, hw, FUSED)
    f16 = cost(ln, hw, CostContext("fp16", "fused"))
    # norm: 4 ops x 65536 elements at 128 16-bit lanes/ns = 2.048 us in either dtype; int8 adds
    # (65536 in + 65536 out) x 4 ops / 128 per ns = 4.096 us and a dequantize + requantize node
    assert f16.tiles.compute_s * f16.tiles.count == pytest.approx(2.048e-6)
    assert i8.tiles.compute_s * i8.tiles.count == pytest.approx(2.048e-6 + 4.096e-6)
    assert f16.overhead_s == pytest.approx(1e-6)
    assert i8.overhead_s == pytest.approx(3e-6)
    # 16-bit activations (w8a16) and batch norms (folded / per-channel int8) have no boundary
    w16 = cost(ln, hw, CostContext("w8a16", "fused"))
    assert w16.overhead_s == pytest.approx(1e-6)
    bn = cost(_norm_op("native_batch_norm", (1, 64, 32, 32)), hw, FUSED)
    assert bn.overhead_s == pytest.approx(1e-6)
    assert bn.tiles.compute_s * bn.tiles.count == pytest.approx(4 * 65536 / 128e9)


# --------------------------------------------------------------------------- graph-level terms


def _c(compute, memory, overhead=1e-6):
    return OpCost(compute, memory, overhead, 0.0, 0.0, unit="hmx")


def test_launch_and_one_op_prefetch_hand_timeline():
    hw = simple_dsp(graph_launch_s={"int8": 5e-6})
    out = apply_graph_launch([_c(10e-6, 2e-6), None, _c(2e-6, 8e-6)], hw, FUSED)
    # op0: dma 0..2, end max(0 + 1 + 5 + 10, 2) = 16, start 6; op1 (second costed): DMA may
    # start when op0 starts (6), ends 14; end max(16 + 1 + 2, 14) = 19
    assert out[1] is None
    assert [float(c.latency_s) for c in (out[0], out[2])] == pytest.approx([16e-6, 3e-6])
    slow = apply_graph_launch([_c(10e-6, 2e-6), _c(2e-6, 20e-6)], hw, FUSED)
    # dma1 = 6 + 20 = 26 > 19: op1 ends with its DMA at 26 (its last tile's compute is in m)
    assert sum(float(c.latency_s) for c in slow) == pytest.approx(26e-6)
    assert float(slow[1].memory_s) == pytest.approx(26e-6 - 16e-6 - 1e-6)
    assert slow[1].bound == "memory"
    assert apply_graph_launch([_c(1e-6, 1e-6)], hw, EAGER)[0].latency_s == pytest.approx(2e-6)


def test_prefetch_window_lets_weights_load_further_ahead():
    w_op = conv_op(32, 32, 1, 8)  # 1024 B of int8 weights
    costs = [_c(10e-6, 0.0, 0.0), _c(1e-6, 0.0, 0.0), _c(1e-6, 10e-6, 0.0)]
    ops = [None, None, w_op]
    near = apply_graph_launch(costs, simple_dsp(), FUSED, ops)
    # window 0: op2's DMA waits for op1 to start (10 us) and ends at 20, so does op2
    assert sum(float(c.latency_s) for c in near) == pytest.approx(20e-6)
    far = apply_graph_launch(costs, simple_dsp(weight_prefetch_vtcm_fraction=1.0), FUSED, ops)
    # 1 MiB window: the DMA starts with op0 at 0, ends 10; op2 starts when op1 ends (11)
    assert sum(float(c.latency_s) for c in far) == pytest.approx(12e-6)


def test_graph_io_conversion_is_charged_once():
    hw = simple_dsp(graph_io_bytes_per_s=1e9)
    out = apply_graph_launch([_c(1e-6, 0.0, 0.0), _c(1e-6, 0.0, 0.0)], hw, FUSED, None, 1000)
    assert sum(float(c.latency_s) for c in out) == pytest.approx(2e-6 + 4000 / 1e9)


def _chain_graph(dtype="float32"):
    """conv 3->32 (64x64) -> BN -> relu_ (in place) -> conv 32->32 -> conv 32->512 (8x8 pooled)
    -> conv 512->512 3x3 (2.4 MB weights): residency, padding and prefetch all matter."""
    t = iter(range(100, 10000))

    def conv(i, cin, cout, k, size, x):
        w = TensorSpec(next(t), (cout, cin, k, k), dtype, is_weight=True)
        y = TensorSpec(next(t), (1, cout, size, size), dtype)
        a = ConvAttrs(cin, cout, (k, k), (1, 1), (k // 2,) * 2, (1, 1), 1)
        return Op(i, f"c{i}/convolution", "convolution", OpKind.CONV, f"c{i}", (x, w), (y,), a), y

    x = TensorSpec(1, (1, 3, 64, 64), dtype)
    c0, y0 = conv(0, 3, 32, 3, 64, x)
    stats = tuple(TensorSpec(next(t), (32,), dtype, is_weight=True) for _ in range(4))
    yb = TensorSpec(next(t), (1, 32, 64, 64), dtype)
    bn = Op(1, "bn/native_batch_norm", "native_batch_norm", OpKind.NORM, "bn", (y0,) + stats, (yb,))
    relu = Op(2, "relu/relu_", "relu_", OpKind.ELEMENTWISE, "relu", (yb,), (yb,), inplace=True)
    c3, y3 = conv(3, 32, 32, 3, 64, yb)
    yp = TensorSpec(next(t), (1, 32, 8, 8), dtype)
    pool = Op(4, "p/max_pool2d", "max_pool2d", OpKind.POOL, "p", (y3,), (yp,),
              PoolAttrs("max", (8, 8), (8, 8)))
    c5, y5 = conv(5, 32, 512, 1, 8, yp)
    c6, y6 = conv(6, 512, 512, 3, 8, y5)
    return OpGraph((c0, bn, relu, c3, pool, c5, c6), inputs=(x,), outputs=(y6,), name="chain")


def test_inplace_activation_fuses_into_its_producer():
    g = _chain_graph()
    plan = plan_fusion(g, "fused", False)
    assert plan.leader[:4] == (0, 0, 0, 3)  # BN and the in-place ReLU fold into conv 0


@pytest.mark.parametrize("knob,values", [
    ("vtcm_bytes", [65536.0, 262144.0, 1048576.0, 8388608.0, 16777216.0]),
    ("dram_bandwidth_bytes_per_s", [2e10, 4e10, 6.72e10, 1e11, 2e11]),
    ("dma_bandwidth_bytes_per_s", [2e10, 4e10, 6.72e10, 1e11, 2e11]),
    ("onchip_bandwidth_bytes_per_s", [1e11, 3e11, 1e12, 3e12, 1e13]),
])
@pytest.mark.parametrize("dtype", ["int8", "fp16"])
def test_more_vtcm_or_bandwidth_never_slows_a_graph(knob, values, dtype):
    g = _chain_graph()
    hw = preset("hexagon-v73")
    est = estimate_costs(g, hw.with_knobs({knob: np.asarray(values)}), make_context(hw, dtype, "fused", "nchw"))
    lat = np.asarray(est.latency_s)
    assert np.all(np.diff(lat) <= 1e-15)
    assert lat[0] > lat[-1]  # the knob matters for this graph
    # arrays equal scalars
    for i in (0, len(values) - 1):
        one = estimate_costs(g, hw.with_knobs({knob: values[i]}), make_context(hw, dtype, "fused", "nchw"))
        assert float(one.latency_s) == pytest.approx(lat[i], rel=1e-12)


@pytest.mark.parametrize("name", ["hexagon-v73", "hexagon-v75", "hexagon-v79", "hexagon-v68"])
def test_int8_never_slower_than_fp16_on_a_compute_bound_conv(name):
    op = conv_op(256, 256, 3, 32, dtype="float32")
    hw = preset(name)
    i8 = cost(op, hw, CostContext("int8", "fused"))
    f16 = cost(op, hw, CostContext("fp16", "fused"))
    assert f16.bound == "compute"
    assert i8.latency_s <= f16.latency_s


@pytest.mark.parametrize("dtype", ["int8", "fp16", "w8a16"])
def test_graph_roofline_floor_holds(dtype):
    # a compiled graph can hide memory behind compute, never beat the peak nor stream its
    # weights faster than DRAM
    g = _chain_graph()
    hw = preset("hexagon-v73")
    est = estimate_costs(g, hw, make_context(hw, dtype, "fused", "nchw"))
    peak = np.maximum(hw.peak_macs_per_s(dtype), hw.vector_macs_per_s(dtype))
    compute_floor = sum(executed_macs(op) for op in g.ops) / peak
    weight_floor = sum(op_bytes(op, dtype)[1] for op in g.ops) / hw.dram_bandwidth_bytes_per_s
    assert float(est.latency_s) >= max(compute_floor, weight_floor)


def test_generations_get_faster_and_v68_keeps_its_defaults():
    g = _chain_graph()
    lat = [float(estimate_costs(g, preset(n), make_context(preset(n), "int8", "fused", "nchw")).latency_s)
           for n in ("hexagon-v73", "hexagon-v75", "hexagon-v79")]
    assert lat[0] > lat[1] > lat[2]
    v68 = preset("hexagon-v68").dsp
    assert v68.activation_vtcm_fraction == 0.0 and not v68.graph_launch_s
    assert "NOT VALIDATED" in preset("hexagon-v68").notes
    assert "NOT validated" in preset("hexagon-v75").notes and "NOT validated" in preset("hexagon-v79").notes
