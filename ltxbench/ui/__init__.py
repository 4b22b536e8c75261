"""Notebook widgets (ipywidgets, imported when a widget is built). Stage code never imports this package."""

from __future__ import annotations

from .caption_editor import CaptionEditor

__all__ = ["CaptionEditor"]
