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
    :func:`ltxbench.curate.shots.content_cuts` is a content-based hard-cut detector (see its docstring for
    the rule; :func:`ltxbench.curate.shots.detect_cuts` chooses between it and TransNetV2, and docs/shots.md compares them);
    on ``tests/data`` it finds every hard cut to the exact frame and rejects the strobing
    hologram effect in *Tears of Steel* (frames 192-204), the fast whip pans in *Sintel*
    and a character jumping into frame there (frame 179). Gradual transitions (dissolves,
    fades) are not detected.

Frame rate
    Clips are resampled to the target fps by time (:func:`ltxbench.media.frames.resample_indices`,
    :func:`ltxbench.media.frames.shot_clips`).
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
import errno
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.util.durable import replace_durably

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


def existing_file(path: PathLike) -> Path:
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
def openable_name(path: Path) -> Iterator[str]:
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
        with openable_name(path) as name:
            return decord.VideoReader(name, ctx=decord.cpu(0))
    except Exception as exc:  # decord raises RuntimeError or DECORDError (not a RuntimeError subclass)
        raise MediaError(f"cannot read video {display_path(path)}: {first_line(exc)}") from exc


# decord's messages start "[04:30:02] /github/workspace/src/video/video_reader.cc:270: [<file>] ".
_DECORD_LOG_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+?:\d+: (Error: )?(\[[^\]]*\] )?")
_AVERROR_INVALIDDATA = "1094995529"  # FFmpeg's AVERROR_INVALIDDATA as decord prints it


def first_line(exc: BaseException) -> str:
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
        raise MediaError(f"cannot read video {display_path(path)}: {first_line(exc)}") from exc


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


def open_reader(path: PathLike, times: bool = False) -> tuple[Any, VideoInfo]:
    p = existing_file(path)
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
                    display_path(path), first_line(exc), fps)
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
    return open_reader(path, times=True)[1]


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
    reader, info = open_reader(path)
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
        raise MediaError(f"cannot decode frames of {display_path(info.path)}: {first_line(exc)}{hint}") from exc
    return _upright(frames, info)


def read_image(path: PathLike) -> np.ndarray:
    """Read a photo as ``[H,W,3]`` uint8 RGB with its EXIF orientation applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = existing_file(path)
    try:
        with Image.open(p) as img:
            img.load()  # decode now, inside the try: PIL opens lazily and truncated files fail late
            upright = ImageOps.exif_transpose(img)
            return np.asarray(upright.convert("RGB"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(f"cannot read image {display_path(p)}: {first_line(exc)}") from exc


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
                         f"{len(frames)} frames): {first_line(exc)}") from exc
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
