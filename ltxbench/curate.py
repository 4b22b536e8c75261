"""Curate stage: raw footage and photos -> clips LTX can train on, each accepted or rejected with reasons.

For every character and every media file:

* a video is cut at detected shot boundaries (a clip never spans a cut), each shot into clips of
  ``curate.clip_frames`` (8k+1) frames resampled to ``curate.fps``;
* a photo becomes one clip with a slow pan or zoom (``source_kind: image``);
* every clip gets a resolution bucket (short side ``curate.resolution``, sides multiples of 32);
  a smaller source is rejected, never upscaled;
* faces are detected on ``curate.face_samples`` frames spread across the clip and compared with
  the character's reference photos (dlib distance, see :mod:`ltxbench.faces`); the clip is kept
  when enough sampled frames show the character.

Outputs in ``RUN_DIR/dataset/``: ``manifest.jsonl`` (one record per clip, rejected ones too, see
runs/README.md), ``clips/<id>.mp4`` for accepted clips, ``thumbs/<id>.jpg`` for every clip,
``coverage.json`` and ``coverage.png``. Source media are only read.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import params as P
from . import figures, progress, runs
from .runs import Run

log = logging.getLogger("ltxbench")

MANIFEST = "dataset/manifest.jsonl"


@dataclass
class Candidate:
    """A clip before scoring: where its frames come from and how big it will be."""

    id: str
    character: str
    source: Path
    source_kind: str  # "video" | "image"
    start_frame: int
    source_indices: list[int]  # source frame per clip frame (videos); empty for images
    width: int
    height: int
    reasons: list[str] = field(default_factory=list)


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

        rows = [{
            "id": r["id"], "character": r["character"], "kind": r["source_kind"], "status": r["status"],
            "frames": r["num_frames"], "size": f"{r['width']}x{r['height']}",
            "face_rate": r["scores"].get("face_rate"), "match_rate": r["scores"].get("match_rate"),
            "identity_distance": r["scores"].get("identity_distance"),
            "reasons": "; ".join(r["reasons"]),
        } for r in self.records]
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        n_acc = len(self.accepted)
        return f"CurateResult({n_acc} accepted, {len(self.records) - n_acc} rejected; manifest: {self.manifest_path})"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "media"


def expand_media(paths: list[Path]) -> list[Path]:
    """Files named directly, plus the supported files inside named folders (sorted, recursive)."""
    out: list[Path] = []
    suffixes = P.IMAGE_SUFFIXES + P.VIDEO_SUFFIXES
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes))
        else:
            out.append(path)
    return out


# ---------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------


def _video_candidates(char: str, path: Path, stem: str, cfg: P.CurateSection, info: Any) -> list[Candidate]:
    from . import video

    size = video.bucket_size(info.width, info.height, cfg.resolution)
    if size is None:
        return [Candidate(f"{char}-{stem}-000", char, path, "video", 0, [], info.width, info.height,
                          [f"source too small: short side {min(info.width, info.height)} px < curate.resolution {cfg.resolution}; never upscaled"])]
    width, height = size
    cuts = video.detect_cuts(path, threshold=cfg.cut_threshold)
    shots = video.shots_from_cuts(cuts, info.num_frames)
    # Source frames one clip spans at the target fps (a 30 fps source needs more than 24 fps).
    span = video.source_span(info.fps, cfg.fps, cfg.clip_frames)
    out: list[Candidate] = []
    for shot_start, shot_end in shots:
        n_clips = (shot_end - shot_start) // span
        if n_clips == 0:
            out.append(Candidate(f"{char}-{stem}-{len(out):03d}", char, path, "video", shot_start, [], width, height,
                                 [f"shot {shot_start}-{shot_end} has {shot_end - shot_start} frames, fewer than one clip needs ({span} at {info.fps:g} fps)"]))
            continue
        for k in range(n_clips):
            start = shot_start + k * span
            indices = video.resample_indices(info.num_frames, info.fps, cfg.fps, start, cfg.clip_frames)
            out.append(Candidate(f"{char}-{stem}-{len(out):03d}", char, path, "video", start, indices, width, height))
    return out


def _image_candidate(char: str, path: Path, stem: str, cfg: P.CurateSection, image: np.ndarray) -> Candidate:
    from . import video

    h, w = image.shape[:2]
    size = video.bucket_size(w, h, cfg.resolution)
    if size is None:
        return Candidate(f"{char}-{stem}-000", char, path, "image", 0, [], w, h,
                         [f"source too small: short side {min(w, h)} px < curate.resolution {cfg.resolution}; never upscaled"])
    return Candidate(f"{char}-{stem}-000", char, path, "image", 0, [], size[0], size[1])


SCORE_SHORT_SIDE = 480
"""Faces are scored on frames whose short side is up to this many pixels (never above the source),
not at the training size: benchmarks/bench_curate.py measured that at a 128 px short side dlib
misses one of two Obama photos it finds at 480 px, and at 64 px also the Biden photo, so scoring at
a small training resolution would reject good clips for the wrong reason."""


def _score_size(cand: Candidate, src_w: int, src_h: int) -> tuple[int, int]:
    short = min(cand.width, cand.height)
    scale = max(1.0, min(min(src_w, src_h), SCORE_SHORT_SIDE) / short)
    return int(round(cand.width * scale / 2) * 2), int(round(cand.height * scale / 2) * 2)


def _frames_at(cand: Candidate, cfg: P.CurateSection, image: np.ndarray | None, size: tuple[int, int],
               picks: list[int] | None = None) -> np.ndarray:
    """Frames of a candidate at ``size`` (all of them, or the clip-frame indices ``picks``), ``[N,H,W,3]`` uint8."""
    from . import video

    width, height = size
    if cand.source_kind == "image":
        assert image is not None
        clip = video.image_to_clip(image, width, height, cfg.clip_frames, motion=cfg.image_motion, amount=cfg.image_motion_amount)
        return clip if picks is None else clip[picks]
    indices = cand.source_indices if picks is None else [cand.source_indices[i] for i in picks]
    frames = video.read_frames(cand.source, indices)
    return np.stack([video.resize_crop(f, width, height) for f in frames])


# ---------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------


def sample_picks(cfg: P.CurateSection) -> list[int]:
    """Clip-frame indices scored for faces: ``cfg.face_samples`` spread evenly across the clip."""
    from .video import sample_indices

    return sample_indices(cfg.clip_frames, cfg.face_samples)


def _score(frames: np.ndarray, analyzer: Any, refs: np.ndarray, cfg: P.CurateSection) -> tuple[dict[str, Any], list[str]]:
    """Face scores from the sampled frames ``[N,H,W,3]`` of one clip."""
    from . import faces

    heights, distances, boxes, small = [], [], [], 0
    for frame in frames:
        face = analyzer.largest(frame)
        if face is None:
            continue
        if face.height_frac < cfg.min_face_height:
            small += 1
            continue
        heights.append(face.height_frac)
        distances.append(faces.identity_distance(face.embedding, refs))
        fh, fw = frame.shape[:2]
        boxes.append([face.box[0] / fw, face.box[1] / fh, face.box[2] / fw, face.box[3] / fh])
    n = len(frames)
    matches = [d for d in distances if d <= cfg.identity_threshold]
    scores: dict[str, Any] = {
        "frames_sampled": n,
        "face_rate": round(len(heights) / n, 4),
        "match_rate": round(len(matches) / n, 4),
        "face_height": round(float(np.median(heights)), 4) if heights else None,
        "identity_distance": round(float(np.median(distances)), 4) if distances else None,
        "identity_similarity": round(faces.distance_to_similarity(float(np.median(distances))), 4) if distances else None,
        "brightness": round(float(frames.mean() / 255.0), 4),
        # median face box over the sampled frames, normalised to the frame (x0, y0, x1, y1): head crops
        "face_box": [round(float(v), 4) for v in np.median(np.clip(boxes, 0, 1), axis=0)] if boxes else None,
    }
    reasons: list[str] = []
    if scores["match_rate"] < cfg.min_face_rate:
        if not heights and small:
            reasons.append(f"face too small in {small}/{n} sampled frames (< curate.min_face_height {cfg.min_face_height})")
        elif not heights:
            reasons.append(f"no face found in {n} sampled frames")
        elif distances and not matches:
            reasons.append(f"identity mismatch: median distance {scores['identity_distance']:.3f} > curate.identity_threshold {cfg.identity_threshold}")
        else:
            reasons.append(f"the character is in only {len(matches)}/{n} sampled frames (< curate.min_face_rate {cfg.min_face_rate})")
    return scores, reasons


def _record(cand: Candidate, cfg: P.CurateSection, status: str, scores: dict[str, Any], media: str | None, thumb: str | None) -> dict[str, Any]:
    return {
        "id": cand.id,
        "character": cand.character,
        "source": str(cand.source),
        "source_kind": cand.source_kind,
        "start_frame": cand.start_frame,
        "num_frames": cfg.clip_frames,
        "fps": cfg.fps,
        "width": cand.width,
        "height": cand.height,
        "media": media,
        "thumb": thumb,
        "camera_motion": cfg.image_motion if cand.source_kind == "image" else None,
        "status": status,
        "reasons": list(cand.reasons),
        "scores": scores,
        "caption": None,
        "lint": [],
    }


def _save_thumb(run: Run, clip_id: str, frame: np.ndarray) -> str:
    from PIL import Image
    import io

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


def curate(run: Run) -> CurateResult:
    """Run the curate stage on ``run`` and write ``dataset/`` (see module docstring)."""
    from . import faces

    cfg = run.params.curate
    analyzer = faces.FaceAnalyzer()
    records: list[dict[str, Any]] = []
    for char in run.params.dataset.characters:
        refs = faces.reference_embeddings(char.references, analyzer=analyzer)
        media = expand_media(char.media)
        seen_stems: Counter[str] = Counter()
        for path in progress.bar(media, desc=f"curate {char.name}", unit="file"):
            stem = _slug(path.stem)
            seen_stems[stem] += 1
            if seen_stems[stem] > 1:  # two sources with one name: keep ids unique
                stem = f"{stem}-{seen_stems[stem]}"
            records.extend(_curate_source(run, char.name, path, stem, cfg, analyzer, refs))
    manifest = run.path(MANIFEST)
    runs.write_jsonl(manifest, records)
    coverage = coverage_report(records, run.params)
    runs.atomic_write_json(run.path("dataset", "coverage.json"), coverage)
    figure = plot_coverage(records, run.path("dataset", "coverage.png"))
    return CurateResult(records, coverage, manifest, figure)


def _curate_source(run: Run, char: str, path: Path, stem: str, cfg: P.CurateSection, analyzer: Any, refs: np.ndarray) -> list[dict[str, Any]]:
    """Every clip record from one source file; an unreadable file becomes one rejected record."""
    from . import video

    is_image = path.suffix.lower() in P.IMAGE_SUFFIXES
    try:
        if is_image:
            image = video.read_image(path)
            src_h, src_w = image.shape[:2]
            cands = [_image_candidate(char, path, stem, cfg, image)]
        else:
            image, info = None, video.probe(path)
            src_w, src_h = info.width, info.height
            cands = _video_candidates(char, path, stem, cfg, info)
    except (OSError, ValueError, RuntimeError) as exc:
        cand = Candidate(f"{char}-{stem}-000", char, path, "image" if is_image else "video", 0, [], 0, 0, [f"unreadable source: {exc}"])
        return [_record(cand, cfg, "rejected", {}, None, None)]
    picks = sample_picks(cfg)
    out = []
    for cand in cands:
        if cand.reasons:  # rejected before any frame was read
            out.append(_record(cand, cfg, "rejected", {}, None, None))
            continue
        sampled = _frames_at(cand, cfg, image, _score_size(cand, src_w, src_h), picks)
        scores, reasons = _score(sampled, analyzer, refs, cfg)
        cand.reasons.extend(reasons)
        thumb = _save_thumb(run, cand.id, sampled[len(sampled) // 2])
        if reasons:
            out.append(_record(cand, cfg, "rejected", scores, None, thumb))
            continue
        rel = f"clips/{cand.id}.mp4"
        frames = _frames_at(cand, cfg, image, (cand.width, cand.height))
        video.write_mp4(run.path("dataset", rel), frames, fps=cfg.fps)
        out.append(_record(cand, cfg, "accepted", scores, rel, thumb))
    return out


# ---------------------------------------------------------------------------------------
# Coverage
# ---------------------------------------------------------------------------------------


def coverage_report(records: list[dict[str, Any]], params: P.RunParams) -> dict[str, Any]:
    """Counts per character and what is missing, as warnings a person can act on."""
    report: dict[str, Any] = {"characters": {}, "warnings": []}
    for char in params.dataset.characters:
        mine = [r for r in records if r["character"] == char.name]
        acc = [r for r in mine if r["status"] == "accepted"]
        kinds = Counter(r["source_kind"] for r in acc)
        reasons = Counter(_reason_kind(reason) for r in mine if r["status"] == "rejected" for reason in r["reasons"])
        sims = [r["scores"]["identity_similarity"] for r in acc if r["scores"].get("identity_similarity") is not None]
        report["characters"][char.name] = {
            "clips": len(mine), "accepted": len(acc), "rejected": len(mine) - len(acc),
            "accepted_by_kind": dict(kinds), "rejected_by_reason": dict(reasons),
            "accepted_seconds": round(sum(r["num_frames"] / r["fps"] for r in acc), 2),
            "mean_identity_similarity": round(float(np.mean(sims)), 4) if sims else None,
        }
        if not acc:
            report["warnings"].append(f"{char.name}: no accepted clips; training cannot learn this character")
        elif kinds.get("image", 0) > kinds.get("video", 0):
            report["warnings"].append(f"{char.name}: photos dominate ({kinds.get('image', 0)} image clips vs {kinds.get('video', 0)} video clips); LTX learns identity and motion better from video")
    return report


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(" (")[0][:40]


def plot_coverage(records: list[dict[str, Any]], out: Path) -> Path | None:
    """Accepted vs rejected clips per character and source kind, and rejection reasons."""
    if not records:
        return None
    fig, (ax1, ax2) = figures.new_figure(2, (11, 3.8))
    groups = sorted({(r["character"], r["source_kind"]) for r in records})
    labels = [f"{c}\n{k}" for c, k in groups]
    acc = [sum(1 for r in records if (r["character"], r["source_kind"]) == g and r["status"] == "accepted") for g in groups]
    rej = [sum(1 for r in records if (r["character"], r["source_kind"]) == g and r["status"] == "rejected") for g in groups]
    x = np.arange(len(groups))
    ax1.bar(x, acc, color="tab:green", label="accepted")
    ax1.bar(x, rej, bottom=acc, color="tab:red", alpha=0.7, label="rejected")
    ax1.set_xticks(x, labels)
    ax1.set_ylabel("clips")
    ax1.set_title("Clips per character and source kind")
    ax1.legend()
    reasons = Counter(_reason_kind(reason) for r in records if r["status"] == "rejected" for reason in r["reasons"])
    if reasons:
        names, counts = zip(*reasons.most_common(8))
        ax2.barh(range(len(names)), counts, color="tab:red", alpha=0.7)
        ax2.set_yticks(range(len(names)), names)
        ax2.invert_yaxis()
    else:
        ax2.text(0.5, 0.5, "no rejected clips", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_xlabel("clips")
    ax2.set_title("Why clips were rejected")
    return figures.save_figure(fig, out)


def load_manifest(run: Run) -> list[dict[str, Any]]:
    path = run.path(MANIFEST)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run the curate stage first")
    return runs.read_jsonl(path)
