"""Overfitting: does the LoRA copy its training clips, and do different prompts still differ?

Copying (``train_copy_similarity``)
    :class:`TrainingFrames` holds the dlib face embeddings of ``frames_per_clip`` evenly spaced
    frames of every accepted training clip. For a generated video, each face's nearest training
    face gives a similarity (``faces.distance_to_similarity`` of the distance); the mean over
    frames with a face is ``train_copy_similarity``. A generated face is *always* close to the
    training faces when the LoRA works (same person, ~0.6-0.75), so the score alone says little;
    a copy is a face much closer to one training frame than any new picture of the person is
    to the references. :func:`is_copy` flags a video when

    * ``train_copy_similarity >= COPY_SIMILARITY`` (0.85, dlib distance <= 0.18: the same photo
      re-encoded, re-cropped or a few frames apart measures 0.05-0.2, two photos of one person
      0.34-0.44), and
    * it exceeds the video's ``identity_similarity`` to the references by ``COPY_MARGIN`` (0.10):
      the face is nearer to a training frame than to the person in general.

    If the reference photos are themselves in the training set, a copy of them is near both and
    is not flagged: the margin rule then hides it by construction (use other reference photos).

Scene copies (``train_scene_distance``)
    A face embedding on a blurry 128 px render can miss a copy the eye sees at once: the demo's
    IC-LoRA given its reference repainted a training photo (flag, microphone, suit) whose faces dlib
    put at 0.56-0.59 from it, far below the copy line. So each video is also compared as a picture:
    the distance from its thumbnail (below) to the nearest training clip's, in [0, 1] of the pixel
    range. At or below ``SCENE_COPY_DISTANCE`` (0.12) the video is that clip's picture again. The
    line comes from the demo run of docs/ic_lora.md: videos repainting a training clip measured
    0.047-0.102, every other video of the base, the LoRA and the base given the reference 0.165 or
    more. It is a layout-and-colour test: a close-up against a similar wall can fall under it
    without copying; read it beside the grid.

Prompt diversity (``prompt_diversity``)
    Identity embeddings are meant to be the same whatever the prompt, so they cannot tell a LoRA
    that follows prompts from one that paints the same training shot for every prompt. The
    measure is image-level instead: each video becomes a 16x16 colour thumbnail of the mean of
    its frames (scene layout and colours, not the face); the diversity is the mean absolute
    difference, in [0, 1] of the pixel range, over all pairs of videos from *different* prompts.
    Compare a checkpoint's value with the base model's: a large drop means prompts collapsed.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ltxbench import faces
from ltxbench.faces import Face, FaceAnalyzer
from ltxbench.media import frames as media_frames
from ltxbench.media import video
from ltxbench.run import atomic
from ltxbench.util import progress

log = logging.getLogger("ltxbench")

COPY_SIMILARITY = 0.85
COPY_MARGIN = 0.10
SCENE_COPY_DISTANCE = 0.12
THUMB_SIDE = 16
_CACHE_VERSION = 2  # 2: the clips' thumbnails (scene copies)


@dataclass
class TrainingFrames:
    """Face embeddings of the accepted training clips: ``embeddings`` ``[N,128]``, with the clip
    id and frame index of each row; ``skipped`` lists ``(clip id, reason)`` for clips that could
    not be read (logged, never dropped silently); ``thumbnails`` ``[C,16,16,3]``, one per readable
    clip (``thumbnail_ids``), for the scene-copy check."""

    embeddings: np.ndarray
    clip_ids: list[str]
    frame_indices: list[int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    thumbnails: np.ndarray = field(default_factory=lambda: np.zeros((0, THUMB_SIDE, THUMB_SIDE, 3), np.float32))
    thumbnail_ids: list[str] = field(default_factory=list)

    @classmethod
    def from_manifest(cls, records: Sequence[Mapping[str, Any]], dataset_dir: str | Path, analyzer: FaceAnalyzer,
                      frames_per_clip: int = 4, cache_path: str | Path | None = None) -> TrainingFrames:
        """Embed the faces of accepted clips (``status == "accepted"`` with a ``media`` file under
        ``dataset_dir``). With ``cache_path`` (an ``.npz``), a cache whose key matches (clip ids,
        media paths, sizes and mtimes, ``frames_per_clip``, analyzer settings) is reused and a
        stale one rebuilt and replaced atomically."""
        if frames_per_clip < 1:
            raise ValueError(f"frames_per_clip must be >= 1, got {frames_per_clip}")
        folder = Path(dataset_dir)
        clips = [(str(r["id"]), folder / str(r["media"])) for r in records
                 if r.get("status") == "accepted" and r.get("media")]
        key = _cache_key(clips, frames_per_clip, analyzer)
        if cache_path is not None and Path(cache_path).is_file():
            cached = _load_cache(Path(cache_path), key)
            if cached is not None:
                return cached
        rows: list[np.ndarray] = []
        ids: list[str] = []
        idx: list[int] = []
        skipped: list[tuple[str, str]] = []
        thumbs: list[np.ndarray] = []
        thumb_ids: list[str] = []
        for clip_id, path in progress.bar(clips, desc="training faces", unit="clip"):
            try:
                picks = media_frames.sample_indices(video.probe(path).num_frames, frames_per_clip)
                frames = video.read_frames(path, picks)
            except (OSError, video.MediaError) as exc:
                skipped.append((clip_id, str(exc)))
                log.warning("training clip %s skipped for the copy check: %s", clip_id, exc)
                continue
            thumbs.append(video_thumbnail(frames))
            thumb_ids.append(clip_id)
            for i, frame in zip(picks, frames):
                face = analyzer.largest(frame)
                if face is not None:
                    rows.append(face.embedding)
                    ids.append(clip_id)
                    idx.append(i)
        emb = np.stack(rows).astype(np.float32) if rows else np.zeros((0, faces.EMBEDDING_DIM), np.float32)
        side = (0, THUMB_SIDE, THUMB_SIDE, 3)
        out = cls(emb, ids, idx, skipped, np.stack(thumbs).astype(np.float32) if thumbs else np.zeros(side, np.float32),
                  thumb_ids)
        if cache_path is not None:
            _save_cache(Path(cache_path), key, out)
        return out

    def __len__(self) -> int:
        return len(self.embeddings)

    def _nearest(self, track: Sequence[Face | None]) -> list[tuple[float, int]]:
        """``(distance, row)`` of the nearest training face for each face of the track."""
        out = []
        for face in track:
            if face is not None and len(self.embeddings):
                d = np.linalg.norm(self.embeddings.astype(np.float64) - face.embedding.astype(np.float64), axis=1)
                out.append((float(d.min()), int(d.argmin())))
        return out

    def nearest_similarity(self, track: Sequence[Face | None]) -> float | None:
        """``train_copy_similarity``: mean over the track's faces of the similarity to the nearest
        training face; ``None`` without faces in the track or in the training clips."""
        near = self._nearest(track)
        return float(np.mean([faces.distance_to_similarity(d) for d, _ in near])) if near else None

    def nearest_clip(self, track: Sequence[Face | None]) -> str | None:
        """The training clip holding the nearest face most often (ties: the closer one), or ``None``."""
        near = self._nearest(track)
        if not near:
            return None
        votes: dict[str, list[float]] = {}
        for d, row in near:
            votes.setdefault(self.clip_ids[row], []).append(d)
        return min(votes, key=lambda c: (-len(votes[c]), min(votes[c])))

    def nearest_scene(self, frames: np.ndarray) -> tuple[float, str] | None:
        """``(train_scene_distance, clip id)``: the thumbnail distance from the video ``frames``
        ``[F,H,W,3]`` uint8 to the nearest training clip's; ``None`` without training thumbnails."""
        if not len(self.thumbnails):
            return None
        d = np.abs(self.thumbnails - video_thumbnail(frames)[None]).mean(axis=(1, 2, 3))
        return float(d.min()), self.thumbnail_ids[int(d.argmin())]


