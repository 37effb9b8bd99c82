"""Tracer: exact FLOPs vs torch's FlopCounterMode, paper MAC counts, coverage, patterns."""

import time

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

import codesign
from codesign.errors import TraceError
from codesign.ir.graph import OpKind
from codesign.zoo import WORKLOADS, build_workload

MAC_ATENS = ("convolution", "mm", "addmm", "bmm", "baddbmm")

# heavy workloads are traced at a smaller input here (FLOP equality is shape-independent)
SMALL_INPUT = {"c2d_resnet50_nl": (1, 3, 4, 64, 64)}


def torch_flops(model, shape):
    with FakeTensorMode(allow_non_fake_inputs=True):
        x = torch.empty(shape)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(x)
    counts = fc.get_flop_counts().get("Global", {})
    return {str(k).split(".")[-1]: v for k, v in counts.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_flops_equal_flop_counter(name):
    entry = WORKLOADS[name]
    shape = SMALL_INPUT.get(name, entry.default_input)
    model = build_workload(name)
    g = codesign.trace(model, shape)
    ours: dict[str, int] = {}
    for op in g.ops:
        aten = op.aten.split("::")[-1].split(".")[0]
        if aten in MAC_ATENS:
            ours[aten] = ours.get(aten, 0) + op.flops
    theirs = {k: v for k, v in torch_flops(model, shape).items() if k in MAC_ATENS}
    assert ours == theirs
    assert g.coverage.unsupported_count == 0, g.coverage


@pytest.mark.parametrize("pool,macs", [("before", 266_735_616), ("after", 420_876_288)])
def test_nonlocal_res4_macs(pool, macs):
    g = codesign.trace(build_workload("nl_block", pool=pool), (1, 1024, 14, 14))
    assert g.macs == macs
    (p,) = [p for p in g.patterns if p.name == "nonlocal"]
    assert p.info["affinity"] == "196x49" and p.info["normalisation"] == "softmax"


def test_resnet50_totals():
    g = codesign.trace(build_workload("resnet50"), (1, 3, 224, 224))
    assert abs(g.macs / 4.09e9 - 1) < 0.005
    assert abs(g.params / 25.56e6 - 1) < 0.001
    kinds = g.kinds()
    assert kinds["conv"] == 53 and kinds["matmul"] == 1


def test_patterns_lightnl_ccp_attention():
    g = codesign.trace(build_workload("mobilenetv2_lightnl"), (1, 3, 224, 224))
    assert any(p.name == "nonlocal" for p in g.patterns)
    g = codesign.trace(build_workload("tiny_yolov2_ccp"), (1, 3, 416, 416))
    assert any(op.kind == OpKind.CROSS_CHANNEL_POOL for op in g.ops)
    assert any(p.name == "cross_channel_pool" for p in g.patterns)
    g = codesign.trace(build_workload("tiny_yolov2"), (1, 3, 416, 416))
    assert not any(op.kind == OpKind.CROSS_CHANNEL_POOL for op in g.ops)


def test_fused_fast_paths_are_costed():
    mha = nn.MultiheadAttention(64, 4, batch_first=True).eval()

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha
            self.enc = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True).eval()

        def forward(self, x):
            return self.enc(self.mha(x, x, x, need_weights=False)[0])

    g = codesign.trace(M().eval(), (2, 10, 64))
    att = [op for op in g.ops if op.kind == OpKind.ATTENTION]
    assert {op.aten.split("::")[-1].split(".")[0] for op in att} == {
        "_native_multi_head_attention", "_transformer_encoder_layer_fwd"}
    e, l, b, f = 64, 10, 2, 128
    mha_macs = b * 4 * l * e * e + b * l * l * 2 * e
    assert att[0].macs == mha_macs
    assert att[1].macs == mha_macs + b * l * 2 * e * f


