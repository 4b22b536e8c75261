"""One ordered process-pool map for CPU-bound work that Python threads cannot share (dlib, decoding).

:func:`map_ordered` runs ``fn(item)`` for every item, in worker processes when ``workers`` > 1,
and returns the results in the items' order, so a parallel run writes exactly what a serial run
writes. A progress bar counts finished items. An exception in ``fn`` comes back to the caller as
:class:`WorkerError` naming the item (with the worker's traceback), for serial and parallel runs
alike, so callers handle one error type.

Start method (measured, not assumed): ``fork`` on Linux while torch is not imported, else
``spawn``. Spawned workers import the package and load dlib's models again (~3 s each here, the
68-point predictor alone ~2.3 s), which more than ate the gain on a 10 s video; forked workers
inherit the loaded models and start in milliseconds. Fork copies only the calling thread, and a
forked worker was seen to hang for good in ``cv2.setNumThreads`` (waiting on OpenCV's pool
threads, which the child does not have). So the parent sets OpenCV to one thread just while the
workers are forked (that joins OpenCV's pool: measured 4 -> 3 threads in /proc/self/task) and
restores it after; the children keep one OpenCV thread, as one process per core wants. The other
native threads of a plain curate process belong to OpenBLAS, which re-initialises itself after a
fork. torch's OpenMP pool gives no such promise, so with torch imported the pool spawns.
Workers must not use CUDA (a forked child cannot). ``initializer`` runs once in every worker
(e.g. loading models; a no-op after fork when the parent had loaded them).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from ltxbench.util import progress

T = TypeVar("T")
R = TypeVar("R")

MAX_AUTO_WORKERS = 2
"""``workers=0`` uses at most this many processes: the target machine has 2 cores, and dlib's
models cost ~130 MB per process."""


_BROKEN_POOL = (
    "{desc}: a worker process died before finishing (start method {method}). With spawn, every worker "
    "re-imports the script that started Python: put the script's work under `if __name__ == \"__main__\":` "
    "(notebooks need nothing), or run in this process with workers: 1 (curate.workers / evaluate.workers). "
    "A worker killed for memory looks the same: then use fewer workers.")


class WorkerError(RuntimeError):
    """``fn`` raised on one item. ``item`` is the item's label; ``__cause__`` is the original
    exception when it could be carried back (its traceback text is in the message)."""

    def __init__(self, message: str, item: str) -> None:
        super().__init__(message)
        self.item = item


def resolve_workers(workers: int) -> int:
    """``0``: auto, ``min(MAX_AUTO_WORKERS, cpu count)``; otherwise ``workers`` itself (>= 1)."""
    if workers < 0:
        raise ValueError(f"workers must be >= 0 (0: auto), got {workers}")
    if workers == 0:
        return max(1, min(MAX_AUTO_WORKERS, os.cpu_count() or 1))
    return workers




def _label(item: Any, label: Callable[[Any], str] | None) -> str:
    text = label(item) if label is not None else repr(item)
    return text if len(text) <= 200 else text[:197] + "..."


def start_method() -> str:
    """``fork`` on Linux without torch imported, else ``spawn`` (see module docstring)."""
    return "fork" if sys.platform.startswith("linux") and "torch" not in sys.modules else "spawn"


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this worker when its parent dies (``PR_SET_PDEATHSIG``): a parent killed
    with ``kill -9`` runs no cleanup, and its workers would otherwise live on, parented to PID 1,
    holding their models' memory. If the parent is already gone, exit now."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died between the fork and the prctl
        os._exit(1)


def _start_worker(method: str, initializer: Callable[[], Any] | None, parent_pid: int | None = None) -> None:
    """Worker initializer: die with the parent, one thread per library (see module docstring), then
    ``initializer``."""
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    if method == "spawn":  # after a fork, cv2 is already at one thread (set by the parent)
        try:
            import cv2

            cv2.setNumThreads(1)
        except ImportError:
            pass
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
    if initializer is not None:
        initializer()


@contextlib.contextmanager
def _opencv_single_threaded(active: bool) -> Iterator[None]:
    """OpenCV at one thread (its pool joined) while ``active``; the previous setting after."""
    cv2 = sys.modules.get("cv2") if active else None
    if cv2 is None:
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _call(fn: Callable[[T], R], item: T, index: int) -> tuple[int, bool, Any]:
    """Run one item in a worker; an exception is returned (not raised) with its traceback text, so
    the parent can name the item even when the exception itself does not pickle."""
    try:
        return index, True, fn(item)
    except BaseException as exc:  # noqa: BLE001 -- carried to the parent and re-raised there
        text = traceback.format_exc()
        try:
            import pickle

            pickle.dumps(exc)
            carried: BaseException | None = exc
        except Exception:  # noqa: BLE001 -- an unpicklable exception travels as text only
            carried = None
        return index, False, (carried, text)


def _raise(desc: str, item_text: str, carried: BaseException | None, text: str) -> None:
    message = f"{desc}: failed on {item_text}: {type(carried).__name__ if carried else 'error'}: {carried}"
    raise WorkerError(f"{message}\n--- worker traceback ---\n{text}", item_text) from carried


class WorkerPool:
    """Worker processes reused by several :meth:`map` calls; a context manager.

    ``workers``: 0 auto (``min(2, CPU count)``), 1 in this process (no pool, nothing pickled),
    n > 1 that many processes, started on the first map that has more than one item.
    ``initializer()`` runs once in every worker process (not in the serial path).
    """

    def __init__(self, workers: int = 0, initializer: Callable[[], Any] | None = None) -> None:
        self.workers = resolve_workers(workers)
        self.initializer = initializer
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[T], R], items: Iterable[T], desc: str = "work", unit: str = "it",
            label: Callable[[T], str] | None = None) -> list[R]:
        """``[fn(item) for item in items]`` in order; see :func:`map_ordered`."""
        seq: Sequence[T] = list(items)
        if self.workers == 1 or len(seq) <= 1:
            return _serial(fn, seq, desc, unit, label)
        method = start_method()
        fresh = self._pool is None
        if fresh:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method),
                                             initializer=_start_worker, initargs=(method, self.initializer, os.getpid()))
        results: list[Any] = [None] * len(seq)
        failures: dict[int, tuple[BaseException | None, str]] = {}
        bar = progress.counter(len(seq), desc=desc, unit=unit)
        try:
            # With fork, Python starts every worker at the first submit: OpenCV is single-threaded then.
            with _opencv_single_threaded(fresh and method == "fork"):
                first = self._pool.submit(_call, fn, seq[0], 0)
            pending = {first} | {self._pool.submit(_call, fn, item, i) for i, item in enumerate(seq) if i > 0}
            while pending and not failures:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    try:
                        index, ok, value = future.result()  # raises only if the pool itself broke
                    except BrokenProcessPool as exc:
                        raise RuntimeError(_BROKEN_POOL.format(desc=desc, method=method)) from exc
                    bar.update(1)
                    if ok:
                        results[index] = value
                    else:
                        failures[index] = value
            for future in pending:
                future.cancel()
            wait(pending)
        finally:
            bar.close()
        if failures:
            first = min(failures)
            _raise(desc, _label(seq[first], label), *failures[first])
        return results


def _serial(fn: Callable[[T], R], seq: Sequence[T], desc: str, unit: str, label: Callable[[T], str] | None) -> list[R]:
    out = []
    for i, item in enumerate(progress.bar(seq, desc=desc, unit=unit)):
        _, ok, value = _call(fn, item, i)
        if not ok:
            _raise(desc, _label(item, label), *value)
        out.append(value)
    return out


def map_ordered(fn: Callable[[T], R], items: Iterable[T], workers: int = 0, desc: str = "work", unit: str = "it",
                label: Callable[[T], str] | None = None, initializer: Callable[[], Any] | None = None) -> list[R]:
    """``[fn(item) for item in items]``, in ``workers`` processes (0: auto; 1: in this process).

    ``fn``, the items and the results must pickle (``fn`` a module-level function or a
    ``functools.partial`` of one). ``label(item)`` names an item in errors (default ``repr``).
    The first failing item in the items' order (among those that ran) is raised as
    :class:`WorkerError`; items not yet started are cancelled. One pool per call: to map twice,
    use :class:`WorkerPool`.
    """
    with WorkerPool(workers, initializer) as pool:
        return pool.map(fn, items, desc=desc, unit=unit, label=label)
