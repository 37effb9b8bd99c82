"""Measure the CPU effects the cost model and the measurement harness are built on.

    python benchmarks/cpu_effects.py            # all sections, ~2 min on a 2-core host
    python benchmarks/cpu_effects.py allocator  # one section:
    # allocator | reorders | strided | conv3d | boost | dwkernel | simdtail | l3read

* allocator: MobileNetV2 at batch 8 in fresh processes, under glibc's stock malloc (alone, and
  after two non-local blocks ran in the same process) and under ``--allocator retain``.
  Medians of 10 forwards; the spread between processes is what ``codesign.measurement.allocator`` removes.
* reorders: ResNet-50 at batch 8 (160x160) with ``ONEDNN_VERBOSE=1``: oneDNN's own execution
  times of conv kernels against the layout reorders around them (the cost model's
  ``reorder_s`` and ``weight_s`` terms).
* strided: a 1024-channel depthwise 3x3 conv at 14x14 on a dense input and on a
  ``transpose(1, 2).reshape(...)`` view (the ``gather_s`` term).
* conv3d: GMAC/s of a 1x3x3 conv3d, a 3x3x3 conv3d and the 2-D 3x3 conv of the same frames,
  on one frame (C2D after its temporal pooling) and on four.
* boost: GMAC/s of a 1024^3 GEMM against the peak at the clock the OS reports.
* dwkernel: which oneDNN implementation runs a depthwise conv (``ONEDNN_VERBOSE=1`` in a child
  process) by kernel size, padding, dilation and layout, and its time: ``jit_dw`` (blocked
  NCHW) takes a left padding up to 6 on AVX-512, beyond it ``x64:gemm:jit`` (im2col + GEMM,
  the cost model's ``im2col_s``); channels-last tensors take ``brdgmm_dw`` at any size.
* simdtail: GMAC/s of 1x1 convs on one thread at batch 1 (ATen's native GEMM per image, no
  oneDNN) by the number of output positions ``N = OH x OW``, beside the rate the cost model's
  ``simd_tail_factor`` (``ceil(N / lanes) x lanes / N``) predicts from the 12x12..28x28 rate.
  Process CPU time, best of 5 batches.
* l3read: read bandwidth of a GEMV-shaped bmm (``[B, 256, 3136] x [B, 3136, 1]``, the vector a
  transposed ``[B, 1, 3136]`` view as in GCNet; a contiguous ``[B, 3136, 1]`` one takes a path
  ~15x slower at B > 1 on this project's AMD host, not modelled) and a 1x1
  conv to one channel over the same tensor on one thread, at 3.2 MB (batch 1) .. 25.7 MB (batch
  8): whether a working set below the L3 size the OS reports is read at the L3 rate while other
  processes share the host (print ``uptime`` beside it).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import statistics, sys, time, torch
sys.path.insert(0, {root!r})
from codesign.measurement import allocator
from codesign.zoo import WORKLOADS
if {retain}:
    allocator.configure("retain")
torch.set_num_threads(2)
def run(name, batch, shape=None):
    e = WORKLOADS[name]
    m = e.factory().eval()
    x = torch.randn(batch, *(shape or e.default_input)[1:])
    ts = []
    with torch.no_grad():
        for i in range(13):
            t = time.perf_counter(); m(x); ts.append(time.perf_counter() - t)
    return statistics.median(ts[3:])
for name in {before}:
    run(name, 8)
print(run({name!r}, {batch}, {shape}) * 1e3)
"""


def child(name, batch, shape=None, retain=False, before=(), env=None) -> str:
    code = CHILD.format(root=str(ROOT), retain=retain, before=list(before), name=name,
                        batch=batch, shape=shape)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=True)


def timed(fn, n=30) -> float:
    for _ in range(5):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def allocator() -> None:
    for label, kw in (("stock malloc, fresh process", {}),
                      ("stock malloc, after nl_block + ns_block", {"before": ("nl_block", "ns_block")}),
                      ("retain", {"retain": True}),
                      ("retain, after nl_block + ns_block", {"retain": True,
                                                              "before": ("nl_block", "ns_block")})):
        ms = [float(child("mobilenetv2", 8, **kw).stdout.split()[-1]) for _ in range(2)]
        print(f"mobilenetv2 b8, {label:40s} " + "  ".join(f"{m:7.1f} ms" for m in ms))


