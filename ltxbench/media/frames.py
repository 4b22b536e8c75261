"""Frame-index arithmetic and frame geometry: rate conversion, shot clips, buckets, resize-and-crop, still images as clips.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np

from ltxbench.media.video import VideoInfo

# ---------------------------------------------------------------------------------------
# Frame-rate conversion and bucketing
# ---------------------------------------------------------------------------------------


def sample_indices(num_frames: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over ``num_frames`` frames, first and last included (fewer
    when the clip is shorter)."""
    n = max(1, min(n, num_frames))
    return sorted({int(round(x)) for x in np.linspace(0, num_frames - 1, num=n)})


def resample_indices(num_frames: int, src_fps: float, dst_fps: float, start: int, count: int,
                     frame_times: np.ndarray | None = None) -> list[int]:
    """Source frame indices for ``count`` frames at ``dst_fps``, starting at source frame ``start``.

    Output frame ``k`` shows the source frame nearest in time to ``k / dst_fps`` after frame
    ``start`` (halves go to the later frame). At a constant rate (``frame_times`` None) that is
    ``start + round(k * src_fps / dst_fps)``: 30 -> 24 fps takes ``0, 1, 3, 4, 5, 6, 8, ...``
    (every fifth source frame dropped); 24 -> 30 fps repeats frames. With ``frame_times``
    (``VideoInfo.frame_times`` of a variable-rate source) the frames are found by their
    timestamps, so the clip lasts ``count / dst_fps`` seconds of real time however the rate
    varies. Raises ``ValueError`` when the source has too few frames after ``start`` (a time past
    the middle of the last frame has none). At a constant rate the span used is
    ``source_span(src_fps, dst_fps, count)`` frames.
    """
    if not (src_fps > 0 and dst_fps > 0):
        raise ValueError(f"fps must be positive, got src_fps={src_fps}, dst_fps={dst_fps}")
    if count < 0 or start < 0:
        raise ValueError(f"start and count must be >= 0, got start={start}, count={count}")
    if frame_times is not None:
        return _nearest_in_time(frame_times, dst_fps, start, count)
    step = src_fps / dst_fps
    # The tiny epsilon keeps exact halves (k * 1.25 = 2.5) from flipping on float noise.
    out = [int(start) + int(math.floor(k * step + 0.5 + 1e-9)) for k in range(count)]
    if out and out[-1] >= num_frames:
        raise ValueError(f"{count} frames at {dst_fps:g} fps from source frame {start} need source frames up to "
                         f"{out[-1]}, but the source has {num_frames} frames at {src_fps:g} fps")
    return out


_TIME_EPS = 1e-6  # s; decord's timestamps are float32 (0.08333334), a tie must not flip on that


def _nearest_in_time(frame_times: np.ndarray, dst_fps: float, start: int, count: int) -> list[int]:
    """:func:`resample_indices` by timestamps: for each output time the nearest frame start."""
    starts = frame_times[:, 0]
    n = len(starts)
    if count == 0:
        return []
    if start >= n:
        raise ValueError(f"source frame {start} does not exist: the source has {n} frames")
    t = starts[start] + np.arange(count) / dst_fps
    before = np.clip(np.searchsorted(starts, t + _TIME_EPS, side="right") - 1, 0, n - 1)
    after = np.minimum(before + 1, n - 1)
    later = (starts[after] - t) <= (t - starts[before]) + _TIME_EPS
    out = np.where(later, after, before)
    last_middle = (starts[-1] + frame_times[-1, 1]) / 2.0
    if t[-1] >= last_middle - _TIME_EPS:
        raise ValueError(f"{count} frames at {dst_fps:g} fps from source frame {start} ({starts[start]:.3f} s) last "
                         f"until {t[-1] + 1 / dst_fps:.3f} s, but the source's last frame ends at "
                         f"{frame_times[-1, 1]:.3f} s ({n} frames, variable frame rate)")
    return [int(i) for i in out]


def source_span(src_fps: float, dst_fps: float, count: int) -> int:
    """How many consecutive source frames :func:`resample_indices` covers for ``count`` output
    frames at a constant rate (a variable-rate clip's span depends on where it starts)."""
    if count <= 0:
        return 0
    return int(math.floor((count - 1) * (src_fps / dst_fps) + 0.5 + 1e-9)) + 1


def shot_clips(info: VideoInfo, dst_fps: float, count: int, shot_start: int, shot_end: int) -> list[list[int]]:
    """The source indices of each clip of ``count`` frames at ``dst_fps`` that fits in the shot
    ``[shot_start, shot_end)``, laid end to end: a clip starts at the source frame after the last
    one the previous clip shows. At a constant rate: clips every ``source_span`` frames, as many
    as ``(shot_end - shot_start) // source_span`` (what curate always cut); with
    ``info.frame_times`` each lasts ``count / dst_fps`` seconds of real time."""
    out: list[list[int]] = []
    start = shot_start
    while start < shot_end:
        try:
            indices = resample_indices(info.num_frames, info.fps, dst_fps, start, count, info.frame_times)
        except ValueError:  # runs past the end of the source
            break
        if not indices or indices[-1] >= shot_end:
            break
        out.append(indices)
        start = indices[-1] + 1
    return out


