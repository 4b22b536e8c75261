"""Dataset export: the accepted, captioned clips in the layouts other trainers read.

* ``dataset.csv`` and ``dataset.jsonl`` with the columns ``caption`` and ``media_path`` (the
  defaults of Lightricks' LTX-2 trainer, ``process_dataset.py --caption-column caption
  --video-column media_path``); ``media_path`` is relative to the file's folder;
* a sidecar ``<clip>.txt`` holding the caption next to every ``<clip>.mp4`` (the layout of
  diffusion-pipe, musubi-tuner, ai-toolkit, OneTrainer and kohya's scripts).

By default the export is written into ``RUN_DIR/dataset/`` itself, which makes that folder a
self-contained training set; with ``out_dir`` the clips are copied there too. Clips whose lint has
errors are left out (and listed) unless ``allow_lint_errors``, the same gate as the train stage.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltxbench.run import atomic

CSV_NAME = "dataset.csv"
JSONL_NAME = "dataset.jsonl"


@dataclass
class ExportResult:
    folder: Path
    csv_path: Path | None
    jsonl_path: Path | None
    sidecars: list[Path] = field(default_factory=list)
    clips: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __repr__(self) -> str:
        skipped = f", {len(self.skipped)} left out ({'; '.join(f'{i}: {why}' for i, why in self.skipped[:3])})" if self.skipped else ""
        return (f"ExportResult({self.clips} clips in {self.folder}: {CSV_NAME}, {JSONL_NAME} (caption, media_path) and "
                f"{len(self.sidecars)} sidecar .txt files{skipped})")


def sidecar_path(media: Path) -> Path:
    return media.with_suffix(".txt")


def _utf8(text: str) -> str:
    """Lone surrogates (only possible with ``allow_lint_errors``) cannot be written as UTF-8: '?' instead."""
    return text.encode("utf-8", "replace").decode("utf-8")


def write_sidecars(records: list[dict[str, Any]], dataset_dir: Path, allow_lint_errors: bool = False) -> list[Path]:
    """``clips/<id>.txt`` with the caption, for the clips an export holds (:func:`exportable`)."""
    keep, _ = exportable(records, allow_lint_errors)
    return [atomic.atomic_write_text(sidecar_path(Path(dataset_dir) / r["media"]), _utf8(r["caption"])) for r in keep]


def exportable(records: list[dict[str, Any]], allow_lint_errors: bool = False) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The clips an export holds, and ``(id, reason)`` for accepted clips left out."""
    keep, skipped = [], []
    for r in records:
        if r.get("status") != "accepted":
            continue
        errors = [x for x in r.get("lint") or [] if x.get("level") == "error"]
        if not r.get("caption"):
            skipped.append((r["id"], "no caption"))
        elif not r.get("media"):
            skipped.append((r["id"], "no clip file"))
        elif errors and not allow_lint_errors:
            skipped.append((r["id"], f"lint error: {errors[0]['message']}"))
        else:
            keep.append(r)
    return keep, skipped


def export_dataset(records: list[dict[str, Any]], dataset_dir: Path, out_dir: Path | None = None, *,
                   allow_lint_errors: bool = False) -> ExportResult:
    """Write ``dataset.csv``, ``dataset.jsonl`` and sidecars (see module docstring)."""
    dataset_dir = Path(dataset_dir)
    folder = Path(out_dir) if out_dir is not None else dataset_dir
    keep, skipped = exportable(records, allow_lint_errors)
    rows, sidecars = [], []
    left_out = {r["id"] for r in records if r.get("media")} & {i for i, _ in skipped}
    for r in records:  # a sidecar written earlier for a clip now left out would still be read by other trainers
        if r["id"] in left_out:
            sidecar_path(folder / r["media"]).unlink(missing_ok=True)
    for r in keep:
        media = dataset_dir / r["media"]
        rel = Path(r["media"])
        if folder.resolve() != dataset_dir.resolve():
            with atomic.atomic_path(folder / rel) as tmp:
                shutil.copyfile(media, tmp)
        sidecars.append(atomic.atomic_write_text(sidecar_path(folder / rel), _utf8(r["caption"])))
        rows.append({"caption": _utf8(r["caption"]), "media_path": rel.as_posix()})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["caption", "media_path"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = atomic.atomic_write_text(folder / CSV_NAME, buf.getvalue())
    jsonl_path = atomic.atomic_write_text(folder / JSONL_NAME, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return ExportResult(folder, csv_path, jsonl_path, sidecars, len(rows), skipped)