def is_copy(train_copy_similarity: float | None, identity_similarity: float | None) -> bool:
    """The copy flag rule of the module docstring; ``False`` when either score is missing."""
    if train_copy_similarity is None or identity_similarity is None:
        return False
    return train_copy_similarity >= COPY_SIMILARITY and train_copy_similarity - identity_similarity >= COPY_MARGIN


def _cache_key(clips: Sequence[tuple[str, Path]], frames_per_clip: int, analyzer: FaceAnalyzer) -> str:
    entries = []
    for clip_id, path in clips:
        st = path.stat() if path.is_file() else None
        entries.append([clip_id, str(path), st.st_size if st else None, st.st_mtime_ns if st else None])
    blob = json.dumps([_CACHE_VERSION, frames_per_clip, repr(analyzer), entries])
    return hashlib.sha256(blob.encode()).hexdigest()


def _load_cache(path: Path, key: str) -> TrainingFrames | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) != key:
                log.info("training-face cache %s is stale; rebuilding", path)
                return None
            skipped = json.loads(str(data["skipped"]))
            return TrainingFrames(data["embeddings"].astype(np.float32), data["clip_ids"].tolist(),
                                  data["frame_indices"].astype(int).tolist(), [tuple(s) for s in skipped],
                                  data["thumbnails"].astype(np.float32), data["thumbnail_ids"].tolist())
    except (OSError, KeyError, ValueError) as exc:
        log.warning("training-face cache %s unreadable (%s); rebuilding", path, exc)
        return None


