"""The run folder: resolved params, run.json bookkeeping and atomic writes.

Layout (see runs/README.md for every file)::

    RUN_DIR/params.yaml     resolved parameters (absolute paths)
    RUN_DIR/run.json        status and times per stage, params sha256, git commit,
                            package versions, seeds
    RUN_DIR/notebooks/      the executed stage notebooks
    RUN_DIR/dataset/ cache/ checkpoints/ train/ samples/ eval/   stage outputs

Every file the workbench writes goes through :func:`atomic_write_bytes` (write to a temporary
file in the same folder, fsync, rename), so a crash never leaves a half-written manifest,
checkpoint or run.json behind.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from ltxbench import params as P
from ltxbench.durable import replace_durably

RUN_JSON = "run.json"
PARAMS_YAML = "params.yaml"

# Versions recorded in run.json: what decides whether a result can be reproduced.
TRACKED_PACKAGES = (
    "ltxbench", "torch", "diffusers", "transformers", "peft", "safetensors", "accelerate",
    "papermill", "decord", "av", "dlib-bin", "face_recognition_models", "opencv-python-headless",
    "numpy", "pydantic",
)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        replace_durably(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        reraise_naming(path, exc)
    return path


def reraise_naming(path: Path, exc: BaseException) -> None:
    """Re-raise ``exc``; a refused write() (disk full, file too large) carries no file name, so it
    gets the target's, for a message that says which file could not be written."""
    if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    raise exc


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it over ``path`` on success.

    For writers that insist on a file name (video encoders, safetensors.save_file). The file is
    fsynced before the rename and the folder after it, so a power loss leaves the old file or the
    new one, never a renamed file whose data had not reached the disk.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        replace_durably(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        reraise_naming(path, exc)


# mkstemp's names for the temporary files of the writers above and of the video and wav writers:
# "." + the target's name or stem + "." + 8 random characters + ".tmp", ".tmp.mp4", ".tmp.wav" or the suffix.
TEMP_FILE = re.compile(r"^\.[^/]+\.[a-z0-9_]{8}(?:\.tmp(?:\.wav|\.mp4)?|\.[A-Za-z0-9]+)$")
STALE_TEMP_AGE_S = 600.0
"""A temporary file untouched this long belongs to no live write (a hand-run notebook writing into
the folder, which the run lock does not keep out, touches its file as it writes)."""


def remove_stale_temp_files(folder: Path, older_than_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Remove the temporary files interrupted atomic writes left in ``folder`` (recursively, links not
    followed): hidden, named as :data:`TEMP_FILE`, unmodified for ``older_than_s``. Never the real
    files: those were only ever written by renaming a complete temporary file over them. Call it
    while holding the folder's lock. Returns what was removed."""
    cutoff = time.time() - older_than_s
    removed = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not TEMP_FILE.match(name):
                continue
            with contextlib.suppress(OSError):
                info = path.lstat()
                if path.is_file() and not path.is_symlink() and info.st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
    return removed


def write_jsonl(path: str | Path, records: list[dict[str, Any]]) -> Path:
    text = "".join(json.dumps(r, sort_keys=False, default=str) + "\n" for r in records)
    return atomic_write_text(path, text)


def parse_jsonl(text: str, source: str | Path) -> list[Any]:
    """One JSON value per non-empty line; a bad line is an error naming ``source`` and the line."""
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{source}:{lineno}: not valid JSON ({exc})") from None
    return out


def read_json_object(path: Path, what: str) -> dict[str, Any] | None:
    """A JSON object file a person may edit by hand (``what`` names what deleting it drops):
    None when the file does not exist; a ValueError saying how to recover when it is not an object."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); fix it, or delete it to drop {what}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, found {type(data).__name__}; fix it, or delete it to drop {what}")
    return data


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return parse_jsonl(Path(path).read_text(encoding="utf-8"), path)


# ---------------------------------------------------------------------------------------
# Locks: one writer per folder
# ---------------------------------------------------------------------------------------

RUN_LOCK = ".run.lock"


class FolderBusy(RuntimeError):
    """Another live process holds the folder's lock; ``holder`` is what it wrote there."""

    def __init__(self, folder: Path, holder: dict[str, Any]):
        self.folder, self.holder = folder, holder
        who = (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {holder.get('started', '?')}"
               + (f": {holder['command']}" if holder.get("command") else ""))
        super().__init__(f"{folder} is in use by another ltxbench process ({who}); wait for it to finish or stop it")


@contextlib.contextmanager
def folder_lock(folder: Path, name: str = RUN_LOCK, command: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` while the block runs; :class:`FolderBusy` if another
    process holds it.

    The lock is an ``flock`` on ``folder/name``, which the kernel releases when its process dies:
    a crash (even ``kill -9``) leaves the file but never a held lock, so the next run takes it over
    safely. The file records the holder (pid, host, start time, command) for the refusal message.
    flock is per host: two machines writing one folder over a network filesystem are not covered.
    """
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = json.loads(path.read_text(encoding="utf-8") or "{}")
            except (OSError, ValueError):
                holder = {}
            raise FolderBusy(folder, holder if isinstance(holder, dict) else {}) from None
        record = {"pid": os.getpid(), "host": platform.node(), "started": now_iso(),
                  "command": command or " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(record).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# ---------------------------------------------------------------------------------------
# Provenance
# ---------------------------------------------------------------------------------------


def git_commit(start: Path | None = None) -> dict[str, Any]:
    """The commit of the ltxbench checkout (not of the run folder), and whether it is dirty."""
    repo = Path(start or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# ---------------------------------------------------------------------------------------
# The run folder
# ---------------------------------------------------------------------------------------


@dataclass
class Run:
    """A run folder and its resolved parameters. Stage functions take one of these."""

    dir: Path
    params: P.RunParams

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
        params = P.load(resolved)
    elif params_file:
        params = P.load(params_file)
        init_run_dir(run_dir, params)
    else:
        raise FileNotFoundError(f"{resolved} does not exist; pass params_file to start a run folder, or use `ltxbench run PARAMS.yaml`")
    return Run(run_dir, params)


def init_run_dir(run_dir: Path, params: P.RunParams) -> dict[str, Any]:
    """Write params.yaml and create or refresh run.json's header. Keeps existing stage records."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / PARAMS_YAML, P.dump_yaml(params))
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
    for stage in P.STAGES:
        stages.setdefault(stage, {"status": "pending"})
    state["status"] = overall_status(stages)
    atomic_write_json(run_dir / RUN_JSON, state)
    return state


def overall_status(stages: dict[str, dict[str, Any]]) -> str:
    statuses = [stages.get(s, {}).get("status", "pending") for s in P.STAGES]
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
