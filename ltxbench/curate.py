"""Curate stage: raw footage and photos -> clips LTX can train on, each accepted or rejected with reasons.

For every character and every media file:

* a video is cut at detected shot boundaries (``curate.shot_detector``; a clip never spans a cut),
  each shot into clips of ``curate.clip_frames`` (8k+1) frames resampled to ``curate.fps``;
* a photo becomes one clip with a slow pan or zoom (``source_kind: image``);
* every clip gets a resolution bucket (short side ``curate.resolution``, sides multiples of 32);
  a smaller source is rejected, never upscaled;
* ``curate.face_samples`` frames spread across the clip are scored at score size (see
  :mod:`ltxbench.clipscore`): faces against **every** character's reference photos (the clip goes
  to the character it matches best), head angle, expression, lighting, framing, sharpness,
  compression, a near-duplicate key, and the source's audio;
* near-duplicates after the first accepted clip of their group are rejected (``duplicate``);
* with ``curate.head_crops``, every accepted clip with a face also yields a square head crop clip;
* stored manual decisions (``dataset/overrides.json``) are re-applied, the captions of unchanged
  clips and every hand-written caption (``dataset/caption_edits.json``, :mod:`ltxbench.caption_edits`)
  are carried over, then coverage is written.

Outputs in ``RUN_DIR/dataset/``: ``manifest.jsonl`` (one record per clip, rejected ones too, see
runs/README.md), ``clips/<id>.mp4`` (+ ``.wav`` when the source has audio) for accepted clips,
``thumbs/<id>.jpg`` for every clip that was decoded, ``coverage.json`` and ``coverage.png``.
Source media are only read.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench import params as P
from ltxbench import progress, runs
from ltxbench.clipscore.duplicates import group_heads, hamming
from ltxbench.clipscore.reasons import UNCUTTABLE, Reason, split
from ltxbench.audio import AUDIO_KEYS
from ltxbench.runs import Run

log = logging.getLogger("ltxbench")

MANIFEST = "dataset/manifest.jsonl"

SCORE_SHORT_SIDE = 480
"""Faces are scored on frames whose short side is up to this many pixels (never above the source),
not at the training size: benchmarks/bench_curate.py measured that at a 128 px short side dlib
misses one of two Obama photos it finds at 480 px, and at 64 px also the Biden photo, so scoring at
a small training resolution would reject good clips for the wrong reason."""

_READ_CHUNK = 16
"""Source frames decoded at once when writing a clip: bounds memory on 4K sources (16 x 25 MB)."""


@dataclass
class Candidate:
    """A clip before scoring: where its frames come from and how big it will be."""

    id: str
    character: str  # whose media folder it came from
    source: Path
    source_kind: str  # "video" | "image"
    start_frame: int
    source_indices: list[int]  # source frame per clip frame (videos); empty for images
    width: int
    height: int
    source_fps: float | None = None
    source_num_frames: int | None = None
    source_info: Any = None
    """The source's ``video.VideoInfo`` (videos), probed once when its clips are listed: scoring
    every clip of a long video must not open and probe the file again per clip."""
    reasons: list[Reason] = field(default_factory=list)


@dataclass
class CurateResult:
    records: list[dict[str, Any]]
    coverage: dict[str, Any]
    manifest_path: Path
    figure_path: Path | None

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "accepted"]

    def table(self):
        import pandas as pd

        keys = ("match_rate", "identity_distance", "yaw_bin", "expression", "lighting", "framing",
                "sharpness", "blockiness", "dup_group", "audio_usable")
        rows = [{
            "id": r["id"], "character": r["character"], "kind": r["source_kind"], "variant": r.get("variant"),
            "status": r["status"], "frames": r["num_frames"], "size": f"{r['width']}x{r['height']}",
            **{k: (r["scores"] or {}).get(k) for k in keys},
            "reasons": ", ".join(r["reasons"]),
        } for r in self.records]
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        n_acc = len(self.accepted)
        return f"CurateResult({n_acc} accepted, {len(self.records) - n_acc} rejected; manifest: {self.manifest_path})"


# ---------------------------------------------------------------------------------------
# Names and paths
# ---------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "media"


def source_text(path: Path | str) -> str:
    """A path as valid UTF-8 text: bytes that are not UTF-8 become ``\\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _text(message: str) -> str:
    """A message that may quote a non-UTF-8 file name, made safe for JSON the same way."""
    return message.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def source_path(text: str) -> Path:
    """The inverse of :func:`source_text`: ``\\xNN`` escapes back to the raw bytes of the name."""
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))
    return Path(os.fsdecode(raw))


