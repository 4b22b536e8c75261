"""Smile and talking from the mouth's shape in dlib's 68 landmarks.

Every length is divided by the outer-eye-corner distance (points 36-45), so the numbers do not
depend on how large the face is in the frame, and the points are levelled first (head roll).

* **smile**: a smile pulls the mouth corners (48, 54) outwards and upwards. ``smile`` is the
  corners' rise above the middle of the lips (mean of inner-lip points 62 and 66), per eye
  distance, plus the mouth's width per eye distance minus :data:`NEUTRAL_MOUTH_WIDTH` (the width
  of a relaxed mouth); about 0 for a relaxed mouth, higher for a smile.
* **mouth opening**: the inner lips' gap (pairs 61-67, 62-66, 63-65) per eye distance.
* **mouth_motion**: the standard deviation of the opening over a short burst of consecutive
  frames; speech opens and closes the mouth several times a second, a held expression does not.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from ltxbench.curate.scores.pose import level_eyes

NEUTRAL_MOUTH_WIDTH = 0.55
"""Mouth-corner distance / outer-eye-corner distance of a relaxed mouth (adult averages ~0.5-0.6)."""

Expression = Literal["neutral", "smiling", "talking"]


def _eye_distance(pts: np.ndarray) -> float:
    d = float(np.linalg.norm(pts[45] - pts[36]))
    if d < 1e-6:
        raise ValueError("the outer eye corners coincide: the face is too small or the landmarks failed")
    return d


def smile_score(points: np.ndarray) -> float:
    """Mouth-corner rise plus extra mouth width, per eye distance (see module docstring)."""
    pts = level_eyes(points)
    eyes = _eye_distance(pts)
    centre_y = (pts[62, 1] + pts[66, 1]) / 2.0
    corners_y = (pts[48, 1] + pts[54, 1]) / 2.0
    rise = (centre_y - corners_y) / eyes  # image y grows downwards: corners above the centre -> positive
    width = float(np.linalg.norm(pts[54] - pts[48])) / eyes
    return float(rise + (width - NEUTRAL_MOUTH_WIDTH))


def mouth_opening(points: np.ndarray) -> float:
    """Inner-lip gap per eye distance: 0 closed, ~0.3-0.5 wide open."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"need dlib's 68 landmarks as [68,2], got {pts.shape}")
    gap = np.mean([np.linalg.norm(pts[a] - pts[b]) for a, b in ((61, 67), (62, 66), (63, 65))])
    return float(gap / _eye_distance(pts))


def mouth_motion(openings: Sequence[float]) -> float | None:
    """Standard deviation of the mouth opening over consecutive frames; ``None`` with fewer than 2."""
    if len(openings) < 2:
        return None
    return float(np.std(np.asarray(openings, dtype=np.float64)))


def expression_label(smile: float | None, motion: float | None, smile_min: float, talk_min: float) -> Expression | None:
    """``talking`` when the mouth moves (``motion >= talk_min``), else ``smiling`` when
    ``smile >= smile_min``, else ``neutral``; ``None`` when neither was measured."""
    if smile is None and motion is None:
        return None
    if motion is not None and motion >= talk_min:
        return "talking"
    if smile is not None and smile >= smile_min:
        return "smiling"
    return "neutral"
