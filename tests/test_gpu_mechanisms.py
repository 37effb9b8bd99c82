"""GPU mechanisms exposed by timm's RTX 3090 measurements (issue 16): autocast dtypes, cast
kernels, uncosted ops, cuDNN transposes, depthwise kernels by layout and pass, norm passes,
GroupNorm in channels-last, the optimizer step. Each against a hand-computed value."""

from __future__ import annotations

import warnings
from dataclasses import replace
from collections import Counter

import pytest

from codesign.cost.base import CostContext
from codesign.cost.gpu import compute_dtype, conv_cost, elementwise_cost, matmul_cost, norm_cost
from codesign.hardware import load_hardware
from codesign.ir.graph import ConvAttrs, MatMulAttrs, Op, OpKind, TensorSpec
from gpuops import achieved_bandwidth, make_op

import torch  # noqa: E402 - a hard dependency


@pytest.fixture(scope="module")
def hw():
    return load_hardware("rtx3090")




# ----------------------------------------------------------------------------- autocast trace


class _Block(torch.nn.Module):
    """conv -> channels-first LayerNorm (permute, normalise, permute back) -> layer scale ->
    softmax: the autocast dtype chain of a ConvNeXt/MetaFormer block."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.norm = torch.nn.LayerNorm(8)
        self.gamma = torch.nn.Parameter(torch.ones(8, 1, 1))

    def forward(self, x):
        y = self.conv(x)
        y = self.norm(y.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return (y * self.gamma).softmax(1)


def _dtypes(g, phase="forward"):
    return Counter((o.aten.split("::")[1].split(".")[0], o.outputs[0].dtype)
                   for o in g.ops if o.outputs and o.phase.value == phase)


def test_autocast_trace_gives_each_tensor_autocasts_dtype():
    from codesign.capture.tracer import trace

    g = trace(_Block(), (2, 8, 4, 4), autocast="fp16")
    d = _dtypes(g)
    assert g.autocast == "fp16"
    assert d[("convolution", "float16")] == 1          # lower-precision list
    assert d[("native_layer_norm", "float32")] == 1    # fp32 list, its input cast first:
    # casts: input, conv weight, conv bias to fp16; the conv output back to fp32 for the norm
    assert d[("_to_copy", "float16")] == 3 and d[("_to_copy", "float32")] == 1
    assert d[("mul", "float32")] == 1                  # fp32 gamma promotes the product
    assert d[("_softmax", "float32")] == 1


def test_training_autocast_emulation_matches_cuda_autocast_forward():
    from codesign.capture.tracer import trace

    m = _Block()
    infer = _dtypes(trace(m, (2, 8, 4, 4), autocast="fp16"))
    train = _dtypes(trace(m, (2, 8, 4, 4), autocast="fp16", phase="train"))
    train[("sum", "float32")] -= 1      # the loss
    train[("add", "float32")] -= 1       # 0 + loss (Python sum)
    assert +train == +infer
    g = trace(m, (2, 8, 4, 4), autocast="fp16", phase="train")
    bwd = _dtypes(g, "backward")
    assert bwd[("convolution_backward", "float16")] == 1
    assert bwd[("_to_copy", "float32")] >= 2             # weight and bias grads cast to fp32


def test_half_softmax_is_one_half_to_float_kernel_in_training_too():
    # CUDA's at::softmax of a float16 input under autocast (dtype=float32) is one
    # _softmax(half_to_float=True) kernel, and its backward writes the half gradient: the
    # training trace (CPU fake tensors) records that, not the CPU path's cast before the
    # softmax and the cast of its gradient back to half
    from codesign.capture.tracer import trace

    class Scores(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def forward(self, x):
            return self.fc(x).softmax(-1)

    m = Scores()
    infer = _dtypes(trace(m, (2, 8), autocast="fp16"))
    g = trace(m, (2, 8), autocast="fp16", phase="train")
    train = _dtypes(g)
    train[("sum", "float32")] -= 1      # the loss
    train[("add", "float32")] -= 1       # 0 + loss (Python sum)
    assert +train == +infer
    # input, weight, bias to half; nothing to float before the softmax
    assert infer[("_to_copy", "float16")] == 3 and infer[("_to_copy", "float32")] == 0
    assert infer[("_softmax", "float32")] == 1
    bwd = _dtypes(g, "backward")
    assert bwd[("_softmax_backward_data", "float16")] == 1
    assert bwd[("_to_copy", "float16")] == 0             # no cast of its gradient to half
    assert bwd[("_to_copy", "float32")] == 2             # the weight and bias gradients


def test_fused_attention_recorded_under_autocast():
    from codesign.capture.tracer import trace

    class Attn(torch.nn.Module):
        def forward(self, q):
            return torch.nn.functional.scaled_dot_product_attention(q, q, q)

    g = trace(Attn(), (2, 4, 16, 64), autocast="fp16")
    names = [o.aten for o in g.ops]
    assert "aten::_scaled_dot_product_flash_attention" in names
    assert not any("bmm" in n or "softmax" in n for n in names)


def test_formerly_uncosted_ops_have_kinds():
    from codesign.capture.tracer import _classify

    expect = {"_safe_softmax": OpKind.SOFTMAX, "eye": OpKind.DATA_MOVEMENT,
              "select_backward": OpKind.DATA_MOVEMENT, "slice_backward": OpKind.DATA_MOVEMENT,
              "adaptive_max_pool2d_backward": OpKind.POOL}
    for name, kind in expect.items():
        assert _classify(name, getattr(torch.ops.aten, name).default) is kind


def test_optimizer_step_is_steady_state_and_per_parameter_without_foreach():
    from codesign.capture.tracer import trace

    m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))  # 4 parameters
    loop = trace(m, (3, 4), phase="train", optimizer="sgd", foreach=False)
    ops = Counter(o.aten for o in loop.ops if o.phase.value == "optimizer")
    # SGD momentum per parameter: buf.mul_(m).add_(g); p.add_(buf, alpha=-lr); no clone
    assert ops == Counter({"aten::mul_.Tensor": 4, "aten::add_.Tensor": 8})
    fe = trace(m, (3, 4), phase="train", optimizer="sgd")
    ops = [o for o in fe.ops if o.phase.value == "optimizer"]
    assert len(ops) == 3                               # _foreach_mul_, _foreach_add_ x2
    params_bytes = (16 + 4 + 8 + 2) * 4
    assert ops[0].write_bytes == params_bytes          # in-place foreach writes its list


# ----------------------------------------------------------------------------- costs


def test_amp_bytes_follow_traced_dtypes(hw):
    n = 1 << 24
    x32 = TensorSpec(1, (n,), "float32")
    x16 = TensorSpec(2, (n,), "float16")
    op32 = make_op(OpKind.ELEMENTWISE, [x32], [TensorSpec(3, (n,), "float32")])
    op16 = make_op(OpKind.ELEMENTWISE, [x16], [TensorSpec(4, (n,), "float16")])
    amp = CostContext(dtype="amp", mode="fused")
    c32, c16 = elementwise_cost(op32, hw, amp), elementwise_cost(op16, hw, amp)
    assert c32.dram_write_bytes == 4 * n and c16.dram_write_bytes == 2 * n
    # the 64 MiB input does not fit the 6 MB L2: read from DRAM; memory-bound at 4+4 B/elem
    assert c32.memory_s == pytest.approx(8 * n / achieved_bandwidth(hw))


def test_amp_gemm_computes_in_its_inputs_dtype(hw):
    def mm(dtype):
        ins = [TensorSpec(1, (4096, 4096), dtype), TensorSpec(2, (4096, 4096), dtype)]
        return make_op(OpKind.MATMUL, ins, [TensorSpec(3, (4096, 4096), dtype)],
                   MatMulAttrs(1, 4096, 4096, 4096), "aten::mm")

    amp = CostContext(dtype="amp", mode="fused")
    assert compute_dtype(mm("float16"), amp) == "fp16"
    assert compute_dtype(mm("float32"), amp) == "fp32"
    assert matmul_cost(mm("float16"), hw, amp).unit == "tensor_core"
    assert matmul_cost(mm("float32"), hw, amp).unit == "cuda_core"
    # no weight-cast kernel under amp: the casts are graph ops
    assert matmul_cost(mm("float16"), hw, CostContext(dtype="amp")).overhead_s == \
        pytest.approx(hw.dispatch.eager_overhead_s)


def _dw(aten="aten::convolution", passes=1, n=64, c=256, h=56, k=3, s=1):
    x = TensorSpec(1, (n, c, h, h), "float16")
    w = TensorSpec(2, (c, 1, k, k), "float16", is_weight=True)
    attrs = ConvAttrs(c, c, (k, k), (s, s), (k // 2, k // 2), (1, 1), c, passes=passes)
    p = (h - 1) // s + 1  # "same" padding
    outs = [TensorSpec(3, (n, c, p, p), "float16")]
    ins = [x, w]
    if passes > 1:  # backward: (grad_out, x, w) -> (grad_x, grad_w)
        ins = [TensorSpec(5, (n, c, p, p), "float16"), x, w]
        outs.append(TensorSpec(4, (c, 1, k, k), "float16", is_weight=True))
    return make_op(OpKind.CONV, ins, outs, attrs, aten)


def test_depthwise_efficiency_by_layout_and_pass(hw):
    h = hw.with_knobs({"efficiency.conv.depthwise": 0.5, "efficiency.conv.depthwise_nchw": 0.25,
                       "efficiency.conv.depthwise_wgrad": 0.1})
    rate = 82 * 128 * 1.695e9  # SMs x FP32 lanes x clock; GA10x half = FP32 rate
    macs = 64 * 256 * 56 * 56 * 9
    nhwc = conv_cost(_dw(), h, CostContext(dtype="fp16", layout="nhwc"))
    nchw = conv_cost(_dw(), h, CostContext(dtype="fp16", layout="nchw"))
    assert nhwc.compute_s == pytest.approx(macs / rate / 0.5)
    assert nchw.compute_s == pytest.approx(macs / rate / 0.25)
    bwd = conv_cost(_dw("aten::convolution_backward", passes=2), h,
                    CostContext(dtype="fp16", layout="nhwc"))
    assert bwd.compute_s == pytest.approx(macs / rate / 0.5 + macs / rate / 0.1)
    # a preset without the new keys falls back to conv.depthwise
    t4 = load_hardware("t4")
    assert t4.eff("conv.depthwise_wgrad") == t4.eff("conv.depthwise_nchw") == \
        t4.eff("conv.depthwise")


class _LayerNorm2dDepthwise(torch.nn.Module):
    """timm's LayerNorm2d (permute, normalise, permute back), a residual add, then a depthwise
    conv: the conv's input is channels-last strided in an NCHW run."""

    def __init__(self, c=8):
        super().__init__()
        self.norm = torch.nn.LayerNorm(c)
        self.conv = torch.nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False)

    def forward(self, x):
        y = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.conv(y + x.new_ones(()))


