"""Static copies of the widgets, so a run's record reads without a kernel.

The stage notebooks executed by ``ltxbench run`` are the run's record. A widget saved there is
dead: opened later it shows ``VBox(children=(...`` or "Error displaying widget: model not found".
So every widget's display bundle carries a static copy of what it shows (HTML with its figures as
embedded PNG/JPEG) next to the live view, and while the pipeline executes a notebook
(``LTXBENCH_RECORD=1``, set by :mod:`ltxbench.pipeline`) it carries only the static copy: the
record then holds tables and figures every notebook viewer can show.
"""

from __future__ import annotations

import base64
import html
import os
from typing import Any

RECORD_ENV = "LTXBENCH_RECORD"


def recording() -> bool:
    """Whether this kernel executes a notebook for the run's record (no one is there to interact)."""
    return os.environ.get(RECORD_ENV) == "1"


def img(data: bytes | None, mime: str = "image/png", width: int | None = None, alt: str = "") -> str:
    """An ``<img>`` with the bytes embedded (empty string for no bytes)."""
    if not data:
        return ""
    size = f' width="{width}"' if width else ""
    return (f'<img src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}"{size} '
            f'alt="{html.escape(alt)}" style="max-width:100%">')


def bundle(widget: Any, static_html: str, text: str, **kwargs: Any) -> dict[str, Any]:
    """The display bundle of a widget: the live view (interactive sessions) plus ``text/html`` (the
    static copy) and ``text/plain`` (``text``); in a recorded execution only the static copy."""
    if recording():
        return {"text/html": static_html, "text/plain": text}
    live = widget._repr_mimebundle_(**kwargs) or {}
    data = live[0] if isinstance(live, tuple) else live
    return {**data, "text/html": static_html, "text/plain": text}
