"""Shot framing from how much of the frame height the face fills (the cut-offs are params)."""

from __future__ import annotations

from typing import Literal

Framing = Literal["close_up", "medium", "wide"]


def framing_of(face_height: float | None, close_up_min: float, medium_min: float) -> Framing | None:
    """``close_up`` from ``close_up_min`` of the frame height, ``medium`` from ``medium_min``, else
    ``wide``; ``None`` when no face was measured."""
    if face_height is None:
        return None
    if face_height >= close_up_min:
        return "close_up"
    return "medium" if face_height >= medium_min else "wide"