def test_channels_last_input_runs_the_nhwc_conv_in_an_nchw_run(hw):
    """PyTorch picks a conv's kernels from its input's memory format: after timm's LayerNorm2d
    the depthwise conv of an NCHW run is cuDNN's NHWC one (efficiency conv.depthwise, not
    conv.depthwise_nchw), with no gather of its permuted input."""
    from codesign.capture.tracer import trace
    from codesign.cost.gpu import effective_layout

    g = trace(_LayerNorm2dDepthwise(), (2, 8, 4, 4))
    add = next(o for o in g.ops if o.kind is OpKind.ELEMENTWISE and len(o.inputs[0].shape) == 4)
    assert add.inputs[0].channels_last and add.outputs[0].channels_last  # follows its input
    conv = next(o for o in g.ops if o.kind is OpKind.CONV)
    assert conv.inputs[0].channels_last and not conv.inputs[1].channels_last
    assert next(o for o in g.ops if o.kind is OpKind.NORM).inputs[0].channels_last is False
    h = hw.with_knobs({"efficiency.conv.depthwise": 0.5, "efficiency.conv.depthwise_nchw": 0.25})
    nchw, nhwc = CostContext(layout="nchw"), CostContext(layout="nhwc")
    assert effective_layout(conv, nchw) == effective_layout(conv, nhwc) == "nhwc"
    rate = 82 * 128 * 1.695e9  # SMs x FP32 lanes x clock
    cost = conv_cost(conv, h, nchw)
    assert cost.compute_s == pytest.approx(2 * 8 * 4 * 4 * 9 / rate / 0.5)
    assert "gather" not in cost.note
    # the hand-built depthwise conv of an NCHW tensor keeps PyTorch's NCHW kernel
    assert effective_layout(_dw(), nchw) == "nchw"
    # a tensor-core conv on a channels-last strided (non-contiguous view) input in an NCHW run:
    # neither cuDNN's NCHW->NHWC transpose nor a gather, the NHWC run's cost
    x = TensorSpec(1, (64, 256, 56, 56), "float16", contiguous=False, channels_last=True)
    w = TensorSpec(2, (256, 256, 3, 3), "float16", is_weight=True)
    dense = make_op(OpKind.CONV, [x, w], [TensorSpec(3, (64, 256, 56, 56), "float16")],
                ConvAttrs(256, 256, (3, 3), (1, 1), (1, 1), (1, 1), 1))
    fp16 = CostContext(dtype="fp16", layout="nchw")
    plain = replace(dense, inputs=(replace(x, contiguous=True, channels_last=False), w))
    assert conv_cost(dense, hw, fp16) == conv_cost(plain, hw, replace(fp16, layout="nhwc"))
    assert "transpose" in conv_cost(plain, hw, fp16).note


