"""Measured runs of a real PyTorch model: end-to-end latency and per-op times.

``measure(model, *inputs, device="cpu")`` times ``warmup`` + ``repeat`` forward passes under
``torch.no_grad()`` and returns a frozen :class:`Measurement` (median, p10/p90, quartiles,
thread count, device and torch version). On CUDA each pass is timed with CUDA events around
the forward and a synchronize (optionally replaying a captured CUDA graph). The timing source
is injectable (``timer=``): tests drive the CUDA path's logic on a CPU with a fake timer.

Per-op times come from ``torch.profiler``: every module's forward is wrapped in a
``record_function("codesign.module::<path>")`` range, the model is traced with
:func:`codesign.trace`, and within each module the traced ops are matched, in order, to the
profiler's aten events of the same name (:func:`match_ops`). Ops with no event and profiler
events with no traced op are listed, never dropped silently.
"""

from __future__ import annotations

import contextlib
import math
import platform
import statistics
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from codesign.errors import CodesignError, MeasureError
from codesign.types import DType

DEVICES = ("cpu", "cuda")
MEASURE_DTYPES = ("fp32", "tf32", "fp16", "bf16")
MODULE_MARK = "codesign.module::"
#: profiler events that never cost anything worth listing as unmatched (views and metadata)
VIEW_EVENTS = frozenset({
    "view", "reshape", "_reshape_alias", "t", "transpose", "flatten", "expand", "as_strided",
    "permute", "select", "slice", "unsqueeze", "squeeze", "detach", "empty", "empty_like",
    "empty_strided", "contiguous", "unflatten", "chunk", "split", "split_with_sizes",
    "narrow", "unbind", "alias", "lift_fresh", "resolve_conj", "resolve_neg", "dropout",
    "_nnpack_available", "to", "expand_as", "view_as", "_unsafe_view", "movedim", "size",
    "numel", "result_type", "is_nonzero", "item", "_local_scalar_dense", "stride",
})


# --- timers --------------------------------------------------------------------------------

