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


def process_umask() -> int:
    """The process's umask, read without changing it where Linux reports it (``/proc/self/status``);
    elsewhere set and restored at once (``os.umask`` has no read-only form)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def replace_durably(tmp: str | Path, target: str | Path) -> None:
    """fsync ``tmp``, rename it over ``target``, fsync the folder: after a crash or a power loss a
    reader finds the old file or the complete new one, never a renamed file whose data was lost.

    The temporary file was made private (``mkstemp``: 0600); before the rename it gets the mode a
    plain ``open()`` would have given it (0666 less the umask), so a run folder shared with a group
    or read by a web server is readable as the user's umask intends."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o666 & ~process_umask())
    os.replace(tmp, target)
    fsync_dir(Path(target).parent)
