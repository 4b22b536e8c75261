"""Sources into candidate clips: media files found, shots cut, images taken as stills; names and paths of sources.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.dataset.reasons import Reason
from ltxbench.params import schema as P

SCORE_SHORT_SIDE = 480
"""Faces are scored on frames whose short side is up to this many pixels (never above the source),
not at the training size: benchmarks/bench_curate.py measured that at a 128 px short side dlib
misses one of two Obama photos it finds at 480 px, and at 64 px also the Biden photo, so scoring at
a small training resolution would reject good clips for the wrong reason."""


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


# ---------------------------------------------------------------------------------------
# Names and paths
# ---------------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "media"


def source_text(path: Path | str) -> str:
    """A path as valid UTF-8 text: bytes that are not UTF-8 become ``\\xNN`` escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def json_safe_text(message: str) -> str:
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
    from ltxbench.curate import shots

    if cfg.shot_detector == "content":
        return shots.detect_cuts(path, detector="content", threshold=cfg.cut_threshold)
    return shots.detect_cuts(path, detector=cfg.shot_detector)


def _too_small(w: int, h: int, cfg: P.CurateSection) -> Reason:
    return Reason("low_resolution", f"source is {w}x{h}: short side {min(w, h)} px < curate.resolution "
                                    f"{cfg.resolution}; never upscaled")


def video_candidates(char: str, path: Path, stem: str, cfg: P.CurateSection, info: Any) -> list[Candidate]:
    from ltxbench.curate import shots as curate_shots
    from ltxbench.media import frames

    facts = {"source_fps": info.fps, "source_num_frames": info.num_frames, "source_info": info}
    size = frames.bucket_size(info.width, info.height, cfg.resolution)
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
    shots = curate_shots.shots_from_cuts(detect_cuts(path, cfg), info.num_frames)
    out: list[Candidate] = []
    for shot_start, shot_end in shots:
        # Clips laid end to end by the frames' times (a 30 fps source spans more frames than 24 fps;
        # a variable-rate one as many as its timestamps say each clip's seconds hold).
        clips = frames.shot_clips(info, cfg.fps, cfg.clip_frames, shot_start, shot_end)
        if not clips:
            out.append(Candidate(f"{char}-{stem}-{len(out):03d}", char, path, "video", shot_start, [], width, height,
                                 **facts, reasons=[_shot_too_short(info, shot_start, shot_end, cfg)]))
            continue
        for indices in clips:
            out.append(Candidate(f"{char}-{stem}-{len(out):03d}", char, path, "video", indices[0], indices, width,
                                 height, **facts))
    return out


def _shot_too_short(info: Any, shot_start: int, shot_end: int, cfg: P.CurateSection) -> Reason:
    from ltxbench.media import frames

    needs = f"curate.clip_frames {cfg.clip_frames} at curate.fps {cfg.fps} needs"
    if info.frame_times is None:
        span = frames.source_span(info.fps, cfg.fps, cfg.clip_frames)
        return Reason("too_short", f"shot {shot_start}-{shot_end} has {shot_end - shot_start} source frames, fewer "
                                   f"than one clip of {needs} ({span} at {info.fps:g} fps)")
    end_s = info.frame_times[shot_end - 1, 1]
    return Reason("too_short", f"shot {shot_start}-{shot_end} lasts {end_s - info.time_of(shot_start):.3f} s "
                               f"({shot_end - shot_start} source frames at a variable rate), shorter than one clip of "
                               f"{needs} ({cfg.clip_frames / cfg.fps:.3f} s)")


def image_candidate(char: str, path: Path, stem: str, cfg: P.CurateSection, image: np.ndarray) -> Candidate:
    from ltxbench.media import frames

    h, w = image.shape[:2]
    size = frames.bucket_size(w, h, cfg.resolution)
    if size is None:
        return Candidate(f"{char}-{stem}-000", char, path, "image", 0, [], w, h, reasons=[_too_small(w, h, cfg)])
    return Candidate(f"{char}-{stem}-000", char, path, "image", 0, [], size[0], size[1])


def score_size(width: int, height: int, src_w: int, src_h: int) -> tuple[int, int]:
    short = min(width, height)
    scale = max(1.0, min(min(src_w, src_h), SCORE_SHORT_SIDE) / short)
    return int(round(width * scale / 2) * 2), int(round(height * scale / 2) * 2)


def sample_picks(cfg: P.CurateSection) -> list[int]:
    """Clip-frame indices scored for faces: ``cfg.face_samples`` spread evenly across the clip."""
    from ltxbench.media.frames import sample_indices

    return sample_indices(cfg.clip_frames, cfg.face_samples)


def burst_picks(cfg: P.CurateSection) -> list[int]:
    """``cfg.expression_frames`` consecutive clip-frame indices around the clip's middle (mouth motion)."""
    k = min(cfg.expression_frames, cfg.clip_frames)
    first = max(0, cfg.clip_frames // 2 - k // 2)
    return list(range(first, first + k))