def reorders() -> None:
    out = child("resnet50", 8, (1, 3, 160, 160), retain=True, env={"ONEDNN_VERBOSE": "1"})
    rows = [ln.split(",") for ln in out.stdout.splitlines()
            if ln.startswith("onednn_verbose,v1,primitive,exec")]
    last = rows[-len(rows) // 13:]                      # the final forward
    conv = sum(float(r[-1]) for r in last if r[5] == "convolution")
    reorder = sum(float(r[-1]) for r in last if r[5] == "reorder")
    print(f"resnet50 b8 @160, one forward: conv kernels {conv:.1f} ms, reorders {reorder:.1f} ms "
          f"({reorder / conv * 100:.0f}% of the kernel time)")


def strided() -> None:
    import torch

    from codesign.measurement.allocator import configure

    configure("retain")
    torch.set_num_threads(2)
    dw = torch.nn.Conv2d(1024, 1024, 3, 1, 1, groups=1024, bias=False).eval()
    x = torch.randn(1, 1024, 14, 14)
    v = torch.randn(1, 196, 1024).transpose(1, 2).reshape(1, 1024, 14, 14)
    with torch.no_grad():
        a, b = timed(lambda: dw(x)), timed(lambda: dw(v))
    print(f"depthwise 3x3, 1024 ch, 14x14: dense input {a * 1e3:.3f} ms, transposed view "
          f"{b * 1e3:.3f} ms ({b / a:.2f}x)")


def conv3d() -> None:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    for n, c, t, h in ((8, 64, 1, 28), (8, 256, 1, 14), (1, 64, 4, 28), (1, 128, 4, 28),
                       (1, 256, 4, 14)):
        x3, x2 = torch.randn(n, c, t, h, h), torch.randn(n * t, c, h, h)
        w133, w333, w2 = torch.randn(c, c, 1, 3, 3), torch.randn(c, c, 3, 3, 3), torch.randn(c, c, 3, 3)
        macs = n * c * c * 9 * t * h * h
        with torch.no_grad():
            r133 = macs / timed(lambda: F.conv3d(x3, w133, padding=(0, 1, 1))) / 1e9
            r333 = (3 if t > 1 else 1) * macs / timed(lambda: F.conv3d(x3, w333, padding=1)) / 1e9
            r2 = macs / timed(lambda: F.conv2d(x2, w2, padding=1)) / 1e9
        print(f"n{n} c{c} {t}x{h}x{h}: conv3d 1x3x3 {r133:5.1f} GMAC/s, conv3d 3x3x3 {r333:5.1f}, "
              f"2-D 3x3 {r2:5.1f}")


def boost() -> None:
    import torch

    from codesign.calibration.host import host_facts

    torch.set_num_threads(2)
    f = host_facts()
    peak = 2 * 2 * f["simd_width_bits"] / 32 * f["clock_hz"]      # cores x FMA pipes x lanes
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    rate = 1024 ** 3 / timed(lambda: a @ b, n=10)
    print(f"1024^3 GEMM: {rate / 1e9:.1f} GMAC/s = {rate / peak * 100:.0f}% of the peak at the "
          f"reported {f['clock_hz'] / 1e9:.2f} GHz (2 cores, 2 FMA pipes)")


DW_CASES = (  # (batch, channels, size, (kh, kw), dilation, channels_last)
    (1, 128, 56, (7, 7), 1, False), (1, 128, 56, (13, 13), 1, False), (1, 128, 56, (15, 15), 1, False),
    (1, 128, 56, (31, 31), 1, False), (1, 128, 56, (31, 31), 1, True), (1, 512, 14, (13, 13), 1, False),
    (1, 512, 14, (27, 27), 1, False), (1, 512, 14, (27, 27), 1, True), (8, 512, 14, (31, 31), 1, False),
    (1, 128, 28, (5, 5), 3, False), (1, 128, 28, (5, 5), 4, False), (1, 124, 56, (51, 5), 1, False),
    (1, 124, 56, (5, 51), 1, False), (1, 96, 56, (17, 17), 1, False))

DW_CHILD = """
import sys, torch, torch.nn.functional as F
torch.set_num_threads(2)
n, c, h, kh, kw, d, cl = {args}
x, w = torch.randn(n, c, h, h), torch.randn(c, 1, kh, kw)
if cl:
    x, w = (t.contiguous(memory_format=torch.channels_last) for t in (x, w))
with torch.no_grad():
    F.conv2d(x, w, None, 1, (d * (kh - 1) // 2, d * (kw - 1) // 2), d, c)
"""


def dwkernel() -> None:
    import random

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    fns, impl, times = {}, {}, {}
    for case in DW_CASES:
        n, c, h, (kh, kw), d, cl = case
        out = subprocess.run([sys.executable, "-c", DW_CHILD.format(args=(n, c, h, kh, kw, d, cl))], check=False,
                             capture_output=True, text=True, env={**os.environ, "ONEDNN_VERBOSE": "1"})
        rows = [ln.split(",") for ln in out.stdout.splitlines() if ",exec,cpu,convolution," in ln]
        impl[case] = rows[-1][6] if rows else "(not oneDNN)"
        x, w = torch.randn(n, c, h, h), torch.randn(c, 1, kh, kw)
        if cl:
            x, w = (t.contiguous(memory_format=torch.channels_last) for t in (x, w))
        pad = (d * (kh - 1) // 2, d * (kw - 1) // 2)
        fns[case] = (lambda x=x, w=w, pad=pad, d=d, c=c: F.conv2d(x, w, None, 1, pad, d, c))
        times[case] = []
    with torch.no_grad():
        for f in fns.values():
            f()
        for _ in range(7):                    # interleaved rounds; min and median per case
            order = list(fns)
            random.shuffle(order)
            for case in order:
                t = time.perf_counter()
                fns[case]()
                times[case].append(time.perf_counter() - t)
    for case in DW_CASES:
        n, c, h, (kh, kw), d, cl = case
        ts = times[case]
        macs = n * c * h * h * kh * kw
        print(f"n{n} c{c} {h}x{h} {kh}x{kw} dil {d} {'nhwc' if cl else 'nchw'}: {impl[case]:22s} "
              f"min {min(ts) * 1e3:8.2f} ms  median {statistics.median(ts) * 1e3:8.2f} ms  "
              f"{macs / min(ts) / 1e9:6.1f} GMAC/s")


def _cpu_time(fn, batches: int = 5, min_s: float = 0.03) -> float:
    """Best per-call process CPU time over ``batches`` batches of at least ``min_s`` each."""
    fn()
    fn()
    n = 1
    while True:
        t = time.process_time()
        for _ in range(n):
            fn()
        d = time.process_time() - t
        if d > min_s:
            break
        n *= 2
    best = d / n
    for _ in range(batches):
        t = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t) / n)
    return best


