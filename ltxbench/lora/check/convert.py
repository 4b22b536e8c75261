"""Convert any recognised LoRA layout into one that diffusers' LTX-2 loader takes whole.

Output keys: ``transformer.<diffusers module>.lora_A.weight`` / ``.lora_B.weight`` (and
``connectors.<...>`` for text-connector targets), with the strength folded into ``lora_B``
(``B * scale``). That is the one layout diffusers 0.42.1's ``LTX2Pipeline.load_lora_weights``
loads without renaming, dropping or rejecting anything, and since the loader never reads alpha
(it always uses scale 1), folding is the only way to keep the trained strength.

Scale per module, first that applies:

1. an ``.alpha`` key: ``alpha / rank`` (kohya, musubi, ComfyUI-trained files);
2. diffusers' own ``lora_adapter_metadata`` (``lora_alpha`` / ``alpha_pattern`` / ``use_rslora``);
3. ltxbench provenance with ``alpha_folded: true``: 1 (already folded);
4. otherwise 1: no alpha anywhere means alpha = rank, as peft and diffusers assume.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ltxbench.lora.check import names
from ltxbench.lora.check.formats import Pair, ParsedKeys
from ltxbench.model.architecture import KNOWN_VERSIONS, version_table

if TYPE_CHECKING:
    import torch

    from ltxbench.model.architecture import BaseModel

log = logging.getLogger("ltxbench")


@functools.lru_cache(maxsize=1)
def _known_lookup() -> dict[str, names.Target]:
    targets = {t for v in KNOWN_VERSIONS for t in version_table(v)}
    return names.flat_lookup(sorted(targets))


def flat_lookup_for(base: BaseModel | None) -> dict[str, names.Target]:
    """kohya name resolver: every known full-size module, plus the base's own modules."""
    lookup = _known_lookup()
    if base is None:
        return lookup
    return {**names.flat_lookup(sorted(base.linears)), **lookup}


@dataclass(frozen=True)
class Scale:
    value: float
    alpha: float | None
    """The alpha the file states for this module (None when it states none)."""
    source: str
    """``alpha key``, ``diffusers metadata``, ``folded`` or ``none``."""


def _pattern_value(patterns: Mapping[str, Any], module: str, default: Any) -> Any:
    """peft's ``rank_pattern`` / ``alpha_pattern`` lookup: the key matches the end of the path."""
    for key, value in patterns.items():
        expr = key[1:] if key.startswith("^") else rf"(.*\.)?{key}"
        if re.fullmatch(expr, module):
            return value
    return default


def adapter_metadata_problem(metadata: Mapping[str, str]) -> str | None:
    """Why the file's ``lora_adapter_metadata`` cannot be read (None when absent or readable).

    Unreadable metadata means the trained alpha is unknown and the pairs are applied at scale 1;
    the check and the converter say so instead of guessing quietly."""
    raw = metadata.get("lora_adapter_metadata")
    if not raw:
        return None
    try:
        packed = json.loads(raw)
    except ValueError as exc:
        return f"lora_adapter_metadata is not valid JSON ({exc}); alpha unknown, pairs applied at scale 1"
    if not isinstance(packed, dict):
        return f"lora_adapter_metadata is a JSON {type(packed).__name__}, not an object; alpha unknown, pairs applied at scale 1"
    return None


def _diffusers_config(metadata: Mapping[str, str], component: str) -> dict[str, Any] | None:
    raw = metadata.get("lora_adapter_metadata")
    if not raw or adapter_metadata_problem(metadata):
        return None
    packed = json.loads(raw)
    prefix = f"{component}."
    config = {k[len(prefix):]: v for k, v in packed.items() if k.startswith(prefix)}
    return config or None


def pair_scales(parsed: ParsedKeys, tensors: Mapping[str, "torch.Tensor"], metadata: Mapping[str, str]) -> dict[names.Target, Scale]:
    """The strength each pair was trained with (see the module docstring for the order)."""
    folded = metadata.get("alpha_folded", "").lower() == "true"
    stated_alpha = metadata.get("alpha")
    scales: dict[names.Target, Scale] = {}
    for target, pair in parsed.pairs.items():
        rank = pair.rank
        if pair.alpha_key is not None:
            alpha = float(tensors[pair.alpha_key].float().reshape(-1)[0])
            scales[target] = Scale(alpha / rank, alpha, "alpha key")
            continue
        config = _diffusers_config(metadata, target[0])
        if config is not None and "lora_alpha" in config:
            alpha = float(_pattern_value(config.get("alpha_pattern") or {}, target[1], config["lora_alpha"]))
            denominator = math.sqrt(rank) if config.get("use_rslora") else rank
            scales[target] = Scale(alpha / denominator, alpha, "diffusers metadata")
        elif folded:
            scales[target] = Scale(1.0, float(stated_alpha) if stated_alpha else None, "folded")
        else:
            scales[target] = Scale(1.0, None, "none")
    return scales


