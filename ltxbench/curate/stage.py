"""Curate stage: raw footage and photos -> clips LTX can train on, each accepted or rejected with reasons.

For every character and every media file:

* a video is cut at detected shot boundaries (``curate.shot_detector``; a clip never spans a cut),
  each shot into clips of ``curate.clip_frames`` (8k+1) frames resampled to ``curate.fps``;
* a photo becomes one clip with a slow pan or zoom (``source_kind: image``);
* every clip gets a resolution bucket (short side ``curate.resolution``, sides multiples of 32);
  a smaller source is rejected, never upscaled;
* ``curate.face_samples`` frames spread across the clip are scored at score size (see
  :mod:`ltxbench.curate.scores`): faces against **every** character's reference photos (the clip goes
  to the character it matches best), head angle, expression, lighting, framing, sharpness,
  compression, a near-duplicate key, and the source's audio;
* near-duplicates after the first accepted clip of their group are rejected (``duplicate``);
* with ``curate.head_crops``, every accepted clip with a face also yields a square head crop clip;
* stored manual decisions (``dataset/overrides.json``) are re-applied, the captions of unchanged
  clips and every hand-written caption (``dataset/caption_edits.json``, :mod:`ltxbench.caption.edits`)
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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.curate.candidates import (
    Candidate,
    burst_picks,
    expand_media,
    image_candidate,
    json_safe_text,
    sample_picks,
    score_size,
    slug,
    source_text,
    video_candidates,
)
from ltxbench.curate.render import clip_audio, head_record, write_clip
from ltxbench.curate.scores.duplicates import group_heads, hamming
from ltxbench.dataset.manifest import MANIFEST, load_manifest, write_manifest
from ltxbench.dataset.reasons import Reason, split
from ltxbench.media.audio_analysis import AUDIO_KEYS
from ltxbench.params import schema as P
from ltxbench.run import atomic, folder
from ltxbench.run.folder import Run
from ltxbench.util import progress

log = logging.getLogger("ltxbench")




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
        "reason_details": [json_safe_text(d) for d in details],
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
    atomic.atomic_write_bytes(run.path("dataset", rel), buf.getvalue())
    return rel


# ---------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------


def load_result(run: Run) -> CurateResult:
    """The outputs of a finished curate stage, read from ``dataset/`` (nothing is scored)."""
    import json

    records = load_manifest(run)
    cov_path, png = run.path("dataset", "coverage.json"), run.path("dataset", "coverage.png")
    report = json.loads(cov_path.read_text(encoding="utf-8")) if cov_path.is_file() else {}
    return CurateResult(records, report, run.path(MANIFEST), png if png.is_file() else None)


def curate(run: Run, reuse: bool = False) -> CurateResult:
    """Run the curate stage on ``run`` and write ``dataset/`` (see module docstring).

    ``reuse=True`` (what the notebook does) returns the stage's outputs as they are when run.json
    records it completed with these parameters, so opening the curation grid on a finished run
    takes seconds, not a re-curate; the pipeline's own execution of the stage always runs it."""
    from ltxbench import faces
    from ltxbench.caption import edits as caption_edits
    from ltxbench.curate import coverage, overrides

    if reuse and folder.stage_is_current(run, "curate") and run.path(MANIFEST).is_file():
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
            stem = slug(path.stem)
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
    write_manifest(run, records)
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
        return atomic.read_jsonl(path)
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

    Two ordered maps (:func:`ltxbench.util.parallel.map_ordered`): sources -> candidate clips (probe,
    shot cuts), then every candidate of every source -> its record. Clips, not sources, are the
    unit of the second map so that one long video also uses every core. The records are the same,
    in the same order, for any ``workers``; a source that fails anywhere becomes one ``unreadable``
    record, as if it had been scored alone.
    """
    from ltxbench import faces
    from ltxbench.util import parallel

    def name(item: Any) -> str:
        return json_safe_text(source_text(item.path if isinstance(item, Source) else item.source))

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
        log.warning("%s", json_safe_text(failed.detail))
        kind = "image" if source.path.suffix.lower() in P.IMAGE_SUFFIXES else "video"
        records.append(_record(Candidate(f"{source.character}-{source.stem}-000", source.character, source.path, kind,
                                         0, [], 0, 0, reasons=[failed]), cfg, {}, None))
    return records


def _unreadable(exc: Exception) -> Reason:
    return Reason("unreadable", f"unreadable source: {exc}")


def _list_source(cfg: P.CurateSection, source: Source) -> list[Candidate] | Reason:
    """The candidate clips of one source, or why it cannot be read."""
    from ltxbench.media import video

    char, path, stem = source.character, source.path, source.stem
    try:
        if path.suffix.lower() in P.IMAGE_SUFFIXES:
            return [image_candidate(char, path, stem, cfg, video.read_image(path))]
        return video_candidates(char, path, stem, cfg, video.probe(path))
    except (OSError, ValueError, RuntimeError) as exc:  # video.MediaError is a RuntimeError
        return _unreadable(exc)


def _score_one(run: Run, cfg: P.CurateSection, analyzer: Any, refs: dict[str, np.ndarray],
               cand: Candidate) -> dict[str, Any] | Reason:
    """One candidate's record, or why its source could not be read."""
    from ltxbench.media import video

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
    from ltxbench.curate.scores.clip import ClipFrames, score_clip
    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    picks = sample_picks(cfg)
    if image is not None:
        size = score_size(cand.width, cand.height, image.shape[1], image.shape[0])
        clip = media_frames.image_to_clip(image, size[0], size[1], cfg.clip_frames, motion=cfg.image_motion, amount=cfg.image_motion_amount)
        frames = ClipFrames(clip[picks], source_frame=image, still=True)
        audio_scores = dict.fromkeys(AUDIO_KEYS) | {"audio_present": False, "audio_usable": False}
    else:
        info = cand.source_info
        size = score_size(cand.width, cand.height, info.width, info.height)
        burst = burst_picks(cfg) if cfg.expression_frames >= 2 else []
        raw = video.read_frames(cand.source, [cand.source_indices[i] for i in picks + burst])
        small = np.stack([media_frames.resize_crop(f, *size) for f in raw])
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
    """The source's audio over the clip's span (``ltxbench.media.audio_analysis.analyze_audio``).

    A broken audio track costs the clip its audio, not its frames: it is scored ``audio_usable:
    False`` with the reader's message in ``audio_error`` and the clip is judged on its picture."""
    from ltxbench.media import audio_analysis, video

    if not info.has_audio:
        return dict.fromkeys(AUDIO_KEYS) | {"audio_present": False, "audio_usable": False}
    try:
        result = audio_analysis.analyze_audio(cand.source, info.time_of(cand.start_frame), cfg.clip_frames / cfg.fps)
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
    head, crop_px = head_record(parent, cfg)
    if crop_px + 1e-6 < side:
        _reject(head, Reason("low_resolution", f"the head crop holds {crop_px:.0f} source px, < curate.resolution "
                                               f"{side}; never upscaled"))
        return head
    from ltxbench.media import video

    head["media"] = write_clip(run, head)
    head["thumb"] = _save_thumb(run, head["id"], video.read_frames(run.path("dataset", head["media"]), [head["num_frames"] // 2])[0])
    head["media_audio"] = clip_audio(head)
    return head
