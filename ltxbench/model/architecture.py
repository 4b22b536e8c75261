"""What a LoRA is compared against: the linear layers of a base model, by name and shape.

A :class:`BaseModel` comes from

* a version (``2.0`` / ``2.3`` / ``2.5``): the full-size diffusers configs below, instantiated on
  the ``meta`` device (every real module name and shape, no memory, about a second);
* a path: a diffusers folder (``transformer/`` and ``connectors/`` safetensors headers, tensors
  read only for the relative ΔW norms) or a single ``.safetensors`` checkpoint (original LTX
  naming ``model.diffusion_model.*`` is normalised);
* an in-memory ``LTX2Pipeline`` or ``LTX2VideoTransformer3DModel`` (train and evaluate have one).

The full-size configs are diffusers' conversion presets for the released checkpoints; the
version flags come from :data:`ltxbench.model.versions.VERSIONS` so the two tables cannot drift apart.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ltxbench.lora.check import names
from ltxbench.lora.check.integrity import SafetensorsFormatError, read_header
from ltxbench.model import versions

if TYPE_CHECKING:
    import torch

log = logging.getLogger("ltxbench")

# Released transformer sizes shared by every LTX-2 version (diffusers conversion presets).
_TRANSFORMER_COMMON: dict[str, Any] = {
    "in_channels": 128, "out_channels": 128, "patch_size": 1, "patch_size_t": 1,
    "num_attention_heads": 32, "attention_head_dim": 128, "cross_attention_dim": 4096,
    "audio_in_channels": 128, "audio_out_channels": 128, "audio_patch_size": 1, "audio_patch_size_t": 1,
    "audio_num_attention_heads": 32, "audio_attention_head_dim": 64, "audio_cross_attention_dim": 2048,
    "num_layers": 48, "caption_channels": 3840, "attention_bias": True, "attention_out_bias": True,
    "rope_type": "split",
}
# What differs beyond ltx.VERSIONS[v].transformer_flags.
_TRANSFORMER_EXTRA: dict[str, dict[str, Any]] = {
    "2.0": {"perturbed_attn": False},
    "2.3": {"perturbed_attn": True},
    # 2.5 = 2.3 plus its two deltas, which its version flags carry (bias-free video FF, keyframe embedding).
    "2.5": {"perturbed_attn": True},
}
_CONNECTORS_COMMON: dict[str, Any] = {
    "caption_channels": 3840, "text_proj_in_factor": 49, "video_connector_num_learnable_registers": 128,
    "audio_connector_num_learnable_registers": 128, "rope_type": "split",
}
_CONNECTORS: dict[str, dict[str, Any]] = {
    # 2.0: both connectors run at the Gemma width (30 x 128 = 3840).
    "2.0": {"video_connector_num_attention_heads": 30, "video_connector_attention_head_dim": 128,
            "video_connector_num_layers": 2, "audio_connector_num_attention_heads": 30,
            "audio_connector_attention_head_dim": 128, "audio_connector_num_layers": 2, "proj_bias": False},
    # 2.3: per-modality widths 4096 / 2048, 8 gated layers each.
    "2.3": {"video_connector_num_attention_heads": 32, "video_connector_attention_head_dim": 128,
            "video_connector_num_layers": 8, "audio_connector_num_attention_heads": 32,
            "audio_connector_attention_head_dim": 64, "audio_connector_num_layers": 8,
            "video_hidden_dim": 4096, "audio_hidden_dim": 2048, "proj_bias": True},
}
_CONNECTORS["2.5"] = _CONNECTORS["2.3"]  # same blocks; only the projections' input width differs
# Modules whose shape a version does not fix: 2.5's text projections read Gemma-4 hidden states,
# whose width depends on the encoder checkpoint.
UNKNOWN_SHAPES: dict[str, frozenset[tuple[str, str]]] = {
    "2.5": frozenset({("connectors", "video_text_proj_in"), ("connectors", "audio_text_proj_in")}),
}


def transformer_config(version: str) -> dict[str, Any]:
    """Full-size ``LTX2VideoTransformer3DModel`` config of a released version."""
    spec = versions.version_spec(version, loadable=False)
    return {**_TRANSFORMER_COMMON, **spec.transformer_flags, **_TRANSFORMER_EXTRA[version]}


def connectors_config(version: str) -> dict[str, Any]:
    """Full-size ``LTX2TextConnectors`` config (2.5: its projection widths are placeholders, see
    :data:`UNKNOWN_SHAPES`)."""
    flags = {**versions.VERSIONS["2.3"].connector_flags, **versions.VERSIONS[version].connector_flags}
    return {**_CONNECTORS_COMMON, **flags, **_CONNECTORS[version]}


def _linears(module: Any, component: str, layers: dict[names.Target, Any] | None = None) -> dict[names.Target, tuple[int, ...]]:
    """Weight shape of every linear layer, keyed by target; peft-wrapped layers count once.
    ``layers``, when given, receives the layer objects under the same keys."""
    import torch

    found: dict[names.Target, tuple[int, ...]] = {}
    for name, sub in module.named_modules():
        if not isinstance(sub, torch.nn.Linear):
            continue
        parts = name.split(".")
        if any(p in ("lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B") for p in parts):
            continue  # an adapter's own layers, not the model's
        if parts[-1] == "base_layer":  # a layer peft has wrapped: report it under its real name
            name = ".".join(parts[:-1])
        found[(component, name)] = tuple(sub.weight.shape)
        if layers is not None:
            layers[(component, name)] = sub
    return found


@functools.lru_cache(maxsize=None)
def version_table(version: str) -> dict[names.Target, tuple[int, ...]]:
    """Every linear layer of the full-size ``version`` (transformer and, where known, connectors)."""
    import torch
    from diffusers import LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    with torch.device("meta"):
        table = _linears(LTX2VideoTransformer3DModel(**transformer_config(version)), names.TRANSFORMER)
        table.update(_linears(LTX2TextConnectors(**connectors_config(version)), names.CONNECTORS))
    for target in UNKNOWN_SHAPES.get(version, ()):
        table.pop(target, None)
    return table


KNOWN_VERSIONS: tuple[str, ...] = tuple(versions.VERSIONS)


@dataclass
class BaseModel:
    """The model a LoRA is checked against."""

    label: str
    kind: str
    """``architecture`` (full-size config, no weights), ``diffusers-folder``, ``checkpoint`` or ``in-memory``."""
    version: str | None
    version_evidence: list[str]
    linears: dict[names.Target, tuple[int, ...]]
    unknown: frozenset[names.Target] = frozenset()
    """Modules the base has but whose shape is not known (they cannot be checked)."""
    _weight: Callable[[names.Target], "torch.Tensor | None"] | None = field(default=None, repr=False)

    @property
    def has_weights(self) -> bool:
        return self._weight is not None

    def weight(self, target: names.Target) -> "torch.Tensor | None":
        return self._weight(target) if self._weight is not None else None


def from_version(version: str) -> BaseModel:
    versions.version_spec(version, loadable=False)  # ValueError naming the known versions
    note = "full-size diffusers config, instantiated on the meta device"
    unknown = UNKNOWN_SHAPES.get(version, frozenset())
    if unknown:
        note += "; text projection input widths unknown (they follow the Gemma-4 encoder)"
    return BaseModel(f"LTX-{version} architecture", "architecture", version, [f"--base {version}: {note}"],
                     version_table(version), unknown)


def from_module(obj: Any, label: str = "in-memory model") -> BaseModel:
    """An ``LTX2Pipeline`` (transformer + connectors) or a bare ``LTX2VideoTransformer3DModel``."""
    parts = {names.TRANSFORMER: getattr(obj, "transformer", None), names.CONNECTORS: getattr(obj, "connectors", None)}
    if parts[names.TRANSFORMER] is None:
        parts = {names.TRANSFORMER: obj, names.CONNECTORS: None}
    linears: dict[names.Target, tuple[int, ...]] = {}
    modules: dict[names.Target, Any] = {}
    for component, model in parts.items():
        if model is None:
            continue
        linears.update(_linears(model, component, modules))
    transformer = parts[names.TRANSFORMER]
    assert transformer is not None  # set above
    version = versions.detect_version(transformer.config)
    evidence = [f"transformer config flags -> {version or 'unrecognised'}"]
    evidence += _evidence_25(list(transformer.state_dict().keys()))

    def weight(target: names.Target) -> "torch.Tensor | None":
        module = modules.get(target)
        return None if module is None else module.weight.detach()

    return BaseModel(label, "in-memory", version, evidence, linears, _weight=weight)


class _HeaderWeights:
    """Lazily reads single tensors from safetensors files (for relative ΔW norms).

    One memory-mapped handle per file is kept: a sharded 22B checkpoint would otherwise have its
    header parsed again for every adapted module.
    """

    def __init__(self) -> None:
        self.where: dict[names.Target, tuple[Path, str]] = {}
        self._handles: dict[Path, Any] = {}

    def add(self, path: Path, key: str, target: names.Target) -> None:
        self.where.setdefault(target, (path, key))

    def __call__(self, target: names.Target) -> "torch.Tensor | None":
        from safetensors import safe_open

        if target not in self.where:
            return None
        path, key = self.where[target]
        if path not in self._handles:
            self._handles[path] = safe_open(str(path), framework="pt")
        return self._handles[path].get_tensor(key)


def _checkpoint_target(key: str) -> names.Target | None:
    """A single-file checkpoint key -> the target of its ``.weight``; None for other components."""
    if not key.endswith(".weight"):
        return None
    name = key[: -len(".weight")]
    for prefix in ("model.diffusion_model.", "diffusion_model.", "transformer."):
        if name.startswith(prefix):
            return names.to_diffusers(name[len(prefix):])
    if name.startswith("connectors."):
        return names.CONNECTORS, names.to_diffusers(name[len("connectors."):])[1]
    if name.split(".", 1)[0] in ("vae", "audio_vae", "vocoder", "text_encoder", "text_encoders", "cond_stage_model"):
        return None
    return names.to_diffusers(name)


def _key_version(keys: Any) -> tuple[str | None, list[str]]:
    """Version from state-dict key names, with the evidence that tells 2.5 from 2.3."""
    keys = list(keys)
    found = versions.detect_version_from_keys(keys)
    evidence = [f"module names -> {found or 'not decidable'} (versions.detect_version_from_keys)"]
    return found, evidence + _evidence_25(keys)


def _evidence_25(keys: list[str]) -> list[str]:
    """What in the key names says 2.5 or not: the video feed-forward's biases and the keyframe embedding."""
    out = []
    bias = versions.has_video_ff_bias(keys)
    if bias is not None:
        out.append("video feed-forward " + ("has biases (2.0/2.3)" if bias else "is bias-free (2.5)"))
    if any("keyframes_abs_pos_embedding" in k for k in keys):
        out.append("keyframes_abs_pos_embedding present (2.5)")
    return out


