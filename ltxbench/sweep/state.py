"""``runs/<sweep>/sweep.json``: the status of every run of a sweep, written atomically after every change.

Only the driver (the ``ltxbench sweep`` process) writes it; workers write their own run folders.
A lock file keeps a second driver off the same sweep folder. Run statuses:

* ``pending``: not started (yet);
* ``running``: handed to the executor;
* ``completed``: every stage of the sweep completed;
* ``failed``: a stage or the worker failed; ``error``, ``failed_stage`` and ``notebook`` say why;
* ``interrupted``: the sweep was stopped (Ctrl-C) while the run was going; rerun to resume it.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator

from ltxbench.errors import Problem
from ltxbench.run import atomic, folder, lock
from ltxbench.sweep.spec import Sweep, SweepError

SWEEP_JSON = "sweep.json"
LOCK_FILE = ".sweep.lock"
RUN_STATUSES = ("pending", "running", "completed", "failed", "interrupted")


class SweepBusy(RuntimeError):
    """Another driver holds the sweep folder's lock."""


class SweepState:
    """sweep.json in memory; every mutation is written through atomically."""

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data

    @classmethod
    def open(cls, sweep: Sweep, settings: dict[str, Any]) -> "SweepState":
        """Load sweep.json (or start it), refresh the header, add a pending record for each new run.

        Records of runs that are no longer in the sweep file are kept (history is never dropped)
        but not counted.
        """
        path = sweep.dir / SWEEP_JSON
        data = read_sweep_json(sweep.dir)
        data.setdefault("created", folder.now_iso())
        data.update({
            "sweep": sweep.name,
            "description": sweep.description,
            "sweep_file": str(sweep.file),
            "sweep_sha256": sweep.sha256,
            "base": str(sweep.base),
            "stages": list(sweep.stages),
            "set": sweep.fixed,
            "keys": list(sweep.keys),
            "sweep_dir": str(sweep.dir),
            **settings,
        })
        records = data.setdefault("runs", {})
        for run in sweep.runs:
            rec = records.setdefault(run.id, {"status": "pending", "attempts": 0})
            rec.update({"overrides": run.overrides, "run_dir": str(run.run_dir), "params_sha256": run.params_sha256,
                        "command": reproduce_command(sweep, run.id)})
            rec["in_sweep"] = True
        for run_id, rec in records.items():
            if run_id not in {r.id for r in sweep.runs}:
                rec["in_sweep"] = False
        state = cls(path, data)
        state.data["order"] = [r.id for r in sweep.runs]
        return state

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return self.data["runs"]

    def update(self, run_id: str, **fields: Any) -> None:
        self.records[run_id].update(fields)
        self.write()

    def set_status(self, status: str) -> None:
        self.data["status"] = status
        self.write()

    def counts(self) -> dict[str, int]:
        current = [self.records[i] for i in self.data.get("order", [])]
        return {s: sum(1 for r in current if r.get("status") == s) for s in RUN_STATUSES}

    def overall(self, interrupted: bool = False) -> str:
        counts = self.counts()
        if interrupted or counts["interrupted"]:
            return "interrupted"
        if counts["failed"]:
            return "failed"
        if counts["completed"] == len(self.data.get("order", [])):
            return "completed"
        return "running" if counts["running"] else "partial"

    def write(self) -> None:
        self.data["updated"] = folder.now_iso()
        self.data["counts"] = self.counts()
        atomic.atomic_write_json(self.path, self.data)


def read_sweep_json(sweep_dir: str | Path) -> dict[str, Any]:
    path = Path(sweep_dir) / SWEEP_JSON
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        # Completion is read from the run folders, so a new sweep.json loses nothing but failure records.
        raise SweepError([Problem("sweep.json", str(path), f"not valid JSON ({exc}); move it aside and run the sweep "
                                                           f"again: completed runs are found in their folders")], str(path)) from None


def reproduce_command(sweep: Sweep, run_id: str) -> str:
    """The ``ltxbench run`` command that makes the same run by hand (same loader, same overrides)."""
    import shlex

    import yaml

    run = sweep.run(run_id)
    parts = ["ltxbench", "run", str(sweep.base), "--run-dir", str(run.run_dir), "--stages", ",".join(sweep.stages)]
    for key, value in run.params_overrides.items():
        text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        text = text.removesuffix("\n...").removesuffix("...").strip()
        parts += ["--set", f"{key}={text}"]
    return " ".join(shlex.quote(p) for p in parts)


@contextlib.contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the sweep folder for the life of the driver
    (:func:`ltxbench.run.lock.folder_lock`: a crashed driver never leaves a held lock behind)."""
    held = contextlib.ExitStack()
    try:
        held.enter_context(lock.folder_lock(sweep_dir, LOCK_FILE))
    except lock.FolderBusy as exc:
        raise SweepBusy(f"another `ltxbench sweep` (pid {exc.holder.get('pid', '?')} on {exc.holder.get('host', '?')}, "
                        f"started {exc.holder.get('started', '?')}) is running the sweep in {sweep_dir}; "
                        f"wait for it or stop it first") from None
    with held:
        yield
