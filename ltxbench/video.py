"""Video and image I/O for curation and evaluation: decord reads, PyAV writes.

Frames are always ``uint8`` RGB arrays: one frame is ``[H,W,3]``, a clip is ``[F,H,W,3]``.

Reading
    :func:`probe` describes a video (frame count, fps, upright size, audio, rotation);
    :func:`read_frames` decodes chosen frames with decord, upright; :func:`read_image` reads a
    photo with its EXIF orientation applied. Missing files raise ``FileNotFoundError``;
    unreadable or corrupt files raise :class:`MediaError` (a ``RuntimeError``) naming the file.

Bad input (``tests/test_bad_input.py`` builds each one and runs the real curate stage on them)
    A zero-byte file, a truncated mp4, a text file named ``.mp4`` and an audio-only mp4/mkv/webm
    each raise one :class:`MediaError` line ("the file is empty (0 bytes)", "Invalid data found
    ... (not a media file FFmpeg knows, or a truncated or corrupt one)", "it has no video stream
    (1 audio stream(s); an audio-only file?)"), with decord's log prefixes stripped. A one-frame
    video and a 2x2 video probe fine (curate rejects them as too short / too small); decord 0.6
    cannot decode frames of some tiny widths (2, 4, 8, 16, 24 px, measured), which
    :func:`read_frames` says in its error. A 20000x4 photo reads. A file name that is not
    valid UTF-8 is opened through a temporary symlink (decord cannot encode it) and written in
    messages with backslash escapes (:func:`display_path`). mp4, mov, mkv and webm rotation and
    jpg/png/webp EXIF orientation are honoured (tested).

Rotation
    Phone videos store sideways frames plus a display matrix (or a legacy ``rotate`` tag).
    ``VideoInfo.rotation`` is the clockwise turn, in degrees, that makes stored frames upright
    (the ``rotate``-tag convention). decord 0.6.0 already applies that turn while decoding
    (measured: ``tests/test_video.py`` writes 90/180/270 files and checks), so
    :func:`read_frames` only turns frames itself when a decoder hands back the stored,
    sideways shape; a 180 degree turn cannot be seen from the shape and is left to decord.

Shots
    :func:`detect_cuts` is a content-based hard-cut detector (see its docstring for the rule;
    :mod:`ltxbench.shots` chooses between it and TransNetV2, and docs/shots.md compares them);
    on ``tests/data`` it finds every hard cut to the exact frame and rejects the strobing
    hologram effect in *Tears of Steel* (frames 192-204), the fast whip pans in *Sintel*
    and a character jumping into frame there (frame 179). Gradual transitions (dissolves,
    fades) are not detected.

Frame rate
    Clips are resampled to the target fps by time (:func:`resample_indices`, :func:`shot_clips`).
    A constant-rate source is indexed ``round(k * src_fps / dst_fps)``; a variable-rate one (phone
    and screen recordings: :func:`probe` reads decord's per-frame timestamps and keeps them in
    ``VideoInfo.frame_times`` when they stray from ``i / fps`` by over a tenth of a frame) by the
    nearest frame in time, so a clip of N frames lasts N / fps seconds of real time however the
    rate varies (``tests/test_video.py`` writes a 12-then-48 fps file with PyAV and checks).

Writing
    :func:`write_mp4` encodes H.264 yuv420p converted and tagged as BT.709 (decord and PyAV
    both honour the tag: saturated colours come back within 2 levels, tested) and replaces the
    target atomically.
"""

from __future__ import annotations

import contextlib
import logging
import math
import errno
import os
import re
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from ltxbench.durable import replace_durably

log = logging.getLogger("ltxbench")

PathLike = str | os.PathLike[str]


class MediaError(RuntimeError):
    """A media file exists but cannot be decoded (corrupt, truncated, not a video or image)."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video. ``width``/``height`` are the upright size."""

    path: Path
    fps: float
    num_frames: int
    width: int
    height: int
    duration_s: float
    has_audio: bool
    rotation: int  # clockwise degrees (0/90/180/270) that turn stored frames upright
    frame_times: np.ndarray | None = field(default=None, compare=False, repr=False)
    """Variable-frame-rate sources only: ``[num_frames, 2]`` float64, each frame's presentation
    ``[start, end]`` in seconds from the first frame's start (decord's timestamps). ``None`` for a
    constant rate, where frame ``i`` is at ``i / fps`` (see :func:`constant_rate`)."""

    def time_of(self, index: int) -> float:
        """Seconds from the first frame to the start of frame ``index``."""
        return index / self.fps if self.frame_times is None else float(self.frame_times[index, 0])


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------