def base_problem(pair: Pair, base: "BaseModel") -> str | None:
    """Why ``pair`` cannot be applied to ``base`` (None when it can)."""
    shape = base.linears.get(pair.target)
    if shape is None and pair.target in base.unknown:
        return None  # exists, shape not fixed by the version: reported as unchecked, not as a problem
    if shape is None:
        return f"{names.display(pair.target)} does not exist in {base.label}"
    if tuple(shape) != pair.shape:
        return (f"{names.display(pair.target)}: LoRA adapts a [{pair.shape[0]} x {pair.shape[1]}] weight, "
                f"{base.label} has [{shape[0]} x {shape[1]}]")
    return None


def to_diffusers_state(
    parsed: ParsedKeys,
    tensors: Mapping[str, "torch.Tensor"],
    scales: Mapping[names.Target, Scale],
    base: "BaseModel | None" = None,
) -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    """``(state_dict, unmapped)``: every pair in diffusers layout, scale folded into ``lora_B``.

    ``unmapped`` is ``parsed.unmapped`` plus, when ``base`` is given, the keys of pairs whose
    module is missing from the base or has another shape (they would be dropped or make the
    loader raise).
    """
    out: dict[str, "torch.Tensor"] = {}
    unmapped = dict(parsed.unmapped)
    for target, pair in parsed.pairs.items():
        problem = base_problem(pair, base) if base is not None else None
        if problem:
            for key in pair.keys:
                unmapped[key] = problem
            continue
        a, b = pair.factors(tensors)
        scale = scales[target].value
        if scale != 1.0:
            b = (b.float() * scale).to(b.dtype)
        stem = f"{names.display(target)}"
        out[f"{stem}.lora_A.weight"] = a.contiguous()
        out[f"{stem}.lora_B.weight"] = b.contiguous()
    return out, unmapped


def convert_for_diffusers(
    path_or_state: str | Path | Mapping[str, "torch.Tensor"],
    base: Any = None,
    metadata: Mapping[str, str] | None = None,
) -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    """A LoRA file (or state dict) in any recognised layout -> ``(state_dict, unmapped_keys)``.

    ``state_dict`` loads whole through ``LTX2Pipeline.load_lora_weights(state_dict)`` with the
    trained strength; ``unmapped_keys`` maps every key that could not be carried over to the
    reason. ``base`` (a version, path or pipeline, optional) also drops pairs that do not fit
    it. A file must pass the integrity check first (ValueError naming the problem otherwise);
    ``metadata`` supplies safetensors metadata for an in-memory state dict.
    """
    from ltxbench.lora.check.formats import parse_keys
    from ltxbench.lora.check.integrity import check_file, infos_of
    from ltxbench.model.architecture import resolve_base

    if isinstance(path_or_state, (str, Path)):
        integrity, tensors = check_file(path_or_state)  # read lazily: each tensor once, into the result
        if not integrity.ok:
            raise ValueError("; ".join(integrity.problems))
        metadata = dict(integrity.metadata) if metadata is None else dict(metadata)
        infos = integrity.tensors  # the header's shapes: no tensor is read to learn them
    else:
        tensors = dict(path_or_state)
        metadata = dict(metadata or {})
        infos = infos_of(tensors)
    base_model = resolve_base(base)
    parsed = parse_keys(infos, flat_lookup_for(base_model))
    problem = adapter_metadata_problem(metadata)
    if problem:
        log.warning("%s", problem)
    state, unmapped = to_diffusers_state(parsed, tensors, pair_scales(parsed, tensors, metadata), base_model)
    if unmapped:
        log.warning("%d LoRA keys cannot be converted for diffusers, e.g. %s: %s", len(unmapped),
                    *next(iter(unmapped.items())))
    return state, unmapped
