"""Notebook display helpers, so stage notebooks stay one call per cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def image(path: str | Path | None) -> Any:
    """An IPython image for a figure the stage wrote, or a plain note when there is none."""
    from IPython.display import Image, Markdown

    if path is None or not Path(path).is_file():
        return Markdown(f"_no figure was written ({path})_")
    return Image(filename=str(path))
