"""User captions: a CSV/JSONL/JSON table keyed by clip id or file name, or sidecar .txt files.

Where a clip's caption is looked for, first hit wins:

1. ``caption.user_file`` (when set): a row whose key column matches the clip id, the clip file
   (``clips/<id>.mp4`` or ``<id>.mp4``), or the source file (absolute path or file name; a
   source's caption then goes to every clip cut from it). Key columns, first present wins:
   ``id``, ``clip_id``, ``media_path``, ``video_path``, ``video``, ``file_name``, ``file``,
   ``path``, ``source``; caption columns: ``caption``, ``text``, ``prompt``.
2. A sidecar next to the clip: ``dataset/clips/<id>.txt`` (the layout :mod:`.export` writes).
3. A sidecar next to the source: ``<source folder>/<source stem>.txt``.

Files are read as UTF-8 (a BOM is dropped); bytes that are not UTF-8 become U+FFFD, which the
``invalid_utf8`` lint reports, rather than failing the stage.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

from ltxbench.run.atomic import parse_jsonl

log = logging.getLogger("ltxbench")

KEY_COLUMNS = ("id", "clip_id", "media_path", "video_path", "video", "file_name", "file", "path", "source")
CAPTION_COLUMNS = ("caption", "text", "prompt")
TABLE_SUFFIXES = (".csv", ".jsonl", ".json")


def read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8-sig", errors="replace")


def _rows(path: Path) -> list[dict[str, Any]]:
    text = read_text(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return list(csv.DictReader(io.StringIO(text)))
    if suffix == ".jsonl":
        return parse_jsonl(text, path)
    if suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of objects")
        return data
    raise ValueError(f"{path}: user captions must be {', '.join(TABLE_SUFFIXES)}")


def load_table(path: Path) -> dict[str, str]:
    """``key -> caption`` from a user caption file; path-like keys are also indexed by file name."""
    every = _rows(path)
    rows = [r for r in every if isinstance(r, dict)]
    if len(rows) < len(every):
        log.warning("%s: %d row(s) that are not objects were skipped", path, len(every) - len(rows))
    if not rows:
        return {}
    columns = set().union(*(r.keys() for r in rows))
    key_col = next((c for c in KEY_COLUMNS if c in columns), None)
    cap_col = next((c for c in CAPTION_COLUMNS if c in columns), None)
    if key_col is None or cap_col is None:
        raise ValueError(f"{path}: needs a key column ({', '.join(KEY_COLUMNS)}) and a caption column "
                         f"({', '.join(CAPTION_COLUMNS)}); found {', '.join(sorted(map(str, columns)))}")
    table: dict[str, str] = {}
    aliases: dict[str, set[str]] = {}
    skipped = 0
    for r in rows:
        key, cap = r.get(key_col), r.get(cap_col)
        if key is None or cap is None:
            skipped += 1
            continue
        key = str(key).strip()
        if key in table and table[key] != str(cap):
            raise ValueError(f"{path}: key {key!r} has two different captions; keep one")
        table[key] = str(cap)
        aliases.setdefault(Path(key).name, set()).add(key)
    for name, keys in aliases.items():
        if name in table:
            continue
        if len(keys) == 1:
            table[name] = table[next(iter(keys))]
        else:  # alice/take1.mp4 and bob/take1.mp4: the bare name would give one clip the other's caption
            log.warning("%s: %d keys share the file name %r (%s); it is not used as a short key", path, len(keys), name, ", ".join(sorted(keys)))
    if skipped:
        log.warning("%s: %d row(s) without a key or a caption were skipped", path, skipped)
    return table


class UserCaptions:
    """Looks up each clip's caption in the user file and the sidecar files (see module docstring)."""

    def __init__(self, user_file: Path | None, dataset_dir: Path):
        self.user_file = Path(user_file) if user_file else None
        self.dataset_dir = Path(dataset_dir)
        self.table = load_table(self.user_file) if self.user_file else {}

    def lookup(self, record: dict[str, Any]) -> tuple[str | None, str | None]:
        """``(caption, where it came from)``; ``(None, None)`` when there is none."""
        media = record.get("media") or ""
        source = Path(record.get("source") or "")
        if self.table:
            for key in (record["id"], media, Path(media).name, str(source), source.name):
                if key and key in self.table:
                    return self.table[key], str(self.user_file)
        sidecars = [self.dataset_dir / "clips" / f"{record['id']}.txt"]
        if source.name:
            sidecars.append(source.with_suffix(".txt"))
        for path in sidecars:
            if path.is_file():
                return read_text(path), str(path)
        return None, None
