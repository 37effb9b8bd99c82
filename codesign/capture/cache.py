"""On-disk cache of traced graphs, keyed by content: an explicit object the caller creates
with a folder (never a hidden default of the library). The CLI passes
:func:`default_trace_cache_dir`: ``$CODESIGN_TRACE_CACHE`` (``0``/``off`` disables), else
``$XDG_CACHE_HOME/codesign/graphs`` or ``~/.cache/codesign/graphs``.

The key covers the workload reference, its knobs, the input shape (with batch), the phase and
optimizer, plus a fingerprint of what shapes a trace: the codesign version, the sources of the
tracer, IR, pattern and reference code, the versions of torch, timm and torchvision, and -- for
zoo workloads only -- the sources of ``codesign/zoo`` (a hub model does not depend on the zoo,
so adding a zoo entry keeps the hub traces). Failures are cached too (as their one-line reason), so a rerun over a
few hundred models does not retrace what cannot be traced; ``retry_failures=True`` ignores
them. User factories (``file.py:factory``) are not cached: what they import is unknown.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import uuid
from collections.abc import Mapping
from pathlib import Path


_OFF = ("", "0", "off", "no", "false")


def default_trace_cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The CLI's cache folder from the environment (None when disabled)."""
    env = os.environ if environ is None else environ
    where = env.get("CODESIGN_TRACE_CACHE")
    if where is not None and where.strip().lower() in _OFF:
        return None
    if where:
        return Path(where)
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "codesign" / "graphs"


def _versions() -> str:
    import importlib.metadata as md

    out = []
    for pkg in ("torch", "timm", "torchvision"):
        try:
            out.append(f"{pkg}={md.version(pkg)}")
        except md.PackageNotFoundError:
            out.append(f"{pkg}=-")
    return ";".join(out)


def trace_fingerprint(zoo: bool = True) -> str:
    """Hash of everything (code and library versions) a traced graph depends on; ``zoo=False``
    for hub models (the zoo sources left out)."""
    import codesign

    root = Path(codesign.__file__).resolve().parent
    h = hashlib.sha256(getattr(codesign, "__version__", "").encode())
    h.update(_versions().encode())
    files = sorted((root / "zoo").glob("*.py")) if zoo else []
    files += [root / f for f in ("capture/tracer.py", "capture/references.py", "capture/hub.py",
                                 "ir/graph.py", "ir/patterns.py")]
    for f in files:
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


class TraceCache:
    """``get``/``put`` traced OpGraphs (pickles) and failures (JSON) under ``root``."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self._fingerprints: dict[bool, str] = {}

    @classmethod
    def of(cls, cache: "TraceCache | str | os.PathLike | None") -> "TraceCache | None":
        """A cache from a cache, a folder, or None (no cache)."""
        if cache is None or isinstance(cache, TraceCache):
            return cache
        return cls(cache)

    def fingerprint(self, workload: str = "") -> str:
        """The code/version fingerprint that applies to ``workload`` (hub or zoo)."""
        from codesign.capture.hub import is_hub_reference

        zoo = not is_hub_reference(workload)
        if zoo not in self._fingerprints:
            self._fingerprints[zoo] = trace_fingerprint(zoo)
        return self._fingerprints[zoo]

    @staticmethod
    def cacheable(workload: str) -> bool:
        from codesign.capture.hub import is_hub_reference

        return is_hub_reference(workload) or ":" not in workload

    def key(self, workload: str, input_shape, phase: str = "inference",
            optimizer: str | None = None, knobs: Mapping | None = None) -> str:
        text = json.dumps([workload, [int(s) for s in input_shape], phase, optimizer,
                           sorted((str(k), repr(v)) for k, v in (knobs or {}).items())])
        digest = hashlib.sha256(text.encode()).hexdigest()[:24]
        return f"{self.fingerprint(workload)}/{digest}"

    def _path(self, key: str, suffix: str) -> Path:
        return self.root / f"{key}{suffix}"

    def get(self, key: str):
        """The cached graph, or None on a miss (a damaged entry is a miss)."""
        path = self._path(key, ".pkl")
        if not path.is_file():
            return None
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # noqa: BLE001
            return None

    def get_failure(self, key: str) -> str | None:
        path = self._path(key, ".failed.json")
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())["reason"]
        except Exception:  # noqa: BLE001
            return None

    def _write(self, path: Path, write) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
            write(tmp)
            os.replace(tmp, path)
        except OSError:  # read-only or full disk: run without caching
            pass

    def put(self, key: str, graph) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                pickle.dump(graph, fh, protocol=pickle.HIGHEST_PROTOCOL)

        self._write(self._path(key, ".pkl"), write)

    def put_failure(self, key: str, reason: str) -> None:
        self._write(self._path(key, ".failed.json"),
                    lambda tmp: tmp.write_text(json.dumps({"reason": reason})))


__all__ = ["TraceCache", "trace_fingerprint", "default_trace_cache_dir"]