def _save_cache(path: Path, key: str, frames: TrainingFrames) -> None:
    buf = io.BytesIO()
    np.savez(buf, key=np.array(key), embeddings=frames.embeddings,
             clip_ids=np.array(frames.clip_ids, dtype=str), frame_indices=np.array(frames.frame_indices, dtype=np.int64),
             skipped=np.array(json.dumps(frames.skipped)), thumbnails=frames.thumbnails,
             thumbnail_ids=np.array(frames.thumbnail_ids, dtype=str))
    atomic.atomic_write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------------------------------
# Prompt diversity
# ---------------------------------------------------------------------------------------


def video_thumbnail(frames: np.ndarray) -> np.ndarray:
    """``[16,16,3]`` float in [0,1]: the mean frame of ``frames`` ``[F,H,W,3]`` uint8, shrunk
    (aspect squashed: layout, not shape, is compared)."""
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty [F,H,W,3] uint8 array, got shape {getattr(frames, 'shape', None)}")
    mean = frames.astype(np.float32).mean(axis=0) / 255.0
    return cv2.resize(mean, (THUMB_SIDE, THUMB_SIDE), interpolation=cv2.INTER_AREA)


def prompt_diversity(frames_by_prompt: Mapping[str, np.ndarray | Sequence[np.ndarray]]) -> float | None:
    """Mean thumbnail distance over pairs of videos from different prompts (module docstring).

    Each value is one video ``[F,H,W,3]`` uint8 or a list of them (one per seed). ``None`` with
    fewer than two prompts.
    """
    thumbs: dict[str, list[np.ndarray]] = {}
    for prompt, clips in frames_by_prompt.items():
        videos = [clips] if isinstance(clips, np.ndarray) and clips.ndim == 4 else list(clips)
        if not videos:
            raise ValueError(f"prompt {prompt!r} has no videos")
        thumbs[prompt] = [video_thumbnail(v) for v in videos]
    if len(thumbs) < 2:
        return None
    dists = [float(np.abs(a - b).mean()) for p, q in combinations(thumbs, 2) for a in thumbs[p] for b in thumbs[q]]
    return float(np.mean(dists))
