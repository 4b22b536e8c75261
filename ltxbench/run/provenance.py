"""Provenance of a run: the git commit and the versions of the packages that shape its results.
"""

from __future__ import annotations

import datetime as _dt
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

# Versions recorded in run.json: what decides whether a result can be reproduced.
TRACKED_PACKAGES = (
    "ltxbench", "torch", "diffusers", "transformers", "peft", "safetensors", "accelerate",
    "papermill", "decord", "av", "dlib-bin", "face_recognition_models", "opencv-python-headless",
    "numpy", "pydantic",
)


# Provenance
# ---------------------------------------------------------------------------------------


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


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
