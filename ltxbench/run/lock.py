"""A lock on a run folder, so two processes never run stages in the same folder at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Iterator

from ltxbench.run.layout import RUN_LOCK
from ltxbench.run.provenance import now_iso

# Locks: one writer per folder
# ---------------------------------------------------------------------------------------



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
