"""Run the stage notebooks with papermill into a run folder, with resume.

Each stage is a parameterised notebook in ``notebooks/``. :func:`run_pipeline` validates the
parameters first (all problems at once, before anything runs), writes ``params.yaml`` and
``run.json``, then executes the stages in order into ``RUN_DIR/notebooks/``. A stage is skipped
when run.json records it completed with the same parameter fingerprint, so re-running the same
command resumes at the first stage that is not done; ``force`` redoes every selected stage.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltxbench import errors
from ltxbench.params import loading, schema
from ltxbench.run import atomic
from ltxbench.run import folder as run_folder
from ltxbench.run import lock
from ltxbench.util.bundled import bundled_path

log = logging.getLogger("ltxbench")

NOTEBOOKS: dict[str, str] = {
    "curate": "01_curate.ipynb",
    "caption": "02_caption.ipynb",
    "train": "03_train.ipynb",
    "evaluate": "04_evaluate.ipynb",
}
NOTEBOOK_PARAMETERS = ("run_dir", "params_file")
"""The names a stage notebook's ``parameters`` cell may declare."""


class StageFailed(RuntimeError):
    """A stage notebook raised; carries the failing cell's error."""

    def __init__(self, stage: str, notebook: Path, error: str):
        self.stage, self.notebook, self.error = stage, notebook, error
        super().__init__(f"stage '{stage}' failed (executed notebook: {notebook})\n{error}")


@dataclass
class PipelineResult:
    run_dir: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


def parse_stages(text: str | None) -> list[str]:
    if not text:
        return list(schema.STAGES)
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in schema.STAGES]
    if unknown or not wanted:
        raise errors.ParamsError([errors.Problem("--stages", text, f"comma-separated subset of {','.join(schema.STAGES)}")], "--stages")
    return [s for s in schema.STAGES if s in wanted]  # always in pipeline order


def default_run_dir(params: schema.RunParams, base: Path | None = None) -> Path:
    return (base or Path.cwd()) / "runs" / params.run.name


def _stage_is_current(record: dict[str, Any], fingerprint: str) -> bool:
    return record.get("status") == "completed" and record.get("fingerprint") == fingerprint


def run_pipeline(
    params_path: str | Path,
    run_dir: str | Path | None = None,
    stages: list[str] | None = None,
    overrides: list[str] | dict[str, Any] | None = None,
    force: bool = False,
    quiet: bool = False,
) -> PipelineResult:
    """Validate, then execute the selected stages. Raises :class:`StageFailed` on a failing stage,
    :class:`ltxbench.run.lock.FolderBusy` when another process is running in the same run folder."""
    params = loading.load(params_path, overrides)  # raises ParamsError before anything runs
    stages = stages or list(schema.STAGES)
    run_path = Path(run_dir).resolve() if run_dir else default_run_dir(params).resolve()
    _refuse_missing_notebooks(stages)

    # Earlier stages that the selected ones depend on must be current: a later stage run on
    # stale inputs would silently mix two parameter sets. Checked before anything is written.
    previous = run_folder.read_run_json(run_path).get("stages", {})
    first = schema.STAGES.index(stages[0])
    for earlier in schema.STAGES[:first]:
        rec = previous.get(earlier, {})
        if not _stage_is_current(rec, params.stage_fingerprint(earlier)):
            raise errors.ParamsError([errors.Problem("--stages", ",".join(stages),
                                           f"stage '{earlier}' must complete first with these parameters (status: {rec.get('status', 'pending')}); include it in --stages")],
                                "--stages")

    # One writer per run folder: a second run would silently overwrite the first one's checkpoints.
    with lock.folder_lock(run_path, lock.RUN_LOCK):
        return _run_stages(run_path, params, stages, force, quiet)


