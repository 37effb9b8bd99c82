"""Channels-last traces (``trace(..., channels_last=True)``) and the layout copies the GPU cost
model charges on them (issue 16: timm's ``benchmark.py --channels-last`` rows)."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
import torch

from codesign.capture.tracer import trace
from codesign.cost.base import CostContext
from codesign.cost.gpu import conv_cost, effective_layout, norm_cost
from codesign.hardware import load_hardware
from codesign.ir.graph import ConvAttrs, OpKind, TensorSpec
from gpuops import achieved_bandwidth, make_op


@pytest.fixture(scope="module")
def hw():
    return load_hardware("rtx3090")




class _FoldRows(torch.nn.Module):
    """conv -> reshape [B, C, H, W] -> [B, C*H, W] (a view of an NCHW tensor, a copy of a
    channels-last one) -> back -> 1x1 conv."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.proj = torch.nn.Conv2d(8, 8, 1)

    def forward(self, x):
        y = self.conv(x)
        b, c, h, w = y.shape
        return self.proj(y.reshape(b, c * h, w).relu().reshape(b, c, h, w))


def _trace(model, shape, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return trace(model, shape, **kw)


def test_channels_last_trace_records_the_reshape_copy():
    m = _FoldRows()
    plain = _trace(m, (2, 3, 6, 6))
    cl = _trace(m, (2, 3, 6, 6), channels_last=True)
    clones = lambda g: [o for o in g.ops if o.aten.startswith("aten::clone")]  # noqa: E731
    assert not clones(plain) and not plain.channels_last
    assert cl.channels_last and len(clones(cl)) == 1
    copy = clones(cl)[0]
    assert copy.kind is OpKind.DATA_MOVEMENT and copy.inputs[0].shape == (2, 8, 6, 6)
    assert copy.inputs[0].channels_last and not copy.outputs[0].channels_last
    convs = [o for o in cl.ops if o.kind is OpKind.CONV]
    # the input and both weights (the 1x1 one too: dense in both orders, strides say
    # channels-last) carry the format; the 1x1 conv's input is the NCHW reshape result
    assert cl.inputs[0].channels_last
    assert all(o.inputs[1].channels_last for o in convs)
    assert convs[0].inputs[0].channels_last and not convs[1].inputs[0].channels_last
    assert not any(t.channels_last for o in plain.ops for t in o.inputs)
    # the model itself is untouched
    assert m.proj.weight.is_contiguous()


def _conv(x, w_cl=True, backward=False):
    w = TensorSpec(2, (256, 256, 3, 3), "float16", is_weight=True, channels_last=w_cl)
    out = TensorSpec(3, (64, 256, 56, 56), "float16", channels_last=True)
    attrs = ConvAttrs(256, 256, (3, 3), (1, 1), (1, 1), (1, 1), 1)
    if backward:
        g = TensorSpec(4, (64, 256, 56, 56), "float16")   # an NCHW output gradient
        return make_op(OpKind.CONV, [g, x, w], [out], replace(attrs, passes=2),
                   aten="aten::convolution_backward")
    return make_op(OpKind.CONV, [x, w], [out], attrs, aten="aten::convolution")


def test_nchw_input_into_channels_last_conv_pays_the_conversion(hw):
    """PyTorch's _convolution: input.contiguous(channels_last) when the weight is: one copy
    kernel, read + write of the input (64*256*56*56 fp16 = 102.8 MB)."""
    ctx = CostContext(dtype="fp16", mode="fused", layout="nhwc")
    x_cl = TensorSpec(1, (64, 256, 56, 56), "float16", channels_last=True)
    x_nchw = replace(x_cl, channels_last=False)
    nbytes = 64 * 256 * 56 * 56 * 2
    base, conv = conv_cost(_conv(x_cl), hw, ctx), conv_cost(_conv(x_nchw), hw, ctx)
    assert conv.latency_s - base.latency_s == pytest.approx(
        2 * nbytes / achieved_bandwidth(hw) + hw.dispatch.graph_overhead_s)
    assert conv.dram_read_bytes - base.dram_read_bytes == nbytes
    # the same in an NCHW run: the channels-last weight picks the NHWC kernels
    nchw = replace(ctx, layout="nchw")
    assert effective_layout(_conv(x_nchw), nchw) == "nhwc"
    assert conv_cost(_conv(x_nchw), hw, nchw) == conv
    # a graph traced NCHW (weight not channels-last) in an NHWC run: no conversion
    assert conv_cost(_conv(x_nchw, w_cl=False), hw, ctx) == conv_cost(_conv(x_cl, w_cl=False),
                                                                      hw, ctx)
    # dense in both orders ([B, C, 1, 1]): nothing to convert
    gate = TensorSpec(1, (64, 256, 1, 1), "float16")
    gate_conv = replace(_conv(gate), attrs=ConvAttrs(256, 256, (1, 1), (1, 1), (0, 0), (1, 1), 1))
    assert "channels-last copy" not in conv_cost(gate_conv, hw, ctx).note
    # a strided NCHW view pays its gather (written channels-last), not a second copy
    strided = conv_cost(_conv(replace(x_nchw, contiguous=False)), hw, ctx)
    assert strided.latency_s == pytest.approx(conv.latency_s)
    assert "gather" in strided.note and "channels-last copy" not in strided.note
    # a channels-last strided view in a channels-last run: neither
    view = conv_cost(_conv(replace(x_cl, contiguous=False)), hw, ctx)
    assert view == base


def test_conv_backward_converts_its_nchw_output_gradient(hw):
    ctx = CostContext(dtype="fp16", mode="fused", layout="nhwc")
    x_cl = TensorSpec(1, (64, 256, 56, 56), "float16", channels_last=True)
    bwd = _conv(x_cl, backward=True)
    cl_grad = replace(bwd, inputs=(replace(bwd.inputs[0], channels_last=True), *bwd.inputs[1:]))
    nbytes = 64 * 256 * 56 * 56 * 2
    d = conv_cost(bwd, hw, ctx).latency_s - conv_cost(cl_grad, hw, ctx).latency_s
    assert d == pytest.approx(2 * nbytes / achieved_bandwidth(hw) + hw.dispatch.graph_overhead_s)


def test_group_norm_on_a_channels_last_trace_copies_its_channels_last_operands(hw):
    """Traced channels-last, group_norm reads a channels-last input and writes NCHW (as
    PyTorch's CUDA kernel does): one copy (the input made NCHW); the consumer conv converts
    the output back (``conv_layout_copies``), not counted here again."""
    shape = (64, 64, 56, 56)
    n = 64 * 64 * 56 * 56
    op = make_op(OpKind.NORM, [TensorSpec(1, shape, "float32", channels_last=True)],
             [TensorSpec(2, shape, "float32")], aten="aten::native_group_norm")
    ctx = lambda lay: CostContext(dtype="amp", mode="fused", layout=lay)  # noqa: E731
    d = norm_cost(op, hw, ctx("nhwc")).latency_s - norm_cost(op, hw, ctx("nchw")).latency_s
    assert d == pytest.approx(2 * 4 * n / achieved_bandwidth(hw) + hw.dispatch.graph_overhead_s)


def test_nhwc_rows_are_traced_channels_last():
    from codesign.validation.published import run_settings

    nhwc = run_settings("amp", "pytorch", "nhwc", "training", "1.12.1+cu113")
    nchw = run_settings("amp", "pytorch", "nchw", "training", "1.12.1+cu113")
    assert nhwc.trace_options()["channels_last"] is True
    assert nhwc.cache_knobs()["channels_last"] is True
    assert "channels_last" not in nchw.trace_options()
    assert "channels_last" not in (nchw.cache_knobs() or {})
    # compiled runtimes choose their own layouts
    assert "channels_last" not in run_settings("fp16", "tflite", "nhwc",
                                               "inference").trace_options()
