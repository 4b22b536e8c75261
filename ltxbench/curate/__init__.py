"""The curate stage: raw footage and photos into clean, scored, covered clips (notebooks/01_curate.ipynb).

Modules: :mod:`.stage` (the stage), :mod:`.candidates` (sources into candidate clips), :mod:`.shots` (shot
boundaries), :mod:`.render` (clips rendered from their sources, the head-crop rule), :mod:`.scores` (one
module per measurement), :mod:`.overrides` (manual decisions), :mod:`.coverage` (what the dataset covers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltxbench.util.exports import lazy_exports

if TYPE_CHECKING:
    from ltxbench.curate.render import render_clip, write_clip
    from ltxbench.curate.stage import CurateResult, curate, load_result

_WHERE = {
    "curate": "ltxbench.curate.stage",
    "CurateResult": "ltxbench.curate.stage",
    "load_result": "ltxbench.curate.stage",
    "write_clip": "ltxbench.curate.render",
    "render_clip": "ltxbench.curate.render",
}
__all__ = ["CurateResult", "curate", "load_result", "render_clip", "write_clip"]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