def _run_stages(run_path: Path, params: schema.RunParams, stages: list[str], force: bool, quiet: bool) -> PipelineResult:
    state = run_folder.init_run_dir(run_path, params)
    stale = atomic.remove_stale_temp_files(run_path)  # we hold the folder's lock: no write of ours is in flight
    if stale:
        print(f"[ltxbench] removed {len(stale)} temporary file(s) that interrupted writes had left (e.g. "
              f"{stale[0].relative_to(run_path)}); every real file is complete")
    result = PipelineResult(run_path)
    invalidated = False
    for stage in stages:
        fingerprint = params.stage_fingerprint(stage)
        record = state["stages"].get(stage, {})
        if not force and not invalidated and _stage_is_current(record, fingerprint):
            result.skipped.append(stage)
            print(f"[ltxbench] {stage}: already completed with these parameters, skipped")
            continue
        invalidated = True  # every later stage reads this one's outputs: redo them too
        _execute_stage(run_path, stage, fingerprint, quiet, force)
        result.ran.append(stage)
    # Stages after the last selected one now read outdated inputs: say so in run.json.
    for later in schema.STAGES[schema.STAGES.index(stages[-1]) + 1:]:
        rec = run_folder.read_run_json(run_path)["stages"].get(later, {})
        if result.ran and rec.get("status") == "completed":
            run_folder.update_stage(run_path, later, status="stale", note=f"an earlier stage was re-run at {run_folder.now_iso()}")
    result.state = run_folder.read_run_json(run_path)
    return result


def notebook_dir() -> Path:
    """The stage notebooks: the clone's ``notebooks/`` or the installed package's copy."""
    return bundled_path("notebooks")


def _refuse_missing_notebooks(stages: list[str]) -> None:
    folder = notebook_dir()
    missing = [str(folder / NOTEBOOKS[s]) for s in stages if not (folder / NOTEBOOKS[s]).is_file()]
    if missing:
        raise FileNotFoundError(f"stage notebooks not found: {', '.join(missing)}")


def _execute_stage(run_dir: Path, stage: str, fingerprint: str, quiet: bool, force: bool = False) -> None:
    import papermill as pm  # heavy import, only when a stage actually runs

    from ltxbench.util.kernels import EncryptedKernelManager

    template = notebook_dir() / NOTEBOOKS[stage]
    out = run_dir / "notebooks" / NOTEBOOKS[stage]
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    run_folder.update_stage(run_dir, stage, status="running", started=run_folder.now_iso(), ended=None,
                      duration_s=None, error=None, fingerprint=fingerprint, notebook=str(out.relative_to(run_dir)))
    print(f"[ltxbench] {stage}: running {template.name} -> {out}", flush=True)
    env_before = os.environ.get("LTXBENCH_QUIET")
    try:
        if quiet:
            os.environ["LTXBENCH_QUIET"] = "1"  # the kernel inherits it: progress bars off
        if force:
            os.environ["LTXBENCH_FORCE"] = "1"  # the stage starts over rather than resuming
        os.environ["LTXBENCH_RECORD"] = "1"  # widgets leave static copies in the record (ltxbench.ui.record)
        pm.execute_notebook(
            str(template), str(out),
            parameters={"run_dir": str(run_dir), "params_file": None},
            kernel_name="python3",
            cwd=str(run_dir),  # writable, unlike an installed package's folder
            progress_bar=not quiet,
            request_save_on_cell_execute=True,
            kernel_manager_class=EncryptedKernelManager,
        )
    except pm.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
        run_folder.update_stage(run_dir, stage, status="failed", ended=run_folder.now_iso(),
                          duration_s=round(time.time() - started, 2), error=error)
        raise StageFailed(stage, out, _failing_cell_text(exc)) from None
    except BaseException as exc:  # kernel died, Ctrl-C, ...: record it, then re-raise
        run_folder.update_stage(run_dir, stage, status="failed", ended=run_folder.now_iso(),
                          duration_s=round(time.time() - started, 2), error=f"{type(exc).__name__}: {exc}")
        atomic.reraise_naming(out, exc)  # papermill's own notebook write fails unnamed when the disk refuses it
    finally:
        os.environ.pop("LTXBENCH_FORCE", None)
        os.environ.pop("LTXBENCH_RECORD", None)
        if quiet:
            if env_before is None:
                os.environ.pop("LTXBENCH_QUIET", None)
            else:
                os.environ["LTXBENCH_QUIET"] = env_before
    run_folder.update_stage(run_dir, stage, status="completed", ended=run_folder.now_iso(),
                      duration_s=round(time.time() - started, 2), error=None)


def _failing_cell_text(exc: Any) -> str:
    """The failing cell's source and its error, without the ANSI colour codes."""
    import re

    tb = "\n".join(exc.traceback or [])
    tb = re.sub(r"\x1b\[[0-9;]*m", "", tb)
    lines = [f"In cell {exc.exec_count}:", exc.source.strip(), "", tb.strip() or f"{exc.ename}: {exc.evalue}"]
    return "\n".join(lines)
