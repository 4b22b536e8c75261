"""The tiny LTX-2 pipeline: the real diffusers classes at small widths and depths, built from a seed (tests and the demo).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # only for annotations; never imported at run time here
    import torch
    from diffusers import LTX2Pipeline

from ltxbench.model import video_decoder
from ltxbench.model.versions import LTX2_SCHEDULER_CONFIG, VERSIONS, version_spec

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


def _tiny_text_encoder(version: str = "2.3") -> Any:
    if version == "2.5":
        return _tiny_gemma4_text_encoder()
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


def _tiny_gemma4_text_encoder() -> Any:
    """LTX-2.5's text encoder class (Gemma 4, as diffusers' ``LTX2Pipeline`` accepts it) at the same
    tiny sizes as the Gemma-3 one, text tower only: the pipeline reads every hidden state of the
    prompt, which is all the connectors see."""
    from transformers import Gemma4UnifiedConfig, Gemma4UnifiedForConditionalGeneration

    text = dict(TINY_TEXT)
    config = Gemma4UnifiedConfig(
        text_config={
            **text,
            # Gemma 4's full-attention layers have their own head width (512 at full size)
            "global_head_dim": text["head_dim"],
            "max_position_embeddings": 2048,
            "sliding_window": 64,
            "layer_types": ["sliding_attention", "full_attention"],
            "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2,
        },
        vision_config=None,
        audio_config=None,
    )
    return Gemma4UnifiedForConditionalGeneration(config)


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
    if version in ("2.3", "2.5"):  # 2.5: the same connectors (Gemma 4 is as wide and as deep as Gemma 3)
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
        rope_type="split", perturbed_attn=(version != "2.0"),
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
    if version in ("2.3", "2.5"):  # real: (256, 512, 1024, 1024) / (256, 512, 512, 1024), four up blocks;
        # 2.5's conv VAE is 2.3's architecture
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


def _tiny_diffusion_decoder(vae: Any) -> Any:
    """LTX-2.5's diffusion video decoder at tiny widths, reading the tiny VAE's latent space.

    Real (diffusers' defaults): stages 2048/1024/512/512/256 wide, 4/6/4/2/8 blocks deep, 7x7 and
    11x11x11 kernels. Kept: 128 latent channels, patch 4, the upsampling strides (x32 in space, x8 in
    time, as the VAE), one x0-predicting denoising step. The latent statistics are the VAE's, as in
    a real folder, since both decoders read the same latents.
    """
    import torch
    from diffusers import LTX2VideoDiffusionDecoderModel

    decoder = LTX2VideoDiffusionDecoderModel(
        latent_channels=128, patch_size=4, decoder_head_dim=8, decoder_stage_channels=(64, 32, 16, 16, 8),
        decoder_stage_depths=(1, 1, 1, 1, 1), decoder_stage_kernels=((1, 1, 1), (1, 3, 3), (3, 3, 3), (3, 3, 3)),
        decoder_stage5_kernel=(3, 3, 3), decoder_t_emb_dim=32)
    with torch.no_grad():
        decoder.latents_mean.copy_(vae.latents_mean)
        decoder.latents_std.copy_(vae.latents_std)
    return decoder


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

    if version in ("2.3", "2.5"):  # real: hidden 1536 / 512, 16 kHz vocoder + bandwidth extension to 48 kHz
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
        ("text_encoder", lambda: _tiny_text_encoder(version)),
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
        decoder = None
        if version == "2.5":  # the release's default video decoder; seeded after the others, which stay as they were
            _seeded(seed, len(builders))
            decoder = _cast(_tiny_diffusion_decoder(components["vae"]), dtype).eval()
    pipe = LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(**LTX2_SCHEDULER_CONFIG),
        tokenizer=build_tiny_tokenizer(),
        **components,
    )
    return video_decoder.attach(pipe, decoder)


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

    from ltxbench.model import video_decoder

    digest = hashlib.sha256()
    modules = {**pipe.components, video_decoder.ATTRIBUTE: video_decoder.of(pipe)}
    for name, component in sorted(modules.items()):
        if isinstance(component, torch.nn.Module):
            digest.update(f"{name}:{state_dict_hash(component)}".encode())
    return digest.hexdigest()
