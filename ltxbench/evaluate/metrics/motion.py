"""How much a video moves: mean dense optical flow, to check that a LoRA keeps the base's motion.

A LoRA trained on few, mostly static clips (or on photos) can freeze the model: faces right,
nothing moves. :func:`motion_magnitude` measures motion as the mean length of OpenCV's
Farneback optical flow between adjacent frames, computed on grey frames resized so the long
side is :data:`WORK_LONG_SIDE` = 256 px (768x512 -> 256x171). The unit is **pixels per frame
at that working resolution**: 1.0 means content moves on average 1/256 of the frame's long
side per frame (3 px per frame in a 768-px-wide video). Fixing the resolution makes videos of
different sizes comparable and keeps the cost low (a few ms per pair).

:func:`motion_ratio` divides a checkpoint's motion by the base model's for the same prompt and
seed: 1 = same motion, below 1 = the LoRA damps motion.

Which frames: adjacent video frames (the flow of one frame step). :func:`pair_indices` picks
``n_pairs`` adjacent pairs spread over a video, so reading ``2 * n_pairs`` frames is enough;
call ``motion_magnitude(frames, paired=True)`` on them.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_LONG_SIDE = 256
STATIC_MOTION = 0.05
"""px/frame at the working resolution below which a video counts as static (codec noise on a
still photo measures ~0.01), so :func:`motion_ratio` refuses to divide by it."""
# Farneback settings: 3-level pyramid (handles ~10 px/frame at 256 px), 15-px window, the
# polynomial expansion OpenCV documents for poly_n=5.
_FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


def _grey_small(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    scale = WORK_LONG_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


def flow_magnitude(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Farneback flow length from frame ``a`` to frame ``b`` (``[H,W,3]`` uint8), px at the working size."""
    flow = cv2.calcOpticalFlowFarneback(_grey_small(a), _grey_small(b), None, **_FARNEBACK)
    return float(np.linalg.norm(flow, axis=-1).mean())


def pair_indices(num_frames: int, n_pairs: int = 8) -> list[int]:
    """Frame indices ``[i0, i0+1, i1, i1+1, ...]`` of ``n_pairs`` adjacent pairs spread evenly over
    a ``num_frames`` video (fewer pairs when it is short); read them and pass ``paired=True``."""
    if num_frames < 2:
        raise ValueError(f"motion needs at least 2 frames, the video has {num_frames}")
    n = max(1, min(n_pairs, num_frames - 1))
    starts = sorted({int(round(x)) for x in np.linspace(0, num_frames - 2, num=n)})
    return [i for s in starts for i in (s, s + 1)]


def motion_magnitude(frames: np.ndarray, paired: bool = False) -> float:
    """Mean optical-flow magnitude, px/frame at the working resolution (see the module docstring).

    ``frames`` ``[F,H,W,3]`` uint8: consecutive video frames (flow between each neighbour), or
    with ``paired=True`` the frames of :func:`pair_indices` (flow within each pair only).
    """
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be a [F,H,W,3] uint8 RGB array, got shape {getattr(frames, 'shape', None)}")
    if len(frames) < 2 or (paired and len(frames) % 2):
        raise ValueError(f"motion needs {'an even number of' if paired else 'at least 2'} frames, got {len(frames)}")
    pairs = zip(frames[0::2], frames[1::2]) if paired else zip(frames[:-1], frames[1:])
    return float(np.mean([flow_magnitude(a, b) for a, b in pairs]))


def motion_ratio(ckpt: float, base: float) -> float | None:
    """``ckpt / base`` motion; ``None`` when the base video is static (below :data:`STATIC_MOTION`),
    where a ratio would be noise divided by noise."""
    if not (np.isfinite(ckpt) and np.isfinite(base)) or ckpt < 0 or base < 0:
        raise ValueError(f"motion values must be finite and >= 0, got ckpt={ckpt}, base={base}")
    if base < STATIC_MOTION:
        return None
    return float(ckpt / base)