def expand_media(paths: list[Path]) -> list[Path]:
    """Files named directly, plus the supported files inside named folders (sorted, recursive).

    A link with a media suffix that leads nowhere (dangling, or a loop) is listed too, so that it
    becomes a rejected record saying so instead of vanishing from the dataset without a word."""
    out: list[Path] = []
    suffixes = P.IMAGE_SUFFIXES + P.VIDEO_SUFFIXES
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*")
                              if p.suffix.lower() in suffixes and (p.is_file() or p.is_symlink())))
        else:
            out.append(path)
    return out


# ---------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------


def detect_cuts(path: Path, cfg: P.CurateSection) -> list[int]:
    """Shot starts of a video with ``curate.shot_detector`` (``curate.cut_threshold`` is the
    colour-histogram detector's; TransNetV2 keeps its own calibrated threshold)."""
    from ltxbench import shots

    if cfg.shot_detector == "content":
        return shots.detect_cuts(path, detector="content", threshold=cfg.cut_threshold)
    return shots.detect_cuts(path, detector=cfg.shot_detector)


def _too_small(w: int, h: int, cfg: P.CurateSection) -> Reason:
    return Reason("low_resolution", f"source is {w}x{h}: short side {min(w, h)} px < curate.resolution "
                                    f"{cfg.resolution}; never upscaled")


def _video_candidates(char: str, path: Path, stem: str, cfg: P.CurateSection, info: Any) -> list[Candidate]:
    from ltxbench import video

    facts = {"source_fps": info.fps, "source_num_frames": info.num_frames, "source_info": info}
    size = video.bucket_size(info.width, info.height, cfg.resolution)
    # One record for the whole source when no clip of it could train anything: every reason at once.
    unusable = [_too_small(info.width, info.height, cfg)] if size is None else []
    if info.fps < cfg.min_source_fps:
        unusable.append(Reason("low_frame_rate", f"source is {info.fps:.3g} fps, below curate.min_source_fps "
                                                 f"{cfg.min_source_fps:g}: a clip at curate.fps {cfg.fps} would show "
                                                 f"each source frame about {cfg.fps / info.fps:.0f} times"))
    if size is None or unusable:
        return [Candidate(f"{char}-{stem}-000", char, path, "video", 0, [], info.width, info.height, **facts,
                          reasons=unusable)]
    width, height = size
    shots = video.shots_from_cuts(detect_cuts(path, cfg), info.num_frames)
    out: list[Candidate] = []
    for shot_start, shot_end in shots:
        # Clips laid end to end by the frames' times (a 30 fps source spans more frames than 24 fps;
        # a variable-rate one as many as its timestamps say each clip's seconds hold).
        clips = video.shot_clips(info, cfg.fps, cfg.clip_frames, shot_start, shot_end)
        if not clips:
            out.append(Candidate(f"{char}-{stem}-{len(out):03d}", char, path, "video", shot_start, [], width, height,
                                 **facts, reasons=[_shot_too_short(info, shot_start, shot_end, cfg)]))
            continue
        for indices in clips:
            out.append(Candidate(f"{char}-{stem}-{len(out):03d}", char, path, "video", indices[0], indices, width,
                                 height, **facts))
    return out


def _shot_too_short(info: Any, shot_start: int, shot_end: int, cfg: P.CurateSection) -> Reason:
    from ltxbench import video

    needs = f"curate.clip_frames {cfg.clip_frames} at curate.fps {cfg.fps} needs"
    if info.frame_times is None:
        span = video.source_span(info.fps, cfg.fps, cfg.clip_frames)
        return Reason("too_short", f"shot {shot_start}-{shot_end} has {shot_end - shot_start} source frames, fewer "
                                   f"than one clip of {needs} ({span} at {info.fps:g} fps)")
    end_s = info.frame_times[shot_end - 1, 1]
    return Reason("too_short", f"shot {shot_start}-{shot_end} lasts {end_s - info.time_of(shot_start):.3f} s "
                               f"({shot_end - shot_start} source frames at a variable rate), shorter than one clip of "
                               f"{needs} ({cfg.clip_frames / cfg.fps:.3f} s)")


