"""Atomic writes (a temporary file renamed into place), JSON and JSON-lines in and out, stale temporary files.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from ltxbench.util.durable import replace_durably

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
