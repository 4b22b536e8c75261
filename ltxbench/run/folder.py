"""The run folder: resolved params and run.json bookkeeping.

Layout (see runs/README.md for every file)::

    RUN_DIR/params.yaml     resolved parameters (absolute paths)
    RUN_DIR/run.json        status and times per stage, params sha256, git commit,
                            package versions, seeds
    RUN_DIR/notebooks/      the executed stage notebooks
    RUN_DIR/dataset/ cache/ checkpoints/ train/ samples/ eval/   stage outputs

Every file the workbench writes goes through :func:`ltxbench.run.atomic.atomic_write_bytes` (write to a
temporary file in the same folder, fsync, rename), so a crash never leaves a half-written manifest,
checkpoint or run.json behind. Every path of the contract has a name in :mod:`ltxbench.run.layout`.

"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltxbench.params import loading, schema
from ltxbench.run.atomic import atomic_write_json, atomic_write_text
from ltxbench.run.layout import PARAMS_YAML, RUN_JSON
from ltxbench.run.provenance import git_commit, now_iso, package_versions

# ---------------------------------------------------------------------------------------


# The run folder
# ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """A run folder and its resolved parameters. Stage functions take one of these."""

    dir: Path
    params: schema.RunParams

    @property
    def run_json(self) -> Path:
        return self.dir / RUN_JSON

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)

    def read_status(self) -> dict[str, Any]:
        return read_run_json(self.dir)

    def __repr__(self) -> str:
        chars = ", ".join(f"{c.name} ({c.trigger})" for c in self.params.dataset.characters)
        return (f"Run({self.dir})\n  model: LTX-{self.params.model.version} from {self.params.model.source}\n"
                f"  characters: {chars}\n  params sha256: {self.params.sha256()[:12]}")


class RunRecordError(ValueError):
    """``run.json`` exists but cannot be read as a run record."""


def read_run_json(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_JSON
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunRecordError(f"{path} is not valid JSON ({exc}); move it aside to start the run afresh") from None
    if not isinstance(state, dict) or not isinstance(state.get("stages", {}), dict):
        raise RunRecordError(f"{path} is JSON but not a run record (an object with a 'stages' object); "
                         "move it aside to start the run afresh")
    return state


def open_run(run_dir: str | Path, params_file: str | Path | None = None) -> Run:
    """Open a run folder for a stage notebook.

    ``RUN_DIR/params.yaml`` is the source of truth. When it does not exist yet (a notebook run
    by hand in Jupyter), the run folder is started from ``params_file``.
    """
    run_dir = Path(run_dir).resolve()
    resolved = run_dir / PARAMS_YAML
    if resolved.is_file():
        params = loading.load(resolved)
    elif params_file:
        params = loading.load(params_file)
        init_run_dir(run_dir, params)
    else:
        raise FileNotFoundError(f"{resolved} does not exist; pass params_file to start a run folder, or use `ltxbench run PARAMS.yaml`")
    return Run(run_dir, params)


def init_run_dir(run_dir: Path, params: schema.RunParams) -> dict[str, Any]:
    """Write params.yaml and create or refresh run.json's header. Keeps existing stage records."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / PARAMS_YAML, loading.dump_yaml(params))
    state = read_run_json(run_dir)
    state.setdefault("created", now_iso())
    state.update({
        "run": params.run.name,
        "run_dir": str(run_dir),
        "params_sha256": params.sha256(),
        "git": git_commit(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "seeds": params.seeds(),
    })
    stages = state.setdefault("stages", {})
    for stage in schema.STAGES:
        stages.setdefault(stage, {"status": "pending"})
    state["status"] = overall_status(stages)
    atomic_write_json(run_dir / RUN_JSON, state)
    return state


def overall_status(stages: dict[str, dict[str, Any]]) -> str:
    statuses = [stages.get(s, {}).get("status", "pending") for s in schema.STAGES]
    if any(s == "failed" for s in statuses):
        return "failed"
    if any(s == "running" for s in statuses):
        return "running"
    if all(s == "completed" for s in statuses):
        return "complete"
    if any(s == "completed" for s in statuses):
        return "partial"
    return "pending"


def stage_is_current(run: Run, stage: str) -> bool:
    """Whether run.json records ``stage`` as completed with the run's present parameters (the
    pipeline's own resume test). While the pipeline executes a stage its record says ``running``,
    so a notebook asking this from inside that execution always gets False and runs the stage."""
    record = read_run_json(run.dir).get("stages", {}).get(stage, {})
    return record.get("status") == "completed" and record.get("fingerprint") == run.params.stage_fingerprint(stage)


def update_stage(run_dir: Path, stage: str, **fields: Any) -> dict[str, Any]:
    state = read_run_json(run_dir)
    stages = state.setdefault("stages", {})
    record = stages.setdefault(stage, {})
    record.update(fields)
    state["status"] = overall_status(stages)
    state["updated"] = now_iso()
    atomic_write_json(Path(run_dir) / RUN_JSON, state)
    return state
