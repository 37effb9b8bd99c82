"""Closed-form oracles for the IR (no torch)."""

import sys

import pytest

from codesign.ir.graph import (
    AttentionAttrs, ConvAttrs, ConvVariant, MatMulAttrs, Op, OpGraph, OpKind, TensorSpec,
    with_dtype,
)


def conv_op(cin, cout, k, hw_in, stride=1, pad=0, dil=1, groups=1, batch=1, transposed=False, idx=0):
    kern = k if isinstance(k, tuple) else (k, k)
    nd = len(kern)
    attrs = ConvAttrs(cin, cout, kern, (stride,) * nd, (pad,) * nd, (dil,) * nd, groups, transposed)
    x = TensorSpec(100 + idx, (batch, cin, *hw_in))
    w = TensorSpec(200 + idx, (cout, cin // groups, *kern), is_weight=True)
    op = Op(idx, "c", "aten::convolution", OpKind.CONV, "m", (x, w), (), attrs)
    out = TensorSpec(300 + idx, (batch, cout, *op.conv_output_spatial))
    return Op(idx, "c", "aten::convolution", OpKind.CONV, "m", (x, w), (out,), attrs)


def test_no_torch_import():
    assert "codesign.ir.graph" in sys.modules
    import subprocess

    code = ("import sys, codesign.ir.graph, codesign.simulation, codesign.ir.fusion, codesign.ir.patterns;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("cin,cout,k,hw,stride,pad,dil,groups,variant", [
    (64, 128, 1, (56, 56), 1, 0, 1, 1, ConvVariant.POINTWISE),
    (64, 128, 3, (56, 56), 1, 1, 1, 1, ConvVariant.STANDARD),
    (64, 64, 3, (56, 56), 1, 1, 1, 64, ConvVariant.DEPTHWISE),
    (64, 128, 3, (56, 56), 1, 1, 1, 4, ConvVariant.GROUPED),
    (64, 64, 3, (56, 56), 1, 2, 2, 1, ConvVariant.DILATED),
    (3, 64, 7, (224, 224), 2, 3, 1, 1, ConvVariant.LARGE_KERNEL),
    (64, 64, (1, 7), (56, 56), 1, 0, 1, 1, ConvVariant.BAND),
])
def test_conv_macs_closed_form(cin, cout, k, hw, stride, pad, dil, groups, variant):
    op = conv_op(cin, cout, k, hw, stride, pad, dil, groups)
    kern = k if isinstance(k, tuple) else (k, k)
    oh = (hw[0] + 2 * pad - dil * (kern[0] - 1) - 1) // stride + 1
    ow = (hw[1] + 2 * (0 if isinstance(k, tuple) else pad) - dil * (kern[1] - 1) - 1) // stride + 1
    if isinstance(k, tuple):
        oh = (hw[0] - kern[0]) + 1
        ow = (hw[1] - kern[1]) + 1
    assert op.macs == oh * ow * cout * (cin // groups) * kern[0] * kern[1]
    assert op.attrs.variant == variant
    assert op.flops == 2 * op.macs


def test_resnet_conv1_macs():
    op = conv_op(3, 64, 7, (224, 224), stride=2, pad=3)
    assert op.macs == 112 * 112 * 64 * 3 * 7 * 7 == 118013952


def test_3d_and_transposed_variants():
    x = TensorSpec(1, (1, 4, 8, 16, 16))
    w = TensorSpec(2, (8, 4, 3, 3, 3), is_weight=True)
    a = ConvAttrs(4, 8, (3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1))
    op = Op(0, "c", "aten::convolution", OpKind.CONV, "", (x, w), (TensorSpec(3, (1, 8, 8, 16, 16)),), a)
    assert op.attrs.variant == ConvVariant.CONV3D and op.macs == 8 * 16 * 16 * 8 * 4 * 27
    t = conv_op(16, 8, 4, (7, 7), stride=2, pad=1, transposed=True)
    assert t.attrs.variant == ConvVariant.TRANSPOSED
    assert t.macs == 1 * 16 * 7 * 7 * 8 * 16     # input elements x cout/g x k*k
    assert t.conv_output_spatial == (14, 14)


def test_matmul_attention_bytes():
    a = TensorSpec(1, (8, 196, 512))
    b = TensorSpec(2, (8, 512, 49))
    o = TensorSpec(3, (8, 196, 49))
    op = Op(0, "bmm", "aten::bmm", OpKind.MATMUL, "", (a, b), (o,), MatMulAttrs(8, 196, 49, 512))
    assert op.macs == 8 * 196 * 49 * 512
    assert op.read_bytes == (a.numel + b.numel) * 4 and op.write_bytes == o.numel * 4
    att = AttentionAttrs(2, 4, 10, 12, 16, 16)
    q = TensorSpec(4, (2, 4, 10, 16))
    op2 = Op(1, "sdpa", "x", OpKind.ATTENTION, "", (q,), (q,), att)
    assert op2.macs == 2 * 4 * 10 * 12 * 32


def test_edges_views_and_inplace():
    x = TensorSpec(0, (1, 8))
    y = TensorSpec(1, (1, 8))
    ops = (
        Op(0, "a", "aten::relu", OpKind.ELEMENTWISE, "", (x,), (y,)),
        Op(1, "b", "aten::relu_", OpKind.ELEMENTWISE, "", (y,), (y,), inplace=True),
        Op(2, "c", "aten::add", OpKind.ELEMENTWISE, "", (TensorSpec(1, (8, 1)), x), (TensorSpec(2, (1, 8)),)),
    )
    g = OpGraph(ops, inputs=(x,))
    assert g.edges == ((0, 1), (1, 2))   # the in-place op becomes the producer; view keeps tid
    assert g.predecessors[2] == (1,)
    fr = g.to_frame()
    assert list(fr["kind"]) == ["elementwise"] * 3
    g16 = with_dtype(g, "float16")
    assert g16.ops[0].read_bytes == 16


def test_work_ids_and_sizes_number_equal_work_once():
    """``OpGraph.work_ids``: ops of equal ``work_key`` (all but index, name, module, tensor ids)
    share an int, numbered in order of first appearance; ``work_sizes[id]`` is that work's
    (MACs, FLOPs, read, write bytes). An op with more than WORK_KEY_MAX_TENSORS tensors is one
    of a kind."""
    from codesign.ir.graph import WORK_KEY_MAX_TENSORS

    a = conv_op(64, 64, 3, (56, 56), pad=1, idx=0)
    b = conv_op(64, 64, 3, (56, 56), pad=1, idx=1)          # same work, other tensors / index
    c = conv_op(64, 128, 1, (56, 56), idx=2)
    many = tuple(TensorSpec(500 + i, (10,)) for i in range(WORK_KEY_MAX_TENSORS + 1))
    f1 = Op(3, "opt", "aten::_foreach_add_", OpKind.ELEMENTWISE, "", many, ())
    f2 = Op(4, "opt", "aten::_foreach_add_", OpKind.ELEMENTWISE, "", many, ())
    g = OpGraph(ops=(a, b, c, f1, f2))
    assert a.work_key == b.work_key != c.work_key
    assert f1.work_key != f2.work_key                       # keyed by identity
    # the same tensors split differently between inputs and outputs: other work
    moved = Op(5, "x", "aten::x", OpKind.ELEMENTWISE, "", a.inputs[:1], a.inputs[1:] + a.outputs)
    kept = Op(6, "x", "aten::x", OpKind.ELEMENTWISE, "", a.inputs, a.outputs)
    assert moved.work_key != kept.work_key
    assert g.work_ids == (0, 0, 1, 2, 3)
    # hand: 3x3 conv 64->64 on 56x56 (pad 1): 56*56*64*64*9 MACs; fp32 input 64*56*56*4 bytes
    # + weight 64*64*9*4, output 64*56*56*4
    macs = 56 * 56 * 64 * 64 * 9
    assert g.work_sizes[0] == (float(macs), 2.0 * macs, 4.0 * (64 * 56 * 56 + 64 * 64 * 9),
                               4.0 * 64 * 56 * 56)
    assert g.work_sizes[2] == (0.0, 0.0, 4.0 * 10 * len(many), 0.0)
    assert len(g.work_sizes) == 4