def test_depthwise_wgrad_in_nchw_runs_in_rounds_of_full_sms(hw):
    """PyTorch's NCHW weight-gradient kernel: C*kH*kW blocks of min(32N, 256) threads; an RTX
    3090 SM holds 48 warps = 6 such blocks of 8 warps, 82 SMs -> 492 blocks per round."""
    h = hw.with_knobs({"efficiency.conv.depthwise_nchw": 0.25,
                       "efficiency.conv.depthwise_wgrad": 0.1})
    rate = 82 * 128 * 1.695e9
    ctx = CostContext(dtype="fp16", layout="nchw")
    # 16 channels x 9 taps = 144 blocks: one round of 492 block slots, 144 used
    macs = 64 * 16 * 56 * 56 * 9
    small = conv_cost(_dw("aten::convolution_backward", passes=2, c=16), h, ctx)
    assert small.compute_s == pytest.approx(macs / rate / 0.25 + macs / rate / 0.1 * 492 / 144)
    # 256 x 9 = 2,304 blocks: ceil(2304 / 492) = 5 rounds of 492
    macs = 64 * 256 * 56 * 56 * 9
    big = conv_cost(_dw("aten::convolution_backward", passes=2), h, ctx)
    assert big.compute_s == pytest.approx(macs / rate / 0.25 + macs / rate / 0.1 * 2460 / 2304)
    # batch 4: 128 threads = 4 warps, 12 blocks per SM -> 984 per round
    macs = 4 * 16 * 56 * 56 * 9
    b4 = conv_cost(_dw("aten::convolution_backward", passes=2, c=16, n=4), h, ctx)
    assert b4.compute_s == pytest.approx(macs / rate / 0.25 + macs / rate / 0.1 * 984 / 144)
    # channels-last (cuDNN) and the forward pass are not PyTorch's wgrad kernel
    nhwc = conv_cost(_dw("aten::convolution_backward", passes=2, c=16), h,
                     CostContext(dtype="fp16", layout="nhwc"))
    assert nhwc.compute_s == pytest.approx(
        64 * 16 * 56 * 56 * 9 / rate * (1 / h.eff("conv.depthwise") + 1 / 0.1))
    fwd = conv_cost(_dw(c=16), h, ctx)
    assert fwd.compute_s == pytest.approx(64 * 16 * 56 * 56 * 9 / rate / 0.25)


def test_cudnn_channels_last_depthwise_wgrad_does_not_grow_past_3x3_taps(hw):
    """cuDNN's channels-last depthwise weight gradient streams each (position, channel) product
    once for all taps: a 7x7 filter costs what a 3x3 one does (9 of its 49 taps at
    conv.depthwise_wgrad), a 3x3 its MACs, a 9x9 (past cuDNN's fast filters) its MACs;
    PyTorch's NCHW kernel stays MAC-proportional."""
    h = hw.with_knobs({"efficiency.conv.depthwise": 0.5, "efficiency.conv.depthwise_nchw": 0.25,
                       "efficiency.conv.depthwise_wgrad": 0.1})
    rate = 82 * 128 * 1.695e9  # SMs x FP32 lanes x clock; GA10x half = FP32 rate
    nhwc = CostContext(dtype="fp16", layout="nhwc")
    # ConvNeXt-T stage 2 at batch 256: 256 x 192 x 28 x 28 = 38,535,168 (position, channel)
    # products; dgrad 49 MACs each at 0.5, wgrad 9 each at 0.1
    pq = 256 * 192 * 28 * 28
    b7 = conv_cost(_dw("aten::convolution_backward", passes=2, n=256, c=192, h=28, k=7), h, nhwc)
    assert b7.compute_s == pytest.approx(pq * 49 / rate / 0.5 + pq * 9 / rate / 0.1)
    assert b7.compute_s == pytest.approx(212.27e-6 + 194.94e-6, rel=1e-4)   # seconds
    b3 = conv_cost(_dw("aten::convolution_backward", passes=2, n=256, c=192, h=28), h, nhwc)
    assert b3.compute_s == pytest.approx(pq * 9 / rate / 0.5 + pq * 9 / rate / 0.1)
    # NCHW: PyTorch's kernel, MAC-proportional (192 x 49 = 9,408 blocks of 8 warps: 20 rounds
    # of 492 = 9,840 slots)
    nchw = conv_cost(_dw("aten::convolution_backward", passes=2, n=256, c=192, h=28, k=7), h,
                     CostContext(dtype="fp16", layout="nchw"))
    assert nchw.compute_s == pytest.approx(pq * 49 / rate / 0.25
                                           + pq * 49 / rate / 0.1 * 9840 / 9408)
    # 9x9 (ConvMixer ks9) is past the fast kernels' filters: MAC-proportional
    pq9 = 16 * 64 * 16 * 16
    b9 = conv_cost(_dw("aten::convolution_backward", passes=2, n=16, c=64, h=16, k=9), h, nhwc)
    assert b9.compute_s == pytest.approx(pq9 * 81 / rate / 0.5 + pq9 * 81 / rate / 0.1)
    # the forward pass is not the weight gradient
    f7 = conv_cost(_dw(n=256, c=192, h=28, k=7), h, nhwc)
    assert f7.compute_s == pytest.approx(pq * 49 / rate / 0.5)


