"""Lighting of a clip from its sampled frames: brightness, RMS contrast, colour temperature, a band.

* brightness: mean luma (Rec. 709 weights on the sRGB-encoded values), 0..1;
* contrast: RMS contrast, the standard deviation of that luma, 0..~0.5;
* colour temperature: McCamy's (1992) cubic for the correlated colour temperature of the mean
  colour's CIE 1931 chromaticity (sRGB decoded to linear light, then to XYZ with the D65 sRGB
  matrix). It reads the light *and* the scene's colours (a red wall looks warm); a cue, not a
  measurement of the lamp. Clipped to 1000-20000 K where the cubic stops meaning anything.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Band = Literal["dark", "normal", "bright"]

_LUMA = np.array([0.2126, 0.7152, 0.0722])
# Linear sRGB (D65) -> CIE XYZ, IEC 61966-2-1.
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805],
                         [0.2126, 0.7152, 0.0722],
                         [0.0193, 0.1192, 0.9505]])


def _luma(frames: np.ndarray) -> np.ndarray:
    return np.asarray(frames, dtype=np.float32)[..., :3] @ _LUMA.astype(np.float32) / 255.0


def brightness_contrast(frames: np.ndarray) -> tuple[float, float]:
    """Mean luma and RMS contrast of ``[N,H,W,3]`` (or ``[H,W,3]``) uint8 RGB frames, both on 0..1."""
    y = _luma(frames)
    return float(y.mean()), float(y.std())


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def color_temperature_k(frames: np.ndarray) -> float | None:
    """McCamy CCT in kelvin of the frames' mean linear colour; ``None`` for a black frame."""
    rgb = _srgb_to_linear(np.asarray(frames, dtype=np.float64)[..., :3] / 255.0).reshape(-1, 3).mean(axis=0)
    xyz = _SRGB_TO_XYZ @ rgb
    total = float(xyz.sum())
    if total < 1e-6:
        return None
    x, y = xyz[0] / total, xyz[1] / total
    n = (x - 0.3320) / (0.1858 - y)
    cct = 449.0 * n**3 + 3525.0 * n**2 + 6823.3 * n + 5520.33
    return float(np.clip(cct, 1000.0, 20000.0))


def lighting_band(brightness: float, dark_below: float, bright_above: float) -> Band:
    """``dark`` below ``dark_below``, ``bright`` above ``bright_above``, ``normal`` between."""
    if brightness < dark_below:
        return "dark"
    return "bright" if brightness > bright_above else "normal"
