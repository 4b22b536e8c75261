"""Near-duplicate keys and background signatures.

* **dup_key**: a 64-bit perceptual hash (DCT hash) of the clip's mean sampled frame, as 16 hex
  digits. The grey mean frame is shrunk to 32x32, its 2-D DCT taken, and the 8x8 lowest
  frequencies but the DC term (the mean, which says nothing about layout) compared with their
  median: 63 bits, stored after a leading 0 bit. Re-encoding, resizing, small crops and a slow pan barely change those bits;
  another shot or another photo changes about half. Two keys whose Hamming distance is at most
  ``curate.duplicate_distance`` are near-duplicates.
* **background_key**: the frame with the face box blanked, averaged into a 4x4 grid of colours,
  each channel quantised to 16 levels: 48 hex digits. Equal or close keys mean the same setting;
  coverage counts distinct keys for background variety.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

HASH_SIZE = 8
_DCT_SIZE = 32
GRID = 4
LEVELS = 16


def dct_hash(frames: np.ndarray) -> str:
    """Hex DCT hash (16 digits) of the mean of ``[N,H,W,3]`` (or ``[H,W,3]``) uint8 RGB frames."""
    arr = np.asarray(frames, dtype=np.float32)
    mean = arr.mean(axis=0) if arr.ndim == 4 else arr
    grey = cv2.cvtColor(mean, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (_DCT_SIZE, _DCT_SIZE), interpolation=cv2.INTER_AREA)
    ac = cv2.dct(small)[:HASH_SIZE, :HASH_SIZE].ravel()[1:]
    bits = ac > np.median(ac)
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    """Differing bits of two equal-length hex keys."""
    if len(a) != len(b):
        raise ValueError(f"keys of different length: {a!r} and {b!r}")
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def group_heads(keys: Sequence[str | None], max_distance: int) -> list[int | None]:
    """For each key, the index of its group's first key (greedy, in order): a key joins the first
    earlier group head within ``max_distance`` bits, or starts a group. ``None`` keys get ``None``."""
    heads: list[int] = []
    out: list[int | None] = []
    for i, key in enumerate(keys):
        if key is None:
            out.append(None)
            continue
        match = next((h for h in heads if hamming(keys[h], key) <= max_distance), None)  # type: ignore[arg-type]
        if match is None:
            heads.append(i)
            match = i
        out.append(match)
    return out


def background_key(frame: np.ndarray, box_px: tuple[int, int, int, int] | None) -> str:
    """48-hex-digit colour layout of an RGB frame with the face box ``(x0, y0, x1, y1)`` left out."""
    img = np.asarray(frame, dtype=np.float32)
    h, w = img.shape[:2]
    keep = np.ones((h, w), dtype=bool)
    if box_px is not None:
        x0, y0, x1, y1 = box_px
        keep[max(0, y0):y1, max(0, x0):x1] = False
    fallback = img[keep].mean(axis=0) if keep.any() else img.reshape(-1, 3).mean(axis=0)
    digits = []
    for gy in range(GRID):
        for gx in range(GRID):
            ys, xs = slice(gy * h // GRID, (gy + 1) * h // GRID), slice(gx * w // GRID, (gx + 1) * w // GRID)
            cell, mask = img[ys, xs], keep[ys, xs]
            colour = cell[mask].mean(axis=0) if mask.any() else fallback  # a cell all face: the scene's mean
            digits.extend(f"{min(LEVELS - 1, int(c * LEVELS / 256.0)):x}" for c in colour)
    return "".join(digits)
