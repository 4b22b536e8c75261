"""Head yaw (left-right turn) from dlib's 68 landmarks, by a rigid-head geometry, no 3-D model fit.

Model: seen from above, the outer eye corners (points 36 and 45) sit at ``x = ±a`` and the nose tip
(point 30) sits ``d`` in front of them. Turning the head by ``θ`` projects (weak perspective) the
eye-corner midpoint to ``z_eyes·sin θ``, their half-span to ``a·cos θ`` and the nose tip to
``(z_eyes + d)·sin θ``, so::

    (nose_x - eyes_mid_x) / half_span = (d / a) · tan θ   =>   θ = atan(offset / (d / a))

``d / a`` is :data:`NOSE_DEPTH_RATIO`: the nose tip stands ~40 mm in front of the outer eye corners,
which are ~45 mm either side of the midline (adult anthropometric averages), so 0.9. The points
are first rotated so the eye line is horizontal (head roll does not read as yaw). Positive yaw:
the nose points to the image's right. dlib's HOG detector rarely finds faces turned beyond ~60°,
and the far eye corner is guessed near profile, so large angles are estimates.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

NOSE_DEPTH_RATIO = 0.9
"""Nose-tip depth in front of the outer eye corners / half the outer-eye-corner distance."""

YawBin = Literal["front", "three_quarter", "profile"]


def level_eyes(points: np.ndarray) -> np.ndarray:
    """The 68 points ``[68,2]`` rotated about the eye midpoint so the outer eye corners are level."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"need dlib's 68 landmarks as [68,2], got {pts.shape}")
    left, right = pts[36], pts[45]
    angle = math.atan2(right[1] - left[1], right[0] - left[0])
    c, s = math.cos(-angle), math.sin(-angle)
    mid = (left + right) / 2.0
    return (pts - mid) @ np.array([[c, s], [-s, c]]) + mid


def yaw_degrees(points: np.ndarray) -> float:
    """Head yaw in degrees from the 68 landmarks ``[68,2]`` (pixels); 0 is facing the camera."""
    pts = level_eyes(points)
    left, right, nose = pts[36], pts[45], pts[30]
    half_span = abs(right[0] - left[0]) / 2.0
    if half_span < 1e-6:
        raise ValueError("the outer eye corners coincide: no yaw can be measured")
    offset = (nose[0] - (left[0] + right[0]) / 2.0) / half_span
    return math.degrees(math.atan(offset / NOSE_DEPTH_RATIO))


def yaw_bin(yaw_deg: float, front_max_deg: float, profile_min_deg: float) -> YawBin:
    """``front`` below ``front_max_deg`` (absolute), ``profile`` from ``profile_min_deg``, else ``three_quarter``."""
    a = abs(yaw_deg)
    if a < front_max_deg:
        return "front"
    return "profile" if a >= profile_min_deg else "three_quarter"
