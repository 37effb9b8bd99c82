"""Host memory allocator regime for measured CPU runs.

PyTorch's CPU allocator takes every tensor from the C library's ``malloc``. With glibc's stock
settings the same forward pass runs 2.5-3x slower and varies between processes, depending on
what the process allocated before (MobileNetV2 at batch 8 on this project's 2-core host:
93-108 ms with memory retained against 244-290 ms stock, ``python benchmarks/cpu_effects.py
allocator``). The reason is glibc's dynamic mmap threshold: a block larger than the largest
block freed so far (capped at 32 MiB) gets fresh ``mmap`` pages, and the heap top is returned
to the OS once more than twice that is free, so many outputs pay a page fault per 4 KiB on
first write, and how many depends on history.

``retain`` sets the thresholds with ``mallopt`` (as ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_TOP_PAD_`` would): blocks below 1 GiB come from the heap
and freed memory stays mapped, which is what caching allocators (jemalloc, tcmalloc; the
allocators PyTorch's CPU performance guides recommend) do. After warm-up no output faults
pages, so timings depend on the op sequence only and the cost model's first-touch term applies
only to outputs of at least :data:`RETAIN_MMAP_THRESHOLD` bytes.

``system`` leaves glibc as it is: the cost model then charges page faults for outputs of at
least 32 MiB (glibc's ``DEFAULT_MMAP_THRESHOLD_MAX``), the steady state after a large free;
smaller outputs that fault because of the process's history are not predictable from the graph.

mallopt settings are process-wide and cannot be undone (a set threshold switches glibc's dynamic
adjustment off), so asking for ``system`` after ``retain`` in one process is an error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

from codesign.errors import MeasureError

ALLOCATORS = ("retain", "system")
#: glibc DEFAULT_MMAP_THRESHOLD_MAX on 64-bit: the dynamic mmap threshold never exceeds it
SYSTEM_MMAP_THRESHOLD = 32 * 2 ** 20
RETAIN_MMAP_THRESHOLD = 2 ** 30
RETAIN_TRIM_THRESHOLD = 2 ** 31 - 1           # mallopt takes a C int
RETAIN_TOP_PAD = 256 * 2 ** 20
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3

# The process's malloc configuration is itself process-global state; this records what was
# applied so that a conflicting later request fails instead of being silently ineffective.
_applied: list[str] = []


def mmap_threshold_bytes(allocator: str) -> float:
    """Smallest block the allocator maps fresh (so its pages fault on first write)."""
    check(allocator)
    return float(RETAIN_MMAP_THRESHOLD if allocator == "retain" else SYSTEM_MMAP_THRESHOLD)


def check(allocator: str) -> str:
    if allocator not in ALLOCATORS:
        from codesign.errors import did_you_mean

        raise MeasureError(f"allocator = {allocator!r}{did_you_mean(allocator, ALLOCATORS)}; "
                           f"allowed: {', '.join(ALLOCATORS)}")
    return allocator


def _libc():
    if platform.system() != "Linux":
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    return lib if hasattr(lib, "mallopt") and hasattr(lib, "gnu_get_libc_version") else None


def configure(allocator: str | None) -> str:
    """Put this process's malloc in the ``allocator`` regime; returns the regime in effect.
    ``None`` changes nothing (the library default: no process-wide side effect) and returns
    the regime already in effect ("retain" once applied in this process, else "system")."""
    if allocator is None:
        return "retain" if "retain" in _applied else "system"
    check(allocator)
    if allocator == "system":
        if "retain" in _applied:
            raise MeasureError("allocator = 'system' requested after 'retain' was applied in this "
                               "process; mallopt settings cannot be undone (run in a new process)")
        return allocator
    if "retain" in _applied:
        return allocator
    lib = _libc()
    if lib is None:
        raise MeasureError("allocator = 'retain' needs glibc (Linux); use allocator = 'system' "
                           "on this platform")
    for param, value in ((_M_MMAP_THRESHOLD, RETAIN_MMAP_THRESHOLD),
                         (_M_TRIM_THRESHOLD, RETAIN_TRIM_THRESHOLD),
                         (_M_TOP_PAD, RETAIN_TOP_PAD)):
        if lib.mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
            raise MeasureError(f"mallopt({param}, {value}) failed; use allocator = 'system'")
    _applied.append("retain")
    return allocator


__all__ = ["ALLOCATORS", "configure", "check", "mmap_threshold_bytes", "SYSTEM_MMAP_THRESHOLD",
           "RETAIN_MMAP_THRESHOLD"]
