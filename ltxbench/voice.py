"""Whose voice is speaking: speaker embeddings, offline, on a similarity scale like the face's.

Only speech is embedded: the 16 kHz mono signal is cut to silero-vad's speech segments (the VAD the
audio scores use, :mod:`ltxbench.media.audio_analysis`) and joined, so silence, music and noise between words do
not count. Under :data:`MIN_SPEECH_S` of speech there is no embedding, hence no voice score: never
an invented one.

Backends (``curate.voice_backend``):

``resemblyzer`` (default)
    Resemblyzer's GE2E speaker encoder (a 3-layer LSTM over 40-band log-mel frames, 256-D, L2
    normalised); its weights ship inside its PyPI wheel, it runs faster than real time on a CPU.
``wavlm`` (weights the user supplies)
    transformers' ``WavLMForXVector`` from a local folder (``curate.voice_model``, e.g. a download
    of ``microsoft/wavlm-base-plus-sv``), x-vector embeddings, cosine similarity. Nothing is
    downloaded: a missing folder is a :class:`VoiceModelMissingError` naming what to get.

**The scale.** ``voice_similarity`` = ``clip(0.5 + 0.5 * (cos - T) / (1 - T), 0, 1)`` of the cosine
to the nearest reference embedding, ``T`` the backend's same-speaker threshold
(``curate.voice_threshold``, default per backend): 0.5 exactly at the threshold, as
``identity_similarity`` is 0.5 at dlib's same-person distance, and 1 for the same embedding.
Resemblyzer's threshold was measured here on nine LibriSpeech utterances of three speakers
(tests/data/speech, ``python -m ltxbench.voice tests/data/speech/*.flac``), speech only: whole
utterances (2-12 s) of one speaker 0.86-0.95, of different speakers 0.46-0.72 (AUC 1.0 over 36
pairs); 2-s segments of different utterances, one speaker 0.72-0.90, different speakers 0.39-0.75
(AUC 0.9997 over 316 pairs); 5-s segments (a clip's length), one speaker 0.84 and above, different
speakers 0.73 at most; 3-s segments 0.81 and above / 0.69 at most. :data:`THRESHOLDS`
``resemblyzer`` = 0.78 sits between those ranges (a 5-s clip of speaker 1998 against a 12-s
reference of speaker 1688 measured 0.75, the closest different-speaker pair seen). Under ~3 s of
speech the ranges overlap (1.5-s segments: one speaker from 0.62, different speakers up to 0.68),
so :data:`MIN_SPEECH_S` is a floor, not a guarantee. For ``wavlm`` the
default 0.86 is the example threshold of microsoft/wavlm-base-plus-sv's model card, not measured
here: calibrate it on your own speakers.

**Several speakers in one clip.** The clip's speech is cut into :data:`WINDOW_S` windows, each
embedded; two windows whose cosine is below :data:`SEVERAL_SPEAKERS_COSINE` (0.62 for
Resemblyzer: 2-s windows of one utterance measured 0.725 and above; 87% of different-speaker
window pairs fall below 0.62, mean 0.53; 6 s of one speaker joined to 6 s of another: 0.56) are
two different voices. It needs two windows, so at least 4 s of speech; with less it is not known
(None). ``voice_drift`` is the mean cosine distance of the windows to their medoid (0 for one
steady voice).
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

RATE = 16_000
MIN_SPEECH_S = 1.0
WINDOW_S = 2.0
THRESHOLDS = {"resemblyzer": 0.78, "wavlm": 0.86}
SEVERAL_SPEAKERS_COSINE = {"resemblyzer": 0.62, "wavlm": 0.70}
"""For ``wavlm`` not measured here (its x-vectors spread differently): set ``curate.voice_threshold``
after calibrating, and read ``several_speakers`` with care."""
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus")
Backend = Literal["resemblyzer", "wavlm"]


class VoiceModelMissingError(FileNotFoundError):
    """The user-supplied speaker model is not where the parameters say."""


class NoSpeechError(ValueError):
    """A reference voice file holds too little speech to embed."""


def speech_only(mono_16k: np.ndarray) -> np.ndarray:
    """The speech of a 16 kHz mono signal, silero-vad's segments joined (empty when none)."""
    from ltxbench.media.audio_analysis import speech_timestamps

    segments = speech_timestamps(mono_16k)
    if not segments:
        return np.zeros(0, np.float32)
    return np.concatenate([mono_16k[s:e] for s, e in segments]).astype(np.float32)


def read_mono_16k(path: str | Path, start_s: float = 0.0, duration_s: float | None = None) -> np.ndarray | None:
    """A span of a file's audio as 16 kHz mono float32; None when the file has no audio stream."""
    from ltxbench.media.audio import read_audio

    read = read_audio(path, start_s, duration_s, sample_rate=RATE)
    if read is None:
        return None
    return read[0].mean(axis=0).astype(np.float32)


