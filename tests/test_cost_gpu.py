"""GPU cost models: closed-form oracles, unit selection, invariants (hypothesis), vectorization."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codesign.cost import registry
from codesign.cost.base import CostContext, OpCost
from codesign.cost.gpu import (
    attention_cost, gemm_candidate, l2_hit_fraction, matmul_cost,
    norm_cost, tensor_core_eligible, winograd_eligible,
)
from codesign.cost.roofline import roofline_floor
from codesign.ir.graph import (
    AttentionAttrs, ConvAttrs, MatMulAttrs, Op, OpKind, PoolAttrs, ReduceAttrs, TensorSpec,
)
from codesign.hardware import load_hardware

FIELDS = ("compute_s", "memory_s", "overhead_s", "dram_read_bytes", "dram_write_bytes",
          "onchip_bytes", "l2_bytes", "latency_s")


@pytest.fixture(scope="module")
def a100():
    return load_hardware("a100-sxm4-40gb")


@pytest.fixture(scope="module")
def t4():
    return load_hardware("t4")


# ----------------------------------------------------------------------------- op builders


def _op(kind, inputs, outputs, attrs=None, aten="aten::x") -> Op:
    return Op(index=0, name=f"m/{kind.value}", aten=aten, kind=kind, module="m",
              inputs=tuple(inputs), outputs=tuple(outputs), attrs=attrs)


def mm_op(m, n, k, batch=1) -> Op:
    if batch == 1:
        ins = [TensorSpec(1, (m, k)), TensorSpec(2, (k, n), is_weight=True)]
        out = [TensorSpec(3, (m, n))]
    else:
        ins = [TensorSpec(1, (batch, m, k)), TensorSpec(2, (batch, k, n))]
        out = [TensorSpec(3, (batch, m, n))]
    return _op(OpKind.MATMUL, ins, out, MatMulAttrs(batch, m, n, k), "aten::mm")


def conv_op(n, c, h, w, k, r=3, stride=1, pad=None, groups=1, dilation=1) -> Op:
    pad = r // 2 if pad is None else pad
    p = (h + 2 * pad - dilation * (r - 1) - 1) // stride + 1
    q = (w + 2 * pad - dilation * (r - 1) - 1) // stride + 1
    attrs = ConvAttrs(c, k, (r, r), (stride, stride), (pad, pad), (dilation, dilation), groups)
    ins = [TensorSpec(1, (n, c, h, w)), TensorSpec(2, (k, c // groups, r, r), is_weight=True)]
    return _op(OpKind.CONV, ins, [TensorSpec(3, (n, k, p, q))], attrs, "aten::convolution")


def ew_op(*shape, kind=OpKind.ELEMENTWISE, attrs=None, n_in=1) -> Op:
    ins = [TensorSpec(10 + i, shape) for i in range(n_in)]
    return _op(kind, ins, [TensorSpec(99, shape)], attrs)


def attn_op(b, h, q, kv, d, causal=False, extra=0) -> Op:
    ins = [TensorSpec(1, (b, h, q, d)), TensorSpec(2, (b, h, kv, d)), TensorSpec(3, (b, h, kv, d))]
    return _op(OpKind.ATTENTION, ins, [TensorSpec(4, (b, h, q, d))],
               AttentionAttrs(b, h, q, kv, d, d, causal=causal, extra_macs=extra),
               "aten::_scaled_dot_product_flash_attention")


def cost(op, hw, dtype="fp32", mode="eager", layout="nhwc") -> OpCost:
    fn = registry().lookup(op.kind, "gpu")
    return fn(op, hw, CostContext(dtype, mode, layout))


# ----------------------------------------------------------------------------- registry


def test_every_kind_but_other_has_a_gpu_cost():
    reg = registry()
    missing = [k for k in OpKind if k is not OpKind.OTHER and reg.lookup(k, "gpu") is None]
    assert missing == []
    assert reg.lookup(OpKind.OTHER, "gpu") is None


# ----------------------------------------------------------------------------- GEMM oracles


def _candidate(hw, m, n, k, dtype="fp16", tc=True, tm=128, tn=128):
    bs = {"fp16": 2, "fp32": 4}[dtype]
    return gemm_candidate(
        hw, m=m, n=n, k=k, count=1, dtype=dtype, tensor_core=tc, eff=hw.eff("matmul"),
        tm=tm, tn=tn, split=1, a_bytes=m * k * bs, b_bytes=k * n * bs,
        first_read_dram=(m * k + k * n) * bs, first_read_l2=(m * k + k * n) * bs,
        write_bytes=m * n * bs)


def test_wave_boundary_108_vs_109_tiles_on_a100(a100):
    k = 4096
    one = _candidate(a100, 128 * 108, 128, k)
    two = _candidate(a100, 128 * 109, 128, k)
    assert (one["tiles"], two["tiles"]) == (108, 109)
    assert (one["rounds"], two["rounds"]) == (1, 2)
    # hand: one tile = 128*128*4096 MACs at 2048/2 MAC/clk/SM, 1.41 GHz, / eff(matmul)
    t_tile = 128 * 128 * k / (1024 * 1.41e9) / a100.eff("matmul")
    assert one["compute_s"] == pytest.approx(t_tile, rel=1e-12)
    assert two["compute_s"] == pytest.approx(2 * t_tile, rel=1e-12)
    # CTAs/SM from shared memory: (128+128)*32*2 B * 2 stages = 32 KiB of 164 KiB -> 5
    assert one["ctas_per_sm"] == 5
    assert one["waves"] == 1 and two["waves"] == 1


def test_wave_boundary_shows_as_a_sawtooth_in_the_chosen_tiling(a100):
    # compute-bound shapes: 27 x 4 = 108 vs 28 x 4 = 112 tiles of 128x128 on 108 SMs
    k, ctx = 4096, CostContext("fp16", "fused")
    c108 = matmul_cost(mm_op(128 * 27, 512, k), a100, ctx)
    c112 = matmul_cost(mm_op(128 * 28, 512, k), a100, ctx)
    assert c108.unit == c112.unit == "tensor_core"
    assert c108.bound == "compute"
    # 3.7% more work costs far more than 3.7% more time
    assert c112.compute_s > 1.15 * c108.compute_s
    assert c112.latency_s > 1.1 * c108.latency_s


def test_big_gemm_near_tensor_peak(a100):
    m = n = k = 8192
    c = matmul_cost(mm_op(m, n, k), a100, CostContext("fp16", "fused"))
    peak = a100.peak_macs_per_s("fp16")
    ideal = m * n * k / peak / a100.eff("matmul")
    assert ideal <= c.latency_s - c.overhead_s < 1.15 * ideal
    assert c.bound == "compute"


def test_cuda_core_gemm_hand_computed(a100):
    # fp32 never uses tensor cores: 64 FMA lanes/SM; 108 tiles of 128x128, K=256 -> 1 round
    c = _candidate(a100, 128 * 108, 128, 256, dtype="fp32", tc=False)
    assert c["compute_s"] == pytest.approx(
        128 * 128 * 256 / (64 * 1.41e9) / a100.eff("matmul"), rel=1e-12)


def test_tiny_output_huge_k_gemm_splits_k_across_the_sms():
    # the weight gradient of a 4->4 Linear over 2,048,000 rows (CaiT's talking-heads
    # projections over B*N*N scores): one 32x32 tile of output, N=4 not tensor-core aligned.
    # 64 K-slices fill 64 of the RTX 3090's 82 SMs in one round, each ceil(2048000 / (64*32))
    # = 1000 K-steps of 32 on a 32x32 tile at 128 FMA lanes/SM (fp16 = fp32 rate on GA10x);
    # 128 / 256 slices tie (2 / 4 rounds of half / a quarter the K) and come later. The old
    # cap of 16 slices left 66 SMs idle: 4x this.
    hw = load_hardware("rtx3090")
    k = 64 * 32 * 1000
    c = matmul_cost(mm_op(4, 4, k), hw, CostContext("fp16", "fused"))
    assert c.unit == "cuda_core" and c.bound == "compute"
    assert c.compute_s == pytest.approx(
        32 * 32 * 32000 / (128 * 1.695e9) / hw.eff("matmul"), rel=1e-12)


@pytest.mark.parametrize("dtype,k,n,unit", [
    ("fp32", 256, 256, "cuda_core"),
    ("tf32", 256, 256, "tensor_core"),
    ("fp16", 256, 256, "tensor_core"),
    ("bf16", 256, 256, "tensor_core"),
    ("fp16", 7, 256, "cuda_core"),     # K not a multiple of 8
    ("fp16", 256, 12, "cuda_core"),    # N not a multiple of 8
    ("tf32", 12, 256, "tensor_core"),  # tf32 needs multiples of 4 only
    ("int8", 256, 24, "cuda_core"),    # int8 needs multiples of 16
    ("int8", 256, 32, "tensor_core"),
])
def test_tensor_core_eligibility(a100, dtype, k, n, unit):
    c = matmul_cost(mm_op(512, n, k), a100, CostContext(dtype))
    assert c.unit == unit


def test_tensor_cores_only_where_the_part_has_them():
    v100 = load_hardware("v100-sxm2")
    assert not tensor_core_eligible(v100, "tf32", 64, 64)   # Volta: fp16 only
    assert tensor_core_eligible(v100, "fp16", 64, 64)
    assert not tensor_core_eligible(v100, "fp32", 64, 64)


def test_unaligned_fp16_is_much_slower_than_aligned(a100):
    aligned = matmul_cost(mm_op(4096, 4096, 4096), a100, CostContext("fp16", "fused"))
    ragged = matmul_cost(mm_op(4096, 4096, 4095), a100, CostContext("fp16", "fused"))
    assert ragged.unit == "cuda_core"
    # CUDA cores: 64 lanes x fp16_vector_speedup vs 1024 tensor MACs/clk/SM
    assert ragged.compute_s > 3 * aligned.compute_s


def test_conv_tensor_core_alignment_is_on_channels(a100):
    stem = conv_op(8, 3, 224, 224, 64, r=7, stride=2)
    body = conv_op(8, 64, 56, 56, 64, r=3)
    assert cost(stem, a100, "fp16").unit == "cuda_core"
    assert cost(body, a100, "fp16").unit == "tensor_core"


def test_conv_macs_match_the_gemm_view(a100):
    op = conv_op(2, 64, 56, 56, 128, r=3)
    c = cost(op, a100, "fp16")
    assert c.macs == op.macs == 2 * 56 * 56 * 128 * 64 * 9


def test_nchw_tensor_core_conv_pays_a_serial_input_transpose(a100):
    # cuDNN transposes the input to NHWC in a kernel of its own, in series with the conv: each
    # input byte is read and written once more and latency grows by that memory time + dispatch
    op = conv_op(64, 256, 56, 56, 64, r=1, pad=0)
    nchw = cost(op, a100, "fp16", layout="nchw")
    nhwc = cost(op, a100, "fp16", layout="nhwc")
    in_bytes = 64 * 256 * 56 * 56 * 2
    assert nchw.dram_bytes == pytest.approx(nhwc.dram_bytes + 2 * in_bytes)
    bw = a100.dram_bandwidth_bytes_per_s * a100.eff("memory")
    assert nchw.latency_s - nhwc.latency_s == pytest.approx(
        2 * in_bytes / bw + a100.dispatch.eager_overhead_s, rel=1e-6)
    assert cost(op, a100, "fp32", layout="nchw").dram_bytes == \
        cost(op, a100, "fp32", layout="nhwc").dram_bytes


def test_winograd_for_fp32_3x3(a100):
    op = conv_op(64, 128, 28, 28, 128, r=3)
    assert winograd_eligible(op)
    assert not winograd_eligible(conv_op(64, 128, 28, 28, 128, r=3, stride=2))
    c = cost(op, a100, "fp32", mode="fused")
    direct_floor = op.macs / (108 * 64 * 1.41e9)
    assert c.compute_s < direct_floor  # fewer multiplies than direct convolution
    assert c.latency_s >= roofline_floor(op, a100, CostContext("fp32"))


def test_depthwise_is_memory_bound_on_cuda_cores(a100):
    op = conv_op(32, 512, 56, 56, 512, r=3, groups=512)
    c = cost(op, a100, "fp16", mode="fused")
    assert c.unit == "cuda_core"
    assert c.bound == "memory" or c.memory_s > c.compute_s
    act = 32 * 512 * 56 * 56 * 2  # 102 MB, larger than L2: read from DRAM
    w = 512 * 9 * 2
    assert c.dram_read_bytes == pytest.approx(act + w)
    assert c.dram_write_bytes == pytest.approx(act)
    assert c.memory_s == pytest.approx(2 * act / (1555e9 * a100.eff("memory")), rel=1e-3)


def test_attention_is_fused(a100):
    op = attn_op(16, 12, 1024, 1024, 64)  # Q, K, V: 75 MB, more than L2
    c = attention_cost(op, a100, CostContext("fp16", "fused"))
    qkvo = 4 * 16 * 12 * 1024 * 64 * 2
    assert c.unit == "tensor_core"
    assert c.dram_bytes == pytest.approx(qkvo)  # scores never stored; K/V re-reads hit L2
    causal = attention_cost(attn_op(16, 12, 1024, 1024, 64, causal=True), a100,
                            CostContext("fp16", "fused"))
    assert causal.compute_s == pytest.approx(c.compute_s / 2)
    proj = attention_cost(attn_op(16, 12, 1024, 1024, 64, extra=10**10), a100,
                          CostContext("fp16", "fused"))
    assert proj.compute_s > c.compute_s


# ----------------------------------------------------------------------------- bandwidth ops


def test_small_activation_comes_from_l2(a100):
    small = ew_op(1, 64, 56, 56)                  # 0.8 MB fp32 << 20 MB = l2/2
    big = ew_op(64, 256, 56, 56)                  # 205 MB
    cs, cb = cost(small, a100), cost(big, a100)
    assert cs.dram_read_bytes == 0.0
    assert cs.dram_write_bytes == small.write_bytes
    assert cb.dram_read_bytes == big.read_bytes
    assert float(l2_hit_fraction(30e6, a100)) == pytest.approx((41943040 - 30e6) / 20971520)


def test_bandwidth_ops_kinds(a100):
    shape = (32, 256, 28, 28)
    ops = [
        ew_op(*shape, n_in=2),
        ew_op(*shape, kind=OpKind.NORM),
        ew_op(*shape, kind=OpKind.SOFTMAX),
        ew_op(*shape, kind=OpKind.RESAMPLE),
        ew_op(*shape, kind=OpKind.DATA_MOVEMENT),
        _op(OpKind.POOL, [TensorSpec(1, (32, 256, 56, 56))], [TensorSpec(2, shape)],
            PoolAttrs("max", (3, 3), (2, 2))),
        _op(OpKind.REDUCTION, [TensorSpec(1, shape)], [TensorSpec(2, (32, 256))],
            ReduceAttrs("mean", (2, 3), 28 * 28)),
        _op(OpKind.CROSS_CHANNEL_POOL, [TensorSpec(1, shape)],
            [TensorSpec(2, (32, 128, 28, 28))]),
    ]
    for op in ops:
        c = cost(op, a100, "fp16")
        assert c.macs == 0 and c.vector_ops == op.vector_ops
        assert c.latency_s >= roofline_floor(op, a100, CostContext("fp16"))
        assert c.unit == ("dram" if op.kind is OpKind.DATA_MOVEMENT else "cuda_core")
        assert c.memory_s >= a100.dram_latency_s


def test_overhead_eager_vs_fused(a100):
    op = ew_op(1, 64, 56, 56)
    assert cost(op, a100, mode="eager").overhead_s == a100.dispatch.eager_overhead_s
    assert cost(op, a100, mode="fused").overhead_s == a100.dispatch.graph_overhead_s


def test_eager_autocast_casts_weights(a100):
    op = conv_op(1, 64, 56, 56, 64, r=3)
    amp = cost(op, a100, "fp16", mode="eager")
    fused = cost(op, a100, "fp16", mode="fused")
    assert amp.overhead_s == pytest.approx(2 * a100.dispatch.eager_overhead_s)
    assert fused.overhead_s == a100.dispatch.graph_overhead_s
    assert cost(op, a100, "fp32", mode="eager").overhead_s == a100.dispatch.eager_overhead_s


def test_norm_uses_norm_key(a100):
    op = ew_op(1, 8, 8, 8, kind=OpKind.NORM)
    c = norm_cost(op, a100, CostContext("fp32"))
    assert c.compute_s == pytest.approx(
        op.vector_ops / (108 * 64 * 1.41e9) / a100.eff("norm"))


# ----------------------------------------------------------------------------- properties

dims = st.sampled_from([1, 3, 7, 8, 16, 32, 48, 64, 96, 128, 200, 256, 512, 1024, 2048])


@st.composite
def ops(draw):
    which = draw(st.sampled_from(["mm", "bmm", "conv", "dw", "grouped", "ew", "norm", "attn",
                                  "pool"]))
    if which == "mm":
        return mm_op(draw(dims), draw(dims), draw(dims))
    if which == "bmm":
        return mm_op(draw(dims), draw(dims), draw(dims), batch=draw(st.sampled_from([2, 12, 64])))
    n = draw(st.sampled_from([1, 2, 8, 32]))
    hw_ = draw(st.sampled_from([7, 14, 28, 56]))
    c = draw(st.sampled_from([3, 16, 32, 64, 256, 512]))
    if which == "conv":
        r = draw(st.sampled_from([1, 3, 5, 7]))
        return conv_op(n, c, hw_, hw_, draw(st.sampled_from([16, 64, 100, 256])), r=r,
                       stride=draw(st.sampled_from([1, 2])))
    if which == "dw":
        return conv_op(n, c, hw_, hw_, c, r=draw(st.sampled_from([3, 5, 7])), groups=c)
    if which == "grouped":
        c = draw(st.sampled_from([64, 128, 256]))
        return conv_op(n, c, hw_, hw_, c, r=3, groups=draw(st.sampled_from([2, 4, 32])))
    if which == "ew":
        return ew_op(n, c, hw_, hw_, n_in=draw(st.sampled_from([1, 2])))
    if which == "norm":
        return ew_op(n, c, hw_, hw_, kind=OpKind.NORM)
    if which == "pool":
        return _op(OpKind.POOL, [TensorSpec(1, (n, c, hw_, hw_))],
                   [TensorSpec(2, (n, c, hw_ // 2 or 1, hw_ // 2 or 1))],
                   PoolAttrs("max", (3, 3), (2, 2)))
    return attn_op(n, draw(st.sampled_from([1, 4, 12])), draw(st.sampled_from([49, 196, 1024])),
                   draw(st.sampled_from([49, 196, 1024])), draw(st.sampled_from([32, 64, 80])),
                   causal=draw(st.booleans()), extra=draw(st.sampled_from([0, 10**8])))


KNOB_RANGES = {
    "sm_count": (8, 200, True),
    "clock_hz": (0.3e9, 2.5e9, False),
    "dram_bandwidth_bytes_per_s": (30e9, 5e12, False),
    "l2_bytes": (0.0, 128e6, False),
    "l2_bandwidth_bytes_per_s": (1e11, 1e13, False),
    "shared_memory_bytes_per_sm": (32768, 233472, True),
    "tensor_flops_per_clock_per_sm.fp16": (256, 4096, False),
    "cta_tile_m": (64, 256, True),
    "cta_tile_n": (64, 256, True),
}


def _random_knobs(rng, size):
    out = {}
    for name, (lo, hi, integer) in KNOB_RANGES.items():
        v = rng.uniform(lo, hi, size)
        out[name] = np.round(v).astype(int) if integer else v
    return out


settings.register_profile("cost", deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])


@settings(settings.get_profile("cost"))
@given(op=ops(), dtype=st.sampled_from(["fp32", "fp16", "tf32"]),
       mode=st.sampled_from(["eager", "fused"]), seed=st.integers(0, 2**31 - 1))
def test_latency_never_below_roofline_floor(a100, op, dtype, mode, seed):
    rng = np.random.default_rng(seed)
    hw = a100.with_knobs(_random_knobs(rng, 16))
    ctx = CostContext(dtype, mode, "nhwc")
    c = registry().lookup(op.kind, "gpu")(op, hw, ctx)
    floor = roofline_floor(op, hw, ctx)
    assert np.all(c.latency_s - c.overhead_s >= floor * (1 - 1e-12))


@settings(settings.get_profile("cost"))
@given(op=ops(), dtype=st.sampled_from(["fp32", "fp16"]),
       knob=st.sampled_from(["dram_bandwidth_bytes_per_s", "clock_hz", "sm_count", "l2_bytes",
                             "l2_bandwidth_bytes_per_s"]),
       seed=st.integers(0, 2**31 - 1))
def test_more_hardware_never_slows_an_op(a100, op, dtype, knob, seed):
    rng = np.random.default_rng(seed)
    lo, hi, integer = KNOB_RANGES[knob]
    grid = np.linspace(lo, hi, 64)
    if integer:
        grid = np.unique(np.round(grid).astype(int))
    base = {k: v[0] for k, v in _random_knobs(rng, 1).items() if k != knob}
    hw = a100.with_knobs({**base, knob: grid})
    c = registry().lookup(op.kind, "gpu")(op, hw, CostContext(dtype, "eager", "nchw"))
    lat = np.broadcast_to(c.latency_s, grid.shape)
    assert np.all(np.diff(lat) <= 1e-15 + 1e-12 * lat[:-1]), (knob, lat)


@settings(settings.get_profile("cost"))
@given(op=ops(), dtype=st.sampled_from(["fp32", "fp16", "bf16", "tf32", "int8"]),
       mode=st.sampled_from(["eager", "fused"]), layout=st.sampled_from(["nchw", "nhwc"]),
       seed=st.integers(0, 2**31 - 1))
def test_vectorized_equals_scalar(a100, op, dtype, mode, layout, seed):
    rng = np.random.default_rng(seed)
    knobs = _random_knobs(rng, 6)
    ctx = CostContext(dtype, mode, layout)
    fn = registry().lookup(op.kind, "gpu")
    vec = fn(op, a100.with_knobs(knobs), ctx)
    for i in range(6):
        one = fn(op, a100.with_knobs({k: v[i].item() for k, v in knobs.items()}), ctx)
        for f in FIELDS:
            s = getattr(one, f)
            assert np.ndim(s) == 0, f
            v = np.broadcast_to(getattr(vec, f), (6,))[i]
            assert v == pytest.approx(float(s), rel=1e-12, abs=0.0), (f, i)
        assert one.unit == vec.unit


def test_scalar_spec_gives_scalar_costs(a100):
    for op in (mm_op(64, 64, 64), conv_op(1, 64, 14, 14, 64), ew_op(4, 4),
               attn_op(1, 2, 64, 64, 32)):
        c = cost(op, a100, "fp16")
        for f in FIELDS:
            assert isinstance(getattr(c, f), float), (op.kind, f)
        assert math.isfinite(c.latency_s)


# ----------------------------------------------------------------------------- GEMM search memo


@pytest.mark.parametrize("m,n,k,dtype", [(4096, 4096, 4096, "fp16"), (197, 768, 3072, "fp32"),
                                         (12544, 64, 27, "fp16"), (64, 1000, 2048, "tf32")])
def test_memoised_gemm_search_equals_the_search_itself(a100, m, n, k, dtype):
    """``gemm_cost`` memoises the tile search of one configuration (``_best_tiling``, issue 16
    speed): a hit returns, bit for bit, what the unmemoised search, the batched search of many
    GEMMs and the vectorized (sweep) search return; a spec with a 0-d knob (one configuration,
    not hashable) is searched without the memo; the memo keeps an int argument apart from its
    float."""
    from codesign.cost.gpu import (_TILINGS, _best_tiling, _best_tiling_vectorized, _search_tiling,
                                   _search_tilings, clear_search_memo)

    bs = 2 if dtype == "fp16" else 4
    search = dict(m=m, n=n, k=k, count=1, dtype=dtype, tensor_core=dtype != "fp32",
                  eff=a100.eff("matmul"), a_bytes=float(m * k * bs), b_bytes=float(k * n * bs),
                  first_read_dram=float((m * k + k * n) * bs), first_read_l2=float((m * k + k * n) * bs),
                  write_bytes=float(m * n * bs), mem_key="memory")
    clear_search_memo()
    plain = _search_tiling(a100, **search)
    assert _best_tiling(a100, **search) == plain
    assert _best_tiling(a100, **search) == plain                  # a hit
    assert all(type(v) is float for v in plain)
    assert _search_tilings(a100, [search])[0] == plain
    assert _best_tiling_vectorized(a100.with_knobs({"sm_count": np.asarray(108)}), **search) == plain
    before = len(_TILINGS)
    _best_tiling(a100, **{**search, "m": float(m)})
    assert len(_TILINGS) == before + 1
    zero_d = a100.with_knobs({"sm_count": np.asarray(108)})
    assert zero_d.batch_shape == ()
    mm = mm_op(m, n, k)
    np.testing.assert_array_equal(cost(mm, zero_d, "fp16").latency_s, cost(mm, a100, "fp16").latency_s)



def test_batched_gemm_search_equals_each_search(a100, t4):
    """The GPU pre-pass searches every GEMM of a simulation at once (``_search_tilings``, one
    numpy search over [candidates, GEMMs] per split-K count, dtype and unit): each pick and
    figure equals that GEMM's own search bit for bit -- both resident operands, split-K and
    not, tensor and CUDA cores, Winograd's 16 batched GEMMs, cuBLAS's own DRAM bandwidth key
    (``memory.matmul``) -- and ops costed after
    ``prefetch_tilings`` equal ops costed with an empty memo."""
    from codesign.cost.gpu import _search_tiling, _search_tilings, clear_search_memo, gemm_searches, prefetch_tilings

    ops = [mm_op(m, n, k, batch) for m, n, k, batch in
           [(4096, 4096, 4096, 1), (197, 768, 3072, 1), (64, 1000, 2048, 1), (3136, 96, 96, 64),
            (8, 50304, 768, 1), (50304, 8, 768, 1), (12544, 64, 27, 1), (1, 1, 1, 1),
            (96, 96, 48, 12), (2048, 32, 65536, 1)]]
    groups = set()
    ops += [conv_op(8, c, hw_, hw_, k, r, stride, groups=g) for c, hw_, k, r, stride, g in
            [(3, 224, 64, 7, 2, 1), (64, 56, 64, 3, 1, 1), (256, 14, 512, 1, 1, 1),
             (128, 28, 128, 3, 1, 32), (30, 17, 45, 3, 1, 1), (512, 7, 2048, 1, 2, 1)]]
    from codesign.hardware.software import PYTORCH_1

    pt1 = PYTORCH_1.apply(a100)     # memory.matmul (cuBLAS) apart from memory (the convs)
    assert pt1.eff("memory.matmul") != pt1.eff("memory")
    for hw in (a100, t4, pt1):
        for dtype, layout in (("fp16", "nchw"), ("fp32", "nhwc"), ("tf32", "nchw")):
            ctx = CostContext(dtype, "eager", layout)
            searches = [s for op in ops for s in gemm_searches(op, hw, ctx)]
            assert len(searches) > len(ops)                       # Winograd's GEMMs too
            groups |= {(s["dtype"], s["tensor_core"]) for s in searches}
            assert _search_tilings(hw, searches) == [_search_tiling(hw, **s) for s in searches]
            clear_search_memo()
            plain = [cost(op, hw, dtype, layout=layout) for op in ops]
            clear_search_memo()
            prefetch_tilings(ops, hw, ctx)
            assert [cost(op, hw, dtype, layout=layout) for op in ops] == plain
    assert groups >= {("fp16", True), ("fp16", False), ("tf32", True), ("fp32", False)}



def test_prepass_sees_each_distinct_work_once(a100, monkeypatch):
    """``estimate_costs`` hands the GPU pre-pass (``prefetch_tilings``) each distinct supported
    work once, before costing; a kind registers at most one pre-pass."""
    from dataclasses import replace

    from codesign.cost.base import CostRegistry
    from codesign.cost.gpu import prefetch_tilings
    from codesign.ir.graph import OpGraph
    from codesign.simulation import estimate_costs

    reg = registry()
    assert reg.prepass("gpu") is prefetch_tilings and reg.prepass("cpu") is None
    fresh = CostRegistry()
    fresh.register_prepass("gpu", prefetch_tilings)
    with pytest.raises(ValueError, match="registered twice"):
        fresh.register_prepass("gpu", prefetch_tilings)
    with pytest.raises(ValueError, match="unknown hardware kind"):
        fresh.register_prepass("tpu", prefetch_tilings)

    seen = []
    monkeypatch.setitem(reg.prepasses, "gpu", lambda ops, hw, ctx: seen.append(list(ops)))
    ops = [mm_op(64, 64, 64), mm_op(64, 64, 64), mm_op(128, 64, 64), conv_op(2, 8, 16, 16, 8)]
    other = replace(mm_op(32, 32, 32), supported=False)
    g = OpGraph(ops=tuple(replace(op, index=i) for i, op in enumerate([*ops, other])))
    estimate_costs(g, a100, CostContext("fp16", "eager", "nhwc"))
    assert len(seen) == 1
    assert [op.index for op in seen[0]] == [0, 2, 3]     # equal works once, unsupported not


def test_float_fast_paths_equal_numpy(a100):
    """``_clip01`` / ``l2_hit_fraction`` / ``memory_time_s`` take Python floats without numpy
    (issue 16 speed); they return what the numpy expressions return, bit for bit."""
    from codesign.cost.gpu import _clip01, memory_time_s

    for x in (-1.5, -0.0, 0.0, 0.25, 1.0, 1.0 + 1e-16, 3.0, float("inf"), float("-inf")):
        want = float(np.clip(x, 0.0, 1.0))
        got = _clip01(x)
        assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want), x
    assert math.isnan(_clip01(float("nan")))
    l2 = a100.gpu.l2_bytes
    for nbytes in (0.0, 0.25 * l2, 0.5 * l2, 0.75 * l2, float(l2), 2.0 * l2):
        want = np.clip((l2 - nbytes) / np.maximum(0.5 * l2, 1.0), 0.0, 1.0)
        assert l2_hit_fraction(nbytes, a100) == float(want)
        for l2_traffic in (0.0, nbytes, 1e3 * nbytes + 1.0):
            dram = nbytes / (a100.dram_bandwidth_bytes_per_s * a100.eff("memory"))
            l2t = l2_traffic / a100.gpu.l2_bandwidth_bytes_per_s
            assert memory_time_s(nbytes, l2_traffic, a100) == float(
                np.maximum(np.maximum(dram, l2t), a100.dram_latency_s))
