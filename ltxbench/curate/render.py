"""Rendering clips from their sources (shared by scoring, the stage and manual overrides), and the one head-crop rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.curate.candidates import source_path
from ltxbench.dataset.reasons import UNCUTTABLE
from ltxbench.params import schema as P
from ltxbench.run.folder import Run

_READ_CHUNK = 16
"""Source frames decoded at once when writing a clip: bounds memory on 4K sources (16 x 25 MB)."""


# ---------------------------------------------------------------------------------------
# Rendering clips (shared by scoring, the stage and manual overrides)
# ---------------------------------------------------------------------------------------


def _video_frames(path: Path, indices: list[int], size: tuple[int, int]) -> np.ndarray:
    """Source frames ``indices`` scaled and centre-cropped to ``size`` ``(w, h)``, decoded in chunks."""
    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    out = np.empty((len(indices), size[1], size[0], 3), dtype=np.uint8)
    for i in range(0, len(indices), _READ_CHUNK):
        chunk = video.read_frames(path, indices[i:i + _READ_CHUNK])
        for j, frame in enumerate(chunk):
            out[i + j] = media_frames.resize_crop(frame, *size)
    return out


def _render(record: dict[str, Any], source: Path, size: tuple[int, int], cfg: P.CurateSection) -> np.ndarray:
    """All frames of a full-frame clip at ``size`` ``(w, h)`` (any scale of the record's geometry)."""
    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    if record["source_kind"] == "image":
        image = video.read_image(source)
        return media_frames.image_to_clip(image, size[0], size[1], record["num_frames"], motion=record["camera_motion"],
                                   amount=cfg.image_motion_amount)
    info = video.probe(source)
    if info.num_frames != record["source_num_frames"] or abs(info.fps - record["source_fps"]) > 1e-6:
        raise ValueError(f"{record['id']}: the source changed since curate ({info.num_frames} frames at {info.fps:g} fps, "
                         f"the manifest says {record['source_num_frames']} at {record['source_fps']:g}); re-run curate")
    indices = media_frames.resample_indices(info.num_frames, info.fps, record["fps"], record["start_frame"], record["num_frames"],
                                     info.frame_times)
    return _video_frames(source, indices, size)


def max_scale(record: dict[str, Any], source: Path, size: tuple[int, int], cfg: P.CurateSection) -> float:
    """The largest factor ``size`` may be scaled by without upscaling the source."""
    from ltxbench.media import video

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
    available = max_scale(record, source, (parent_w, parent_h), cfg)
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
    short, too small or changed since curate) and :class:`~ltxbench.media.video.MediaError` /
    ``OSError`` when the source cannot be read.
    """
    from ltxbench.media import audio, video

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


def head_record(parent: dict[str, Any], cfg: P.CurateSection, side: int | None = None) -> tuple[dict[str, Any], float]:
    """The head-crop record of the full clip ``parent`` (``<id>-head``, ``side`` px square, by default
    ``curate.resolution``) and how many source pixels its crop holds on a side. The one head-crop rule:
    curate writes these records' clips, and a ``crop: head`` training stage renders the same record
    for a clip that has none (so both see the same pixels)."""
    side = cfg.resolution if side is None else side
    box = head_crop_box(parent["scores"]["face_box"], parent["width"], parent["height"], cfg.head_crop_scale)
    head = {**parent, "id": f"{parent['id']}-head", "parent": parent["id"], "variant": "head",
            "width": side, "height": side, "media": None, "media_audio": None, "thumb": None,
            "reasons": [], "reason_details": [], "auto_status": "accepted", "status": "accepted",
            "crop": {"box": box, "parent_size": [parent["width"], parent["height"]]},
            "scores": {**parent["scores"], "dup_group": None}}
    available = max_scale(head, source_path(head["source"]), (parent["width"], parent["height"]), cfg)
    return head, (box[3] - box[1]) * parent["height"] * available
