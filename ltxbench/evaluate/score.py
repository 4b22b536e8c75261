"""Scoring the evaluated videos with :mod:`ltxbench.evaluate.metrics` into tidy metric rows.

Each video is read once (the ``face_frames`` evenly spaced frames for faces and CLIP, plus
adjacent frame pairs for motion) and its faces detected once. Per video with the trigger:
``face_found_rate``, ``identity_similarity``/``identity_distance`` against the prompted
character's references, ``identity_drift``/``drift_q1..q4``, ``bleed_margin`` (several
characters), ``motion``, ``train_copy_similarity`` and ``train_scene_distance`` (when the run has training clips) and
``clip_score`` (when CLIP weights are present). Per no-trigger video: ``leakage_identity_similarity``
against each character whose prompt it is the neutral form of. Where the identity breaks: each face's
head yaw (dlib's 68 points, :mod:`ltxbench.curate.scores.pose`, the curate stage's front / three-quarter /
profile limits) gives ``head_yaw_deg`` (mean absolute yaw of the video's faces) and
``identity_similarity_<bin>`` (identity over that bin's faces only, written only for the bins the
video has faces in); the per-prompt view is the ``prompt_id`` of every row. Across videos: ``motion_ratio``
(against the base model's video of the same prompt and seed) and ``prompt_diversity`` (per
checkpoint, character and seed, over prompts; ``prompt_id`` is ``*`` or ``<character>-*``).

A value that cannot be measured (no face, a static base video, one prompt) is not written.

The per-video work that costs time (decoding, dlib faces, optical flow: :func:`analyze_video`)
runs in ``Scorer.workers`` processes through :mod:`ltxbench.util.parallel`, results in the videos'
order; the metrics are then computed in this process from the returned tracks (cheap distance
arithmetic), so rows are the same, in the same order, for any number of workers. The workers
import only numpy, OpenCV, PyAV/decord and dlib, never torch, even when the caller has torch
loaded (the pool then spawns; see :mod:`ltxbench.util.parallel`). CLIP (torch) stays in this process.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ltxbench.evaluate.sources import BASE, SampleVideo, label_strength
from ltxbench.util import parallel

log = logging.getLogger("ltxbench")
MOTION_PAIRS = 8
FULL_SCALE_MIN_SIDE = 512
"""Auto detection scale: frames whose shorter side is at least this are searched as they are
(upsample 0), smaller ones enlarged 2x (upsample 1). Measured at 768x512 (benchmarks/
bench_eval_scoring.py): upsample 0 finds the same faces with mean identity values within 0.004 of
upsample 1, at ~0.56x the scoring time, but misses faces below ~60 px tall (upsample 1 finds 50 px):
rare at 768x512 outside wide shots, common in smaller videos."""
YAW_BINS = ("front", "three_quarter", "profile")
DIVERSITY_THUMB = 32  # side of the stored mean frame; eval_metrics shrinks it to 16x16 anyway


@dataclass(frozen=True)
class PromptInfo:
    """What scoring needs to know of a prompt id: whose face it asks for, the id of its no-trigger
    form, and the text CLIP compares with (the prompt with the trigger replaced; None: not known)."""

    character: str
    neutral_id: str
    clip_text: str | None


@dataclass
class Scorer:
    analyzer: Any
    """faces.FaceAnalyzer for the videos, or None: chosen per video by :func:`video_analyzer`."""
    refs: dict[str, np.ndarray]
    prompts: dict[str, PromptInfo]
    face_frames: int
    training: Any = None
    """eval_metrics.overfit.TrainingFrames, or None (no copy check)."""
    clip: Any = None
    """eval_metrics.adherence.ClipScorer, or None (no clip_score)."""
    workers: int = 0
    """Processes for :func:`analyze_video` (0: auto, min(2, CPU cores); 1: this process)."""
    arc: Any = None
    """``(faces.ArcFaceEmbedder, {character: [R,512] reference embeddings})`` for ``facesim_arc``, or None."""
    voice: Any = None
    """``(voice.VoiceEncoder, {character: [R,D] reference voice embeddings})`` for the voice metrics, or
    None (no character has reference voices): then only ``speech_found_rate`` is written."""
    given_reference: dict[str, np.ndarray] | None = None
    """Per character, the ``[1, D]`` face embedding of the photo an IC-LoRA was given at inference:
    each video then gets ``reference_copy_similarity`` (its faces' mean similarity to that photo);
    None for videos made without one."""
    yaw_limits: tuple[float, float] = (25.0, 60.0)
    """``(front below, profile from)`` absolute yaw in degrees: ``curate.yaw_front_max_deg`` and
    ``curate.yaw_profile_min_deg``, so "profile" means the same in the dataset's coverage and here."""


@dataclass
class Scores:
    rows: list[dict[str, Any]] = field(default_factory=list)
    bleed: list[dict[str, Any]] = field(default_factory=list)
    """Tidy per-character similarities: checkpoint, step, prompt_id, seed, target, character, similarity."""
    bleed_rows: list[dict[str, Any]] = field(default_factory=list)
    """eval_metrics.bleed rows, for bleed_matrix (LoRA checkpoints only)."""
    voice_bleed_rows: list[dict[str, Any]] = field(default_factory=list)
    """The same rows for the voice (several characters with reference voices; LoRA checkpoints only)."""


def _row(v: SampleVideo, prompt_id: str, metric: str, value: float) -> dict[str, Any]:
    return {"checkpoint": v.checkpoint, "step": v.step, "strength": v.strength, "prompt_id": prompt_id, "seed": v.seed,
            "metric": metric, "value": round(float(value), 6)}


def read_video(v: SampleVideo, face_frames: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(face frames [N,H,W,3], motion pair frames [2P,H,W,3] or None for a one-frame video)``, one decode."""
    from ltxbench.evaluate.metrics.motion import pair_indices
    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    n = video.probe(v.path).num_frames
    face_idx = media_frames.sample_indices(n, face_frames)
    pair_idx = pair_indices(n, MOTION_PAIRS) if n >= 2 else []
    wanted = sorted(set(face_idx) | set(pair_idx))
    frames = video.read_frames(v.path, wanted)
    at = {i: k for k, i in enumerate(wanted)}
    faces_ = frames[[at[i] for i in face_idx]]
    pairs = frames[[at[i] for i in pair_idx]] if pair_idx else None
    return faces_, pairs


@dataclass(frozen=True)
class VideoAnalysis:
    """What scoring keeps of one video: small enough to come back from a worker process."""

    track: list[Any]
    """faces.Face | None per sampled frame (eval_metrics.identity.face_track)."""
    motion: float | None
    """motion_magnitude of the adjacent pairs; None for a no-trigger or one-frame video (not scored)."""
    thumb: np.ndarray | None
    """[1,32,32,3] uint8 mean frame for prompt_diversity; None for a no-trigger video."""
    yaws: list[float | None] = field(default_factory=list)
    """Head yaw in degrees per track entry (None: no face, or no yaw measurable); empty for a
    no-trigger video (angle is not scored there)."""


def analyze_video(v: SampleVideo, analyzer: Any, face_frames: int) -> VideoAnalysis:
    """Decode, detect and embed faces, and measure motion of one video: the costly part of scoring,
    run in worker processes (module-level so it pickles)."""
    from ltxbench.evaluate.metrics import identity, motion

    frames, pairs = read_video(v, face_frames)
    analyzer = analyzer or video_analyzer(frames.shape[1], frames.shape[2])
    track = identity.face_track(frames, analyzer)
    if not v.trigger:
        return VideoAnalysis(track, None, None)
    moved = motion.motion_magnitude(pairs, paired=True) if pairs is not None else None
    return VideoAnalysis(track, moved, _mean_thumb(frames), head_yaws(frames, track, analyzer))


def head_yaws(frames: np.ndarray, track: list[Any], analyzer: Any) -> list[float | None]:
    """Head yaw (degrees, :func:`ltxbench.curate.scores.pose.yaw_degrees`) of each tracked face, from
    dlib's 68 points fitted in the face's box (~2 ms a face; the track's own landmarks are 5 points)."""
    from ltxbench.curate.scores import pose

    out: list[float | None] = []
    for frame, face in zip(frames, track):
        if face is None:
            out.append(None)
            continue
        try:
            out.append(pose.yaw_degrees(analyzer.landmarks68_in(frame, face.box)))
        except ValueError:  # degenerate fit (eye corners coincide): no angle rather than a made-up one
            out.append(None)
    return out


def identity_by_yaw(per_frame: list[float | None], yaws: list[float | None],
                    limits: tuple[float, float]) -> dict[str, float]:
    """Mean identity similarity per head-angle bin over the frames with both a face and a yaw;
    bins without such a frame are absent."""
    from ltxbench.curate.scores import pose

    by_bin: dict[str, list[float]] = {}
    for sim, yaw in zip(per_frame, yaws):
        if sim is not None and yaw is not None:
            by_bin.setdefault(pose.yaw_bin(yaw, *limits), []).append(sim)
    return {b: float(np.mean(v)) for b, v in by_bin.items()}


def video_analyzer(height: int, width: int) -> Any:
    """The FaceAnalyzer for a video of this size when none is set (see FULL_SCALE_MIN_SIDE)."""
    from ltxbench.faces import FaceAnalyzer

    return FaceAnalyzer(upsample=0 if min(height, width) >= FULL_SCALE_MIN_SIDE else 1)


def analyze_videos(videos: list[SampleVideo], analyzer: Any, face_frames: int, workers: int = 0) -> list[VideoAnalysis]:
    """:func:`analyze_video` of every video, in ``workers`` processes, in the videos' order."""
    work = functools.partial(analyze_video, analyzer=analyzer, face_frames=face_frames)
    return parallel.map_ordered(work, videos, workers=workers, desc="score", unit="video",
                                label=lambda v: str(v.path))


def _face_frames(v: SampleVideo, face_frames: int) -> np.ndarray:
    """The face frames :func:`read_video` returns (CLIP reads them again here, in this process,
    so workers do not ship every video's frames back)."""
    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    return video.read_frames(v.path, media_frames.sample_indices(video.probe(v.path).num_frames, face_frames))


def _mean_thumb(frames: np.ndarray) -> np.ndarray:
    import cv2

    mean = frames.astype(np.float32).mean(axis=0)
    small = cv2.resize(mean, (DIVERSITY_THUMB, DIVERSITY_THUMB), interpolation=cv2.INTER_AREA)
    return np.clip(small.round(), 0, 255).astype(np.uint8)[None]


def score_videos(videos: list[SampleVideo], scorer: Scorer) -> Scores:
    """Score every video (see the module docstring); returns tidy rows and the bleed tables."""
    from ltxbench.evaluate.metrics import bleed, drift, identity

    out = Scores()
    motion_of: dict[tuple[str, str, int], float] = {}
    thumbs: dict[tuple[str, int, str, int], dict[str, np.ndarray]] = {}
    several = len(scorer.refs) > 1
    analyses = analyze_videos(videos, scorer.analyzer, scorer.face_frames, scorer.workers)
    for v, analysis in zip(videos, analyses):
        track = analysis.track
        if not v.trigger:
            for pid, info in scorer.prompts.items():
                if info.neutral_id != v.prompt_id:
                    continue
                leak = identity.identity_scores(track, scorer.refs[info.character])
                if "identity_similarity" in leak:
                    out.rows.append(_row(v, pid, "leakage_identity_similarity", leak["identity_similarity"]))
            continue
        info = scorer.prompts[v.prompt_id]
        ident = identity.identity_scores(track, scorer.refs[info.character])
        for metric in ("face_found_rate", "identity_similarity", "identity_distance"):
            if metric in ident:
                out.rows.append(_row(v, v.prompt_id, metric, ident[metric]))
        measured = [abs(y) for y in analysis.yaws if y is not None]
        if measured:
            out.rows.append(_row(v, v.prompt_id, "head_yaw_deg", float(np.mean(measured))))
        by_bin = identity_by_yaw(ident["per_frame_similarity"], analysis.yaws, scorer.yaw_limits)
        for b in YAW_BINS:
            if b in by_bin:
                out.rows.append(_row(v, v.prompt_id, f"identity_similarity_{b}", by_bin[b]))
        for metric, value in drift.drift_scores(track).items():
            if value is not None:
                out.rows.append(_row(v, v.prompt_id, metric, value))
        if several:
            b = bleed.bleed_row(track, scorer.refs, info.character)
            if b["margin"] is not None:
                out.rows.append(_row(v, v.prompt_id, "bleed_margin", b["margin"]))
            for name, sim in b["similarity"].items():
                out.bleed.append({"checkpoint": v.checkpoint, "step": v.step, "prompt_id": v.prompt_id, "seed": v.seed,
                                  "target": info.character, "character": name, "similarity": round(sim, 6)})
            if v.checkpoint != BASE:
                out.bleed_rows.append(b)
        if analysis.motion is not None:
            motion_of[(v.checkpoint, v.prompt_id, v.seed)] = analysis.motion
            out.rows.append(_row(v, v.prompt_id, "motion", analysis.motion))
        if scorer.training is not None:
            copy = scorer.training.nearest_similarity(track)
            if copy is not None:
                out.rows.append(_row(v, v.prompt_id, "train_copy_similarity", copy))
            scene = scorer.training.nearest_scene(analysis.thumb) if analysis.thumb is not None else None
            if scene is not None:
                out.rows.append(_row(v, v.prompt_id, "train_scene_distance", scene[0]))
        if scorer.given_reference is not None and info.character in scorer.given_reference:
            given = identity.identity_scores(track, scorer.given_reference[info.character])
            if "identity_similarity" in given:
                out.rows.append(_row(v, v.prompt_id, "reference_copy_similarity", given["identity_similarity"]))
        frames = None
        if scorer.clip is not None and info.clip_text is not None:
            frames = _face_frames(v, scorer.face_frames)
            out.rows.append(_row(v, v.prompt_id, "clip_score", scorer.clip.score(frames, info.clip_text)))
        if scorer.arc is not None:
            embedder, arc_refs = scorer.arc
            frames = _face_frames(v, scorer.face_frames) if frames is None else frames
            arc = identity.facesim_arc(frames, embedder, arc_refs[info.character], track=track)
            if "facesim_arc" in arc:  # only videos with a face: never an invented number
                out.rows.append(_row(v, v.prompt_id, "facesim_arc", arc["facesim_arc"]))
        thumbs.setdefault((v.checkpoint, v.step, info.character, v.seed), {})[v.prompt_id] = analysis.thumb
    _motion_ratios(videos, motion_of, out.rows)
    _diversity(thumbs, len(scorer.refs), out.rows)
    rows, out.voice_bleed_rows = voice_rows(videos, scorer)
    out.rows.extend(rows)
    return out


def voice_rows(videos: list[SampleVideo], scorer: Scorer) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The generated sound's metrics, in this process (silero-vad and the speaker encoder use torch,
    which the scoring workers never import). Per video with a sound track: ``speech_found_rate``
    (share of the sound silero-vad marks as speech); with the trigger and the character's reference
    voices: ``voice_similarity`` (under 1 s of speech: not written) and ``voice_drift`` (two 2-s
    windows of speech or more); without the trigger: ``leakage_voice_similarity`` against each
    character whose prompt it is the neutral form of. With several characters' voices:
    ``voice_bleed_margin`` (the prompted character's voice similarity minus the strongest other's)
    and the bleed rows for the voice bleed matrix."""
    from ltxbench import voice
    from ltxbench.media import audio_analysis

    rows: list[dict[str, Any]] = []
    bleed: list[dict[str, Any]] = []
    encoder, refs = scorer.voice if scorer.voice is not None else (None, {})
    for v in videos:
        mono = voice.read_mono_16k(v.path)
        if mono is None or mono.size < 512:
            continue
        ratio = audio_analysis.speech_ratio(mono)
        owners = ([scorer.prompts[v.prompt_id].character] if v.trigger
                  else [info.character for info in scorer.prompts.values() if info.neutral_id == v.prompt_id])
        pids = [v.prompt_id] if v.trigger else [pid for pid, info in scorer.prompts.items() if info.neutral_id == v.prompt_id]
        if v.trigger and ratio is not None:
            rows.append(_row(v, v.prompt_id, "speech_found_rate", ratio))
        if encoder is None or not ratio:
            continue
        speech = voice.speech_only(mono)  # silero-vad once per video, for the embedding and the windows
        emb = encoder.embed_speech(speech)
        if emb is None:
            continue
        for pid, character in zip(pids, owners):
            if character not in refs:
                continue
            sim = encoder.similarity(voice.nearest_cosine(emb, refs[character]))
            rows.append(_row(v, pid, "voice_similarity" if v.trigger else "leakage_voice_similarity", sim))
        if v.trigger:
            found = voice.consistency(encoder.speech_windows(speech))
            if found is not None:
                rows.append(_row(v, v.prompt_id, "voice_drift", found["voice_drift"]))
            target = owners[0]
            if len(refs) > 1 and target in refs:
                sims = {name: encoder.similarity(voice.nearest_cosine(emb, r)) for name, r in refs.items()}
                margin = sims[target] - max(val for name, val in sims.items() if name != target)
                rows.append(_row(v, v.prompt_id, "voice_bleed_margin", margin))
                if v.checkpoint != BASE:
                    bleed.append({"target": target, "similarity": sims, "margin": margin})
    return rows, bleed


def _motion_ratios(videos: list[SampleVideo], motion_of: dict[tuple[str, str, int], float], rows: list[dict[str, Any]]) -> None:
    from ltxbench.evaluate.metrics.motion import motion_ratio

    static = 0
    for v in videos:
        key = (v.checkpoint, v.prompt_id, v.seed)
        base = motion_of.get((BASE, v.prompt_id, v.seed))
        if not v.trigger or v.checkpoint == BASE or key not in motion_of or base is None:
            continue
        ratio = motion_ratio(motion_of[key], base)
        if ratio is None:
            static += 1
            continue
        rows.append(_row(v, v.prompt_id, "motion_ratio", ratio))
    if static:
        log.info("evaluate: %d motion ratio(s) not measured: the base video of that prompt and seed is static", static)


def _diversity(thumbs: dict[tuple[str, int, str, int], dict[str, np.ndarray]], n_characters: int,
               rows: list[dict[str, Any]]) -> None:
    from ltxbench.evaluate.metrics.overfit import prompt_diversity

    for (ckpt, step, character, seed), by_prompt in thumbs.items():
        value = prompt_diversity(by_prompt)
        if value is not None:
            pid = "*" if n_characters == 1 else f"{character}-*"
            rows.append({"checkpoint": ckpt, "step": step, "prompt_id": pid, "seed": seed,
                         "metric": "prompt_diversity", "value": round(value, 6), "strength": label_strength(ckpt)})


def prompts_from_videos(videos: list[SampleVideo], characters: list[str],
                        texts: dict[str, str | None] | None = None) -> dict[str, PromptInfo]:
    """Prompt facts for a folder of videos made elsewhere: with one character every prompt is
    theirs; with several a prompt id must start with ``<character>-`` (listed when one does not)."""
    texts = texts or {}
    out: dict[str, PromptInfo] = {}
    bad: list[str] = []
    for pid in sorted({v.prompt_id for v in videos if v.trigger}):
        if len(characters) == 1:
            out[pid] = PromptInfo(characters[0], pid, texts.get(pid))
            continue
        owner = next((c for c in characters if pid.startswith(f"{c}-")), None)
        if owner is None:
            bad.append(pid)
            continue
        plain = pid[len(owner) + 1:]
        out[pid] = PromptInfo(owner, plain, texts.get(plain, texts.get(pid)))
    if bad:
        raise ValueError(f"with several characters ({', '.join(characters)}) a prompt id says whose it is, "
                         f"<character>-<prompt>; these do not: {', '.join(bad)}")
    return out
