"""Whose face is it: every sampled face against every character's reference photos.

A clip goes to the character whose references its faces match best: the most sampled frames
within the backend's threshold (``curate.identity_threshold`` for dlib's Euclidean distance,
``curate.arcface_threshold`` for ArcFace's cosine distance, to that character's nearest
reference), ties broken by the smaller median distance. Media filed under one character that show another are
thereby moved to the right character instead of being lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltxbench.faces import IdentityScale, identity_scale


@dataclass(frozen=True)
class Match:
    """How one character's references match a clip's faces."""

    character: str
    distances: list[float]  # per usable face, to this character's nearest reference
    matched: list[bool]  # per usable face: distance <= threshold

    @property
    def matches(self) -> int:
        return sum(self.matched)

    @property
    def median_distance(self) -> float | None:
        return float(np.median(self.distances)) if self.distances else None


def match_characters(embeddings: list[np.ndarray], refs: dict[str, np.ndarray], threshold: float,
                     scale: IdentityScale | None = None) -> list[Match]:
    """One :class:`Match` per character, best first (most matched faces, then smallest median distance).

    ``scale``: the distance of the embeddings' backend (default dlib's)."""
    distance = (scale or identity_scale("dlib")).distance
    out = []
    for name, ref in refs.items():
        dists = [distance(e, ref) for e in embeddings]
        out.append(Match(name, dists, [d <= threshold for d in dists]))
    return sorted(out, key=lambda m: (-m.matches, m.median_distance if m.median_distance is not None else np.inf))
