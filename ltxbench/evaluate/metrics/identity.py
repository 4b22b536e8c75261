"""Identity of the face in a video against a character's reference photos.

A *track* is the largest face of each sampled frame (``None`` where no face was found), as
:func:`face_track` returns it; every face metric in :mod:`ltxbench.evaluate.metrics` reads tracks,
so detection (the expensive part) runs once per video.

Two identity scores:

``identity_similarity`` (default, dlib)
    per frame ``faces.distance_to_similarity(faces.identity_distance(embedding, refs))``: the
    dlib Euclidean distance to the nearest reference mapped linearly to [0, 1] with **0.5 at
    dlib's 0.6 same-person threshold**. Raw cosine between dlib embeddings is *not* used: it is
    0.95-0.97 for one person and still 0.80-0.87 between different people (measured on
    tests/data), so a cosine of 0.8 would look like a good score for the wrong person.

``facesim_arc`` (optional, ArcFace ONNX weights the user supplies)
    the FaceSim-Arc protocol of identity-preserving video generation papers: ArcFace embedding
    of the largest face, aligned on the eyes to ArcFace's 112x112 template; cosine similarity to
    each reference embedding, clamped at 0; mean over references and over frames with a face.
    With one reference photo this is exactly the published per-pair protocol. ArcFace cosines
    are spread out (different people ~0-0.3, same person ~0.5-0.8), unlike dlib's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench import faces
from ltxbench.faces import Face, FaceAnalyzer

Track = Sequence[Face | None]


def _check_frames(frames: np.ndarray) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be a [F,H,W,3] uint8 RGB array, got shape {getattr(frames, 'shape', None)} "
                         f"dtype {getattr(frames, 'dtype', type(frames).__name__)}")
    if len(frames) == 0:
        raise ValueError("frames is empty: a video needs at least one frame to be scored")


FULL_SEARCH_EVERY = 4
""":func:`face_track` searches the whole frame on every 4th frame and wherever the face was lost;
in between it looks only around the previous frame's face (``FaceAnalyzer.largest_near``), which
cut detection, a third of scoring's time, to about a quarter (benchmarks/bench_eval_scoring.py).
A larger face that enters the frame is therefore picked up at the next full search at the latest."""


def face_track(frames: np.ndarray, analyzer: FaceAnalyzer, full_every: int = FULL_SEARCH_EVERY) -> list[Face | None]:
    """The largest face of each frame of ``frames`` ``[F,H,W,3]`` uint8, ``None`` where there is none
    (followed near the previous frame's face between full searches; ``full_every=1``: every frame
    searched whole)."""
    _check_frames(frames)
    if full_every < 1:
        raise ValueError(f"full_every must be >= 1, got {full_every}")
    track: list[Face | None] = []
    previous: Face | None = None
    for i, frame in enumerate(frames):
        face = analyzer.largest_near(frame, previous.box) if previous is not None and i % full_every else None
        if face is None:
            face = analyzer.largest(frame)
        track.append(face)
        previous = face
    return track


def identity_scores(track: Track, refs: np.ndarray) -> dict[str, Any]:
    """Identity of a track against reference embeddings ``refs`` ``[R,128]`` (dlib).

    Returns ``face_found_rate`` (share of frames with a face), ``per_frame_similarity`` (list,
    ``None`` where no face) and, only when at least one face was found, ``identity_similarity``
    and ``identity_distance`` (means over the frames with a face). An empty track is an error.
    """
    if len(track) == 0:
        raise ValueError("empty track: score at least one frame")
    distances: list[float | None] = [None if f is None else faces.identity_distance(f.embedding, refs) for f in track]
    per_frame = [None if d is None else faces.distance_to_similarity(d) for d in distances]
    found = [d for d in distances if d is not None]
    out: dict[str, Any] = {"face_found_rate": len(found) / len(track), "per_frame_similarity": per_frame}
    if found:
        out["identity_distance"] = float(np.mean(found))
        # Mean of per-frame similarities: equal to the similarity of the mean distance unless a
        # frame lies beyond distance 1.2, where its similarity is clamped at 0.
        out["identity_similarity"] = float(np.mean([s for s in per_frame if s is not None]))
    return out


# ---------------------------------------------------------------------------------------
# FaceSim-Arc (ArcFace, user-supplied ONNX weights)
# ---------------------------------------------------------------------------------------


def arc_reference_embeddings(paths: Sequence[str | Path], embedder: faces.ArcFaceEmbedder,
                             analyzer: FaceAnalyzer | None = None) -> np.ndarray:
    """ArcFace embeddings ``[R,512]`` of the largest face in each reference photo (dlib finds and
    aligns the face with ``analyzer``'s detection settings); :class:`faces.NoFaceError` names a
    photo without a face."""
    base = analyzer or FaceAnalyzer()
    arc = FaceAnalyzer(base.upsample, base.max_side, base.min_score, embedder=embedder)
    return faces.reference_embeddings(paths, analyzer=arc)


def facesim_arc(frames: np.ndarray, embedder: faces.ArcFaceEmbedder, ref_embeddings: np.ndarray,
                track: Track | None = None, analyzer: FaceAnalyzer | None = None) -> dict[str, Any]:
    """FaceSim-Arc of a video (see the module docstring).

    ``track`` is the video's :func:`face_track` over the same ``frames`` (reused so faces are not
    detected twice); without it faces are detected with ``analyzer`` (default ``FaceAnalyzer()``).
    Returns ``arc_face_found_rate``, ``per_frame_facesim_arc`` (``None`` where no face) and, when a
    face was found, ``facesim_arc`` in [0, 1].
    """
    _check_frames(frames)
    refs = np.asarray(ref_embeddings, dtype=np.float64)
    if refs.ndim == 1:
        refs = refs[None, :]
    if refs.ndim != 2 or len(refs) == 0:
        raise ValueError(f"ref_embeddings must be [R,D] ArcFace embeddings, got shape {refs.shape}")
    refs = refs / np.maximum(np.linalg.norm(refs, axis=1, keepdims=True), 1e-12)
    if track is None:
        track = face_track(frames, analyzer or FaceAnalyzer())
    if len(track) != len(frames):
        raise ValueError(f"track has {len(track)} entries for {len(frames)} frames: pass the track of these frames")
    per_frame: list[float | None] = []
    for frame, face in zip(frames, track):
        if face is None:
            per_frame.append(None)
            continue
        emb = embedder.embed(frame, face).astype(np.float64)
        if emb.shape != refs.shape[1:]:
            raise ValueError(f"ArcFace embedding has {emb.shape[0]} dims, references have {refs.shape[1]}: "
                             "embed the references with the same model")
        per_frame.append(float(np.clip(refs @ emb, 0.0, None).mean()))
    found = [s for s in per_frame if s is not None]
    out: dict[str, Any] = {"arc_face_found_rate": len(found) / len(per_frame), "per_frame_facesim_arc": per_frame}
    if found:
        out["facesim_arc"] = float(np.mean(found))
    return out
