"""Tiny LTX-2 models built by ltx-core (Lightricks' own model code) and written as official
single-file checkpoints: the reference ltxbench's checkpoint loading is checked against.

The transformer comes from ltx-core's own configurator (``LTXModelConfigurator``), so its module
names, shapes and forward are the official ones; its config is written into the file's metadata
under ``config`` exactly as ltx-core reads it back. Sizes are the tiny pipeline's
(:data:`ltxbench.model.tiny.TINY_TRANSFORMER`), so one file can stand in for the transformer of a tiny
pipeline.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from ltxbench.model import tiny

# Fields ltx-core's configurator insists on (check_config_value): the released models' values.
_REQUIRED = dict(
    dropout=0.0, attention_bias=True, num_vector_embeds=None, activation_fn="gelu-approximate",
    num_embeds_ada_norm=1000, use_linear_projection=False, only_cross_attention=False,
    cross_attention_norm=True, double_self_attention=False, upcast_attention=False,
    standardization_norm="rms_norm", norm_elementwise_affine=False, qk_norm="rms_norm",
    positional_embedding_type="rope", use_audio_video_cross_attention=True, share_ff=False,
    av_cross_ada_norm=True, use_middle_indices_grid=True,
)


def tiny_config(version: str) -> dict[str, Any]:
    """ltx-core ``config`` of a tiny LTX-``version`` (2.0: caption projection in the transformer;
    2.3: gated attention, prompt modulation, projection in the text connectors)."""
    t = tiny.TINY_TRANSFORMER
    inner = t["num_attention_heads"] * t["attention_head_dim"]
    audio_inner = t["audio_num_attention_heads"] * t["audio_attention_head_dim"]
    new = version in ("2.3", "2.5")
    transformer = dict(
        _REQUIRED,
        num_attention_heads=t["num_attention_heads"], attention_head_dim=t["attention_head_dim"],
        num_layers=t["num_layers"], cross_attention_dim=inner,
        audio_num_attention_heads=t["audio_num_attention_heads"],
        audio_attention_head_dim=t["audio_attention_head_dim"], audio_cross_attention_dim=audio_inner,
        rope_type="split", frequencies_precision="float64", av_ca_timestep_scale_multiplier=1000,
        caption_channels=tiny.TINY_TEXT["hidden_size"], apply_gated_attention=new, cross_attention_adaln=new,
    )
    if new:  # the V2 text path: projection before the connector, and nothing else (ltx-core checks)
        transformer.update(caption_proj_before_connector=True, caption_projection_first_linear=False,
                           caption_proj_input_norm=False, caption_projection_second_linear=False)
    transformer.update(text_config_fields(version))
    if version == "2.5":  # the released 2.5 transformer's metadata: these two, and no audio_ff_bias
        transformer.update(ff_bias=False, use_keyframes_abs_pos_embedding=True)
    return {"transformer": transformer}


def tiny_transformer(version: str, seed: int = 0) -> torch.nn.Module:
    """ltx-core's ``LTXModel`` at tiny sizes with seeded random weights (float32)."""
    from ltx_core.model.transformer.model_configurator import LTXModelConfigurator

    # ltx-core 1.0.0 predates 2.5: a 2.5 model is its 2.3 model made bias-free by :func:`save_split_25`
    model = LTXModelConfigurator.from_config(tiny_config("2.3" if version == "2.5" else version)).to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            # large enough that every gate, modulation and projection moves the output
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return model.eval()


def save_official(path: Path, transformer: torch.nn.Module, version: str,
                  extra: dict[str, torch.Tensor] | None = None, dtype: torch.dtype | None = None) -> Path:
    """``transformer``'s weights under ``model.diffusion_model.`` (plus ``extra`` keys as given),
    with the ltx-core config in the metadata: the official single-file layout."""
    from safetensors.torch import save_file

    tensors = {f"model.diffusion_model.{k}": v.detach().contiguous() for k, v in transformer.state_dict().items()}
    tensors.update(extra or {})
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
    save_file(tensors, str(path), metadata={"config": json.dumps(tiny_config(version))})
    return path


_VIDEO_FF_BIAS = re.compile(r"^transformer_blocks\.\d+\.ff\.net\.(0\.proj|2)\.bias$")