def _existing_file(path: PathLike) -> Path:
    """``path`` as a Path; ``FileNotFoundError`` when missing, :class:`MediaError` when empty."""
    p = Path(path)
    if not p.is_file():
        if p.is_symlink():
            try:
                p.resolve(strict=True)
                target = "does not lead to a file"
            except RuntimeError:  # Python < 3.13 reports a loop so
                target = "is part of a loop of links"
            except OSError as exc:
                target = ("is part of a loop of links" if exc.errno == errno.ELOOP
                          else f"points to {os.readlink(p)}, which does not exist")
            raise FileNotFoundError(f"{display_path(p)} is a symbolic link that {target}")
        raise FileNotFoundError(f"no such file: {display_path(p)}")
    if p.stat().st_size == 0:
        raise MediaError(f"cannot read {display_path(p)}: the file is empty (0 bytes)")
    return p


@contextlib.contextmanager
def _openable_name(path: Path) -> Iterator[str]:
    """A name of ``path`` that native decoders can open.

    decord passes names to FFmpeg as UTF-8 and fails with ``UnicodeEncodeError`` on a file name
    that is not valid UTF-8 (Linux allows any bytes). For such a name this yields a symlink with
    a plain name in a temporary folder, removed on exit; FFmpeg keeps the file open through its
    own descriptor, so a reader opened inside the block keeps working after it.
    """
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        with tempfile.TemporaryDirectory(prefix="ltxbench-name-") as tmp:
            # Keep the suffix (FFmpeg probes by content, but some demuxers look at it too).
            suffix = "".join(c for c in path.suffix if c == "." or (c.isascii() and c.isalnum()))
            link = os.path.join(tmp, "media" + suffix)
            os.symlink(os.path.abspath(path), link)
            yield link
        return
    yield name


def _open_decord(path: Path) -> Any:
    """A decord VideoReader; decord's RuntimeError/DECORDError become a MediaError naming the file."""
    import decord  # heavy native library: imported on first use so importing this module stays cheap

    try:
        with _openable_name(path) as name:
            return decord.VideoReader(name, ctx=decord.cpu(0))
    except Exception as exc:  # decord raises RuntimeError or DECORDError (not a RuntimeError subclass)
        raise MediaError(f"cannot read video {display_path(path)}: {_first_line(exc)}") from exc


# decord's messages start "[04:30:02] /github/workspace/src/video/video_reader.cc:270: [<file>] ".
_DECORD_LOG_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+?:\d+: (Error: )?(\[[^\]]*\] )?")
_AVERROR_INVALIDDATA = "1094995529"  # FFmpeg's AVERROR_INVALIDDATA as decord prints it


def _first_line(exc: BaseException) -> str:
    """A one-line reason from a decoder's exception, without log prefixes or source paths."""
    strerror = getattr(exc, "strerror", None)  # PyAV's FFmpegError: "Invalid data found when ..."
    if isinstance(strerror, str) and strerror:
        if strerror.startswith("Invalid data found"):
            return f"{strerror} (not a media file FFmpeg knows, or a truncated or corrupt one)"
        return strerror
    text = str(exc).strip()
    line = _DECORD_LOG_PREFIX.sub("", text.splitlines()[0]) if text else type(exc).__name__
    if _AVERROR_INVALIDDATA in line:
        line = f"invalid data in the stream ({line})"
    return line


