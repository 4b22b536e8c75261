"""Where the runs of a sweep execute: a local process pool or Ray tasks.

Both hand each run to :func:`execute_run`, which calls :func:`ltxbench.pipeline.run_pipeline`
(the papermill pipeline of ``ltxbench run``) in its own process, and returns a plain dict: the
driver never depends on an exception crossing a process boundary. Both executors expose the same
three calls to the driver: ``submit``, ``wait`` (the outcomes that are ready) and ``cancel``.
Neither schedules anything itself: the process pool and Ray decide where a run goes; the driver
only keeps at most ``slots`` runs in flight, so ``running`` in sweep.json means running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltxbench.run import atomic, folder

log = logging.getLogger("ltxbench")

WORKER_LOG = "worker.log"
RAY_SYSTEM_RETRIES = 2  # a lost worker or node is retried by Ray; the run resumes from its folder


class ExecutorUnavailable(RuntimeError):
    """The executor could not start (Ray missing or unreachable); nothing ran."""


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs; plain data, so it pickles to a process or a Ray node."""

    run_id: str
    base: str
    run_dir: str
    stages: tuple[str, ...]
    overrides: dict[str, Any]
    sweep_context: dict[str, Any]
    gpu: str | None = None


# ---------------------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------------------


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run one combination through the stage pipeline; never raises for a failing run.

    The run's stdout and stderr (the pipeline's progress lines) go to ``RUN_DIR/worker.log``, so
    parallel runs do not interleave on the terminal.
    """
    from ltxbench import pipeline

    if task.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = task.gpu  # inherited by the papermill kernels
    run_dir = Path(task.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _record_sweep_context(run_dir, task)
    started = time.time()
    outcome: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "gpu": task.gpu}
    with open(run_dir / WORKER_LOG, "a", encoding="utf-8") as fh, \
            contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
        print(f"== {folder.now_iso()} sweep run {task.run_id} on {outcome['host']} (pid {outcome['pid']}, gpu {task.gpu})", flush=True)
        try:
            result = pipeline.run_pipeline(task.base, run_dir=run_dir, stages=list(task.stages),
                                           overrides=dict(task.overrides), quiet=True)
        except pipeline.StageFailed as exc:
            print(exc, flush=True)
            outcome.update(status="failed", failed_stage=exc.stage, notebook=str(exc.notebook),
                           error=_stage_error(run_dir, exc.stage) or exc.error.strip().splitlines()[-1])
        except Exception as exc:  # invalid stage order, missing notebook, ...: the run failed, the sweep goes on
            traceback.print_exc()
            outcome.update(status="failed", failed_stage=None, notebook=None, error=f"{type(exc).__name__}: {exc}")
        else:
            outcome.update(status="completed", ran=result.ran, skipped=result.skipped, error=None,
                           failed_stage=None, notebook=None)
    outcome["worker_seconds"] = round(time.time() - started, 2)
    return outcome


def _record_sweep_context(run_dir: Path, task: RunTask) -> None:
    """Put the sweep context into the run's run.json (the pipeline keeps keys it does not own)."""
    state = folder.read_run_json(run_dir)
    state["sweep"] = task.sweep_context
    atomic.atomic_write_json(run_dir / folder.RUN_JSON, state)


def _stage_error(run_dir: Path, stage: str) -> str | None:
    """The concise ``Error: message`` the pipeline recorded for the failed stage."""
    try:
        return folder.read_run_json(run_dir).get("stages", {}).get(stage, {}).get("error")
    except ValueError:
        return None


def failure(exc: BaseException, what: str) -> dict[str, Any]:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return {"status": "failed", "failed_stage": None, "notebook": None,
            "error": f"{what}: {type(exc).__name__}: {first}".rstrip(": ")}


# ---------------------------------------------------------------------------------------
# Local process pool
# ---------------------------------------------------------------------------------------


def visible_gpus() -> list[str]:
    """GPU ids this machine offers: CUDA_VISIBLE_DEVICES when set, else what nvidia-smi lists.

    Asked of nvidia-smi rather than torch so the driver never initialises CUDA itself.
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def _local_worker_init() -> None:
    """Make a pool worker stoppable, and stop it when the driver dies.

    A driver started with SIGINT ignored (``nohup``, ``&`` in a script) passes that on to its
    children, so SIGINT is reset to raise KeyboardInterrupt (papermill then shuts its kernel down
    and the pipeline marks the stage failed). On Linux the worker also gets SIGINT when the driver
    dies, so a killed driver never leaves runs going that a rerun would start a second time.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGINT))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return  # not Linux: the driver's own Ctrl-C handling still stops the workers
    if os.getppid() == 1:  # the driver died before the request took effect
        raise KeyboardInterrupt


