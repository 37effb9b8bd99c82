"""A content-hashed on-disk cache of traced graphs.

Tracing imports torch and its compiler stack and walks the model under fake tensors: seconds per
model, which dwarf a vectorized sweep or a simulation. The cache key is the caller's key (a
workload reference with its knobs, input shape and phase) plus a fingerprint of everything that
shapes a trace: the codesign and torch versions and the source of ``codesign/zoo/`` and of the
tracer (``capture/tracer.py``, ``capture/references.py``, ``ir/graph.py``, ``ir/patterns.py``),
so editing a model or the tracer misses. Entries are written atomically; a damaged entry is a
miss; an unwritable location runs without the cache.

The library never picks a location on its own: callers pass a :class:`TraceCache` (or a folder)
explicitly. The CLI passes :func:`default_trace_cache_dir` (``$CODESIGN_TRACE_CACHE``, ``0`` /
``off`` disables; else ``$XDG_CACHE_HOME/codesign/graphs`` or ``~/.cache/codesign/graphs``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import uuid
from pathlib import Path
from typing import Any, Mapping, Optional

_OFF = ("", "0", "off", "no", "false")


def default_trace_cache_dir(environ: Mapping[str, str] | None = None) -> Optional[Path]:
    """The CLI's cache folder from the environment (None when disabled)."""
    env = os.environ if environ is None else environ
    where = env.get("CODESIGN_TRACE_CACHE")
    if where is not None and where.strip().lower() in _OFF:
        return None
    if where:
        return Path(where)
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codesign" / "graphs"


def _version() -> str:
    from codesign import __version__

    return __version__


class TraceCache:
    """Traced graphs by key under ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._fingerprint: Optional[str] = None

    @classmethod
    def of(cls, cache: "TraceCache | str | os.PathLike | None") -> "TraceCache | None":
        """A cache from a cache, a folder, or None (no cache)."""
        if cache is None or isinstance(cache, TraceCache):
            return cache
        return cls(cache)

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            import importlib.metadata

            import codesign.zoo

            h = hashlib.sha256(_version().encode())
            try:
                h.update(importlib.metadata.version("torch").encode())
            except importlib.metadata.PackageNotFoundError:
                pass
            here = Path(__file__).resolve().parent.parent
            files = sorted(Path(codesign.zoo.__file__).resolve().parent.glob("*.py"))
            files += [here / f for f in ("capture/tracer.py", "ir/patterns.py", "ir/graph.py",
                                         "capture/references.py")]
            for f in files:
                if f.is_file():
                    h.update(f.name.encode())
                    h.update(f.read_bytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def path(self, key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_.,=" else "_" for c in key)
        if len(safe) > 120:
            safe = safe[:80] + "-" + hashlib.sha256(key.encode()).hexdigest()[:16]
        return self.root / f"{safe}-{self.fingerprint()}.pkl"

    def get(self, key: str) -> Any:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # noqa: BLE001 - a damaged cache entry is a miss
            return None

    def put(self, key: str, graph: Any) -> None:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(graph, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except OSError:  # a read-only location: run without the cache
            pass


__all__ = ["TraceCache", "default_trace_cache_dir"]
