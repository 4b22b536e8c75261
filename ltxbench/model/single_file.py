"""Official single-file LTX-2 checkpoints (the layout of Lightricks' releases, ltx-core and ComfyUI)
read into diffusers modules.

An official checkpoint such as ``ltx-2.3-22b-dev.safetensors`` holds every model except the Gemma
text encoder, under these key prefixes (as ltx-core's loaders filter them):

* ``model.diffusion_model.``: the audio-video transformer, and inside it the text connectors'
  blocks (``video_embeddings_connector`` / ``audio_embeddings_connector``);
* ``text_embedding_projection.``: the connectors' input projections (2.0: ``aggregate_embed``;
  2.3: ``video_aggregate_embed`` / ``audio_aggregate_embed``);
* ``vae.``, ``audio_vae.``, ``vocoder.``: the video VAE, audio VAE and vocoder.

LTX-2.5 is released as one file per component instead (ComfyUI folder names): its transformer file,
``diffusion_models/ltx-2.5-22b-dev-transformer-bf16.safetensors``, has the same
``model.diffusion_model.`` keys (connector blocks included) and metadata, minus the video
feed-forward biases and plus ``keyframes_abs_pos_embedding``; its ``text_embedding_projection.*``
sits in the Gemma 4 file (``text_encoders/gemma4-12b-with-proj-ltx-2.5-bf16.safetensors``), so
:func:`load_connectors` takes the projection from the pipeline's own connectors.

Its safetensors metadata carries the model configuration (``config``: JSON with a ``transformer``
section in ltx-core's own field names, which ltx-core's configurators read).

The conversion is written here rather than taken from diffusers 0.42.1, whose single-file map for
LTX-2 is the 2.0 one: it rewrites the substring ``adaln_single`` and so turns 2.3's
``prompt_adaln_single`` into a module that does not exist. Module names are converted per path
component by :mod:`ltxbench.lora.check.names` (the same table LoRA files go through), and every key
is accounted for: a key no rule maps, or a parameter the diffusers module expects and the file
lacks, is an error listing them, never silently dropped. ``tests/test_single_file.py`` proves the
conversion against ltx-core itself: the same weights give the same velocities in ltx-core's
``LTXModel`` and in diffusers' transformer after this conversion.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ltxbench import errors
from ltxbench.errors import Problem
from ltxbench.lora.check import names
from ltxbench.model import versions

if TYPE_CHECKING:
    import torch

log = logging.getLogger("ltxbench")

TRANSFORMER_PREFIX = "model.diffusion_model."
PROJECTION_PREFIX = "text_embedding_projection."
SPLIT_TRANSFORMER_FOLDER = "diffusion_models/"
"""Where LTX-2.5's split release keeps its transformer files (ComfyUI's folder name)."""
# The other models a single file holds, by prefix.
OTHER_PREFIXES: dict[str, str] = {"vae.": "vae", "audio_vae.": "audio_vae", "vocoder.": "vocoder"}
# Connector blocks live inside diffusion_model in the official layout; diffusers keeps them in
# their own ``connectors`` component. (``embeddings_connector`` is a video-only model's name.)
_CONNECTOR_BLOCK_ROOTS = ("video_embeddings_connector.", "audio_embeddings_connector.", "embeddings_connector.")


class CheckpointKeyError(ValueError):
    """Keys of a checkpoint that no conversion rule accounts for, or parameters it lacks."""


class CheckpointFormatError(ValueError):
    """A file that is not an official single-file LTX-2 checkpoint (or lacks what loading needs)."""


@dataclass(frozen=True)
class OfficialCheckpoint:
    """What a single-file checkpoint's header says, read without loading a tensor."""

    path: Path
    keys: tuple[str, ...]
    config: dict[str, Any]
    """The metadata ``config`` (ltx-core's field names); ``{}`` when the file has none."""
    components: dict[str, list[str]]
    """The keys by diffusers component (:func:`split_components`)."""

    def component_keys(self) -> dict[str, list[str]]:
        return self.components


