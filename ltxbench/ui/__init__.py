"""Notebook widgets (ipywidgets, imported when a widget is built). Stage code never imports this package."""

from __future__ import annotations

from ltxbench.ui.caption_editor import CaptionEditor
from ltxbench.ui.curation_grid import CurationGrid
from ltxbench.ui.eval_dashboard import EvalDashboard

__all__ = ["CaptionEditor", "CurationGrid", "EvalDashboard"]