def test_cudnn_channels_last_depthwise_wgrad_follows_the_input_positions(hw):
    """cuDNN's channels-last depthwise weight gradient streams the input's (position, channel)
    pairs: a stride-2 conv costs 4x its output positions (every input position, 9 taps' worth
    of work each at conv.depthwise_wgrad), its dgrad stays MAC-proportional at conv.depthwise."""
    from codesign.cost.gpu import cudnn_depthwise_wgrad_work

    h = hw.with_knobs({"efficiency.conv.depthwise": 0.5, "efficiency.conv.depthwise_wgrad": 0.1})
    rate = 82 * 128 * 1.695e9  # 1.779072e13 MAC/s
    nhwc = CostContext(dtype="fp16", layout="nhwc")
    # MobileNet-V2's 144-channel 3x3 stride-2 conv at batch 64: 56x56 -> 28x28;
    # per pass 64 x 144 x 28 x 28 x 9 = 65,028,096 MACs (dgrad at 0.5: 7.3103 us);
    # wgrad 64 x 144 x 56 x 56 = 28,901,376 input pairs x 9 = 4x the MACs, at 0.1: 146.207 us
    b = conv_cost(_dw("aten::convolution_backward", passes=2, n=64, c=144, h=56, s=2), h, nhwc)
    pp = 64 * 144 * 28 * 28 * 9
    assert b.compute_s == pytest.approx(pp / rate / 0.5 + 4 * pp / rate / 0.1)
    assert b.compute_s == pytest.approx(7.3103e-6 + 146.207e-6, rel=1e-4)
    # 5x5 stride 2: the same input pairs x 9, i.e. 9/25 of the MACs x 4; dgrad 25 taps at 0.5
    b5 = conv_cost(_dw("aten::convolution_backward", passes=2, n=64, c=144, h=56, k=5, s=2),
                   h, nhwc)
    assert b5.compute_s == pytest.approx(20.3065e-6 + 146.207e-6, rel=1e-4)
    attrs = ConvAttrs(144, 144, (5, 5), (2, 2), (2, 2), (1, 1), 144, passes=2)
    assert cudnn_depthwise_wgrad_work(2500.0, attrs, 56 * 56, 28 * 28) == pytest.approx(3600.0)
    assert cudnn_depthwise_wgrad_work(2500.0, attrs, 0, 0) == pytest.approx(900.0)
    # stride 1 ("same" padding): input and output positions agree, nothing changes
    b1 = conv_cost(_dw("aten::convolution_backward", passes=2, n=64, c=144, h=28), h, nhwc)
    assert b1.compute_s == pytest.approx(7.3103e-6 + 36.552e-6, rel=1e-4)  # wgrad = MACs


