"""The tiny *pretrained* LTX-2.3 base (``model.source: tiny-pretrained``).

A miniature of LTX-2.3 (the same diffusers classes and layout as the real model, widths cut) whose
VAE and transformer were trained on this machine by :mod:`ltxbench.model.tiny_base.pretrain` on
licence-clean footage and photos, so that it draws faces of generic people and a character LoRA
trained on top of it has something to learn. It is a demonstration and a test bed, not a useful
generator: 128 x 128 pixels, 9 frames, three other people in its training data. The random-weight
``tiny`` pipeline stays the default of the fast unit tests.

The weights live in ``weights/`` as a diffusers-format folder (float16) with ``provenance.json``:
the script, its parameters, the data and their licences, the seed, the commit and the hashes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SOURCE = "tiny-pretrained"
"""The ``model.source`` value that names this base."""

WEIGHTS = Path(__file__).resolve().parent / "weights"


def folder() -> Path:
    """The diffusers-format folder of the pretrained tiny base."""
    return WEIGHTS


@lru_cache(maxsize=1)
def provenance() -> dict[str, Any]:
    """``weights/provenance.json``: how the weights were made. ``{}`` when the folder is absent
    (a checkout whose weights were never built)."""
    try:
        return json.loads((WEIGHTS / "provenance.json").read_text())
    except (OSError, ValueError):
        return {}


def build_id() -> str:
    """Identity of the weights for caches: the SHA-256 of the weight files, as recorded."""
    return "tiny-pretrained-" + str(provenance().get("weights_sha256", "absent"))[:16]
