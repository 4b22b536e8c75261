"""Why a clip is rejected: a fixed set of machine-readable codes, each with a human sentence.

The manifest stores the codes in ``reasons`` and the sentences in ``reason_details`` (same length,
same order). Sentences name the measured value and the parameter that decided, so a person can see
what to change; the codes are what coverage, the curation grid and filters count.
"""

from __future__ import annotations

from dataclasses import dataclass

CODES = ("unreadable", "too_short", "low_resolution", "low_frame_rate", "no_face", "face_too_small", "wrong_identity",
         "character_absent", "blurry", "compressed", "duplicate", "wrong_voice", "several_speakers")
"""Every reason code, in the order a clip's checks run."""

UNCUTTABLE = ("unreadable", "too_short", "low_resolution", "low_frame_rate")
"""Codes of a source no clip can be cut from (the others judge a clip that exists)."""


@dataclass(frozen=True)
class Reason:
    code: str
    detail: str

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unknown reason code {self.code!r}; known: {', '.join(CODES)}")


def split(reasons: list[Reason]) -> tuple[list[str], list[str]]:
    """``(codes, details)`` for the manifest's ``reasons`` and ``reason_details``."""
    return [r.code for r in reasons], [r.detail for r in reasons]
