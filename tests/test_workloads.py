"""Tests of the workload zoo: published / derived MAC and parameter counts (closed-form
oracles), every registered workload builds and runs, registry errors and knob coercion."""

from __future__ import annotations

import functools
import inspect

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torch._subclasses.fake_tensor import FakeTensorMode

import codesign.zoo
from codesign.errors import WorkloadError
from codesign.zoo import WORKLOADS, build_workload, get_workload
from codesign.zoo.nonlocal_blocks import NL_MODES, DoubleAttention, LightNL, NonLocalBlock


def count(model: torch.nn.Module, shape: tuple[int, ...]) -> tuple[int, int, torch.Size]:
    """(MACs = FlopCounterMode flops / 2, parameter count, output shape) under fake tensors."""
    model.eval()
    with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            out = model(torch.empty(shape))
    return counter.get_total_flops() // 2, sum(p.numel() for p in model.parameters()), out.shape


@functools.lru_cache(maxsize=None)
def count_default(name: str) -> tuple[int, int, torch.Size]:
    """count() of a workload built with its default knobs on its default input (cached:
    the registry test and the target tests share it)."""
    return count(build_workload(name), get_workload(name).default_input)


def within(value: float, target: float, rel: float) -> bool:
    return abs(value - target) <= rel * target


# --- closed-form oracles --------------------------------------------------------------

def test_nl_block_pool_before_matches_official_count():
    assert get_workload("nl_block").default_input == (1, 1024, 14, 14)
    macs, _, out = count_default("nl_block")  # pool="before" is the default
    assert macs == 266_735_616
    assert out == (1, 1024, 14, 14)


def test_nl_block_pool_after_matches_alexhex7_count():
    macs, _, _ = count(build_workload("nl_block", pool="after"), (1, 1024, 14, 14))
    assert macs == 420_876_288


def test_nl_block_parts_follow_derived_formula():
    c, n, ci = 1024, 196, 512
    n_keys = n  # no pooling
    macs, _, _ = count(NonLocalBlock(c, pool="none", mode="dot_product"), (1, c, 14, 14))
    assert macs == 3 * n * c * ci + 2 * n * n_keys * ci + n * ci * c
    # Gaussian: no theta/phi convs, affinity on all C channels of x and pooled x.
    macs, _, _ = count(NonLocalBlock(c, mode="gaussian"), (1, c, 14, 14))
    assert macs == 49 * c * ci + n * 49 * c + n * 49 * ci + n * ci * c


