"""All scores and face-based reasons of one clip, from frames curate has already decoded.

Inputs are small: ``curate.face_samples`` frames at score size (short side up to 480 px), an
optional burst of consecutive frames for mouth motion, and one frame at the source's own
resolution for blockiness (resizing would smear the codec's 8x8 grid). The face detector and
embedder run once per sampled frame; the burst only refits the 68 landmarks inside the nearest
sampled face box (~2 ms a frame), which keeps curation cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ltxbench.curate.scores import (
    compression,
    duplicates,
    expression,
    framing,
    lighting,
    pose,
    sharpness,
    style,
)
from ltxbench.curate.scores.identity import Match, match_characters
from ltxbench.dataset.reasons import Reason
from ltxbench.faces import Face, FaceAnalyzer, IdentityScale
from ltxbench.params import schema as P


@dataclass
class ClipFrames:
    """What one clip's scoring reads. ``sampled``: ``[N,H,W,3]`` at score size; ``burst``:
    ``[K,H,W,3]`` consecutive frames at score size (``None``: not a video, or off); ``burst_at``:
    position of the burst's middle on the sampled frames' time axis (index into ``sampled``, may be
    fractional); ``source_frame``: one frame at the source's resolution."""

    sampled: np.ndarray
    source_frame: np.ndarray
    burst: np.ndarray | None = None
    burst_at: float = 0.0
    still: bool = False  # a photo: the mouth cannot move


@dataclass
class ClipScore:
    scores: dict[str, Any]
    character: str
    reasons: list[Reason] = field(default_factory=list)


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def score_clip(frames: ClipFrames, analyzer: FaceAnalyzer, refs: dict[str, np.ndarray], home: str,
               cfg: P.CurateSection) -> ClipScore:
    """Scores (runs/README.md, ``scores.*``) and face/quality reasons of one clip.

    ``refs``: reference embeddings per character; ``home``: the character whose media folder the
    clip came from (kept as the character when no face matches anyone).
    """
    sampled = frames.sampled
    n = len(sampled)
    found: list[tuple[int, Face]] = []
    small = 0
    for i, frame in enumerate(sampled):
        face = analyzer.largest(frame)
        if face is None:
            continue
        if face.height_frac < cfg.min_face_height:
            small += 1
            continue
        found.append((i, face))
    scale = analyzer.scale
    threshold_name, threshold = identity_threshold(cfg, scale.backend)
    ranked = match_characters([f.embedding for _, f in found], refs, threshold, scale)
    best = ranked[0]
    character = best.character if best.matches else home
    match = best if best.matches else next(m for m in ranked if m.character == home)
    # The character's own faces (other people in the clip must not set its pose or expression).
    mine = [(i, f) for (i, f), ok in zip(found, match.matched) if ok] or found
    scores: dict[str, Any] = {"frames_sampled": n, "face_rate": _r(len(found) / n), "match_rate": _r(match.matches / n)}
    scores.update(_identity_scores(match, scale))
    scores.update(_face_scores(mine, sampled, frames, analyzer, cfg))
    scores.update(_frame_scores(sampled, frames.source_frame, scores["face_box"], cfg))
    reasons = _face_reasons(n, found, small, ranked, match, cfg, threshold_name, threshold)
    reasons += _quality_reasons(scores, cfg)
    return ClipScore(scores, character, reasons)


def identity_threshold(cfg: P.CurateSection, backend: str) -> tuple[str, float]:
    """The parameter name and value of the same-person threshold for ``backend``'s distances."""
    if backend == "arcface":
        return "curate.arcface_threshold", cfg.arcface_threshold
    return "curate.identity_threshold", cfg.identity_threshold


def _identity_scores(match: Match, scale: IdentityScale) -> dict[str, Any]:
    d = match.median_distance
    return {"identity_backend": scale.backend, "identity_distance": _r(d),
            "identity_similarity": _r(scale.similarity(d)) if d is not None else None}