def read_checkpoint(path: str | Path) -> OfficialCheckpoint:
    """Header of an official single-file checkpoint: its keys by component and its metadata ``config``.

    A key outside the official layout is a :class:`CheckpointKeyError` here, before any tensor is read.
    """
    p, keys, meta = read_header(path, "checkpoint")
    config: dict[str, Any] = {}
    if "config" in meta:
        try:
            config = json.loads(meta["config"])
        except json.JSONDecodeError as exc:
            raise CheckpointFormatError(f"{p}: its metadata 'config' is not JSON ({exc})") from exc
        if not isinstance(config, dict):
            raise CheckpointFormatError(f"{p}: its metadata 'config' is not a JSON object")
        if not isinstance(config.get("transformer", {}), dict):
            raise CheckpointFormatError(f"{p}: its metadata config's 'transformer' section is not a JSON object")
    return OfficialCheckpoint(p, keys, config, split_components(keys, p.name))


def read_header(path: str | Path, what: str) -> tuple[Path, tuple[str, ...], dict[str, str]]:
    """``(path, keys, metadata)`` of a safetensors file, no tensor read; ``what`` names it in errors."""
    from safetensors import safe_open

    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{what} {p} does not exist")
    try:
        with safe_open(str(p), framework="pt") as f:
            return p, tuple(f.keys()), f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for a damaged header
        raise CheckpointFormatError(f"{p} is not a readable safetensors file: {exc}") from exc


def open_checkpoint(path: str | Path, version: str) -> OfficialCheckpoint:
    """:func:`read_checkpoint`, then what loading needs from the header: a ``config`` with a
    ``transformer`` section, and keys (and config) of LTX-``version``.

    Raises ``FileNotFoundError``, :class:`CheckpointFormatError`, :class:`CheckpointKeyError` or
    :class:`~ltxbench.errors.VersionMismatchError`, each naming the file and what is wrong with it.
    """
    try:
        checkpoint = read_checkpoint(path)
    except CheckpointKeyError as exc:
        if version == "2.5":  # the split release: the other files are not transformer files
            raise CheckpointKeyError(f"{exc}; LTX-2.5 is released as one file per component, and "
                                     f"model.checkpoint takes its transformer file "
                                     f"({SPLIT_TRANSFORMER_FOLDER}ltx-2.5-22b-dev-transformer-bf16.safetensors)") from exc
        raise
    _require_config(checkpoint)
    found = detect_version(checkpoint)
    if found != version:
        raise errors.VersionMismatchError(f"{checkpoint.path} holds LTX-{found} weights (by its keys) but "
                                       f"model.version is {version!r}; set model.version: {found!r} or "
                                       f"point model.checkpoint at an LTX-{version} file")
    return checkpoint


def _require_config(checkpoint: OfficialCheckpoint) -> None:
    if not checkpoint.config.get("transformer"):
        raise CheckpointFormatError(
            f"{checkpoint.path} has no 'config' metadata with a 'transformer' section: official LTX-2 "
            "checkpoints carry one (ltx-core reads the model's shape from it), so this file was saved "
            "by another tool; convert it with that tool to diffusers format instead")


def split_components(keys: Iterable[str], source: str = "the checkpoint") -> dict[str, list[str]]:
    """Keys by diffusers component: ``transformer``, ``connectors``, ``vae``, ``audio_vae``, ``vocoder``.

    A key under none of the official prefixes is an error naming it: a file that is not an official
    LTX-2 checkpoint, or a part this version of ltxbench does not know, must not load half-way.
    """
    found: dict[str, list[str]] = {"transformer": [], "connectors": [], "vae": [], "audio_vae": [], "vocoder": []}
    unknown: list[str] = []
    for key in keys:
        if key.startswith(TRANSFORMER_PREFIX):
            rest = key[len(TRANSFORMER_PREFIX):]
            found["connectors" if rest.startswith(_CONNECTOR_BLOCK_ROOTS) else "transformer"].append(key)
        elif key.startswith(PROJECTION_PREFIX):
            found["connectors"].append(key)
        else:
            component = next((c for prefix, c in OTHER_PREFIXES.items() if key.startswith(prefix)), None)
            (found[component] if component else unknown).append(key)
    if unknown:
        raise CheckpointKeyError(key_listing(f"{source}: {len(unknown)} key(s) outside the official LTX-2 layout "
                                          f"(model.diffusion_model., text_embedding_projection., vae., audio_vae., "
                                          f"vocoder.)", unknown))
    return found