def save_split_25(path: Path, transformer: torch.nn.Module, connector_blocks: dict[str, torch.Tensor],
                  seed: int = 5) -> Path:
    """LTX-2.5's split transformer file, made from ltx-core's 2.3 ``transformer``.

    The released 2.5 transformer header differs from 2.3's by exactly two things (a header capture
    of ``ltx-2.5-22b-distilled-transformer-bf16.safetensors`` in a public conformance test: the
    video feed-forward's 96 biases gone, one ``keyframes_abs_pos_embedding`` [1, dim] added, the
    audio feed-forward's biases kept), and holds the connector blocks but no
    ``text_embedding_projection.*``. ltx-core 1.0.0 cannot build a bias-free feed-forward, so the
    video biases of ``transformer`` are zeroed in place (its forward is then the 2.5 one for every
    token that is no keyframe) and left out of the file."""
    from safetensors.torch import save_file

    with torch.no_grad():
        for name, param in transformer.named_parameters():
            if _VIDEO_FF_BIAS.match(name):
                param.zero_()
    tensors = {f"model.diffusion_model.{k}": v.detach().contiguous()
               for k, v in transformer.state_dict().items() if not _VIDEO_FF_BIAS.match(k)}
    inner = tiny.TINY_TRANSFORMER["num_attention_heads"] * tiny.TINY_TRANSFORMER["attention_head_dim"]
    g = torch.Generator().manual_seed(seed)
    tensors["model.diffusion_model.keyframes_abs_pos_embedding"] = torch.randn(1, inner, generator=g)
    tensors.update({k: v for k, v in connector_blocks.items() if k.startswith("model.diffusion_model.")})
    save_file(tensors, str(path), metadata={"config": json.dumps(tiny_config("2.5"))})
    return path


