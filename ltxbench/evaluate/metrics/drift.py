"""Identity drift within one clip: does the face stay the same person from start to end?

Measured on the clip's own faces, independent of the references, so a face that morphs when
the head turns (or a clip that cuts to somebody else) is a number even when every frame still
resembles the character a little.

The *medoid* is the face embedding of the track with the smallest summed dlib distance to all
the others: the clip's most typical face, and a real face (a mean embedding is not). Then

* ``identity_drift``: mean dlib distance of every face in the track to the medoid (the medoid
  itself counts as 0). One steady person: ~0.05-0.2; below 0.6 the faces are the same person
  by dlib's threshold; a clip split between two people: ~0.4 (half the faces at ~0.85).
* ``drift_q1`` .. ``drift_q4``: the same mean over the faces of each quarter of the track (the
  sampled frames split into four consecutive groups as equal as possible); ``None`` for a
  quarter without a face. A face that morphs late in the clip shows a rising q3/q4.

Needs at least two faces: with fewer there is nothing to compare and the result is ``{}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ltxbench.faces import Face

QUARTERS = 4


def medoid_index(embeddings: np.ndarray) -> int:
    """Row of ``embeddings`` ``[N,D]`` with the smallest summed Euclidean distance to the others."""
    e = np.asarray(embeddings, dtype=np.float64)
    dist = np.linalg.norm(e[:, None, :] - e[None, :, :], axis=-1)
    return int(dist.sum(axis=1).argmin())


def drift_scores(track: Sequence[Face | None]) -> dict[str, Any]:
    """``identity_drift`` and ``drift_q1..drift_q4`` of a face track (see the module docstring)."""
    positions = [i for i, f in enumerate(track) if f is not None]
    if len(positions) < 2:
        return {}
    emb = np.stack([track[i].embedding for i in positions]).astype(np.float64)  # type: ignore[union-attr]
    medoid = emb[medoid_index(emb)]
    to_medoid = dict(zip(positions, np.linalg.norm(emb - medoid, axis=1).tolist()))
    out: dict[str, Any] = {"identity_drift": float(np.mean(list(to_medoid.values())))}
    for q, chunk in enumerate(np.array_split(np.arange(len(track)), QUARTERS), start=1):
        values = [to_medoid[i] for i in chunk.tolist() if i in to_medoid]
        out[f"drift_q{q}"] = float(np.mean(values)) if values else None
    return out
