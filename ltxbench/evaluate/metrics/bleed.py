"""Bleed between characters: a prompt for character A whose face looks like character B.

A multi-character LoRA can mix identities: the trigger of one character pulls in another's
face. For each video generated for a ``target`` character, :func:`bleed_row` scores the track's
identity similarity (dlib, :mod:`.identity`) against *every* character's reference set; the
``margin`` is the target's similarity minus the strongest other character's. A positive margin
means the target wins; near 0 or negative means the identities bleed. :func:`bleed_matrix`
averages rows into a characters x characters matrix (row: prompted character, column: whose
references), whose diagonal should dominate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ltxbench.evaluate.metrics.identity import identity_scores
from ltxbench.faces import Face


def bleed_row(track: Sequence[Face | None], refs_by_character: Mapping[str, np.ndarray], target: str) -> dict[str, Any]:
    """Similarity of one video's faces to each character, and the target's margin.

    Returns ``{"target", "similarity": {character: float}, "margin": float | None}``;
    ``similarity`` is empty and ``margin`` ``None`` when the track has no face, and ``margin``
    is ``None`` with a single character (nobody to bleed into).
    """
    if target not in refs_by_character:
        raise ValueError(f"target character {target!r} has no references; characters: {sorted(refs_by_character)}")
    similarity: dict[str, float] = {}
    for name, refs in refs_by_character.items():
        scores = identity_scores(track, refs)
        if "identity_similarity" in scores:
            similarity[name] = scores["identity_similarity"]
    others = [v for k, v in similarity.items() if k != target]
    margin = similarity[target] - max(others) if similarity and others else None
    return {"target": target, "similarity": similarity, "margin": margin}


def bleed_matrix(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], np.ndarray]:
    """``(characters, matrix)``: ``matrix[i, j]`` is the mean similarity to character ``j``'s
    references of the videos prompted for character ``i`` (NaN where no video of ``i`` had a face).

    Characters are ordered as they first appear in the rows (targets, then reference columns).
    """
    characters: list[str] = []
    for row in rows:
        for name in [row["target"], *row["similarity"]]:
            if name not in characters:
                characters.append(name)
    index = {name: i for i, name in enumerate(characters)}
    sums = np.zeros((len(characters), len(characters)))
    counts = np.zeros_like(sums)
    for row in rows:
        for name, value in row["similarity"].items():
            sums[index[row["target"]], index[name]] += value
            counts[index[row["target"]], index[name]] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return characters, matrix
