"""Near-duplicate keys and background signatures.

* **dup_key**: a 64-bit perceptual hash of the clip's mean sampled frame, as 16 hex digits:
  imagehash's ``phash`` (the grey frame shrunk to 32x32, its 2-D DCT, the 8x8 lowest frequencies
  compared with their median). Re-encoding, resizing, small crops and a slow pan barely change
  those bits; another shot or another photo changes about a third to a half. Two keys whose
  Hamming distance is at most ``curate.duplicate_distance`` are near-duplicates.
  ``benchmarks/bench_libraries.py`` measured it against the hand-written DCT hash it replaced
  (docs/libraries.md): the same separation on the test footage (duplicates <= 16 bits apart,
  different shots >= 18), two more duplicates caught at the default distance 6.
* **background_key**: the frame with the face box blanked, averaged into a 4x4 grid of colours,
  each channel quantised to 16 levels: 48 hex digits. Equal or close keys mean the same setting;
  coverage counts distinct keys for background variety.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

HASH_SIZE = 8
GRID = 4
LEVELS = 16


def dct_hash(frames: np.ndarray) -> str:
    """Hex perceptual hash (16 digits) of the mean of ``[N,H,W,3]`` (or ``[H,W,3]``) uint8 RGB frames."""
    import imagehash  # imported on first use: it imports scipy.fftpack and PyWavelets
    from PIL import Image

    arr = np.asarray(frames, dtype=np.float32)
    mean = arr.mean(axis=0) if arr.ndim == 4 else arr
    image = Image.fromarray(np.clip(np.rint(mean), 0, 255).astype(np.uint8))
    return str(imagehash.phash(image, hash_size=HASH_SIZE))


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
