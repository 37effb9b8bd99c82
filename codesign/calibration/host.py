"""Fit a hardware spec to the machine at hand from microbenchmarks.

``calibrate(device="cpu", out="host.yaml")`` times a fixed set of single-op microbenchmarks
(never the zoo workloads validation later runs): GEMMs of several shapes, every conv variant
over kernel sizes and channel counts (depthwise included), elementwise add/copy at sizes from
L1 to DRAM, softmax, batch/layer norm, reductions, pooling, resampling, fused attention and
tiny ops that expose the per-op dispatch cost. It then fits the spec's free parameters so that
the registered cost model of the spec's kind reproduces the timings:

    minimise  sum_b  soft_l1( log(predicted_b(theta)) - log(measured_b) )

with ``predicted_b`` the sum of :func:`codesign.simulation.estimate_costs` latencies over the
ops :func:`codesign.trace` records for benchmark ``b`` (eager mode), and ``theta`` the logs of
``dispatch.eager_overhead_s``, the achieved DRAM bandwidth, the L2/L3 bandwidths (CPU), one
efficiency per op class (``matmul``, ``conv.<variant>``, ``attention``, ``vector``, ``softmax``,
``norm``, ``reduction``, ``pool``) and, on a CPU, the half-efficiency work
``cpu.half_work_macs`` of every MAC class (matmul, conv.*): efficiency falls for small ops;
the oneDNN activation-reorder rate ``cpu.reorder_bytes_per_s`` and the cold-weight packing
rate ``cpu.weight_pack_bytes_per_s``. Activation-heavy convs (few channels, large maps) and
large batch-4/8 convs and GEMMs pin the two ends of those terms. Conv and GEMM benchmarks with
large weights rotate through enough weight copies to exceed the
last-level cache, so their weights come from DRAM as in a network (the CPU cost model adds that
weight read), and the set includes the small spatial sizes (5x5 .. 14x14) and channel counts
of late network stages. Log residuals weigh every benchmark by its relative error;
``soft_l1`` keeps one disturbed timing from dragging the fit (scipy ``least_squares``).

Timing: every benchmark is run in ``rounds`` interleaved rounds (shuffled order); a round
times batches of calls and keeps the median per-call time; the result is the median round. The
benchmarks run under the host allocator regime ``allocator`` (the CLI's default
``retain``; the library leaves malloc alone unless asked, :mod:`codesign.measurement.allocator`),
which the spec records next to the first-touch
page-fault rate (measured on a fresh anonymous mapping) and the matching mmap threshold.

Compute efficiencies may come out above 1 when the cores boost above the clock the OS reports;
the written spec then raises ``clock_hz`` to the effective clock and divides every compute
efficiency by the same factor (no estimate changes), and records both clocks.

The written YAML starts from the base preset (``host-cpu`` for a CPU), replaces the fitted
numbers and the cache sizes / clock / SIMD width the OS reports, and records provenance:
device name, torch version, threads, date, each benchmark's residual and the fit summary.
"""

from __future__ import annotations

import datetime
import math
import os
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from codesign.errors import HardwareError, MeasureError

if TYPE_CHECKING:
    from codesign.hardware.spec import HardwareSpec


# --- microbenchmarks -----------------------------------------------------------------------

@dataclass(frozen=True)
class Bench:
    """One microbenchmark: ``build()`` returns (module, inputs) to time ``module(*inputs)``."""

    name: str
    group: str                     # what it calibrates: overhead, gemm, conv, memory, ...
    build: Callable[[], tuple]
    quick: bool = False            # part of the --quick set


COLD_BYTES = 64 * 2 ** 20     # weight copies per cold benchmark: > the LLC of a small host
COLD_MIN_WEIGHT_BYTES = 256 * 1024
MAX_COPIES = 16