class CpuTimer:
    """Wall-clock timer: ``time.perf_counter`` around the call (the CPU runs synchronously)."""

    device = "cpu"

    def synchronize(self) -> None:
        pass

    def start(self):
        import time

        return time.perf_counter()

    def stop(self, token) -> float:
        import time

        return time.perf_counter() - token

    def graph(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        raise MeasureError("cuda_graphs=True needs device='cuda'")

    def name(self) -> str:
        return cpu_name()


class ProcessTimer(CpuTimer):
    """CPU time of this process (``time.process_time``) around the call: time spent waiting
    for a core while other processes run is not counted. On a shared, oversubscribed host this
    is the contention-robust clock for single-threaded runs; with N threads it sums their CPU
    time (spin-waits included), so use it with ``threads=1``."""

    def start(self):
        import time

        return time.process_time()

    def stop(self, token) -> float:
        import time

        return time.process_time() - token


CLOCKS = ("wall", "cpu")


def check_device(device: str, need_gpu: bool = True) -> str:
    """``device`` if it is one we measure on (and, with ``need_gpu``, a CUDA GPU is present
    when it is "cuda"); else a one-line :class:`MeasureError`."""
    if device not in DEVICES:
        from codesign.errors import did_you_mean

        raise MeasureError(f"device = {device!r}{did_you_mean(device, DEVICES)}; allowed: "
                           f"{', '.join(DEVICES)}")
    if need_gpu and device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise MeasureError("device 'cuda' requested but no CUDA GPU is available "
                               "(torch.cuda.is_available() is False)")
    return device


def check_threads(n) -> None:
    """``threads`` is None (torch's setting) or a positive integer; anything else is one line."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise MeasureError(f"threads = {n!r}; expected a positive integer (torch intra-op threads)")


@contextlib.contextmanager
def torch_threads(n: int | None):
    """torch's intra-op thread count set to ``n`` inside the block (None: unchanged), then
    restored."""
    import torch

    check_threads(n)
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def make_timer(device: str, clock: str = "wall"):
    """The default timing source for ``device``: wall clock (CPU), CUDA events (GPU), or
    process CPU time with ``clock="cpu"`` (CPU only)."""
    if clock not in CLOCKS:
        raise MeasureError(f"clock = {clock!r}; allowed: {', '.join(CLOCKS)}")
    if clock == "cpu":
        if device != "cpu":
            raise MeasureError("clock 'cpu' (process CPU time) applies to device 'cpu' only")
        return ProcessTimer()
    return None


class CudaEventTimer:
    """CUDA events recorded on the current stream around the call; ``stop`` synchronizes."""

    device = "cuda"

    def synchronize(self) -> None:
        import torch

        torch.cuda.synchronize()

    def start(self):
        import torch

        ev = torch.cuda.Event(enable_timing=True)
        ev.record()
        return ev

    def stop(self, token) -> float:
        import torch

        end = torch.cuda.Event(enable_timing=True)
        end.record()
        end.synchronize()
        return token.elapsed_time(end) / 1e3

    def graph(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Capture ``fn`` into a CUDA graph (after a side-stream warm-up) and return its replay."""
        import torch

        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        return g.replay

    def name(self) -> str:
        import torch

        return torch.cuda.get_device_name()


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


# --- results -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class OpTime:
    """One traced op with its measured time (NaN when no profiler event matched it)."""

    index: int
    name: str
    module: str
    kind: str
    variant: str
    aten: str
    measured_s: float
    matched: bool


OP_TIME_COLUMNS = ("index", "name", "module", "kind", "variant", "aten", "measured_s", "matched")


@dataclass(frozen=True)
class Measurement:
    """A measured run. ``times_s`` are the individual timed passes (seconds)."""

    latency_s: float
    times_s: tuple[float, ...]
    p10_s: float
    p90_s: float
    q1_s: float
    q3_s: float
    warmup: int
    repeats: int
    threads: int
    device: str
    device_name: str
    torch_version: str
    dtype: str
    cuda_graphs: bool = False
    allocator: str = "system"
    ops: tuple[OpTime, ...] = ()
    unmatched: tuple[str, ...] = ()
    graph: Any = field(default=None, compare=False, repr=False)

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    @property
    def spread(self) -> float:
        """(p90 - p10) / median: the relative run-to-run spread."""
        return (self.p90_s - self.p10_s) / self.latency_s if self.latency_s > 0 else 0.0

    @property
    def matched_fraction(self) -> float:
        return sum(o.matched for o in self.ops) / len(self.ops) if self.ops else 0.0

    def summary(self) -> dict:
        return {
            "latency_s": self.latency_s, "p10_s": self.p10_s, "p90_s": self.p90_s,
            "iqr_s": self.iqr_s, "repeats": self.repeats, "warmup": self.warmup,
            "threads": self.threads, "device": self.device, "device_name": self.device_name,
            "torch_version": self.torch_version, "dtype": self.dtype,
            "cuda_graphs": self.cuda_graphs, "ops": len(self.ops),
            "matched_ops": sum(o.matched for o in self.ops), "unmatched_events": len(self.unmatched),
        }

    def to_frame(self):
        """Per-op measured times (one row per traced op; ``matched`` False where none)."""
        import pandas as pd

        return pd.DataFrame([{c: getattr(o, c) for c in OP_TIME_COLUMNS} for o in self.ops],
                            columns=list(OP_TIME_COLUMNS))


def quantile(xs: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of ``xs`` (numpy's default method)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# --- op matching ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ProfEvent:
    """A profiler aten event, flattened: ``parent`` indexes the enclosing aten event (-1 none)."""

    name: str          # without the "aten::" prefix and overload
    module: str        # innermost codesign.module range
    time_s: float      # inclusive time (device time on CUDA)
    parent: int = -1


def base_name(aten: str) -> str:
    """'aten::add.Tensor' -> 'add'; 'aten::relu_' -> 'relu_'."""
    name = aten.split("::", 1)[-1]
    return name.split(".", 1)[0]


def match_ops(traced: Sequence[tuple[str, str]], events: Sequence[ProfEvent]):
    """Align traced ops ``(module, aten name)`` with profiler ``events`` of one forward pass.

    Per module, in execution order: each traced op takes the next unclaimed event of its
    name in that module that is not nested inside an already claimed event (a composite's
    children belong to it). Returns ``(match, unmatched)``: ``match[i]`` is the event index
    for traced op ``i`` or -1; ``unmatched`` lists the top-level events (no aten parent) that
    no traced op claimed and that do not enclose a claimed event, as 'module/name'.
    """
    by_module: dict[str, list[int]] = {}
    for j, e in enumerate(events):
        by_module.setdefault(e.module, []).append(j)
    claimed: set[int] = set()
    cursor: dict[str, int] = {}
    match = [-1] * len(traced)

    def inside_claimed(j: int) -> bool:
        p = events[j].parent
        while p >= 0:
            if p in claimed:
                return True
            p = events[p].parent
        return False

    for i, (module, aten) in enumerate(traced):
        name = base_name(aten)
        cands = by_module.get(module, [])
        k = cursor.get(module, 0)
        while k < len(cands):
            j = cands[k]
            if j not in claimed and events[j].name == name and not inside_claimed(j):
                match[i] = j
                claimed.add(j)
                cursor[module] = k + 1
                break
            k += 1
    encloses: set[int] = set()
    for j in claimed:
        p = events[j].parent
        while p >= 0:
            encloses.add(p)
            p = events[p].parent
    unmatched = [f"{events[j].module or '<root>'}/{events[j].name}" for j in range(len(events))
                 if events[j].parent < 0 and j not in claimed and j not in encloses
                 and events[j].name not in VIEW_EVENTS]
    return match, unmatched


def _flatten_profile(prof, device: str) -> list[ProfEvent]:
    """Profiler events -> aten ProfEvents with module attribution and aten parents."""
    raw = [e for e in prof.events() if e.name.startswith("aten::") or e.name.startswith(MODULE_MARK)]
    raw.sort(key=lambda e: (e.time_range.start, -e.time_range.end))
    out: list[ProfEvent] = []
    pos: dict[int, int] = {}
    for e in raw:
        if not e.name.startswith("aten::"):
            continue
        module, parent, p = "", -1, e.cpu_parent
        while p is not None:
            if p.name.startswith(MODULE_MARK):
                module = p.name[len(MODULE_MARK):]
                break
            if parent < 0 and p.name.startswith("aten::") and id(p) in pos:
                parent = pos[id(p)]
            p = p.cpu_parent
        if device == "cuda":
            t = float(getattr(e, "device_time_total", 0.0) or getattr(e, "cuda_time_total", 0.0))
        else:
            t = float(e.cpu_time_total)
        pos[id(e)] = len(out)
        out.append(ProfEvent(base_name(e.name), module, t * 1e-6, parent))
    return out


def profile_ops(model, inputs: Sequence[Any], graph, device: str = "cpu", runs: int = 3,
                run: Callable[[], Any] | None = None):
    """Per-op times of ``graph``'s forward ops: median over ``runs`` profiled passes.
    Returns ``(ops, unmatched)`` as stored on :class:`Measurement`."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from codesign.ir.graph import Phase

    fwd = [op for op in graph.ops if op.phase is Phase.FORWARD]
    traced = [(op.module, op.aten) for op in fwd]
    stack: list = []
    handles = []
    for mname, mod in model.named_modules():
        def pre(_m, _a, _n=mname):
            rf = torch.autograd.profiler.record_function(MODULE_MARK + _n)
            rf.__enter__()
            stack.append(rf)

        def post(_m, _a, _o):
            if stack:
                stack.pop().__exit__(None, None, None)

        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    per_op: list[list[float]] = [[] for _ in fwd]
    unmatched: list[str] = []
    fn = run or (lambda: model(*inputs))
    try:
        for r in range(max(1, runs)):
            with torch.no_grad(), profile(activities=acts) as prof:
                fn()
                if device == "cuda":
                    torch.cuda.synchronize()
            events = _flatten_profile(prof, device)
            match, unm = match_ops(traced, events)
            for i, j in enumerate(match):
                if j >= 0:
                    per_op[i].append(events[j].time_s)
            if r == 0:
                unmatched = unm
    finally:
        for h in handles:
            h.remove()
        while stack:
            stack.pop().__exit__(None, None, None)
    ops = tuple(
        OpTime(op.index, op.name, op.module, op.kind.value, op.variant, op.aten,
               statistics.median(ts) if ts else float("nan"), bool(ts))
        for op, ts in zip(fwd, per_op))
    return ops, tuple(unmatched)


# --- measure -------------------------------------------------------------------------------

def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _to_device(obj, device, dtype=None):
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(o, device) for o in obj)
    return obj


def _inputs(inputs: Sequence[Any]):
    """Tensors pass through; shapes (tuples of ints) become ``torch.randn`` inputs."""
    import torch

    out = []
    for x in inputs:
        if isinstance(x, torch.Tensor):
            out.append(x)
        elif isinstance(x, (tuple, list, torch.Size)) and x and all(
                isinstance(s, int) and s > 0 for s in x):
            out.append(torch.randn(tuple(x)))
        else:
            raise MeasureError(f"measure inputs must be tensors or shapes (tuples of positive "
                               f"ints), got {x!r:.60}")
    return out


def _autocast(device: str, dtype: str):
    import contextlib

    import torch

    if dtype in (DType.FP16, DType.BF16):
        return torch.autocast(device_type=device,
                              dtype=torch.float16 if dtype == DType.FP16 else torch.bfloat16)
    return contextlib.nullcontext()


def measure(model, *inputs, device: str = "cpu", dtype: str = "fp32", warmup: int = 5,
            repeat: int = 20, cuda_graphs: bool = False, timer=None, per_op: bool = True,
            profile_runs: int = 3, threads: int | None = None, clock: str = "wall",
            allocator: str | None = None) -> Measurement:
    """Time ``model(*inputs)`` on ``device`` (see module docstring).

    ``dtype``: fp32 | tf32 (CUDA matmul/conv in TF32) | fp16 | bf16 (autocast, "AMP").
    ``timer``: the timing source (``start()/stop(token)/synchronize()/graph(fn)/name()`` and a
    ``device`` attribute naming where tensors go); default ``CpuTimer`` on CPU and
    ``CudaEventTimer`` on CUDA. ``per_op``: also trace the model and profile per-op times.
    ``threads``: torch intra-op threads for the run (default: torch's current setting).
    ``clock``: "wall" or "cpu" (process CPU time, see :class:`ProcessTimer`; CPU only).
    ``allocator``: host malloc regime, "retain" or "system" (:mod:`codesign.measurement.allocator`; it
    changes how much a CPU run pays for page faults, so it is recorded in the result); None (the
    default) leaves the process's malloc as it is. The CLI passes "retain".
    """
    import torch

    check_device(device, need_gpu=False)
    if dtype not in MEASURE_DTYPES:
        raise MeasureError(f"dtype = {dtype!r}; measured runs allow: {', '.join(MEASURE_DTYPES)}")
    if warmup < 0 or repeat < 1:
        raise MeasureError(f"warmup = {warmup}, repeat = {repeat}; need warmup >= 0, repeat >= 1")
    if not isinstance(model, torch.nn.Module):
        raise MeasureError(f"measure expects an nn.Module, got {type(model).__name__}")
    if not inputs:
        raise MeasureError("measure needs at least one input tensor or shape")
    from codesign.measurement import allocator as alloc

    allocator = alloc.configure(allocator)
    if timer is None:
        timer = make_timer(device, clock)
    if timer is None:
        if device == "cuda":
            check_device(device)
            timer = CudaEventTimer()
        else:
            timer = CpuTimer()
    if cuda_graphs and device != "cuda":
        raise MeasureError("cuda_graphs=True needs device='cuda'")
    if dtype == DType.TF32 and device != "cuda":
        raise MeasureError("dtype 'tf32' is a CUDA mode; on cpu use fp32")
    target = getattr(timer, "device", device)
    xs = _inputs(inputs)
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    with torch_threads(threads), _restoring_tf32(tf32):
        model = model.eval().to(target)
        xs = _to_device(xs, target)
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = dtype == DType.TF32
            torch.backends.cudnn.allow_tf32 = dtype == DType.TF32

        def forward():
            with _autocast(target, dtype):
                return model(*xs)

        try:
            with torch.no_grad():
                forward()                      # fails fast, before any timing
                fn = timer.graph(forward) if cuda_graphs else forward
                for _ in range(warmup):
                    fn()
                timer.synchronize()
                times = []
                for _ in range(repeat):
                    tok = timer.start()
                    fn()
                    times.append(float(timer.stop(tok)))
        except CodesignError:
            raise
        except Exception as exc:
            raise MeasureError(f"model failed at run time on {device}: {_one_line(exc)}") from None
        ops: tuple = ()
        unmatched: tuple = ()
        graph = None
        if per_op:
            from codesign.capture.tracer import trace

            graph = trace(model, *xs)
            try:
                ops, unmatched = profile_ops(model, xs, graph, device=device, runs=profile_runs,
                                             run=forward)
            except CodesignError:
                raise
            except Exception as exc:
                raise MeasureError(f"profiling failed on {device}: {_one_line(exc)}") from None
        n_threads = torch.get_num_threads()
    return Measurement(
        latency_s=statistics.median(times), times_s=tuple(times),
        p10_s=quantile(times, 0.1), p90_s=quantile(times, 0.9), q1_s=quantile(times, 0.25),
        q3_s=quantile(times, 0.75), warmup=warmup, repeats=repeat, threads=n_threads,
        device=device, device_name=str(timer.name()), torch_version=str(torch.__version__),
        dtype=dtype, cuda_graphs=cuda_graphs, allocator=allocator, ops=ops, unmatched=unmatched,
        graph=graph)


@contextlib.contextmanager
def _restoring_tf32(saved):
    import torch

    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# --- CLI -----------------------------------------------------------------------------------


__all__ = ["measure", "Measurement", "OpTime", "match_ops", "ProfEvent", "profile_ops",
           "CpuTimer", "ProcessTimer", "CudaEventTimer", "make_timer"]
