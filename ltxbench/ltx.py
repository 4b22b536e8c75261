"""LTX-2 model access: version facts, a tiny random-weight pipeline, loading real weights, and
the tensor helpers the train and evaluate stages share.

Everything here goes through diffusers' own ``LTX2Pipeline`` and its components, so the tiny
pipeline (CI, demos) and the real 22B model run exactly the same code; only the sizes differ.

Tensor conventions used throughout (B = batch):

* pixels: ``[B, 3, F, H, W]`` in ``[-1, 1]``, ``F = 8k + 1``, ``H`` and ``W`` multiples of 32;
* video latents: ``[B, 128, (F - 1) / 8 + 1, H / 32, W / 32]``, *normalised* with the VAE's
  per-channel ``latents_mean`` / ``latents_std`` (the space the transformer works in);
* audio latents: ``[B, 8, L, 16]`` (8 channels x 16 latent mel bins, ``L`` = 25 latents/s),
  normalised in the packed ``[B, L, 128]`` space as the pipeline does;
* noise level ``sigma`` in ``[0, 1]``: ``x_sigma = (1 - sigma) * x0 + sigma * noise``; the
  transformer predicts the velocity ``noise - x0`` (see :func:`velocity_target`).

Module import is light (no torch, no diffusers) so that parameter validation, which calls
:func:`source_problems`, stays fast; the heavy imports happen inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ltxbench.params import Problem

if TYPE_CHECKING:  # only for annotations; never imported at run time here
    import torch
    from diffusers import LTX2Pipeline

log = logging.getLogger("ltxbench")

# ---------------------------------------------------------------------------------------
# Version facts
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSpec:
    """What distinguishes one LTX-2 release, as seen through diffusers 0.42.1 configs and keys."""

    version: str
    loadable: bool
    """Whether this package can load and train it (2.5 is recognised but not supported)."""
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
        loadable=False,
        hub_id=None,
        params_billion=None,
        transformer_flags={"use_prompt_adaln_single": False, "ff_bias": False},
        connector_flags={"per_modality_projections": True},
        transformer_only_keys=("keyframes_abs_pos_embedding",),
        connector_only_keys=(),
        vocoder_class="LTX2VocoderWithBWE",
        use_cross_timestep=True,
        connector_registers=None,
        notes="Gemma-4 text encoder, duration head, KV-cacheable cross-attention; recognised "
        "only so that it can be named in errors.",
    ),
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

    Flags missing from the config take diffusers' defaults (the 2.0 values), as diffusers does
    when it loads an older ``config.json``.
    """
    defaults = VERSIONS["2.0"].transformer_flags
    for version in LOADABLE_VERSIONS:
        flags = VERSIONS[version].transformer_flags
        if all(transformer_config.get(k, defaults.get(k)) == v for k, v in flags.items()):
            return version
    return None


def detect_version_from_keys(keys: Any) -> str | None:
    """Guess the version from transformer state-dict (or LoRA) key names; None if undecidable."""
    names = list(keys)
    hits = {
        v: any(frag in name for name in names for frag in VERSIONS[v].transformer_only_keys)
        for v in LOADABLE_VERSIONS
    }
    found = [v for v, hit in hits.items() if hit]
    return found[0] if len(found) == 1 else None


class ModelNotFoundError(FileNotFoundError):
    """The requested LTX-2 weights are not on this machine; the message says how to get them."""


class VersionMismatchError(ValueError):
    """The weights found are a different LTX-2 version from the one the parameters ask for."""


class DeviceNotAvailableError(RuntimeError):
    """The requested torch device does not exist on this machine."""


# ---------------------------------------------------------------------------------------
# Where the weights are (no torch needed)
# ---------------------------------------------------------------------------------------

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class _Located:
    """Where ``model.source`` points: ``kind`` is tiny, local or hub; ``folder`` the diffusers
    folder when it exists; ``missing`` says what is absent (None when the weights are there)."""

    kind: str
    folder: Path | None
    missing: str | None