def test_norm_backward_and_training_bn_read_inputs_twice(hw):
    n = 1 << 24
    x = TensorSpec(1, (n // 64, 64), "float16")
    dy = TensorSpec(2, (n // 64, 64), "float16")
    ctx = CostContext(dtype="amp", mode="fused")
    eval_bn = make_op(OpKind.NORM, [x], [TensorSpec(3, x.shape, "float16")],
                  aten="aten::cudnn_batch_norm")
    train_bn = make_op(OpKind.NORM, [x], [TensorSpec(3, x.shape, "float16")],
                   aten="aten::native_batch_norm")
    bwd = make_op(OpKind.NORM, [dy, x], [TensorSpec(4, x.shape, "float16")],
              aten="aten::native_batch_norm_backward")
    e, t = norm_cost(eval_bn, hw, ctx), norm_cost(train_bn, hw, ctx)
    graph = hw.dispatch.graph_overhead_s                                     # one more kernel
    assert t.latency_s - e.latency_s == pytest.approx(2 * n / achieved_bandwidth(hw) + graph)  # x again
    b = norm_cost(bwd, hw, ctx)
    assert b.dram_read_bytes == pytest.approx(2 * (4 * n))                  # dy, x twice


def test_training_batch_norm_in_channels_last_makes_one_pass(hw):
    """cuDNN's persistent NHWC batch norm (PyTorch's choice for channels-last training): no
    second pass over the inputs. fp16 [64, 64, 56, 56] (n elements, 2n bytes each, too large
    for L2): forward saves the re-read of x (2n bytes) and one kernel, backward the re-read of
    dy and x (4n bytes) and one kernel; eval batch norm, 3-D inputs (weight standardisation)
    and InPlace-ABN keep their passes."""
    shape = (64, 64, 56, 56)
    n = 64 * 64 * 56 * 56
    x, dy = TensorSpec(1, shape, "float16"), TensorSpec(2, shape, "float16")
    y = TensorSpec(3, shape, "float16")
    ctx = lambda lay: CostContext(dtype="amp", mode="fused", layout=lay)  # noqa: E731
    kernel = hw.dispatch.graph_overhead_s

    def saved(op):
        nchw, nhwc = norm_cost(op, hw, ctx("nchw")), norm_cost(op, hw, ctx("nhwc"))
        return (nchw.latency_s - nhwc.latency_s,
                nchw.dram_read_bytes - nhwc.dram_read_bytes)

    fwd = make_op(OpKind.NORM, [x], [y], aten="aten::native_batch_norm")
    assert saved(fwd) == pytest.approx((2 * n / achieved_bandwidth(hw) + kernel, 2 * n))
    bwd = make_op(OpKind.NORM, [dy, x], [TensorSpec(4, shape, "float16")],
              aten="aten::native_batch_norm_backward")
    assert saved(bwd) == pytest.approx((4 * n / achieved_bandwidth(hw) + kernel, 4 * n))
    ev = make_op(OpKind.NORM, [x], [y], aten="aten::cudnn_batch_norm")
    assert saved(ev) == (0.0, 0.0)
    w = TensorSpec(5, (1, 256, 2304), "float16")                 # a weight standardised per row
    ws = make_op(OpKind.NORM, [w], [TensorSpec(6, w.shape, "float16")], aten="aten::native_batch_norm")
    assert saved(ws) == (0.0, 0.0)
    xb = TensorSpec(7, shape, "bfloat16")                        # bf16: PyTorch's own kernels
    bf = make_op(OpKind.NORM, [xb], [TensorSpec(8, shape, "bfloat16")], aten="aten::native_batch_norm")
    assert saved(bf) == (0.0, 0.0)


def test_group_norm_in_channels_last_pays_two_copies(hw):
    shape = (64, 64, 56, 56)
    n = 64 * 64 * 56 * 56
    op = make_op(OpKind.NORM, [TensorSpec(1, shape, "float32")], [TensorSpec(2, shape, "float32")],
             aten="aten::native_group_norm")
    ctx = lambda lay: CostContext(dtype="amp", mode="fused", layout=lay)  # noqa: E731
    d = norm_cost(op, hw, ctx("nhwc")).latency_s - norm_cost(op, hw, ctx("nchw")).latency_s
    # (in + out) read and written again, two more kernels
    assert d == pytest.approx(2 * (2 * 4 * n) / achieved_bandwidth(hw) + 2 * hw.dispatch.graph_overhead_s)


def test_simulate_amp_on_plain_trace_is_fp16(hw):
    from codesign.capture.tracer import trace
    from codesign.simulation import simulate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = trace(_Block(), (2, 8, 4, 4))
    a = simulate(g, hw, dtype="amp").latency_s
    assert a == pytest.approx(simulate(g, hw, dtype="fp16").latency_s)


@pytest.mark.parametrize("name, fp16_tflops, fp32_tflops, bw_gbs, l2_mb", [
    ("rtx5090", 209.5, 104.8, 1792, 96),          # GeForce: FP16 tensor at FP32-acc rate
    ("rtx-pro-6000-maxq", 439.0, 110.0, 1792, 128),  # full-rate FP32 accumulate; 3511/8
])
def test_blackwell_presets_peaks(name, fp16_tflops, fp32_tflops, bw_gbs, l2_mb):
    h = load_hardware(name)
    g = h.gpu
    assert g.sm_count * g.tensor_flops_per_clock_per_sm["fp16"] * h.clock_hz / 1e12 == \
        pytest.approx(fp16_tflops, rel=0.01)
    assert g.sm_count * g.fp32_lanes_per_sm * 2 * h.clock_hz / 1e12 == \
        pytest.approx(fp32_tflops, rel=0.01)
    assert h.dram_bandwidth_bytes_per_s / 1e9 == bw_gbs
    assert g.l2_bytes == l2_mb * 2**20
    # generation-transferred kernel classes are present
    assert h.eff("conv.depthwise_wgrad") == load_hardware("rtx3090").eff("conv.depthwise_wgrad")


def test_amp_peaks_are_fp16s_and_roofline_runs(hw):
    from codesign.cost.roofline import roofline_floor

    assert hw.peak_macs_per_s("amp") == hw.peak_macs_per_s("fp16")
    n = 1 << 20
    op = make_op(OpKind.ELEMENTWISE, [TensorSpec(1, (n,), "float32")], [TensorSpec(2, (n,), "float32")])
    # compulsory bytes at the traced dtype: the fp32 output (4 B) written to DRAM, which here
    # bounds more than 4 + 4 B through L2
    assert float(roofline_floor(op, hw, CostContext(dtype="amp"))) == pytest.approx(
        max(4 * n / hw.dram_bandwidth_bytes_per_s, 8 * n / hw.gpu.l2_bandwidth_bytes_per_s))


def test_autocast_option_is_checked():
    from codesign.capture.tracer import trace
    from codesign.errors import TraceError

    with pytest.raises(TraceError, match="autocast = 'int8'; allowed: fp16, bf16"):
        trace(_Block(), (1, 8, 4, 4), autocast="int8")


# ----------------------------------------------------------------------------- PyTorch 1.x loop


def test_pytorch1_training_loop_zero_fills_and_accumulates_gradients():
    """zero_grad() before PyTorch 2.0 (set_to_none=False): one fill per parameter before the
    forward, and AccumulateGrad's ``grad += new`` (read, read, write) in the backward."""
    from codesign.capture.tracer import trace

    m = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))  # 4 parameters
    g = trace(m, (3, 4), phase="train", optimizer="sgd", foreach=False, zero_grad="zeros",
              nesterov=True, loss="cross_entropy")
    fills = [o for o in g.ops if o.aten == "aten::zero_"]
    assert len(fills) == 4 and all(o.phase.value == "optimizer" for o in fills)
    assert sum(o.write_bytes for o in fills) == (16 + 4 + 8 + 2) * 4
    assert g.ops.index(fills[-1]) < min(g.ops.index(o) for o in g.ops
                                        if o.phase.value == "forward")
    acc = [o for o in g.ops if o.phase.value == "backward" and o.aten == "aten::add_.Tensor"]
    assert len(acc) == 4
    assert sum(o.read_bytes for o in acc) == 2 * (16 + 4 + 8 + 2) * 4
    # Nesterov SGD per parameter: buf.mul_().add_(g); d = g.add(buf, alpha=m); p.add_(d)
    ops = Counter(o.aten for o in g.ops if o.phase.value == "optimizer"
                  and o.aten != "aten::zero_")
    assert ops == Counter({"aten::mul_.Tensor": 4, "aten::add_.Tensor": 8, "aten::add.Tensor": 4})
    names = {o.aten.split(".")[0] for o in g.ops}
    assert {"aten::_log_softmax", "aten::nll_loss_forward", "aten::nll_loss_backward"} <= names
    plain = trace(m, (3, 4), phase="train", optimizer="sgd", foreach=False)
    assert not any(o.aten == "aten::zero_" for o in plain.ops)


def test_unfused_attention_is_matmul_softmax_matmul():
    """PyTorch 1.x had no fused attention: (2*4, 16x64)@(64x16), softmax, (16x16)@(16x64)."""
    from codesign.capture.tracer import trace

    class Attn(torch.nn.Module):
        def forward(self, q):
            return torch.nn.functional.scaled_dot_product_attention(q, q, q)

    g = trace(Attn(), (2, 4, 16, 64), autocast="fp16", fused_attention=False)
    kinds = [o.kind for o in g.ops if o.kind in (OpKind.MATMUL, OpKind.SOFTMAX,
                                                   OpKind.ATTENTION)]
    assert kinds == [OpKind.MATMUL, OpKind.SOFTMAX, OpKind.MATMUL]
    assert sum(o.macs for o in g.ops if o.kind is OpKind.MATMUL) == 2 * (8 * 16 * 16 * 64)


def test_training_loop_options_are_checked():
    from codesign.capture.tracer import trace
    from codesign.errors import TraceError

    m = torch.nn.Linear(4, 2)
    with pytest.raises(TraceError, match="loss"):
        trace(m, (3, 4), phase="train", loss="mse")
    with pytest.raises(TraceError, match="zero_grad"):
        trace(m, (3, 4), phase="train", zero_grad="ones")


def test_software_profile_by_torch_version():
    from codesign.errors import HardwareError
    from codesign.hardware.software import PYTORCH_1, PYTORCH_2, software_profile

    assert software_profile("1.12") is PYTORCH_1 and software_profile("2.4.0") is PYTORCH_2
    assert software_profile(None) is PYTORCH_2
    assert PYTORCH_1.trace_options() == {"foreach": False, "zero_grad": "zeros",
                                         "fused_attention": False}
    with pytest.raises(HardwareError, match="torch version"):
        software_profile("latest")


def test_software_profile_scales_the_presets_efficiency(hw):
    from codesign.hardware.software import SoftwareProfile

    p = SoftwareProfile("t", True, "none", True, efficiency_scale={"memory": 0.5, "matmul": 2.0})
    out = p.apply(hw)
    assert out.eff("memory") == pytest.approx(0.5 * hw.eff("memory"))
    assert out.eff("matmul") == 1.0                    # capped: an efficiency is at most 1
    assert out.eff("vector") == hw.eff("vector")
    assert out.name == "rtx3090+t"                     # caches keyed by name tell them apart


def test_published_rows_take_the_loop_of_their_pytorch_version():
    """One code path: ``validate --published`` and the benchmark script trace a PyTorch 1.12
    train row with timm's loop and the 1.x knobs, a 2.4 inference row with fused attention."""
    from codesign.validation.published import run_settings

    tr = run_settings("amp", "pytorch", "nchw", "training", "1.12")
    assert tr.trace_options() == {
        "phase": "train", "autocast": "fp16", "fused_attention": False, "optimizer": "sgd",
        "foreach": False, "zero_grad": "zeros", "loss": "cross_entropy", "nesterov": True}
    inf = run_settings("amp", "pytorch", "nhwc", "inference", "2.4.0")
    assert inf.trace_options() == {"phase": "inference", "autocast": "fp16",
                                   "fused_attention": True, "channels_last": True}
    assert inf.cache_knobs() == {"autocast": "fp16", "channels_last": True}


def test_pytorch1_profile_derates_memory_bound_kernels(hw):
    """PyTorch 1.12 rows: memory-bound kernels at 0.69x the preset's achieved bandwidth
    (0.897 on the RTX 3090 -> 0.619); compute classes untouched."""
    from codesign.hardware.software import PYTORCH_1

    out = PYTORCH_1.apply(hw)
    assert out.eff("memory") == pytest.approx(0.69 * 0.897)
    assert out.eff("conv.standard") == hw.eff("conv.standard")
    assert set(PYTORCH_1.provenance) == set(PYTORCH_1.efficiency_scale) | {
        "optimizer_overhead_s"}


def test_pytorch1_optimizer_loop_dispatch(hw):
    """PyTorch 1.12's per-parameter optimizer loop (zero_grad's fills, the non-foreach SGD
    updates) at 5.2 us of host per kernel (timm's train rows: batch / samples_per_sec -
    step_time = zero_grad = 0.046 ms + 5.12 us per parameter tensor, median 5.21 us, `zero-grad`
    in benchmarks/gpu_timm_fidelity.py); forward / backward ops at the preset's 50 us, graph
    replay at the preset's 8 us; PyTorch 2 keeps the preset's 50 us for every eager kernel.
    Host-bound: 1,000 tiny optimizer kernels = 1000 x 5.2 us =
    5.2 ms (50 ms at 50 us)."""
    from codesign.cost.base import apply_launch_queue
    from codesign.cost.gpu import data_movement_cost, overhead_s
    from codesign.hardware.software import PYTORCH_1, PYTORCH_2
    from codesign.ir.graph import Phase

    pt1, pt2 = PYTORCH_1.apply(hw), PYTORCH_2.apply(hw)
    assert pt1.dispatch.optimizer_overhead_s == 5.2e-6 and hw.dispatch.optimizer_overhead_s is None
    assert pt1.dispatch.eager_overhead_s == hw.dispatch.eager_overhead_s == 50e-6
    assert pt2 is hw
    ctx = CostContext(dtype="amp")
    x = TensorSpec(1, (64,), "float32")
    step = replace(make_op(OpKind.ELEMENTWISE, [x, x], [x], aten="aten::add_"), phase=Phase.OPTIMIZER)
    fill = replace(make_op(OpKind.DATA_MOVEMENT, [], [x], aten="aten::zero_"), phase=Phase.OPTIMIZER)
    fwd = make_op(OpKind.ELEMENTWISE, [x, x], [TensorSpec(2, (64,), "float32")], aten="aten::add")
    assert elementwise_cost(step, pt1, ctx).overhead_s == pytest.approx(5.2e-6)
    assert data_movement_cost(fill, pt1, ctx).overhead_s == pytest.approx(5.2e-6)
    assert elementwise_cost(fwd, pt1, ctx).overhead_s == pytest.approx(50e-6)
    assert elementwise_cost(step, hw, ctx).overhead_s == pytest.approx(50e-6)
    assert overhead_s(pt1, CostContext(dtype="amp", mode="fused"), op=step) == pytest.approx(8e-6)
    for spec, per in ((pt1, 5.2e-6), (hw, 50e-6)):
        costs = apply_launch_queue([elementwise_cost(step, spec, ctx)] * 1000)
        assert sum(c.latency_s for c in costs) == pytest.approx(1000 * per, rel=0.01)


def test_pytorch1_memory_factor_spares_cublas_matmuls(hw):
    """The PyTorch 1.x bandwidth factor belongs to PyTorch's own bandwidth-bound kernels and
    cuDNN convs, not to cuBLAS matmuls (``memory.matmul``, fitted x1.10 -> 1 beside memory
    x0.741 on the fit-half train rows; memory now x0.69). 1 GB of DRAM traffic on the RTX
    3090 (936 GB/s, memory 0.897): 1e9 / (936e9 x 0.897) = 1.19106 ms for a matmul, / 0.69 =
    1.72617 ms for any other kernel; PyTorch 2 (no profile) 1.19106 ms for both."""
    from codesign.cost.gpu import memory_time_s
    from codesign.hardware.software import PYTORCH_1

    pt1 = PYTORCH_1.apply(hw)
    assert hw.eff("memory.matmul") == hw.eff("memory") == 0.897       # falls back: PT2 unchanged
    assert hw.with_knobs({"efficiency.memory": 0.5}).eff("memory.matmul") == 0.5
    assert pt1.eff("memory.matmul") == pytest.approx(0.897)
    assert memory_time_s(1e9, 0.0, pt1, "memory.matmul") == pytest.approx(1.19106e-3, rel=1e-5)
    assert memory_time_s(1e9, 0.0, pt1) == pytest.approx(1.72617e-3, rel=1e-5)
    assert memory_time_s(1e9, 0.0, hw, "memory.matmul") == pytest.approx(1.19106e-3, rel=1e-5)
    # DeiT-S's unfused attention scores in training (batch 256 x 6 heads, 197 tokens, head
    # dim 64): a memory-bound bmm, costed alike with and without the profile; an elementwise
    # op over the scores takes 1 / 0.69 = 1.45x as long under it
    a = TensorSpec(1, (1536, 197, 64), "float16")
    b = TensorSpec(2, (1536, 64, 197), "float16")
    scores = TensorSpec(3, (1536, 197, 197), "float16")
    bmm = make_op(OpKind.MATMUL, [a, b], [scores], MatMulAttrs(1536, 197, 197, 64), "aten::bmm")
    ctx = CostContext(dtype="amp")
    base, prof = matmul_cost(bmm, hw, ctx), matmul_cost(bmm, pt1, ctx)
    assert base.memory_s > base.compute_s
    # (the device time: the profile's host dispatch differs)
    assert prof.memory_s == base.memory_s and prof.compute_s == base.compute_s
    mul = make_op(OpKind.ELEMENTWISE, [scores], [TensorSpec(4, scores.shape, "float16")],
              aten="aten::mul")
    ratio = elementwise_cost(mul, pt1, ctx).memory_s / elementwise_cost(mul, hw, ctx).memory_s
    assert ratio == pytest.approx(1 / 0.69)


def _grouped(width, c=256, n=64, h=28):
    g = c // width
    x = TensorSpec(1, (n, c, h, h), "float16")
    w = TensorSpec(2, (c, width, 3, 3), "float16", is_weight=True)
    attrs = ConvAttrs(c, c, (3, 3), (1, 1), (1, 1), (1, 1), g)
    return make_op(OpKind.CONV, [x, w], [TensorSpec(3, (n, c, h, h), "float16")], attrs)


def test_wide_grouped_conv_in_channels_last_is_its_own_class(hw):
    """conv.grouped_nhwc_wide: channels-last grouped convs with >= 16 channels per group in
    fewer than 32 groups (PyTorch 1.12's slow kernels); compute-bound GEMM time scales with
    1 / efficiency."""
    from codesign.hardware.software import PYTORCH_1

    assert PYTORCH_1.apply(hw).eff("conv.grouped_nhwc_wide") == pytest.approx(0.079)
    assert hw.eff("conv.grouped_nhwc_wide") == hw.eff("conv.grouped")   # PyTorch 2: no change
    slow = hw.with_knobs({"efficiency.conv.grouped": 0.5}).eff("conv.grouped_nhwc_wide")
    assert slow == 0.5                                                   # falls back to grouped
    nhwc, nchw = CostContext(dtype="fp16", layout="nhwc"), CostContext(dtype="fp16", layout="nchw")
    from codesign.hardware.software import SoftwareProfile

    h = SoftwareProfile("t", False, "zeros", False, {"conv.grouped_nhwc_wide": 0.079}).apply(hw)
    wide = conv_cost(_grouped(64), h, nhwc)
    base = conv_cost(_grouped(64), hw, nhwc).compute_s
    # 1 / 0.079 = 12.7x slower, less what a re-picked tile shape wins back (at most a few %)
    assert base / 0.079 * 0.95 < wide.compute_s <= base / 0.079 * (1 + 1e-9)
    assert conv_cost(_grouped(8), h, nhwc).compute_s == conv_cost(_grouped(8), hw, nhwc).compute_s
    assert conv_cost(_grouped(64), h, nchw).compute_s == conv_cost(_grouped(64), hw, nchw).compute_s
    # 16 per group in 16 groups: wide; 16 and 32 per group in 32 groups (ResNeXt): not
    assert conv_cost(_grouped(16), h, nhwc).compute_s > 10 * conv_cost(_grouped(16), hw, nhwc).compute_s
    for width, c in ((16, 512), (32, 1024)):
        assert (conv_cost(_grouped(width, c=c), h, nhwc).compute_s
                == conv_cost(_grouped(width, c=c), hw, nhwc).compute_s)


def test_grouped_wide_class_boundaries():
    """The class: grouped (not depthwise) convs but square 3x3 undilated groups with < 16
    channels per group or >= 32 groups of <= 32; its key by layout."""
    from codesign.cost.gpu import grouped_wide_key

    def attrs(c, g, out=None, kernel=(3, 3), dilation=(1, 1)):
        return ConvAttrs(c, c if out is None else out, kernel, (1, 1), (1, 1), dilation, g)

    def wide(a):
        return grouped_wide_key(a, "nhwc") == "conv.grouped_nhwc_wide"

    assert wide(attrs(128, 2))                       # RegNetY: 64 per group
    assert wide(attrs(496, 31))                      # 16 per group, 31 groups
    assert not wide(attrs(512, 32))                  # ResNeXt 32x4d stage 3
    assert not wide(attrs(1024, 32))                 # 32 per group in 32 groups
    assert wide(attrs(2048, 32))                     # ResNeXt 32x8d stage 4: 64 per group
    assert not wide(attrs(120, 8))                   # 15 per group
    assert grouped_wide_key(attrs(64, 64), "nhwc") is None   # depthwise
    # not square 3x3 groups: in the class at any width or group count
    assert wide(attrs(512, 64, out=1024))            # SENet-154: 8 in, 16 out per group
    assert wide(attrs(256, 32, dilation=(2, 2)))     # SK-ResNeXt's dilated branch
    assert wide(attrs(672, 42, kernel=(5, 5)))       # EfficientNet-B0-G16
    # the same class in NCHW has its own key; narrow square groups are in neither
    assert grouped_wide_key(attrs(128, 2), "nchw") == "conv.grouped_nchw_wide"
    assert grouped_wide_key(attrs(512, 32), "nchw") is None


def test_grouped_nchw_wide_is_a_pytorch_1_factor(hw):
    """conv.grouped_nchw_wide: x0.60 of conv.grouped under PyTorch 1.x, conv.grouped under 2.x;
    a regnet-like NCHW grouped conv costs more under 1.x, a ResNeXt-like one does not."""
    from codesign.hardware.software import PYTORCH_1

    old = PYTORCH_1.apply(hw)
    assert old.eff("conv.grouped_nchw_wide") == pytest.approx(0.60 * hw.eff("conv.grouped"))
    assert hw.eff("conv.grouped_nchw_wide") == hw.eff("conv.grouped")
    from codesign.hardware.software import SoftwareProfile

    nchw = CostContext(dtype="fp16", layout="nchw")
    h = SoftwareProfile("t", False, "zeros", False, {"conv.grouped_nchw_wide": 0.6}).apply(hw)
    # the class's conv costs what it would with conv.grouped at 0.6x; a narrow one is unchanged
    derated = hw.with_knobs({"efficiency.conv.grouped": 0.6 * hw.eff("conv.grouped")})
    assert conv_cost(_grouped(64), h, nchw) == conv_cost(_grouped(64), derated, nchw)
    assert conv_cost(_grouped(64), h, nchw).compute_s > conv_cost(_grouped(64), hw, nchw).compute_s
    assert conv_cost(_grouped(8), h, nchw) == conv_cost(_grouped(8), hw, nchw)


# ----------------------------------------------------------------------------- InPlace-ABN


def _iabn_op(aten, inputs, outputs, module_type="InplaceAbn"):
    return Op(index=0, name="m/norm", aten=aten, kind=OpKind.NORM, module="m",
              inputs=tuple(inputs), outputs=tuple(outputs), module_type=module_type)


def test_inplace_abn_kernels_in_channels_last_move_a_sector_per_element(hw):
    shape = (64, 64, 56, 56)
    n = 64 * 64 * 56 * 56
    x = TensorSpec(1, shape, "float16")
    stats = TensorSpec(5, (64,), "float32")           # 1-D: not strided, not amplified
    y = TensorSpec(2, shape, "float16")
    ctx = lambda lay: CostContext(dtype="amp", mode="fused", layout=lay)  # noqa: E731
    fwd = _iabn_op("aten::native_batch_norm", [x, stats], [y, stats])
    d = norm_cost(fwd, hw, ctx("nhwc")).latency_s - norm_cost(fwd, hw, ctx("nchw")).latency_s
    # fp16: 32 / 2 = 16 sectors' worth per element, 15 more: x read twice (statistics, then
    # normalisation), y written once -> (2 + 1) * 15 * 2n bytes, no extra kernel
    assert d == pytest.approx(3 * 15 * 2 * n / achieved_bandwidth(hw))
    dy = TensorSpec(3, shape, "float16")
    bwd = _iabn_op("aten::native_batch_norm_backward", [dy, x, stats],
                   [TensorSpec(4, shape, "float16")])
    d = norm_cost(bwd, hw, ctx("nhwc")).latency_s - norm_cost(bwd, hw, ctx("nchw")).latency_s
    assert d == pytest.approx((2 * 2 + 1) * 15 * 2 * n / achieved_bandwidth(hw))   # dy, x twice; dx once
    x32 = TensorSpec(1, shape, "float32")                            # fp32: 32 / 4 = 8
    f32 = _iabn_op("aten::native_batch_norm", [x32], [TensorSpec(2, shape, "float32")])
    d = norm_cost(f32, hw, ctx("nhwc")).latency_s - norm_cost(f32, hw, ctx("nchw")).latency_s
    assert d == pytest.approx(3 * 7 * 4 * n / achieved_bandwidth(hw))
    # PyTorch's batch norm runs cuDNN's kernels, coalesced in both layouts: no sector
    # amplification (channels-last drops the second pass instead: persistent kernels)
    bn = _iabn_op("aten::native_batch_norm", [x, stats], [y, stats], module_type="BatchNorm2d")
    assert norm_cost(bn, hw, ctx("nhwc")).latency_s < norm_cost(bn, hw, ctx("nchw")).latency_s


def test_inplace_abn_traces_without_the_extension():
    pytest.importorskip("timm")
    import timm.layers.inplace_abn as iabn_mod
    from timm.layers import InplaceAbn

    from codesign.capture.tracer import trace

    before = iabn_mod.inplace_abn
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1, bias=False), InplaceAbn(16))
    g = trace(m, (2, 3, 8, 8), phase="train", autocast="fp16")
    assert iabn_mod.inplace_abn is before              # the stand-in is removed afterwards
    in_iabn = Counter((o.aten, o.phase.value) for o in g.ops if o.module_type == "InplaceAbn")
    assert in_iabn == Counter({("aten::native_batch_norm", "forward"): 1,
                               ("aten::leaky_relu_", "forward"): 1,
                               ("aten::leaky_relu_backward", "backward"): 1,
                               ("aten::native_batch_norm_backward", "backward"): 1})
    assert not g.coverage.unsupported