class _Fn:
    """Factory of a tiny nn.Module whose forward is ``fn(*inputs, *params)``.

    ``cold=True``: when the parameters are large, keep ``copies`` independent copies of them
    (together > ``COLD_BYTES``) and use the next set on every call, so the weights are read
    from DRAM as in a network whose weights do not fit in the caches."""

    def __new__(cls, fn, *params, cold=False):
        import torch

        nbytes = sum(p.numel() * p.element_size() for p in params)
        copies = 1
        if cold and nbytes >= COLD_MIN_WEIGHT_BYTES:
            copies = int(min(MAX_COPIES, max(2, math.ceil(COLD_BYTES / nbytes))))

        class Op(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.sets = torch.nn.ModuleList()
                for c in range(copies):
                    self.sets.append(torch.nn.ParameterList(
                        [torch.nn.Parameter(p if c == 0 else torch.randn_like(p),
                                            requires_grad=False) for p in params]))
                self.i = 0

            def forward(self, *xs):
                ws = self.sets[self.i]
                self.i = (self.i + 1) % len(self.sets)
                return fn(*xs, *ws)

        return Op().eval()


def _r(*shape):
    import torch

    return torch.randn(*shape)


def cpu_benchmarks() -> list[Bench]:
    """The CPU microbenchmark set (shapes chosen to span the op classes, cache levels and the
    channel counts / spatial sizes of vision networks; no zoo model is used)."""
    import torch
    import torch.nn.functional as F

    out: list[Bench] = []

    def add(name, group, build, quick=False):
        out.append(Bench(name, group, build, quick))

    # dispatch overhead: tiny tensors, cost ~ per-op framework overhead only
    add("tiny_add", "overhead", lambda: (_Fn(lambda x: x + x), [_r(8)]), True)
    add("tiny_relu", "overhead", lambda: (_Fn(torch.relu), [_r(1, 8, 4, 4)]), True)
    add("tiny_conv1x1", "overhead",
        lambda: (_Fn(lambda x, w: F.conv2d(x, w), _r(8, 8, 1, 1)), [_r(1, 8, 4, 4)]), True)
    add("tiny_bn", "overhead", lambda: (_Fn(lambda x, m, v: F.batch_norm(x, m, v), torch.zeros(8),
                                             torch.ones(8)), [_r(1, 8, 4, 4)]), True)
    add("tiny_linear", "overhead",
        lambda: (_Fn(lambda x, w, b: F.linear(x, w, b), _r(8, 8), _r(8)), [_r(2, 8)]), True)
    add("tiny_mean", "overhead", lambda: (_Fn(lambda x: x.mean((2, 3))), [_r(1, 8, 4, 4)]))
    add("tiny_softmax", "overhead", lambda: (_Fn(lambda x: torch.softmax(x, -1)), [_r(4, 8)]))

    # GEMMs
    for (m, n, k), q in (((64, 64, 64), False), ((256, 256, 256), True), ((512, 512, 512), True),
                         ((1024, 1024, 1024), False), ((1, 1000, 2048), True),
                         ((196, 1536, 384), True), ((8, 2048, 1024), False),
                         ((1568, 384, 1536), False), ((25, 3072, 768), True),
                         ((49, 512, 2048), False), ((100, 256, 1024), False),
                         ((8, 512, 512), False), ((3136, 768, 192), False)):
        add(f"linear_{m}x{n}x{k}", "gemm",
            lambda m=m, n=n, k=k: (_Fn(lambda x, w, b: F.linear(x, w, b), _r(n, k), _r(n),
                                       cold=True), [_r(m, k)]), q)
    for (b, m, n, k), q in (((6, 197, 197, 64), True), ((8, 196, 64, 196), False),
                            ((16, 64, 64, 64), False)):
        add(f"bmm_{b}x{m}x{n}x{k}", "gemm",
            lambda b=b, m=m, n=n, k=k: (_Fn(torch.bmm), [_r(b, m, k), _r(b, k, n)]), q)

    def conv(name, n, cin, cout, hw: HardwareSpec, k, stride=1, groups=1, dil=1, quick=False, pad=None):
        kk = k if isinstance(k, tuple) else (k, k)
        p = pad if pad is not None else tuple(dil * (x // 2) for x in kk)
        add(name, "conv", lambda: (_Fn(lambda x, w, b: F.conv2d(x, w, b, stride, p, dil, groups),
                                       _r(cout, cin // groups, *kk), _r(cout), cold=True),
                                   [_r(n, cin, hw, hw)]), quick)

    for n, c, hw, q in ((1, 64, 56, True), (1, 128, 28, False), (1, 256, 14, True),
                        (1, 512, 7, False), (8, 64, 28, False), (4, 256, 14, False),
                        (1, 32, 112, False), (1, 512, 5, True), (1, 256, 10, False),
                        (1, 64, 40, False), (1, 16, 20, False)):
        conv(f"conv3x3_n{n}_c{c}_{hw}", n, c, c, hw, 3, quick=q)
    conv("conv3x3_s2_c64_56", 1, 64, 128, 56, 3, stride=2)
    # convs handed a transposed view (channels-last strides): ATen gathers the input first
    add("dw3x3_transposed_c512_14", "conv", lambda: (
        _Fn(lambda x, w: F.conv2d(x.transpose(1, 2).reshape(1, 512, 14, 14), w, None, 1, 1, 1, 512),
            _r(512, 1, 3, 3)), [_r(1, 196, 512)]))
    add("conv1x1_transposed_256to128_28", "conv", lambda: (
        _Fn(lambda x, w: F.conv2d(x.transpose(1, 2).reshape(1, 256, 28, 28), w), _r(128, 256, 1, 1)),
        [_r(1, 784, 256)]))
    # few channels, large maps: little work per byte, so layout reorders dominate
    conv("conv3x3_n1_c8_112", 1, 8, 8, 112, 3)
    conv("conv1x1_n1_8to8_224", 1, 8, 8, 224, 1, quick=True)
    conv("conv1x1_n8_16to16_56", 8, 16, 16, 56, 1)
    conv("conv1x1_n8_512to256_14", 8, 512, 256, 14, 1)
    # large ops (batch 4-8): the top of the efficiency curve
    conv("conv1x1_n8_256to1024_14", 8, 256, 1024, 14, 1)
    conv("conv1x1_n8_1024to256_7", 8, 1024, 256, 7, 1)
    conv("conv1x1_n4_128to512_28", 4, 128, 512, 28, 1)
    conv("conv3x3_n8_c128_14", 8, 128, 128, 14, 3)
    conv("conv3x3_n8_c256_7", 8, 256, 256, 7, 3)
    for n, ci, co, hw, q in ((1, 64, 256, 56, True), (1, 256, 64, 56, False),
                             (1, 512, 128, 28, False), (1, 1024, 256, 14, True),
                             (1, 2048, 512, 7, False), (8, 96, 384, 28, False),
                             (1, 16, 96, 112, False), (1, 320, 1280, 7, True),
                             (1, 2048, 512, 5, True), (1, 64, 256, 40, False),
                             (8, 144, 24, 28, False), (1, 32, 16, 14, False)):
        conv(f"conv1x1_n{n}_{ci}to{co}_{hw}", n, ci, co, hw, 1, quick=q)
    for n, c, hw, k, s, q in ((1, 32, 112, 3, 1, True), (1, 144, 56, 3, 1, False),
                              (1, 192, 28, 3, 2, False), (1, 576, 14, 3, 1, True),
                              (1, 960, 7, 3, 1, False), (1, 96, 56, 7, 1, True),
                              (1, 384, 14, 7, 1, False), (8, 144, 28, 3, 1, False),
                              (1, 240, 14, 5, 1, False), (1, 960, 5, 3, 1, True),
                              (1, 64, 10, 3, 1, False)):
        conv(f"dw{k}x{k}_n{n}_c{c}_{hw}_s{s}", n, c, c, hw, k, stride=s, groups=c, quick=q)
    # large depthwise kernels: oneDNN's jit depthwise kernel up to a left padding of 6 (AVX-512),
    # its im2col + GEMM fallback beyond (cost/cpu.py dw_gemm_fallback); rows of 12..64
    # elements and 15x15..27x27 / dilated / band kernels separate the per-row and per-byte
    # terms. No shape of the validated large-kernel blocks is used.
    for n, c, hw, k, q in ((1, 192, 20, 9, False), (1, 96, 32, 13, True), (2, 64, 24, 11, False)):
        conv(f"dw{k}x{k}_n{n}_c{c}_{hw}_s1", n, c, c, hw, k, groups=c, quick=q)
    for n, c, hw, k, q in ((1, 96, 32, 15, True), (1, 192, 12, 21, False), (1, 48, 40, 27, True),
                           (2, 64, 64, 15, False)):
        conv(f"dw{k}x{k}_gemm_n{n}_c{c}_{hw}", n, c, c, hw, k, groups=c, quick=q)
    conv("dw5x5_d4_gemm_c128_28", 1, 128, 128, 28, 5, groups=128, dil=4)
    conv("dw1x17_gemm_c64_48", 1, 64, 64, 48, (1, 17), groups=64, quick=True)
    conv("grouped_g32_c128_56", 1, 128, 128, 56, 3, groups=32, quick=True)
    conv("grouped_g32_c512_14", 1, 512, 512, 14, 3, groups=32)
    conv("grouped_g4_c256_14", 1, 256, 256, 14, 3, groups=4)
    conv("grouped_g32_c1024_5", 1, 1024, 1024, 5, 3, groups=32, quick=True)
    conv("dilated_d2_c256_14", 1, 256, 256, 14, 3, dil=2, quick=True)
    conv("dilated_d4_c128_28", 1, 128, 128, 28, 3, dil=4)
    conv("stem7x7_s2_3to64_224", 1, 3, 64, 224, 7, stride=2, quick=True)
    conv("large7x7_c64_28", 1, 64, 64, 28, 7)
    conv("band1x7_c64_28", 1, 64, 64, 28, (1, 7), quick=True)
    conv("band7x1_c128_14", 1, 128, 128, 14, (7, 1))
    conv("band1x11_c32_56", 1, 32, 32, 56, (1, 11))
    add("conv3d_3x3x3_c64", "conv", lambda: (
        _Fn(lambda x, w: F.conv3d(x, w, padding=1), _r(64, 64, 3, 3, 3), cold=True), [_r(1, 64, 4, 28, 28)]),
        True)
    add("conv3d_1x1x1_c256", "conv", lambda: (
        _Fn(lambda x, w: F.conv3d(x, w), _r(128, 256, 1, 1, 1), cold=True), [_r(1, 256, 4, 14, 14)]))
    add("conv3d_1x1x1_c512_b8", "conv", lambda: (
        _Fn(lambda x, w: F.conv3d(x, w), _r(256, 512, 1, 1, 1), cold=True), [_r(8, 512, 2, 7, 7)]))
    add("conv3d_1x3x3_c64", "conv", lambda: (
        _Fn(lambda x, w: F.conv3d(x, w, padding=(0, 1, 1)), _r(64, 64, 1, 3, 3)),
        [_r(1, 64, 4, 28, 28)]))
    add("conv3d_3x1x1_c64", "conv", lambda: (
        _Fn(lambda x, w: F.conv3d(x, w, padding=(1, 0, 0)), _r(64, 64, 3, 1, 1)),
        [_r(1, 64, 4, 28, 28)]))
    add("convT4x4_s2_c64_28", "conv", lambda: (
        _Fn(lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1), _r(64, 32, 4, 4)),
        [_r(1, 64, 28, 28)]), True)
    add("convT2x2_s2_c128_14", "conv", lambda: (
        _Fn(lambda x, w: F.conv_transpose2d(x, w, stride=2), _r(128, 64, 2, 2)),
        [_r(1, 128, 14, 14)]))

    # memory hierarchy: add (2 reads + 1 write) and copy at 16 KiB .. 64 MiB per tensor
    for e in (12, 14, 16, 18, 20, 21, 22, 23, 24):
        n = 2 ** e
        add(f"add_{n}", "memory", lambda n=n: (_Fn(lambda x, y: x + y), [_r(n), _r(n)]),
            e in (14, 18, 21, 23))
        if e % 2 == 0:
            add(f"copy_{n}", "memory", lambda n=n: (_Fn(lambda x: x.clone()), [_r(n)]),
                e in (16, 22))
    add("relu_1x64x112x112", "memory", lambda: (_Fn(torch.relu), [_r(1, 64, 112, 112)]), True)
    add("mul_8x256x28x28", "memory", lambda: (_Fn(lambda x: x * 0.5), [_r(8, 256, 28, 28)]))
    add("hardtanh_1x96x56x56", "memory",
        lambda: (_Fn(lambda x: F.hardtanh(x, 0.0, 6.0)), [_r(1, 96, 56, 56)]))
    add("gelu_197x1536", "memory", lambda: (_Fn(F.gelu), [_r(1, 197, 1536)]), True)
    add("sigmoid_1x144x56x56", "memory", lambda: (_Fn(torch.sigmoid), [_r(1, 144, 56, 56)]))
    add("tanh_1x48x80x80", "memory", lambda: (_Fn(torch.tanh), [_r(1, 48, 80, 80)]), True)
    add("exp_4x128x30x30", "memory", lambda: (_Fn(torch.exp), [_r(4, 128, 30, 30)]))
    add("cat_2x128x28x28", "memory",
        lambda: (_Fn(lambda x, y: torch.cat([x, y], 1)), [_r(1, 128, 28, 28), _r(1, 128, 28, 28)]))
    add("unfold3x3_1x64x40x40", "memory",
        lambda: (_Fn(lambda x: F.unfold(x, 3, padding=1)), [_r(1, 64, 40, 40)]))
    add("permute_copy_1x256x56x56", "memory",
        lambda: (_Fn(lambda x: x.permute(0, 2, 3, 1).contiguous()), [_r(1, 256, 56, 56)]), True)

    # softmax / norms / reductions / pooling / resampling
    for rows, cols, q in ((6 * 197, 197, True), (1, 1000, False), (8 * 196, 196, False),
                          (4096, 49, False), (2 * 1024, 1024, False), (4, 4096, False)):
        add(f"softmax_{rows}x{cols}", "softmax",
            lambda rows=rows, cols=cols: (_Fn(lambda x: torch.softmax(x, -1)), [_r(rows, cols)]), q)
    for n, c, hw, q in ((1, 64, 112, True), (1, 256, 56, False), (1, 1024, 14, False),
                        (8, 128, 28, False)):
        add(f"batchnorm_n{n}_c{c}_{hw}", "norm",
            lambda n=n, c=c, hw=hw: (_Fn(lambda x, m, v, w, b: F.batch_norm(x, m, v, w, b),
                                         torch.zeros(c), torch.ones(c), _r(c), _r(c)),
                                     [_r(n, c, hw, hw)]), q)
    for rows, d, q in ((197, 384, True), (8 * 197, 384, False), (3136, 96, False)):
        add(f"layernorm_{rows}x{d}", "norm",
            lambda rows=rows, d=d: (_Fn(lambda x, w, b: F.layer_norm(x, (d,), w, b), _r(d), _r(d)),
                                    [_r(rows, d)]), q)
    add("groupnorm_g32_c256_28", "norm", lambda: (
        _Fn(lambda x: F.group_norm(x, 32)), [_r(1, 256, 28, 28)]))
    add("mean_hw_1x2048x7x7", "reduction", lambda: (_Fn(lambda x: x.mean((2, 3))),
                                                     [_r(1, 2048, 7, 7)]), True)
    add("mean_hw_8x1280x7x7", "reduction", lambda: (_Fn(lambda x: x.mean((2, 3))),
                                                     [_r(8, 1280, 7, 7)]))
    add("sum_c_1x256x56x56", "reduction", lambda: (_Fn(lambda x: x.sum(1)), [_r(1, 256, 56, 56)]))
    add("amax_1x512x28x28", "reduction", lambda: (_Fn(lambda x: x.amax(1)), [_r(1, 512, 28, 28)]))
    add("maxpool3x3s2_1x64x112", "pool", lambda: (
        _Fn(lambda x: F.max_pool2d(x, 3, 2, 1)), [_r(1, 64, 112, 112)]), True)
    add("maxpool2x2_1x256x52", "pool", lambda: (_Fn(lambda x: F.max_pool2d(x, 2, 2)),
                                                 [_r(1, 256, 52, 52)]))
    add("avgpool_global_8x2048x7", "pool", lambda: (
        _Fn(lambda x: F.adaptive_avg_pool2d(x, 1)), [_r(8, 2048, 7, 7)]), True)
    add("avgpool3x3_1x192x28", "pool", lambda: (
        _Fn(lambda x: F.avg_pool2d(x, 3, 1, 1)), [_r(1, 192, 28, 28)]))
    add("upsample2x_1x64x56", "resample", lambda: (
        _Fn(lambda x: F.interpolate(x, scale_factor=2.0, mode="nearest")), [_r(1, 64, 56, 56)]))
    add("pixel_shuffle_1x64x56", "resample", lambda: (
        _Fn(lambda x: F.pixel_shuffle(x, 2)), [_r(1, 64, 56, 56)]))
    add("upsample_bilinear2x_1x32x40", "resample", lambda: (
        _Fn(lambda x: F.interpolate(x, scale_factor=2.0, mode="bilinear")), [_r(1, 32, 40, 40)]))

    # fused attention (SDPA flash kernel on CPU)
    # attention over positions written out (non-local / GC / EfficientViT style): a bmm of
    # transposed [B, d, N] views, softmax over the N positions, a bmm with the values
    add("spatial_attn_2x576_d32", "attention", lambda: (
        _Fn(lambda q, k, v: v @ torch.softmax(q.transpose(-2, -1) @ k, -1).transpose(-2, -1)),
        [_r(2, 32, 576), _r(2, 32, 576), _r(2, 64, 576)]))
    add("pool_attn_1x64x2304", "attention", lambda: (
        _Fn(lambda x, w: torch.bmm(x.flatten(2), torch.softmax(F.conv2d(x, w).flatten(2), -1)
                                   .transpose(1, 2)), _r(1, 64, 1, 1)), [_r(1, 64, 48, 48)]))
    for b, h, l, d, q in ((1, 6, 197, 64, True), (8, 6, 197, 64, False), (1, 8, 784, 32, False)):
        add(f"sdpa_{b}x{h}x{l}x{d}", "attention", lambda b=b, h=h, l=l, d=d: (
            _Fn(F.scaled_dot_product_attention), [_r(b, h, l, d), _r(b, h, l, d), _r(b, h, l, d)]),
            q)
    return out


# --- timing --------------------------------------------------------------------------------

def _wall_timer(device: str, clock: str = "wall"):
    """(sync, now) for timing batches of calls on ``device`` (``clock="cpu"``: process CPU
    time, see :class:`codesign.measurement.runner.ProcessTimer`)."""
    import torch

    if device == "cuda":
        return torch.cuda.synchronize, time.perf_counter
    return (lambda: None), (time.process_time if clock == "cpu" else time.perf_counter)


def time_call(fn: Callable[[], Any], target_s: float, batches: int = 3,
              sync=lambda: None, now=time.perf_counter) -> float:
    """Median per-call seconds over ``batches`` batches sized to take ~``target_s`` each. The
    median, not the minimum, because validation compares with median end-to-end latencies:
    a fit to best-case times makes every estimate systematically low."""
    fn()
    sync()
    t0 = now()
    fn()
    sync()
    est = max(now() - t0, 1e-7)
    inner = int(min(200, max(1, target_s / est)))
    per_call = []
    for _ in range(batches):
        t0 = now()
        for _ in range(inner):
            fn()
        sync()
        per_call.append((now() - t0) / inner)
    return float(statistics.median(per_call))


def measure_page_fault_rate(clock: str = "wall", nbytes: int = 64 * 2**20) -> float:
    """Bytes/s at which fresh pages are faulted in: filling a new anonymous ``mmap`` of
    ``nbytes`` (every page faults on first write, whatever the allocator's settings) against
    filling a warm buffer of the same size; the difference is the first-touch cost."""
    import mmap

    import torch

    sync, now = _wall_timer("cpu", clock)
    warm = torch.empty(nbytes // 4)

    def fresh_fill() -> float:
        mm = mmap.mmap(-1, nbytes)
        try:
            t = torch.frombuffer(mm, dtype=torch.float32)
            t0 = now()
            t.fill_(1.0)
            dt = now() - t0
            del t
        finally:
            mm.close()
        return dt

    def warm_fill() -> float:
        t0 = now()
        warm.fill_(1.0)
        return now() - t0

    warm_fill()
    fresh = statistics.median(fresh_fill() for _ in range(5))
    reuse = statistics.median(warm_fill() for _ in range(5))
    extra = max(fresh - reuse, 1e-9)
    return float(min(max(nbytes / extra, 1e8), 1e12))


@dataclass(frozen=True)
class Observation:
    """A timed benchmark and the ops its trace records (for the fit)."""

    name: str
    group: str
    measured_s: float
    ops: tuple                    # codesign Op objects (forward)
    rounds: tuple[float, ...] = ()


def round_statistic(times: Sequence[float], quantile: float = 0.5) -> float:
    """The ``quantile`` of a benchmark's per-round times (linear interpolation; 0.5 is the
    median). Validation takes the fastest of its passes, so on a host where other processes
    inflate most rounds a lower quantile of the calibration rounds samples the same machine
    state; measured on this project's shared host in the issue 15 notes
    (``python benchmarks/refit_rounds.py``)."""
    if not 0.0 <= quantile <= 1.0:
        raise MeasureError(f"round quantile = {quantile!r}; must be in [0, 1]")
    return float(np.quantile(np.asarray(times, dtype=float), quantile))


class BenchmarkRunner:
    """Traced, built microbenchmarks whose timings accumulate round by round. A round times
    every benchmark once, in a shuffled order. Rounds may be interleaved with other work:
    ``benchmarks/accuracy.py`` runs them between validation rounds, so that calibration and
    validation sample the same machine states (this host's speed drifts by tens of percent
    over minutes)."""

    def __init__(self, benches: Sequence[Bench], device: str = "cpu", target_s: float = 0.01,
                 seed: int = 0, clock: str = "wall", quantile: float = 0.5) -> None:
        from codesign.capture.tracer import trace

        round_statistic([1.0], quantile)          # validates the quantile
        self.quantile = quantile
        self.device = device
        self.target_s = target_s
        self._sync, self._now = _wall_timer(device, clock)
        self._built = []
        for b in benches:
            mod, xs = b.build()
            graph = trace(mod, *xs, name=b.name)
            self._built.append((b, mod.to(device), [x.to(device) for x in xs], graph))
        self.samples: dict[str, list[float]] = {b.name: [] for b in benches}
        self._rng = random.Random(seed)
        self.rounds = 0

    def run_round(self) -> None:
        import torch

        order = list(range(len(self._built)))
        self._rng.shuffle(order)
        with torch.no_grad():
            for i in order:
                b, mod, xs, _ = self._built[i]
                try:
                    t = time_call(lambda: mod(*xs), self.target_s, sync=self._sync, now=self._now)
                except Exception as exc:  # a benchmark the build cannot run is a tool error
                    raise MeasureError(f"microbenchmark {b.name} failed on {self.device}: "
                                       f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
                self.samples[b.name].append(t)
        self.rounds += 1

    def observations(self) -> list[Observation]:
        """The median round so far, per benchmark (the ``quantile`` given at construction). (The
        fastest round fits a machine ~10%
        faster than validation's fastest whole-network passes: measured over 3 interleaved
        runs of benchmarks/accuracy.py, mean signed error -10% against -4% with the median.)"""
        if not self.rounds:
            raise MeasureError("no calibration round has run")
        return [Observation(b.name, b.group, round_statistic(self.samples[b.name], self.quantile),
                            tuple(g.ops), tuple(self.samples[b.name]))
                for b, _, _, g in self._built]


def run_benchmarks(benches: Sequence[Bench], device: str = "cpu", rounds: int = 3,
                   target_s: float = 0.01, seed: int = 0, progress=None,
                   clock: str = "wall") -> list[Observation]:
    """Time every benchmark in ``rounds`` shuffled, interleaved rounds; keep the median."""
    runner = BenchmarkRunner(benches, device, target_s, seed, clock)
    for r in range(rounds):
        runner.run_round()
        if progress:
            progress(f"round {r + 1}/{rounds} done")
    return runner.observations()


# --- the fit -------------------------------------------------------------------------------

#: knob paths every kind's fit adjusts, with their bounds; the kind's cost module adds its own
#: (:class:`codesign.cost.base.CalibrationModel`)
SHARED_PARAMETERS = ("dispatch.eager_overhead_s", "efficiency.memory")
BOUNDS = {"dispatch.eager_overhead_s": (1e-8, 1e-3)}
EFF_BOUNDS = (1e-4, 1.0)


def _model(hw: HardwareSpec):
    from codesign.cost import registry

    return registry().calibration(hw.kind)


def free_parameters(hw: HardwareSpec, observations: Sequence[Observation]) -> list[str]:
    """Knob paths the fit adjusts: dispatch overhead, memory efficiency and what the hardware
    kind's calibration model says the benchmarks exercise (bandwidths, the efficiency of every
    op class some benchmark runs; a class no benchmark touches keeps its preset value)."""
    ops = [op for ob in observations for op in ob.ops]
    return sorted(set(SHARED_PARAMETERS) | set(_model(hw).parameters(hw, ops)))


def _bounds(path: str, model) -> tuple[float, float]:
    return model.bounds(path) or BOUNDS.get(path, EFF_BOUNDS)


def _get(hw: HardwareSpec, path: str) -> float:
    obj: Any = hw
    head, _, rest = path.partition(".")
    if head == "efficiency":
        return float(hw.eff(rest))
    parts = path.split(".")
    while parts:
        if isinstance(obj, Mapping):         # a table keyed by dotted names (half_work_macs)
            return float(obj[".".join(parts)])
        obj = getattr(obj, parts.pop(0))
    return float(obj)


def predict(hw: HardwareSpec, ops_per_bench: Sequence[Sequence], knobs: Mapping[str, Any] | None = None):
    """Predicted eager latency of each benchmark (sum over its ops) on ``hw`` with ``knobs``;
    knob values may be arrays (one prediction per column)."""
    from codesign.cost import registry
    from codesign.cost.base import CostContext

    spec = hw.with_knobs(knobs, check=False) if knobs else hw
    reg = registry()
    ctx = CostContext("fp32", "eager", "nchw")
    out = []
    for ops in ops_per_bench:
        total = 0.0
        for op in ops:
            fn = reg.lookup(op.kind, spec.kind) if op.supported else None
            if fn is None:
                continue
            total = total + fn(op, spec, ctx).latency_s
        out.append(total)
    return out


@dataclass(frozen=True)
class FitResult:
    values: dict            # knob path -> fitted value
    residuals: dict         # benchmark -> log(pred / measured)
    predicted_s: dict
    cost: float
    success: bool
    message: str

    @property
    def median_abs_error(self) -> float:
        return float(np.median([abs(math.expm1(r)) for r in self.residuals.values()]))

    @property
    def max_abs_error(self) -> float:
        return float(max(abs(math.expm1(r)) for r in self.residuals.values()))


def fit(hw: HardwareSpec, observations: Sequence[Observation], params: Sequence[str] | None = None,
        loss: str = "soft_l1") -> FitResult:
    """Least-squares fit of ``params`` (knob paths) to the observations, in log space."""
    from scipy.optimize import least_squares

    params = list(params or free_parameters(hw, observations))
    model = _model(hw)
    hw = model.prepare(hw, params)
    lo, hi, x0 = [], [], []
    for p in params:
        a, b = _bounds(p, model)
        v = min(max(_get(hw, p), a * 1.0001), b * 0.9999)
        lo.append(math.log(a))
        hi.append(math.log(b))
        x0.append(math.log(v))
    ops = [ob.ops for ob in observations]
    meas = np.log([ob.measured_s for ob in observations])

    def resid(x):
        knobs = dict(zip(params, np.exp(x)))
        pred = np.asarray(predict(hw, ops, knobs), dtype=float)
        return np.log(np.maximum(pred, 1e-12)) - meas

    res = least_squares(resid, np.array(x0), bounds=(lo, hi), loss=loss, f_scale=0.1,
                        x_scale=1.0, diff_step=1e-3, max_nfev=400)
    values = dict(zip(params, (float(v) for v in np.exp(res.x))))
    r = resid(res.x)
    pred = np.exp(r + meas)
    return FitResult(values, {ob.name: float(v) for ob, v in zip(observations, r)},
                     {ob.name: float(p) for ob, p in zip(observations, pred)},
                     float(res.cost), bool(res.success), str(res.message))


# --- host facts ----------------------------------------------------------------------------

def host_facts() -> dict:
    """Cache sizes, clock and SIMD width as the OS reports them (Linux sysfs / cpuinfo)."""
    facts: dict[str, Any] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for idx in sorted(base.glob("index*")) if base.is_dir() else []:
        try:
            level = int((idx / "level").read_text().strip())
            kind = (idx / "type").read_text().strip()
            size = (idx / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        mult = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(size[-1:], 1)
        value = float(size.rstrip("KMG")) * mult
        if kind in ("Data", "Unified"):
            facts[f"l{level}_bytes"] = value
    try:
        text = Path("/proc/cpuinfo").read_text()
        for line in text.splitlines():
            if line.startswith("cpu MHz") and "clock_hz" not in facts:
                facts["clock_hz"] = float(line.split(":")[1]) * 1e6
            if line.startswith("flags") and "simd_width_bits" not in facts:
                flags = set(line.split(":")[1].split())
                facts["simd_width_bits"] = (512 if "avx512f" in flags else 256 if "avx2" in flags
                                            else 128)
                facts["fma"] = "fma" in flags
    except OSError:
        pass
    return facts


def _device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name()
    from codesign.measurement.runner import cpu_name

    return cpu_name()


# --- calibrate -----------------------------------------------------------------------------

class Calibration:
    """One calibration session: checks and host facts at construction, then any number of
    :meth:`run_round` calls (each times every microbenchmark once; they may be interleaved with
    other measurements), then :meth:`finish` fits and writes the spec. :func:`calibrate` is
    the one-shot form."""

    def __init__(self, device: str = "cpu", quick: bool = False, base: str | None = None,
                 threads: int | None = None, clock: str = "wall", allocator: str | None = None,
                 progress: Callable[[str], None] | None = None, seed: int = 0,
                 round_quantile: float = 0.5) -> None:
        import torch

        from codesign.hardware import load_hardware

        from codesign.measurement import allocator as alloc
        from codesign.measurement.runner import check_device, make_timer, torch_threads

        check_device(device)
        make_timer(device, clock)          # validates the clock for the device
        allocator = alloc.configure(allocator)
        if device == "cuda" and base is None:
            raise HardwareError("calibrate --device cuda needs --hw <gpu preset> to start from")
        hw0 = load_hardware(base or "host-cpu")
        if device == "cpu" and hw0.kind != "cpu":
            raise HardwareError(f"base spec {hw0.name!r} is kind {hw0.kind}; calibrate --device "
                                "cpu needs a cpu spec")
        self.device, self.quick, self.threads = device, quick, threads
        self.progress = progress
        self.t_start = time.perf_counter()
        with torch_threads(threads):
            self.n_threads = torch.get_num_threads()
            facts = host_facts() if device == "cpu" else {}
            hw = hw0
            if device == "cpu":
                knobs: dict[str, Any] = {"cores": self.n_threads}
                for k in ("l1_bytes", "l2_bytes", "l3_bytes", "clock_hz", "simd_width_bits"):
                    if k in facts:
                        knobs[k] = facts[k]
                knobs["page_fault_bytes_per_s"] = measure_page_fault_rate(clock)
                knobs["mmap_threshold_bytes"] = alloc.mmap_threshold_bytes(allocator)
                if progress:
                    progress(f"first-touch page faults: "
                             f"{knobs['page_fault_bytes_per_s'] / 1e9:.2f} GB/s")
                hw = hw0.with_knobs(knobs, check=False)
            self.hw = hw
            self.facts = {**facts, "clock": clock, "allocator": allocator}
            benches = [b for b in cpu_benchmarks() if b.quick or not quick]
            self.runner = BenchmarkRunner(benches, device, 0.004 if quick else 0.015, seed, clock,
                                          round_quantile)
            self.facts["round_quantile"] = round_quantile

    def _threads(self):
        import contextlib

        import torch

        @contextlib.contextmanager
        def scope():
            old = torch.get_num_threads()
            if self.threads:
                torch.set_num_threads(int(self.threads))
            try:
                yield
            finally:
                torch.set_num_threads(old)
        return scope()

    def run_round(self) -> None:
        from codesign.measurement.runner import torch_threads

        with torch_threads(self.threads):
            self.runner.run_round()
        if self.progress:
            self.progress(f"round {self.runner.rounds} done")

    def finish(self, out: str | os.PathLike | None = None):
        """Fit the rounds so far and write the spec to ``out`` (None: do not write)."""
        _check_out(out)
        obs = self.runner.observations()
        result = fit(self.hw, obs)
        return _write_spec(self.hw, result, obs, self.device, self.n_threads, self.quick,
                           time.perf_counter() - self.t_start, self.facts, out)


def _check_out(out) -> None:
    from codesign.hardware import PRESET_DIR

    if out is not None and Path(out).resolve().parent == PRESET_DIR.resolve():
        raise HardwareError(f"{out}: calibrate never writes into codesign/hardware/presets/; "
                            "choose another path")
    if out is not None:
        from codesign.results.paths import check_output_file

        check_output_file(out)


def calibrate(device: str = "cpu", out: str | os.PathLike | None = "host.yaml",
              quick: bool = False, base: str | None = None, rounds: int | None = None,
              threads: int | None = None, progress: Callable[[str], None] | None = None,
              clock: str = "wall", allocator: str | None = None, round_quantile: float = 0.5,
              *, published=None, hardware=None, cache=None, limit: int | None = None,
              family=None, lfo: bool = True):
    """Microbenchmark ``device``, fit the spec and write it to ``out`` (None: do not write).

    ``published``: instead of microbenchmarks here, fit ``hardware`` (or ``base``) to a dataset
    of published measurements (:func:`codesign.calibration.published.calibrate_published`, which
    gets ``cache``, ``limit``, ``family``, ``lfo`` and returns a ``PublishedFit`` whose ``spec``
    is the fitted preset).

    ``base``: preset (or YAML) to start from; default ``host-cpu`` on a CPU (required on
    CUDA: the GPU preset of the card). ``clock``: "wall" or "cpu" (process CPU time: robust
    to other processes on a shared host; use with ``threads=1``). ``allocator``: host malloc
    regime (:mod:`codesign.measurement.allocator`) the benchmarks run under; the spec's
    ``cpu.mmap_threshold_bytes`` is set to match, so validate under the same regime.
    ``round_quantile``: which quantile of each benchmark's round times the fit takes
    (:func:`round_statistic`; 0.5, the median, by default). Returns the fitted spec.
    """
    if published is not None:
        from codesign.calibration.published import calibrate_published

        target = hardware or base
        if target is None:
            raise HardwareError("calibrate(published=...) needs hardware=PRESET (the preset to fit)")
        return calibrate_published(published, target, out=out, cache=cache, limit=limit,
                                   family=family, lfo=lfo)
    _check_out(out)
    from codesign.measurement.runner import check_threads

    check_threads(threads)
    from codesign.calibration import stability

    cal = Calibration(device, quick, base, threads, clock, allocator, progress,
                      round_quantile=round_quantile)
    # rounds until the per-benchmark medians stop moving, within a stated limit
    # (codesign/calibration/stability.py); an explicit ``rounds`` runs exactly that many
    lo, hi = (rounds, rounds) if rounds else (stability.ROUNDS_QUICK if quick else stability.ROUNDS_FULL)
    for r in range(hi):
        cal.run_round()
        if r + 1 >= lo and stability.is_stable(cal.runner.samples, r + 1, lo):
            break
    spec = cal.finish(None)
    top = stability.max_cpu_clock_hz() if device == "cpu" else None
    return _with_stability(spec, stability.assess(cal.runner.samples, spec, hi, max_clock_hz=top),
                           out)


def _with_stability(spec, stab, out):
    """``spec`` with ``provenance.stability`` (rounds, spread, warnings), written to ``out``."""
    import yaml

    from codesign.hardware import load_spec_dict

    d = yaml.safe_load(spec.to_yaml())
    d.setdefault("provenance", {})["stability"] = stab.to_dict()
    spec = load_spec_dict(d, file=str(out or "<calibrated>"))
    if out is not None:
        p = spec.provenance
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        header = (f"# Calibrated by `codesign calibrate --device {p['device']}"
                  f"{' --quick' if p['quick'] else ''}` on {p['device_name']} ({p['date']}).\n")
        Path(out).write_text(header + spec.to_yaml(), encoding="utf-8")
    return spec


def _write_spec(hw: HardwareSpec, result: FitResult, obs, device, threads, quick, elapsed, facts, out):
    import torch

    from codesign.hardware import load_spec_dict

    d = hw.to_dict()
    values = dict(result.values)
    clock = _model(hw).write(d, values, threads)     # the values the kind owns
    for path, v in values.items():
        head, _, rest = path.partition(".")
        if head in d and isinstance(d[head], dict):
            d[head][rest] = float(v)
        else:
            d[path] = float(v)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    name = _device_name(device)
    d["name"] = f"{hw.name}-calibrated"
    d["source"] = (f"codesign calibrate --device {device}{' --quick' if quick else ''} on {name}, "
                   f"{now}, torch {str(torch.__version__)}, {threads} thread(s); started from preset "
                   f"{hw.name}")
    d["notes"] = ("Fitted from microbenchmarks only (codesign.calibration.host): dispatch overhead, "
                  "bandwidths, per-class efficiencies and half-efficiency work. Cache sizes, clock and SIMD width as "
                  "the OS reports them. " + str(d.get("notes", "")))[:2000]
    d["provenance"] = {
        "tool": "codesign calibrate", "device": device, "device_name": name,
        "torch_version": str(torch.__version__), "threads": int(threads), "date": now,
        "quick": bool(quick), "elapsed_s": round(elapsed, 1), "base_preset": hw.name,
        "allocator": facts.get("allocator", "system"),
        "host_facts": {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                           else v) for k, v in facts.items()},
        "clock": clock,
        "fit": {
            "method": "scipy least_squares on log(pred/measured), soft_l1, f_scale 0.1",
            "success": result.success, "message": result.message, "cost": result.cost,
            "median_abs_error": round(result.median_abs_error, 4),
            "max_abs_error": round(result.max_abs_error, 4),
            "parameters": {k: float(v) for k, v in result.values.items()},
        },
        "benchmarks": [
            {"name": o.name, "group": o.group, "measured_s": float(f"{o.measured_s:.4g}"),
             "predicted_s": float(f"{result.predicted_s[o.name]:.4g}"),
             "error": round(math.expm1(result.residuals[o.name]), 4),
             "rounds_s": [float(f"{t:.4g}") for t in o.rounds]}
            for o in obs],
    }
    spec = load_spec_dict(d, file=str(out or "<calibrated>"))
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        header = (f"# Calibrated by `codesign calibrate --device {device}"
                  f"{' --quick' if quick else ''}` on {name} ({now}).\n")
        Path(out).write_text(header + spec.to_yaml(), encoding="utf-8")
    return spec


__all__ = [
    "calibrate", "Calibration", "BenchmarkRunner", "round_statistic", "fit", "predict",
    "run_benchmarks", "cpu_benchmarks", "Bench", "Observation", "FitResult", "free_parameters",
    "host_facts",
]
