"""What a clip's sound is, and the audio scores curate stores per clip.

Samples are ``float32`` arrays ``[C,T]`` in ``[-1, 1]`` (:mod:`ltxbench.media.audio` reads them).

Scores (:func:`analyze_audio`), each ``None`` where it cannot be measured
    ``speech_ratio``
        share of the span that silero-vad (its TorchScript model ships in the ``silero-vad``
        wheel; loaded once per process, run on the CPU) marks as speech, on a 16 kHz mono mix.
    ``loudness_lufs``
        integrated loudness, ITU-R BS.1770-4: K-weighting, mean square per channel over 400 ms
        blocks (75 % overlap), absolute gate -70 LUFS, relative gate -10 LU, measured by pyloudnorm
        (:func:`loudness_lufs`). ``tests/test_audio.py`` checks it against EBU Tech 3341's test
        signals; ``benchmarks/bench_libraries.py`` against the numpy implementation it replaced.
    ``audio_flag``
        ``"noise"`` or ``"music"`` when that dominates the span, else ``None``; see
        :func:`_flag` for the rule and its thresholds.
    ``audio_usable``
        whether the span's audio is worth training on: see :func:`_usable`.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ltxbench.media.audio import read_audio
from ltxbench.media.video import PathLike

VAD_RATE = 16_000  # silero-vad runs at 16 kHz (or 8 kHz); the features below use the same mix

# --- thresholds of the flags and of audio_usable (documented in the module docstring) ---
SILENT_FRAME_DBFS = -60.0  # analysis frames quieter than this are silence: left out of the features
NOISE_FLATNESS = 0.35  # median spectral flatness of non-silent frames from which the span is noise
MUSIC_TONAL_SHARE = 0.6  # share of non-silent frames that are tonal and stable from which it is music
MUSIC_MAX_SPEECH = 0.3  # a span with at least this much speech is never called music
TOO_QUIET_LUFS = -50.0  # quieter than this the span is (near) silent: nothing to learn from
CLIPPED_LEVEL = 0.99  # |sample| from which a sample counts as at full scale
CLIPPED_SHARE = 0.001  # more than 0.1 % of samples at full scale: the recording clipped


# ---------------------------------------------------------------------------------------
# Loudness (ITU-R BS.1770-4, measured by pyloudnorm)
# ---------------------------------------------------------------------------------------

# pyloudnorm's "DeMan" filters are the K-weighting biquads derived for any sample rate from their
# analogue prototypes (at 48 kHz they equal the standard's table to 1e-12); its default
# "K-weighting" ones are a cookbook approximation 0.01 off the table that reads 0.04-0.13 LU low.
# benchmarks/bench_libraries.py measured both against our former numpy implementation.
_FILTERS = "DeMan"
_BLOCK_S = 0.4
_LFE = 3  # channel index of the low-frequency effects channel in 5.1 (L R C LFE Ls Rs)


def loudness_lufs(samples: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness of ``samples`` ``[C,T]`` in LUFS; ``None`` when everything is gated out
    (silence) or the span is empty.

    pyloudnorm measures it; around it: a span shorter than one 400 ms block is measured as one
    block of its own length (pyloudnorm refuses those), and a 5.1 span loses its LFE channel, which
    BS.1770 leaves out (pyloudnorm takes at most five channels, L R C Ls Rs).
    """
    import pyloudnorm  # imported on first use: it imports scipy.signal

    if samples.ndim != 2 or samples.shape[1] == 0:
        return None
    channels = samples if samples.shape[0] != 6 else np.delete(samples, _LFE, axis=0)
    if channels.shape[0] > 5:
        raise ValueError(f"loudness of {samples.shape[0]} channels is not defined (BS.1770: up to 5.1)")
    block_s = min(_BLOCK_S, samples.shape[1] / sample_rate)
    meter = pyloudnorm.Meter(sample_rate, filter_class=_FILTERS, block_size=block_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        lufs = meter.integrated_loudness(channels.T.astype(np.float64))
    return float(lufs) if np.isfinite(lufs) else None


# ---------------------------------------------------------------------------------------
# Speech (silero-vad)
# ---------------------------------------------------------------------------------------

_vad_lock = threading.Lock()
_vad_model: Any = None


def _vad() -> Any:
    """silero-vad's TorchScript model, loaded once per process (it carries state between calls,
    so callers hold ``_vad_lock`` while using it)."""
    global _vad_model
    if _vad_model is None:
        import warnings

        from silero_vad import load_silero_vad

        with warnings.catch_warnings():  # torch >= 2.9 deprecates torch.jit.load, which silero uses
            warnings.simplefilter("ignore", FutureWarning)
            _vad_model = load_silero_vad(onnx=False)
    return _vad_model


def speech_timestamps(mono_16k: np.ndarray) -> list[tuple[int, int]]:
    """silero-vad's speech segments of a 16 kHz mono signal ``[T]`` as ``(start, end)`` sample
    indices (its default threshold 0.5, segments >= 250 ms); ``[]`` under one 32 ms window."""
    import torch
    from silero_vad import get_speech_timestamps

    if mono_16k.size < 512:
        return []
    tensor = torch.from_numpy(np.ascontiguousarray(mono_16k, dtype=np.float32))
    with _vad_lock, torch.inference_mode():
        segments = get_speech_timestamps(tensor, _vad(), sampling_rate=VAD_RATE)
    return [(int(seg["start"]), int(seg["end"])) for seg in segments]


def speech_ratio(mono_16k: np.ndarray) -> float | None:
    """Share of a 16 kHz mono signal ``[T]`` that silero-vad marks as speech; ``None`` for a span
    under one 32 ms window."""
    if mono_16k.size < 512:
        return None
    voiced = sum(end - start for start, end in speech_timestamps(mono_16k))
    return float(min(1.0, voiced / mono_16k.size))


# ---------------------------------------------------------------------------------------
# Music and noise
# ---------------------------------------------------------------------------------------

_FRAME, _HOP = 1024, 512  # 64 ms windows, 32 ms hop at 16 kHz: resolves harmonics 15.6 Hz apart
_BAND = (100.0, 6000.0)  # Hz: where speech, music and noise all have energy; hum and hiss left out


def spectral_features(mono_16k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per non-silent 64 ms frame of a 16 kHz mono signal: ``(flatness, tonal)``.

    ``flatness``: geometric over arithmetic mean of the power spectrum in 100-6000 Hz (white
    noise ~0.56, a chord or a voiced vowel < 0.05). ``tonal``: the frame's energy sits in narrow
    peaks (>= 50 % of the band's energy within +-1 bin of local maxima 20 dB above the frame's
    median) AND those peak bins are the same as in the previous frame (>= 50 % overlap): held
    notes. Speech is tonal only in short voiced stretches whose pitch glides, so it rarely passes
    the stability test for long.
    """
    if mono_16k.size < _FRAME:
        return np.zeros(0), np.zeros(0, bool)
    n_frames = 1 + (mono_16k.size - _FRAME) // _HOP
    idx = np.arange(_FRAME)[None, :] + _HOP * np.arange(n_frames)[:, None]
    frames = mono_16k[idx] * np.hanning(_FRAME)[None, :]
    rms_db = 10 * np.log10(np.mean(mono_16k[idx] ** 2, axis=1) + 1e-12)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2 + 1e-12
    freqs = np.fft.rfftfreq(_FRAME, 1 / VAD_RATE)
    band = power[:, (freqs >= _BAND[0]) & (freqs <= _BAND[1])]
    flatness = np.exp(np.log(band).mean(axis=1)) / band.mean(axis=1)
    is_peak = (band[:, 1:-1] > band[:, :-2]) & (band[:, 1:-1] >= band[:, 2:])
    is_peak &= band[:, 1:-1] > 100.0 * np.median(band, axis=1, keepdims=True)
    peaks = np.zeros_like(band, dtype=bool)
    peaks[:, 1:-1] = is_peak
    near = peaks | np.roll(peaks, 1, axis=1) | np.roll(peaks, -1, axis=1)
    peaky = (band * near).sum(axis=1) / band.sum(axis=1) >= 0.5
    prev = np.vstack([np.zeros((1, near.shape[1]), bool), near[:-1]])
    overlap = (near & prev).sum(axis=1) / np.maximum(1, near.sum(axis=1))
    tonal = peaky & (overlap >= 0.5)
    loud = rms_db > SILENT_FRAME_DBFS
    return flatness[loud], tonal[loud]


def _flag(flatness: np.ndarray, tonal: np.ndarray, speech: float | None) -> str | None:
    """``"noise"`` when the median flatness of non-silent frames is >= NOISE_FLATNESS (broadband
    hiss, rain, wind, crowd); ``"music"`` when >= MUSIC_TONAL_SHARE of non-silent frames hold
    stable tonal peaks and speech covers < MUSIC_MAX_SPEECH of the span; else ``None``.
    Silence (no non-silent frame) is neither."""
    if flatness.size == 0:
        return None
    if float(np.median(flatness)) >= NOISE_FLATNESS:
        return "noise"
    if float(tonal.mean()) >= MUSIC_TONAL_SHARE and (speech or 0.0) < MUSIC_MAX_SPEECH:
        return "music"
    return None


def _usable(loudness: float | None, flag: str | None, clipped: bool) -> bool:
    """Usable for training with audio: not clipped, loud enough (>= TOO_QUIET_LUFS, so not
    silent), and neither noise- nor music-dominated. Speech is welcome but not required: clean
    ambient sound of the scene is usable too."""
    return not clipped and loudness is not None and loudness >= TOO_QUIET_LUFS and flag is None


# ---------------------------------------------------------------------------------------
# The scores curate stores
# ---------------------------------------------------------------------------------------

AUDIO_KEYS = ("audio_present", "speech_ratio", "loudness_lufs", "audio_flag", "audio_usable")


def analyze_audio(path: PathLike, start_s: float, duration_s: float) -> dict[str, Any]:
    """Audio scores of ``[start_s, start_s + duration_s)`` of a source (see the module docstring).

    Returns a dict with keys ``audio_present, speech_ratio, loudness_lufs, audio_flag,
    audio_usable``. A source without an audio stream, or whose audio ends before the span,
    gives ``audio_present False`` and ``None`` for the rest. Raises like :func:`read_audio`.
    """
    read = read_audio(path, start_s, duration_s)
    if read is None or read[0].shape[1] == 0:
        return dict.fromkeys(AUDIO_KEYS) | {"audio_present": False}
    samples, rate = read
    clipped = float(np.mean(np.abs(samples) >= CLIPPED_LEVEL)) > CLIPPED_SHARE
    loudness = loudness_lufs(samples, rate)
    mono = _to_vad_rate(samples.mean(axis=0), rate)
    speech = speech_ratio(mono)
    flatness, tonal = spectral_features(mono)
    flag = _flag(flatness, tonal, speech)
    return {
        "audio_present": True,
        "speech_ratio": None if speech is None else round(speech, 4),
        "loudness_lufs": None if loudness is None else round(loudness, 2),
        "audio_flag": flag,
        "audio_usable": _usable(loudness, flag, clipped),
    }


def _to_vad_rate(mono: np.ndarray, rate: int) -> np.ndarray:
    """A mono signal resampled to 16 kHz with FFmpeg's swresample (through PyAV)."""
    if rate == VAD_RATE:
        return mono.astype(np.float32)
    import av

    frame = av.AudioFrame.from_ndarray(mono.astype(np.float32)[None, :], format="fltp", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=VAD_RATE)
    parts = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
