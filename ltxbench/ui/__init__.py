"""Notebook widgets (ipywidgets, imported when a widget is built). Stage code never imports this package."""

from __future__ import annotations

from .caption_editor import CaptionEditor
from .curation_grid import CurationGrid
from .eval_dashboard import EvalDashboard

__all__ = ["CaptionEditor", "CurationGrid", "EvalDashboard"]
