"""Output paths checked before any work (issue 14, item 3).

``simulate``, ``sweep``, ``calibrate``, ``validate``, ``report`` (and ``demo``, ``reproduce``)
write their results at the end; a path that cannot be written used to fail there, with a
traceback, after seconds to minutes of work. :func:`check_output_file` and
:func:`check_output_dir` run first and raise one :class:`OutputPathError` line naming the
path and what is wrong. They create nothing that stays: whether the folder that would hold
the output accepts a file is probed by creating and deleting a temporary file there
(permission bits do not tell, e.g. for root or on a read-only mount).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

from codesign.errors import CodesignError

PathLike = Union[str, os.PathLike]


class OutputPathError(CodesignError):
    """An output path cannot be written (a file where a folder is needed, no permission...)."""


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and not p.is_symlink():
        if p.parent == p:
            break
        p = p.parent
    return p


def _probe_writable(folder: Path, path: Path, what: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".codesign-probe-", dir=folder)
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise OutputPathError(f"{what} {path}: cannot write into {folder} ({reason})") from None
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:  # pragma: no cover - we just created it
        pass


def _check_ancestors(path: Path, what: str) -> None:
    """The folders above ``path`` exist or can be created, and the nearest existing one is a
    writable folder."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise OutputPathError(f"{what} {path}: {base} is a file, not a folder")
    _probe_writable(base, path, what)


def check_output_file(path: PathLike, what: str = "--out") -> Path:
    """Check that a file can be written at ``path`` (created or replaced); return it."""
    p = Path(path).expanduser()
    if str(path) == "":
        raise OutputPathError(f"{what}: empty path; expected a file name")
    if p.is_dir():
        raise OutputPathError(f"{what} {p}: is a folder; expected a file path")
    if p.exists() and not os.access(p, os.W_OK):
        raise OutputPathError(f"{what} {p}: the file exists and is not writable")
    _check_ancestors(p, what)
    return p


def check_output_dir(path: PathLike, what: str = "--out") -> Path:
    """Check that ``path`` is (or can become) a folder that accepts files; return it."""
    p = Path(path).expanduser()
    if str(path) == "":
        raise OutputPathError(f"{what}: empty path; expected a folder")
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"{what} {p}: is a file; expected a folder")
    if p.is_dir():
        _probe_writable(p, p, what)
    else:
        _check_ancestors(p, what)
    return p


__all__ = ["check_output_file", "check_output_dir", "OutputPathError"]