def test_sdpa_einsum_shape_arithmetic_inplace():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = nn.Conv2d(16, 16, 1)

        def forward(self, x):
            n, c, h, w = x.shape                         # shape arithmetic
            q = self.q(x).flatten(2).transpose(1, 2)     # [N, HW, C]
            if h * w > 4:                                # Python control flow
                q = q.contiguous()
            a = torch.einsum("bnc,bmc->bnm", q, q)       # [N, HW, HW]
            a.relu_()                                    # in-place
            y = F.scaled_dot_product_attention(q[:, None], q[:, None], q[:, None])
            return a.sum() + y.sum()

    g = codesign.trace(M(), (2, 16, 4, 4))
    kinds = [op.kind for op in g.ops]
    assert OpKind.ATTENTION in kinds and OpKind.MATMUL in kinds
    bmm = next(op for op in g.ops if op.kind == OpKind.MATMUL)
    assert bmm.macs == 2 * 16 * 16 * 16
    relu = next(op for op in g.ops if op.aten.startswith("aten::relu_"))
    assert relu.inplace and any(p == bmm.index for p in g.predecessors[relu.index])


def test_unsupported_op_visible_and_strict():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.linalg.qr(x)[0]

    with pytest.warns(UserWarning, match="unsupported"):
        g = codesign.trace(Odd(), (4, 4))
    assert g.coverage.unsupported_count >= 1
    assert any(not op.supported and op.kind == OpKind.OTHER for op in g.ops)
    with pytest.raises(TraceError, match="linalg_qr"):
        codesign.trace(Odd(), (4, 4), strict=True)


def test_train_phase_has_backward_and_optimizer():
    m = build_workload("mobilenetv2", width=0.35)
    g = codesign.trace(m, (2, 3, 64, 64), phase="train", optimizer="sgd")
    phases = {op.phase.value for op in g.ops}
    assert phases == {"forward", "backward", "optimizer"}
    fwd = sum(op.macs for op in g.ops if op.phase.value == "forward")
    bwd = sum(op.macs for op in g.ops if op.phase.value == "backward")
    assert 1.5 * fwd < bwd < 2.1 * fwd       # grad-input + grad-weight (first conv: weight only)
    bwd_ops = [op for op in g.ops if op.phase.value == "backward" and op.macs]
    assert all(op.module for op in bwd_ops)   # MAC ops of the backward keep their module


def test_no_real_memory_or_compute_batch256():
    t = time.perf_counter()
    g = codesign.trace(build_workload("resnet50"), (256, 3, 224, 224))
    assert g.ops[0].inputs[0].shape == (256, 3, 224, 224)
    assert time.perf_counter() - t < 60   # generous: the benchmark reports the real figure


def test_bad_inputs():
    with pytest.raises(TraceError):
        codesign.trace(nn.Linear(2, 2), (0, 2))
    with pytest.raises(TraceError):
        codesign.trace(nn.Linear(2, 2), "1,2")
    with pytest.raises(TraceError, match="phase"):
        codesign.trace(nn.Linear(2, 2), (1, 2), phase="eval")
    with pytest.raises(TraceError, match="tracing failed"):
        codesign.trace(nn.Linear(2, 2), (1, 3))


def test_views_of_weights_stay_weights():
    """nn.Linear multiplies by w.t(): the transposed view is still the layer's weight, so its
    bytes count as weight traffic (cold-weight packing on a CPU, weight reads everywhere)."""
    import torch.nn as nn

    from codesign.capture.tracer import trace

    g = trace(nn.Linear(64, 32), (4, 64))
    (addmm,) = [op for op in g.ops if "addmm" in op.aten]
    weights = [t for t in addmm.inputs if t.is_weight]
    assert sorted(t.shape for t in weights) == [(32,), (64, 32)]
    assert [t.shape for t in addmm.inputs if not t.is_weight] == [(4, 64)]


def test_strided_views_are_marked_non_contiguous():
    """Views with non-dense strides (transpose, channel slices) are flagged; outputs of ops are
    dense whatever layout FakeTensor's meta kernels pick for them."""
    import torch.nn as nn

    from codesign.capture.tracer import trace

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
            self.pw = nn.Conv2d(8, 8, 1)

        def forward(self, x):                      # x: [B, HW, C]
            y = self.dw(x.transpose(1, 2).reshape(1, 16, 4, 4))
            z = self.pw(y[:, :8])                  # channel slice of an NCHW map
            return y.relu(), z

    g = trace(Net(), (1, 16, 16))
    dw, pw = [op for op in g.ops if op.kind == OpKind.CONV]
    assert not dw.inputs[0].contiguous and not pw.inputs[0].contiguous
    relu = next(op for op in g.ops if "relu" in op.aten)
    assert relu.inputs[0].contiguous                # the conv's output, not a view
    assert all(t.contiguous for op in g.ops for t in op.outputs)