@dataclass
class VoiceEncoder:
    """A speaker encoder (see the module docstring); :meth:`load` builds one from the parameters."""

    backend: Backend
    model: Any
    extractor: Any = None
    threshold: float = THRESHOLDS["resemblyzer"]

    @classmethod
    def load(cls, backend: Backend = "resemblyzer", model_path: str | Path | None = None,
             threshold: float | None = None) -> "VoiceEncoder":
        if backend == "resemblyzer":
            from resemblyzer import VoiceEncoder as GE2E

            with _resemblyzer_lock:
                model = GE2E(device="cpu", verbose=False)
            return cls("resemblyzer", model, None, THRESHOLDS["resemblyzer"] if threshold is None else threshold)
        if backend != "wavlm":
            raise ValueError(f"unknown voice backend {backend!r}; use resemblyzer or wavlm")
        folder = Path(model_path) if model_path is not None else None
        if folder is None or not (folder / "config.json").is_file():
            raise VoiceModelMissingError(
                f"voice backend wavlm needs a WavLM x-vector model folder (config.json, weights, preprocessor_config.json), "
                f"found none at {folder}. Download one where you have internet, e.g. "
                "`hf download microsoft/wavlm-base-plus-sv --local-dir DIR`, and set curate.voice_model: DIR "
                "(nothing is downloaded at run time), or use voice_backend: resemblyzer (no download)")
        from transformers import AutoFeatureExtractor, WavLMForXVector

        model = WavLMForXVector.from_pretrained(folder).eval()
        extractor = AutoFeatureExtractor.from_pretrained(folder)
        return cls("wavlm", model, extractor, THRESHOLDS["wavlm"] if threshold is None else threshold)

    @property
    def several_speakers_cosine(self) -> float:
        return SEVERAL_SPEAKERS_COSINE[self.backend]

    def embed_speech(self, speech: np.ndarray) -> np.ndarray | None:
        """L2-normalised embedding of speech already cut to its voiced part; None under MIN_SPEECH_S."""
        if speech.size < MIN_SPEECH_S * RATE:
            return None
        if self.backend == "resemblyzer":
            from resemblyzer import normalize_volume

            wav = normalize_volume(speech.astype(np.float32), -30, increase_only=True)  # Resemblyzer's own level
            emb = np.asarray(self.model.embed_utterance(wav), dtype=np.float32)
        else:
            import torch

            inputs = self.extractor(speech, sampling_rate=RATE, return_tensors="pt")
            with torch.inference_mode():
                emb = self.model(**inputs).embeddings[0].float().numpy()
        return emb / max(float(np.linalg.norm(emb)), 1e-12)

    def embed(self, mono_16k: np.ndarray) -> np.ndarray | None:
        """Embedding of a signal's speech (silero-vad segments); None under MIN_SPEECH_S of speech."""
        return self.embed_speech(speech_only(mono_16k))

    def windows(self, mono_16k: np.ndarray, window_s: float = WINDOW_S) -> list[np.ndarray]:
        """Embeddings of consecutive ``window_s`` windows of the signal's speech (the last partial
        window joins the one before), for several-speaker and drift checks."""
        return self.speech_windows(speech_only(mono_16k), window_s)

    def speech_windows(self, speech: np.ndarray, window_s: float = WINDOW_S) -> list[np.ndarray]:
        """:meth:`windows` of speech already cut to its voiced part (silero-vad runs once per clip)."""
        step = int(window_s * RATE)
        if speech.size < 2 * step:
            return []
        cuts = list(range(0, speech.size - step + 1, step))
        spans = [(a, b) for a, b in zip(cuts, cuts[1:] + [speech.size])]
        return [e for a, b in spans if (e := self.embed_speech(speech[a:b])) is not None]

    def similarity(self, cosine: float) -> float:
        """The 0..1 voice scale: 0.5 at this backend's same-speaker threshold, 1 for the same embedding."""
        return float(np.clip(0.5 + 0.5 * (cosine - self.threshold) / (1.0 - self.threshold), 0.0, 1.0))


_resemblyzer_lock = threading.Lock()


def nearest_cosine(embedding: np.ndarray, refs: np.ndarray) -> float:
    """Cosine similarity to the nearest reference embedding (``refs`` ``[R,D]``, normalised)."""
    return float(np.max(np.asarray(refs, dtype=np.float32) @ embedding))


def reference_voices(paths: Sequence[str | Path], encoder: VoiceEncoder) -> np.ndarray:
    """Embeddings ``[R,D]`` of reference voices: audio files, or videos of the character speaking.
    A file without an audio stream or with under MIN_SPEECH_S of speech is a :class:`NoSpeechError`
    naming it."""
    out, problems = [], []
    for path in paths:
        mono = read_mono_16k(path)
        if mono is None:
            problems.append(f"{path}: no audio stream")
            continue
        emb = encoder.embed(mono)
        if emb is None:
            problems.append(f"{path}: under {MIN_SPEECH_S:g} s of speech (silero-vad)")
            continue
        out.append(emb)
    if problems:
        raise NoSpeechError("reference voices cannot be used:\n" + "\n".join(f"  - {p}" for p in problems))
    return np.stack(out)