def from_path(path: str | Path) -> BaseModel:
    """A diffusers folder (pipeline or bare transformer) or a single ``.safetensors`` checkpoint.

    Raises FileNotFoundError / ValueError (naming the path and what is expected) when it is neither.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"--base {path}: no such file or folder")
    weights = _HeaderWeights()
    linears: dict[names.Target, tuple[int, ...]] = {}
    if path.is_file():
        infos, _, _ = read_header(path)
        for key, info in infos.items():
            target = _checkpoint_target(key)
            if target is not None and len(info.shape) == 2:
                linears[target] = info.shape
                weights.add(path, key, target)
        if not linears:
            raise ValueError(f"--base {path}: holds no 2-D weights of an LTX-2 transformer")
        version, evidence = _key_version(infos)
        return BaseModel(str(path), "checkpoint", version, evidence, linears, _weight=weights)

    folders = {names.TRANSFORMER: path / "transformer", names.CONNECTORS: path / "connectors"}
    if not folders[names.TRANSFORMER].is_dir() and (path / "config.json").is_file():
        folders = {names.TRANSFORMER: path}  # a bare transformer folder
    if not (folders[names.TRANSFORMER] / "config.json").is_file():
        raise ValueError(f"--base {path}: not a diffusers LTX-2 folder (expected transformer/config.json, or "
                         "config.json of a transformer), nor a .safetensors file")
    for component, folder in folders.items():
        files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        if component == names.TRANSFORMER and not files:
            raise ValueError(f"--base {path}: {folder} has no .safetensors weights (pickled .bin weights are "
                             "never opened here)")
        for file in files:
            try:
                infos, _, _ = read_header(file)
            except SafetensorsFormatError as exc:
                raise ValueError(f"--base {path}: {exc}") from None
            for key, info in infos.items():
                if key.endswith(".weight") and len(info.shape) == 2:
                    target = (component, key[: -len(".weight")])
                    linears[target] = info.shape
                    weights.add(file, key, target)
    config = json.loads((folders[names.TRANSFORMER] / "config.json").read_text())
    version = versions.detect_version(config)
    evidence = [f"transformer/config.json flags -> {version or 'unrecognised'}"]
    if version is None:
        version, more = _key_version(module for _, module in linears)
        evidence += more
    return BaseModel(str(path), "diffusers-folder", version, evidence, linears, _weight=weights)


def resolve_base(base: Any) -> BaseModel | None:
    """``None`` | a version string | a path | a pipeline / transformer -> :class:`BaseModel`."""
    if base is None or isinstance(base, BaseModel):
        return base
    if isinstance(base, str) and base in versions.VERSIONS:
        return from_version(base)
    if isinstance(base, (str, Path)):
        return from_path(base)
    if hasattr(base, "named_modules") or hasattr(base, "transformer"):
        return from_module(base)
    raise TypeError(f"base must be a version ({', '.join(versions.VERSIONS)}), a path or a pipeline, not {type(base).__name__}")