def core_velocity(model: torch.nn.Module, video_tokens: torch.Tensor, audio_tokens: torch.Tensor,
                  video_coords: torch.Tensor, audio_coords: torch.Tensor, video_context: torch.Tensor,
                  audio_context: torch.Tensor, mask: torch.Tensor, video_sigma: float,
                  audio_sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """ltx-core's velocity for packed tokens, every token at its modality's sigma (as in training)."""
    from ltx_core.guidance.perturbations import BatchedPerturbationConfig
    from ltx_core.model.transformer.modality import Modality

    batch = video_tokens.shape[0]

    def modality(tokens, coords, context, sigma):
        return Modality(latent=tokens, sigma=torch.full((batch,), sigma), positions=coords, context=context,
                        timesteps=torch.full(tokens.shape[:2], sigma), context_mask=mask)

    with torch.no_grad():
        return model(modality(video_tokens, video_coords, video_context, video_sigma),
                     modality(audio_tokens, audio_coords, audio_context, audio_sigma),
                     BatchedPerturbationConfig.empty(batch))


# ltx-core's RoPE for the connectors divides positions by this; the value diffusers' connectors
# call ``connector_rope_base_seq_len`` (4096 in the released configs).
CONNECTOR_MAX_POS = 4096


def tiny_text_processor(version: str, seed: int = 1) -> torch.nn.Module:
    """ltx-core's ``EmbeddingsProcessor`` (feature extractor + video and audio connectors) at the
    tiny text encoder's sizes, seeded random weights. Built from ltx-core's classes directly: its
    configurator hard-codes Gemma-3-12B's width and 128 registers, too big for a tiny model."""
    from ltx_core.model.transformer.rope import LTXRopeType
    from ltx_core.text_encoders.gemma.embeddings_connector import Embeddings1DConnector
    from ltx_core.text_encoders.gemma.embeddings_processor import EmbeddingsProcessor
    from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV1, FeatureExtractorV2

    t, text = tiny.TINY_TRANSFORMER, tiny.TINY_TEXT
    flat = text["hidden_size"] * (text["num_hidden_layers"] + 1)
    new = version in ("2.3", "2.5")
    torch.manual_seed(seed)
    if new:
        extractor = FeatureExtractorV2(
            video_aggregate_embed=torch.nn.Linear(flat, t["num_attention_heads"] * t["attention_head_dim"]),
            embedding_dim=text["hidden_size"],
            audio_aggregate_embed=torch.nn.Linear(flat, t["audio_num_attention_heads"] * t["audio_attention_head_dim"]))
        video_heads, audio_heads = (t["num_attention_heads"], t["attention_head_dim"]), \
            (t["audio_num_attention_heads"], t["audio_attention_head_dim"])
    else:
        extractor = FeatureExtractorV1(torch.nn.Linear(flat, text["hidden_size"], bias=False), is_av=True)
        video_heads = audio_heads = (2, text["hidden_size"] // 2)

    def connector(heads):
        return Embeddings1DConnector(
            num_attention_heads=heads[0], attention_head_dim=heads[1], num_layers=tiny.TINY_CONNECTOR_LAYERS,
            num_learnable_registers=tiny.TINY_REGISTERS, positional_embedding_max_pos=[CONNECTOR_MAX_POS],
            rope_type=LTXRopeType.SPLIT, double_precision_rope=True, apply_gated_attention=new)

    processor = EmbeddingsProcessor(feature_extractor=extractor, video_connector=connector(video_heads),
                                    audio_connector=connector(audio_heads))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(processor.named_parameters()):
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return processor.eval()


def text_config_fields(version: str) -> dict[str, Any]:
    """The connector fields of the ``transformer`` config that describe :func:`tiny_text_processor`."""
    heads = (tiny.TINY_TRANSFORMER["num_attention_heads"], tiny.TINY_TRANSFORMER["attention_head_dim"]) \
        if version != "2.0" else (2, tiny.TINY_TEXT["hidden_size"] // 2)
    audio = (tiny.TINY_TRANSFORMER["audio_num_attention_heads"], tiny.TINY_TRANSFORMER["audio_attention_head_dim"]) \
        if version != "2.0" else heads
    return dict(connector_num_attention_heads=heads[0], connector_attention_head_dim=heads[1],
                connector_num_layers=tiny.TINY_CONNECTOR_LAYERS, audio_connector_num_attention_heads=audio[0],
                audio_connector_attention_head_dim=audio[1], audio_connector_num_layers=tiny.TINY_CONNECTOR_LAYERS,
                connector_apply_gated_attention=version != "2.0",
                connector_positional_embedding_max_pos=[CONNECTOR_MAX_POS])


def official_text_tensors(processor: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The processor's weights under the official single-file names (the inverse of ltx-core's
    ``EMBEDDINGS_PROCESSOR_KEY_OPS``)."""
    out = {}
    for key, value in processor.state_dict().items():
        head, rest = key.split(".", 1)
        prefix = {"feature_extractor": "text_embedding_projection.",
                  "video_connector": "model.diffusion_model.video_embeddings_connector.",
                  "audio_connector": "model.diffusion_model.audio_embeddings_connector."}[head]
        out[prefix + rest] = value.detach().contiguous()
    return out


def tiny_vae_config() -> dict[str, Any]:
    """ltx-core ``config["vae"]`` whose decoder has the tiny pipeline's decoder shapes
    (:func:`ltxbench.model.tiny._tiny_video_vae`: 64 channels at the latent side, then up 8x in space
    and time in four resampling steps to 8 channels)."""
    built = [["res_x", {"num_layers": 1}], ["compress_all", {"multiplier": 2}], ["res_x", {"num_layers": 1}],
             ["compress_all", {"multiplier": 1}], ["res_x", {"num_layers": 1}], ["compress_time", {"multiplier": 2}],
             ["res_x", {"num_layers": 1}], ["compress_space", {"multiplier": 2}], ["res_x", {"num_layers": 1}]]
    return {"vae": {"dims": 3, "in_channels": 3, "out_channels": 3, "latent_channels": 128, "patch_size": 4,
                    "norm_layer": "pixel_norm", "latent_log_var": "uniform", "spatial_padding_mode": "zeros",
                    "causal_decoder": False, "timestep_conditioning": False, "decoder_base_channels": 8,
                    "decoder_blocks": list(reversed(built))}}  # ltx-core builds them in reverse


def tiny_vae_decoder(seed: int = 2) -> torch.nn.Module:
    """ltx-core's ``VideoDecoder`` from :func:`tiny_vae_config`, seeded random weights and latent
    statistics."""
    from ltx_core.model.video_vae.model_configurator import VideoDecoderConfigurator

    decoder = VideoDecoderConfigurator.from_config(tiny_vae_config())
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(decoder.named_parameters()):
            param.copy_(torch.randn(param.shape, generator=generator) * 0.05)
        for name, buffer in decoder.named_buffers():
            buffer.copy_(torch.rand(buffer.shape, generator=generator) + (0.5 if "std" in name else -0.5))
    return decoder.eval()


def official_vae_tensors(decoder: torch.nn.Module, diffusers_vae: torch.nn.Module) -> dict[str, torch.Tensor]:
    """``vae.*`` tensors of an official file: the decoder and latent statistics from ltx-core's
    decoder, the encoder written from ``diffusers_vae``'s (ltx-core's encoder has a fixed 128-wide
    stem, which a tiny VAE cannot match; the encoder half is therefore not a reference)."""
    out = {}
    for key, value in decoder.state_dict().items():
        prefix = "vae." if key.startswith("per_channel_statistics.") else "vae.decoder."
        out[prefix + key] = value.detach().contiguous()
    stages = 1 + max(int(k.split(".")[2]) for k in diffusers_vae.state_dict() if k.startswith("encoder.down_blocks."))
    for key, value in diffusers_vae.state_dict().items():
        if not key.startswith("encoder."):
            continue
        parts = key.split(".")
        if parts[1] == "mid_block":
            parts[1:2] = ["down_blocks", str(2 * stages)]
        elif parts[1] == "down_blocks":
            index = 2 * int(parts[2]) + (1 if parts[3] == "downsamplers" else 0)
            parts[1:5 if parts[3] == "downsamplers" else 3] = ["down_blocks", str(index)]
        out["vae." + ".".join("res_blocks" if p == "resnets" else p for p in parts)] = value.detach().contiguous()
    return out


def fp8_tensors(transformer: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """ltx-core's scaled fp8 layout of ``transformer``'s block linears, and ltx-core's own
    dequantization of them.

    Returns ``(file tensors under model.diffusion_model., dequantized state dict)``. The quantizer
    is ltx-core's ``quantize_weight_to_fp8_per_tensor``; the file keeps the weight in ``[out, in]``
    with ``weight_scale`` and ``input_scale`` beside it; the dequantization is the one
    ``fuse_loras._fuse_delta_with_scaled_fp8`` applies. ltx-core leaves block 0 and the last five
    blocks of the full model unquantized; the tiny model has two, so block 1 is quantized under
    the same rule otherwise.
    """
    import ltx_core.loader  # noqa: F401  (ltx-core's quantization package imports cyclically unless the loader is first)
    from ltx_core.quantization.fp8_scaled_mm import EXCLUDED_LAYER_SUBSTRINGS, quantize_weight_to_fp8_per_tensor

    skip = [s for s in EXCLUDED_LAYER_SUBSTRINGS if not s.startswith("transformer_blocks.")]
    state = {k: v.detach().clone() for k, v in transformer.state_dict().items()}
    tensors: dict[str, torch.Tensor] = {}
    for name, module in transformer.named_modules():
        if not isinstance(module, torch.nn.Linear) or not name.startswith("transformer_blocks.1.") or any(
                s in name for s in skip):
            continue
        weight_t, scale = quantize_weight_to_fp8_per_tensor(module.weight.detach())
        tensors[f"model.diffusion_model.{name}.weight"] = weight_t.t().contiguous()
        tensors[f"model.diffusion_model.{name}.weight_scale"] = scale
        tensors[f"model.diffusion_model.{name}.input_scale"] = torch.tensor(1.0)
        state[f"{name}.weight"] = (weight_t.to(torch.float32) * scale).t()
    return tensors, state


def save_official_fp8(path: Path, transformer: torch.nn.Module, version: str,
                      extra: dict[str, torch.Tensor] | None = None) -> tuple[Path, dict[str, torch.Tensor]]:
    """An fp8 official file of ``transformer`` (other tensors bf16, as the release stores them) and
    ltx-core's dequantized state dict of it."""
    from safetensors.torch import save_file

    quantized, state = fp8_tensors(transformer)
    tensors = {f"model.diffusion_model.{k}": v.detach().to(torch.bfloat16).contiguous()
               for k, v in transformer.state_dict().items()}
    tensors.update({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in (extra or {}).items()})
    tensors.update(quantized)
    save_file(tensors, str(path), metadata={"config": json.dumps(tiny_config(version))})
    return path, state