def test_pre_09_tresnet_rows_trace_inplace_abn():
    pytest.importorskip("timm")
    from timm.layers import BatchNormAct2d, InplaceAbn

    from codesign.capture.hub import norm_act_to_inplace_abn
    from codesign.published.timm import definition_change

    assert definition_change("tresnet_l", "0.6").rebuild == "inplace_abn"
    assert definition_change("tresnet_l", "0.9") is None      # since 0.9: BatchNorm
    assert definition_change("tresnet_l", "") is None          # current rows
    assert definition_change("resnet50", "0.6") is None
    assert definition_change("densenet264d_iabn", "0.6").base == "densenet264d"  # removed
    m = norm_act_to_inplace_abn(torch.nn.Sequential(BatchNormAct2d(8)))   # ReLU -> leaky
    assert (m[0].act_name, m[0].act_param) == ("leaky_relu", 0.01)
    m = torch.nn.Sequential(BatchNormAct2d(8, act_layer=torch.nn.LeakyReLU,
                                           act_kwargs={"negative_slope": 1e-3}),
                            BatchNormAct2d(8, apply_act=False))
    m = norm_act_to_inplace_abn(m)
    assert [type(x) for x in m] == [InplaceAbn, InplaceAbn]
    assert (m[0].act_name, m[0].act_param, m[1].act_name) == ("leaky_relu", 1e-3, "identity")


