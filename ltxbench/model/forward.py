"""Tensors for training and evaluation: VAE encode/decode, prompt embeddings, flow-matching targets and the transformer forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:  # only for annotations; never imported at run time here
    import torch
    from diffusers import LTX2Pipeline

    from ltxbench.model.reference import ReferenceLatents

from ltxbench.model.versions import VERSIONS, detect_version

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
    reference: ReferenceLatents | None = None,
) -> ForwardOutput:
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
    ``prepare_audio_coords``. Returns a :class:`ForwardOutput`: the video velocity ``[B, 128, F', H', W']``
    and the audio velocity ``[B, 8, L, 16]``, in float32 (with gradients when enabled).

    ``reference`` (IC-LoRA): clean reference tokens appended after the target's, with their own
    RoPE coordinates and a per-token timestep, as ``LTX2InContextPipeline`` builds them
    (:func:`ltxbench.model.reference.append_reference`); the returned video velocity is the
    target's alone.
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
    video_timestep, num_target = timestep, hidden.shape[1]
    if reference is not None:
        from ltxbench.model.reference import append_reference

        joined = append_reference(pipe, hidden, video_coords, timestep, reference, fps)
        hidden, video_coords, video_timestep = joined.hidden, joined.coords, joined.timestep

    video_out, audio_out = transformer(
        hidden_states=hidden,
        audio_hidden_states=audio_hidden,
        encoder_hidden_states=cond["video_embeds"],
        audio_encoder_hidden_states=cond["audio_embeds"],
        timestep=video_timestep,
        audio_timestep=audio_timestep,
        sigma=timestep,  # the pipeline passes sigma=timestep: the scaled value (per sample, also with a reference)
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
    video_v = pipe._unpack_latents(video_out[:, :num_target].float(), frames, height, width, p, pt)
    audio_v = pipe._unpack_audio_latents(audio_out.float(), audio_frames, num_mel_bins=mel_bins)
    return ForwardOutput(video=video_v, audio=audio_v, audio_sigma=audio_sig)
