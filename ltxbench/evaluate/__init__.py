"""The evaluate stage: fixed prompts and seeds through every checkpoint and the base, scored (notebooks/04_evaluate.ipynb).

Modules: :mod:`.stage` (the stage), :mod:`.sources` (sample folders and names), :mod:`.generate` (videos through the
pipeline), :mod:`.score` (metrics per video), :mod:`.select` (the best checkpoint), :mod:`.stack` (stacked LoRAs),
:mod:`.diagnosis` (what to do next), :mod:`.plots` and :mod:`.metrics` (pure metric functions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltxbench.util.exports import lazy_exports

if TYPE_CHECKING:
    from ltxbench.evaluate.stage import EvaluateResult, evaluate, load_result, score_folder

_WHERE = {
    "evaluate": "ltxbench.evaluate.stage",
    "EvaluateResult": "ltxbench.evaluate.stage",
    "load_result": "ltxbench.evaluate.stage",
    "score_folder": "ltxbench.evaluate.stage",
}
__all__ = ["EvaluateResult", "evaluate", "load_result", "score_folder"]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
