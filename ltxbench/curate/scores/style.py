"""Photoreal footage or stylised animation, from two cues of the frames; no model.

A character LoRA trained on live action and animation at once learns a blend of both looks (the
training guides' most common way to break a combined character + style LoRA), so curate counts
the two apart and names a mix as a coverage gap. Rendered and drawn animation has large surfaces
of smooth colour with no sensor noise; camera footage has texture and grain almost everywhere.
Both cues are read on the grey frame resized so its short side is :data:`WORK_SIDE` (so they do
not depend on the source's resolution):

* ``flat_share``: share of pixels whose Sobel gradient magnitude is below :data:`FLAT_GRADIENT`
  (0-255 grey levels);
* ``flat_noise``: mean absolute difference to the 3x3 median-filtered frame over those flat
  pixels: the grain left on smooth surfaces.

A clip is ``stylised`` when its median ``flat_share`` is at least ``curate.style_flat_min`` **and**
its median ``flat_noise`` at most ``curate.style_noise_max``; both are needed because a studio
portrait's plain backdrop is flat too (tests/data/biden_1.jpg: flat 0.44) but keeps its grain
(0.52). Measured on 60 evenly spaced frames of each bundled excerpt (``python -m
ltxbench.curate.scores.style tests/data/*.mp4 tests/data/*.jpg``; tests/test_clipscore.py checks the
verdicts): live action (tears_of_steel_10s) flat 0.07-0.20, noise 0.28-0.68; animation (sintel_10s) flat
0.46-0.76, noise 0.09-0.17; the four portrait photos flat 0.16-0.44, noise 0.52-0.96. Limits: only
one animated film was measured; heavily compressed live footage loses its grain, and a
photoreal CG render or a textured painterly style can read either way. It is a coverage cue, never
a reason to reject a clip.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Style = Literal["photoreal", "stylised"]
WORK_SIDE = 256
FLAT_GRADIENT = 8.0


def style_cues(frame_rgb: np.ndarray) -> tuple[float, float | None]:
    """``(flat_share, flat_noise)`` of one ``[H,W,3]`` uint8 RGB frame; ``flat_noise`` is None when
    no pixel is flat."""
    import cv2

    h, w = frame_rgb.shape[:2]
    scale = WORK_SIDE / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    g = grey.astype(np.float32)
    magnitude = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    flat = magnitude < FLAT_GRADIENT
    if not flat.any():
        return 0.0, None
    residual = np.abs(g - cv2.medianBlur(grey, 3).astype(np.float32))
    return float(flat.mean()), float(residual[flat].mean())


def clip_style_cues(frames: np.ndarray) -> tuple[float, float | None]:
    """Median ``(flat_share, flat_noise)`` over ``[N,H,W,3]`` frames."""
    cues = [style_cues(f) for f in frames]
    noise = [n for _, n in cues if n is not None]
    return float(np.median([s for s, _ in cues])), float(np.median(noise)) if noise else None


def style_of(flat_share: float, flat_noise: float | None, flat_min: float, noise_max: float) -> Style:
    """``stylised`` when the frames are mostly smooth and those smooth parts carry no grain."""
    clean = flat_noise is None or flat_noise <= noise_max
    return "stylised" if flat_share >= flat_min and clean else "photoreal"


def main(argv: list[str] | None = None) -> int:
    """``python -m ltxbench.curate.scores.style FILE...``: per video (60 evenly spaced frames) or photo,
    the range of both cues and the verdict at the default thresholds, the measurement quoted above."""
    import argparse
    from pathlib import Path

    from ltxbench.media import frames as media_frames
    from ltxbench.media import video
    from ltxbench.params import schema as P

    parser = argparse.ArgumentParser(prog="python -m ltxbench.curate.scores.style", description=main.__doc__)
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--frames", type=int, default=60, help="frames sampled per video")
    args = parser.parse_args(argv)
    cfg = P.CurateSection()
    print(f"{'file':<28}{'flat_share':>18}{'flat_noise':>18}  style (flat >= {cfg.style_flat_min}, noise <= {cfg.style_noise_max})")
    for path in args.files:
        if path.suffix.lower() in P.IMAGE_SUFFIXES:
            frames = video.read_image(path)[None]
        else:
            frames = video.read_frames(path, media_frames.sample_indices(video.probe(path).num_frames, args.frames))
        cues = [style_cues(f) for f in frames]
        flats = [c[0] for c in cues]
        noises = [c[1] for c in cues if c[1] is not None]
        share, noise = clip_style_cues(frames)
        verdict = style_of(share, noise, cfg.style_flat_min, cfg.style_noise_max)
        noise_range = f"{min(noises):.2f}-{max(noises):.2f}" if noises else "-"
        print(f"{path.name:<28}{f'{min(flats):.2f}-{max(flats):.2f}':>18}{noise_range:>18}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
