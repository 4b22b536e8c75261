"""The curated dataset's manifest, ``dataset/manifest.jsonl``: one reader and one writer for every stage.

One JSON object per clip, rejected clips too (fields: runs/README.md). Curate writes it; manual
overrides, the caption stage and the caption editor rewrite it whole and atomically; train, evaluate
and ``ltxbench plan`` read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ltxbench.run import atomic
from ltxbench.run.folder import Run
from ltxbench.run.layout import MANIFEST


def manifest_path(run_dir: str | Path) -> Path:
    """Where the manifest of the run folder ``run_dir`` is (it may not exist yet)."""
    return Path(run_dir) / MANIFEST


def load_manifest(run: Run, needed_by: str = "") -> list[dict[str, Any]]:
    """Every record of ``run``'s manifest; a clear error when curate has not run. ``needed_by``
    names what needs it (``"evaluate.reference_clips"``) for the error message."""
    path = run.path(MANIFEST)
    if not path.is_file():
        who = f"{needed_by} needs {path}" if needed_by else f"{path} not found"
        raise FileNotFoundError(f"{who}: run the curate stage first")
    return atomic.read_jsonl(path)


def manifest_if_any(run_dir: str | Path) -> list[dict[str, Any]] | None:
    """The records of the manifest in ``run_dir``, or None when there is none (readers that can do without)."""
    path = manifest_path(run_dir)
    return atomic.read_jsonl(path) if path.is_file() else None


def write_manifest(run: Run, records: list[dict[str, Any]]) -> Path:
    """Replace the manifest with ``records``, atomically (a reader never sees half a file)."""
    return atomic.write_jsonl(run.path(MANIFEST), records)