def test_published_train_rows_reference_the_definition_they_measured():
    pytest.importorskip("timm")
    from codesign.capture.references import trace_workload
    from codesign.published.timm import read_timm

    from pathlib import Path
    data = Path(__file__).resolve().parent.parent / "codesign" / "published" / "data" / "timm"
    train = read_timm(data / "benchmark-train-amp-nhwc-pt112-cu113-rtx3090.csv").set_index("model")
    infer = read_timm(data / "benchmark-infer-amp-nhwc-pt240-cu124-rtx3090.csv").set_index("model")
    assert train.loc["tresnet_l", "workload"] == "timm:tresnet_l?rebuild='inplace_abn'"
    assert train.loc["densenet264d_iabn", "workload"] == "timm:densenet264d?rebuild='inplace_abn'"
    assert train.loc["resnet50", "workload"] == "timm:resnet50"
    assert infer.loc["tresnet_l", "workload"].iloc[0] == "timm:tresnet_l"   # timm 1.0: BN
    _, g = trace_workload("timm:tresnet_m?rebuild='inplace_abn'", input_shape=(2, 3, 64, 64))
    types = Counter(o.module_type for o in g.ops if o.kind is OpKind.NORM)
    assert set(types) == {"InplaceAbn"} and types["InplaceAbn"] > 50
