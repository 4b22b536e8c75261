"""The caption stage: a caption with its character's trigger for every clip, linted (notebooks/02_caption.ipynb).

Modules: :mod:`.stage` (the stage), :mod:`.triggers`, :mod:`.english` (the word list triggers avoid), :mod:`.lint`,
the backends (:mod:`.template`, :mod:`.user`, :mod:`.vlm`, :mod:`.tiny_vlm`, joined in :mod:`.backends`),
:mod:`.edits` (captions a person wrote) and :mod:`.exporting` (the dataset for other trainers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltxbench.util.exports import lazy_exports

if TYPE_CHECKING:
    from ltxbench.caption.stage import CaptionResult, caption, export

_WHERE = {
    "caption": "ltxbench.caption.stage",
    "export": "ltxbench.caption.stage",
    "CaptionResult": "ltxbench.caption.stage",
}
__all__ = ["CaptionResult", "caption", "export"]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
