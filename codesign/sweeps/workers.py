"""Local worker processes for sweeps that never re-run the caller's script.

``multiprocessing``'s spawn start method imports the parent's ``__main__`` in every child, so a
plain script calling ``codesign.sweep(..., workers=N)`` without ``if __name__ == "__main__":``
ran itself again in every worker and failed there. These workers are started as
``python -m codesign.sweeps.workers``: a fresh interpreter that imports only codesign, reads
pickled jobs from stdin and writes pickled results to stdout (length-prefixed frames), so
the caller's script is never imported, guarded or not.

A worker ends with its parent: on Linux the kernel sends it SIGKILL when the parent dies
(``PR_SET_PDEATHSIG``); everywhere, a watchdog thread exits when the parent's pid changes and
the job loop exits on end of input (the parent's end of the pipe closed).

Protocol (one job at a time per worker): parent -> worker ``("graphs", {key: graph})`` to
cache graphs, ``("job", job_id, task, keys)`` to evaluate :func:`evaluate_chunk`; worker ->
parent ``("ok", job_id, frame)`` or ``("error", job_id, exception_or_text)``.
"""

from __future__ import annotations

import os
import pickle
import selectors
import struct
import subprocess
import sys
import threading
import time
from typing import Any, BinaryIO, Iterator, Mapping, Optional, Sequence

from codesign.errors import CodesignError

class SweepBackendError(CodesignError):
    """Workers or the Dask cluster failed mid-sweep; finished chunks are kept and a rerun of
    the same command resumes (the CLI appends that command to the message)."""


_HEADER = struct.Struct("!Q")
#: worker exit status when the parent went away
_ORPHANED = 75


def _send(fh: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_HEADER.pack(len(data)))
    fh.write(data)
    fh.flush()


def _recv(fh: BinaryIO) -> Any:
    """One frame, or None at end of input."""
    head = fh.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    n = _HEADER.unpack(head)[0]
    data = fh.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


# --------------------------------------------------------------------------- worker side


def _die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` ends (SIGKILL of the parent included)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog covers it
            pass
    if os.getppid() != parent_pid:      # the parent died before prctl took effect
        os._exit(_ORPHANED)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(_ORPHANED)

    threading.Thread(target=watch, name="codesign-parent-watchdog", daemon=True).start()


def worker_main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of a worker process: ``python -m codesign.sweeps.workers PARENT_PID``."""
    argv = sys.argv[1:] if argv is None else argv
    _die_with_parent(int(argv[0]) if argv else os.getppid())
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr               # stray prints must not corrupt the result stream
    from codesign.sweeps.runner import evaluate_chunk

    graphs: dict[str, Any] = {}
    try:
        while True:
            msg = _recv(stdin)
            if msg is None:
                return 0
            if msg[0] == "graphs":
                graphs.update(msg[1])
                continue
            _, job_id, task, keys = msg
            try:
                reply = ("ok", job_id, evaluate_chunk(task, *(graphs[k] for k in keys)))
            except Exception as exc:  # noqa: BLE001 - sent back and raised in the parent
                try:
                    pickle.dumps(exc)
                    reply = ("error", job_id, exc)
                except Exception:  # noqa: BLE001 - an unpicklable exception travels as text
                    reply = ("error", job_id, f"{type(exc).__name__}: {exc}")
            _send(stdout, reply)
    except (BrokenPipeError, KeyboardInterrupt):
        return _ORPHANED


# --------------------------------------------------------------------------- parent side


def _worker_env() -> dict[str, str]:
    """The parent's environment with its import path, so the worker imports the same codesign
    (and the modules of user factories) as the caller."""
    env = dict(os.environ)
    paths = [p if p else os.getcwd() for p in sys.path]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


class _Worker:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codesign.sweeps.workers", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(env), close_fds=True)
        self.has: set[str] = set()
        self.job: Optional[int] = None

    def send(self, obj: Any) -> None:
        _send(self.proc.stdin, obj)


def run_local(tasks: Sequence[Any], graphs: Mapping[str, Any], workers: int) -> Iterator[tuple[Any, Any]]:
    """Evaluate ``tasks`` (ChunkTasks) on ``workers`` processes; yield ``(task, frame)`` as
    each finishes. Closing the generator stops the workers."""
    env = _worker_env()
    pool = [_Worker(env) for _ in range(min(workers, len(tasks)))]
    todo = list(enumerate(tasks))[::-1]
    sel = selectors.DefaultSelector()
    for w in pool:
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)

    def dispatch(w: _Worker) -> None:
        job_id, task = todo.pop()
        missing = {k: graphs[k] for k in task.variants if k not in w.has}
        try:
            if missing:
                w.send(("graphs", missing))
                w.has.update(missing)
            w.send(("job", job_id, task, tuple(task.variants)))
        except (BrokenPipeError, OSError):
            raise _died(w) from None
        w.job = job_id

    try:
        for w in pool:
            if todo:
                dispatch(w)
        busy = sum(w.job is not None for w in pool)
        while busy:
            for key, _ in sel.select():
                w = key.data
                msg = _recv(w.proc.stdout)
                if msg is None:
                    raise _died(w)
                status, job_id, payload = msg
                w.job = None
                busy -= 1
                if status == "error":
                    if isinstance(payload, BaseException):
                        raise payload
                    raise CodesignError(f"a sweep worker failed: {payload}")
                yield tasks[job_id], payload
                if todo:
                    dispatch(w)
                    busy += 1
    finally:
        sel.close()
        for w in pool:
            try:
                w.proc.stdin.close()
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        for w in pool:
            try:
                w.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
            if w.proc.stdout is not None:
                w.proc.stdout.close()


def _died(w: _Worker) -> SweepBackendError:
    try:
        code = w.proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        code = None
    how = f"exit status {code}" if code is not None and code >= 0 else (
        f"signal {-code}" if code is not None else "no exit status")
    return SweepBackendError(f"a sweep worker process died ({how}); finished chunks are kept, "
                         "rerun the same command to resume")


if __name__ == "__main__":
    sys.exit(worker_main())
