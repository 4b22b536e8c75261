"""Pixels and samples in and out: video (:mod:`.video`), frame geometry and rates (:mod:`.frames`), audio
(:mod:`.audio`) and what a sound track holds (:mod:`.audio_analysis`). Knows nothing of runs or params."""

from __future__ import annotations
