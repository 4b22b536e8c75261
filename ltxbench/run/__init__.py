"""The run folder: every stage reads and writes one folder (runs/README.md is the contract).

Modules: :mod:`.folder` (``Run``, ``run.json``, stage status), :mod:`.layout` (every path of the contract as a name),
:mod:`.atomic` (atomic writes, JSON and JSON lines), :mod:`.lock` (one process per folder), :mod:`.provenance`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltxbench.util.exports import lazy_exports

if TYPE_CHECKING:
    from ltxbench.run.folder import Run, open_run

_WHERE = {
    "Run": "ltxbench.run.folder",
    "open_run": "ltxbench.run.folder",
}
__all__ = ["Run", "open_run"]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
