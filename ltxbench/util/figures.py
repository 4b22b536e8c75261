"""Figures the stages write as PNG: built without pyplot, so no global backend is switched
(a Jupyter session keeps its own) and nothing stays open; saved atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ltxbench.run import atomic


def new_figure(ncols: int = 1, size: tuple[float, float] = (7.0, 3.5), nrows: int = 1) -> tuple[Any, Any]:
    """A figure and its axes (one axis, or an array of ``nrows`` x ``ncols``, squeezed as pyplot does)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    return fig, fig.subplots(nrows, ncols)


def save_figure(fig: Any, out: Path) -> Path:
    fig.tight_layout()
    with atomic.atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return out
