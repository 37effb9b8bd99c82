"""torch -> OpGraph: aten-level capture under FakeTensorMode with module attribution.

A ``TorchDispatchMode`` sits above ``FakeTensorMode``: every aten call of the forward (and, for
``phase="train"``, the backward and an optional optimizer step) is seen once with its real
shapes while no memory is allocated and nothing is computed. Each call is costed (an ``Op``),
ignored (a documented no-cost list: views, metadata, allocation) or unsupported (visible in the
graph and in ``graph.coverage``, never a silent zero).

Tensor identity: every tensor gets a ``tid``; ops whose schema returns an alias (views, detach,
...) give their output the tid of their input, so a consumer of a permuted view depends on the
producer of the original value, and an in-place op becomes the producer of the value it
overwrites.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from typing import Any, Sequence

from codesign.errors import TraceError
from codesign.ir.graph import (
    AttentionAttrs, ConvAttrs, Coverage, MatMulAttrs, Op, OpGraph, OpKind, Phase, PoolAttrs,
    ReduceAttrs, TensorSpec,
)
from codesign.ir.patterns import annotate_patterns

# --- the op table -------------------------------------------------------------------------
# Names are aten overload-packet names (``func.overloadpacket.__name__``) with any trailing
# underscore of in-place variants removed.

IGNORED = frozenset({
    # metadata, allocation, aliasing (ops whose schema marks an alias are ignored as well)
    "detach", "alias", "lift_fresh", "lift_fresh_copy", "_unsafe_view", "empty", "empty_like",
    "empty_strided", "new_empty", "new_empty_strided", "_local_scalar_dense", "sym_size",
    "sym_stride", "sym_numel", "sym_storage_offset", "is_same_size", "resize", "set",
    "_assert_async", "_assert_tensor_metadata", "_has_compatible_shallow_copy_type", "device",
    "is_contiguous", "_to_dense", "_reshape_alias", "dim", "size", "stride", "scalar_tensor",
    "_assert_scalar", "_functional_assert_async", "record_stream", "_version",
})

CONV = frozenset({"convolution", "_convolution", "conv2d", "conv1d", "conv3d",
                  "_slow_conv2d_forward", "mkldnn_convolution", "cudnn_convolution",
                  "convolution_overrideable", "conv_transpose2d", "conv_transpose1d",
                  "conv_transpose3d"})
MATMUL = frozenset({"mm", "addmm", "bmm", "baddbmm", "addbmm", "mv", "addmv", "dot",
                    "_addmm_activation", "linear", "matmul"})
ATTENTION = frozenset({
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
    "scaled_dot_product_attention", "_native_multi_head_attention",
    "_transformer_encoder_layer_fwd", "_flash_attention_forward", "_efficient_attention_forward",
})
ATTENTION_BACKWARD = frozenset({
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_flash_attention_backward",
    "_scaled_dot_product_efficient_attention_backward",
})
SOFTMAX = frozenset({"_softmax", "softmax", "_log_softmax", "log_softmax", "_safe_softmax",
                     "_softmax_backward_data", "_log_softmax_backward_data"})
NORM = frozenset({
    "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
    "_native_batch_norm_legit_functional", "_batch_norm_with_update", "batch_norm",
    "native_layer_norm", "native_group_norm", "cudnn_batch_norm", "miopen_batch_norm",
    "native_batch_norm_backward", "batch_norm_backward", "native_layer_norm_backward",
    "native_group_norm_backward", "cudnn_batch_norm_backward", "_fused_rms_norm",
    "_batch_norm_no_update",
})
POOL = frozenset({
    "max_pool2d_with_indices", "max_pool3d_with_indices", "max_pool1d", "max_pool2d",
    "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "_adaptive_avg_pool2d",
    "_adaptive_avg_pool3d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "adaptive_avg_pool1d",
    "max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward",
    "avg_pool2d_backward", "avg_pool3d_backward", "_adaptive_avg_pool2d_backward",
    "_adaptive_avg_pool3d_backward", "mkldnn_max_pool2d", "_low_memory_max_pool_with_offsets",
    "adaptive_max_pool2d_backward",
})
RESAMPLE = frozenset({
    "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "upsample_linear1d",
    "upsample_bilinear2d", "upsample_bicubic2d", "upsample_trilinear3d",
    "_upsample_nearest_exact2d", "_upsample_bilinear2d_aa", "pixel_shuffle", "pixel_unshuffle",
    "grid_sampler_2d", "upsample_nearest2d_backward", "upsample_bilinear2d_backward",
    "pixel_shuffle_backward",
})
REDUCTION = frozenset({
    "sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "var", "var_mean", "std",
    "std_mean", "norm", "linalg_vector_norm", "prod", "logsumexp", "any", "all", "cumsum",
    "aminmax", "nansum", "count_nonzero",
})
DATA_MOVEMENT = frozenset({
    "clone", "_to_copy", "copy", "cat", "stack", "constant_pad_nd", "reflection_pad2d",
    "replication_pad2d", "index", "index_select", "gather", "scatter", "scatter_add", "repeat",
    "roll", "flip", "contiguous", "slice_scatter", "select_scatter", "index_put",
    "masked_scatter", "index_add", "embedding", "embedding_dense_backward", "new_zeros",
    "zeros_like", "ones_like", "full_like", "zeros", "ones", "full", "arange", "fill",
    "zero", "new_ones", "new_full", "as_strided_scatter", "diagonal_scatter", "tril", "triu",
    "_unsafe_index", "expand_copy", "permute_copy", "col2im", "im2col", "unfold_backward",
    "split_with_sizes_copy", "unsafe_split", "tile", "narrow_copy", "_cdist_forward",
    # a fill (eye) and the scatter of a gradient into a zero tensor (backward of a slice /
    # select: cls-token models): write-dominated copies
    "eye", "select_backward", "slice_backward",
})
ELEMENTWISE_EXTRA = frozenset({
    "native_dropout", "native_dropout_backward", "_foreach_add", "_foreach_mul",
    "_foreach_addcmul", "_foreach_addcdiv", "_foreach_sqrt", "_foreach_div", "_foreach_lerp",
    "_foreach_sub", "_foreach_neg", "_foreach_maximum", "_foreach_copy", "_fused_adamw",
    "_fused_sgd", "_fused_adam", "clamp_min", "clamp_max", "hardtanh_backward",
    "silu_backward", "gelu_backward", "sigmoid_backward", "tanh_backward",
    "hardswish_backward", "hardsigmoid_backward", "threshold_backward", "leaky_relu_backward",
    "elu_backward", "mse_loss", "_euclidean_dist", "bernoulli", "uniform", "normal",
    "masked_fill", "where", "rand_like", "randn_like", "softplus", "softplus_backward",
    "glu", "logit", "polar", "cross_entropy_loss", "nll_loss_forward", "nll_loss_backward",
    # activations whose aten ops carry no pointwise tag
    "hardswish", "hardsigmoid", "hardtanh", "relu6", "mish", "silu", "gelu", "elu", "selu",
    "celu", "leaky_relu", "prelu", "_prelu_kernel", "softshrink", "hardshrink", "rrelu",
    "mish_backward", "_prelu_kernel_backward",
})


def _tensors(obj) -> list:
    import torch
    from torch.utils._pytree import tree_leaves

    return [x for x in tree_leaves(obj) if isinstance(x, torch.Tensor)]


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _classify(name: str, func) -> OpKind | None:
    """The kind of an aten call, or None when it is not in any table (unsupported)."""
    import torch

    if name in CONV or name == "convolution_backward":
        return OpKind.CONV
    if name in MATMUL:
        return OpKind.MATMUL
    if name in ATTENTION or name in ATTENTION_BACKWARD:
        return OpKind.ATTENTION
    if name in SOFTMAX:
        return OpKind.SOFTMAX
    if name in NORM:
        return OpKind.NORM
    if name in POOL:
        return OpKind.POOL
    if name in RESAMPLE:
        return OpKind.RESAMPLE
    if name in DATA_MOVEMENT:
        return OpKind.DATA_MOVEMENT
    if name in ELEMENTWISE_EXTRA or name.startswith("_foreach_"):
        return OpKind.ELEMENTWISE
    tags = getattr(func, "tags", ())
    if torch.Tag.pointwise in tags:
        return OpKind.ELEMENTWISE
    if name in REDUCTION or torch.Tag.reduction in tags:
        return OpKind.REDUCTION
    return None


def _tuple(v, n: int) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        v = tuple(int(x) for x in v)
        return v * n if len(v) == 1 and n > 1 else v
    return (int(v),) * n


def _attrs(name: str, args: Sequence[Any], kwargs: dict, in_t: list, out_t: list):
    """Geometry of MAC ops and windows of pools/reductions from the aten arguments."""
    if name in CONV:
        x, w = args[0], args[1]
        nd = w.dim() - 2
        transposed = bool(args[6]) if len(args) > 6 else False
        groups = int(args[8]) if len(args) > 8 else 1
        cin = x.shape[1]
        cout = w.shape[1] * groups if transposed else w.shape[0]
        return ConvAttrs(
            in_channels=int(cin), out_channels=int(cout), kernel=tuple(int(k) for k in w.shape[2:]),
            stride=_tuple(args[3] if len(args) > 3 else 1, nd),
            padding=_tuple(args[4] if len(args) > 4 else 0, nd),
            dilation=_tuple(args[5] if len(args) > 5 else 1, nd),
            groups=groups, transposed=transposed,
        )
    if name == "convolution_backward":
        # (grad_out, input, weight, bias_sizes, stride, padding, dilation, transposed,
        #  output_padding, groups, output_mask): grad-input and grad-weight each cost one
        # forward pass of MACs (torch flop_counter counts the same).
        x, w = args[1], args[2]
        nd = w.dim() - 2
        transposed, groups = bool(args[7]), int(args[9])
        mask = args[10]
        return ConvAttrs(
            in_channels=int(x.shape[1]),
            out_channels=int(w.shape[1] * groups if transposed else w.shape[0]),
            kernel=tuple(int(k) for k in w.shape[2:]), stride=_tuple(args[4], nd),
            padding=_tuple(args[5], nd), dilation=_tuple(args[6], nd), groups=groups,
            transposed=transposed, passes=int(bool(mask[0])) + int(bool(mask[1])),
        )
    if name in ("mm", "addmm", "_addmm_activation"):
        a, b = (args[0], args[1]) if name == "mm" else (args[1], args[2])
        return MatMulAttrs(1, int(a.shape[0]), int(b.shape[1]), int(a.shape[1]))
    if name in ("bmm", "baddbmm"):
        a, b = (args[0], args[1]) if name == "bmm" else (args[1], args[2])
        return MatMulAttrs(int(a.shape[0]), int(a.shape[1]), int(b.shape[2]), int(a.shape[2]))
    if name == "addbmm":
        a, b = args[1], args[2]
        return MatMulAttrs(int(a.shape[0]), int(a.shape[1]), int(b.shape[2]), int(a.shape[2]))
    if name in ("mv", "addmv"):
        a = args[0] if name == "mv" else args[1]
        return MatMulAttrs(1, int(a.shape[0]), 1, int(a.shape[1]))
    if name == "dot":
        return MatMulAttrs(1, 1, 1, int(args[0].shape[0]))
    if name in ATTENTION:
        return _attention_attrs(name, args)
    if name in ATTENTION_BACKWARD:
        q, k, v = args[1], args[2], args[3]
        b, h, lq, d = (int(s) for s in q.shape)
        # backward of flash attention: recompute QK^T, then dV, dP, dQ, dK: 5 GEMMs / 2 fwd.
        return AttentionAttrs(b, h, lq, int(k.shape[-2]), d, int(v.shape[-1]), passes=5)
    if name in POOL and not name.endswith("backward"):
        x = in_t[0]
        out = out_t[0]
        nd = 3 if "3d" in name else (1 if "1d" in name else 2)
        if name.startswith(("_adaptive", "adaptive")):
            k = tuple(max(1, int(x.shape[-nd + i]) // max(1, int(out.shape[-nd + i])))
                      for i in range(nd))
            return PoolAttrs("avg" if "avg" in name else "max", k, k)
        kernel = _tuple(args[1], nd)
        stride = _tuple(args[2], nd) if len(args) > 2 and args[2] else kernel
        return PoolAttrs("max" if "max" in name else "avg", kernel, stride)
    if name in REDUCTION and in_t and out_t:
        x = in_t[0]
        reduced = max(1, x.numel() // max(1, out_t[0].numel()))
        dims = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple, int)) else ()
        dims = (dims,) if isinstance(dims, int) else tuple(int(d) for d in dims)
        dims = tuple(d % x.dim() for d in dims) if x.dim() else dims
        return ReduceAttrs(name, dims, int(reduced))
    return None


def _attention_attrs(name: str, args) -> AttentionAttrs:
    if name == "_native_multi_head_attention":
        # (query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, ...)
        q, k = args[0], args[1]
        e, h = int(args[3]), int(args[4])
        b, lq = (int(q.shape[0]), int(q.shape[1])) if q.dim() == 3 else (1, int(q.shape[0]))
        lk = int(k.shape[1]) if k.dim() == 3 else int(k.shape[0])
        # fused in-projection (q: lq tokens, k/v: lk tokens) and out-projection
        extra = b * (lq * e * e + 2 * lk * e * e + lq * e * e)
        return AttentionAttrs(b, h, lq, lk, e // h, e // h, extra_macs=extra)
    if name == "_transformer_encoder_layer_fwd":
        # (src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
        #  use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2,
        #  ffn_weight_1, ffn_bias_1, ffn_weight_2, ffn_bias_2, mask, mask_type)
        src = args[0]
        e, h = int(args[1]), int(args[2])
        b, l = (int(src.shape[0]), int(src.shape[1])) if src.dim() == 3 else (1, int(src.shape[0]))
        f = int(args[14].shape[0])
        extra = b * l * (4 * e * e + 2 * e * f)   # qkv + out projection + two FFN linears
        return AttentionAttrs(b, h, l, l, e // h, e // h, extra_macs=extra)
    q, k, v = args[0], args[1], args[2]
    *lead, lq, d = (int(s) for s in q.shape)
    batch = math.prod(lead[:-1]) if len(lead) > 1 else 1
    heads = lead[-1] if lead else 1
    causal = bool(args[4]) if name.endswith("for_cpu") and len(args) > 4 and isinstance(args[4], bool) else False
    return AttentionAttrs(batch, heads, lq, int(k.shape[-2]), d, int(v.shape[-1]), causal=causal)


class _Recorder:
    """Owns the state of one trace: tensor ids, module stack, ops and coverage counters."""

    def __init__(self, weight_ids: dict[int, str], strict: bool) -> None:
        self.weight_ids = weight_ids
        self.strict = strict
        self.tids: dict[int, int] = {}
        self.keep: list = []          # keep traced tensors alive so id() is never reused
        self.module_stack: list[tuple[str, str]] = [("", "")]
        self.ops: list[Op] = []
        self.ignored = 0
        self.unsupported: Counter = Counter()
        self.phase = Phase.FORWARD
        self.paused = False   # calls made while paused are not recorded
        self.next_tid = 0
        self.where_made: dict[int, tuple[str, str]] = {}
        self.views: set[int] = set()   # ids of traced tensors that are views of another

    # tensor identity ---------------------------------------------------------------------
    def tid(self, t) -> int:
        key = id(t)
        tid = self.tids.get(key)
        if tid is None:
            tid = self.next_tid
            self.next_tid += 1
            self.tids[key] = tid
            self.keep.append(t)
        return tid

    def alias(self, out, src) -> None:
        if id(out) not in self.tids:
            self.tids[id(out)] = self.tid(src)
            self.keep.append(out)
            if id(src) in self.weight_ids:        # a view of a weight (e.g. linear's w.t())
                self.weight_ids[id(out)] = self.weight_ids[id(src)]
            self.views.add(id(out))

    def spec(self, t) -> TensorSpec:
        # Only a view can be strided in eager: an op's output is dense (FakeTensor's conv meta
        # may pick channels-last for it where eager CPU writes NCHW, so its strides are not
        # taken as evidence).
        dense = id(t) not in self.views or bool(t.is_contiguous())
        return TensorSpec(self.tid(t), tuple(int(s) for s in t.shape), _dtype_name(t.dtype),
                          id(t) in self.weight_ids, dense, _channels_last(t))

    # module attribution ---------------------------------------------------------------------
    def where(self) -> tuple[str, str]:
        if self.phase is Phase.BACKWARD:
            import torch

            node = torch._C._current_autograd_node()
            if node is not None:
                meta = node.metadata
                if "codesign_module" in meta:
                    return meta["codesign_module"]
        return self.module_stack[-1]

    def record(self, func, args, kwargs, out) -> None:
        packet = func.overloadpacket.__name__
        inplace = packet.endswith("_") and not packet.startswith("_") or (
            packet.endswith("_") and packet.startswith("_foreach"))
        name = packet[:-1] if packet.endswith("_") else packet
        in_t = _tensors((args, kwargs))
        out_t = _tensors(out)
        if inplace and not out_t and args:  # _foreach_*_ return None: they write their first list
            out_t = _tensors(args[0])
        import torch

        if name in IGNORED or func.is_view or torch.Tag.inplace_view in func.tags or (func._schema.returns and all(
                r.alias_info is not None and not r.alias_info.is_write
                for r in func._schema.returns)):
            if in_t:
                for o in out_t:
                    self.alias(o, in_t[0])
                if self.phase is Phase.FORWARD:
                    self._tag_autograd(in_t)
            self.ignored += 1
            return
        kind = _classify(name, func)
        # in-place / out= ops write into an existing tensor: keep its identity
        for o in out_t:
            for i in in_t:
                if o is i:
                    break
            else:
                self.tid(o)
        module, module_type = self.where()
        inputs = tuple(self.spec(t) for t in in_t)
        outputs = tuple(self.spec(t) for t in out_t)
        if self.phase is Phase.FORWARD:
            # autograd nodes exist only after dispatch returns: tag the nodes of the inputs
            # with the module that produced them, so backward ops are attributed to it
            self._tag_autograd(in_t)
            for o in outputs:
                self.where_made[o.tid] = (module, module_type)
        if kind is None:
            self.unsupported[func.overloadpacket.__name__] += 1
            if self.strict:
                raise TraceError(
                    f"unsupported op aten.{func.overloadpacket.__name__} in module "
                    f"'{module or '<root>'}' ({module_type or 'model'}); run without --strict "
                    "to see it as an unsupported row")
            attrs, supported, kind = None, False, OpKind.OTHER
        else:
            try:
                attrs = _attrs(name, args, kwargs or {}, in_t, out_t)
            except (IndexError, TypeError, AttributeError, ValueError) as exc:  # pragma: no cover
                raise TraceError(f"cannot read arguments of aten.{packet} in '{module}': {exc}")
            supported = True
        self.ops.append(Op(
            index=len(self.ops), name=f"{module or '<root>'}/{packet}", aten=str(func.name()),
            kind=kind, module=module, inputs=inputs, outputs=outputs, attrs=attrs,
            supported=supported, phase=self.phase, module_type=module_type, inplace=inplace,
        ))

    def _tag_autograd(self, tensors) -> None:
        for t in tensors:
            fn = getattr(t, "grad_fn", None)
            if fn is not None and "codesign_module" not in fn.metadata:
                where = self.where_made.get(self.tids.get(id(t), -1))
                if where is not None:
                    fn.metadata["codesign_module"] = where


def _make_mode(rec: _Recorder):
    from torch.utils._python_dispatch import TorchDispatchMode

    class _CaptureMode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if func.namespace == "aten" and not rec.paused:
                rec.record(func, args, kwargs, out)
            return out

    return _CaptureMode()


def _channels_last(t) -> bool:
    """Whether a 4-D / 5-D tensor is in channels-last memory format: dense in channels-last
    order and what PyTorch's ``suggest_memory_format`` reads from its strides (its strides as
    the fake kernels computed them: views, and op outputs whose strides follow their inputs',
    e.g. TensorIterator's elementwise ops and the conv meta on a channels-last input). A
    tensor dense in both orders (a size-1 channel or spatial extent: 1x1 or depthwise conv
    weights, [B, C, 1, 1] gates) counts by its strides, as PyTorch's kernel choice does: a
    1x1 conv weight converted with ``.to(memory_format=torch.channels_last)`` is
    channels-last, the same weight made contiguous is not."""
    import torch
    from torch._prims_common import suggest_memory_format

    if t.dim() == 4:
        fmt = torch.channels_last
    elif t.dim() == 5:
        fmt = torch.channels_last_3d
    else:
        return False
    return bool(t.is_contiguous(memory_format=fmt)) and suggest_memory_format(t) == fmt


def _to_channels_last(t):
    """``t`` in channels-last memory format when 4-D (``channels_last``) or 5-D
    (``channels_last_3d``), as ``model.to(memory_format=torch.channels_last)`` converts a
    model's parameters and buffers and timm's ``benchmark.py --channels-last`` its input;
    other ranks unchanged. Leaves keep their ``requires_grad``."""
    import torch

    fmt = {4: torch.channels_last, 5: torch.channels_last_3d}.get(t.dim())
    if fmt is None:
        return t
    return t.detach().to(memory_format=fmt).requires_grad_(t.requires_grad)


def _as_fake_inputs(fake_mode, inputs: Sequence[Any]):
    import torch

    fakes = []
    for x in inputs:
        if isinstance(x, torch.Tensor):
            fakes.append(fake_mode.from_tensor(x))
        elif isinstance(x, (tuple, list, torch.Size)) and all(isinstance(s, int) for s in x):
            if not x or any(s <= 0 for s in x):
                raise TraceError(f"input shape {tuple(x)} must be a non-empty list of positive ints")
            with fake_mode:
                fakes.append(torch.empty(tuple(x)))
        else:
            raise TraceError(
                f"trace inputs must be tensors or shapes (tuples of ints), got {type(x).__name__}")
    return fakes


#: autocast dtypes ``trace(..., autocast=)`` accepts (CUDA autocast's lower-precision dtype)
AUTOCAST_DTYPES = {"fp16": "float16", "bf16": "bfloat16"}


#: CUDA autocast's fp32 policy (aten/src/ATen/autocast_mode.h, AT_FORALL_FP32): half inputs
#: are cast to float (a ``_to_copy`` kernel) -- torch function names
CUDA_AUTOCAST_FP32 = frozenset({
    "layer_norm", "group_norm", "exp", "log", "log2", "log10", "log1p", "expm1", "reciprocal",
    "rsqrt", "pow", "__pow__", "__rpow__", "acos", "asin", "cosh", "sinh", "tan", "erfinv",
    "softplus", "cdist", "dist", "pdist", "interpolate", "upsample", "mse_loss", "l1_loss",
    "smooth_l1_loss", "huber_loss", "kl_div", "binary_cross_entropy_with_logits",
    "cosine_similarity", "logsumexp", "renorm", "nll_loss",
})
#: AT_FORALL_FP32_SET_OPT_DTYPE: run with ``dtype=float32`` (the kernel reads half, computes
#: and writes fp32; no separate cast)
CUDA_AUTOCAST_FP32_OUT = frozenset({"softmax", "log_softmax", "sum", "prod", "cumsum",
                                    "cumprod"})
#: of those, the ones whose CUDA path is one half-to-float kernel where the CPU path casts
#: first: ``at::softmax`` / ``at::log_softmax`` (aten/src/ATen/native/SoftMax.cpp) call
#: ``_softmax(input, dim, half_to_float=true)`` for a CUDA float16 input with
#: ``dtype=float32``, and CPU converts the input (``_to_copy``) then runs ``_softmax``; the
#: backward ``_softmax_backward_data(grad, output, dim, input_dtype=half)`` then writes the
#: half gradient itself, where the CPU path's cast has a backward cast of its own. Training is
#: traced on CPU fake tensors, so the policy calls the CUDA path's op. Evidence (issue 16):
#: the casts were ~5% of DeiT-S's simulated training step (4 x 89M-element copies per block,
#: 10.9 ms of 402); timm's RTX 3090 train rows of the attention models measured 4-15% faster
#: than simulated (``gpu_timm_fidelity.py eval --datasets train-nchw train-nhwc --rows``)
CUDA_HALF_TO_FLOAT = {"softmax": "_softmax", "log_softmax": "_log_softmax"}


def _cuda_autocast_on_cpu(half):
    """A torch-function mode that, together with CPU autocast (which runs convs, linears,
    matmuls and attention in ``half`` like CUDA autocast), applies CUDA autocast's fp32
    policies that CPU autocast lacks. Used for ``phase="train"``: PyTorch's autograd engine
    cannot run backward on fake CUDA tensors without a GPU. Only the calls the model makes
    directly are seen (not those inside another torch function), which is where these ops are
    called from in practice."""
    import torch
    from torch.overrides import TorchFunctionMode

    def cast(x):
        if isinstance(x, torch.Tensor) and x.dtype == half:
            return x.float()
        if isinstance(x, (list, tuple)):
            return type(x)(cast(v) for v in x)
        return x

    class _Fp32Policy(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            name = getattr(func, "__name__", "")
            if name in CUDA_AUTOCAST_FP32:
                args, kwargs = cast(args), {k: cast(v) for k, v in kwargs.items()}
            elif (name in CUDA_AUTOCAST_FP32_OUT and args and isinstance(args[0], torch.Tensor)
                  and args[0].dtype == half and kwargs.get("dtype") is None):
                dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
                if name in CUDA_HALF_TO_FLOAT and half == torch.float16 and isinstance(dim, int):
                    op = getattr(torch.ops.aten, CUDA_HALF_TO_FLOAT[name])
                    return op(args[0], dim, True)
                kwargs["dtype"] = torch.float32
            return func(*args, **kwargs)

    return _Fp32Policy()


def _fused_sdpa(orig):
    """``F.scaled_dot_product_attention`` as PyTorch picks it on a GPU, for fake CUDA tensors
    (whose device cannot be queried, so PyTorch would fall back to the unfused math path):
    autocast's cast to half precision, then FlashAttention-2 without a mask, the
    memory-efficient kernel (which takes an additive bias) with one."""
    import torch

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
             **kw):
        if not query.is_cuda or kw:
            return orig(query, key, value, attn_mask, dropout_p, is_causal, scale=scale, **kw)
        if torch.is_autocast_enabled("cuda"):
            half = torch.get_autocast_dtype("cuda")
            query, key, value = (t.to(half) if t.dtype == torch.float32 else t
                                 for t in (query, key, value))
        if query.dtype == torch.float32:
            return orig(query, key, value, attn_mask, dropout_p, is_causal, scale=scale)
        if attn_mask is None:
            return torch.ops.aten._scaled_dot_product_flash_attention(
                query, key, value, dropout_p, is_causal, False, scale=scale)[0]
        if attn_mask.dtype == torch.bool:
            attn_mask = torch.zeros_like(attn_mask, dtype=query.dtype).masked_fill(
                ~attn_mask, float("-inf"))
        return torch.ops.aten._scaled_dot_product_efficient_attention(
            query, key, value, attn_mask.to(query.dtype), False, dropout_p, is_causal,
            scale=scale)[0]

    return sdpa


def _math_sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
               **kw):
    """``F.scaled_dot_product_attention`` unfused, as attention ran before PyTorch 2.0 had the
    fused kernels (timm's ``fused_attn=False`` path): ``softmax(q * scale @ k^T + mask) @ v``
    in separate matmul and softmax kernels (the (L, L) score matrix goes through memory)."""
    import torch

    s = scale if scale is not None else query.shape[-1] ** -0.5
    attn = (query * s) @ key.transpose(-2, -1)
    if is_causal:
        n, m = attn.shape[-2:]
        attn_mask = torch.ones(n, m, dtype=torch.bool, device=attn.device).tril()
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn = attn.masked_fill(~attn_mask, float("-inf"))
        else:
            attn = attn + attn_mask
    attn = attn.softmax(dim=-1)
    if dropout_p:
        attn = torch.nn.functional.dropout(attn, dropout_p)
    return attn @ value


def _inplace_abn_reference(x, weight, bias, running_mean, running_var, training=True,
                           momentum=0.1, eps=1e-05, activation="leaky_relu",
                           activation_param=0.01):
    """What the InPlace-ABN extension (``inplace_abn.functions.inplace_abn``) computes, from
    aten ops: batch norm (batch statistics in training) and the activation, in place. Traced
    where the CUDA extension is not installed (it cannot run on fake tensors in any case); the
    ops stay attributed to the ``InplaceAbn`` module, which is how the cost model knows the
    library's kernels run them (``codesign.cost.gpu.CHANNEL_BLOCK_NORMS``). The library fuses
    the activation into its normalisation kernels; here it is one more elementwise op."""
    import torch.nn.functional as F

    y = F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    if activation == "leaky_relu":
        return F.leaky_relu(y, activation_param, inplace=True)
    if activation == "elu":
        return F.elu(y, activation_param, inplace=True)
    return y


def _patch_inplace_abn(model) -> list:
    """Point the ``inplace_abn`` function of the Python modules defining the model's
    ``InplaceAbn`` layers (timm's ``timm.layers.inplace_abn``) at
    :func:`_inplace_abn_reference`; returns (module, previous function) pairs to restore."""
    import sys

    patched = []
    for mod in model.modules():
        if type(mod).__name__ != "InplaceAbn":
            continue
        pymod = sys.modules.get(type(mod).__module__)
        if pymod is None or not hasattr(pymod, "inplace_abn"):
            continue
        if pymod.inplace_abn is _inplace_abn_reference or any(p is pymod for p, _ in patched):
            continue
        patched.append((pymod, pymod.inplace_abn))
        pymod.inplace_abn = _inplace_abn_reference
    return patched


def trace(model, *inputs, phase: str = "inference", optimizer: str | None = None,
          strict: bool = False, name: str = "", autocast: str | None = None,
          foreach: bool = True, nesterov: bool = False, loss: str = "sum",
          zero_grad: str = "none", fused_attention: bool = True,
          channels_last: bool = False) -> OpGraph:
    """Trace ``model`` on ``inputs`` (tensors or shapes) into an :class:`OpGraph`.

    ``phase="train"`` records forward, backward of the loss and, with ``optimizer``
    ("sgd" or "adamw"), one steady-state optimizer step (the second: the first creates the
    state), with the multi-tensor ``foreach`` kernels (PyTorch >= 2.0 on CUDA) or, with
    ``foreach=False``, a loop of per-parameter kernels (PyTorch 1.x). No real compute or memory is spent: parameters and
    inputs are fake tensors. Unsupported ops become ``OpKind.OTHER`` rows (or a ``TraceError``
    with ``strict``).

    The training loop's knobs (timm's ``benchmark.py`` train loop on PyTorch 1.x is
    ``zero_grad="zeros", loss="cross_entropy", optimizer="sgd", nesterov=True,
    foreach=False``): ``loss`` is ``"sum"`` (sum of the outputs) or ``"cross_entropy"``
    (cross-entropy of the first output against class targets, as timm's benchmark);
    ``nesterov`` is SGD's Nesterov momentum (timm's ``create_optimizer_v2("sgd")``);
    ``zero_grad="zeros"`` is ``optimizer.zero_grad()`` before PyTorch 2.0 (``set_to_none``
    defaulted to False): every gradient is zero-filled before the forward (one kernel per
    parameter) and the backward then accumulates into it (``AccumulateGrad`` runs
    ``grad += new_grad``, one more read-read-write kernel per parameter) where ``"none"``
    (PyTorch >= 2.0) lets the backward's gradient become ``.grad`` without a copy.
    ``fused_attention=False`` runs ``F.scaled_dot_product_attention`` as matmul, softmax,
    matmul (PyTorch 1.x had no fused attention kernels; timm then computed attention so).

    ``autocast="fp16"`` (or ``"bf16"``) traces on fake CUDA tensors under CUDA autocast, as
    ``torch.autocast("cuda")`` runs the model: no GPU is needed (autocast's dispatch key is
    switched on directly). Each tensor then carries the dtype autocast gives it (convs and
    matmuls in half precision, layer_norm / group_norm / softmax / sum / pow in fp32, binary
    ops promoted by their fp32 operands such as layer-scale gammas), and autocast's casts
    (``_to_copy`` of weights and activations; their backward in training) are graph ops.

    ``channels_last=True`` traces the model as ``model.to(memory_format=torch.channels_last)``
    with a channels-last input runs it (timm's ``benchmark.py --channels-last``): 4-D
    parameters, buffers and inputs channels-last (5-D ones ``channels_last_3d``; the model
    itself is not modified), so every tensor carries the memory format PyTorch gives it
    (``TensorSpec.channels_last``) and the copies the layout causes are graph ops: a
    ``reshape`` of a channels-last tensor that cannot be a view (``clone``), ``.contiguous()``
    calls; convs keep their kernel choice from the input or weight format
    (``codesign.cost.gpu.conv_layout_copies``).
    """
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.func import functional_call

    if phase not in ("inference", "train"):
        raise TraceError(f"phase = {phase!r}; allowed: inference, train")
    if optimizer not in (None, "sgd", "adamw"):
        raise TraceError(f"optimizer = {optimizer!r}; allowed: sgd, adamw")
    if loss not in ("sum", "cross_entropy"):
        raise TraceError(f"loss = {loss!r}; allowed: sum, cross_entropy")
    if zero_grad not in ("none", "zeros"):
        raise TraceError(f"zero_grad = {zero_grad!r}; allowed: none, zeros")
    if not isinstance(model, torch.nn.Module):
        raise TraceError(f"trace expects an nn.Module, got {type(model).__name__}")
    if not inputs:
        raise TraceError("trace needs at least one input tensor or shape")

    if autocast not in (None, *AUTOCAST_DTYPES):
        raise TraceError(f"autocast = {autocast!r}; allowed: {', '.join(AUTOCAST_DTYPES)}")

    fake_mode = FakeTensorMode(allow_non_fake_inputs=False)
    train = phase == "train"
    was_training = model.training
    model.train(train)
    with fake_mode:
        params = {k: fake_mode.from_tensor(p, static_shapes=True) for k, p in model.named_parameters()}
        buffers = {k: fake_mode.from_tensor(b, static_shapes=True) for k, b in model.named_buffers()}
    fake_inputs = _as_fake_inputs(fake_mode, inputs)
    if channels_last:  # model.to(memory_format=torch.channels_last) and a channels-last input
        with fake_mode:
            params = {k: _to_channels_last(p) for k, p in params.items()}
            buffers = {k: _to_channels_last(b) for k, b in buffers.items()}
            fake_inputs = [_to_channels_last(x) for x in fake_inputs]
    cuda_fake = bool(autocast) and not train
    if cuda_fake:  # fake CUDA tensors (nothing is allocated; no GPU needed)
        with fake_mode:
            params = {k: p.detach().to("cuda").requires_grad_(p.requires_grad)
                      for k, p in params.items()}
            buffers = {k: b.to("cuda") for k, b in buffers.items()}
            fake_inputs = [x.to("cuda") for x in fake_inputs]
    if train:
        for p in params.values():
            p.requires_grad_(True)
    weight_ids = {id(p): k for k, p in params.items()}
    weight_ids.update({id(b): k for k, b in buffers.items()})
    rec = _Recorder(dict(weight_ids), strict)
    for t in fake_inputs:
        rec.tid(t)

    # Global module hooks (removed in ``finally``) rather than per-module ones: PyTorch turns
    # off the fused fast paths of nn.TransformerEncoderLayer when a submodule carries hooks.
    names = {id(mod): (mname, type(mod).__name__) for mname, mod in model.named_modules()}
    from torch.nn.modules.module import (
        register_module_forward_hook, register_module_forward_pre_hook,
    )

    def pre(mod, _args):
        where = names.get(id(mod))
        if where is not None:
            rec.module_stack.append(where)

    def post(mod, _args, _out):
        if id(mod) in names and len(rec.module_stack) > 1:
            rec.module_stack.pop()

    handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
    iabn_patched = _patch_inplace_abn(model)

    state = {**params, **buffers}
    ac_prev = None
    sdpa_orig = torch.nn.functional.scaled_dot_product_attention
    import contextlib

    policy = contextlib.nullcontext()
    if not fused_attention:
        torch.nn.functional.scaled_dot_product_attention = _math_sdpa
    if autocast:
        if fused_attention:
            torch.nn.functional.scaled_dot_product_attention = _fused_sdpa(sdpa_orig)
        # torch.autocast("cuda") refuses to switch on without a GPU; the dispatch key works on
        # fake CUDA tensors all the same. Training: CPU autocast + CUDA's fp32 policies.
        dev = "cuda" if cuda_fake else "cpu"
        half = getattr(torch, AUTOCAST_DTYPES[autocast])
        ac_prev = (dev, torch.is_autocast_enabled(dev), torch.get_autocast_dtype(dev))
        torch.set_autocast_enabled(dev, True)
        torch.set_autocast_dtype(dev, half)
        if not cuda_fake:
            policy = _cuda_autocast_on_cpu(half)
    try:
        with fake_mode, _make_mode(rec):
            grad_ctx = torch.enable_grad() if train else torch.no_grad()
            if train and zero_grad == "zeros":
                # the gradients of the previous step exist; zero_grad() fills them (recorded)
                rec.paused = True
                grads = [torch.zeros_like(p) for p in params.values()]
                rec.paused = False
                rec.phase = Phase.OPTIMIZER
                rec.module_stack.append(("optimizer", "zero_grad"))
                for g in grads:
                    g.zero_()
                rec.module_stack.pop()
                rec.phase = Phase.FORWARD
                for p, g in zip(params.values(), grads):
                    p.grad = g
            with grad_ctx, policy:
                out = functional_call(model, state, tuple(fake_inputs))
                if train:
                    outs = [o for o in _tensors(out) if o.requires_grad]
                    if not outs:
                        raise TraceError("phase=train: the model output does not require grad")
                    if loss == "cross_entropy":  # under autocast: log_softmax runs in fp32
                        logits = outs[0].float()
                        rec.paused = True
                        target = torch.zeros(logits.shape[:1], dtype=torch.long,
                                             device=logits.device)
                        rec.paused = False
                        loss_t = torch.nn.functional.cross_entropy(
                            logits.reshape(logits.shape[0], -1), target)
                        outs = outs[:1]
                    else:
                        loss_t = sum(o.float().sum() for o in outs)
            if ac_prev is not None:  # backward runs in the dtypes autocast chose, never under it
                torch.set_autocast_enabled(ac_prev[0], False)
            if train:
                rec._tag_autograd(outs)
                rec.phase = Phase.BACKWARD
                loss_t.backward()
                if optimizer:
                    rec.phase = Phase.OPTIMIZER
                    rec.module_stack = [("optimizer", optimizer)]
                    opt_cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.AdamW
                    kw = {"momentum": 0.9, "nesterov": nesterov} if optimizer == "sgd" else {}
                    opt = opt_cls(list(params.values()), lr=0.1, foreach=foreach, **kw)
                    # the first step only creates the optimizer state (momentum = a copy of
                    # the gradient): record a steady-state step, the second
                    rec.paused = True
                    opt.step()
                    rec.paused = False
                    opt.step()
    except TraceError:
        raise
    except Exception as exc:
        where = rec.module_stack[-1][0] or "<root>"
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TraceError(f"tracing failed in module '{where}': {type(exc).__name__}: {msg}") from exc
    finally:
        for h in handles:
            h.remove()
        for pymod, fn in iabn_patched:
            pymod.inplace_abn = fn
        model.train(was_training)
        torch.nn.functional.scaled_dot_product_attention = sdpa_orig
        if ac_prev is not None:
            torch.set_autocast_enabled(ac_prev[0], ac_prev[1])
            torch.set_autocast_dtype(ac_prev[0], ac_prev[2])
            torch.clear_autocast_cache()

    outputs = tuple(rec.spec(t) for t in _tensors(out))
    inputs_spec = tuple(rec.spec(t) for t in fake_inputs)
    n_params = sum(p.numel() for p in model.parameters())
    coverage = Coverage(
        handled=sum(1 for op in rec.ops if op.supported), ignored=rec.ignored,
        unsupported=tuple(sorted(rec.unsupported.items())),
    )
    if rec.unsupported:
        warnings.warn(f"codesign.trace: {coverage.unsupported_count} unsupported op(s) shown as "
                      f"'other' rows, not costed: " + ", ".join(
                          f"aten.{a} x{n}" for a, n in sorted(rec.unsupported.items())),
                      stacklevel=2)
    graph = OpGraph(ops=tuple(rec.ops), inputs=inputs_spec, outputs=outputs,
                    params_count=int(n_params), coverage=coverage,
                    name=name or type(model).__name__, phase=phase, autocast=autocast or "",
                    channels_last=bool(channels_last))
    return annotate_patterns(graph)