def settings(curate_cfg: Any) -> tuple[Backend, str | None, float | None]:
    """``(backend, model path, threshold)`` of the curate section's voice settings, as the caches key them."""
    model = str(curate_cfg.voice_model) if curate_cfg.voice_model is not None else None
    return curate_cfg.voice_backend, model, curate_cfg.voice_threshold


@functools.lru_cache(maxsize=4)
def cached_encoder(backend: Backend, model_path: str | None, threshold: float | None) -> VoiceEncoder:
    """One encoder per process and setting (curate's workers each load theirs once)."""
    return VoiceEncoder.load(backend, model_path, threshold)


@functools.lru_cache(maxsize=16)
def cached_references(paths: tuple[str, ...], backend: Backend, model_path: str | None,
                      threshold: float | None) -> np.ndarray:
    """:func:`reference_voices` of ``paths``, once per process."""
    return reference_voices(paths, cached_encoder(backend, model_path, threshold))


def clip_voice(mono_16k: np.ndarray, refs: np.ndarray, encoder: VoiceEncoder) -> dict[str, Any]:
    """Voice scores of one clip's sound against a character's reference embeddings:
    ``voice_similarity`` (None under MIN_SPEECH_S of speech), ``voice_min_window_cosine`` and
    ``voice_drift`` (None under two windows of speech), ``several_speakers`` (None when unknown)."""
    speech = speech_only(mono_16k)
    emb = encoder.embed_speech(speech)
    out: dict[str, Any] = {"voice_similarity": None, "voice_min_window_cosine": None, "voice_drift": None,
                           "several_speakers": None}
    if emb is None:
        return out
    out["voice_similarity"] = round(encoder.similarity(nearest_cosine(emb, refs)), 4)
    found = consistency(encoder.speech_windows(speech))
    if found is not None:
        out["voice_min_window_cosine"] = round(found["min_window_cosine"], 4)
        out["voice_drift"] = round(found["voice_drift"], 4)
        out["several_speakers"] = found["min_window_cosine"] < encoder.several_speakers_cosine
    return out


def consistency(windows: list[np.ndarray]) -> dict[str, float] | None:
    """``min_window_cosine`` (the two least alike windows) and ``voice_drift`` (mean cosine distance
    of the windows to their medoid) of at least two window embeddings; None otherwise."""
    if len(windows) < 2:
        return None
    e = np.stack(windows)
    cos = e @ e.T
    medoid = int(np.argmax(cos.sum(axis=1)))
    pairs = [cos[i, j] for i, j in itertools.combinations(range(len(e)), 2)]
    return {"min_window_cosine": float(min(pairs)), "voice_drift": float(np.mean(1.0 - cos[medoid]))}


def main(argv: list[str] | None = None) -> int:
    """``python -m ltxbench.voice FILE...``: same- and different-speaker cosines of the files (the
    speaker is the file name up to its first '-', as LibriSpeech names them), whole files and 2-s
    segments, with the AUC: the calibration quoted in the module docstring."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ltxbench.voice", description=main.__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--backend", default="resemblyzer", choices=("resemblyzer", "wavlm"))
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args(argv)
    enc = VoiceEncoder.load(args.backend, args.model)
    whole, segments = {}, {}
    for path in args.files:
        speech = speech_only(read_mono_16k(path))
        whole[path.stem] = enc.embed_speech(speech)
        step = int(WINDOW_S * RATE)
        for i in range(speech.size // step):
            segments[(path.stem, i)] = enc.embed_speech(speech[i * step:(i + 1) * step])

    def split(items: dict[Any, np.ndarray], key: Any) -> tuple[list[float], list[float]]:
        same, diff = [], []
        for (a, ea), (b, eb) in itertools.combinations(items.items(), 2):
            if ea is None or eb is None or (isinstance(a, tuple) and a[0] == b[0]):  # not two segments of one file
                continue
            (same if str(key(a)).split("-")[0] == str(key(b)).split("-")[0] else diff).append(float(ea @ eb))
        return same, diff

    for name, items, key in (("whole files", whole, lambda k: k), ("2-s segments of different files", segments, lambda k: k[0])):
        same, diff = split(items, key)
        auc = float(np.mean([[1.0 if s > d else 0.5 if s == d else 0.0 for d in diff] for s in same])) if same and diff else float("nan")
        print(f"{name}: same speaker {min(same):.2f}-{max(same):.2f} (n={len(same)}), different {min(diff):.2f}-{max(diff):.2f} "
              f"(n={len(diff)}), AUC {auc:.4f}; threshold {enc.threshold}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
