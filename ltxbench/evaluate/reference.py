"""Generation with a reference image, for IC-LoRAs (``train.reference``): the building blocks the
evaluate stage uses for a LoRA whose metadata says it needs a reference
(:func:`ltxbench.lora.files.reference_settings`).

* :func:`in_context_pipeline` wraps an already loaded ``LTX2Pipeline`` in diffusers'
  ``LTX2InContextPipeline`` sharing the same modules, so adapters loaded or set on either apply
  to both and nothing is loaded twice.
* :func:`generate_with_reference` is :func:`ltxbench.evaluate.generate.generate_video` with the
  reference image passed as an ``LTX2ReferenceCondition``; it returns the same ``(frames, sound)``.

diffusers never reads the downscale factor from a LoRA's metadata: the caller passes the one
:func:`~ltxbench.lora.files.reference_settings` read from the file.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ltxbench.evaluate.generate import generate_video
from ltxbench.model.reference import reference_size

# ``LTX2Pipeline`` components the in-context pipeline has no slot for (2.5's auto-duration head:
# the in-context pipeline always takes ``num_frames``).
_NOT_IN_CONTEXT = ("duration_head",)


def in_context_pipeline(pipe: Any) -> Any:
    """An ``LTX2InContextPipeline`` over ``pipe``'s own components (shared, not copied)."""
    from diffusers import LTX2InContextPipeline

    accepted = set(inspect.signature(LTX2InContextPipeline.__init__).parameters) - {"self"}
    components = {k: v for k, v in pipe.components.items() if k not in _NOT_IN_CONTEXT}
    unknown = sorted(set(components) - accepted)
    if unknown:  # a newer diffusers component would otherwise be dropped without a word
        raise TypeError(f"LTX2InContextPipeline has no slot for the pipeline's component(s) {', '.join(unknown)}")
    ic = LTX2InContextPipeline(**components)
    ic.set_progress_bar_config(**getattr(pipe, "_progress_bar_config", {}))
    from ltxbench.model import video_decoder

    return video_decoder.carry(pipe, ic)  # LTX-2.5's diffusion decoder is no registered component


def _accepted_settings(pipe_ic: Any, settings: dict[str, Any]) -> None:
    """Refuse sampler settings the in-context pipeline's ``__call__`` does not take (today it takes
    every key of :func:`~ltxbench.evaluate.generate.sampler_settings`), rather than let a
    ``TypeError`` surface deep inside diffusers or a key be silently ignored."""
    accepted = set(inspect.signature(pipe_ic.__call__).parameters)
    unknown = sorted(set(settings) - accepted)
    if unknown:
        raise TypeError(f"LTX2InContextPipeline does not take the sampler setting(s) {', '.join(unknown)}")
    for key in ("reference_conditions", "reference_downscale_factor", "prompt", "generator"):
        if key in settings:
            raise ValueError(f"settings must not hold {key!r}: generate_with_reference sets it")


def generate_with_reference(pipe_ic: Any, prompt: str, seed: int, settings: dict[str, Any], reference_image: np.ndarray,
                            downscale_factor: int, strength: float = 1.0
                            ) -> tuple[np.ndarray, tuple[np.ndarray, int] | None]:
    """One video conditioned on ``reference_image`` (uint8 ``[H, W, 3]``): uint8 frames
    ``[F, H, W, 3]`` and the sound (or None), as :func:`~ltxbench.evaluate.generate.generate_video`.

    ``downscale_factor`` is the LoRA's (its metadata, :func:`ltxbench.lora.files.reference_settings`);
    the reference is resized and cropped to the video's size divided by it, which must stay on the
    VAE's 32-px grid. ``strength`` 1.0 shows it clean, as training did.
    """
    import PIL.Image
    from diffusers.pipelines.ltx2 import LTX2ReferenceCondition

    if reference_image.dtype != np.uint8 or reference_image.ndim != 3 or reference_image.shape[2] != 3:
        raise ValueError(f"reference_image must be uint8 [H, W, 3], got {reference_image.dtype} {tuple(reference_image.shape)}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be in [0, 1], got {strength}")
    _accepted_settings(pipe_ic, settings)
    reference_size(settings["height"], settings["width"], downscale_factor)  # a clear error before the VAE's own
    # PIL, as training encodes it (ltxbench.model.reference.reference_pixels): the processor reads arrays as [0, 1] floats
    condition = LTX2ReferenceCondition(frames=PIL.Image.fromarray(reference_image), strength=float(strength))
    return generate_video(pipe_ic, prompt, seed, {**settings, "reference_conditions": condition,
                                                  "reference_downscale_factor": int(downscale_factor)})
