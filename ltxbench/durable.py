"""The last step of every atomic write: make the new file durable, then rename it into place.

A leaf module (standard library only), so the media writers and the run-folder writers share it
without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX: the directory entry lives in the folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename itself is still atomic
    finally:
        os.close(fd)


def replace_durably(tmp: str | Path, target: str | Path) -> None:
    """fsync ``tmp``, rename it over ``target``, fsync the folder: after a crash or a power loss a
    reader finds the old file or the complete new one, never a renamed file whose data was lost."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    fsync_dir(Path(target).parent)
