"""Which LoRA key conventions a file uses, and which module each key adapts.

A key is ``<prefix><module path><suffix>``. The prefix names the format family:

==========================  =====================================================  =============
prefix                      who writes it                                          format
==========================  =====================================================  =============
``transformer.``            diffusers ``save_lora_weights`` (diffusers names)      diffusers
``connectors.``             diffusers (text connectors)                            diffusers
``diffusion_model.``        ComfyUI, LTX-2 trainer, ltxbench (original names)      comfyui
``model.diffusion_model.``  full-checkpoint extractions (original names)           comfyui-checkpoint
``text_embedding_projection.``  LTX-2 trainer (connector input projection)         ltx-connector
``lora_unet_``              kohya / musubi-tuner (dots flattened to ``_``)         kohya
``lycoris_``                LyCORIS                                                lycoris
``base_model.model.``       ``PeftModel.save_pretrained``                          peft-model
``lora_te*_`` / ``text_encoder.``  text-encoder LoRAs (no LTX-2 loader takes them) text-encoder
none                        ``get_peft_model_state_dict`` (bare module paths)      peft
==========================  =====================================================  =============

The suffix names the weight: ``lora_A``/``lora_B`` (peft), ``lora_down``/``lora_up`` and
``alpha`` (kohya), or an adapter type that is not a low-rank pair (DoRA, LoHa, LoKr, full
diffs) and therefore cannot be loaded as a LoRA without changing its effect.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from ltxbench.lora.check import names
from ltxbench.lora.check.integrity import TensorInfo

if TYPE_CHECKING:
    import torch

# (prefix, format, naming): naming "dotted" = a module path follows; "flat" = kohya flattened.
_PREFIXES: tuple[tuple[str, str, str], ...] = (
    ("base_model.model.", "peft-model", "dotted"),
    ("model.diffusion_model.", "comfyui-checkpoint", "dotted"),
    ("diffusion_model.", "comfyui", "dotted"),
    ("transformer.", "diffusers", "diffusers"),
    ("connectors.", "diffusers", "diffusers-connectors"),
    ("text_embedding_projection.", "ltx-connector", "keep"),
    ("lora_unet_", "kohya", "flat"),
    ("lycoris_", "lycoris", "flat"),
    ("lora_te", "text-encoder", "none"),
    ("text_encoder.", "text-encoder", "none"),
    ("text_encoder_2.", "text-encoder", "none"),
)

# suffix -> role; roles A / B / alpha are a LoRA pair, anything else is reported as unmappable.
_SUFFIXES: tuple[tuple[str, str, str], ...] = (
    (".lora_A.weight", "A", "lora_A/lora_B"),
    (".lora_B.weight", "B", "lora_A/lora_B"),
    (".lora_down.weight", "A", "lora_down/lora_up"),
    (".lora_up.weight", "B", "lora_down/lora_up"),
    (".lora.down.weight", "A", "lora.down/lora.up"),
    (".lora.up.weight", "B", "lora.down/lora.up"),
    (".alpha", "alpha", "alpha"),
)
_PEFT_NAMED = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])\.(?P<adapter>[^.]+)\.weight$")
# Last path components of adapter types that are not a low-rank pair (checked in order).
_UNSUPPORTED: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), why) for p, why in (
    (r"\.dora_scale$", "DoRA magnitude (dora_scale): diffusers drops it, which changes the adapter's effect"),
    (r"\.lora_magnitude_vector(\.[^.]+)?$", "DoRA magnitude vector: not a low-rank pair"),
    (r"\.lora_B(\.[^.]+)?\.bias$", "LoRA bias (peft lora_bias=True): not loadable as a plain LoRA"),
    (r"\.lora_mid\.weight$", "LoCon/Tucker middle factor: not a low-rank pair"),
    (r"\.hada_[^.]+$", "LoHa (Hadamard) factor: not a low-rank pair"),
    (r"\.lokr_[^.]+$", "LoKr (Kronecker) factor: not a low-rank pair"),
    (r"\.diff(_b)?$", "full weight/bias difference: not a LoRA"),
    (r"\.(bias|weight)$", "a plain weight or bias (full fine-tune tensor), not a LoRA factor"),
))


@dataclass
class Pair:
    """One adapted module: the keys of its down (A) and up (B) factors and optional alpha."""

    target: names.Target
    a_key: str | None = None
    b_key: str | None = None
    alpha_key: str | None = None
    a_shape: tuple[int, ...] = ()
    b_shape: tuple[int, ...] = ()

    @property
    def rank(self) -> int:
        return self.a_shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        """The ``(out_features, in_features)`` of the weight this pair adapts."""
        return self.b_shape[0], self.a_shape[1]

    def factors(self, tensors: Mapping[str, "torch.Tensor"]) -> tuple["torch.Tensor", "torch.Tensor"]:
        """``(A, B)``: the down ``[rank, in]`` and up ``[out, rank]`` factors of a complete pair."""
        if self.a_key is None or self.b_key is None:
            raise ValueError(f"{names.display(self.target)}: incomplete LoRA pair")
        return tensors[self.a_key], tensors[self.b_key]

    @property
    def keys(self) -> list[str]:
        return [k for k in (self.a_key, self.b_key, self.alpha_key) if k]


@dataclass
class ParsedKeys:
    pairs: dict[names.Target, Pair] = field(default_factory=dict)
    unmapped: dict[str, str] = field(default_factory=dict)
    """Key -> why it cannot be mapped to a LoRA pair of an LTX-2 module."""
    formats: Counter = field(default_factory=Counter)
    """Format family -> number of keys (see the module docstring)."""
    styles: Counter = field(default_factory=Counter)
    """Suffix convention -> number of keys."""
    key_format: dict[str, str] = field(default_factory=dict)


def _split_prefix(key: str) -> tuple[str, str, str]:
    for prefix, fmt, naming in _PREFIXES:
        if key.startswith(prefix):
            return fmt, naming, key[len(prefix):]
    return "peft", "dotted", key


def _split_suffix(rest: str) -> tuple[str, str, str] | tuple[None, str, str]:
    """``(module, role, style)``; role None with style = reason for unsupported suffixes."""
    for suffix, role, style in _SUFFIXES:
        if rest.endswith(suffix):
            return rest[: -len(suffix)], role, style
    named = _PEFT_NAMED.match(rest)
    if named:
        return named["module"], named["ab"], f"lora_A/lora_B (adapter {named['adapter']!r})"
    for marker, reason in _UNSUPPORTED:
        if marker.search(rest):
            return None, reason, "unsupported"
    return None, "no known LoRA suffix (.lora_A/.lora_B/.lora_down/.lora_up/.alpha)", "unknown"


def _resolve(naming: str, module: str, flat: Mapping[str, names.Target]) -> names.Target | None:
    if naming == "flat":
        return flat.get(module)
    if naming == "diffusers":
        return names.TRANSFORMER, module
    if naming == "diffusers-connectors":
        return names.CONNECTORS, module
    if naming == "keep":
        return names.to_diffusers(f"text_embedding_projection.{module}")
    return names.to_diffusers(module)


def parse_keys(infos: Mapping[str, TensorInfo], flat: Mapping[str, names.Target]) -> ParsedKeys:
    """Classify every key and group the loadable ones into :class:`Pair` objects.

    ``flat`` resolves kohya names (:func:`names.flat_lookup` over the known architectures).
    Nothing is dropped silently: every key ends up in a pair or in ``unmapped`` with a reason.
    """
    parsed = ParsedKeys()
    for key, info in infos.items():
        fmt, naming, rest = _split_prefix(key)
        parsed.formats[fmt] += 1
        parsed.key_format[key] = fmt
        module, role, style = _split_suffix(rest)
        parsed.styles[style] += 1
        if module is None:
            parsed.unmapped[key] = role
            continue
        if naming == "none":
            parsed.unmapped[key] = "text-encoder LoRA key: LTX-2 loaders adapt only the transformer and connectors"
            continue
        target = _resolve(naming, module, flat)
        if target is None:
            parsed.unmapped[key] = f"kohya name {module!r} matches no module of any known LTX-2 version"
            continue
        pair = parsed.pairs.setdefault(target, Pair(target))
        slot = {"A": "a_key", "B": "b_key", "alpha": "alpha_key"}[role]
        if getattr(pair, slot) is not None:
            parsed.unmapped[key] = f"duplicate: {getattr(pair, slot)} already adapts {names.display(target)}"
            continue
        setattr(pair, slot, key)
        if role == "A":
            pair.a_shape = info.shape
        elif role == "B":
            pair.b_shape = info.shape
    _validate_pairs(parsed, infos)
    return parsed


def _validate_pairs(parsed: ParsedKeys, infos: Mapping[str, TensorInfo]) -> None:
    """Move incomplete or inconsistent pairs to ``unmapped``."""
    for target, pair in list(parsed.pairs.items()):
        why = None
        if pair.a_key is None or pair.b_key is None:
            missing = "down/lora_A" if pair.a_key is None else "up/lora_B"
            why = f"incomplete pair for {names.display(target)}: no {missing} factor"
        elif len(pair.a_shape) != 2 or len(pair.b_shape) != 2:
            why = (f"{names.display(target)}: factors are {list(pair.a_shape)} and {list(pair.b_shape)}, not 2-D "
                   "(a convolution LoRA; LTX-2 adapts linear layers only)")
        elif pair.a_shape[0] != pair.b_shape[1]:
            why = (f"{names.display(target)}: rank of down ({pair.a_shape[0]}) and up ({pair.b_shape[1]}) factors differ")
        elif pair.alpha_key is not None and infos[pair.alpha_key].numel != 1:
            why = f"{names.display(target)}: alpha {pair.alpha_key} is not a scalar"
        if why:
            for key in pair.keys:
                parsed.unmapped[key] = why
            del parsed.pairs[target]
