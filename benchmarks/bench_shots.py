"""Which shot detector finds cuts better, and at what cost: ``content`` vs ``transnetv2``.

Ground truth (first frame of each new shot, checked by eye on frames around every candidate
either detector reports at any threshold; docs/shots.md):
  tears_of_steel_10s.mp4: 21, 65, 185 (plus a hologram strobe inside a shot at 192-204)
  sintel_10s.mp4: 58, 76, 96, 118, 140, 176, 209 (fast action: whip pans 79-82, a jump into frame at 179)
A found cut matches a true one within +-2 frames (one-to-one). Times are ratios, measured in this
run: to decoding every frame of the same video with decord at full size (the baseline), and
seconds of compute per second of footage. TransNetV2 runs on the CPU; its model is loaded before
timing. The TransNetV2 threshold sweep reuses one set of probabilities (it changes no compute).
Run: ``.venv/bin/python benchmarks/bench_shots.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

from ltxbench.curate import shots
from ltxbench.media import video

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
TRUTH = {
    "tears_of_steel_10s.mp4": [21, 65, 185],
    "sintel_10s.mp4": [58, 76, 96, 118, 140, 176, 209],
}
TOLERANCE = 2
SWEEP = (0.5, 0.3, 0.2, 0.1)


def match(found: list[int], truth: list[int], tolerance: int = TOLERANCE) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``found`` against ``truth``, pairing cuts one-to-one within ``tolerance``."""
    unmatched = list(truth)
    hits = 0
    for f in found:
        near = [t for t in unmatched if abs(t - f) <= tolerance]
        if near:
            unmatched.remove(min(near, key=lambda t: abs(t - f)))
            hits += 1
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    shots._transnet()  # load the network outside the timing
    totals: dict[str, list[float]] = {"content": [], "transnetv2": [], "decode": []}
    pooled: dict[str, tuple[list[int], list[int]]] = {}  # config -> (found, truth), clips offset apart
    footage_s = 0.0
    for clip_no, (name, truth) in enumerate(TRUTH.items()):
        offset = 100_000 * clip_no

        def pool(config: str, found: list[int], truth: list[int] = truth, offset: int = offset) -> None:
            f, t = pooled.setdefault(config, ([], []))
            f.extend(c + offset for c in found)
            t.extend(c + offset for c in truth)

        path = DATA / name
        info = video.probe(path)
        footage_s += info.duration_s
        t_decode, _ = _timed(lambda: video.read_frames(path, range(info.num_frames)))
        t_content, content = _timed(lambda: shots.detect_cuts(path, detector="content"))
        t_transnet, probs = _timed(lambda: shots.transnetv2_probabilities(path))
        totals["decode"].append(t_decode)
        totals["content"].append(t_content)
        totals["transnetv2"].append(t_transnet)
        print(f"\n{name} ({info.num_frames} frames, {info.duration_s:.1f} s); truth {truth}")
        p, r, f = match(content, truth)
        pool("content", content)
        print(f"  content            P {p:.2f} R {r:.2f} F1 {f:.2f}  found {content}")
        for threshold in SWEEP:
            found = shots.cuts_from_probabilities(probs, threshold)
            pool(f"transnetv2 @ {threshold}", found)
            p, r, f = match(found, truth)
            print(f"  transnetv2 @ {threshold:<4}  P {p:.2f} R {r:.2f} F1 {f:.2f}  found {found}")
        print(f"  time / decode-all-frames: content {t_content / t_decode:.2f}, transnetv2 {t_transnet / t_decode:.2f}")
    print(f"\nover both clips ({footage_s:.0f} s of footage):")
    for config, (found, truth) in pooled.items():
        p, r, f = match(found, truth)
        print(f"  {config:<18} P {p:.2f} R {r:.2f} F1 {f:.2f}")
    for key in ("decode", "content", "transnetv2"):
        print(f"  {key:<10} {sum(totals[key]) / footage_s:.3f} s per second of footage")
    print(f"  transnetv2 / content time: {sum(totals['transnetv2']) / sum(totals['content']):.1f}x")


if __name__ == "__main__":
    main()
