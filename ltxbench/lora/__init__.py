"""LoRA files: target presets, the saved format and its provenance (:mod:`.files`), and the compatibility checker (:mod:`.check`)."""

from __future__ import annotations