def bucket_size(src_w: int, src_h: int, short_side: int) -> tuple[int, int] | None:
    """Training resolution ``(w, h)`` for a source: short side = ``short_side``, aspect kept.

    The long side is rounded to the nearest multiple of 32 (but never above the source's long
    side, so nothing is upscaled); orientation follows the source. Returns ``None`` when the
    source's short side is smaller than ``short_side``: sources are never upscaled.
    """
    if short_side <= 0 or short_side % 32:
        raise ValueError(f"short_side must be a positive multiple of 32, got {short_side}")
    if src_w <= 0 or src_h <= 0:
        raise ValueError(f"source size must be positive, got {src_w}x{src_h}")
    src_short, src_long = min(src_w, src_h), max(src_w, src_h)
    if src_short < short_side:
        return None
    exact_long = short_side * src_long / src_short
    long = int(math.floor(exact_long / 32 + 0.5)) * 32
    if long > src_long:  # rounding up past the source would upscale the long side
        long -= 32
    long = max(long, short_side)
    return (long, short_side) if src_w >= src_h else (short_side, long)


# ---------------------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------------------


def _check_rgb(frame: np.ndarray, what: str = "frame") -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise ValueError(f"{what} must be a [H,W,3] uint8 RGB array, got shape {shape} dtype {dtype}")


def resize_crop(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``frame`` ``[H,W,3]`` to cover ``width`` x ``height``, then centre-crop to exactly that.

    Shrinking uses ``cv2.INTER_AREA`` (averages, so no aliasing); enlarging uses ``cv2.INTER_CUBIC``.
    """
    _check_rgb(frame)
    if width < 1 or height < 1:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    src_h, src_w = frame.shape[:2]
    scale = max(width / src_w, height / src_h)
    new_w = max(width, int(round(src_w * scale)))
    new_h = max(height, int(round(src_h * scale)))
    if (new_w, new_h) != (src_w, src_h):
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
        frame = cv2.resize(frame, (new_w, new_h), interpolation=interp)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(frame[y0:y0 + height, x0:x0 + width])


def image_to_clip(image: np.ndarray, width: int, height: int, num_frames: int,
                  motion: Literal["pan", "zoom"] = "pan", amount: float = 0.08) -> np.ndarray:
    """A photo ``[H,W,3]`` as a clip ``[F,height,width,3]`` with a slow, smooth camera move.

    The view starts on the largest centred window of the target aspect, shrunk by ``amount``
    for a pan. ``"zoom"`` pushes in until the window is ``1 - amount`` of its start size;
    ``"pan"`` moves left to right by ``amount`` of the frame width. Motion eases in and out
    (cosine), and each frame is sampled with sub-pixel precision by ``cv2.warpAffine``.
    """
    _check_rgb(image, "image")
    if width < 1 or height < 1 or num_frames < 1:
        raise ValueError(f"need width, height, num_frames >= 1, got {width}x{height}, {num_frames} frames")
    if motion not in ("pan", "zoom"):
        raise ValueError(f"motion must be 'pan' or 'zoom', got {motion!r}")
    if not 0.0 <= amount < 0.5:
        raise ValueError(f"amount must be in [0, 0.5), got {amount}")
    image, base_w, base_h = _prescale_for_motion(image, width, height, amount)
    img_h, img_w = image.shape[:2]
    cx, cy = img_w / 2.0, img_h / 2.0
    out = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for k in range(num_frames):
        t = k / (num_frames - 1) if num_frames > 1 else 0.0
        ease = 0.5 - 0.5 * math.cos(math.pi * t)  # 0 -> 1 with zero speed at both ends
        if motion == "zoom":
            win_w, win_h, x_c = base_w * (1.0 - amount * ease), base_h * (1.0 - amount * ease), cx
        else:
            win_w, win_h = base_w * (1.0 - amount), base_h * (1.0 - amount)
            travel = amount * win_w  # fits: the window is amount * base_w narrower than the base
            x_c = cx - travel / 2.0 + travel * ease
        out[k] = _sample_window(image, x_c, cy, win_w, win_h, width, height)
    return out


def _prescale_for_motion(image: np.ndarray, width: int, height: int, amount: float) -> tuple[np.ndarray, float, float]:
    """Shrink a large photo (INTER_AREA) so the tightest window still has >= output pixels.

    warpAffine's bilinear sampling aliases when it shrinks by a large factor, so the big
    reduction happens here once; returns the image and its base window size ``(w, h)``.
    """
    img_h, img_w = image.shape[:2]
    aspect = width / height
    base_w, base_h = (img_h * aspect, float(img_h)) if img_w / img_h > aspect else (float(img_w), img_w / aspect)
    shrink = width / (base_w * (1.0 - amount))
    if shrink < 1.0:
        new_size = (max(1, int(round(img_w * shrink))), max(1, int(round(img_h * shrink))))
        image = cv2.resize(image, new_size, interpolation=cv2.INTER_AREA)
        sx, sy = new_size[0] / img_w, new_size[1] / img_h
        base_w, base_h = base_w * sx, base_h * sy
    return image, base_w, base_h


def _sample_window(image: np.ndarray, x_c: float, y_c: float, win_w: float, win_h: float,
                   width: int, height: int) -> np.ndarray:
    """Resample the window centred at ``(x_c, y_c)`` of size ``win_w`` x ``win_h`` to the output size."""
    sx, sy = win_w / width, win_h / height
    x0, y0 = x_c - win_w / 2.0, y_c - win_h / 2.0
    # Inverse map from output pixel centres to source coordinates (pixel-centre convention).
    m = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]], dtype=np.float64)
    return cv2.warpAffine(image, m, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT101)