def key_listing(head: str, keys: Iterable[str], limit: int = 12) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:limit])
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return f"{head}: {shown}{more}"


# ---------------------------------------------------------------------------------------
# Key names
# ---------------------------------------------------------------------------------------


def diffusers_key(official_key: str) -> tuple[str, str]:
    """``(component, diffusers parameter name)`` of a transformer or connector key.

    ``model.diffusion_model.prompt_adaln_single.linear.weight`` ->
    ``("transformer", "prompt_adaln.linear.weight")``;
    ``text_embedding_projection.video_aggregate_embed.weight`` ->
    ``("connectors", "video_text_proj_in.weight")``.
    """
    if official_key.startswith(TRANSFORMER_PREFIX):
        return names.to_diffusers(official_key[len(TRANSFORMER_PREFIX):])
    if official_key.startswith(PROJECTION_PREFIX):
        return names.to_diffusers(official_key)
    raise CheckpointKeyError(f"{official_key} is not a transformer or text-connector key")


def convert_state_dict(official: Mapping[str, Any], component: str) -> dict[str, Any]:
    """Official keys of one component (``transformer`` or ``connectors``) -> diffusers names.

    Two official keys landing on one diffusers name is an error (a rename rule that is too broad).
    """
    out: dict[str, Any] = {}
    for key, value in official.items():
        found, name = diffusers_key(key)
        if found != component:
            raise CheckpointKeyError(f"{key} belongs to {found}, not {component}")
        if name in out:
            raise CheckpointKeyError(f"two keys of the checkpoint map to {component}.{name}")
        out[name] = value
    return out


# The video VAE. ltx-core builds its encoder and decoder as one flat list of blocks that alternates
# resnet stages and resampling convolutions (``encoder_blocks`` / ``decoder_blocks`` in the config);
# diffusers groups each resampler with the resnets beside it. Encoder list: res, down, res, down, ...,
# res (the last one is diffusers' mid block). Decoder list (as built, latent side first): res (mid
# block), up, res, up, res, ...
_VAE_STATISTICS = {"mean-of-means": "latents_mean", "std-of-means": "latents_std"}
# Statistics official files carry that neither ltx-core's VAE nor diffusers' reads.
_VAE_UNUSED_STATISTICS = ("channel", "mean-of-stds", "std-of-stds", "mean-of-stds_over_std-of-means")


def _vae_block(side: str, index: int, last: int) -> str:
    if side == "encoder":
        if index == last:
            return "mid_block"
        return f"down_blocks.{index // 2}" + (".downsamplers.0" if index % 2 else "")
    if index == 0:
        return "mid_block"
    return f"up_blocks.{(index - 1) // 2}" + (".upsamplers.0" if index % 2 else "")


def convert_video_vae(official: Mapping[str, Any]) -> dict[str, Any]:
    """Official ``vae.*`` keys -> ``AutoencoderKLLTX2Video`` names (statistics no model reads are
    dropped by name; anything else unknown is left as it is, for :func:`check_complete` to name)."""
    last = {side: max((int(k.split(".")[3]) for k in official if k.startswith(f"vae.{side}.{kind}.")), default=-1)
            for side, kind in (("encoder", "down_blocks"), ("decoder", "up_blocks"))}
    out: dict[str, Any] = {}
    for key, value in official.items():
        parts = key.split(".")[1:]  # without "vae."
        if parts[0] == "per_channel_statistics":
            stat = ".".join(parts[1:])
            if stat in _VAE_UNUSED_STATISTICS:
                continue
            name = _VAE_STATISTICS.get(stat, key)
        elif len(parts) > 2 and parts[0] in ("encoder", "decoder") and parts[1] in ("down_blocks", "up_blocks") \
                and parts[2].isdigit():
            block = _vae_block(parts[0], int(parts[2]), last[parts[0]])
            rest = ["resnets" if p == "res_blocks" else p for p in parts[3:]]
            name = ".".join([parts[0], block, *rest])
        else:
            name = ".".join(parts)
        if name in out:
            raise CheckpointKeyError(f"two keys of the checkpoint map to vae.{name}")
        out[name] = value
    return out