def _image_candidate(char: str, path: Path, stem: str, cfg: P.CurateSection, image: np.ndarray) -> Candidate:
    from ltxbench import video

    h, w = image.shape[:2]
    size = video.bucket_size(w, h, cfg.resolution)
    if size is None:
        return Candidate(f"{char}-{stem}-000", char, path, "image", 0, [], w, h, reasons=[_too_small(w, h, cfg)])
    return Candidate(f"{char}-{stem}-000", char, path, "image", 0, [], size[0], size[1])


def _score_size(width: int, height: int, src_w: int, src_h: int) -> tuple[int, int]:
    short = min(width, height)
    scale = max(1.0, min(min(src_w, src_h), SCORE_SHORT_SIDE) / short)
    return int(round(width * scale / 2) * 2), int(round(height * scale / 2) * 2)


def sample_picks(cfg: P.CurateSection) -> list[int]:
    """Clip-frame indices scored for faces: ``cfg.face_samples`` spread evenly across the clip."""
    from ltxbench.video import sample_indices

    return sample_indices(cfg.clip_frames, cfg.face_samples)


def burst_picks(cfg: P.CurateSection) -> list[int]:
    """``cfg.expression_frames`` consecutive clip-frame indices around the clip's middle (mouth motion)."""
    k = min(cfg.expression_frames, cfg.clip_frames)
    first = max(0, cfg.clip_frames // 2 - k // 2)
    return list(range(first, first + k))


# ---------------------------------------------------------------------------------------
# Rendering clips (shared by scoring, the stage and manual overrides)
# ---------------------------------------------------------------------------------------


def _video_frames(path: Path, indices: list[int], size: tuple[int, int]) -> np.ndarray:
    """Source frames ``indices`` scaled and centre-cropped to ``size`` ``(w, h)``, decoded in chunks."""
    from ltxbench import video

    out = np.empty((len(indices), size[1], size[0], 3), dtype=np.uint8)
    for i in range(0, len(indices), _READ_CHUNK):
        chunk = video.read_frames(path, indices[i:i + _READ_CHUNK])
        for j, frame in enumerate(chunk):
            out[i + j] = video.resize_crop(frame, *size)
    return out


def _render(record: dict[str, Any], source: Path, size: tuple[int, int], cfg: P.CurateSection) -> np.ndarray:
    """All frames of a full-frame clip at ``size`` ``(w, h)`` (any scale of the record's geometry)."""
    from ltxbench import video

    if record["source_kind"] == "image":
        image = video.read_image(source)
        return video.image_to_clip(image, size[0], size[1], record["num_frames"], motion=record["camera_motion"],
                                   amount=cfg.image_motion_amount)
    info = video.probe(source)
    if info.num_frames != record["source_num_frames"] or abs(info.fps - record["source_fps"]) > 1e-6:
        raise ValueError(f"{record['id']}: the source changed since curate ({info.num_frames} frames at {info.fps:g} fps, "
                         f"the manifest says {record['source_num_frames']} at {record['source_fps']:g}); re-run curate")
    indices = video.resample_indices(info.num_frames, info.fps, record["fps"], record["start_frame"], record["num_frames"],
                                     info.frame_times)
    return _video_frames(source, indices, size)


def _max_scale(record: dict[str, Any], source: Path, size: tuple[int, int], cfg: P.CurateSection) -> float:
    """The largest factor ``size`` may be scaled by without upscaling the source."""
    from ltxbench import video

    if record["source_kind"] == "image":
        src_h, src_w = video.read_image(source).shape[:2]
        travel = 1.0 - cfg.image_motion_amount  # a pan or zoom shows this share of the photo's window
    else:
        info = video.probe(source)
        src_w, src_h, travel = info.width, info.height, 1.0
    return travel * min(src_w / size[0], src_h / size[1])


def _head_frames(record: dict[str, Any], source: Path, cfg: P.CurateSection) -> np.ndarray:
    """Frames of a head-crop clip: its parent's frames rendered large enough, then cropped."""
    import cv2

    parent_w, parent_h = record["crop"]["parent_size"]
    x0, y0, x1, y1 = record["crop"]["box"]
    side = record["width"]
    scale = side / ((y1 - y0) * parent_h)
    available = _max_scale(record, source, (parent_w, parent_h), cfg)
    if scale > available * (1 + 1e-6):
        raise ValueError(f"{record['id']}: the head crop holds only {int(side * available / scale)} source px, "
                         f"< {side}; never upscaled")
    size = (max(1, round(parent_w * scale)), max(1, round(parent_h * scale)))
    full = _render(record, source, size, cfg)
    px = [int(round(x0 * size[0])), int(round(y0 * size[1])), int(round(x1 * size[0])), int(round(y1 * size[1]))]
    return np.stack([cv2.resize(f[px[1]:px[3], px[0]:px[2]], (side, side), interpolation=cv2.INTER_AREA) for f in full])


def render_clip(run: Run, record: dict[str, Any]) -> np.ndarray:
    """Every frame of a record's clip ``[F,H,W,3]`` uint8, recomputed from its source."""
    cfg = run.params.curate
    if any(code in record["reasons"] for code in UNCUTTABLE):
        details = "; ".join(record.get("reason_details") or record["reasons"])
        raise ValueError(f"{record['id']}: no clip can be cut from this source: {details}")
    source = source_path(record["source"])
    if record.get("variant") == "head":
        return _head_frames(record, source, cfg)
    return _render(record, source, (record["width"], record["height"]), cfg)


def write_clip(run: Run, record: dict[str, Any]) -> str:
    """Write ``dataset/clips/<id>.mp4`` for ``record`` (and ``clips/<id>.wav`` when its source has
    audio) from the source, atomically; returns the clip path relative to ``dataset/``.

    Changes nothing in ``record``. Raises ``ValueError`` when no clip can be cut (a source too
    short, too small or changed since curate) and :class:`~ltxbench.video.MediaError` /
    ``OSError`` when the source cannot be read.
    """
    from ltxbench import audio, video

    frames = render_clip(run, record)
    rel = f"clips/{record['id']}.mp4"
    video.write_mp4(run.path("dataset", rel), frames, fps=record["fps"])
    # read_audio is None for a source without sound; a track curate found broken is not read again
    if record["source_kind"] == "video" and not (record.get("scores") or {}).get("audio_error"):
        source = source_path(record["source"])
        # the sound of the clip's own seconds: curate recorded them (by timestamp when the rate
        # varies); a manifest from before source_span_s existed is probed again
        span = record.get("source_span_s")
        start = span[0] if span else video.probe(source).time_of(record["start_frame"])
        read = audio.read_audio(source, start, record["num_frames"] / record["fps"])
        if read is not None:
            audio.write_wav(run.path("dataset", f"clips/{record['id']}.wav"), *read)
    return rel


def clip_audio(record: dict[str, Any]) -> str | None:
    """``media_audio`` for a record whose clip was written: its wav when the audio is usable, else ``None``."""
    usable = (record.get("scores") or {}).get("audio_usable")
    return f"clips/{record['id']}.wav" if record.get("media") and usable else None


# ---------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------


def _record(cand: Candidate, cfg: P.CurateSection, scores: dict[str, Any], thumb: str | None,
            character: str | None = None) -> dict[str, Any]:
    """A manifest record; ``status`` is decided later (duplicates need the whole run)."""
    codes, details = split(cand.reasons)
    character = character or cand.character
    return {
        "id": cand.id,
        "character": character,
        "found_in": cand.character if character != cand.character else None,
        "source": source_text(cand.source),
        "source_kind": cand.source_kind,
        "source_fps": cand.source_fps,
        "source_num_frames": cand.source_num_frames,
        "start_frame": cand.start_frame,
        "source_span_s": _span_s(cand, cfg),
        "num_frames": cfg.clip_frames,
        "fps": cfg.fps,
        "width": cand.width,
        "height": cand.height,
        "parent": None,
        "variant": "full",
        "media": None,
        "media_audio": None,
        "thumb": thumb,
        "camera_motion": cfg.image_motion if cand.source_kind == "image" else None,
        "auto_status": "rejected" if codes else "accepted",
        "status": "rejected" if codes else "accepted",
        "override": None,
        "reasons": codes,
        "reason_details": [_text(d) for d in details],
        "scores": scores,
        "caption": None,
        "lint": [],
    }


def _span_s(cand: Candidate, cfg: P.CurateSection) -> list[float] | None:
    """``[start, end]``: the seconds of the source a video clip shows, from its first frame (a clip
    of N frames at curate.fps lasts N / fps of real time, at any source rate); None without a clip."""
    if cand.source_kind != "video" or not cand.source_indices or cand.source_info is None:
        return None
    start = cand.source_info.time_of(cand.start_frame)
    return [round(start, 6), round(start + cfg.clip_frames / cfg.fps, 6)]


def _reject(record: dict[str, Any], reason: Reason) -> None:
    record["reasons"].append(reason.code)
    record["reason_details"].append(reason.detail)
    record["auto_status"] = record["status"] = "rejected"


def _save_thumb(run: Run, clip_id: str, frame: np.ndarray) -> str:
    from PIL import Image

    img = Image.fromarray(frame)
    img.thumbnail((256, 256))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    rel = f"thumbs/{clip_id}.jpg"
    runs.atomic_write_bytes(run.path("dataset", rel), buf.getvalue())
    return rel


# ---------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------


def load_result(run: Run) -> CurateResult:
    """The outputs of a finished curate stage, read from ``dataset/`` (nothing is scored)."""
    import json

    manifest = run.path(MANIFEST)
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found: run the curate stage first")
    cov_path, png = run.path("dataset", "coverage.json"), run.path("dataset", "coverage.png")
    report = json.loads(cov_path.read_text(encoding="utf-8")) if cov_path.is_file() else {}
    return CurateResult(runs.read_jsonl(manifest), report, manifest, png if png.is_file() else None)


def curate(run: Run, reuse: bool = False) -> CurateResult:
    """Run the curate stage on ``run`` and write ``dataset/`` (see module docstring).

    ``reuse=True`` (what the notebook does) returns the stage's outputs as they are when run.json
    records it completed with these parameters, so opening the curation grid on a finished run
    takes seconds, not a re-curate; the pipeline's own execution of the stage always runs it."""
    from ltxbench import caption_edits, coverage, faces, overrides

    if reuse and runs.stage_is_current(run, "curate") and run.path(MANIFEST).is_file():
        log.info("curate: completed with these parameters (run.json): showing its outputs; "
                 "curate.curate(run) runs it again")
        return load_result(run)

    cfg = run.params.curate
    caption_edits.load(run)  # a damaged edits file is an error before minutes of scoring, not after
    analyzer = faces.FaceAnalyzer(shape68=True, embedder=face_embedder(cfg))
    refs = {c.name: faces.reference_embeddings(c.references, analyzer=analyzer) for c in run.params.dataset.characters}
    _check_reference_voices(run, cfg)  # a voice file without speech is an error now, not a clip "unreadable" later
    sources: list[Source] = []
    for char in run.params.dataset.characters:
        seen_stems: Counter[str] = Counter()
        for path in expand_media(char.media):
            stem = _slug(path.stem)
            seen_stems[stem] += 1
            if seen_stems[stem] > 1:  # two sources with one name: keep ids unique
                stem = f"{stem}-{seen_stems[stem]}"
            sources.append(Source(char.name, path, stem))
    records = score_sources(run, sources, cfg, analyzer, refs, workers=cfg.workers)
    mark_duplicates(records, cfg.duplicate_distance)
    for record in progress.bar([r for r in records if r["auto_status"] == "accepted"], desc="write clips", unit="clip"):
        record["media"] = write_clip(run, record)
        record["media_audio"] = clip_audio(record)
    if cfg.head_crops:
        records = _with_head_crops(run, records, cfg)
    records = overrides.apply_overrides(run, records)
    manifest = run.path(MANIFEST)
    caption_edits.restore(run, records, _previous_manifest(manifest))  # re-curating keeps every caption
    runs.write_jsonl(manifest, records)
    report, figure = coverage.write_coverage(run, records)
    return CurateResult(records, report, manifest, figure)


def _check_reference_voices(run: Run, cfg: P.CurateSection) -> None:
    from ltxbench import voice

    for ch in run.params.dataset.characters:
        if ch.voices:
            voice.cached_references(tuple(str(v) for v in ch.voices), *voice.settings(cfg))


def _previous_manifest(path: Path) -> list[dict[str, Any]]:
    """The manifest this run replaces (its captions are carried over), ``[]`` when none or unreadable."""
    if not path.is_file():
        return []
    try:
        return runs.read_jsonl(path)
    except (OSError, ValueError) as exc:
        log.warning("curate: the previous manifest %s cannot be read (%s): its captions are not carried over; "
                    "hand-written ones come back from dataset/caption_edits.json", path, exc)
        return []


def face_embedder(cfg: P.CurateSection) -> Any:
    """``curate.face_embedder``'s embedder for :class:`ltxbench.faces.FaceAnalyzer`: ``None`` for
    dlib's own, an :class:`ltxbench.faces.ArcFaceEmbedder` on ``curate.arcface_model`` for ArcFace."""
    from ltxbench import faces

    if cfg.face_embedder == "dlib":
        return None
    if cfg.arcface_model is None:  # params refuse this; a section changed after validation can still get here
        raise ValueError("curate.face_embedder is arcface but curate.arcface_model is not set")
    return faces.ArcFaceEmbedder(cfg.arcface_model)


@dataclass(frozen=True)
class Source:
    """One media file of one character; ``stem`` is the unique id stem of its clips."""

    character: str
    path: Path
    stem: str


def score_sources(run: Run, sources: list[Source], cfg: P.CurateSection, analyzer: Any,
                  refs: dict[str, np.ndarray], workers: int = 1) -> list[dict[str, Any]]:
    """Every clip record of ``sources``, in source order, scored in ``workers`` processes (0: auto).

    Two ordered maps (:func:`ltxbench.parallel.map_ordered`): sources -> candidate clips (probe,
    shot cuts), then every candidate of every source -> its record. Clips, not sources, are the
    unit of the second map so that one long video also uses every core. The records are the same,
    in the same order, for any ``workers``; a source that fails anywhere becomes one ``unreadable``
    record, as if it had been scored alone.
    """
    from ltxbench import faces, parallel

    def name(item: Any) -> str:
        return _text(source_text(item.path if isinstance(item, Source) else item.source))

    with parallel.WorkerPool(workers, initializer=faces.load_models) as pool:
        listed = pool.map(functools.partial(_list_source, cfg), sources, desc="curate: find clips", unit="file",
                          label=name)
        cands = [c for found in listed if not isinstance(found, Reason) for c in found]
        scored = pool.map(functools.partial(_score_one, run, cfg, analyzer, refs), cands, desc="curate: score clips",
                          unit="clip", label=name)
    by_id = dict(zip((c.id for c in cands), scored))
    records: list[dict[str, Any]] = []
    for source, found in zip(sources, listed):
        outcome = [found] if isinstance(found, Reason) else [by_id[c.id] for c in found]
        failed = next((o for o in outcome if isinstance(o, Reason)), None)
        if failed is None:
            records.extend(outcome)
            continue
        log.warning("%s", _text(failed.detail))
        kind = "image" if source.path.suffix.lower() in P.IMAGE_SUFFIXES else "video"
        records.append(_record(Candidate(f"{source.character}-{source.stem}-000", source.character, source.path, kind,
                                         0, [], 0, 0, reasons=[failed]), cfg, {}, None))
    return records


def _unreadable(exc: Exception) -> Reason:
    return Reason("unreadable", f"unreadable source: {exc}")


def _list_source(cfg: P.CurateSection, source: Source) -> list[Candidate] | Reason:
    """The candidate clips of one source, or why it cannot be read."""
    from ltxbench import video

    char, path, stem = source.character, source.path, source.stem
    try:
        if path.suffix.lower() in P.IMAGE_SUFFIXES:
            return [_image_candidate(char, path, stem, cfg, video.read_image(path))]
        return _video_candidates(char, path, stem, cfg, video.probe(path))
    except (OSError, ValueError, RuntimeError) as exc:  # video.MediaError is a RuntimeError
        return _unreadable(exc)


def _score_one(run: Run, cfg: P.CurateSection, analyzer: Any, refs: dict[str, np.ndarray],
               cand: Candidate) -> dict[str, Any] | Reason:
    """One candidate's record, or why its source could not be read."""
    from ltxbench import video

    if cand.reasons:  # rejected before any frame was read
        return _record(cand, cfg, {}, None)
    try:
        image = video.read_image(cand.source) if cand.source_kind == "image" else None
        return _score_candidate(run, cand, cfg, image, analyzer, refs)
    except (OSError, ValueError, RuntimeError) as exc:
        return _unreadable(exc)


def _curate_source(run: Run, char: str, path: Path, stem: str, cfg: P.CurateSection, analyzer: Any,
                   refs: dict[str, np.ndarray], workers: int = 1) -> list[dict[str, Any]]:
    """Every clip record from one source file; an unreadable file becomes one rejected record."""
    return score_sources(run, [Source(char, path, stem)], cfg, analyzer, refs, workers=workers)


def _score_candidate(run: Run, cand: Candidate, cfg: P.CurateSection, image: np.ndarray | None, analyzer: Any,
                     refs: dict[str, np.ndarray]) -> dict[str, Any]:
    from ltxbench import video
    from ltxbench.clipscore.clip import ClipFrames, score_clip

    picks = sample_picks(cfg)
    if image is not None:
        size = _score_size(cand.width, cand.height, image.shape[1], image.shape[0])
        clip = video.image_to_clip(image, size[0], size[1], cfg.clip_frames, motion=cfg.image_motion, amount=cfg.image_motion_amount)
        frames = ClipFrames(clip[picks], source_frame=image, still=True)
        audio_scores = dict.fromkeys(AUDIO_KEYS) | {"audio_present": False, "audio_usable": False}
    else:
        info = cand.source_info
        size = _score_size(cand.width, cand.height, info.width, info.height)
        burst = burst_picks(cfg) if cfg.expression_frames >= 2 else []
        raw = video.read_frames(cand.source, [cand.source_indices[i] for i in picks + burst])
        small = np.stack([video.resize_crop(f, *size) for f in raw])
        middle = burst[len(burst) // 2] if burst else 0
        frames = ClipFrames(small[:len(picks)], source_frame=raw[len(picks) // 2],
                            burst=small[len(picks):] if burst else None,
                            burst_at=float(np.interp(middle, picks, np.arange(len(picks)))))
        audio_scores = _audio_scores(cand, info, cfg)
    scored = score_clip(frames, analyzer, refs, cand.character, cfg)
    cand.reasons.extend(scored.reasons)
    voice_scores: dict[str, Any] = {}
    if image is None and audio_scores.get("speech_ratio"):
        voice_scores = _voice_scores(run, cand, cfg, scored.character)
    thumb = _save_thumb(run, cand.id, frames.sampled[len(frames.sampled) // 2])
    return _record(cand, cfg, scored.scores | audio_scores | voice_scores, thumb, character=scored.character)


def _voice_scores(run: Run, cand: Candidate, cfg: P.CurateSection, character: str) -> dict[str, Any]:
    """Whose voice speaks in the clip (:mod:`ltxbench.voice`), when the character has reference
    voices; adds ``wrong_voice`` / ``several_speakers`` to the candidate's reasons."""
    from ltxbench import voice

    ch = next((c for c in run.params.dataset.characters if c.name == character), None)
    if ch is None or not ch.voices:
        return {}
    encoder = voice.cached_encoder(*voice.settings(cfg))
    refs = voice.cached_references(tuple(str(v) for v in ch.voices), *voice.settings(cfg))
    mono = voice.read_mono_16k(cand.source, cand.source_info.time_of(cand.start_frame), cfg.clip_frames / cfg.fps)
    scores = voice.clip_voice(mono, refs, encoder) if mono is not None else {}
    sim = scores.get("voice_similarity")
    if sim is not None and sim < cfg.min_voice_similarity:
        cand.reasons.append(Reason("wrong_voice", f"the speech is not {character}'s voice: voice similarity {sim:.2f} < "
                                                  f"curate.min_voice_similarity {cfg.min_voice_similarity} ({cfg.voice_backend})"))
    if scores.get("several_speakers"):
        cand.reasons.append(Reason("several_speakers", f"two voices speak in the clip: the least alike 2-s windows measure "
                                                       f"{scores['voice_min_window_cosine']:.2f} < {encoder.several_speakers_cosine}"))
    return {**scores, "voice_backend": cfg.voice_backend}


def _audio_scores(cand: Candidate, info: Any, cfg: P.CurateSection) -> dict[str, Any]:
    """The source's audio over the clip's span (``ltxbench.audio.analyze_audio``).

    A broken audio track costs the clip its audio, not its frames: it is scored ``audio_usable:
    False`` with the reader's message in ``audio_error`` and the clip is judged on its picture."""
    from ltxbench import audio, video

    if not info.has_audio:
        return dict.fromkeys(AUDIO_KEYS) | {"audio_present": False, "audio_usable": False}
    try:
        result = audio.analyze_audio(cand.source, info.time_of(cand.start_frame), cfg.clip_frames / cfg.fps)
    except video.MediaError as exc:
        log.warning("%s: audio track unreadable, the clip is scored without it: %s", cand.id, exc)
        return dict.fromkeys(AUDIO_KEYS) | {"audio_present": True, "audio_usable": False, "audio_error": str(exc)}
    return {k: result.get(k) for k in AUDIO_KEYS} | {"audio_usable": bool(result.get("audio_usable"))}


def mark_duplicates(records: list[dict[str, Any]], max_distance: int) -> None:
    """Set ``scores.dup_group`` on every scored full-frame clip and reject, as ``duplicate``, an
    accepted clip whose group already has an accepted clip (the first one in manifest order stays)."""
    full = [r for r in records if r.get("variant", "full") == "full" and (r["scores"] or {}).get("dup_key")]
    heads = group_heads([r["scores"]["dup_key"] for r in full], max_distance)
    kept: dict[int, dict[str, Any]] = {}
    for record, head in zip(full, heads):
        assert head is not None
        record["scores"]["dup_group"] = full[head]["id"]
        if record["auto_status"] != "accepted":
            continue
        if head not in kept:
            kept[head] = record
            continue
        first = kept[head]
        bits = hamming(first["scores"]["dup_key"], record["scores"]["dup_key"])
        _reject(record, Reason("duplicate", f"near-duplicate of {first['id']}: dup_key differs in {bits} of 64 bits "
                                            f"(<= curate.duplicate_distance {max_distance})"))


# ---------------------------------------------------------------------------------------
# Head crops
# ---------------------------------------------------------------------------------------


def head_crop_box(face_box: list[float], width: int, height: int, scale: float) -> list[float]:
    """A square (in pixels) around ``face_box`` (normalised x0, y0, x1, y1 of a ``width`` x ``height``
    frame), ``scale`` times the face height on a side, shifted to lie inside the frame (and no larger
    than the frame's short side); returned normalised."""
    x0, y0, x1, y1 = face_box[0] * width, face_box[1] * height, face_box[2] * width, face_box[3] * height
    side = min((y1 - y0) * scale, width, height)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    left = float(np.clip(cx - side / 2.0, 0.0, width - side))
    top = float(np.clip(cy - side / 2.0, 0.0, height - side))
    return [round(left / width, 6), round(top / height, 6), round((left + side) / width, 6), round((top + side) / height, 6)]


def _with_head_crops(run: Run, records: list[dict[str, Any]], cfg: P.CurateSection) -> list[dict[str, Any]]:
    """``records`` with a ``<id>-head`` record after every accepted full clip that has a face box."""
    out = []
    for record in records:
        out.append(record)
        if record["auto_status"] == "accepted" and record["variant"] == "full" and record["scores"].get("face_box"):
            out.append(_head_record(run, record, cfg))
    return out


def _head_record(run: Run, parent: dict[str, Any], cfg: P.CurateSection) -> dict[str, Any]:
    side = cfg.resolution
    box = head_crop_box(parent["scores"]["face_box"], parent["width"], parent["height"], cfg.head_crop_scale)
    head = {**parent, "id": f"{parent['id']}-head", "parent": parent["id"], "variant": "head",
            "width": side, "height": side, "media": None, "media_audio": None, "thumb": None,
            "reasons": [], "reason_details": [], "auto_status": "accepted", "status": "accepted",
            "crop": {"box": box, "parent_size": [parent["width"], parent["height"]]},
            "scores": {**parent["scores"], "dup_group": None}}
    available = _max_scale(head, source_path(head["source"]), (parent["width"], parent["height"]), cfg)
    crop_px = (box[3] - box[1]) * parent["height"] * available
    if crop_px + 1e-6 < side:
        _reject(head, Reason("low_resolution", f"the head crop holds {crop_px:.0f} source px, < curate.resolution "
                                               f"{side}; never upscaled"))
        return head
    from ltxbench import video

    head["media"] = write_clip(run, head)
    head["thumb"] = _save_thumb(run, head["id"], video.read_frames(run.path("dataset", head["media"]), [head["num_frames"] // 2])[0])
    head["media_audio"] = clip_audio(head)
    return head


def load_manifest(run: Run) -> list[dict[str, Any]]:
    path = run.path(MANIFEST)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run the curate stage first")
    return runs.read_jsonl(path)