@dataclass
class LocalExecutor:
    """A process pool, ``jobs`` runs at a time, one GPU per run where GPUs exist.

    Each run gets a fresh process (``max_tasks_per_child=1``): GPU memory and CUDA_VISIBLE_DEVICES
    never leak from one run to the next. Processes are spawned, not forked, so no driver thread
    or lock is copied into a worker.
    """

    jobs: int | None = None
    gpus: list[str] = field(default_factory=visible_gpus)

    def __post_init__(self) -> None:
        wanted = self.jobs or max(1, len(self.gpus))
        if self.gpus and wanted > len(self.gpus):
            log.warning("--jobs %d but %d GPU(s) visible: one GPU per run, so %d at a time", wanted, len(self.gpus), len(self.gpus))
            wanted = len(self.gpus)
        self.slots = wanted
        self._free = list(self.gpus)
        self._gpu_of: dict[Any, str | None] = {}
        self._pool = self._new_pool()

    def describe(self) -> str:
        where = f"GPUs {','.join(self.gpus)}" if self.gpus else "CPU only"
        return f"local process pool, {self.slots} at a time ({where})"

    def _new_pool(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.slots, mp_context=multiprocessing.get_context("spawn"),
                                   max_tasks_per_child=1, initializer=_local_worker_init)

    def submit(self, task: RunTask) -> Any:
        from concurrent.futures.process import BrokenProcessPool

        gpu = self._free.pop(0) if self._free else None
        task = dataclasses.replace(task, gpu=gpu)
        try:
            future = self._pool.submit(execute_run, task)
        except BrokenProcessPool:  # a worker died (killed, out of memory): the pool is unusable, make another
            self._pool = self._new_pool()
            future = self._pool.submit(execute_run, task)
        self._gpu_of[future] = gpu
        return future

    def wait(self, handles: list[Any], timeout: float = 1.0) -> list[tuple[Any, dict[str, Any]]]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures

        done, _ = wait_futures(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            gpu = self._gpu_of.pop(future, None)
            if gpu is not None:
                self._free.append(gpu)
            try:
                out.append((future, future.result()))
            except BaseException as exc:  # the worker process died or the result could not come back
                out.append((future, failure(exc, "worker process")))
        return out

    def cancel(self, handles: list[Any], grace_s: float = 20.0) -> None:
        """Stop the runs in flight: SIGINT first (papermill shuts its kernel down and the pipeline
        marks the stage failed in run.json), SIGTERM for any worker still alive after ``grace_s``."""
        # The pool has no public way to stop running work; its worker processes are our own
        # children. They are stopped before the pool is shut down: shutdown(wait=False) while
        # workers still run races with the pool's own bookkeeping thread.
        processes = list((getattr(self._pool, "_processes", None) or {}).values())
        for proc in processes:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(proc.pid, signal.SIGINT)
        deadline = time.time() + grace_s
        for proc in processes:
            proc.join(max(0.0, deadline - time.time()))
            if proc.is_alive():
                proc.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


# ---------------------------------------------------------------------------------------
# Ray
# ---------------------------------------------------------------------------------------


class RayExecutor:
    """Each run a Ray task that requests one GPU when the cluster has GPUs (one CPU otherwise).

    ``address`` is passed to ``ray.init`` (``None``: RAY_ADDRESS or a new local instance). Run
    folders are absolute paths: on a multi-node cluster the sweep folder, the checkout (notebooks)
    and the media must be on storage every node sees, at the same path.
    """

    def __init__(self, address: str | None = None, jobs: int | None = None):
        try:
            import ray
        except ImportError as exc:
            raise ExecutorUnavailable("the Ray executor needs the ray package (pip install 'ray>=2.9')") from exc
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            try:
                # Worker output is in each run's worker.log; streaming every kernel's stderr here would drown progress.
                ray.init(address=address, log_to_driver=False)
            except Exception as exc:
                raise ExecutorUnavailable(f"cannot connect to Ray at {address or 'RAY_ADDRESS / a new local instance'}: "
                                          f"{type(exc).__name__}: {exc}") from exc
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        self.slots = jobs or (self.gpus if self.gpus else max(1, cpus))
        self._remote = ray.remote(execute_run)
        self._options = {"num_gpus": 1 if self.gpus else 0, "num_cpus": 1,
                         "max_retries": RAY_SYSTEM_RETRIES, "retry_exceptions": False}
        self._address = address

    def describe(self) -> str:
        where = f"{self.gpus} GPU(s), one per run" if self.gpus else "no GPUs, one CPU per run"
        return f"Ray at {self._address or 'a local instance'}, {self.slots} at a time ({where})"

    def submit(self, task: RunTask) -> Any:
        return self._remote.options(name=f"ltxbench-sweep:{task.run_id}", **self._options).remote(task)

    def wait(self, handles: list[Any], timeout: float = 1.0) -> list[tuple[Any, dict[str, Any]]]:
        ray = self._ray
        ready, _ = ray.wait(handles, num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            try:
                out.append((ref, ray.get(ref)))
            except ray.exceptions.RayError as exc:  # the worker or its node died beyond Ray's retries
                out.append((ref, failure(exc, "Ray task")))
        return out

    def cancel(self, handles: list[Any]) -> None:
        # A KeyboardInterrupt in each task: the pipeline marks its stage failed and papermill stops its kernel.
        for ref in handles:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=False)

    def close(self) -> None:
        if self._owns:
            self._ray.shutdown()


def make_executor(kind: str, jobs: int | None = None, address: str | None = None) -> LocalExecutor | RayExecutor:
    if kind == "local":
        return LocalExecutor(jobs=jobs)
    if kind == "ray":
        return RayExecutor(address=address, jobs=jobs)
    raise ValueError(f"unknown executor {kind!r}: local or ray")
