"""The LTX-2 version table: each release's facts (configs, flags, the scheduler) and how a loaded model's
version is detected."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Mapping

log = logging.getLogger("ltxbench")

# ---------------------------------------------------------------------------------------
# Version facts
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSpec:
    """What distinguishes one LTX-2 release, as seen through diffusers 0.42.1 configs and keys."""

    version: str
    loadable: bool
    """Whether this package can load and train it (every version in the table today)."""
    hub_id: str | None
    """Default diffusers-format repository on the Hugging Face hub."""
    params_billion: float | None
    """Approximate parameter count of the audio-video transformer."""
    transformer_flags: Mapping[str, Any]
    """``LTX2VideoTransformer3DModel`` config values that identify the version."""
    connector_flags: Mapping[str, Any]
    """``LTX2TextConnectors`` config values that identify the version."""
    transformer_only_keys: tuple[str, ...]
    """Module-name fragments present in this version's transformer state dict and absent in the
    other loadable version (used to tell LoRA files and checkpoints apart)."""
    connector_only_keys: tuple[str, ...]
    vocoder_class: str
    use_cross_timestep: bool
    """Whether the audio<->video cross-attention modulation uses the *other* modality's sigma
    (the transformer's ``use_cross_timestep``). Only matters when audio and video sit at different
    noise levels (training, and video-only training's audio at sigma 1). Lightricks' ltx-core 1.0.0
    always does (``MultiModalTransformerArgsPreprocessor`` reads the cross modality's sigma, for the
    19B 2.0 model as for 2.3), and ``tests/test_single_file.py`` matches its velocities only with
    ``True``: diffusers' legacy default ``False`` is not how either model runs."""
    stg_block: int | None = None
    """Block the diffusers docs recommend for spatio-temporal guidance."""
    connector_registers: int | None = 128
    """Learnable registers of the text connectors: ``max_sequence_length`` must be a multiple
    of it (the tiny pipeline uses :data:`TINY_REGISTERS`)."""
    text_encoder_class: str = "Gemma3ForConditionalGeneration"
    """The transformers class of the text encoder the version was trained with."""
    notes: str = ""


VERSIONS: dict[str, VersionSpec] = {
    "2.0": VersionSpec(
        version="2.0",
        loadable=True,
        hub_id="Lightricks/LTX-2",
        params_billion=19.0,
        transformer_flags={
            "gated_attn": False,
            "cross_attn_mod": False,
            "audio_gated_attn": False,
            "audio_cross_attn_mod": False,
            "use_prompt_embeddings": True,  # caption_projection: 3840 -> 4096 (video), -> 2048 (audio)
        },
        connector_flags={
            "per_modality_projections": False,  # one text_proj_in to caption_channels (3840)
            "video_gated_attn": False,
            "audio_gated_attn": False,
        },
        transformer_only_keys=("caption_projection", "audio_caption_projection"),
        connector_only_keys=("text_proj_in",),
        vocoder_class="LTX2Vocoder",
        use_cross_timestep=True,
        stg_block=29,
        notes="Gemma-3-12B text encoder; connectors output 3840 wide for both modalities, the "
        "transformer projects them with caption_projection / audio_caption_projection.",
    ),
    "2.3": VersionSpec(
        version="2.3",
        loadable=True,
        hub_id="diffusers/LTX-2.3-Diffusers",
        params_billion=22.0,
        transformer_flags={
            "gated_attn": True,  # per-head gates: attn*.to_gate_logits
            "cross_attn_mod": True,  # sigma-modulated text cross-attention: prompt_adaln
            "audio_gated_attn": True,
            "audio_cross_attn_mod": True,
            "use_prompt_embeddings": False,  # no caption_projection: connectors emit 4096 / 2048
            "ff_bias": True,  # what tells 2.3 from 2.5 in a config (diffusers' default)
            "use_keyframes_abs_pos_embedding": False,
        },
        connector_flags={
            "per_modality_projections": True,  # video_text_proj_in -> 4096, audio_text_proj_in -> 2048
            "video_gated_attn": True,
            "audio_gated_attn": True,
        },
        transformer_only_keys=(
            "to_gate_logits",
            "prompt_adaln",
            "audio_prompt_adaln",
            "prompt_scale_shift_table",
            "audio_prompt_scale_shift_table",
        ),
        connector_only_keys=("video_text_proj_in", "audio_text_proj_in"),
        vocoder_class="LTX2VocoderWithBWE",
        use_cross_timestep=True,
        stg_block=28,
        notes="Gemma-3-12B text encoder; the transformer's cross_attention_dim equals the video "
        "connector width (4096) and audio_cross_attention_dim the audio width (2048); needs both "
        "timestep and sigma (both sigma*1000); 48 kHz vocoder with bandwidth extension.",
    ),
    "2.5": VersionSpec(
        version="2.5",
        loadable=True,
        hub_id="Lightricks/LTX-2.5-Diffusers",
        params_billion=22.0,
        transformer_flags={
            # 2.3's attention and modulation, kept (ai-toolkit's convert_ltx2_to_diffusers.py maps 2.5
            # to the 2.3 config and lists exactly two deltas, the two flags after these):
            "gated_attn": True,
            "cross_attn_mod": True,
            "audio_gated_attn": True,
            "audio_cross_attn_mod": True,
            "use_prompt_embeddings": False,
            "ff_bias": False,  # bias-free video feed-forward (the audio feed-forward keeps its biases)
            "use_keyframes_abs_pos_embedding": True,  # the new keyframes_abs_pos_embedding parameter
        },
        connector_flags={
            "per_modality_projections": True,
            "video_gated_attn": True,
            "audio_gated_attn": True,
        },
        transformer_only_keys=("keyframes_abs_pos_embedding",),
        connector_only_keys=(),
        vocoder_class="LTX2VocoderWithBWE",
        use_cross_timestep=True,
        stg_block=28,  # ltx-trainer 1.2.0's validation default for 2.5
        text_encoder_class="Gemma4UnifiedForConditionalGeneration",
        notes="An LTX fine-tune of Gemma-4 12B as the text encoder (the text projection bundled in its "
        "file; stock Gemma 4 is refused by ltx-trainer), the same hidden size and layer count as Gemma-3 "
        "12B so the connectors keep 2.3's shapes (ai-toolkit); transformer = 2.3 plus the two deltas "
        "above; LoRA key names as 2.3; released as split one-file-per-component weights; a diffusion "
        "decoder (default) or a conv video VAE identical to 2.3's. Sources: ../shared/reviews/peers.md "
        "section 3; diffusers 0.42.1 builds it with LTX2Pipeline and these flags.",
    ),
}

# What diffusers 0.42.1 assumes for a flag a config.json does not carry (an older file): the 2.0
# values, the bias-ful feed-forward and no keyframe embedding.
_FLAG_DEFAULTS: dict[str, Any] = {
    **VERSIONS["2.0"].transformer_flags,
    "ff_bias": True,
    "use_keyframes_abs_pos_embedding": False,
}

LOADABLE_VERSIONS: tuple[str, ...] = tuple(v for v, s in VERSIONS.items() if s.loadable)

# The real LTX-2 scheduler (scheduler/scheduler_config.json of the diffusers repositories):
# resolution-dependent exponential shift between base_shift at 1024 tokens and max_shift at
# 4096 tokens (pipeline_ltx2.calculate_shift), then stretched so the last sigma is 0.1.
LTX2_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "shift": 1.0,
    "use_dynamic_shifting": True,
    "base_shift": 0.95,
    "max_shift": 2.05,
    "base_image_seq_len": 1024,
    "max_image_seq_len": 4096,
    "shift_terminal": 0.1,
    "time_shift_type": "exponential",
    "invert_sigmas": False,
    "stochastic_sampling": False,
    "use_karras_sigmas": False,
    "use_exponential_sigmas": False,
    "use_beta_sigmas": False,
}


def version_spec(version: str, *, loadable: bool = True) -> VersionSpec:
    """The :class:`VersionSpec` of ``version``; ValueError naming the known versions otherwise."""
    spec = VERSIONS.get(version)
    if spec is None:
        raise ValueError(f"unknown LTX-2 version {version!r}; known: {', '.join(VERSIONS)}")
    if loadable and not spec.loadable:
        raise ValueError(
            f"LTX-{version} is recognised but not supported by ltxbench; use one of {', '.join(LOADABLE_VERSIONS)}"
        )
    return spec


def detect_version(transformer_config: Mapping[str, Any]) -> str | None:
    """The loadable version whose transformer flags all match ``transformer_config``, else None.

    Flags missing from the config take diffusers' defaults (:data:`_FLAG_DEFAULTS`), as diffusers
    does when it loads an older ``config.json``.
    """
    for version in LOADABLE_VERSIONS:
        flags = VERSIONS[version].transformer_flags
        if all(transformer_config.get(k, _FLAG_DEFAULTS.get(k)) == v for k, v in flags.items()):
            return version
    return None


_VIDEO_FF = re.compile(r"(^|\.)ff\.net\.(0\.proj|2)\.(weight|bias)$")


def has_video_ff_bias(names: list[str]) -> bool | None:
    """Whether the *video* feed-forward of the transformer blocks has biases; None when the names
    hold no video feed-forward weight (a LoRA file, whose keys end in ``lora_A.weight``, or a
    partial file). ``audio_ff.net...`` does not match: the block's own ``ff`` must follow a dot."""
    kinds = {m.group(3) for m in map(_VIDEO_FF.search, names) if m}
    if "weight" not in kinds:
        return None
    return "bias" in kinds


def detect_version_from_keys(keys: Any) -> str | None:
    """Guess the version from transformer state-dict (or LoRA) key names; None if undecidable.

    Each version's keys include the older ones' (2.5 carries every 2.3-only module), so the most
    specific hit wins. A full 2.5 state dict is also told by its bias-free video feed-forward (a
    quantised file may drop the keyframe embedding). LoRA files name only linear layers, which 2.3
    and 2.5 share: for them this answers ``"2.3"`` meaning "2.3 or later" (see ``lora.check`` for
    the candidates)."""
    names = list(keys)
    hits = {
        v: any(frag in name for name in names for frag in VERSIONS[v].transformer_only_keys)
        for v in LOADABLE_VERSIONS
    }
    if hits.get("2.3") and (hits.get("2.5") or has_video_ff_bias(names) is False):
        return "2.5"
    found = [v for v, hit in hits.items() if hit]
    return found[0] if len(found) == 1 else None
