"""Host allocator regimes: names, thresholds, the mallopt switch and its one-way rule."""

from __future__ import annotations

import pytest

from codesign.measurement import allocator as alloc
from codesign.errors import MeasureError


def test_thresholds_match_the_regime():
    assert alloc.mmap_threshold_bytes("system") == 32 * 2 ** 20
    assert alloc.mmap_threshold_bytes("retain") == 2 ** 30


def test_unknown_allocator_is_one_line_error():
    with pytest.raises(MeasureError, match=r"allocator = 'retian'.*did you mean 'retain'.*allowed"):
        alloc.check("retian")


class FakeLibc:
    """Stands in for glibc: records the mallopt calls instead of changing this process."""

    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append((param.value, value.value))
        return 1


def test_retain_applies_once_and_blocks_system(monkeypatch):
    lib = FakeLibc()
    monkeypatch.setattr(alloc, "_applied", [])
    monkeypatch.setattr(alloc, "_libc", lambda: lib)
    assert alloc.configure("system") == "system"       # nothing applied: stock glibc
    assert lib.calls == []
    assert alloc.configure("retain") == "retain"
    assert lib.calls == [(-3, 2 ** 30), (-1, 2 ** 31 - 1), (-2, 256 * 2 ** 20)]
    assert alloc.configure("retain") == "retain"       # idempotent: no second mallopt
    assert len(lib.calls) == 3
    with pytest.raises(MeasureError, match="cannot be undone"):
        alloc.configure("system")


def test_retain_without_glibc_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(alloc, "_applied", [])
    monkeypatch.setattr(alloc, "_libc", lambda: None)
    with pytest.raises(MeasureError, match="needs glibc"):
        alloc.configure("retain")


def test_retained_memory_is_not_faulted_again():
    """Under 'retain' freed memory stays mapped: after warm-up a new 64 MiB output reuses
    pages already faulted in (stock glibc maps it fresh and faults every page, every call)."""
    import resource

    import torch

    alloc.configure("retain")
    x = torch.ones(16 * 2 ** 20)
    for _ in range(12):                 # warm-up: the heap reaches its high-water mark
        y = x + 1.0
        del y
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        y = x + 1.0
        del y
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 5 * (64 * 2 ** 20 // 4096) // 10    # far fewer than one per page per call
