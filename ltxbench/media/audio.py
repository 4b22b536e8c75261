"""Audio of a source for a time span, in and out.

Samples are always ``float32`` arrays ``[C,T]`` (channels first) in ``[-1, 1]``.

:func:`read_audio` decodes a span of a file's first audio stream with PyAV (any container FFmpeg
reads: mp4, mov, mkv, webm, wav...), resampled when asked; it returns ``None`` when the file has no
audio stream. :func:`write_wav` writes 16-bit PCM WAV atomically. What the sound holds (speech,
loudness, music, noise) is measured in :mod:`ltxbench.media.audio_analysis`.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.media.video import MediaError, PathLike, existing_file, first_line, openable_name
from ltxbench.util.durable import replace_durably

log = logging.getLogger("ltxbench")


# Reading and writing
# ---------------------------------------------------------------------------------------


def read_audio(path: PathLike, start_s: float = 0.0, duration_s: float | None = None,
               sample_rate: int | None = None) -> tuple[np.ndarray, int] | None:
    """Samples ``[C,T]`` float32 of ``[start_s, start_s + duration_s)`` and their sample rate.

    ``duration_s=None`` reads to the end. ``sample_rate`` resamples (FFmpeg's swresample);
    ``None`` keeps the stream's rate. The span is cut to the sample from the decoded frames'
    timestamps; a span past the end of the audio gives ``T == 0``. Returns ``None`` when the
    file has no audio stream. Raises ``FileNotFoundError`` for a missing file and
    :class:`~ltxbench.media.video.MediaError` for a file FFmpeg cannot read.
    """
    import av  # heavy native library: imported on first use

    if start_s < 0 or (duration_s is not None and duration_s < 0):
        raise ValueError(f"start_s and duration_s must be >= 0, got {start_s}, {duration_s}")
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    p = existing_file(path)
    try:
        with openable_name(p) as name, av.open(name) as container:
            if not container.streams.audio:
                return None
            return _decode_span(av, container, container.streams.audio[0], start_s, duration_s, sample_rate)
    except av.error.FFmpegError as exc:
        raise MediaError(f"cannot read audio of {p}: {first_line(exc)}") from exc


def _decode_span(av: Any, container: Any, stream: Any, start_s: float, duration_s: float | None,
                 sample_rate: int | None) -> tuple[np.ndarray, int]:
    rate = int(sample_rate or stream.codec_context.sample_rate or stream.rate)
    channels = max(1, stream.codec_context.channels)
    # Keep the stream's channel layout; only the sample format (planar float) and rate change.
    layout = stream.layout.name or ("mono" if channels == 1 else "stereo")
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
    if start_s > 0 and stream.time_base:
        # Seeks to the last keyframe at or before start_s (audio frames are all keyframes).
        container.seek(int(start_s / stream.time_base), stream=stream, backward=True, any_frame=False)
    end_s = math.inf if duration_s is None else start_s + duration_s
    chunks: list[np.ndarray] = []
    first_time: float | None = None
    got = 0
    for frame in container.decode(stream):
        if first_time is None:
            first_time = float(frame.time) if frame.time is not None else 0.0
        for out in resampler.resample(frame):
            arr = out.to_ndarray().reshape(channels, -1)
            chunks.append(arr)
            got += arr.shape[1]
        if first_time + got / rate >= end_s:
            break  # enough decoded: the rest of the file is not needed
    for out in resampler.resample(None):  # flush the resampler's delay line
        arr = out.to_ndarray().reshape(channels, -1)
        chunks.append(arr)
    samples = np.concatenate(chunks, axis=1) if chunks else np.zeros((channels, 0), np.float32)
    lead = int(round((start_s - (first_time or 0.0)) * rate))  # samples decoded before the span
    if lead < 0 and chunks:
        # The audio starts after start_s (a track that begins late): pad with silence so the
        # samples stay in sync with the video's clock.
        samples = np.concatenate([np.zeros((channels, -lead), np.float32), samples], axis=1)
    offset = max(0, lead)
    stop = samples.shape[1] if duration_s is None else offset + int(round(duration_s * rate))
    return np.ascontiguousarray(samples[:, offset:stop], dtype=np.float32), rate


def write_wav(path: PathLike, samples: np.ndarray, sample_rate: int) -> Path:
    """Write ``samples`` (``[C,T]`` or ``[T]`` float in ``[-1, 1]``) as 16-bit PCM WAV, atomically.

    Values outside ``[-1, 1]`` are clipped (16-bit PCM cannot hold them). The file is written
    next to the target and moved into place with ``durable.replace_durably`` (fsynced, then renamed). Returns the path written.
    """
    arr = np.asarray(samples)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1 or not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"samples must be float [C,T] or [T], got {arr.dtype} shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("samples contain NaN or infinity")
    if not 1 <= sample_rate <= 768_000:
        raise ValueError(f"sample_rate must be in 1..768000, got {sample_rate}")
    pcm = np.round(np.clip(arr, -1.0, 1.0) * 32767.0).astype("<i2")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp.wav")
    try:
        with os.fdopen(fd, "wb") as fh, wave.open(fh, "wb") as out:
            out.setnchannels(pcm.shape[0])
            out.setsampwidth(2)
            out.setframerate(int(sample_rate))
            out.writeframes(np.ascontiguousarray(pcm.T).tobytes())  # interleaved frames
        replace_durably(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


# ---------------------------------------------------------------------------------------