def simdtail() -> None:
    import math

    import torch
    import torch.nn.functional as F

    from codesign.calibration.host import host_facts

    torch.set_num_threads(1)
    lanes = int(host_facts()["simd_width_bits"]) // 32
    shapes = ((1, 1), (1, 2), (2, 2), (1, 8), (3, 3), (4, 4), (1, 17), (1, 20), (5, 5), (6, 6),
              (7, 7), (8, 8), (10, 10), (12, 12), (14, 14), (20, 20), (28, 28))
    print(f"fp32 lanes per register: {lanes}")
    for ci, co in ((512, 512), (1024, 256)):
        w = torch.randn(co, ci, 1, 1)
        rates = {}
        with torch.no_grad():
            for h, wd in shapes:
                x = torch.randn(1, ci, h, wd)
                rates[(h, wd)] = ci * co * h * wd / _cpu_time(lambda: F.conv2d(x, w)) / 1e9
        full = statistics.median(rates[s] for s in ((12, 12), (14, 14), (20, 20), (28, 28)))
        print(f"1x1 conv {ci}->{co}, batch 1, 1 thread: full-tile rate {full:.1f} GMAC/s "
              "(median of 12x12..28x28)")
        for (h, wd), r in rates.items():
            n = h * wd
            factor = math.ceil(n / lanes) * lanes / n if n > 1 else 1.0
            print(f"  {h}x{wd} (N {n:4d}): {r:6.1f} GMAC/s = {r / full:.2f} of full; "
                  f"model 1/factor {1 / factor:.2f}")


def l3read() -> None:
    import torch
    import torch.nn.functional as F

    from codesign.calibration.host import host_facts

    torch.set_num_threads(1)
    print(f"L3 as reported: {host_facts()['l3_bytes'] / 2 ** 20:.0f} MiB; load average "
          f"{os.getloadavg()[0]:.1f}")
    w = torch.randn(1, 256, 1, 1)
    with torch.no_grad():
        for b in (1, 2, 4, 8):
            x = torch.randn(b, 256, 56, 56)
            v = torch.randn(b, 1, 3136).transpose(1, 2)   # as GCNet's attn.transpose(1, 2)
            nbytes = x.numel() * 4
            t_bmm = _cpu_time(lambda: torch.bmm(x.view(b, 256, 3136), v))
            t_conv = _cpu_time(lambda: F.conv2d(x, w))
            print(f"batch {b}: {nbytes / 2 ** 20:5.1f} MiB read; bmm {t_bmm * 1e3:7.3f} ms "
                  f"({nbytes / t_bmm / 1e9:5.1f} GB/s), 1x1 conv to 1 channel {t_conv * 1e3:7.3f} ms "
                  f"({nbytes / t_conv / 1e9:5.1f} GB/s)")


SECTIONS = {"allocator": allocator, "reorders": reorders, "strided": strided,
            "conv3d": conv3d, "boost": boost, "dwkernel": dwkernel, "simdtail": simdtail,
            "l3read": l3read}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(SECTIONS):
        if name not in SECTIONS:
            sys.exit(f"unknown section {name!r}; allowed: {', '.join(SECTIONS)}")
        SECTIONS[name]()
