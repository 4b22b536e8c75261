"""LTX-2.5's diffusion video decoder: which decoder turns a pipeline's latents into frames, and decoding with it.

LTX-2.5 ships two video decoders for the same latent space: its default, a small diffusion model
(diffusers' ``LTX2VideoDiffusionDecoderModel``, driven by ``LTX2VideoDiffusionDecodePipeline``), and a
convolutional one with 2.3's architecture (the pipeline's ``vae``). ``LTX2Pipeline`` has no slot
for the first, so a loaded pipeline carries it as the attribute :data:`ATTRIBUTE`, and a
diffusers-format folder as the subfolder of the same name. The VAE's encoder stays the one that
makes training latents either way: the diffusion decoder has none.

With a diffusion decoder, :func:`decode` runs the pipeline to latents (``output_type="latent"``,
which already applies the VAE's latent statistics, hence ``denormalize=False``) and then the
decoder, with the same generator, so a seed still fixes the whole video. The sound is decoded as
``LTX2Pipeline`` does it (audio VAE, then vocoder).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("ltxbench")

ATTRIBUTE = "diffusion_decoder"
"""The pipeline attribute and the diffusers-folder subfolder that hold the diffusion decoder."""


def of(pipe: Any) -> Any | None:
    """The pipeline's diffusion decoder, or None when its frames come from its VAE."""
    return getattr(pipe, ATTRIBUTE, None)


def attach(pipe: Any, decoder: Any | None) -> Any:
    """Give ``pipe`` its diffusion decoder (None: decode with the VAE); returns ``pipe``.

    Set as a plain attribute, not a registered module: ``LTX2Pipeline.from_pretrained`` would not
    know the component, and every module that takes the pipeline's components (the in-context
    pipeline) would be handed an argument it does not take.
    """
    object.__setattr__(pipe, ATTRIBUTE, decoder)
    return pipe


def carry(source: Any, target: Any) -> Any:
    """``target`` (a pipeline built from ``source``'s components) decoding as ``source`` does."""
    return attach(target, of(source))


def describe(pipe: Any) -> str:
    """Which decoder makes the frames, for sample records: ``vae`` or ``diffusion_decoder``."""
    return ATTRIBUTE if of(pipe) is not None else "vae"


def from_folder(folder: Path, dtype: Any) -> Any | None:
    """The diffusion decoder saved in ``folder/diffusion_decoder`` (a diffusers-format pipeline
    folder), or None when the folder has none."""
    sub = Path(folder) / ATTRIBUTE
    if not (sub / "config.json").is_file():
        return None
    from diffusers import LTX2VideoDiffusionDecoderModel

    log.info("loading the diffusion video decoder from %s", sub)
    return LTX2VideoDiffusionDecoderModel.from_pretrained(str(sub), torch_dtype=dtype, local_files_only=True).eval()


def save(pipe: Any, folder: Path) -> None:
    """Write the pipeline's diffusion decoder beside ``pipe.save_pretrained(folder)``'s components."""
    decoder = of(pipe)
    if decoder is not None:
        decoder.save_pretrained(str(Path(folder) / ATTRIBUTE))


def move(pipe: Any, device: Any) -> Any:
    """``pipe.to(device)`` and its diffusion decoder with it (``to`` knows only registered modules)."""
    decoder = of(pipe)
    moved = pipe.to(device)
    if decoder is not None:
        attach(moved, decoder.to(device))
    return moved


def generate(pipe: Any, prompt: str, generator: Any, settings: dict[str, Any]) -> tuple[Any, Any]:
    """``(frames, audio)`` of one prompt, as ``pipe(..., output_type="np")`` gives them: frames
    ``[B, F, H, W, 3]`` floats in [0, 1], audio the vocoder's waveforms. With a diffusion decoder
    the latents go through it instead of the VAE's decoder."""
    decoder = of(pipe)
    if decoder is None:
        out = pipe(prompt=prompt, generator=generator, output_type="np", return_dict=True, **settings)
        return out.frames, getattr(out, "audio", None)
    out = pipe(prompt=prompt, generator=generator, output_type="latent", return_dict=True, **settings)
    return decode(pipe, decoder, out.frames, out.audio, generator)


def decode(pipe: Any, decoder: Any, latents: Any, audio_latents: Any, generator: Any) -> tuple[Any, Any]:
    """Denormalized video latents through the diffusion decoder, audio latents through the audio VAE
    and vocoder; ``(frames [B, F, H, W, 3] in [0, 1], waveforms or None)``."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.ltx2.pipeline_ltx2_diffusion_decode import LTX2VideoDiffusionDecodePipeline

    # its own scheduler: the decoder must not step the sampler's (the pipeline keeps it for the next prompt)
    decoding = LTX2VideoDiffusionDecodePipeline(diffusion_decoder=decoder, scheduler=FlowMatchEulerDiscreteScheduler())
    decoding.set_progress_bar_config(disable=True)
    with warnings.catch_warnings():
        # the decoder's neighbourhood attention runs flex_attention eagerly; torch's advice to compile
        # it says nothing about the result, and would be printed once per evaluation notebook
        warnings.filterwarnings("ignore", message="flex_attention called without torch.compile", category=UserWarning)
        frames = decoding(latents, generator=generator, output_type="np", denormalize=False).frames
    audio = None
    if audio_latents is not None and getattr(pipe, "audio_vae", None) is not None and getattr(pipe, "vocoder", None):
        with torch.no_grad():
            mel = pipe.audio_vae.decode(audio_latents.to(pipe.audio_vae.dtype), return_dict=False)[0]
            audio = pipe.vocoder(mel)
    return frames, audio
