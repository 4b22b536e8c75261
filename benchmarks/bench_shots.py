"""Which shot detector finds hard cuts better, and at what cost: ours (``content``), PySceneDetect
(``ContentDetector``, ``AdaptiveDetector``) and TransNetV2.

Two kinds of footage:

* **Real clips** (tests/data), ground truth = first frame of each new shot, checked by eye on
  frames around every candidate any detector reports (docs/shots.md):
    tears_of_steel_10s.mp4: 21, 65, 185 (plus a hologram strobe inside a shot at 192-204)
    sintel_10s.mp4: 58, 76, 96, 118, 140, 176, 209 (whip pans 79-82, a jump into frame at 179)
  Our detector's rules were designed while looking at these two clips: for it they are not
  held out.
* **Held-out splices**, built at run time in a temporary directory (nothing is kept): segments
  of 12-40 frames (seeded random lengths and positions) cut from *inside* the true shots of
  both clips, both at 640x360, concatenated and written as H.264 mp4 at 24 fps with PyAV. Every
  splice point is then a hard cut at a known frame and nothing else is. Consecutive segments
  never come from the same shot; about half of the splices join two segments of the same clip
  (similar palettes, the hard case), the rest join Tears of Steel and Sintel. Each video
  deliberately contains the three hard negatives as whole segments: the hologram strobe
  (Tears of Steel 192-204), the whip pans (Sintel 79-82) and the jump into frame (Sintel 179).
  The pictures come from the same two clips; only the cut positions and pairings are new
  (there is no third real video with cuts on this machine).

A found cut matches a true one within +-2 frames (one-to-one, nearest first). PySceneDetect runs
as the official LTX trainer would run it: ``open_video`` (default backend OpenCV; PyAV as well
for the defaults) and a ``SceneManager`` with its default auto-downscale (frames shrunk to about
256 px wide before detection). Its detector defaults are ContentDetector(threshold=27,
min_scene_len=15) and AdaptiveDetector(adaptive_threshold=3, min_scene_len=15). The threshold
sweeps below (PySceneDetect's and TransNetV2's) are tuning on the test set: the best row of a
sweep is an optimistic figure.

Times are ratios, measured in this run: to decoding every frame of the same video with decord
at full size (the baseline), and seconds of compute per second of footage. TransNetV2 runs on the
CPU; its model is loaded before timing. The TransNetV2 threshold sweep reuses one set of
probabilities (it changes no compute); each PySceneDetect sweep value is a full run (timed only
at the defaults).
Run: ``.venv/bin/python benchmarks/bench_shots.py``.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np
from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video

from ltxbench.curate import shots
from ltxbench.media import video

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
TOS, SINTEL = "tears_of_steel_10s.mp4", "sintel_10s.mp4"
TRUTH = {
    TOS: [21, 65, 185],
    SINTEL: [58, 76, 96, 118, 140, 176, 209],
}
TOLERANCE = 2
SWEEP = (0.5, 0.3, 0.2, 0.1)  # TransNetV2 thresholds (0.5 is the authors')
CONTENT_SWEEP = (18.0, 22.0, 27.0, 32.0)  # PySceneDetect ContentDetector threshold (27 = default)
ADAPTIVE_SWEEP = (2.0, 2.5, 3.0, 4.0)  # AdaptiveDetector adaptive_threshold (3 = default)

# held-out splices
SIZE = (640, 360)  # (w, h) both clips are brought to
FPS = 24
SEG_LEN = (12, 40)  # frames per segment, inclusive
SEGMENTS = 20  # per spliced video
SEEDS = (1, 2)  # one spliced video per seed
# (clip, allowed first frames, last frame the segment must reach, frames of the hard negative)
HARD_NEGATIVES = [
    (TOS, (185, 188), 206, (192, 204)),  # hologram strobe
    (SINTEL, (76, 78), 84, (79, 82)),  # whip pans with heavy motion blur
    (SINTEL, (176, 177), 183, (179, 180)),  # a character jumps into an empty snowy frame
]


def _pair(found: list[int], truth: list[int], tolerance: int = TOLERANCE) -> tuple[int, set[int]]:
    """Greedy one-to-one pairing: how many of ``found`` hit a true cut, and which true cuts were hit."""
    unmatched = list(truth)
    hit_truth: set[int] = set()
    hits = 0
    for f in found:
        near = [t for t in unmatched if abs(t - f) <= tolerance]
        if near:
            t = min(near, key=lambda t: abs(t - f))
            unmatched.remove(t)
            hit_truth.add(t)
            hits += 1
    return hits, hit_truth


def match(found: list[int], truth: list[int], tolerance: int = TOLERANCE) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``found`` against ``truth``, pairing cuts one-to-one within ``tolerance``."""
    hits, _ = _pair(found, truth, tolerance)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(truth) if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# ---------------------------------------------------------------------------------------