def _face_scores(mine: list[tuple[int, Face]], sampled: np.ndarray, frames: ClipFrames, analyzer: FaceAnalyzer,
                 cfg: P.CurateSection) -> dict[str, Any]:
    h, w = sampled.shape[1:3]
    boxes = [[f.box[0] / w, f.box[1] / h, f.box[2] / w, f.box[3] / h] for _, f in mine]
    yaws, smiles, sharp, blur = [], [], [], []
    for i, face in mine:
        if face.landmarks68 is not None:
            yaws.append(pose.yaw_degrees(face.landmarks68))
            smiles.append(expression.smile_score(face.landmarks68))
        crop = sharpness.face_crop(sampled[i], face.box)
        if (s := sharpness.sharpness(crop)) is not None:
            sharp.append(s)
        if (b := sharpness.motion_blur(crop)) is not None:
            blur.append(b)
    face_height = _median([f.height_frac for _, f in mine])
    yaw, smile = _median(yaws), _median(smiles)
    motion = 0.0 if frames.still and mine else _burst_motion(mine, frames, analyzer)
    return {
        "face_height": _r(face_height),
        # median face box over the sampled frames, normalised to the frame (x0, y0, x1, y1): head crops
        "face_box": [round(float(v), 4) for v in np.median(np.clip(boxes, 0, 1), axis=0)] if boxes else None,
        "yaw_deg": _r(yaw, 1),
        "yaw_bin": pose.yaw_bin(yaw, cfg.yaw_front_max_deg, cfg.yaw_profile_min_deg) if yaw is not None else None,
        "smile": _r(smile),
        "mouth_motion": _r(motion),
        "expression": expression.expression_label(smile, motion, cfg.smile_min, cfg.talk_min_motion),
        "framing": framing.framing_of(face_height, cfg.close_up_min, cfg.medium_min),
        "sharpness": _r(_median(sharp), 3),
        "motion_blur": _r(_median(blur), 3),
    }


def _burst_motion(mine: list[tuple[int, Face]], frames: ClipFrames, analyzer: FaceAnalyzer) -> float | None:
    """Std of the mouth opening over the burst, landmarks refitted in the nearest sampled face box."""
    if frames.burst is None or len(frames.burst) < 2 or not mine:
        return None
    _, face = min(mine, key=lambda item: abs(item[0] - frames.burst_at))
    openings = [expression.mouth_opening(analyzer.landmarks68_in(f, face.box)) for f in frames.burst]
    return expression.mouth_motion(openings)


def _frame_scores(sampled: np.ndarray, source_frame: np.ndarray, face_box: list[float] | None,
                  cfg: P.CurateSection) -> dict[str, Any]:
    bright, contrast = lighting.brightness_contrast(sampled)
    flat, noise = style.clip_style_cues(sampled)
    middle = sampled[len(sampled) // 2]
    box_px = None
    if face_box is not None:
        h, w = middle.shape[:2]
        box_px = (int(face_box[0] * w), int(face_box[1] * h), int(np.ceil(face_box[2] * w)), int(np.ceil(face_box[3] * h)))
    return {
        "brightness": _r(bright), "contrast": _r(contrast), "color_temp_k": _r(lighting.color_temperature_k(sampled), 0),
        "lighting": lighting.lighting_band(bright, cfg.dark_below, cfg.bright_above),
        "flat_share": _r(flat), "flat_noise": _r(noise, 3),
        "style": style.style_of(flat, noise, cfg.style_flat_min, cfg.style_noise_max),
        "blockiness": _r(compression.blockiness(source_frame), 3),
        "dup_key": duplicates.dct_hash(sampled), "dup_group": None,
        "background_key": duplicates.background_key(middle, box_px),
    }


def _face_reasons(n: int, found: list[tuple[int, Face]], small: int, ranked: list[Match], match: Match,
                  cfg: P.CurateSection, threshold_name: str, threshold: float) -> list[Reason]:
    if match.matches / n >= cfg.min_face_rate:
        return []
    if not found and small:
        return [Reason("face_too_small", f"the largest face is smaller than curate.min_face_height {cfg.min_face_height} "
                                         f"of the frame height in {small}/{n} sampled frames, and no larger face was found")]
    if not found:
        return [Reason("no_face", f"no face found in {n} sampled frames")]
    if not match.matches:
        nearest = ", ".join(f"{m.character} {m.median_distance:.3f}" for m in ranked)
        return [Reason("wrong_identity", f"the faces match no character: median distance to the references "
                                         f"({nearest}) > {threshold_name} {threshold}")]
    return [Reason("character_absent", f"{match.character} is in only {match.matches}/{n} sampled frames "
                                       f"(< curate.min_face_rate {cfg.min_face_rate})")]


def _quality_reasons(scores: dict[str, Any], cfg: P.CurateSection) -> list[Reason]:
    out = []
    if scores["sharpness"] is not None and scores["sharpness"] < cfg.min_sharpness:
        out.append(Reason("blurry", f"face sharpness {scores['sharpness']:.3f} < curate.min_sharpness {cfg.min_sharpness}"))
    if scores["blockiness"] > cfg.max_blockiness:
        out.append(Reason("compressed", f"8x8 blockiness {scores['blockiness']:.3f} > curate.max_blockiness {cfg.max_blockiness}"))
    return out