def display_path(path: PathLike) -> str:
    """``path`` as printable text: bytes of a name that are not UTF-8 become backslash escapes
    (``bad\\xff.mp4``), so messages, logs and JSON never meet a lone surrogate."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _quarter_turns(degrees: float) -> int:
    """Degrees snapped to a multiple of 90 in [0, 360) (phone files store e.g. -89.97)."""
    return int(round(degrees / 90.0)) % 4 * 90


def _pyav_stream_facts(path: Path) -> tuple[int, int, int, bool]:
    """``(coded_width, coded_height, rotation_cw, has_audio)`` from the container, via PyAV."""
    import av  # heavy native library: imported on first use

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"cannot read video {display_path(path)}: it has no video stream "
                                 f"({len(container.streams.audio)} audio stream(s); an audio-only file?)")
            stream = container.streams.video[0]
            has_audio = len(container.streams.audio) > 0
            rotation = _rotation_cw(container, stream)
            return stream.codec_context.width, stream.codec_context.height, rotation, has_audio
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot read video {display_path(path)}: {_first_line(exc)}") from exc


def _rotation_cw(container: Any, stream: Any) -> int:
    """Clockwise degrees that turn the stored frames upright (0 when nothing says otherwise)."""
    tag = stream.metadata.get("rotate")  # legacy tag (FFmpeg < 6 demuxers): clockwise degrees
    if tag:
        try:
            return _quarter_turns(float(tag))
        except ValueError:
            pass
    side = getattr(stream, "side_data", None)  # PyAV < 14: {"DISPLAYMATRIX": counter-clockwise degrees}
    if isinstance(side, dict) and side.get("DISPLAYMATRIX") is not None:
        return _quarter_turns(-float(side["DISPLAYMATRIX"]))
    # PyAV >= 14 exposes the display matrix only on decoded frames (counter-clockwise degrees).
    for frame in container.decode(stream):
        return _quarter_turns(-float(getattr(frame, "rotation", 0) or 0))
    return 0


def _open(path: PathLike, times: bool = False) -> tuple[Any, VideoInfo]:
    p = _existing_file(path)
    coded_w, coded_h, rotation, has_audio = _pyav_stream_facts(p)
    reader = _open_decord(p)
    num_frames = len(reader)
    fps = float(reader.get_avg_fps())
    if num_frames < 1 or not fps > 0:
        raise MediaError(f"cannot read video {display_path(p)}: decord finds {num_frames} frames at {fps} fps")
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    frame_times = _variable_frame_times(reader, num_frames, fps, p) if times else None
    info = VideoInfo(p, fps, num_frames, width, height, num_frames / fps, has_audio, rotation, frame_times)
    return reader, info


def constant_rate(starts: np.ndarray, fps: float) -> bool:
    """Whether frame start times ``starts`` (seconds) are those of a constant ``fps``: every frame
    within a tenth of a frame interval of ``starts[0] + i / fps`` (measured on the bundled clips:
    within 3e-7 s). Cutting such a source by index or by time takes the same frames, and by index
    keeps the indices of every manifest written before timestamps were read."""
    expected = starts[0] + np.arange(len(starts)) / fps
    return bool(np.abs(starts - expected).max() <= 0.1 / fps)


def _variable_frame_times(reader: Any, num_frames: int, fps: float, path: Path) -> np.ndarray | None:
    """Each frame's ``[start, end]`` from the first frame's start when the rate varies, else None."""
    try:
        times = np.asarray(reader.get_frame_timestamp(list(range(num_frames))), dtype=np.float64).reshape(num_frames, 2)
    except Exception as exc:  # DECORDError: no usable timestamps; the frames are still readable
        log.warning("%s: decord gives no frame timestamps (%s); clips are cut by frame index at %.3g fps",
                    display_path(path), _first_line(exc), fps)
        return None
    times -= times[0, 0]
    if num_frames < 2 or constant_rate(times[:, 0], fps):
        return None
    if not (np.all(np.diff(times[:, 0]) > 0) and np.all(np.isfinite(times))):
        log.warning("%s: frame timestamps are not increasing; clips are cut by frame index at %.3g fps "
                    "(their real duration may differ)", display_path(path), fps)
        return None
    return times


def probe(path: PathLike) -> VideoInfo:
    """Describe a video without decoding it (beyond one frame for the rotation).

    ``num_frames`` and ``fps`` come from decord, so they match what :func:`read_frames` indexes;
    the stream size, audio presence and rotation come from PyAV. ``width``/``height`` are the
    upright size (what :func:`read_frames` returns); ``duration_s`` is ``num_frames / fps``
    (``fps`` is the average rate). ``frame_times`` holds each frame's timestamps when the rate
    varies (phone and screen recordings), so clips can be cut by time.
    """
    return _open(path, times=True)[1]


def _upright(frames: np.ndarray, info: VideoInfo) -> np.ndarray:
    """Turn ``[N,H,W,3]`` frames upright when the decoder returned the stored, sideways shape."""
    if frames.shape[1:3] == (info.height, info.width) or info.rotation not in (90, 270):
        return frames  # decord already applied the rotation (decord 0.6.0 does), or none is needed
    # np.rot90 turns counter-clockwise for positive k; the rotation is clockwise.
    return np.ascontiguousarray(np.rot90(frames, k=-info.rotation // 90, axes=(1, 2)))


def _as_indices(indices: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(indices if isinstance(indices, np.ndarray) else list(indices))
    if arr.size == 0:
        return arr.astype(np.int64).reshape(0)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"frame indices must be a flat sequence of integers, got {arr.dtype} shape {arr.shape}")
    return arr.astype(np.int64)


def read_frames(path: PathLike, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Decode frames ``indices`` of a video: ``[N,H,W,3]`` uint8 RGB, upright, in the order asked.

    Indices must lie in ``[0, num_frames)`` (no negative indexing); repeated indices are allowed.
    Raises ``ValueError`` for out-of-range indices and :class:`MediaError` for corrupt files.
    """
    idx = _as_indices(indices)
    reader, info = _open(path)
    if idx.size == 0:
        return np.empty((0, info.height, info.width, 3), dtype=np.uint8)
    bad = idx[(idx < 0) | (idx >= info.num_frames)]
    if bad.size:
        raise ValueError(f"frame indices out of range for {display_path(info.path)} ({info.num_frames} frames, "
                         f"valid 0..{info.num_frames - 1}): {bad[:5].tolist()}")
    try:
        frames = reader.get_batch(idx.tolist()).asnumpy()
    except Exception as exc:  # DECORDError mid-stream: a truncated or damaged file
        # Measured: decord 0.6 fails to copy out frames 2, 4, 8, 16 or 24 px wide (others work).
        hint = (f" ({info.width}x{info.height}: decord 0.6 cannot decode some frame sizes this small)"
                if min(info.width, info.height) < 32 else "")
        raise MediaError(f"cannot decode frames of {display_path(info.path)}: {_first_line(exc)}{hint}") from exc
    return _upright(frames, info)