# detectors
# ---------------------------------------------------------------------------------------

def pyscenedetect_cuts(path: Path, make_detector: Callable[[], object], backend: str = "opencv") -> list[int]:
    """First frames of new scenes as PySceneDetect reports them (``SceneManager`` defaults)."""
    stream = open_video(str(path), backend=backend)
    manager = SceneManager()  # auto_downscale on: about 256 px wide
    manager.add_detector(make_detector())
    manager.detect_scenes(stream)
    return [start.frame_num for start, _end in manager.get_scene_list()[1:]]


def _psd_configs() -> list[tuple[str, Callable[[], object], str, bool]]:
    """(label, detector factory, backend, timed) for every PySceneDetect run."""
    configs: list[tuple[str, Callable[[], object], str, bool]] = [
        ("psd-content default (cv2)", ContentDetector, "opencv", True),
        ("psd-content default (pyav)", ContentDetector, "pyav", True),
        ("psd-adaptive default (cv2)", AdaptiveDetector, "opencv", True),
        ("psd-adaptive default (pyav)", AdaptiveDetector, "pyav", True),
    ]
    for t in CONTENT_SWEEP:
        if t != 27.0:
            configs.append((f"psd-content @ {t:g}", lambda t=t: ContentDetector(threshold=t), "opencv", False))
    for t in ADAPTIVE_SWEEP:
        if t != 3.0:
            configs.append((f"psd-adaptive @ {t:g}", lambda t=t: AdaptiveDetector(adaptive_threshold=t),
                            "opencv", False))
    return configs


# ---------------------------------------------------------------------------------------
# held-out spliced videos
# ---------------------------------------------------------------------------------------

def _true_shots() -> dict[str, list[tuple[int, int]]]:
    return {name: shots.shots_from_cuts(cuts, video.probe(DATA / name).num_frames) for name, cuts in TRUTH.items()}


def _plan(seed: int, true_shots: dict[str, list[tuple[int, int]]]) -> list[tuple[str, int, int, int]]:
    """Segments ``(clip, shot index, first frame, length)`` of one spliced video."""
    rng = random.Random(seed)
    forced_at = dict(zip(rng.sample(range(SEGMENTS), len(HARD_NEGATIVES)), HARD_NEGATIVES))

    def shot_of(clip: str, frame: int) -> int:
        return next(k for k, (a, b) in enumerate(true_shots[clip]) if a <= frame < b)

    def forced(spec) -> tuple[str, int, int, int]:
        clip, (lo, hi), reach, _ = spec
        start = rng.randint(lo, hi)
        k = shot_of(clip, start)
        end = true_shots[clip][k][1]
        length = rng.randint(max(SEG_LEN[0], reach + 1 - start), min(SEG_LEN[1], end - start))
        return clip, k, start, length

    plan: list[tuple[str, int, int, int]] = []
    for i in range(SEGMENTS):
        if i in forced_at:
            plan.append(forced(forced_at[i]))
            continue
        prev = plan[-1] if plan else None
        nxt = forced_at.get(i + 1)
        avoid = set()
        if prev:
            avoid.add(prev[:2])
        if nxt:
            avoid.add((nxt[0], shot_of(nxt[0], nxt[1][0])))
        if prev and rng.random() < 0.5:
            clip = prev[0]  # same clip as the previous segment: a similar palette
        else:
            clip = rng.choice([c for c in TRUTH if not prev or c != prev[0]])
        options = [k for k, (a, b) in enumerate(true_shots[clip]) if b - a >= SEG_LEN[0] and (clip, k) not in avoid]
        k = rng.choice(options)
        a, b = true_shots[clip][k]
        length = rng.randint(SEG_LEN[0], min(SEG_LEN[1], b - a))
        plan.append((clip, k, rng.randint(a, b - length), length))
    return plan


