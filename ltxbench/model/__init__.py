"""LTX-2 through diffusers: the only place that knows the pipeline's internals.

Modules: :mod:`.versions` (the version table), :mod:`.locate` (where weights are; no torch), :mod:`.devices`,
:mod:`.loading` (folders, hub cache, single files: :mod:`.single_file`, :mod:`.gemma_file`), :mod:`.tiny` (the tiny
pipeline) and :mod:`.tiny_base` (its pretrained weights), :mod:`.forward` (encode, decode, the transformer forward),
:mod:`.audio` (waveforms into audio latents), :mod:`.architecture` (the linear layers of a base, for the LoRA checker).

Everything here goes through diffusers' own ``LTX2Pipeline`` and its components, so the tiny
pipeline (CI, demos) and the real 22B model run exactly the same code; only the sizes differ.

Tensor conventions used throughout (B = batch):

* pixels: ``[B, 3, F, H, W]`` in ``[-1, 1]``, ``F = 8k + 1``, ``H`` and ``W`` multiples of 32;
* video latents: ``[B, 128, (F - 1) / 8 + 1, H / 32, W / 32]``, *normalised* with the VAE's
  per-channel ``latents_mean`` / ``latents_std`` (the space the transformer works in);
* audio latents: ``[B, 8, L, 16]`` (8 channels x 16 latent mel bins, ``L`` = 25 latents/s),
  normalised in the packed ``[B, L, 128]`` space as the pipeline does;
* noise level ``sigma`` in ``[0, 1]``: ``x_sigma = (1 - sigma) * x0 + sigma * noise``; the
  transformer predicts the velocity ``noise - x0`` (see :func:`ltxbench.model.forward.velocity_target`).

Importing is light (no torch, no diffusers) so that parameter validation, which calls
:func:`ltxbench.model.locate.source_problems`, stays fast; the heavy imports happen inside the functions.
"""

from __future__ import annotations
