"""What diffusers 0.42.1's ``LTX2Pipeline.load_lora_weights`` would do with the file *as is*.

A prediction from key names (and the base's shapes), following the loader's code path
(``LTX2LoraLoaderMixin.lora_state_dict`` -> ``load_lora_adapter``). Each rule was measured on
the tiny pipeline with diffusers 0.42.1:

1. ``dora_scale`` keys are filtered out with a warning.
2. When any key starts with ``diffusion_model.``, only those keys (and
   ``text_embedding_projection.``) are converted; every other key is dropped **silently**.
   Connector blocks under ``diffusion_model.`` land on the transformer, where no such module
   exists, and are dropped while the rest loads.
3. A remaining key without ``lora`` in its name (``diffusion_model.x.alpha``) raises
   ``ValueError: Invalid LoRA checkpoint``.
4. Only ``transformer.`` / ``connectors.`` keys reach the model; all others are ignored, with
   only a "No LoRA keys associated to ..." warning when nothing is left (``model.diffusion_model.``,
   kohya ``lora_unet_``, bare peft keys).
5. ``lora_down`` / ``lora_up`` names reaching the model raise ``IndexError``.
6. A module the base lacks is dropped with an "unexpected keys" warning; a shape mismatch
   raises ``RuntimeError: size mismatch``.
7. Alpha is never read: a loaded pair applies ``B @ A`` at scale 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from ltxbench.lora.check import names
from ltxbench.lora.check.formats import ParsedKeys

if TYPE_CHECKING:
    from ltxbench.lora.check.convert import Scale
    from ltxbench.model.architecture import BaseModel


@dataclass
class LoaderOutcome:
    raises: str | None = None
    """The exception the loader would raise (nothing is loaded then), or None."""
    loaded_pairs: int = 0
    dropped: dict[str, str] = field(default_factory=dict)
    """Key -> how the loader loses it."""
    strength_lost: list[str] = field(default_factory=list)
    """Modules that would load at scale 1 although the file states another strength."""

    @property
    def clean(self) -> bool:
        return self.raises is None and not self.dropped and not self.strength_lost

    @property
    def format_trap(self) -> bool:
        """True when the loss comes from the file's layout (which conversion fixes), not from a
        module missing from, or shaped differently in, the base (which nothing fixes)."""
        if self.raises is not None:
            return not self.raises.startswith("RuntimeError (size mismatch")
        base_only = all(why.startswith("'unexpected keys'") for why in self.dropped.values())
        return bool(self.strength_lost) or not base_only

    def summary(self) -> str:
        if self.raises:
            return f"raises {self.raises}; nothing is loaded"
        parts = [f"loads {self.loaded_pairs} modules"]
        if self.dropped:
            parts.append(f"drops {len(self.dropped)} keys")
        if self.strength_lost:
            parts.append(f"ignores the alpha of {len(self.strength_lost)} modules (applies scale 1)")
        return ", ".join(parts)


def predict(
    keys: list[str],
    parsed: ParsedKeys,
    scales: Mapping[names.Target, "Scale"],
    base: "BaseModel | None",
) -> LoaderOutcome:
    """Follow the loader's rules (module docstring) over ``keys``."""
    out = LoaderOutcome()
    live = [k for k in keys if "dora_scale" not in k]
    for k in keys:
        if "dora_scale" in k:
            out.dropped[k] = "filtered out with a DoRA warning"
    if any(k.startswith("diffusion_model.") for k in live):
        kept = [k for k in live if k.startswith(("diffusion_model.", "text_embedding_projection."))]
        for k in live:
            if k not in kept:
                out.dropped[k] = "dropped silently: it lacks 'diffusion_model.' while other keys have it"
        live = kept
    bad = [k for k in live if "lora" not in k]
    if bad:
        out.raises = f"ValueError (Invalid LoRA checkpoint), because of keys such as {bad[0]!r}"
        return out
    reaching = [k for k in live if k.startswith(("diffusion_model.", "text_embedding_projection.", "transformer.", "connectors."))]
    for k in live:
        if k not in reaching:
            out.dropped[k] = "ignored: no 'transformer.'/'diffusion_model.' prefix (only a 'No LoRA keys' warning)"
    if any(".lora_down." in k or ".lora_up." in k or ".lora.down." in k or ".lora.up." in k for k in reaching):
        out.raises = "IndexError (lora_down/lora_up names are not converted for LTX-2)"
        return out
    where = {k: target for target, pair in parsed.pairs.items() for k in pair.keys}
    loaded: set[names.Target] = set()
    for k in reaching:
        target = where.get(k)
        if target is None:
            out.dropped.setdefault(k, "not a LoRA pair (see unmapped keys)")
            continue
        if k.startswith("diffusion_model.") and target[0] == names.CONNECTORS and not k.startswith(
                "diffusion_model.text_embedding_projection."):
            out.dropped[k] = "connector block under 'diffusion_model.': put on the transformer, which lacks it"
            continue
        if base is not None and target not in base.unknown:
            shape = base.linears.get(target)
            pair = parsed.pairs[target]
            if shape is None:
                out.dropped[k] = f"'unexpected keys' warning: {names.display(target)} is not in the base"
                continue
            if tuple(shape) != pair.shape:
                out.raises = f"RuntimeError (size mismatch for {names.display(target)})"
                return out
        loaded.add(target)
    out.loaded_pairs = len(loaded)
    for target in sorted(loaded):
        scale = scales.get(target)
        if scale is not None and scale.source == "alpha key" and scale.value != 1.0:
            out.strength_lost.append(names.display(target))
    return out