def _is_local(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().is_dir()


def _hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _download_hint(version: str, local_dir: str | None = None) -> str:
    hub_id = VERSIONS[version].hub_id if version in VERSIONS else None
    hub_id = hub_id or "<diffusers-format LTX-2 repository>"
    target = local_dir or "/path/to/ltx-folder"
    return (
        f"download the diffusers-format LTX-{version} weights first, either to a folder:\n"
        f"    hf download {hub_id} --local-dir {target}\n"
        f"  and set model.source: {target}\n"
        f"  or into the Hugging Face cache ({_hub_cache_dir()}; HF_HOME or HF_HUB_CACHE move it):\n"
        f"    hf download {hub_id}\n"
        f"  and set model.source: {hub_id}\n"
        f"  (the command is `huggingface-cli download` on huggingface_hub < 1.0); "
        f"model.source: tiny runs the embedded random-weight pipeline without any download"
    )


def _cached_hub_folder(hub_id: str) -> Path | None:
    """The local snapshot folder of ``hub_id`` if its model_index.json is in the HF cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(hub_id, "model_index.json")
    except Exception:  # malformed ids raise validation errors: treat as not cached
        return None
    return Path(found).parent if isinstance(found, str) else None


TINY_PRETRAINED = "tiny-pretrained"
"""``model.source`` of the embedded pretrained tiny base (:mod:`ltxbench.tiny_base`)."""


def is_tiny(source: str) -> bool:
    """One of the embedded miniatures (random ``tiny`` or ``tiny-pretrained``), whose text
    connectors carry :data:`TINY_REGISTERS` registers."""
    return source in ("tiny", TINY_PRETRAINED)


def _locate(source: str, version: str) -> _Located:
    if source == "tiny":
        return _Located("tiny", None, None)
    if source == TINY_PRETRAINED:
        from ltxbench import tiny_base

        if version != "2.3":
            return _Located("local", None, f"the pretrained tiny base is LTX-2.3; set model.version: '2.3' "
                                           f"(or model.source: tiny for a random LTX-{version} miniature)")
        if not (tiny_base.folder() / "model_index.json").is_file():
            return _Located("local", None, f"{tiny_base.folder()} holds no pipeline: build it with "
                                           f"`python -m ltxbench.tiny_base.pretrain --out DIR` and copy DIR/pipeline there")
        return _Located("local", tiny_base.folder(), None)
    if _is_local(source):
        folder = Path(source).expanduser()
        if not folder.is_dir():
            return _Located("local", None, "folder not found; " + _download_hint(version, source))
        if not (folder / "model_index.json").is_file():
            return _Located(
                "local",
                None,
                "folder has no model_index.json, so it is not a diffusers-format pipeline; "
                + _download_hint(version, source),
            )
        return _Located("local", folder, None)
    if not _HUB_ID.match(source):
        return _Located("hub", None, "expected 'tiny', 'tiny-pretrained', a local folder (/..., ./...) or a hub id owner/name")
    folder = _cached_hub_folder(source)
    if folder is None:
        return _Located(
            "hub",
            None,
            f"not in the local Hugging Face cache ({_hub_cache_dir()}) and nothing is downloaded at run "
            f"time; run `hf download {source}` first (or use a local folder, or 'tiny')",
        )
    return _Located("hub", folder, None)


def _folder_version(folder: Path) -> str | None:
    """Version read from ``transformer/config.json`` without loading anything; None if unknown."""
    try:
        config = json.loads((folder / "transformer" / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return detect_version(config)


def source_problems(source: str, version: str) -> list[Problem]:
    """Problems with ``model.source`` found before anything is loaded (imports no torch).

    ``tiny`` is always fine. A local path (starting with ``/``, ``.`` or ``~``, or an existing
    folder) must hold a diffusers-format pipeline (``model_index.json``); anything else is read
    as a hub id, which must already be in the local Hugging Face cache since nothing is
    downloaded at run time. When ``transformer/config.json`` is readable, the version it
    describes must be ``version``.
    """
    located = _locate(source, version)
    if located.missing:
        return [Problem("model.source", source, located.missing)]
    if located.folder is not None:
        found = _folder_version(located.folder)
        if found is not None and found != version:
            return [
                Problem(
                    "model.source",
                    source,
                    f"holds LTX-{found} weights (transformer/config.json) but model.version is {version!r}",
                )
            ]
    return []


# ---------------------------------------------------------------------------------------
# Devices and dtypes
# ---------------------------------------------------------------------------------------

DTYPES = ("float32", "bfloat16", "float16")


def resolve_dtype(name: str) -> torch.dtype:
    """``"float32" | "bfloat16" | "float16"`` -> the torch dtype."""
    import torch

    if name not in DTYPES:
        raise ValueError(f"dtype {name!r} not supported; use one of {', '.join(DTYPES)}")
    return getattr(torch, name)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cpu``; ``cuda`` / ``cuda:N`` (must exist)."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = torch.version.cuda or "no CUDA support"
            raise DeviceNotAvailableError(
                f"device {name!r} was requested but torch sees no CUDA GPU (torch {torch.__version__}, built "
                f"with {built}); set model.device: cpu or auto"
            )
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceNotAvailableError(
                f"device {name!r} was requested but only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return device
    raise ValueError(f"device {name!r} not supported; use auto, cpu or cuda")


# ---------------------------------------------------------------------------------------
# The tiny pipeline
# ---------------------------------------------------------------------------------------

# Sizes of the tiny pipeline. Only widths and depths shrink: latent channels (128), VAE
# compression (8 in time, 32 in space), audio latents (8 x 16 mel bins = 128 features), the
# transformer's patching, RoPE type and the version-specific modules are the real ones.
TINY_TEXT: dict[str, int] = {  # Gemma-3 text tower (real 12B: 3840 wide, 48 layers, 262k vocab)
    "vocab_size": 264,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 16,
}
TINY_TRANSFORMER: dict[str, int] = {  # real: 48 layers, 32 x 128 video heads, 32 x 64 audio heads
    "num_layers": 2,
    "num_attention_heads": 2,
    "attention_head_dim": 16,
    "audio_num_attention_heads": 2,  # the a2v/v2a RoPE needs as many audio heads as video heads
    "audio_attention_head_dim": 8,
}
TINY_CONNECTOR_LAYERS = 1
TINY_REGISTERS = 8  # learnable registers replace padding; max_sequence_length must divide by it
TINY_MAX_SEQUENCE_LENGTH = 1024  # tokenizer.model_max_length, as the real Gemma tokenizer's pipeline default

_TINY_REVISION = 1  # bump whenever a tiny component's configuration or initialisation changes


def _tiny_build_id() -> str:
    """Identity of the tiny pipeline's weights for caches: our revision and sizes, plus the
    library versions whose initialisers produce the weights (read from package metadata, so no
    heavy import)."""
    from importlib.metadata import PackageNotFoundError, version

    libs = {}
    for package in ("torch", "diffusers", "transformers"):
        try:
            libs[package] = version(package)
        except PackageNotFoundError:
            libs[package] = "absent"
    blob = json.dumps([_TINY_REVISION, TINY_TEXT, TINY_TRANSFORMER, TINY_CONNECTOR_LAYERS, TINY_REGISTERS, libs],
                      sort_keys=True)
    return f"tiny-r{_TINY_REVISION}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


TINY_BUILD_ID: str = _tiny_build_id()
"""Changes whenever tiny weights could change; part of the train stage's cache keys."""

# Token ids of the tiny byte-level tokenizer; the first four follow Gemma's numbering.
_SPECIAL_TOKENS = ("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_image>", "<end_of_image>", "<image_soft_token>")


def _seeded(seed: int, component: int) -> None:
    """Seed torch for one component so each component's init does not depend on the others."""
    import torch

    torch.manual_seed(seed * 1000 + component)


def build_tiny_tokenizer() -> Any:
    """A Gemma-like tokenizer built in code: byte-level, one token per UTF-8 byte, ``<bos>``
    prepended, ``<pad>``/``<eos>``/``<bos>``/``<unk>`` = 0/1/2/3 as in Gemma, left padding (what
    ``LTX2Pipeline._get_gemma_prompt_embeds`` forces anyway)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(_SPECIAL_TOKENS)}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
        truncation_side="right",
        model_max_length=TINY_MAX_SEQUENCE_LENGTH,
    )


def _tiny_text_encoder() -> Any:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    text = dict(TINY_TEXT)
    config = Gemma3Config(
        text_config={
            **text,
            "max_position_embeddings": 2048,
            "query_pre_attn_scalar": text["head_dim"],
            "sliding_window": 64,
            # Gemma 3 alternates local (sliding) and global layers; keep one of each.
            "layer_types": ["sliding_attention", "full_attention"],
            "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2,
        },
        vision_config={
            "model_type": "siglip_vision_model", "hidden_size": 16, "intermediate_size": 32,
            "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 14,
        },
        mm_tokens_per_image=4,
        boi_token_index=_SPECIAL_TOKENS.index("<start_of_image>"),
        eoi_token_index=_SPECIAL_TOKENS.index("<end_of_image>"),
        image_token_index=_SPECIAL_TOKENS.index("<image_soft_token>"),
    )
    return Gemma3ForConditionalGeneration(config)


def _tiny_connectors(version: str, t: Mapping[str, int]) -> Any:
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    video_width = t["num_attention_heads"] * t["attention_head_dim"]
    audio_width = t["audio_num_attention_heads"] * t["audio_attention_head_dim"]
    common = {
        "caption_channels": TINY_TEXT["hidden_size"],
        # one slice per Gemma hidden state: the embeddings plus every layer's output
        "text_proj_in_factor": TINY_TEXT["num_hidden_layers"] + 1,
        "video_connector_num_layers": TINY_CONNECTOR_LAYERS,
        "audio_connector_num_layers": TINY_CONNECTOR_LAYERS,
        "video_connector_num_learnable_registers": TINY_REGISTERS,
        "audio_connector_num_learnable_registers": TINY_REGISTERS,
        "connector_rope_base_seq_len": 4096,
        "rope_theta": 10000.0,
        "rope_double_precision": True,
        "causal_temporal_positioning": False,
        "rope_type": "split",
    }
    if version == "2.3":
        return LTX2TextConnectors(
            **common,
            video_connector_num_attention_heads=t["num_attention_heads"],
            video_connector_attention_head_dim=t["attention_head_dim"],
            audio_connector_num_attention_heads=t["audio_num_attention_heads"],
            audio_connector_attention_head_dim=t["audio_attention_head_dim"],
            video_gated_attn=True,
            audio_gated_attn=True,
            per_modality_projections=True,
            video_hidden_dim=video_width,  # = transformer cross_attention_dim
            audio_hidden_dim=audio_width,  # = transformer audio_cross_attention_dim
            proj_bias=True,
        )
    # 2.0: both connectors run at the text encoder width; the transformer projects afterwards.
    heads = 2
    return LTX2TextConnectors(
        **common,
        video_connector_num_attention_heads=heads,
        video_connector_attention_head_dim=TINY_TEXT["hidden_size"] // heads,
        audio_connector_num_attention_heads=heads,
        audio_connector_attention_head_dim=TINY_TEXT["hidden_size"] // heads,
        video_gated_attn=False,
        audio_gated_attn=False,
        per_modality_projections=False,
        proj_bias=False,
    )


def _tiny_transformer(version: str, t: Mapping[str, int]) -> Any:
    from diffusers import LTX2VideoTransformer3DModel

    inner = t["num_attention_heads"] * t["attention_head_dim"]
    audio_inner = t["audio_num_attention_heads"] * t["audio_attention_head_dim"]
    flags = dict(VERSIONS[version].transformer_flags)
    return LTX2VideoTransformer3DModel(
        in_channels=128, out_channels=128, patch_size=1, patch_size_t=1,
        num_attention_heads=t["num_attention_heads"], attention_head_dim=t["attention_head_dim"],
        # 2.3: text K/V are modulated in the transformer width, so it must equal the connector
        # width; 2.0: caption_projection maps text to the transformer width first.
        cross_attention_dim=inner,
        vae_scale_factors=(8, 32, 32), pos_embed_max_pos=20, base_height=2048, base_width=2048,
        audio_in_channels=128, audio_out_channels=128, audio_patch_size=1, audio_patch_size_t=1,
        audio_num_attention_heads=t["audio_num_attention_heads"],
        audio_attention_head_dim=t["audio_attention_head_dim"],
        audio_cross_attention_dim=audio_inner,
        audio_scale_factor=4, audio_pos_embed_max_pos=20, audio_sampling_rate=16000, audio_hop_length=160,
        num_layers=t["num_layers"], activation_fn="gelu-approximate", qk_norm="rms_norm_across_heads",
        norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=TINY_TEXT["hidden_size"],
        attention_bias=True, attention_out_bias=True, rope_theta=10000.0, rope_double_precision=True,
        causal_offset=1, timestep_scale_multiplier=1000, cross_attn_timestep_scale_multiplier=1000,
        rope_type="split", perturbed_attn=(version == "2.3"),
        **flags,
    )


def _tiny_video_vae(version: str) -> Any:
    import torch
    from diffusers import AutoencoderKLLTX2Video

    common = {
        "in_channels": 3, "out_channels": 3, "latent_channels": 128,
        "down_block_types": ("LTX2VideoDownBlock3D",) * 4,
        "layers_per_block": (1, 1, 1, 1, 1),
        "spatio_temporal_scaling": (True, True, True, True),
        "downsample_type": ("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        "timestep_conditioning": False, "patch_size": 4, "patch_size_t": 1, "resnet_norm_eps": 1e-6,
        "encoder_causal": True, "decoder_causal": False, "encoder_spatial_padding_mode": "zeros",
        "spatial_compression_ratio": 32, "temporal_compression_ratio": 8,
    }
    if version == "2.3":  # real: (256, 512, 1024, 1024) / (256, 512, 512, 1024), four up blocks
        vae = AutoencoderKLLTX2Video(
            **common,
            block_out_channels=(16, 32, 64, 64),
            decoder_block_out_channels=(16, 32, 32, 64),
            decoder_layers_per_block=(1, 1, 1, 1, 1),
            decoder_spatio_temporal_scaling=(True, True, True, True),
            decoder_inject_noise=(False,) * 5,
            upsample_type=("spatiotemporal", "spatiotemporal", "temporal", "spatial"),
            upsample_residual=(False, False, False, False),
            upsample_factor=(2, 2, 1, 2),
            decoder_spatial_padding_mode="zeros",
        )
    else:  # real: (256, 512, 1024, 2048) / (256, 512, 1024), three residual up blocks
        vae = AutoencoderKLLTX2Video(
            **common,
            block_out_channels=(16, 32, 64, 128),
            decoder_block_out_channels=(16, 32, 64),
            decoder_layers_per_block=(1, 1, 1, 1),
            decoder_spatio_temporal_scaling=(True, True, True),
            decoder_inject_noise=(False,) * 4,
            upsample_type=("spatiotemporal",) * 3,
            upsample_residual=(True, True, True),
            upsample_factor=(2, 2, 2),
            decoder_spatial_padding_mode="reflect",
        )
    # Real checkpoints carry per-channel latent statistics; non-trivial values here make the
    # tiny pipeline exercise the (de)normalisation instead of multiplying by one.
    with torch.no_grad():
        vae.latents_mean.copy_(0.1 * torch.randn(128))
        vae.latents_std.copy_(0.5 + torch.rand(128))
    return vae


def _tiny_audio_vae() -> Any:
    import torch
    from diffusers import AutoencoderKLLTX2Audio

    # base_channels stays 128: diffusers sizes latents_mean/std by base_channels and applies them
    # to the packed [B, L, 8 * 16] audio latents, so any other value breaks the pipeline.
    vae = AutoencoderKLLTX2Audio(
        base_channels=128, output_channels=2, ch_mult=(1, 1, 1), num_res_blocks=1, attn_resolutions=None,
        in_channels=2, resolution=256, latent_channels=8, norm_type="pixel", causality_axis="height",
        dropout=0.0, mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True,
        mel_bins=64, double_z=True,
    )
    with torch.no_grad():
        vae.latents_mean.copy_(0.1 * torch.randn(128))
        vae.latents_std.copy_(0.5 + torch.rand(128))
    return vae


def _tiny_vocoder(version: str) -> Any:
    from diffusers.pipelines.ltx2 import LTX2Vocoder, LTX2VocoderWithBWE

    if version == "2.3":  # real: hidden 1536 / 512, 16 kHz vocoder + bandwidth extension to 48 kHz
        return LTX2VocoderWithBWE(
            in_channels=128, hidden_channels=64, out_channels=2,
            upsample_kernel_sizes=[11, 4, 4, 4, 4, 4], upsample_factors=[5, 2, 2, 2, 2, 2],
            resnet_kernel_sizes=[3, 7, 11], resnet_dilations=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            act_fn="snakebeta", antialias=True, antialias_ratio=2, antialias_kernel_size=12,
            final_act_fn=None, final_bias=False,
            bwe_in_channels=128, bwe_hidden_channels=32, bwe_out_channels=2,
            bwe_upsample_kernel_sizes=[12, 11, 4, 4, 4], bwe_upsample_factors=[6, 5, 2, 2, 2],
            bwe_resnet_kernel_sizes=[3, 7, 11], bwe_resnet_dilations=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            bwe_act_fn="snakebeta", bwe_antialias=True, bwe_antialias_ratio=2, bwe_antialias_kernel_size=12,
            bwe_final_act_fn=None, bwe_final_bias=False,
            filter_length=512, hop_length=80, window_length=512, num_mel_channels=64,
            input_sampling_rate=16000, output_sampling_rate=48000,
        )
    return LTX2Vocoder(  # real: hidden 1024, 24 kHz
        in_channels=128, hidden_channels=32, out_channels=2,
        upsample_kernel_sizes=[16, 15, 8, 4, 4], upsample_factors=[6, 5, 2, 2, 2],
        resnet_kernel_sizes=[3, 7, 11], resnet_dilations=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        act_fn="leaky_relu", leaky_relu_negative_slope=0.1, antialias=False,
        final_act_fn="tanh", final_bias=True, output_sampling_rate=24000,
    )


def _cast(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """``module.to(dtype)`` without diffusers' spurious warning: ``ModelMixin.to`` warns about
    "modules that should be kept in float32: []" on every dtype cast, even when there are none."""
    import torch

    if dtype == torch.float32:  # built in float32 already
        return module
    if getattr(module, "_keep_in_fp32_modules", None):
        return module.to(dtype=dtype)
    return torch.nn.Module.to(module, dtype=dtype)


def build_tiny_pipeline(version: str = "2.3", seed: int = 0, dtype: torch.dtype | None = None,
                        transformer_sizes: Mapping[str, int] | None = None) -> LTX2Pipeline:
    """A random-weight ``LTX2Pipeline`` with the real classes and the real layout, tiny widths.

    ``transformer_sizes`` overrides entries of :data:`TINY_TRANSFORMER` (layers, heads, head
    widths; the connectors follow the widths). The default transformer is 32 wide, narrower than
    the 128 latent channels: it cannot carry the noise through its residual stream, so it cannot
    fit a flow-matching target closely; tests that need a model that *learns* ask for 128 or more.

    Every component is initialised from its own seed derived from ``seed``, inside a forked RNG
    so the caller's torch RNG state is untouched: two processes building with the same seed get
    bit-identical weights. All modules are put in eval mode, as ``from_pretrained`` does.
    """
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2Pipeline

    version_spec(version)
    dtype = dtype or torch.float32
    unknown = set(transformer_sizes or {}) - set(TINY_TRANSFORMER)
    if unknown:
        raise ValueError(f"transformer_sizes: unknown keys {sorted(unknown)}; known: {sorted(TINY_TRANSFORMER)}")
    sizes = {**TINY_TRANSFORMER, **(transformer_sizes or {})}
    builders = (
        ("text_encoder", _tiny_text_encoder),
        ("connectors", lambda: _tiny_connectors(version, sizes)),
        ("transformer", lambda: _tiny_transformer(version, sizes)),
        ("vae", lambda: _tiny_video_vae(version)),
        ("audio_vae", _tiny_audio_vae),
        ("vocoder", lambda: _tiny_vocoder(version)),
    )
    components: dict[str, Any] = {}
    with torch.random.fork_rng(devices=[]):
        for index, (name, build) in enumerate(builders):
            _seeded(seed, index)
            components[name] = _cast(build(), dtype).eval()
    pipe = LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**LTX2_SCHEDULER_CONFIG),
        tokenizer=build_tiny_tokenizer(),
        **components,
    )
    return pipe


def state_dict_hash(module: torch.nn.Module) -> str:
    """SHA-256 over a module's state dict (names, dtypes, shapes and bytes), for identity checks."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def pipeline_hash(pipe: LTX2Pipeline) -> str:
    """SHA-256 over the weights of every torch module of a pipeline."""
    import torch

    digest = hashlib.sha256()
    for name, component in sorted(pipe.components.items()):
        if isinstance(component, torch.nn.Module):
            digest.update(f"{name}:{state_dict_hash(component)}".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def check_pipeline_version(pipe: LTX2Pipeline, version: str, source: str = "the pipeline") -> None:
    """Raise :class:`VersionMismatchError` unless the loaded transformer and connectors carry
    ``version``'s config flags (e.g. a 2.0 folder given with ``model.version: 2.3``)."""
    spec = version_spec(version)
    wrong = [
        f"{name}.{key}={config.get(key)!r}"
        for name, config, flags in (
            ("transformer", pipe.transformer.config, spec.transformer_flags),
            ("connectors", pipe.connectors.config, spec.connector_flags),
        )
        for key, expected in flags.items()
        if config.get(key) != expected
    ]
    if not wrong:
        return
    found = detect_version(pipe.transformer.config)
    if found:
        advice = f"set model.version: {found!r}, or point model.source at LTX-{version} weights"
        what = f"LTX-{found}"
    else:
        advice = f"point model.source at LTX-{version} weights"
        what = "not a recognised LTX-2 version"
    raise VersionMismatchError(
        f"{source} is {what}, but model.version is {version!r} (differs in {', '.join(wrong)}); {advice}"
    )


def load_pipeline(version: str, source: str, dtype: str = "float32", device: str = "auto",
                  checkpoint: str | Path | None = None, text_encoder: str | Path | None = None) -> LTX2Pipeline:
    """The LTX-2 pipeline of ``version`` from ``source``, checked and moved to ``device``.

    ``source``: ``"tiny"`` (:func:`build_tiny_pipeline`, seed 0), ``"tiny-pretrained"`` (the
    embedded pretrained miniature, :mod:`ltxbench.tiny_base`, loaded as a folder), a local diffusers-format folder
    (``model_index.json``), or a hub id already in the local Hugging Face cache. Both real paths
    use ``LTX2Pipeline.from_pretrained(..., local_files_only=True)``: nothing is downloaded.
    Missing or incomplete weights raise :class:`ModelNotFoundError` saying what to download and
    where; weights of another version raise :class:`VersionMismatchError`.

    ``checkpoint``: an official single-file checkpoint whose transformer, text connectors and video VAE
    replace ``source``'s (:func:`replace_from_checkpoint`). ``text_encoder``: a Gemma 3 file or
    folder whose encoder and tokenizer replace ``source``'s (:mod:`ltxbench.gemma_file`).
    """
    version_spec(version)
    torch_dtype = resolve_dtype(dtype)
    target = resolve_device(device)
    # the file's problems name the file (not model.source), before a byte of weights is read
    opened = _open_checkpoint(checkpoint, version)
    located = _locate(source, version)
    if located.missing:
        raise ModelNotFoundError(f"LTX-{version} weights not available at model.source={source!r}: {located.missing}")
    text_parts = _text_parts(text_encoder, torch_dtype)  # 24 GB at full size: only once the source is there
    if located.kind == "tiny":
        pipe = build_tiny_pipeline(version, seed=0, dtype=torch_dtype)
        pipe.register_modules(**text_parts)
    else:
        from diffusers import LTX2Pipeline

        # A local folder is loaded by path; a hub id by name, so diffusers resolves the snapshot.
        location = str(located.folder) if located.kind == "local" else source
        found = _folder_version(located.folder) if located.folder else None
        if found is not None and found != version:  # fail before reading gigabytes
            raise VersionMismatchError(
                f"{source} is LTX-{found} (transformer/config.json), but model.version is {version!r}; "
                f"set model.version: {found!r}, or point model.source at LTX-{version} weights"
            )

        def incomplete(exc: OSError) -> ModelNotFoundError:  # missing shards or configs in the folder or cache
            return ModelNotFoundError(
                f"LTX-{version} weights at {location!r} are incomplete ({exc}); "
                + _download_hint(version, location if located.kind == "local" else None))

        log.info("loading LTX-%s from %s as %s", version, location, dtype)
        replaced: dict[str, Any] = dict(text_parts)  # the folder's own encoder is then never read
        if opened is not None:  # never read source's transformer only to throw it away (38 GB)
            from transformers import AutoConfig

            if text_parts:
                text = text_parts["text_encoder"].config
            else:
                try:
                    text = AutoConfig.from_pretrained(location, subfolder="text_encoder", local_files_only=True)
                except OSError as exc:
                    raise incomplete(exc) from exc
            replaced.update(_checkpoint_modules(opened, version, text.get_text_config(), torch_dtype))
        try:
            pipe = LTX2Pipeline.from_pretrained(location, dtype=torch_dtype, local_files_only=True, **replaced)
        except OSError as exc:
            raise incomplete(exc) from exc
        check_pipeline_version(pipe, version, source)
    if opened is not None:
        replace_from_checkpoint(pipe, version, opened, torch_dtype, modules_done=located.kind != "tiny")
    check_text_widths(pipe, str(text_encoder or source))
    # one bar per denoising loop is noise in a run's record (32 of them in an evaluation notebook):
    # the stages show their own bars, one per video
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(target)


def _text_parts(text_encoder: str | Path | None, dtype: torch.dtype) -> dict[str, Any]:
    """``{"text_encoder", "tokenizer"}`` from a Gemma file or folder; ``{}`` without one."""
    if text_encoder is None:
        return {}
    from ltxbench import gemma_file

    log.info("loading the text encoder and tokenizer from %s", text_encoder)
    return {"tokenizer": gemma_file.load_tokenizer(text_encoder),
            "text_encoder": gemma_file.load_text_encoder(text_encoder, dtype)}


def check_text_widths(pipe: LTX2Pipeline, source: str) -> None:
    """The text connectors read every hidden state of the encoder: a ValueError naming both shapes
    when the encoder is not the one they were trained on (another Gemma, or the tiny one)."""
    text = pipe.text_encoder.config.get_text_config()
    c = pipe.connectors.config
    theirs = (c.caption_channels, c.text_proj_in_factor)
    ours = (text.hidden_size, text.num_hidden_layers + 1)
    if theirs != ours:
        raise ValueError(f"the text encoder of {source} gives {ours[1]} hidden states of width {ours[0]}, but the "
                         f"text connectors read {theirs[1]} of width {theirs[0]}: use the text encoder made for this "
                         f"model (LTX-2: Gemma 3 12B)")


def _open_checkpoint(checkpoint: Any, version: str) -> Any:
    """``checkpoint`` (a path, or a header already read) as a header checked for ``version``; None stays None."""
    from ltxbench import single_file  # the one module that reads official files; it imports this one

    if checkpoint is None or isinstance(checkpoint, single_file.OfficialCheckpoint):
        return checkpoint
    return single_file.open_checkpoint(checkpoint, version)


def _checkpoint_modules(opened: Any, version: str, text_config: Any, dtype: torch.dtype) -> dict[str, Any]:
    """The transformer and text connectors of an official file whose header ``opened`` is.

    The connectors' input projection reads every hidden state of the text encoder, so that
    encoder's width and depth (``text_config``) fix its shape; a checkpoint made for another
    encoder fails here with the shapes named.
    """
    from ltxbench import single_file

    log.info("loading the transformer and text connectors of LTX-%s from %s", version, opened.path)
    return {
        "transformer": single_file.load_transformer(opened, version, dtype),
        "connectors": single_file.load_connectors(opened, text_config.hidden_size, text_config.num_hidden_layers, dtype),
    }


def replace_from_checkpoint(pipe: LTX2Pipeline, version: str, checkpoint: Any,
                            dtype: torch.dtype | None = None, modules_done: bool = False) -> LTX2Pipeline:
    """Put the transformer, text connectors and (when the file has one) video VAE of an official
    single-file checkpoint (a path, or its :class:`~ltxbench.single_file.OfficialCheckpoint`) into
    ``pipe``, in ``dtype`` (default: the transformer's).

    ``modules_done``: the transformer and connectors already came from the file (``load_pipeline``
    passes them to ``from_pretrained``); only the VAE is left.
    """
    from ltxbench import single_file

    opened = _open_checkpoint(checkpoint, version)
    if not modules_done:
        pipe.register_modules(**_checkpoint_modules(opened, version, pipe.text_encoder.config.get_text_config(),
                                                    dtype or pipe.transformer.dtype))
    if opened.component_keys()["vae"]:  # the file's VAE is the one its transformer was trained with
        log.info("loading the video VAE from %s", opened.path)
        single_file.load_video_vae_into(opened, pipe.vae)
    check_pipeline_version(pipe, version, str(opened.path))
    return pipe


# ---------------------------------------------------------------------------------------
# Tensors for training and evaluation
# ---------------------------------------------------------------------------------------


def check_video_shape(frames: torch.Tensor, temporal: int = 8, spatial: int = 32) -> None:
    """ValueError unless ``frames`` is ``[B, 3, F, H, W]`` with ``F = 8k+1`` and ``H, W`` multiples
    of 32 (the VAE otherwise fails with an opaque unflatten/reshape error)."""
    if frames.ndim != 5 or frames.shape[1] != 3:
        raise ValueError(f"expected pixels [B, 3, F, H, W], got shape {tuple(frames.shape)}")
    _, _, f, h, w = frames.shape
    bad = []
    if f % temporal != 1:
        lo = max(1, (f - 1) // temporal * temporal + 1)
        bad.append(f"F={f} frames must be {temporal}k+1 (e.g. {lo} or {lo + temporal})")
    for name, size in (("H", h), ("W", w)):
        if size % spatial or size == 0:
            bad.append(f"{name}={size} must be a positive multiple of {spatial}")
    if bad:
        raise ValueError("video shape not encodable by the LTX-2 VAE: " + "; ".join(bad))


def encode_video(
    pipe: LTX2Pipeline, frames: torch.Tensor, *, sample: bool = False, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pixels ``[B, 3, F, H, W]`` in ``[-1, 1]`` -> normalised latents ``[B, 128, (F-1)/8+1, H/32, W/32]``.

    The posterior's mode (or a sample with ``sample=True``) is normalised with the VAE's
    ``latents_mean`` / ``latents_std`` / ``scaling_factor`` exactly inverse to the pipeline's
    decoding, so ``pipe(latents=...)`` or the denoising loop see the same space. Runs without
    gradients (the VAE is frozen); returns float32.
    """
    import torch

    vae = pipe.vae
    check_video_shape(frames, vae.temporal_compression_ratio, vae.spatial_compression_ratio)
    pixels = frames.to(device=vae.device, dtype=vae.dtype)
    with torch.no_grad():
        posterior = vae.encode(pixels).latent_dist
        latents = posterior.sample(generator) if sample else posterior.mode()
        latents = pipe._normalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
    return latents.float()


def decode_video(pipe: LTX2Pipeline, latents: torch.Tensor) -> torch.Tensor:
    """Normalised latents ``[B, 128, F', H', W']`` -> pixels ``[B, 3, 8(F'-1)+1, 32H', 32W']`` in
    ``[-1, 1]`` (no decode-time noise: the pipeline's default ``decode_timestep=0``)."""
    import torch

    vae = pipe.vae
    with torch.no_grad():
        z = pipe._denormalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
        timestep = None
        if vae.config.timestep_conditioning:
            timestep = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype)
        video = vae.decode(z.to(device=vae.device, dtype=vae.dtype), timestep, return_dict=False)[0]
    return video.float()


def encode_prompts(
    pipe: LTX2Pipeline, prompts: list[str], max_sequence_length: int = 1024
) -> dict[str, torch.Tensor]:
    """Text conditioning exactly as ``LTX2Pipeline.__call__`` builds it (without guidance).

    Runs the pipeline's own ``encode_prompt`` (Gemma hidden states of every layer, left padded
    to ``max_sequence_length`` tokens; the pipeline's default is 1024, and evaluation must use the
    same length since padding is replaced by learned registers) and then the connectors.

    Returns ``{"video_embeds": [B, S, Dv], "audio_embeds": [B, S, Da], "attention_mask": [B, S]}``
    with ``S = max_sequence_length``; Dv/Da are the transformer's text widths (2.3: 4096/2048;
    2.0: 3840 for both, projected inside the transformer). Runs without gradients: the text
    encoder and connectors are frozen.
    """
    import torch

    if isinstance(prompts, str):
        prompts = [prompts]
    registers = pipe.connectors.config.video_connector_num_learnable_registers
    if registers and max_sequence_length % registers:
        raise ValueError(
            f"max_sequence_length={max_sequence_length} must be a multiple of the connectors' "
            f"{registers} learnable registers (the pipeline's default is 1024)"
        )
    device = pipe._execution_device
    with torch.no_grad():
        prompt_embeds, prompt_mask, _, _ = pipe.encode_prompt(
            prompt=list(prompts),
            negative_prompt=None,
            do_classifier_free_guidance=False,
            num_videos_per_prompt=1,
            max_sequence_length=max_sequence_length,
            device=device,
        )
        # encode_prompt has just forced left padding on the tokenizer; the connectors need to know.
        padding_side = getattr(pipe.tokenizer, "padding_side", "left")
        video_embeds, audio_embeds, mask = pipe.connectors(prompt_embeds, prompt_mask, padding_side=padding_side)
    # contiguous: callers cache these with safetensors, which refuses strided views
    return {
        "video_embeds": video_embeds.contiguous(),
        "audio_embeds": audio_embeds.contiguous(),
        "attention_mask": mask.contiguous(),
    }


def audio_latent_length(pipe: LTX2Pipeline, latent_frames: int, frame_rate: float = 24.0) -> int:
    """Audio latent frames the pipeline pairs with ``latent_frames`` video latents at ``frame_rate``."""
    num_frames = (latent_frames - 1) * pipe.vae_temporal_compression_ratio + 1
    per_second = pipe.audio_sampling_rate / pipe.audio_hop_length / float(pipe.audio_vae_temporal_compression_ratio)
    return round(num_frames / frame_rate * per_second)


def noisy_latents(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """``x_sigma = (1 - sigma) * x0 + sigma * noise`` with ``sigma`` a float or ``[B]``."""
    import torch

    s = torch.as_tensor(sigma, dtype=x0.dtype, device=x0.device)
    if s.ndim == 1:
        s = s.view(-1, *([1] * (x0.ndim - 1)))
    return (1 - s) * x0 + s * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The flow-matching target ``noise - x0``: the scheduler's Euler step
    ``x_next = x + (sigma_next - sigma) * v`` moves ``x_sigma`` to ``x_sigma_next`` exactly when
    ``v = noise - x0``, and the pipeline's ``convert_velocity_to_x0`` is ``x - sigma * v``."""
    return noise - x0


def _batch_sigma(sigma: torch.Tensor | float, batch: int, device: torch.device) -> torch.Tensor:
    import torch

    s = torch.as_tensor(sigma, dtype=torch.float32, device=device).flatten()
    if s.numel() == 1:
        s = s.expand(batch)
    if s.numel() != batch:
        raise ValueError(f"sigma has {s.numel()} values for a batch of {batch}")
    return s


def _batch_cond(text_cond: Mapping[str, torch.Tensor], batch: int) -> dict[str, torch.Tensor]:
    out = {}
    for key in ("video_embeds", "audio_embeds", "attention_mask"):
        value = text_cond[key]
        if value.shape[0] == 1 and batch > 1:
            value = value.expand(batch, *value.shape[1:])
        elif value.shape[0] != batch:
            raise ValueError(f"text_cond[{key!r}] has batch {value.shape[0]}, latents have {batch}")
        out[key] = value
    return out


@dataclass
class ForwardOutput:
    """Velocity predictions, unpacked: video ``[B, 128, F', H', W']``, audio ``[B, 8, L, 16]``."""

    video: torch.Tensor
    audio: torch.Tensor
    audio_sigma: torch.Tensor = field(repr=False)


def transformer_forward(
    pipe: LTX2Pipeline,
    video_latents: torch.Tensor,
    audio_latents: torch.Tensor | None,
    text_cond: Mapping[str, torch.Tensor],
    sigma: torch.Tensor | float,
    *,
    audio_sigma: torch.Tensor | float | None = None,
    frame_rate: float = 24.0,
    use_cross_timestep: bool | None = None,
    generator: torch.Generator | None = None,
    return_audio: bool = False,
) -> torch.Tensor | ForwardOutput:
    """One denoising-step transformer call, built exactly as in ``LTX2Pipeline.__call__``.

    ``video_latents``: noisy normalised latents ``x_sigma`` ``[B, 128, F', H', W']``.
    ``audio_latents``: noisy normalised audio latents ``[B, 8, L, 16]`` at ``audio_sigma``
    (default: ``sigma``), or ``None`` for video-only training: then the audio stream is pure
    Gaussian noise of the length the pipeline would generate (:func:`audio_latent_length`) at
    ``audio_sigma = 1`` — the pipeline's own first-step audio input, and the only audio state
    that is consistent at every video noise level.
    ``text_cond``: :func:`encode_prompts` output (batch B or 1).
    ``sigma``: float or ``[B]`` in ``[0, 1]``; passed as ``timestep = sigma * 1000`` *and* as
    ``sigma = sigma * 1000`` (2.3's prompt modulation; the pipeline passes the scaled value too).

    Latents are packed with the pipeline's ``_pack_latents`` / ``_pack_audio_latents``, RoPE
    coordinates come from the transformer's own ``prepare_video_coords`` (at ``frame_rate``) and
    ``prepare_audio_coords``. Returns the video velocity ``[B, 128, F', H', W']`` in float32 (with
    gradients when enabled), or a :class:`ForwardOutput` with ``return_audio=True``.
    """
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    transformer = pipe.transformer
    batch, channels, frames, height, width = video_latents.shape
    device = video_latents.device
    cond = _batch_cond(text_cond, batch)
    dtype = cond["video_embeds"].dtype  # the pipeline casts its inputs to the prompt dtype
    p, pt = pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size

    video_sigma = _batch_sigma(sigma, batch, device)
    if audio_latents is None:
        length = audio_latent_length(pipe, frames, frame_rate)
        # same fallbacks as the pipeline, so this works after a trainer drops the audio VAE
        audio_vae = getattr(pipe, "audio_vae", None)
        mel_bins = audio_vae.config.mel_bins if audio_vae is not None else 64
        latent_channels = audio_vae.config.latent_channels if audio_vae is not None else 8
        shape = (batch, latent_channels, length, mel_bins // pipe.audio_vae_mel_compression_ratio)
        audio_latents = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        audio_sig = _batch_sigma(1.0 if audio_sigma is None else audio_sigma, batch, device)
    else:
        audio_sig = _batch_sigma(sigma if audio_sigma is None else audio_sigma, batch, device)
    audio_frames, mel_bins = audio_latents.shape[2], audio_latents.shape[3]

    if use_cross_timestep is None:
        found = detect_version(transformer.config)
        use_cross_timestep = VERSIONS[found].use_cross_timestep if found else True

    hidden = pipe._pack_latents(video_latents, p, pt).to(dtype)
    audio_hidden = pipe._pack_audio_latents(audio_latents.to(device)).to(dtype)
    fps = float(frame_rate)
    video_coords = transformer.rope.prepare_video_coords(batch, frames, height, width, device, fps=fps)
    audio_coords = transformer.audio_rope.prepare_audio_coords(batch, audio_frames, device)
    timestep = video_sigma * pipe.scheduler.config.num_train_timesteps
    audio_timestep = audio_sig * pipe.scheduler.config.num_train_timesteps

    video_out, audio_out = transformer(
        hidden_states=hidden,
        audio_hidden_states=audio_hidden,
        encoder_hidden_states=cond["video_embeds"],
        audio_encoder_hidden_states=cond["audio_embeds"],
        timestep=timestep,
        audio_timestep=audio_timestep,
        sigma=timestep,  # the pipeline passes sigma=timestep: the scaled value
        audio_sigma=audio_timestep,
        encoder_attention_mask=cond["attention_mask"],
        audio_encoder_attention_mask=cond["attention_mask"],
        num_frames=frames,
        height=height,
        width=width,
        fps=fps,
        audio_num_frames=audio_frames,
        video_coords=video_coords,
        audio_coords=audio_coords,
        isolate_modalities=False,
        spatio_temporal_guidance_blocks=None,
        perturbation_mask=None,
        use_cross_timestep=use_cross_timestep,
        return_dict=False,
    )
    video_v = pipe._unpack_latents(video_out.float(), frames, height, width, p, pt)
    if not return_audio:
        return video_v
    audio_v = pipe._unpack_audio_latents(audio_out.float(), audio_frames, num_mel_bins=mel_bins)
    return ForwardOutput(video=video_v, audio=audio_v, audio_sigma=audio_sig)
