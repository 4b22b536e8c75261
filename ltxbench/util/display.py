"""Notebook display helpers, so stage notebooks stay one call per cell.

Notebooks import the function, ``from ltxbench.util.display import image as show_image``, never this
module as ``display``: that name would shadow IPython's ``display()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def image(path: str | Path | None) -> Any:
    """An IPython image for a figure the stage wrote, or a plain note when there is none."""
    from IPython.display import Image, Markdown

    if path is None:  # the stage draws some figures only when the data allow (bleed: several characters)
        return Markdown("_not drawn for this run: the data do not call for this figure (see the stage's notes)_")
    if not Path(path).is_file():
        return Markdown(f"_no figure was written at {path}_")
    return Image(filename=str(path))
