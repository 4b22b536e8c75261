"""The template captioner: a caption from the curate scores, with no model (the offline default).

It says only what the scores measured, in one fixed order so captions of one character stay
consistent: framing (``scores.framing``, else from the face height), head angle
(``scores.yaw_bin``), expression (``scores.expression``), lighting (``scores.lighting``, else from
the brightness), camera (photo pan/zoom or video, "animation" for a ``scores.style`` of
``stylised``, so a mixed dataset tells the LoRA which look is which) and, for videos, sound
(``scores.audio_present``; ``has_audio`` in older manifests). A score that curate did not record is left out, never
guessed. It never describes the face: that is for the pixels to teach.
"""

from __future__ import annotations

from typing import Any

_YAW = {"front": "facing the camera", "three_quarter": "in three-quarter view", "three-quarter": "in three-quarter view",
        "profile": "in profile"}
_FRAMING = {"close_up": "close-up", "medium": "medium", "wide": "wide"}
_LIGHTING = {"dark": "low-key", "normal": "soft", "bright": "bright"}
_EXPRESSION = {"neutral": "with a neutral expression", "smiling": "smiling", "talking": "talking"}


def framing_of(face_height: float | None) -> str:
    """Framing from the face's share of the frame height (the same cut-offs as the curate docs)."""
    if face_height is None:
        return "wide"
    if face_height >= 0.3:
        return "close-up"
    if face_height >= 0.12:
        return "medium"
    return "wide"


def lighting_of(brightness: float | None) -> str:
    if brightness is None:
        return "natural"
    if brightness < 0.3:
        return "low-key"
    if brightness > 0.6:
        return "bright"
    return "soft"


def _has_audio(record: dict[str, Any]) -> bool | None:
    """Whether the video has sound; None for a photo (it has no soundtrack to describe) or unmeasured."""
    if record.get("source_kind") == "image":
        return None
    scores = record.get("scores") or {}
    value = scores.get("audio_present", record.get("has_audio", scores.get("has_audio")))
    return None if value is None else bool(value)


def template_caption(record: dict[str, Any]) -> str:
    """A caption from the curate scores: describes what varies, never the face."""
    s = record.get("scores") or {}
    framing = _FRAMING.get(str(s.get("framing"))) or framing_of(s.get("face_height"))
    parts = [f"a {framing} shot of a person"]
    yaw = _YAW.get(str(s.get("yaw_bin"))) if s.get("yaw_bin") is not None else None
    if yaw:
        parts[0] += f" {yaw}"
    expression = _EXPRESSION.get(str(s.get("expression"))) if s.get("expression") is not None else None
    if expression:
        parts.append(expression)
    parts.append(f"{_LIGHTING.get(str(s.get('lighting'))) or lighting_of(s.get('brightness'))} lighting")
    if record.get("source_kind") == "image":
        motion = "slow zoom" if record.get("camera_motion") == "zoom" else "slow camera pan"
        parts.append(f"still photograph with a {motion}")
    elif s.get("style") == "stylised":
        parts.append("animation")
    else:
        parts.append("video footage")
    audio = _has_audio(record)
    if audio is not None:
        parts.append("with sound" if audio else "silent")
    return ", ".join(parts)
