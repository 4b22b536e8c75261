"""Helpers every layer may use: atomic file replacement (:mod:`.durable`), figures, notebook display, progress
bars, a process pool, the notebooks' kernel manager, shipped files (:mod:`.bundled`) and lazy re-exports."""

from __future__ import annotations