def read_image(path: PathLike) -> np.ndarray:
    """Read a photo as ``[H,W,3]`` uint8 RGB with its EXIF orientation applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = _existing_file(path)
    try:
        with Image.open(p) as img:
            img.load()  # decode now, inside the try: PIL opens lazily and truncated files fail late
            upright = ImageOps.exif_transpose(img)
            return np.asarray(upright.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"cannot read image {display_path(p)}: {_first_line(exc)}") from exc


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


# ---------------------------------------------------------------------------------------
# Shot boundaries
# ---------------------------------------------------------------------------------------

_CUT_ANALYSIS_WIDTH = 128  # px; colour layout survives, noise and grain average out
_CUT_BATCH_BYTES = 96 * 2**20  # decoded RGB per decord batch, bounds memory on 4K sources
_HUE_BINS, _SAT_BINS, _VAL_BINS = 16, 4, 4
_GRID = 2  # 2x2 cells: a cut changes where colours are, not only which colours


def _frame_signature(frame: np.ndarray) -> np.ndarray:
    """Per-cell HSV histograms of one frame, ``[cells, bins]`` float32, each row summing to 1."""
    h, w = frame.shape[:2]
    small_h = max(_GRID, int(round(_CUT_ANALYSIS_WIDTH * h / w)))
    small = cv2.resize(frame, (_CUT_ANALYSIS_WIDTH, small_h), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)  # OpenCV 8-bit hue is 0..179
    hue = hsv[..., 0].astype(np.int32) * _HUE_BINS // 180
    sat = hsv[..., 1].astype(np.int32) * _SAT_BINS // 256
    val = hsv[..., 2].astype(np.int32) * _VAL_BINS // 256
    rows = np.minimum(np.arange(small_h) * _GRID // small_h, _GRID - 1)
    cols = np.minimum(np.arange(_CUT_ANALYSIS_WIDTH) * _GRID // _CUT_ANALYSIS_WIDTH, _GRID - 1)
    cell = rows[:, None] * _GRID + cols[None, :]
    bins = _HUE_BINS * _SAT_BINS * _VAL_BINS
    code = cell * bins + (hue * _SAT_BINS + sat) * _VAL_BINS + val
    hist = np.bincount(code.ravel(), minlength=_GRID * _GRID * bins).astype(np.float32)
    hist = hist.reshape(_GRID * _GRID, bins)
    normalised: np.ndarray = hist / hist.sum(axis=1, keepdims=True)
    return normalised


def _signature_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over cells of the total-variation distance between histograms: 0 same, 1 disjoint."""
    return float(0.5 * np.abs(a - b).sum(axis=1).mean())


