"""IC-LoRA reference tokens: a clean reference image, encoded by the VAE and appended after the
noisy target tokens, built exactly as ``diffusers.LTX2InContextPipeline`` builds them.

What the in-context pipeline (diffusers 0.42.1, ``_encode_reference_conditions`` and its
denoising loop) does, and so what training must do for the LoRA to meet the same input:

* the reference image is resized to fill ``(height // f, width // f)`` and centre-cropped
  (``video_processor.preprocess_video(..., resize_mode="crop")``), encoded by the VAE (posterior
  mode) and normalised like the target latents;
* its tokens are packed like the target's and appended after them; their RoPE coordinates are the
  transformer's ``prepare_video_coords`` at the reference's latent size, with the two spatial axes
  multiplied by ``f`` so they span the target's coordinate space;
* the per-token timestep is ``t * (1 - strength)`` for reference tokens (0: clean at strength 1)
  and ``t`` for target tokens, while ``sigma`` (2.3's prompt modulation) stays the scalar ``t``.

``tests/test_ic_lora.py`` checks these against the pipeline's own transformer inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # only for annotations; never imported at run time here
    import torch
    from diffusers import LTX2Pipeline


@dataclass(frozen=True)
class ReferenceLatents:
    """A clean, normalised reference latent ``[1 or B, 128, Fr, Hr, Wr]`` and how it is placed."""

    latents: torch.Tensor
    downscale_factor: int = 1
    """The pipeline's ``reference_downscale_factor``: spatial RoPE coordinates are multiplied by it."""
    strength: float = 1.0
    """How clean the reference tokens look: timestep ``t * (1 - strength)`` (1.0: timestep 0)."""


def reference_size(height: int, width: int, downscale_factor: int) -> tuple[int, int]:
    """Pixel size the reference is encoded at for a ``height x width`` target; ValueError when
    it falls off the VAE's 32-px grid (the pipeline would fail later inside the VAE)."""
    if downscale_factor < 1:
        raise ValueError(f"reference downscale factor must be >= 1, got {downscale_factor}")
    h, w = height // downscale_factor, width // downscale_factor
    if h * downscale_factor != height or w * downscale_factor != width or h % 32 or w % 32 or not h or not w:
        raise ValueError(f"a {width}x{height} target with reference downscale factor {downscale_factor} gives a "
                         f"{width / downscale_factor:g}x{height / downscale_factor:g} reference; its sides must be "
                         f"positive multiples of 32 (target sides multiples of {32 * downscale_factor})")
    return h, w


def reference_pixels(pipe: LTX2Pipeline, image: np.ndarray, height: int, width: int, downscale_factor: int = 1
                     ) -> torch.Tensor:
    """A uint8 ``[H, W, 3]`` image -> pixels ``[1, 3, 1, h, w]`` in ``[-1, 1]`` for a ``height x
    width`` target, resized and cropped as the in-context pipeline does: its processor resamples
    bilinearly (``LTX2Pipeline``'s own uses Lanczos, so it is not reused), and the image goes in as
    PIL (the processor reads numpy arrays as floats in [0, 1], so a uint8 array would be misread)."""
    import PIL.Image
    from diffusers.video_processor import VideoProcessor

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"reference image must be uint8 [H, W, 3], got {image.dtype} {tuple(image.shape)}")
    h, w = reference_size(height, width, downscale_factor)
    processor = VideoProcessor(vae_scale_factor=pipe.vae_spatial_compression_ratio, resample="bilinear")
    return processor.preprocess_video([PIL.Image.fromarray(image)], h, w, resize_mode="crop")


@dataclass(frozen=True)
class AppendedTokens:
    """Target and reference tokens as one transformer input."""

    hidden: torch.Tensor
    """``[B, N_target + N_ref, C]``."""
    coords: torch.Tensor
    """``[B, 3, N_target + N_ref, 2]``."""
    timestep: torch.Tensor
    """``[B, N_target + N_ref]``: the target's timestep, then ``timestep * (1 - strength)``."""
    num_target: int
    """Tokens of the target: the transformer's output is cut back to these."""


def append_reference(pipe: LTX2Pipeline, hidden: torch.Tensor, coords: torch.Tensor, timestep: torch.Tensor,
                     reference: ReferenceLatents, fps: float) -> AppendedTokens:
    """Append ``reference``'s tokens to the packed target ``hidden`` ``[B, N, C]`` (with its RoPE
    ``coords`` and per-sample ``timestep`` ``[B]``), as the in-context pipeline does."""
    import torch

    batch, num_target = hidden.shape[0], hidden.shape[1]
    lat = reference.latents.to(device=hidden.device)
    if lat.shape[0] not in (1, batch):
        raise ValueError(f"reference latents have batch {lat.shape[0]}, the target {batch}")
    _, _, frames, height, width = lat.shape
    p, pt = pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
    ref_hidden = pipe._pack_latents(lat, p, pt).to(hidden.dtype).expand(batch, -1, -1)
    ref_coords = pipe.transformer.rope.prepare_video_coords(batch, frames, height, width, hidden.device, fps=fps)
    if reference.downscale_factor != 1:
        # axes 1 and 2 are height and width: a downscaled reference spans the whole target's space
        ref_coords = torch.cat([ref_coords[:, :1], ref_coords[:, 1:3] * reference.downscale_factor, ref_coords[:, 3:]], dim=1)
    step = timestep.reshape(batch, 1)
    per_token = torch.cat([step.expand(batch, num_target),
                           (step * (1.0 - reference.strength)).expand(batch, ref_hidden.shape[1])], dim=1)
    return AppendedTokens(torch.cat([hidden, ref_hidden], dim=1), torch.cat([coords, ref_coords.to(coords.dtype)], dim=2),
                          per_token, num_target)