def build_spliced(out_dir: Path) -> list[dict]:
    """Write one spliced video per seed; return, for each, its path, truth and annotations."""
    true_shots = _true_shots()
    source = {}
    for name in TRUTH:
        frames = video.read_frames(DATA / name, range(video.probe(DATA / name).num_frames))
        if frames.shape[2:0:-1] != SIZE:
            frames = np.stack([cv2.resize(f, SIZE, interpolation=cv2.INTER_AREA) for f in frames])
        source[name] = frames
    built = []
    for seed in SEEDS:
        plan = _plan(seed, true_shots)
        path = out_dir / f"spliced_seed{seed}.mp4"
        truth: list[int] = []
        same_clip: list[int] = []
        negatives: list[tuple[int, int]] = []  # output frame ranges of the hard negatives
        pos = 0
        with av.open(str(path), "w") as container:
            stream = container.add_stream("libx264", rate=FPS)
            stream.width, stream.height = SIZE
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "18", "preset": "veryfast"}
            for i, (clip, _k, start, length) in enumerate(plan):
                if i > 0:
                    truth.append(pos)
                    if clip == plan[i - 1][0]:
                        same_clip.append(pos)
                for _name, (lo, _hi), _reach, (n0, n1) in (h for h in HARD_NEGATIVES if h[0] == clip):
                    if start <= n0 and n1 < start + length:
                        negatives.append((pos + n0 - start, pos + n1 - start))
                for f in source[clip][start:start + length]:
                    for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                        container.mux(packet)
                pos += length
            for packet in stream.encode():
                container.mux(packet)
        n = video.probe(path).num_frames
        assert n == pos, f"{path.name}: wrote {pos} frames, decord reads {n}"
        assert len(negatives) >= len(HARD_NEGATIVES), negatives
        built.append({"path": path, "truth": truth, "same_clip": same_clip, "negatives": negatives,
                      "plan": plan, "frames": pos})
    return built


def _false_on_negatives(found: list[int], truth: list[int], negatives: list[tuple[int, int]]) -> int:
    """Found cuts that match no true cut and lie on a hard negative (within the tolerance)."""
    unmatched_found = list(found)
    pool = list(truth)
    for f in found:
        near = [t for t in pool if abs(t - f) <= TOLERANCE]
        if near:
            pool.remove(min(near, key=lambda t: abs(t - f)))
            unmatched_found.remove(f)
    return sum(any(a - TOLERANCE <= f <= b + TOLERANCE for a, b in negatives) for f in unmatched_found)


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------

def _fmt(prf: tuple[float, float, float]) -> str:
    return "{:.2f} / {:.2f} / {:.2f}".format(*prf)


