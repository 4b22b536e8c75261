"""How much a LoRA changes each weight: ``ΔW = scale * B @ A``, by Frobenius norm.

``||B A||_F`` is computed from the two ``r x r`` Gram matrices (``sqrt(sum((BᵀB) ∘ (AAᵀ)))``),
so a 4096 x 4096 module costs a rank-sized product, never the full ΔW.

Relative size: ``||ΔW|| / ||W||`` with the base's own weight when its tensors are available
(a folder, checkpoint or in-memory model). Without weights (``--base 2.3``, or no base) it is
*estimated* against ``sqrt(out_features)``, the norm of a weight whose entries have RMS
``1/sqrt(in_features)`` (the scale of initialised and of trained transformer projections);
estimated values are labelled as such.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from ltxbench.lora.check import names
from ltxbench.lora.check.convert import Scale
from ltxbench.lora.check.formats import Pair

if TYPE_CHECKING:
    import torch

    from ltxbench.model.architecture import BaseModel

INERT_RELATIVE = 1e-6
"""Below this relative change a module does nothing measurable (bf16 resolution is ~4e-3)."""
OUTSIZED_RELATIVE = 0.5
"""At or above this the LoRA rewrites the weight rather than adapting it: a diverged run, a
wrong alpha (e.g. alpha applied twice) or a full fine-tune difference."""


@dataclass
class ModuleEffect:
    target: names.Target
    group: str
    rank: int
    alpha: float | None
    scale: float
    scale_source: str
    delta_norm: float
    base_norm: float | None
    relative: float
    estimated: bool
    """True when ``relative`` is against the ``sqrt(out)`` reference, not the real weight."""

    @property
    def inert(self) -> bool:
        return not self.relative >= INERT_RELATIVE  # NaN counts as inert, not as fine

    @property
    def outsized(self) -> bool:
        return self.relative >= OUTSIZED_RELATIVE


def delta_norm(a: "torch.Tensor", b: "torch.Tensor", scale: float) -> float:
    """``||scale * B @ A||_F`` without forming ``B @ A``."""
    a64, b64 = a.detach().double(), b.detach().double()
    gram = (b64.T @ b64) * (a64 @ a64.T)
    return abs(scale) * math.sqrt(max(float(gram.sum()), 0.0))


def measure(
    pairs: Mapping[names.Target, Pair],
    tensors: Mapping[str, "torch.Tensor"],
    scales: Mapping[names.Target, Scale],
    base: "BaseModel | None",
) -> list[ModuleEffect]:
    effects = []
    for target, pair in sorted(pairs.items()):
        scale = scales[target]
        norm = delta_norm(*pair.factors(tensors), scale.value)
        weight = base.weight(target) if base is not None else None
        base_norm = None
        if weight is not None and tuple(weight.shape) == pair.shape:
            base_norm = float(weight.detach().double().norm())
        reference = base_norm if base_norm else math.sqrt(pair.shape[0])
        effects.append(ModuleEffect(target, names.group_of(target), pair.rank, scale.alpha, scale.value, scale.source,
                                    norm, base_norm, norm / reference, base_norm is None))
    return effects


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def summarize(effects: list[ModuleEffect]) -> dict[str, dict[str, Any]]:
    """Per group: module count, ranks, alphas / scales, median and max ΔW norm and relative."""
    out: dict[str, dict[str, object]] = {}
    for group in names.GROUP_TITLES:
        members = [e for e in effects if e.group == group]
        if not members:
            continue
        alphas = sorted({e.alpha for e in members if e.alpha is not None})
        out[group] = {
            "modules": len(members),
            "ranks": sorted({e.rank for e in members}),
            "alphas": alphas,
            "scales": sorted({round(e.scale, 6) for e in members}),
            "scale_sources": sorted({e.scale_source for e in members}),
            "delta_norm_median": statistics.median(e.delta_norm for e in members),
            "delta_norm_max": max(e.delta_norm for e in members),
            "relative_median": statistics.median(e.relative for e in members),
            "relative_max": max(e.relative for e in members),
            "relative_estimated": any(e.estimated for e in members),
            "inert": sum(e.inert for e in members),
            "outsized": sum(e.outsized for e in members),
        }
    return out


def scale_text(effects: list[ModuleEffect]) -> str:
    """One phrase for how the strength was determined (for the human report)."""
    words = {"alpha key": "alpha/rank from the .alpha keys", "diffusers metadata": "alpha/rank from diffusers metadata",
             "folded": "alpha already folded into lora_B (scale 1)", "none": "no alpha anywhere: scale 1 (alpha = rank)"}
    text = "; ".join(words[s] for s in sorted({e.scale_source for e in effects}))
    computed = sorted({round(e.scale, 4) for e in effects if e.scale_source in ("alpha key", "diffusers metadata")})
    return text + (f" = {', '.join(_fmt(s) for s in computed)}" if computed else "")