def check_complete(module: "torch.nn.Module", state: Mapping[str, Any], component: str, source: str) -> None:
    """Every parameter of ``module`` present in ``state`` with its shape, and nothing left over."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unused = [k for k in state if k not in expected]
    problems = []
    if unused:
        problems.append(key_listing(f"{len(unused)} key(s) of {source} that no {component} parameter takes "
                                 f"(a conversion rule is missing)", unused))
    if missing:
        problems.append(key_listing(f"{len(missing)} {component} parameter(s) that {source} lacks", missing))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if shapes:
        problems.append(key_listing(f"{len(shapes)} {component} parameter(s) of another shape (file vs model)", shapes))
    if problems:
        raise CheckpointKeyError("; ".join(problems))


# ---------------------------------------------------------------------------------------
# Configs: ltx-core's field names -> diffusers'
# ---------------------------------------------------------------------------------------

# What every LTX-2 release shares and diffusers' config needs but ltx-core's does not spell out
# (ltx-core fixes these in code: patchifier, VAE compression, audio latent rate).
_TRANSFORMER_FIXED: dict[str, Any] = {
    "patch_size": 1, "patch_size_t": 1, "audio_patch_size": 1, "audio_patch_size_t": 1,
    "vae_scale_factors": (8, 32, 32), "audio_scale_factor": 4, "audio_sampling_rate": 16000,
    "audio_hop_length": 160, "activation_fn": "gelu-approximate", "qk_norm": "rms_norm_across_heads",
    "norm_elementwise_affine": False, "attention_bias": True, "attention_out_bias": True, "causal_offset": 1,
}


def transformer_config(config: Mapping[str, Any], version: str) -> dict[str, Any]:
    """``LTX2VideoTransformer3DModel`` keyword arguments from a checkpoint's ``config``.

    Defaults are ltx-core's (``LTXModelConfigurator``), so a field the file omits means what it
    means to ltx-core.
    """
    try:
        return _transformer_config(config.get("transformer", {}), version)
    except (TypeError, ValueError, IndexError) as exc:  # a field of the wrong type or length
        raise CheckpointFormatError(f"the checkpoint's metadata config cannot describe a transformer: {exc}") from exc


def _transformer_config(t: Mapping[str, Any], version: str) -> dict[str, Any]:
    max_pos = list(t.get("positional_embedding_max_pos", [20, 2048, 2048]))
    gated = bool(t.get("apply_gated_attention", False))
    adaln = bool(t.get("cross_attention_adaln", False))
    return {
        **_TRANSFORMER_FIXED,
        "in_channels": t.get("in_channels", 128), "out_channels": t.get("out_channels", 128),
        "num_attention_heads": t.get("num_attention_heads", 32), "attention_head_dim": t.get("attention_head_dim", 128),
        "cross_attention_dim": t.get("cross_attention_dim", 4096), "num_layers": t.get("num_layers", 48),
        "audio_in_channels": t.get("audio_in_channels", 128), "audio_out_channels": t.get("audio_out_channels", 128),
        "audio_num_attention_heads": t.get("audio_num_attention_heads", 32),
        "audio_attention_head_dim": t.get("audio_attention_head_dim", 64),
        "audio_cross_attention_dim": t.get("audio_cross_attention_dim", 2048),
        "norm_eps": t.get("norm_eps", 1e-6),
        "pos_embed_max_pos": max_pos[0], "base_height": max_pos[1], "base_width": max_pos[2],
        "audio_pos_embed_max_pos": list(t.get("audio_positional_embedding_max_pos", [20]))[0],
        "rope_theta": t.get("positional_embedding_theta", 10000.0),
        "rope_type": t.get("rope_type", "interleaved"),
        "rope_double_precision": t.get("frequencies_precision", False) == "float64",
        "timestep_scale_multiplier": t.get("timestep_scale_multiplier", 1000),
        "cross_attn_timestep_scale_multiplier": t.get("av_ca_timestep_scale_multiplier", 1),
        "caption_channels": t.get("caption_channels", 3840),
        # 2.3 moved the caption projection into the text connectors
        "use_prompt_embeddings": not t.get("caption_proj_before_connector", False),
        "gated_attn": gated, "audio_gated_attn": gated, "cross_attn_mod": adaln, "audio_cross_attn_mod": adaln,
        "perturbed_attn": version != "2.0",
        # 2.5's two deltas, in ltx-core's own field names (the released 2.5 transformer's metadata
        # carries ff_bias: false and use_keyframes_abs_pos_embedding: true, and no audio_ff_bias)
        "ff_bias": bool(t.get("ff_bias", True)), "audio_ff_bias": bool(t.get("audio_ff_bias", True)),
        "use_keyframes_abs_pos_embedding": bool(t.get("use_keyframes_abs_pos_embedding", False)),
    }


def connectors_config(config: Mapping[str, Any], text_hidden_size: int, text_layers: int,
                      registers: tuple[int | None, int | None]) -> dict[str, Any]:
    """``LTX2TextConnectors`` keyword arguments from a checkpoint's ``config``, the text encoder's
    width and depth (the connectors read every hidden state: ``layers + 1`` of them) and the
    learnable-register counts found in the file (their shapes are the only record of them)."""
    try:
        return _connectors_config(config.get("transformer", {}), text_hidden_size, text_layers, registers)
    except (TypeError, ValueError, IndexError) as exc:
        raise CheckpointFormatError(f"the checkpoint's metadata config cannot describe text connectors: {exc}") from exc


def _connectors_config(t: Mapping[str, Any], text_hidden_size: int, text_layers: int,
                       registers: tuple[int | None, int | None]) -> dict[str, Any]:
    per_modality = bool(t.get("caption_proj_before_connector", False))
    heads = t.get("connector_num_attention_heads", 30)
    head_dim = t.get("connector_attention_head_dim", 128)
    layers = t.get("connector_num_layers", 2)
    return {
        "caption_channels": text_hidden_size, "text_proj_in_factor": text_layers + 1,
        "video_connector_num_attention_heads": heads, "video_connector_attention_head_dim": head_dim,
        "video_connector_num_layers": layers, "video_connector_num_learnable_registers": registers[0],
        "audio_connector_num_attention_heads": t.get("audio_connector_num_attention_heads", heads),
        "audio_connector_attention_head_dim": t.get("audio_connector_attention_head_dim", head_dim),
        "audio_connector_num_layers": t.get("audio_connector_num_layers", layers),
        "audio_connector_num_learnable_registers": registers[1],
        "video_gated_attn": bool(t.get("connector_apply_gated_attention", False)),
        "audio_gated_attn": bool(t.get("connector_apply_gated_attention", False)),
        "rope_type": t.get("rope_type", "interleaved"),
        "rope_double_precision": t.get("frequencies_precision", False) == "float64",
        # ltx-core's connectors never take the transformer's theta: they build their RoPE at 10000
        "rope_theta": 10000.0,
        # ltx-core divides token positions by this maximum; diffusers calls it the base length
        "connector_rope_base_seq_len": list(t.get("connector_positional_embedding_max_pos", [1]))[0],
        "causal_temporal_positioning": False,
        "per_modality_projections": per_modality,
        "video_hidden_dim": t.get("num_attention_heads", 32) * t.get("attention_head_dim", 128),
        "audio_hidden_dim": t.get("audio_num_attention_heads", 32) * t.get("audio_attention_head_dim", 64),
        "proj_bias": per_modality,  # 2.3's per-modality projections carry a bias, 2.0's one does not
    }


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def detect_version(checkpoint: OfficialCheckpoint) -> str:
    """The version the transformer's keys say, checked against the metadata config's flags."""
    converted = [diffusers_key(k)[1] for k in checkpoint.component_keys()["transformer"]]
    by_keys = versions.detect_version_from_keys(converted)
    if by_keys is None:
        raise CheckpointFormatError(
            f"{checkpoint.path}: its transformer keys match no known LTX-2 version "
            f"({', '.join(versions.LOADABLE_VERSIONS)}); is it an LTX-2 checkpoint?")
    if checkpoint.config:
        flags = {k: v for k, v in transformer_config(checkpoint.config, by_keys).items()
                 if k in versions.VERSIONS[by_keys].transformer_flags}
        by_config = versions.detect_version(flags)
        if by_config != by_keys:
            raise errors.VersionMismatchError(
                f"{checkpoint.path}: its keys are LTX-{by_keys}'s but its metadata config describes "
                f"{'LTX-' + by_config if by_config else 'no known version'}")
    return by_keys


# fp8 checkpoints (ltx-core's scaled layout, e.g. ``ltx-2.3-22b-dev-fp8.safetensors``): a quantized
# linear keeps ``weight`` in float8_e4m3fn, in the usual [out, in] layout, beside a per-tensor
# ``weight_scale`` (the real weight is ``weight * weight_scale``, as ltx-core's LoRA fusion
# dequantizes it) and an ``input_scale`` for TensorRT-LLM's static activation quantization.
WEIGHT_SCALE = ".weight_scale"
INPUT_SCALE = ".input_scale"


def _fp8_types() -> tuple[Any, ...]:
    import torch

    return tuple(getattr(torch, name) for name in ("float8_e4m3fn", "float8_e5m2") if hasattr(torch, name))


def checkpoint_problems(path: str | Path, version: str) -> list[Problem]:
    """Problems with ``model.checkpoint`` found from its header alone (no tensor read, no torch
    model built): missing, unreadable, keys outside the layout, no config, another version."""
    try:
        open_checkpoint(path, version)
    except FileNotFoundError:
        return [Problem("model.checkpoint", str(path), "file not found; ComfyUI keeps the official files in "
                                                       "ComfyUI/models/diffusion_models/ (ltx-2.3-22b-dev.safetensors, "
                                                       "ltx-2.3-22b-dev-fp8.safetensors; for LTX-2.5 "
                                                       "ltx-2.5-22b-dev-transformer-bf16.safetensors)")]
    except (CheckpointFormatError, CheckpointKeyError, errors.VersionMismatchError) as exc:
        return [Problem("model.checkpoint", str(path), str(exc))]
    return []


def read_tensors(path: Path, keys: Iterable[str], dtype: "torch.dtype | None") -> dict[str, Any]:
    """Tensors of ``keys``, fp8 weights dequantized (their scales folded in and dropped).

    ``input_scale`` is read and dropped on purpose: ltxbench computes in bf16/fp32, so the static
    activation scale a fp8 matmul kernel would use has no role. An fp8 weight without a scale was
    cast as it was (ltx-core's ``fp8_cast``) and is upcast as it is. A scale without its weight is
    an error. Dequantized weights come out in ``dtype`` (bfloat16 when none is asked for).
    """
    import torch
    from safetensors import safe_open

    keys = list(keys)
    wanted = set(keys)
    fp8 = _fp8_types()
    out: dict[str, Any] = {}
    with safe_open(str(path), framework="pt") as f:
        for key in keys:
            if key.endswith((WEIGHT_SCALE, INPUT_SCALE)):
                owner = key.rsplit(".", 1)[0] + ".weight"
                if owner not in wanted:
                    raise CheckpointKeyError(f"{path.name}: {key} scales a weight the file does not have ({owner})")
                continue
            tensor = f.get_tensor(key)
            if tensor.dtype in fp8:
                scale_key = key[: -len(".weight")] + WEIGHT_SCALE if key.endswith(".weight") else None
                # without a scale the weight was cast to fp8 as it was (ltx-core's fp8_cast policy)
                tensor = tensor.to(torch.float32)
                if scale_key and scale_key in wanted:
                    scale = f.get_tensor(scale_key)
                    if scale.numel() != 1:  # ltx-core's scaled layout is per tensor; another is another format
                        raise CheckpointFormatError(f"{path.name}: {scale_key} has shape {tuple(scale.shape)}; only "
                                                    f"per-tensor fp8 scales (one number) are understood")
                    tensor = tensor * scale.to(torch.float32)
                tensor = tensor.to(dtype or torch.bfloat16)
            elif dtype is not None and tensor.is_floating_point():
                tensor = tensor.to(dtype)
            out[key] = tensor
    return out


def build_module(cls: Any, kwargs: Mapping[str, Any], state: Mapping[str, Any], component: str, source: str) -> Any:
    """``cls(**kwargs)`` with ``state`` as its parameters, every one checked by :func:`check_complete`.

    Parameters start on the meta device (a 22B model is never initialised only to be overwritten);
    buffers are built for real, since some (rotary frequencies) are computed, not stored.
    """
    from accelerate import init_empty_weights

    try:
        with init_empty_weights(include_buffers=False):
            module = cls(**kwargs)
    except (TypeError, ValueError) as exc:  # e.g. heads that do not divide the width
        raise CheckpointFormatError(f"{source}: its metadata config does not make a {component} ({exc})") from exc
    check_complete(module, state, component, source)
    module.load_state_dict(state, strict=True, assign=True)
    return module.eval()


def load_transformer(checkpoint: OfficialCheckpoint, version: str, dtype: "torch.dtype | None" = None) -> Any:
    """The checkpoint's transformer as ``LTX2VideoTransformer3DModel`` (weights in ``dtype``, or
    as stored)."""
    from diffusers import LTX2VideoTransformer3DModel

    _require_config(checkpoint)
    keys = checkpoint.component_keys()["transformer"]
    official = read_tensors(checkpoint.path, keys, dtype)
    state = convert_state_dict(official, names.TRANSFORMER)
    return build_module(LTX2VideoTransformer3DModel, transformer_config(checkpoint.config, version), state,
                  names.TRANSFORMER, checkpoint.path.name)


def load_video_vae_into(checkpoint: OfficialCheckpoint, vae: Any, dtype: "torch.dtype | None" = None) -> Any:
    """Replace ``vae``'s weights (an ``AutoencoderKLLTX2Video`` whose config describes the same
    architecture) with the checkpoint's ``vae.*`` tensors; every key and parameter accounted for."""
    keys = checkpoint.component_keys()["vae"]
    state = convert_video_vae(read_tensors(checkpoint.path, keys, dtype or vae.dtype))
    check_complete(vae, state, "vae", checkpoint.path.name)
    vae.load_state_dict(state, strict=True)
    return vae