def _iter_signatures(reader: Any, num_frames: int) -> Iterator[np.ndarray]:
    """Signatures of every frame, decoded in sequential decord batches of bounded size."""
    first = reader[0].asnumpy()
    per_batch = int(np.clip(_CUT_BATCH_BYTES // max(1, first.nbytes), 1, 64))
    yield _frame_signature(first)
    for lo in range(1, num_frames, per_batch):
        batch = reader.get_batch(list(range(lo, min(num_frames, lo + per_batch)))).asnumpy()
        for frame in batch:
            yield _frame_signature(frame)


def detect_cuts(path: PathLike, threshold: float = 0.35, *, min_shot_len: int = 6,
                peak_ratio: float = 2.0, flash_window: int = 6) -> list[int]:
    """Hard cuts in a video: the first frame index of every shot after the first, ascending.

    Each frame gets a signature: HSV colour histograms (16 hue x 4 saturation x 4 value bins) of
    its four quadrants, on a 128-px-wide copy. ``d[i]`` is the signature distance between frames
    ``i-1`` and ``i`` (0 = identical colours, 1 = nothing in common). Frame ``i`` starts a shot when

    1. ``d[i] >= threshold``: the colours change a lot;
    2. ``d[i] >= peak_ratio * max(d[i-2], d[i-1], d[i+1], d[i+2])``: the change is a lone spike,
       not fast motion, a whip pan or a strobe (those change every frame);
    3. every frame in ``[i-flash_window, i)`` still differs by ``>= threshold / 2`` from every
       frame in ``[i, i+flash_window]``: the old picture does not come back (a flash or a
       flicker effect is not a cut);
    4. among cuts closer than ``min_shot_len`` frames, only the strongest is kept.

    Frames are decoded in sequential batches and only a window of signatures is kept, so memory
    stays bounded on long videos. Gradual transitions (dissolves, fades) are not reported.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if min_shot_len < 1 or flash_window < 1 or peak_ratio < 1.0:
        raise ValueError("min_shot_len and flash_window must be >= 1 and peak_ratio >= 1")
    reader, info = _open(path)
    n = info.num_frames
    lookahead = max(2, flash_window)
    window: deque[np.ndarray] = deque(maxlen=flash_window + lookahead + 1)
    dists = [0.0]  # dists[i] = distance between frames i-1 and i; dists[0] is unused
    candidates: list[tuple[int, float]] = []
    try:
        for i, sig in enumerate(_iter_signatures(reader, n)):
            if i > 0:
                dists.append(_signature_distance(window[-1], sig))
            window.append(sig)
            c = i - lookahead  # enough frames after c are known now
            if c >= 1 and _is_cut(c, dists, window, i, threshold, peak_ratio, flash_window):
                candidates.append((c, dists[c]))
    except Exception as exc:  # DECORDError on a damaged stream
        raise MediaError(f"cannot decode frames of {display_path(info.path)}: {_first_line(exc)}") from exc
    for c in range(max(1, n - lookahead), n):  # the tail: windows truncated at the end
        if _is_cut(c, dists, window, n - 1, threshold, peak_ratio, flash_window):
            candidates.append((c, dists[c]))
    cuts = _keep_strongest(candidates, min_shot_len)
    log.debug("detect_cuts %s: %d cuts %s", info.path, len(cuts), cuts)
    return cuts


def _is_cut(c: int, dists: list[float], window: deque[np.ndarray], last: int, threshold: float,
            peak_ratio: float, flash_window: int) -> bool:
    """Rules 1-3 of :func:`detect_cuts` for frame ``c``; ``window`` holds signatures up to frame ``last``."""
    d = dists[c]
    if d < threshold:
        return False
    neighbours = [dists[j] for j in (c - 2, c - 1, c + 1, c + 2) if 1 <= j < len(dists)]
    if neighbours and d < peak_ratio * max(neighbours):
        return False
    first = last - len(window) + 1  # frame index of window[0]

    def sig(j: int) -> np.ndarray:
        return window[j - first]

    before = range(max(first, c - flash_window), c)
    after = range(c, min(last, c + flash_window) + 1)
    return all(_signature_distance(sig(a), sig(b)) >= threshold / 2 for a in before for b in after)


def _keep_strongest(candidates: list[tuple[int, float]], min_gap: int) -> list[int]:
    """Greedy non-maximum suppression: strongest first, dropping cuts within ``min_gap`` of a kept one."""
    kept: list[int] = []
    for frame, _ in sorted(candidates, key=lambda fc: -fc[1]):
        if all(abs(frame - k) >= min_gap for k in kept):
            kept.append(frame)
    return sorted(kept)


def shots_from_cuts(cuts: Sequence[int], num_frames: int) -> list[tuple[int, int]]:
    """Shots ``(start, end_exclusive)`` covering ``[0, num_frames)`` split at ``cuts``.

    Cuts are sorted and de-duplicated; a cut at 0 is ignored. Raises ``ValueError`` for cuts
    outside ``[0, num_frames)``.
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    bad = [c for c in cuts if not 0 <= c < num_frames]
    if bad:
        raise ValueError(f"cuts outside [0, {num_frames}): {bad[:5]}")
    bounds = [0, *sorted({int(c) for c in cuts if c > 0}), num_frames]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def _check_clip(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be a [F,H,W,3] array, got shape {getattr(frames, 'shape', None)}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (0..255), got {frames.dtype}; convert with "
                         "(np.clip(x, 0, 1) * 255).round().astype(np.uint8)")
    f, h, w = frames.shape[:3]
    if f < 1:
        raise ValueError("frames is empty: an mp4 needs at least one frame")
    if h % 2 or w % 2 or h < 2 or w < 2:
        raise ValueError(f"H.264 yuv420p needs even width and height, got {w}x{h}; crop or resize first")


def write_mp4(path: PathLike, frames: np.ndarray, fps: float, crf: int = 18,
              audio: tuple[np.ndarray, int] | None = None) -> Path:
    """Encode ``frames`` ``[F,H,W,3]`` uint8 RGB as H.264 yuv420p (BT.709) mp4 at ``fps``, with
    ``audio`` = ``(samples [C,T] or [T] float in [-1, 1], sample rate)`` as an AAC track when given
    (the generated sound of a sample, so its voice can be scored).

    Written to a temporary file in the target folder and moved into place with ``durable.replace_durably`` (fsynced, then renamed),
    so readers never see a half-written file. ``crf`` is x264's quality (0 lossless .. 51 worst;
    18 is visually near-transparent). Returns the path written.
    """
    import av  # heavy native library: imported on first use

    _check_clip(frames)
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be in 0..51, got {crf}")
    if audio is not None:
        samples = np.asarray(audio[0], dtype=np.float32)
        samples = samples[None] if samples.ndim == 1 else samples
        if samples.ndim != 2 or samples.shape[0] not in (1, 2) or not np.isfinite(samples).all() or audio[1] <= 0:
            raise ValueError(f"audio must be finite [C,T] samples with 1 or 2 channels and a positive rate, got "
                             f"shape {samples.shape} at {audio[1]} Hz")
        audio = (np.clip(samples, -1.0, 1.0), int(audio[1]))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp.mp4")
    os.close(fd)
    try:
        _encode_h264(av, Path(tmp_name), frames, fps, crf, audio)
        replace_durably(tmp_name, target)
    except av.error.FFmpegError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise MediaError(f"cannot encode {display_path(target)} ({frames.shape[2]}x{frames.shape[1]}, "
                         f"{len(frames)} frames): {_first_line(exc)}") from exc
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def _encode_h264(av: Any, path: Path, frames: np.ndarray, fps: float, crf: int,
                 audio: tuple[np.ndarray, int] | None = None) -> None:
    rate = Fraction(fps).limit_denominator(1001)  # 23.976 -> 2997/125, 24000/1001 stays exact
    _, height, width = frames.shape[:3]
    # faststart puts the index first so browsers and notebooks can play while loading.
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": str(crf), "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # Tag BT.709 limited range and convert with the same matrix: untagged files are read
        # as BT.601 by some players and BT.709 by others, shifting colours.
        stream.color_primaries, stream.color_trc, stream.colorspace, stream.color_range = 1, 1, 1, 1
        sound = None
        if audio is not None:  # every stream is added before the first packet is muxed
            sound = container.add_stream("aac", rate=audio[1], layout="mono" if audio[0].shape[0] == 1 else "stereo")
        for frame in frames:
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            yuv = rgb.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
            for packet in stream.encode(yuv):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        if sound is not None:
            _encode_aac(av, container, sound, *audio)


def _encode_aac(av: Any, container: Any, stream: Any, samples: np.ndarray, rate: int) -> None:
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    planar = np.ascontiguousarray(samples, dtype=np.float32)
    step = 1024  # AAC frame size
    for k in range(0, planar.shape[1], step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, k:k + step]), format="fltp", layout=layout)
        frame.sample_rate, frame.pts = rate, k
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
