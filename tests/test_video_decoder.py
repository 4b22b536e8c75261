"""LTX-2.5's diffusion video decoder: built into the tiny 2.5, loaded from a folder, used by evaluate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ltxbench.evaluate import generate
from ltxbench.model import loading, tiny, video_decoder

SETTINGS = dict(width=96, height=64, num_frames=9, frame_rate=24.0, num_inference_steps=2, guidance_scale=1.0)


@pytest.fixture(scope="module")
def pipe25():
    return loading.load_pipeline("2.5", "tiny", device="cpu")


def test_only_the_tiny_2_5_carries_a_diffusion_decoder_reading_the_vaes_latents(pipe25):
    from diffusers import LTX2VideoDiffusionDecoderModel

    decoder = video_decoder.of(pipe25)
    assert isinstance(decoder, LTX2VideoDiffusionDecoderModel)
    assert torch.equal(decoder.latents_mean, pipe25.vae.latents_mean)
    assert torch.equal(decoder.latents_std, pipe25.vae.latents_std)
    assert decoder.spatial_compression_ratio == pipe25.vae.spatial_compression_ratio
    assert decoder.temporal_compression_ratio == pipe25.vae.temporal_compression_ratio
    for version in ("2.0", "2.3"):
        assert video_decoder.of(tiny.build_tiny_pipeline(version)) is None
    # its weights are part of the pipeline's identity, so another decoder is another model
    before = tiny.pipeline_hash(pipe25)
    other = tiny.build_tiny_pipeline("2.5", seed=1)
    assert tiny.pipeline_hash(video_decoder.attach(tiny.build_tiny_pipeline("2.5"), video_decoder.of(other))) != before


def test_evaluate_decodes_2_5_latents_with_the_diffusion_decoder_on_the_same_generator(pipe25):
    """generate_video = the pipeline to latents, then diffusers' LTX2VideoDiffusionDecodePipeline with
    the generator that sampled them; the VAE's decoder gives another video from the same latents."""
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.ltx2.pipeline_ltx2_diffusion_decode import LTX2VideoDiffusionDecodePipeline

    frames, sound = generate.generate_video(pipe25, "a person waves", 3, SETTINGS)
    assert frames.shape == (9, 64, 96, 3) and frames.dtype == np.uint8 and frames.std() > 0
    assert sound is not None and sound[1] == pipe25.vocoder.config.output_sampling_rate

    g = torch.Generator().manual_seed(3)
    latents = pipe25(prompt="a person waves", generator=g, output_type="latent", **SETTINGS).frames
    decoding = LTX2VideoDiffusionDecodePipeline(diffusion_decoder=video_decoder.of(pipe25),
                                                scheduler=FlowMatchEulerDiscreteScheduler())
    theirs = decoding(latents, generator=g, output_type="np", denormalize=False).frames[0]
    expected = (np.clip(theirs, 0, 1) * 255).round().astype(np.uint8)
    assert np.array_equal(frames, expected)

    conv = video_decoder.attach(tiny.build_tiny_pipeline("2.5"), None)
    conv.set_progress_bar_config(disable=True)
    by_vae, _ = generate.generate_video(conv, "a person waves", 3, SETTINGS)
    assert by_vae.shape == frames.shape and not np.array_equal(by_vae, frames)


def test_a_folder_with_a_diffusion_decoder_loads_it_and_the_in_context_pipeline_keeps_it(tmp_path, pipe25):
    from ltxbench.evaluate.reference import in_context_pipeline

    folder = tmp_path / "ltx-2.5-diffusers"
    pipe25.save_pretrained(folder)
    video_decoder.save(pipe25, folder)
    loaded = loading.load_pipeline("2.5", str(folder), device="cpu")
    assert video_decoder.describe(loaded) == video_decoder.ATTRIBUTE
    assert tiny.pipeline_hash(loaded) == tiny.pipeline_hash(pipe25)
    assert video_decoder.of(in_context_pipeline(loaded)) is video_decoder.of(loaded)
    # a folder without one decodes with its VAE
    bare = tmp_path / "conv-only"
    pipe25.save_pretrained(bare)
    assert video_decoder.of(loading.load_pipeline("2.5", str(bare), device="cpu")) is None
