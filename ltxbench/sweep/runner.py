"""The sweep driver: validate everything, decide what to run, keep the executor busy, record it all.

Order of events, so that a problem costs nothing: the sweep file and every combination are
validated (:func:`~ltxbench.sweep.spec.load_sweep`); completed run folders are checked against
the parameters they would get now (a completed run is never overwritten, so a mismatch refuses
the sweep); only then is the sweep folder locked, sweep.json written and the executor started.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ltxbench import errors as P
from ltxbench.run import folder
from ltxbench.sweep.executors import RunTask, make_executor
from ltxbench.sweep.spec import Sweep, SweepError, load_sweep
from ltxbench.sweep.state import SweepState, read_sweep_json, sweep_lock

Echo = Callable[[str], None]


def _print(line: str) -> None:
    print(f"[ltxbench sweep] {line}", flush=True)


@dataclass
class RunPlan:
    to_run: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    failed_kept: list[str] = field(default_factory=list)


@dataclass
class SweepResult:
    sweep: Sweep
    state: dict[str, Any]
    plan: RunPlan
    dry_run: bool = False

    @property
    def sweep_json(self) -> Path:
        return self.sweep.dir / "sweep.json"

    def ids_with(self, status: str) -> list[str]:
        return [r.id for r in self.sweep.runs if self.state.get("runs", {}).get(r.id, {}).get("status") == status]

    @property
    def exit_code(self) -> int:
        """0 when every run of the sweep is completed, 1 otherwise."""
        return 0 if len(self.ids_with("completed")) == len(self.sweep.runs) else 1


def stages_completed(run_state: dict[str, Any], stages: tuple[str, ...]) -> bool:
    return bool(run_state) and all(run_state.get("stages", {}).get(s, {}).get("status") == "completed" for s in stages)


def plan_runs(sweep: Sweep, records: dict[str, dict[str, Any]], retry_failed: bool) -> RunPlan:
    """Which runs to start. The run folder is the truth for completion (sweep.json may lag behind
    a driver that was killed); sweep.json is the truth for a failure the user has not asked to retry."""
    plan = RunPlan()
    conflicts: list[P.Problem] = []
    for run in sweep.runs:
        try:
            state = folder.read_run_json(run.run_dir)
        except ValueError as exc:  # never written half (atomic writes), but a hand edit can break it
            conflicts.append(P.Problem(f"run {run.id}", str(run.run_dir / folder.RUN_JSON), str(exc)))
            continue
        if stages_completed(state, sweep.stages):
            if state.get("params_sha256") == run.params_sha256:
                plan.completed.append(run.id)
            else:
                conflicts.append(P.Problem(f"run {run.id}", str(run.run_dir),
                                           "completed with other parameters (the base file or the sweep changed); a completed "
                                           "run is never overwritten: give the sweep another name or --sweep-dir, or move that folder away"))
        elif records.get(run.id, {}).get("status") == "failed" and not retry_failed:
            plan.failed_kept.append(run.id)
        else:
            plan.to_run.append(run.id)
    if conflicts:
        raise SweepError(conflicts, str(sweep.file))
    return plan


def run_sweep(sweep_file: str | Path, *, executor: str = "local", jobs: int | None = None, address: str | None = None,
              retry_failed: bool = False, sweep_dir: str | Path | None = None, dry_run: bool = False,
              echo: Echo = _print) -> SweepResult:
    """Run every combination of a sweep file as its own run folder ``<sweep_dir>/<run id>/``.

    Raises :class:`SweepError` (nothing ran) for an invalid sweep, :class:`~.state.SweepBusy` when
    another driver runs the same sweep, :class:`~.executors.ExecutorUnavailable` when Ray cannot be
    reached, and re-raises ``KeyboardInterrupt`` after sweep.json marks the runs in flight
    ``interrupted``. A failing run never stops the others.
    """
    sweep = load_sweep(sweep_file, sweep_dir)
    if dry_run:
        plan = plan_runs(sweep, read_sweep_json(sweep.dir).get("runs", {}), retry_failed)
        _describe(sweep, plan, echo, "dry run, nothing started")
        return SweepResult(sweep, read_sweep_json(sweep.dir), plan, dry_run=True)
    with sweep_lock(sweep.dir):
        plan = plan_runs(sweep, read_sweep_json(sweep.dir).get("runs", {}), retry_failed)
        state = SweepState.open(sweep, {"executor": executor, "jobs": jobs, "address": address, "retry_failed": retry_failed})
        for run_id in plan.completed:
            if state.records[run_id].get("status") != "completed":
                state.records[run_id].update(status="completed", error=None, note="found completed in its run folder")
        state.set_status("running" if plan.to_run else state.overall())
        if not plan.to_run:
            _describe(sweep, plan, echo, "nothing to run")
        else:
            _execute(sweep, state, plan, echo, executor, jobs, address)
        state.set_status(state.overall())
        _summarise(sweep, state, echo)
        return SweepResult(sweep, state.data, plan)


def _execute(sweep: Sweep, state: SweepState, plan: RunPlan, echo: Echo, kind: str, jobs: int | None,
             address: str | None) -> None:
    inflight: dict[Any, tuple[str, float]] = {}
    ex = None
    try:
        ex = make_executor(kind, jobs=jobs, address=address)
        _describe(sweep, plan, echo, ex.describe())
        _drive(sweep, state, ex, deque(plan.to_run), inflight, echo)
    except KeyboardInterrupt:
        with _deferred_interrupts():
            _mark_interrupted(state, echo)
            if ex is not None:
                ex.cancel(list(inflight))
        raise
    finally:
        if ex is not None:
            ex.close()


def _drive(sweep: Sweep, state: SweepState, ex: Any, queue: deque[str], inflight: dict[Any, tuple[str, float]],
           echo: Echo) -> None:
    order = {r.id: i + 1 for i, r in enumerate(sweep.runs)}
    total = len(sweep.runs)
    while queue or inflight:
        while queue and len(inflight) < ex.slots:
            run_id = queue.popleft()
            rec = state.records[run_id]
            attempt = int(rec.get("attempts", 0)) + 1
            state.update(run_id, status="running", attempts=attempt, started=folder.now_iso(), ended=None,
                         duration_s=None, error=None, failed_stage=None, notebook=None, note=None)
            inflight[ex.submit(_task(sweep, run_id, attempt))] = (run_id, time.time())
            echo(f"[{order[run_id]}/{total}] {run_id}: running (attempt {attempt})")
        for handle, outcome in ex.wait(list(inflight)):
            run_id, t0 = inflight.pop(handle)
            seconds = round(time.time() - t0, 1)
            state.update(run_id, ended=folder.now_iso(), duration_s=seconds, **_outcome_fields(outcome))
            if outcome["status"] == "completed":
                echo(f"[{order[run_id]}/{total}] {run_id}: completed in {seconds:.0f} s")
            else:
                where = f" at stage {outcome['failed_stage']}" if outcome.get("failed_stage") else ""
                echo(f"[{order[run_id]}/{total}] {run_id}: FAILED{where} after {seconds:.0f} s: {outcome.get('error')}")


def _outcome_fields(outcome: dict[str, Any]) -> dict[str, Any]:
    keep = ("status", "error", "failed_stage", "notebook", "host", "pid", "gpu", "worker_seconds")
    return {k: outcome.get(k) for k in keep}


def _task(sweep: Sweep, run_id: str, attempt: int) -> RunTask:
    run = sweep.run(run_id)
    context = {"name": sweep.name, "file": str(sweep.file), "sha256": sweep.sha256, "dir": str(sweep.dir),
               "run_id": run_id, "overrides": run.overrides, "set": sweep.fixed, "attempt": attempt}
    return RunTask(run_id=run_id, base=str(sweep.base), run_dir=str(run.run_dir), stages=sweep.stages,
                   overrides=run.params_overrides, sweep_context=context)


def _mark_interrupted(state: SweepState, echo: Echo) -> None:
    stopped = [run_id for run_id, rec in state.records.items() if rec.get("status") == "running"]
    for run_id in stopped:
        state.records[run_id].update(status="interrupted", ended=folder.now_iso(),
                                     error="interrupted (Ctrl-C); run the sweep again to resume it")
    state.data["status"] = "interrupted"
    state.write()
    echo(f"interrupted: {len(stopped)} run(s) marked interrupted in {state.path}; run the same command to resume")


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[None]:
    """Hold a second Ctrl-C until sweep.json is written and the workers are told to stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _describe(sweep: Sweep, plan: RunPlan, echo: Echo, how: str) -> None:
    echo(f"{sweep.name}: {len(sweep.runs)} runs, stages {','.join(sweep.stages)}; {len(plan.to_run)} to run, "
         f"{len(plan.completed)} already completed, {len(plan.failed_kept)} failed kept (--retry-failed retries them); {how}")
    echo(f"sweep folder: {sweep.dir}")


def _summarise(sweep: Sweep, state: SweepState, echo: Echo) -> None:
    counts = state.counts()
    echo(f"{sweep.name}: {counts['completed']} completed, {counts['failed']} failed, {counts['pending']} pending "
         f"of {len(sweep.runs)}; status in {state.path}")
    for run in sweep.runs:
        rec = state.records[run.id]
        if rec.get("status") == "failed":
            echo(f"  failed: {run.id}: {rec.get('error')} (log: {run.run_dir / 'worker.log'})")
    if counts["failed"]:
        echo("rerun with --retry-failed to retry the failed runs (completed runs are kept)")
