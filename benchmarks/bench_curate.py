"""Where curate's time goes on real footage, as ratios to decoding the same frames.

Baseline (measured in the same run): decoding all 240 frames of tears_of_steel_10s.mp4 with decord.
Compared: shot-cut detection over the whole video, and dlib face analysis at three short sides
(64 and 128 px, typical small training sizes, and 480 px, curate's scoring size), with the faces
found and the identity distance of three photos to obama_1.jpg at each size: the reason curate
scores faces at up to 480 px rather than at the training size.
Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_curate.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ltxbench import faces, video

VIDEO = Path(__file__).resolve().parent.parent / "tests" / "data" / "tears_of_steel_10s.mp4"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    info = video.probe(VIDEO)
    baseline, _ = _timed(lambda: video.read_frames(VIDEO, range(info.num_frames)))
    print(f"baseline: decode {info.num_frames} frames {info.width}x{info.height}: 1.00")
    t_cuts, cuts = _timed(lambda: video.detect_cuts(VIDEO))
    print(f"detect_cuts (found {cuts}): {t_cuts / baseline:.2f}")
    analyzer = faces.FaceAnalyzer()
    analyzer.largest(np.zeros((64, 64, 3), np.uint8))  # load the models outside the timing
    data = VIDEO.parent
    refs = faces.reference_embeddings([data / "obama_1.jpg"], analyzer=analyzer)
    photos = {name: video.read_image(data / name) for name in ("obama_2.jpg", "obama_3.jpg", "biden_1.jpg")}
    for short in (64, 128, 480):
        def analyze():
            out = {}
            for name, img in photos.items():
                h, w = img.shape[:2]
                size = (short, int(round(h * short / w / 2) * 2)) if w < h else (int(round(w * short / h / 2) * 2), short)
                face = analyzer.largest(video.resize_crop(img, *size))
                out[name] = None if face is None else round(faces.identity_distance(face.embedding, refs), 3)
            return out
        t, found = _timed(analyze)
        print(f"face analysis of 3 photos at short side {short:>3} px: {t / baseline:.2f}; distance to obama_1 "
              f"(same person < 0.6, None = no face found): {found}")


if __name__ == "__main__":
    main()
