"""Hexagon DSP cost model (codesign/cost/dsp.py): closed-form oracles and invariants."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
from costcheck import assert_vectorized_matches_scalar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign.cost import CostContext, registry
from codesign.cost.base import op_bytes
from codesign.cost.hexagon import PIPELINE_GRANULE_BYTES, spilled_activation_bytes
from codesign.cost.roofline import executed_macs, roofline_floor
from codesign.errors import HardwareError
from codesign.ir.graph import (
    AttentionAttrs, ConvAttrs, MatMulAttrs, Op, OpKind, PoolAttrs, ReduceAttrs, TensorSpec,
)
from codesign.hardware import load_hardware, load_spec_dict

REG = registry()
preset = functools.lru_cache(maxsize=None)(load_hardware)  # frozen specs: parse each YAML once
INT8 = CostContext("int8", "eager")
FUSED = CostContext("int8", "fused")


def cost(op, hw, ctx=INT8):
    return REG.lookup(op.kind, "dsp")(op, hw, ctx)


def simple_dsp(**dsp_over) -> object:
    """Round numbers for hand computation: 1 GHz, 1 GB/s DRAM and DMA, no latency, eff 1,
    2 HVX units of 128 int8 MACs/cycle, HMX 1024 int8 MACs/cycle, 1 MiB VTCM, 1 us eager."""
    d = copy.deepcopy(load_hardware("hexagon-v68").to_dict())
    d.update(clock_hz=1e9, dram_bandwidth_bytes_per_s=1e9, dram_latency_s=0.0, efficiency={},
             dispatch={"eager_overhead_s": 1e-6, "graph_overhead_s": 0.0})
    d["dsp"].update({"hvx_units": 2, "vector_width_bits": 1024,
                     "macs_per_cycle_per_unit": {"int8": 128, "fp16": 64, "fp32": 32},
                     "hmx_macs_per_cycle": {"int8": 1024}, "vtcm_bytes": 1048576.0,
                     "dma_bandwidth_bytes_per_s": 1e9, **dsp_over})
    return load_spec_dict(d)


def conv_op(cin, cout, k, size, groups=1, stride=1, batch=1, stored_channels=None, dtype="int8"):
    pad = k // 2
    out = (size + 2 * pad - k) // stride + 1
    x = TensorSpec(1, (batch, cin, size, size), dtype)
    w = TensorSpec(2, (cout, cin // groups, k, k), dtype, is_weight=True)
    y = TensorSpec(3, (batch, stored_channels or cout, out, out), dtype)
    attrs = ConvAttrs(cin, cout, (k, k), (stride, stride), (pad, pad), (1, 1), groups)
    return Op(0, "m/convolution", "convolution", OpKind.CONV, "m", (x, w), (y,), attrs)


def matmul_op(m, n, k, batch=1, weight=True):
    a = TensorSpec(1, (batch, m, k), "int8")
    b = TensorSpec(2, (batch, k, n) if not weight else (k, n), "int8", is_weight=weight)
    c = TensorSpec(3, (batch, m, n), "int8")
    return Op(0, "m/bmm", "bmm", OpKind.MATMUL, "m", (a, b), (c,), MatMulAttrs(batch, m, n, k))


def vector_op(kind, shape, attrs=None, n_inputs=1, out_shape=None):
    ins = tuple(TensorSpec(i + 1, shape, "int8") for i in range(n_inputs))
    out = (TensorSpec(9, out_shape or shape, "int8"),)
    return Op(0, f"m/{kind.value}", kind.value, kind, "m", ins, out, attrs)


def attention_op(b=1, h=2, q=64, kv=64, d=32):
    qs = TensorSpec(1, (b, h, q, d), "int8")
    ks = TensorSpec(2, (b, h, kv, d), "int8")
    vs = TensorSpec(3, (b, h, kv, d), "int8")
    o = TensorSpec(4, (b, h, q, d), "int8")
    return Op(0, "m/sdpa", "scaled_dot_product_attention", OpKind.ATTENTION, "m",
              (qs, ks, vs), (o,), AttentionAttrs(b, h, q, kv, d, d))


# --------------------------------------------------------------------------- registry


def test_every_kind_but_other_is_registered():
    for kind in OpKind:
        fn = REG.lookup(kind, "dsp")
        assert (fn is None) == (kind == OpKind.OTHER), kind
        if fn is not None:
            assert fn.__doc__ and len(fn.__doc__) > 80


def test_unsupported_dtype_raises():
    with pytest.raises(HardwareError, match="bf16"):
        cost(conv_op(32, 32, 1, 8), simple_dsp(), CostContext("bf16"))


# --------------------------------------------------------------------------- hand-computed


def test_conv_fits_vtcm_one_tile_no_refetch():
    # 1x1 conv 32 -> 32 on 8x8, int8: in 2048 B, w 1024 B, out 2048 B; W = 5120 B fits.
    c = cost(conv_op(32, 32, 1, 8), simple_dsp())
    assert c.unit == "hmx"
    # MACs 64 x 32 x 32 = 65536 on HMX 1024/cycle @1 GHz = 64 ns; DMA 5120 B @1 GB/s = 5.12 us
    # one tile: no overlap, T = C + M
    assert c.macs == 65536
    assert c.dram_read_bytes == pytest.approx(3072)
    assert c.dram_write_bytes == pytest.approx(2048)
    assert c.tiles.count == 1
    assert c.tiles.dma_in_bytes == pytest.approx(3072)
    assert c.tiles.dma_out_bytes == pytest.approx(2048)
    assert c.tiles.compute_s == pytest.approx(64e-9)
    assert c.compute_s == pytest.approx(64e-9)
    assert c.memory_s == pytest.approx(5.12e-6 + 64e-9)
    assert c.overhead_s == pytest.approx(1e-6)
    assert c.latency_s == pytest.approx(5.184e-6 + 1e-6)
    assert c.bound == "memory"
    assert cost(conv_op(32, 32, 1, 8), simple_dsp(), FUSED).overhead_s == pytest.approx(0.0)


def test_conv_does_not_fit_vtcm_refetches():
    # 1x1 conv 128 -> 128 on 16x16: in 32768, w 16384, out 32768 -> W = 81920 B.
    op = conv_op(128, 128, 1, 16)
    small = cost(op, simple_dsp(vtcm_bytes=16384.0))
    # n_min = ceil(2 x 81920 / 16384) = 10; neither weights (2 x 16384 > 16384) nor input fit
    # half of VTCM: refetch = 9 x min(16384, 32768) = 147456 B of weights
    assert small.tiles.count == 10
    assert small.dram_read_bytes == pytest.approx(32768 + 16384 + 147456)
    assert small.dram_write_bytes == pytest.approx(32768)
    assert small.tiles.dma_in_bytes == pytest.approx(196608 / 10)
    # compute 256 x 128 x 128 = 4194304 MACs / 1024 = 4.096 us; memory 229376 B = 229.376 us;
    # exposed prologue/epilogue with n_g = ceil(81920 / 64 KiB) = 2 granules: 4.096 / 2 us
    assert small.compute_s == pytest.approx(4.096e-6)
    assert small.memory_s == pytest.approx(229.376e-6 + 2.048e-6)
    big = cost(op, simple_dsp())
    assert big.dram_read_bytes == pytest.approx(32768 + 16384)
    assert big.tiles.count == 2  # pipeline granules only
    assert big.latency_s < small.latency_s


def test_refetch_chooses_cheaper_operand_and_resident_operands():
    # weights 128 x 1152 = 147456 B > input 16 x 16 x 128 = 32768 B: re-read the input instead
    op = conv_op(128, 128, 3, 16)
    c = cost(op, simple_dsp(vtcm_bytes=65536.0))
    w, x, y = 147456, 32768, 32768
    n = np.ceil(2 * (w + x + y) / 65536)  # 7
    # input (2 x 32768 <= 65536) stays resident: no re-fetch at all
    assert c.dram_read_bytes == pytest.approx(x + w)
    c2 = cost(op, simple_dsp(vtcm_bytes=32768.0))
    n = np.ceil(2 * (w + x + y) / 32768)  # 13, nothing resident
    assert c2.dram_read_bytes == pytest.approx(x + w + (n - 1) * min(w, x))


def test_double_buffer_closed_form_matches_tiles():
    # vtcm >= 2 x granule: the tile list gives exactly the analytical time
    op = conv_op(64, 64, 3, 64)   # in 262144, w 36864, out 262144
    hw = simple_dsp()
    c = cost(op, hw)
    n = int(c.tiles.count)
    assert n == int(np.ceil((262144 + 36864 + 262144) / PIPELINE_GRANULE_BYTES)) == 9
    t_c = c.tiles.compute_s
    t_d = (c.tiles.dma_in_bytes + c.tiles.dma_out_bytes) / 1e9
    # first DMA-in + (n - 1) steady steps + last compute + last write-back
    t_in, t_out = c.tiles.dma_in_bytes / 1e9, c.tiles.dma_out_bytes / 1e9
    closed = t_in + t_c + t_out + (n - 1) * max(t_c, t_d)
    assert c.latency_s - c.overhead_s == pytest.approx(closed)
    assert closed == pytest.approx(n * max(t_c, t_d) + min(t_c, t_d))


def test_hmx_vs_hvx_selection():
    hw = simple_dsp()
    assert cost(conv_op(32, 32, 3, 8), hw).unit == "hmx"
    dw = cost(conv_op(32, 32, 3, 8, groups=32), hw)
    assert dw.unit == "hvx"
    # depthwise: 64 px x 32 ch x 9 = 18432 MACs on 2 HVX x 128 MACs/cycle = 72 ns
    assert dw.macs == 18432
    assert dw.tiles.compute_s == pytest.approx(72e-9)
    # fp16 has no HMX rate on this spec: HVX at 2 x 64 MACs/cycle
    fp16 = cost(conv_op(32, 32, 1, 8, dtype="float16"), hw, CostContext("fp16"))
    assert fp16.unit == "hvx"
    assert fp16.tiles.compute_s == pytest.approx(65536 / 128 * 1e-9)
    assert cost(matmul_op(64, 64, 64), hw).unit == "hmx"
    # presets: v73 has fp16 HMX, v68 does not
    op16 = conv_op(64, 64, 3, 32, dtype="float16")
    assert cost(op16, load_hardware("hexagon-v73"), CostContext("fp16")).unit == "hmx"
    assert cost(op16, load_hardware("hexagon-v68"), CostContext("fp16")).unit == "hvx"


def test_channel_quantization_on_hmx():
    hw = simple_dsp()
    full = cost(conv_op(64, 64, 1, 8), hw).tiles.compute_s
    ragged = cost(conv_op(48, 64, 1, 8), hw).tiles.compute_s
    # 48 channels pad to 64: the same cycles as 64 channels
    assert ragged == pytest.approx(full)


def test_vector_ops_on_hvx_lanes():
    hw = simple_dsp()
    # add of two [1, 64, 32, 32] int8: 65536 ops / (2 units x 128 lanes x 1 GHz) = 256 ns
    add = cost(vector_op(OpKind.ELEMENTWISE, (1, 64, 32, 32), n_inputs=2), hw)
    assert add.unit == "hvx"
    assert add.dram_read_bytes == pytest.approx(2 * 65536)
    assert add.tiles.compute_s * add.tiles.count == pytest.approx(256e-9)
    # softmax counts 5 ops per element
    sm = cost(vector_op(OpKind.SOFTMAX, (1, 64, 32, 32)), hw)
    assert sm.vector_ops == 5 * 65536
    copy_ = cost(vector_op(OpKind.DATA_MOVEMENT, (1, 64, 32, 32)), hw)
    assert copy_.unit == "dma" and copy_.compute_s == 0.0
    assert copy_.latency_s == pytest.approx(2 * 65536 / 1e9 + 1e-6)


def test_cross_channel_pool_stored_vs_merged():
    hw = simple_dsp()
    conv = conv_op(64, 128, 3, 16)
    pre = TensorSpec(3, (1, 64, 2, 16, 16), "int8")
    ccp = Op(1, "m/amax", "amax", OpKind.CROSS_CHANNEL_POOL, "m", (pre,),
             (TensorSpec(5, (1, 64, 16, 16), "int8"),), ReduceAttrs("amax", (2,), 2))
    merged = conv_op(64, 128, 3, 16, stored_channels=64)
    c, p, m = cost(conv, hw), cost(ccp, hw), cost(merged, hw)
    assert m.macs == c.macs
    assert m.dram_write_bytes == pytest.approx(c.dram_write_bytes / 2)
    assert m.dram_bytes < c.dram_bytes + p.dram_bytes
    assert p.dram_read_bytes == pytest.approx(64 * 2 * 256)
    assert p.vector_ops == 64 * 256 * 2
    assert "cross-channel" in m.note


def test_attention_and_matmul_refetch():
    hw = simple_dsp(vtcm_bytes=8192.0)
    a = cost(attention_op(q=256, kv=256, d=32), hw)   # Q 16 KiB, K+V 32 KiB, O 16 KiB
    n = np.ceil(2 * 65536 / 8192)
    assert a.dram_read_bytes == pytest.approx(65536 - 16384 + (n - 1) * 16384)
    assert a.vector_ops == 5 * 2 * 256 * 256
    mm = cost(matmul_op(256, 256, 256, weight=False), hw)  # A 64 KiB, B 64 KiB, C 64 KiB
    n = np.ceil(2 * 3 * 65536 / 8192)
    assert mm.dram_read_bytes == pytest.approx(2 * 65536 + (n - 1) * 65536)


# --------------------------------------------------------------------------- properties

PRESETS = ("hexagon-v68", "hexagon-v73")
KNOBS = ("dram_bandwidth_bytes_per_s", "clock_hz", "hvx_units", "vtcm_bytes",
         "dma_bandwidth_bytes_per_s")


@st.composite
def dsp_ops(draw):
    kind = draw(st.sampled_from(["conv", "dw", "matmul", "attention", "vector", "pool", "ccp",
                                 "softmax", "copy"]))
    if kind in ("conv", "dw"):
        c = draw(st.sampled_from([3, 16, 24, 32, 96, 160, 512]))
        cout = c if kind == "dw" else draw(st.sampled_from([16, 32, 64, 320, 1024]))
        k = draw(st.sampled_from([1, 3, 5]))
        size = draw(st.sampled_from([7, 13, 28, 56, 112]))
        stored = cout // 2 if kind == "conv" and draw(st.booleans()) and cout % 2 == 0 else None
        return conv_op(c, cout, k, size, groups=c if kind == "dw" else 1,
                       stored_channels=stored)
    if kind == "matmul":
        return matmul_op(*(draw(st.sampled_from([1, 49, 197, 768, 3136])) for _ in range(3)),
                         weight=draw(st.booleans()))
    if kind == "attention":
        return attention_op(q=draw(st.sampled_from([49, 196, 784])),
                            kv=draw(st.sampled_from([49, 196, 784])))
    shape = (1, draw(st.sampled_from([16, 64, 256])), draw(st.sampled_from([7, 28, 112])), 28)
    if kind == "pool":
        return vector_op(OpKind.POOL, shape, PoolAttrs("max", (2, 2), (2, 2)),
                         out_shape=(shape[0], shape[1], shape[2] // 2 or 1, 14))
    if kind == "ccp":
        pre = TensorSpec(1, (1, shape[1], 2) + shape[2:], "int8")
        return Op(0, "m/amax", "amax", OpKind.CROSS_CHANNEL_POOL, "m", (pre,),
                  (TensorSpec(2, shape, "int8"),), ReduceAttrs("amax", (2,), 2))
    return vector_op({"vector": OpKind.ELEMENTWISE, "softmax": OpKind.SOFTMAX,
                      "copy": OpKind.DATA_MOVEMENT}[kind], shape)


knob_values = {
    "dram_bandwidth_bytes_per_s": st.floats(1e9, 2e11),
    "clock_hz": st.floats(2e8, 3e9),
    "hvx_units": st.integers(1, 8),
    "vtcm_bytes": st.floats(4096.0, 3.2e7),
    "dma_bandwidth_bytes_per_s": st.floats(1e9, 2e11),
}
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(op=dsp_ops(), name=st.sampled_from(PRESETS), dtype=st.sampled_from(["int8", "fp16", "fp32"]),
       mode=st.sampled_from(["eager", "fused"]))
def test_latency_at_least_roofline_floor(op, name, dtype, mode):
    hw = preset(name)
    ctx = CostContext(dtype, mode)
    c = cost(op, hw, ctx)
    act, w, out = op_bytes(op, dtype)
    # weight compression (dsp.weight_dram_fraction, 8-bit weights): the compulsory traffic is
    # what crosses the DRAM bus
    w = w * hw.dsp.weight_dram_fraction.get(dtype, 1.0)
    if mode == "fused":
        # issue 13: a compiled graph keeps activations that fit on chip (hexagon-v73 onwards),
        # so only the weights and the spilled activations are compulsory DRAM traffic, and the
        # output write no longer belongs to the floor
        act, out = spilled_activation_bytes(op, hw, dtype)
        floor = np.maximum(executed_macs(op) / np.maximum(hw.peak_macs_per_s(dtype),
                                                           hw.vector_macs_per_s(dtype)),
                           w / hw.dram_bandwidth_bytes_per_s)
    else:
        floor = roofline_floor(op, hw, ctx)
    assert c.latency_s >= floor * (1 - 1e-9)
    assert np.maximum(c.compute_s, c.memory_s) >= floor * (1 - 1e-9)
    assert c.dram_read_bytes >= (act + w) * (1 - 1e-12)
    assert c.dram_write_bytes == pytest.approx(out)


@FAST
@given(op=dsp_ops(), name=st.sampled_from(PRESETS), knob=st.sampled_from(KNOBS),
       data=st.data())
def test_non_increasing_in_every_resource(op, name, knob, data):
    hw = preset(name)
    lo = data.draw(knob_values[knob])
    grid = np.sort(np.asarray([lo * f for f in (1.0, 1.5, 2.0, 4.0, 16.0)]))
    if knob == "hvx_units":
        grid = np.asarray([lo, lo + 1, 2 * lo, 4 * lo, 16 * lo])
    lat = cost(op, hw.with_knobs({knob: grid})).latency_s
    assert np.all(np.diff(lat) <= 1e-12 * lat[:-1])


@FAST
@given(op=dsp_ops(), name=st.sampled_from(PRESETS), data=st.data())
def test_vectorized_equals_scalar(op, name, data):
    hw = preset(name)
    knobs = {k: np.asarray([data.draw(knob_values[k]) for _ in range(3)]) for k in KNOBS}
    assert_vectorized_matches_scalar(cost, op, hw, knobs, 3)
