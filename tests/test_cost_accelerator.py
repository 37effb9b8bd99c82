"""Condensation-style CNN accelerator cost model (codesign/cost/accelerator.py)."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
from costcheck import assert_vectorized_matches_scalar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign.cost import CostContext, registry
from codesign.cost.accelerator import array_co, conv_cycles, conv_utilisation
from codesign.cost.base import op_bytes
from codesign.cost.roofline import roofline_floor
from codesign.errors import HardwareError
from codesign.ir.graph import (
    AttentionAttrs, ConvAttrs, MatMulAttrs, Op, OpKind, PoolAttrs, ReduceAttrs, TensorSpec,
)
from codesign.hardware import load_hardware, load_spec_dict

REG = registry()
preset = functools.lru_cache(maxsize=None)(load_hardware)  # frozen specs: parse each YAML once
INT8 = CostContext("int8", "eager")
PRESET = "condensation-accelerator"


def cost(op, hw, ctx=INT8):
    return REG.lookup(op.kind, "accelerator")(op, hw, ctx)


def simple_acc(**acc_over):
    """512 MACs (8 ci x 16 co x 2x2 px), 1 GHz, 1 GB/s, no latency, eff 1, 1 MiB SRAM,
    64 KiB line buffer, 1 us eager dispatch."""
    d = copy.deepcopy(load_hardware(PRESET).to_dict())
    d.update(clock_hz=1e9, dram_bandwidth_bytes_per_s=1e9, dram_latency_s=0.0, efficiency={},
             dispatch={"eager_overhead_s": 1e-6, "graph_overhead_s": 0.0})
    d["accelerator"].update({"mac_count": 512, "sram_bytes": 1048576.0,
                             "dma_bandwidth_bytes_per_s": 1e9, "line_buffer_bytes": 65536.0,
                             **acc_over})
    return load_spec_dict(d)


def conv_op(cin, cout, k, size, groups=1, batch=1, stored_channels=None):
    pad = k // 2
    x = TensorSpec(1, (batch, cin, size, size), "int8")
    w = TensorSpec(2, (cout, cin // groups, k, k), "int8", is_weight=True)
    y = TensorSpec(3, (batch, stored_channels or cout, size, size), "int8")
    attrs = ConvAttrs(cin, cout, (k, k), (1, 1), (pad, pad), (1, 1), groups)
    return Op(0, "m/convolution", "convolution", OpKind.CONV, "m", (x, w), (y,), attrs)


def ccp_op(channels, factor, size):
    pre = TensorSpec(3, (1, channels, factor, size, size), "int8")
    out = TensorSpec(5, (1, channels, size, size), "int8")
    return Op(1, "m/amax", "amax", OpKind.CROSS_CHANNEL_POOL, "m", (pre,), (out,),
              ReduceAttrs("amax", (2,), factor))


def vector_op(kind, shape, attrs=None, n_inputs=1, out_shape=None):
    ins = tuple(TensorSpec(i + 1, shape, "int8") for i in range(n_inputs))
    out = (TensorSpec(9, out_shape or shape, "int8"),)
    return Op(0, f"m/{kind.value}", kind.value, kind, "m", ins, out, attrs)


def matmul_op(m, n, k, batch=1):
    a = TensorSpec(1, (batch, m, k), "int8")
    b = TensorSpec(2, (k, n), "int8", is_weight=True)
    c = TensorSpec(3, (batch, m, n), "int8")
    return Op(0, "m/mm", "mm", OpKind.MATMUL, "m", (a, b), (c,), MatMulAttrs(batch, m, n, k))


def attention_op(q=64, kv=64, d=32, h=2):
    ts = [TensorSpec(i, (1, h, n, d), "int8") for i, n in enumerate((q, kv, kv, q), 1)]
    return Op(0, "m/sdpa", "scaled_dot_product_attention", OpKind.ATTENTION, "m",
              tuple(ts[:3]), (ts[3],), AttentionAttrs(1, h, q, kv, d, d))


# --------------------------------------------------------------------------- registry, dtypes


def test_every_kind_but_other_is_registered():
    for kind in OpKind:
        fn = REG.lookup(kind, "accelerator")
        assert (fn is None) == (kind == OpKind.OTHER), kind
        if fn is not None:
            assert fn.__doc__ and len(fn.__doc__) > 80


def test_non_native_dtype_raises_naming_supported():
    with pytest.raises(HardwareError, match="int8"):
        cost(conv_op(16, 16, 3, 8), load_hardware(PRESET), CostContext("fp32"))


def test_fp16_runs_at_half_rate_where_listed():
    d = copy.deepcopy(simple_acc().to_dict())
    d["dtypes"] = ["int8", "fp16"]
    d["energy"]["mac_pj"]["fp16"] = 1.0
    hw = load_spec_dict(d)
    op = conv_op(64, 64, 3, 16)
    a = cost(op, hw).tiles.compute_s
    b = cost(op, hw, CostContext("fp16")).tiles.compute_s
    assert b == pytest.approx(2 * a)


# --------------------------------------------------------------------------- hand-computed


def test_array_utilisation_hand_computed():
    hw = simple_acc()
    assert array_co(hw) == 16
    # Tiny-YOLOv2 layer 0: 3 -> 16, 3x3, 416x416. cycles = 9 x 208 x 208 x ceil(3/8) x
    # ceil(16/16) = 389376; MACs = 416^2 x 16 x 27; utilisation = 3/8
    first = conv_op(3, 16, 3, 416)
    assert conv_cycles(first, hw) == 389376
    assert conv_utilisation(first, hw) == pytest.approx(3 / 8)
    # 512 -> 1024 on 13x13: 9 x 7 x 7 x 64 x 64 cycles; utilisation = 169 / 196 (2x2 blocks)
    deep = conv_op(512, 1024, 3, 13)
    assert conv_cycles(deep, hw) == 9 * 49 * 64 * 64
    assert conv_utilisation(deep, hw) == pytest.approx(169 / 196)
    # depthwise 144 ch 3x3 56x56: 8 channels per pass on the array's diagonal: 1/16
    dw = conv_op(144, 144, 3, 56, groups=144)
    assert conv_cycles(dw, hw) == 9 * 28 * 28 * 18
    assert conv_utilisation(dw, hw) == pytest.approx(1 / 16)
    c = cost(deep, hw)
    assert c.unit == "mac_array"
    assert c.tiles.compute_s * c.tiles.count == pytest.approx(9 * 49 * 64 * 64 * 1e-9)


def test_mac_count_quantizes_output_channel_lanes():
    hw = simple_acc().with_knobs({"mac_count": np.array([32, 100, 512, 1024])})
    assert np.array_equal(array_co(hw), [1, 3, 16, 32])


def test_traffic_fits_then_weight_refetch():
    hw = simple_acc()
    small = conv_op(64, 64, 1, 16)        # in 16 KiB, w 4 KiB, out 16 KiB: all once
    c = cost(small, hw)
    assert c.dram_read_bytes == pytest.approx(16384 + 4096)
    assert c.dram_write_bytes == pytest.approx(16384)
    deep = conv_op(512, 1024, 3, 13)      # weights 4718592 B > 1 MiB SRAM: n_w = 5
    c = cost(deep, hw)
    act, w = 512 * 169, 1024 * 512 * 9
    # min(input re-read 4 x act, weights re-read per extra output row 12 x w) = 4 x act
    assert c.dram_read_bytes == pytest.approx(act + w + 4 * act)
    # 1x1 conv: no halo whatever the line buffer
    assert cost(small, simple_acc(line_buffer_bytes=0.0)).dram_read_bytes == pytest.approx(20480)


def test_line_buffer_strips_reread_halo():
    # 3x3 conv, 64 ch, width 416: k_h rows = 3 x 416 x 64 = 79872 B > 64 KiB -> 2 strips,
    # one boundary re-reading k_w - 1 = 2 input columns of 416 x 64 B
    op = conv_op(64, 16, 3, 416)
    c = cost(op, simple_acc())
    x, w = 64 * 416 * 416, 16 * 64 * 9
    assert c.dram_read_bytes == pytest.approx(x + w + 2 * 416 * 64)
    roomy = cost(op, simple_acc(line_buffer_bytes=131072.0))
    assert roomy.dram_read_bytes == pytest.approx(x + w)


def test_streaming_closed_form_per_row():
    hw = simple_acc()
    c = cost(conv_op(64, 64, 3, 32), hw)
    n = int(c.tiles.count)
    assert n == 32  # one output row per tile
    t_c = c.tiles.compute_s
    t_d = (c.tiles.dma_in_bytes + c.tiles.dma_out_bytes) / 1e9
    assert c.latency_s - c.overhead_s == pytest.approx(n * max(t_c, t_d) + min(t_c, t_d))


def test_cross_channel_pool_stored_vs_fused_merged_op():
    hw = preset(PRESET)
    # Condensation-style layer: conv 256 -> 2 x 256, max over channel pairs, 26x26
    conv = conv_op(256, 512, 3, 26)
    pool = ccp_op(256, 2, 26)
    merged = conv_op(256, 512, 3, 26, stored_channels=256)
    c, p, m = cost(conv, hw), cost(pool, hw), cost(merged, hw)
    # stored: the conv writes 512 x 26 x 26, the pool reads it back and writes 256 x 26 x 26
    assert c.dram_write_bytes == pytest.approx(512 * 676)
    assert p.dram_read_bytes == pytest.approx(512 * 676)
    assert p.dram_write_bytes == pytest.approx(256 * 676)
    assert p.vector_ops == 512 * 676
    # merged: the pre-pooling map never reaches DRAM
    assert m.macs == c.macs
    assert m.dram_write_bytes == pytest.approx(256 * 676)
    assert m.dram_bytes == pytest.approx(c.dram_bytes - 256 * 676)
    assert m.dram_bytes < c.dram_bytes + p.dram_bytes
    assert m.latency_s < c.latency_s + p.latency_s
    assert "cross-channel" in m.note


def test_other_kinds():
    hw = simple_acc()
    add = cost(vector_op(OpKind.ELEMENTWISE, (1, 64, 32, 32), n_inputs=2), hw)
    # 65536 ops on 64 output-stage lanes = 1024 cycles
    assert add.unit == "simd"
    assert add.tiles.compute_s * add.tiles.count == pytest.approx(1024e-9)
    assert add.dram_read_bytes == pytest.approx(131072)
    mm = cost(matmul_op(64, 64, 64), hw)
    assert mm.tiles.compute_s * mm.tiles.count == pytest.approx(16 * 8 * 4 * 1e-9)
    att = cost(attention_op(q=64, kv=64, d=32), hw)
    scores = 2 * 64 * 64
    assert att.dram_read_bytes == pytest.approx(3 * 2 * 64 * 32 + 2 * scores)
    assert att.dram_write_bytes == pytest.approx(2 * 64 * 32 + 2 * scores)
    mv = cost(vector_op(OpKind.DATA_MOVEMENT, (1, 64, 32, 32)), hw)
    assert mv.unit == "dma" and mv.compute_s == 0.0


# --------------------------------------------------------------------------- properties

KNOBS = ("dram_bandwidth_bytes_per_s", "clock_hz", "sram_bytes", "mac_count",
         "dma_bandwidth_bytes_per_s", "line_buffer_bytes")
knob_values = {
    "dram_bandwidth_bytes_per_s": st.floats(1e9, 1e11),
    "clock_hz": st.floats(1e8, 2e9),
    "sram_bytes": st.floats(1.6e4, 1.6e7),
    "mac_count": st.integers(16, 8192),
    "dma_bandwidth_bytes_per_s": st.floats(1e9, 1e11),
    "line_buffer_bytes": st.floats(0.0, 1e6),
}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def acc_ops(draw):
    kind = draw(st.sampled_from(["conv", "dw", "matmul", "attention", "vector", "pool", "ccp",
                                 "softmax", "copy", "resample"]))
    if kind in ("conv", "dw"):
        c = draw(st.sampled_from([3, 16, 32, 96, 256, 512]))
        cout = c if kind == "dw" else draw(st.sampled_from([16, 64, 125, 512, 1024]))
        stored = cout // 2 if kind == "conv" and cout % 2 == 0 and draw(st.booleans()) else None
        return conv_op(c, cout, draw(st.sampled_from([1, 3])),
                       draw(st.sampled_from([13, 26, 52, 104, 416])),
                       groups=c if kind == "dw" else 1, stored_channels=stored)
    if kind == "matmul":
        return matmul_op(*(draw(st.sampled_from([1, 49, 197, 1000, 4096])) for _ in range(3)))
    if kind == "attention":
        return attention_op(q=draw(st.sampled_from([49, 196])), kv=draw(st.sampled_from([49, 196])))
    shape = (1, draw(st.sampled_from([16, 128, 512])), draw(st.sampled_from([13, 52, 208])), 26)
    if kind == "pool":
        return vector_op(OpKind.POOL, shape, PoolAttrs("max", (2, 2), (2, 2)),
                         out_shape=(1, shape[1], shape[2] // 2, 13))
    if kind == "ccp":
        return ccp_op(shape[1], 2, shape[2])
    return vector_op({"vector": OpKind.ELEMENTWISE, "softmax": OpKind.SOFTMAX,
                      "copy": OpKind.DATA_MOVEMENT, "resample": OpKind.RESAMPLE}[kind], shape)


@FAST
@given(op=acc_ops(), mode=st.sampled_from(["eager", "fused"]))
def test_latency_at_least_roofline_floor(op, mode):
    hw = preset(PRESET)
    ctx = CostContext("int8", mode)
    c = cost(op, hw, ctx)
    floor = roofline_floor(op, hw, ctx)
    assert np.maximum(c.compute_s, c.memory_s) >= floor * (1 - 1e-9)
    act, w, out = op_bytes(op, "int8")
    assert c.dram_read_bytes >= (act + w) * (1 - 1e-12)
    assert c.dram_write_bytes >= out * (1 - 1e-12)


@FAST
@given(op=acc_ops(), knob=st.sampled_from(KNOBS), data=st.data())
def test_non_increasing_in_every_resource(op, knob, data):
    hw = preset(PRESET)
    lo = data.draw(knob_values[knob])
    grid = np.asarray([lo * f for f in (1.0, 1.5, 2.0, 4.0, 16.0)])
    if knob == "mac_count":
        grid = np.asarray([lo, lo + 1, 2 * lo, 3 * lo, 16 * lo])
    if knob == "line_buffer_bytes":
        grid = np.asarray([lo, lo + 1024, 2 * lo + 4096, 4 * lo + 65536, 16 * lo + 1e6])
    c = cost(op, hw.with_knobs({knob: grid}))
    lat = np.broadcast_to(c.latency_s, grid.shape)
    assert np.all(np.diff(lat) <= 1e-12 * lat[:-1])
    dram = np.broadcast_to(c.dram_bytes, grid.shape)
    assert np.all(np.diff(dram) <= 1e-9 * dram[:-1])


@FAST
@given(op=acc_ops(), data=st.data())
def test_vectorized_equals_scalar(op, data):
    hw = preset(PRESET)
    knobs = {k: np.asarray([data.draw(knob_values[k]) for _ in range(3)]) for k in KNOBS}
    assert_vectorized_matches_scalar(cost, op, hw, knobs, 3)
