"""What curate's clip scoring costs on real footage, as a ratio to decoding the video once.

Baseline (measured in the same run): decoding all 240 frames of tears_of_steel_10s.mp4 with decord.
Compared: the whole curate pass over that video (shot detection, then for every clip the
``curate.face_samples`` sampled frames and the ``curate.expression_frames`` burst decoded, faces
detected, embedded and landmarked, and every score of ltxbench.curate.scores), with 49-frame clips and
the other curate defaults. The target is at most 3x the decode-only pass.
Two passes in the same run: ``curate.workers: 1`` (serial) and ``0`` (auto: two processes on a
2-core machine); their records are compared.
Run: ``.venv/bin/python benchmarks/bench_clipscore.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ltxbench import faces
from ltxbench.curate import stage
from ltxbench.media import video
from ltxbench.params import schema
from ltxbench.util import parallel

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
VIDEO = DATA / "tears_of_steel_10s.mp4"


class _Run:
    """Just enough of a run for thumbnails: a scratch folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)


def main() -> None:
    import tempfile

    cfg = schema.CurateSection(clip_frames=49, resolution=256)
    analyzer = faces.FaceAnalyzer(shape68=True)
    refs = {"obama": faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer=analyzer)}
    analyzer.largest(np.zeros((64, 64, 3), np.uint8))  # models loaded outside the timing
    info = video.probe(VIDEO)
    t0 = time.perf_counter()
    video.read_frames(VIDEO, range(info.num_frames))
    baseline = time.perf_counter() - t0
    print(f"baseline: decode {info.num_frames} frames {info.width}x{info.height}: 1.00 ({baseline:.2f} s)")
    serial_records = None
    for workers in (1, 0):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            records = stage._curate_source(_Run(Path(tmp)), "obama", VIDEO, "tos", cfg, analyzer, refs, workers=workers)
            spent = time.perf_counter() - t0
        scored = sum(1 for r in records if r["scores"])
        same = "" if serial_records is None else f"; records identical to serial: {records == serial_records}"
        serial_records = serial_records or records
        print(f"curate pass, curate.workers {workers} ({parallel.resolve_workers(workers)} process(es); {len(records)} "
              f"clips, {scored} scored, {cfg.face_samples} samples + {cfg.expression_frames}-frame burst each): "
              f"{spent / baseline:.2f}{same}")

if __name__ == "__main__":
    main()
