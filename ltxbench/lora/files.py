"""LoRA files: target presets, the saved format and its provenance.

Saved format (loads in ComfyUI and in diffusers' LTX-2 loader):

* keys ``diffusion_model.<module path>.lora_A.weight`` / ``.lora_B.weight`` in the original LTX
  module naming (diffusers' loader maps them back to its own names);
* alpha folded into ``lora_B`` (``B * alpha / rank``), so loaders that ignore alpha (diffusers
  0.42.1 never reads it) apply the trained strength; no ``.alpha`` keys, which that loader rejects;
* safetensors metadata with provenance: ltxbench version, base model version and source, rank,
  alpha, targets, triggers, step, stage, dataset and params hashes; an IC-LoRA (``train.reference``)
  also ``reference_conditioned: "true"``, ``reference_downscale_factor`` and ``reference_source``
  (diffusers' in-context pipeline never reads them: :func:`reference_settings` does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltxbench.run import atomic

PREFIX = "diffusion_model."

# peft ``target_modules`` as one regex (peft full-matches a string against every module name).
_ATTN_PROJ = r"(to_q|to_k|to_v|to_out\.0)"
TARGET_PRESETS: dict[str, str] = {
    # the keys and values of video<-text cross-attention alone (Custom Diffusion's choice, Kumari et
    # al. 2023): the LoRA can change only what the prompt's words contribute, so a prompt without
    # the trigger is changed least
    "text_cross_attention": r"^transformer_blocks\.\d+\.attn2\.(to_k|to_v)$",
    # video self-attention and video<-text cross-attention
    "video_attention": rf"^transformer_blocks\.\d+\.(attn1|attn2)\.{_ATTN_PROJ}$",
    # plus audio self/cross attention and the audio<->video cross attention
    "all_attention": rf"^transformer_blocks\.\d+\.(attn1|attn2|audio_attn1|audio_attn2|audio_to_video_attn|video_to_audio_attn)\.{_ATTN_PROJ}$",
    # plus the video and audio feed-forward layers
    "all_attention_ff": (rf"^transformer_blocks\.\d+\.((attn1|attn2|audio_attn1|audio_attn2|audio_to_video_attn|video_to_audio_attn)\.{_ATTN_PROJ}"
                         r"|(ff|audio_ff)\.net\.(0\.proj|2))$"),
}

def to_original_name(module_path: str) -> str:
    """A diffusers transformer module path in original LTX naming (the inverse of the renames
    diffusers' LTX-2 LoRA loader applies; one table, in :mod:`ltxbench.lora.check.names`)."""
    from ltxbench.lora.check import names

    return names.to_original((names.TRANSFORMER, module_path))


REFERENCE_SOURCES = ("photos", "clip")


@dataclass(frozen=True)
class ReferenceSettings:
    """What an IC-LoRA needs at inference: a reference image, at the video's size / ``downscale_factor``."""

    downscale_factor: int
    """The in-context pipeline's ``reference_downscale_factor`` the LoRA was trained with."""
    source: str
    """What it was trained with as the reference: ``photos`` or ``clip`` (``train.reference.source``)."""

    def to_metadata(self) -> dict[str, str]:
        return {"reference_conditioned": "true", "reference_downscale_factor": str(self.downscale_factor),
                "reference_source": self.source}


@dataclass(frozen=True)
class Provenance:
    base_version: str
    base_source: str
    rank: int
    alpha: float
    targets: str
    triggers: dict[str, str]
    step: int
    stage: str
    dataset_sha256: str
    params_sha256: str
    base_checkpoint: str = ""
    """The official single-file checkpoint whose transformer the LoRA was trained on (``model.checkpoint``), if any."""
    reference: ReferenceSettings | None = None
    """Set for an IC-LoRA: it must be given a reference image at inference."""

    def to_metadata(self) -> dict[str, str]:
        from ltxbench import __version__

        extra = {"base_model_checkpoint": self.base_checkpoint} if self.base_checkpoint else {}
        if self.reference is not None:
            extra.update(self.reference.to_metadata())
        return {
            **extra,
            "format": "ltxbench-lora/1 (comfyui diffusion_model keys, alpha folded)",
            "ltxbench_version": __version__,
            "base_model_version": self.base_version,
            "base_model_source": self.base_source,
            "rank": str(self.rank),
            "alpha": str(self.alpha),
            "alpha_folded": "true",
            "targets": self.targets,
            "triggers": json.dumps(self.triggers, sort_keys=True),
            "step": str(self.step),
            "stage": self.stage,
            "dataset_sha256": self.dataset_sha256,
            "params_sha256": self.params_sha256,
        }


def export_state_dict(peft_state: dict[str, Any], rank: int, alpha: float) -> dict[str, Any]:
    """peft's state dict (``<module>.lora_A.weight``) -> the saved key layout, alpha folded into B."""
    scale = alpha / rank
    out = {}
    for key, tensor in peft_state.items():
        module, _, kind = key.rpartition(".lora_")
        if not module or kind not in ("A.weight", "B.weight"):
            raise ValueError(f"unexpected LoRA key from peft: {key}")
        t = tensor.detach().to("cpu").contiguous()
        if kind == "B.weight":
            t = (t.float() * scale).to(tensor.dtype).contiguous()
        out[f"{PREFIX}{to_original_name(module)}.lora_{kind}"] = t
    return out


def save_lora(path: Path, peft_state: dict[str, Any], provenance: Provenance) -> Path:
    """Write a LoRA checkpoint atomically; returns its path."""
    from safetensors.torch import save_file

    tensors = export_state_dict(peft_state, provenance.rank, provenance.alpha)
    with atomic.atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=provenance.to_metadata())
    return path


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


def reference_settings(path: Path) -> ReferenceSettings | None:
    """The reference an IC-LoRA file needs (its metadata), or None for an ordinary LoRA; ValueError
    when the metadata says reference-conditioned but its factor or source is missing or invalid."""
    meta = read_metadata(path)
    flag = meta.get("reference_conditioned", "false")
    if flag == "false":
        return None
    if flag != "true":
        raise ValueError(f"{path}: reference_conditioned is {flag!r} in its metadata, expected 'true' or 'false'")
    factor, source = meta.get("reference_downscale_factor", ""), meta.get("reference_source", "")
    if not factor.isdigit() or int(factor) < 1:
        raise ValueError(f"{path}: reference-conditioned LoRA with reference_downscale_factor {factor!r} (need an integer >= 1)")
    if source not in REFERENCE_SOURCES:
        raise ValueError(f"{path}: reference-conditioned LoRA with reference_source {source!r} (need one of {', '.join(REFERENCE_SOURCES)})")
    return ReferenceSettings(int(factor), source)


def checkpoint_step(path: Path) -> int:
    """``lora_step_000250.safetensors`` -> 250."""
    stem = Path(path).stem
    try:
        return int(stem.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        raise ValueError(f"{path}: not a checkpoint name of the form lora_step_000250.safetensors") from None


def checkpoint_path(folder: Path, step: int) -> Path:
    """The LoRA checkpoint of ``step`` in ``folder``: ``lora_step_000250.safetensors``."""
    return Path(folder) / f"lora_step_{step:06d}.safetensors"


def list_checkpoints(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("lora_step_*.safetensors"), key=checkpoint_step)