def main() -> None:
    shots._transnet()  # load the network outside the timing
    psd = _psd_configs()
    order = ["content", *(c[0] for c in psd), *(f"transnetv2 @ {t}" for t in SWEEP)]
    timed_keys = ["decode", "content", *(c[0] for c in psd if c[3]), "transnetv2"]

    # per footage set ("real", "held-out"): config -> pooled (found, truth); timings; seconds
    pooled: dict[str, dict[str, tuple[list[int], list[int]]]] = {"real": {}, "held-out": {}}
    per_video: dict[str, dict[str, tuple[float, float, float]]] = {}  # video -> config -> P/R/F1
    totals: dict[str, dict[str, float]] = {"real": {}, "held-out": {}}
    footage: dict[str, float] = {"real": 0.0, "held-out": 0.0}
    extra: dict[str, dict[str, list[int]]] = {c: {"same": [0, 0], "cross": [0, 0], "neg": [0]} for c in order}

    def evaluate(kind: str, label: str, path: Path, truth: list[int], video_no: int,
                 same_clip: list[int] | None = None, negatives: list[tuple[int, int]] | None = None) -> None:
        info = video.probe(path)
        footage[kind] += info.duration_s
        offset = 100_000 * video_no
        found_by: dict[str, list[int]] = {}
        t: dict[str, float] = {}
        t["decode"], _ = _timed(lambda: video.read_frames(path, range(info.num_frames)))
        t["content"], found_by["content"] = _timed(lambda: shots.detect_cuts(path, detector="content"))
        for name, make, backend, timed in psd:
            dt, found_by[name] = _timed(lambda: pyscenedetect_cuts(path, make, backend))
            if timed:
                t[name] = dt
        t["transnetv2"], probs = _timed(lambda: shots.transnetv2_probabilities(path))
        for threshold in SWEEP:
            found_by[f"transnetv2 @ {threshold}"] = shots.cuts_from_probabilities(probs, threshold)
        for key, dt in t.items():
            totals[kind][key] = totals[kind].get(key, 0.0) + dt
        print(f"\n{label} ({info.num_frames} frames, {info.duration_s:.1f} s); truth {truth}")
        per_video[label] = {}
        for config in order:
            found = found_by[config]
            prf = match(found, truth)
            per_video[label][config] = prf
            f, tr = pooled[kind].setdefault(config, ([], []))
            f.extend(c + offset for c in found)
            tr.extend(c + offset for c in truth)
            if same_clip is not None and negatives is not None:
                _, hit = _pair(found, truth)
                cross = [c for c in truth if c not in same_clip]
                e = extra[config]
                e["same"][0] += sum(c in hit for c in same_clip)
                e["same"][1] += len(same_clip)
                e["cross"][0] += sum(c in hit for c in cross)
                e["cross"][1] += len(cross)
                e["neg"][0] += _false_on_negatives(found, truth, negatives)
            print(f"  {config:<28} P/R/F1 {_fmt(prf)}  found {found}")
        print("  time / decode-all-frames: " + ", ".join(
            f"{k} {v / t['decode']:.2f}" for k, v in t.items() if k != "decode"))

    for clip_no, (name, truth) in enumerate(TRUTH.items()):
        evaluate("real", name, DATA / name, truth, clip_no)

    with tempfile.TemporaryDirectory(prefix="bench_shots_") as tmp:
        built = build_spliced(Path(tmp))
        for no, b in enumerate(built):
            print(f"\nheld-out {b['path'].name}: {len(b['plan'])} segments (clip, shot, first frame, length) "
                  f"{[(('ToS' if c == TOS else 'Sintel'), k, s, n) for c, k, s, n in b['plan']]}")
            print(f"  same-clip splices {b['same_clip']}; hard negatives at {b['negatives']}")
            evaluate("held-out", b["path"].name, b["path"], b["truth"], no, b["same_clip"], b["negatives"])

    n_same = sum(len(b["same_clip"]) for b in built)
    n_cuts = sum(len(b["truth"]) for b in built)
    print("\n\nSUMMARY (P / R / F1; pooled = all cuts of the set together)")
    print(f"held-out: {len(built)} spliced videos, {footage['held-out']:.1f} s, {n_cuts} cuts "
          f"({n_same} same-clip, {n_cuts - n_same} cross-clip), {3 * len(built)} hard-negative segments")
    print("| detector | ToS | Sintel | real pooled | held-out pooled | held-out same-clip R | cross-clip R "
          "| false cuts on hard negatives |")
    print("|---|---|---|---|---|---|---|---|")
    for config in order:
        e = extra[config]
        print(f"| {config} | {_fmt(per_video[TOS][config])} | {_fmt(per_video[SINTEL][config])} "
              f"| {_fmt(match(*pooled['real'][config]))} | {_fmt(match(*pooled['held-out'][config]))} "
              f"| {e['same'][0]}/{e['same'][1]} | {e['cross'][0]}/{e['cross'][1]} | {e['neg'][0]} |")
    print("\nTIME (decode = decord, every frame, full size)")
    print("| what | real: s per s of footage | real: / decode | held-out: s per s | held-out: / decode |")
    print("|---|---|---|---|---|")
    for key in timed_keys:
        r, h = totals["real"][key], totals["held-out"][key]
        print(f"| {key} | {r / footage['real']:.3f} | {r / totals['real']['decode']:.2f} "
              f"| {h / footage['held-out']:.3f} | {h / totals['held-out']['decode']:.2f} |")
    print(f"transnetv2 / content time (all footage): "
          f"{(totals['real']['transnetv2'] + totals['held-out']['transnetv2']) / (totals['real']['content'] + totals['held-out']['content']):.1f}x")


if __name__ == "__main__":
    main()