def test_a2_block_follows_derived_formula():
    c, hw, cm, cn = 1024, 196, 256, 256
    macs, _, _ = count(DoubleAttention(c, cm, cn), (1, c, 14, 14))
    assert macs == hw * c * (cm + 2 * cn) + hw * cm * c + 2 * hw * cm * cn


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("hw, channels", [(14, 1024), (56, 24), (28, 40)])
def test_lightnl_uses_the_cheaper_matmul_order(stride, hw, channels):
    r = 0.25
    block = LightNL(channels, r, stride)
    n, n_keys, rc = hw * hw, (-(-hw // stride)) ** 2, int(channels * r)
    expected = min(n * n_keys * (channels + rc), (n + n_keys) * channels * rc) + 9 * channels * n
    macs, _, _ = count(block, (1, channels, hw, hw))
    assert macs == expected


def test_lightnl_orders_give_the_same_result():
    torch.manual_seed(0)
    block = LightNL(16, 0.5, 2).eval()
    torch.nn.init.ones_(block.bn.weight)  # zero-init gamma would hide the product
    x = torch.randn(2, 16, 6, 6)
    block.attention_first = lambda h, w: True
    first = block(x)
    block.attention_first = lambda h, w: False
    torch.testing.assert_close(first, block(x), rtol=1e-4, atol=1e-5)


def test_resnet50_macs_and_params():
    macs, params, out = count_default("resnet50")
    assert within(macs, 4.09e9, 0.005)
    assert within(params, 25.56e6, 0.001)
    assert out == (1, 1000)


@pytest.mark.slow
def test_resnet50_nl_placement_counts():
    base, _, _ = count_default("resnet50")
    one, _, _ = count_default("resnet50_nl")  # nl_blocks=1 by default
    assert one - base == 266_735_616  # one res4 block, official pool-first
    for n in (1, 5, 10):
        model = build_workload("resnet50_nl", nl_blocks=n)
        assert sum(isinstance(m, NonLocalBlock) for m in model.modules()) == n
    model = build_workload("resnet50_nl", nl_blocks=1)
    assert isinstance(model.layer3[5], NonLocalBlock) and len(model.layer3) == 7  # before the last


def params_of(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_r101_c2d_five_blocks_is_about_1_2x():
    # NL paper Table 2e: R101 C2D baseline 43.2M params, 5-block NL C2D 1.2x.
    p_base = params_of(build_workload("c2d_resnet50_nl", depth=101, nl_blocks=0))
    p_nl5 = params_of(build_workload("c2d_resnet50_nl", depth=101, nl_blocks=5))
    assert within(p_base, 43.2e6, 0.01)
    assert 1.1 < p_nl5 / p_base < 1.3
    _, _, out = count_default("c2d_resnet50_nl")
    assert out == (1, 400)


def test_mobilenetv2_macs_and_params():
    macs, params, _ = count_default("mobilenetv2")
    assert within(macs, 0.30e9, 0.01)
    assert within(params, 3.50e6, 0.01)


@pytest.mark.slow
@pytest.mark.parametrize("name, macs_ref, params_ref", [("autonl_s", 267e6, 4.4e6), ("autonl_l", 353e6, 5.6e6)])
def test_autonl_within_3_percent(name, macs_ref, params_ref):
    macs, params, _ = count_default(name)
    assert within(macs, macs_ref, 0.03)
    assert within(params, params_ref, 0.03)


def test_tiny_yolov2_and_ccp():
    macs, _, out = count_default("tiny_yolov2")
    assert within(macs, 3.49e9, 0.01)  # darknet reports 6.97 BFLOPs
    assert out == (1, 125, 13, 13)
    macs_ccp, _, out = count(build_workload("tiny_yolov2_ccp", ccp_layers="0"), (1, 3, 416, 416))
    assert out == (1, 125, 13, 13)
    assert macs_ccp - macs == 416 * 416 * 27 * 16  # conv0 doubled


def test_cross_channel_pooling_is_a_group_max():
    block = build_workload("ccp_conv_block", in_ch=3, out_ch=4, factor=2)
    torch.nn.init.ones_(block.bn.weight)
    x = torch.randn(1, 3, 5, 5)
    with torch.no_grad():
        y = block.conv(x)
        expected = block.act(block.bn(torch.maximum(y[:, 0::2], y[:, 1::2])))
        torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize("name, macs_ref, params_ref", [
    ("convnext_t", 4.47e9, 28.6e6), ("inceptionnext_t", 4.2e9, 28.0e6),
])
def test_convnext_family_size(name, macs_ref, params_ref):
    macs, params, _ = count_default(name)
    assert within(macs, macs_ref, 0.02)
    assert within(params, params_ref, 0.02)


def test_convnext_keeps_nchw_between_blocks_as_the_official_code():
    """The official channels-first LayerNorm (an op chain) returns NCHW, so every depthwise
    conv gets an NCHW tensor; permute -> LayerNorm -> permute returns channels-last and the
    residual adds keep it, so the network would run channels-last (cuDNN depthwise on CUDA)."""
    from codesign.zoo.convnext import ConvNeXt, LayerNorm2d, LayerNormChannelsFirst

    m = ConvNeXt()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        h = m.downsample[0](x)
        assert h.is_contiguous()
        assert m.stages[0](h).is_contiguous()
        ln, ref = LayerNormChannelsFirst(96), LayerNorm2d(96, eps=1e-6)
        torch.testing.assert_close(ln(h), ref(h), rtol=1e-4, atol=1e-4)  # same math
        assert ref(h).is_contiguous(memory_format=torch.channels_last) and not ref(h).is_contiguous()


# --- real forward passes of the non-local family at small sizes --------------------------

@pytest.mark.parametrize("mode", NL_MODES)
@pytest.mark.parametrize("pool", ["before", "after", "none"])
@pytest.mark.parametrize("dims", [2, 3])
def test_nl_block_variants_run(mode, pool, dims):
    block = NonLocalBlock(8, mode=mode, pool=pool, dims=dims).eval()
    shape = (2, 8, 4, 4) if dims == 2 else (2, 8, 2, 4, 4)
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)  # zero-init BN: identity at start
        torch.nn.init.ones_(block.bn.weight)
        assert block(x).shape == shape


@pytest.mark.parametrize("name", ["snl_block", "gsnl_block", "ns_block", "a2_block", "lightnl_block"])
def test_nonlocal_family_real_forward(name):
    knob = "channels" if name == "lightnl_block" else "in_ch"
    model = build_workload(name, **{knob: 16})
    x = torch.randn(2, 16, 6, 6)
    with torch.no_grad():
        assert model(x).shape == x.shape


# --- registry --------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_every_workload_builds_and_runs(name):
    entry = get_workload(name)
    assert entry.name == name and entry.paper.startswith("arXiv:") and entry.description
    assert list(entry.knobs) == list(inspect.signature(entry.factory).parameters)
    assert not build_workload(name).training
    macs, params, out = count_default(name)
    assert params > 0 and out[0] == entry.default_input[0]
    if name == "mha_block":
        # eval + no_grad: nn.TransformerEncoderLayer takes its fast path, one fused aten op
        # (_transformer_encoder_layer_fwd) that FlopCounterMode does not count.
        assert macs == 0
    else:
        assert macs > 0


def test_mha_block_decomposes_with_grad_enabled():
    model = build_workload("mha_block")
    with FakeTensorMode(allow_non_fake_inputs=True), FlopCounterMode(display=False) as counter:
        model(torch.empty(get_workload("mha_block").default_input))
    assert counter.get_total_flops() // 2 == count_default("sdpa_block")[0]


def test_unknown_workload_suggests():
    with pytest.raises(WorkloadError, match=r"unknown workload 'resnet5'.*did you mean 'resnet50'.*known:"):
        get_workload("resnet5")
    with pytest.raises(WorkloadError, match="unknown workload"):
        build_workload("nope")


def test_unknown_knob_names_allowed():
    with pytest.raises(WorkloadError, match=r"unknown knob 'nl_block'.*did you mean 'nl_blocks'.*allowed: depth"):
        build_workload("resnet50_nl", nl_block=5)


def test_knob_values_from_cli_strings_are_coerced():
    model = build_workload("resnet50_nl", nl_blocks="5", nl_mode="dot_product")
    assert sum(isinstance(m, NonLocalBlock) for m in model.modules()) == 5
    assert build_workload("nl_block", use_scale="false").use_scale is False
    assert build_workload("lightnl_block", ratio="0.5").slice_ch == 512
    assert build_workload("mobilenetv2", width="1").fc.in_features == 1280
    model = build_workload("tiny_yolov2_ccp", ccp_layers="1, 2", ccp_factor="3")
    assert model.features[2].factor == 3 and not hasattr(model.features[0], "factor")
    assert codesign.zoo.coerce_knob("w", "k", "", (0, 1)) == ()
    assert codesign.zoo.coerce_knob("w", "k", [1.0, "2"], (0,)) == (1, 2)


@pytest.mark.parametrize("knob, value, match", [
    ("nl_blocks", "five", r"knob nl_blocks = 'five' is not a valid int"),
    ("nl_blocks", "2.5", r"not a valid int"),
    ("nl_blocks", 3, r"nl_blocks = 3; allowed: 0, 1, 5, 10"),
    ("nl_mode", "dot", r"nl_mode = 'dot'; allowed: .*embedded_gaussian"),
    ("depth", "34", r"depth = 34; allowed: 50, 101"),
])
def test_bad_knob_values_raise_one_line(knob, value, match):
    with pytest.raises(WorkloadError, match=match) as info:
        build_workload("resnet50_nl", **{knob: value})
    assert "\n" not in str(info.value) and "resnet50_nl" in str(info.value)


def test_bad_bool_and_tuple_values():
    with pytest.raises(WorkloadError, match="not a valid bool"):
        build_workload("nl_block", bn="maybe")
    with pytest.raises(WorkloadError, match="not a valid tuple of int"):
        build_workload("tiny_yolov2_ccp", ccp_layers="a,b")
    with pytest.raises(WorkloadError, match="ccp_layers"):
        build_workload("tiny_yolov2_ccp", ccp_layers="9")
