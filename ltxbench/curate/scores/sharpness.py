"""Focus and motion blur of a face crop.

* **sharpness**: variance of the Laplacian of the grey crop divided by the crop's own intensity
  variance. The Laplacian responds to fine detail; dividing by the variance makes the number
  independent of exposure and contrast (a dim sharp face is not called blurry, a flat-lit one not
  called sharp). Faces differ by a factor of ~3 in it (the test photos: 2.6-7.9), so the threshold
  ``curate.min_sharpness`` (1.0) catches clear blur, not slightly soft footage. The crop is first resized to
  :data:`CROP_HEIGHT` px high so faces of every size are judged at one scale.
* **motion_blur**: 1 - λ_min/λ_max of the crop's gradient structure tensor (summed ``gx², gxgy, gy²``).
  Blur along one direction removes gradients along it, so the gradients line up: 0 for gradients
  in every direction, towards 1 when one direction dominates. A score only, no reason code: on the
  test photos a 9 px horizontal streak raises it by 0.1-0.5 on the same face, but sharp faces
  already range 0.1-0.46 (horizontal eyes and mouth are anisotropic), so no threshold separates
  them; the streak does lower ``sharpness``, which rejects it.
"""

from __future__ import annotations

import cv2
import numpy as np

CROP_HEIGHT = 64
"""Height in px every face crop is resized to before measuring. dlib finds faces from ~40 px, and
at score size most faces are 60-250 px, so this mostly shrinks; 64 rather than more because the
sub-pixel resampling of a photo's pan softens the finest pixel scale (measured on obama_3.jpg:
1.0-1.4 at 96 px against 2.6-3.4 at 64 px, still far from a Gaussian blur of sigma 2 px, 0.4-0.7)."""


def face_crop(frame: np.ndarray, box_px: tuple[int, int, int, int]) -> np.ndarray:
    """Grey float32 crop of ``box_px`` (x0, y0, x1, y1) from an RGB frame, resized to :data:`CROP_HEIGHT` high."""
    x0, y0, x1, y1 = box_px
    crop = frame[max(0, y0):y1, max(0, x0):x1]
    if crop.size == 0:
        raise ValueError(f"empty face box {box_px} in a {frame.shape[1]}x{frame.shape[0]} frame")
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    width = max(8, int(round(w * CROP_HEIGHT / h)))
    interp = cv2.INTER_AREA if h > CROP_HEIGHT else cv2.INTER_CUBIC
    return cv2.resize(grey, (width, CROP_HEIGHT), interpolation=interp).astype(np.float32)


def sharpness(grey: np.ndarray) -> float | None:
    """Laplacian variance / intensity variance of a grey crop; ``None`` for a flat crop."""
    var = float(grey.var())
    if var < 1.0:  # a flat patch (less than one grey level of spread) has no detail to judge
        return None
    return float(cv2.Laplacian(grey, cv2.CV_32F, ksize=3).var() / var)


def motion_blur(grey: np.ndarray) -> float | None:
    """Gradient anisotropy ``1 - λ_min/λ_max`` of a grey crop (0 isotropic, 1 one direction); ``None`` when flat."""
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    tensor = np.array([[float((gx * gx).sum()), float((gx * gy).sum())],
                       [float((gx * gy).sum()), float((gy * gy).sum())]])
    low, high = np.linalg.eigvalsh(tensor)
    if high <= 1e-6:
        return None
    return float(1.0 - max(low, 0.0) / high)