def has_text_projection(checkpoint: OfficialCheckpoint) -> bool:
    """Whether the file carries the connectors' input projection (``text_embedding_projection.*``):
    the 2.0/2.3 single files do; LTX-2.5's split transformer file does not (its text encoder file,
    ``text_encoders/gemma4-12b-with-proj-ltx-2.5-*.safetensors``, bundles it)."""
    return any(key.startswith(PROJECTION_PREFIX) for key in checkpoint.keys)


def text_projection(connectors: Any) -> dict[str, Any]:
    """The input-projection parameters of loaded ``LTX2TextConnectors`` (diffusers names)."""
    return {k: v for k, v in connectors.state_dict().items() if k.split(".")[0] in names.PROJECTION_MODULES}


def load_connectors(checkpoint: OfficialCheckpoint, text_hidden_size: int, text_layers: int,
                    dtype: "torch.dtype | None" = None, projection: Mapping[str, Any] | None = None) -> Any:
    """The checkpoint's text connectors as ``LTX2TextConnectors``; the text encoder's hidden size
    and layer count fix the width of their input projection.

    ``projection``: the input projection (:func:`text_projection` of the connectors that came with
    the text encoder) for a file without one (:func:`has_text_projection`). The projection travels
    with the encoder whose hidden states it reads, so the connector blocks come from the file and
    the projection from beside the encoder.
    """
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    keys = checkpoint.component_keys()["connectors"]
    state = convert_state_dict(read_tensors(checkpoint.path, keys, dtype), names.CONNECTORS)
    if not has_text_projection(checkpoint):
        if projection is None:
            raise CheckpointFormatError(
                f"{checkpoint.path.name} holds the text connectors' blocks but not their input projection "
                f"({PROJECTION_PREFIX}*), which LTX-2.5's split release keeps in its text encoder file; ltxbench "
                f"takes it from model.source's connectors, so model.source must be a pipeline of the same version")
        log.info("the text connectors' input projection comes from model.source (%s has none)", checkpoint.path.name)
        state.update({k: v.to(dtype) if dtype is not None else v for k, v in projection.items()})
    registers = tuple(state[f"{side}_connector.learnable_registers"].shape[0]
                      if f"{side}_connector.learnable_registers" in state else None for side in ("video", "audio"))
    kwargs = connectors_config(checkpoint.config, text_hidden_size, text_layers, registers)  # type: ignore[arg-type]
    return build_module(LTX2TextConnectors, kwargs, state, names.CONNECTORS, checkpoint.path.name)
