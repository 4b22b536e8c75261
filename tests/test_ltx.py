"""Tests of ltxbench.model (versions, locating, loading, the tiny pipeline, the forward helpers) on the tiny LTX-2 pipeline (CPU, random weights, no downloads)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest
import torch

from ltxbench import errors
from ltxbench.errors import Problem
from ltxbench.model import devices, forward, loading, locate, tiny, versions

FRAMES, HEIGHT, WIDTH = 17, 64, 96  # latents [1, 128, 3, 2, 3]
SEQ = 64  # max_sequence_length: a multiple of the tiny connectors' 8 registers


@pytest.fixture(scope="module")
def pipe():
    pipe = tiny.build_tiny_pipeline("2.3", seed=0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def pipe20():
    return tiny.build_tiny_pipeline("2.0", seed=0)


def _frames(seed: int = 0, frames: int = FRAMES) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, frames, HEIGHT, WIDTH, generator=g) * 2 - 1


def _module_names(module: torch.nn.Module) -> list[str]:
    return [name for name, _ in module.named_modules()] + [name for name, _ in module.named_parameters()]


# --- version table -----------------------------------------------------------------------


def test_version_flags_are_real_diffusers_config_names():
    from diffusers import LTX2VideoTransformer3DModel
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    transformer_args = inspect.signature(LTX2VideoTransformer3DModel.__init__).parameters
    connector_args = inspect.signature(LTX2TextConnectors.__init__).parameters
    for spec in versions.VERSIONS.values():
        assert set(spec.transformer_flags) <= set(transformer_args), spec.version
        assert set(spec.connector_flags) <= set(connector_args), spec.version
    assert versions.VERSIONS["2.3"].hub_id == "diffusers/LTX-2.3-Diffusers"
    assert versions.VERSIONS["2.0"].hub_id == "Lightricks/LTX-2"
    assert versions.LOADABLE_VERSIONS == ("2.0", "2.3", "2.5")
    with pytest.raises(ValueError, match="known: 2.0, 2.3, 2.5"):
        versions.version_spec("2.4")


def test_version_detection_tells_23_from_25_in_configs_old_configs_and_keys():
    """A 2.5 config carries every 2.3 flag, so 2.3 must name the flags 2.5 changes; a config.json
    written before those flags existed reads as diffusers' defaults (2.3 for a 2.3 file); a 2.5 state
    dict holds every 2.3-only key, so the most specific version wins, and a file without the
    keyframe embedding (quantised releases drop it) is still told by its bias-free video FF."""
    from ltxbench.model import architecture

    full25, full23 = architecture.transformer_config("2.5"), architecture.transformer_config("2.3")
    assert versions.detect_version(full25) == "2.5" and versions.detect_version(full23) == "2.3"
    old23 = {k: v for k, v in full23.items() if k not in ("ff_bias", "use_keyframes_abs_pos_embedding")}
    assert versions.detect_version(old23) == "2.3"
    block = "transformer_blocks.0."
    keys23 = [block + "attn1.to_gate_logits.weight", block + "ff.net.0.proj.weight", block + "ff.net.0.proj.bias",
              block + "ff.net.2.weight", block + "ff.net.2.bias", block + "audio_ff.net.2.bias"]
    assert versions.detect_version_from_keys(keys23) == "2.3"
    keys25 = [k for k in keys23 if not (".ff.net" in k and k.endswith("bias") and "audio_ff" not in k)]
    assert versions.detect_version_from_keys(keys25) == "2.5"  # no keyframe embedding, no video FF bias
    assert versions.detect_version_from_keys(keys25 + ["keyframes_abs_pos_embedding"]) == "2.5"
    # a LoRA names linear layers only (no biases): 2.3-only modules read as 2.3, not as 2.5
    assert versions.detect_version_from_keys([block + "ff.net.0.proj.lora_A.weight",
                                              block + "attn1.to_gate_logits.lora_A.weight"]) == "2.3"


# --- tiny pipeline -----------------------------------------------------------------------


def test_tiny_weights_match_in_a_fresh_process_and_through_the_hub_cache(pipe, tmp_path):
    """One subprocess (imports are the slow part) checks two things: building with the same seed
    gives bit-identical weights, and a hub id in the local HF cache loads via load_pipeline."""
    repo = tmp_path / "hub" / "models--ltxbench--tiny-ltx-2.3"
    pipe.save_pretrained(repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    code = (
        "from ltxbench.model import loading, locate, tiny\n"
        "print(tiny.pipeline_hash(tiny.build_tiny_pipeline('2.3', seed=0)))\n"
        "print(locate.source_problems('ltxbench/tiny-ltx-2.3', '2.3'))\n"
        "print(tiny.pipeline_hash(loading.load_pipeline('2.3', 'ltxbench/tiny-ltx-2.3', device='cpu')))\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub")}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    built, problems, loaded = other.stdout.strip().splitlines()[-3:]
    assert built == tiny.pipeline_hash(pipe)
    assert problems == "[]"
    assert loaded == built
    state = torch.get_rng_state()
    different = tiny.build_tiny_pipeline("2.3", seed=1)
    assert torch.equal(state, torch.get_rng_state()), "building must not touch the caller's RNG"
    assert tiny.state_dict_hash(different.transformer) != tiny.state_dict_hash(pipe.transformer)


def test_tiny_pipeline_has_the_23_architecture(pipe):
    names = _module_names(pipe.transformer)
    assert any("to_gate_logits" in n for n in names)
    assert any("prompt_adaln" in n for n in names)
    assert not any("caption_projection" in n for n in names)
    assert versions.detect_version(pipe.transformer.config) == "2.3"
    assert versions.detect_version_from_keys(pipe.transformer.state_dict()) == "2.3"
    # 2.3 wiring that must hold for the real model too
    te_layers = pipe.text_encoder.config.text_config.num_hidden_layers
    assert pipe.connectors.config.text_proj_in_factor == te_layers + 1
    assert pipe.transformer.config.cross_attention_dim == pipe.connectors.config.video_hidden_dim
    assert pipe.transformer.config.audio_cross_attention_dim == pipe.connectors.config.audio_hidden_dim
    assert (pipe.vae.spatial_compression_ratio, pipe.vae.temporal_compression_ratio) == (32, 8)
    assert pipe.transformer.config.in_channels == pipe.vae.config.latent_channels == 128
    assert pipe.tokenizer.padding_side == "left"
    assert pipe.tokenizer("a b").input_ids[0] == pipe.tokenizer.bos_token_id


def test_tiny_20_pipeline_has_the_20_architecture(pipe20):
    names = _module_names(pipe20.transformer)
    assert any("caption_projection" in n for n in names)
    assert not any("to_gate_logits" in n or "prompt_adaln" in n for n in names)
    assert versions.detect_version(pipe20.transformer.config) == "2.0"
    assert versions.detect_version_from_keys(pipe20.transformer.state_dict()) == "2.0"
    # the same helpers drive the 2.0 layout (text projected inside the transformer)
    cond = forward.encode_prompts(pipe20, ["a person waves"], max_sequence_length=SEQ)
    assert cond["video_embeds"].shape[-1] == pipe20.transformer.config.caption_channels
    latents = forward.encode_video(pipe20, _frames(frames=9))
    with torch.no_grad():
        assert forward.transformer_forward(pipe20, latents, None, cond, 0.5).video.shape == latents.shape


def test_tiny_25_pipeline_has_the_25_architecture_and_generates(pipe):
    """The tiny 2.5: Gemma 4 text encoder (transformers' class), 2.3's connectors and conv VAE, a
    transformer with a bias-free video feed-forward (the audio one keeps its biases) and the keyframe
    embedding; it runs through the same forward helpers and diffusers' LTX2Pipeline."""
    from transformers import Gemma4UnifiedForConditionalGeneration

    pipe25 = tiny.build_tiny_pipeline("2.5", seed=0)
    pipe25.set_progress_bar_config(disable=True)
    assert isinstance(pipe25.text_encoder, Gemma4UnifiedForConditionalGeneration)
    state = pipe25.transformer.state_dict()
    assert "keyframes_abs_pos_embedding" in state
    assert "transformer_blocks.0.ff.net.2.weight" in state and "transformer_blocks.0.ff.net.2.bias" not in state
    assert "transformer_blocks.0.audio_ff.net.2.bias" in state
    assert any("to_gate_logits" in k for k in state) and any("prompt_adaln" in k for k in state)
    assert versions.detect_version(pipe25.transformer.config) == "2.5"
    assert versions.detect_version_from_keys(state) == "2.5"
    loading.check_pipeline_version(pipe25, "2.5")
    with pytest.raises(errors.VersionMismatchError, match="is LTX-2.5, but model.version is '2.3'"):
        loading.check_pipeline_version(pipe25, "2.3")
    with pytest.raises(errors.VersionMismatchError, match="is LTX-2.3, but model.version is '2.5'"):
        loading.check_pipeline_version(pipe, "2.5")
    with pytest.raises(errors.VersionMismatchError, match="LTX-2.5 uses an LTX fine-tune of Gemma 4"):
        loading.load_pipeline("2.5", "tiny", device="cpu", text_encoder="/models/gemma-3-12b")
    te_layers = pipe25.text_encoder.config.get_text_config().num_hidden_layers
    assert pipe25.connectors.config.text_proj_in_factor == te_layers + 1
    cond = forward.encode_prompts(pipe25, ["a person waves"], max_sequence_length=SEQ)
    assert cond["video_embeds"].shape[-1] == pipe25.transformer.config.cross_attention_dim
    latents = forward.encode_video(pipe25, _frames(frames=9))
    with torch.no_grad():
        assert forward.transformer_forward(pipe25, latents, None, cond, 0.5).video.shape == latents.shape
    video = pipe25(prompt="a person waves", negative_prompt="", height=HEIGHT, width=WIDTH, num_frames=9,
                   num_inference_steps=2, max_sequence_length=SEQ, output_type="pt",
                   generator=torch.Generator().manual_seed(0), return_dict=False)[0]
    assert video.shape == (1, 9, 3, HEIGHT, WIDTH) and torch.isfinite(video).all()


def test_pipeline_generates_video_and_audio(pipe):
    out = pipe(
        prompt="a person waves",
        negative_prompt="",
        height=HEIGHT,
        width=WIDTH,
        num_frames=FRAMES,
        num_inference_steps=2,
        max_sequence_length=SEQ,
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
    )
    assert out.frames.shape == (1, FRAMES, 3, HEIGHT, WIDTH)
    assert torch.isfinite(out.frames).all()
    assert out.audio.shape[:2] == (1, 2) and out.audio.shape[2] > 0
    assert torch.isfinite(out.audio).all()


# --- training helpers --------------------------------------------------------------------


def test_encode_video_shape_and_clear_errors(pipe):
    latents = forward.encode_video(pipe, _frames())
    assert latents.shape == (1, 128, 3, HEIGHT // 32, WIDTH // 32)
    assert latents.dtype == torch.float32
    with pytest.raises(ValueError, match=r"8k\+1"):
        forward.encode_video(pipe, _frames(frames=16))
    with pytest.raises(ValueError, match="multiple of 32"):
        forward.encode_video(pipe, torch.zeros(1, 3, 9, 70, 64))
    decoded = forward.decode_video(pipe, latents)
    assert decoded.shape == (1, 3, FRAMES, HEIGHT, WIDTH)


def test_velocity_convention_is_what_the_scheduler_integrates(pipe):
    from copy import deepcopy

    scheduler = deepcopy(pipe.scheduler)
    scheduler.set_timesteps(sigmas=[1.0, 0.75, 0.5, 0.25], mu=0.6)
    x0, noise = torch.randn(2, 8), torch.randn(2, 8)
    for i, t in enumerate(scheduler.timesteps):
        sigma, sigma_next = scheduler.sigmas[i], scheduler.sigmas[i + 1]
        x = forward.noisy_latents(x0, noise, sigma)
        stepped = scheduler.step(forward.velocity_target(x0, noise), t, x, return_dict=False)[0]
        torch.testing.assert_close(stepped, forward.noisy_latents(x0, noise, sigma_next))
    scheduler._step_index = None
    assert torch.allclose(forward.noisy_latents(x0, noise, torch.tensor([0.2, 0.2])), 0.8 * x0 + 0.2 * noise)


def test_transformer_forward_equals_one_pipeline_step(pipe):
    """Capture the transformer call of the pipeline's first denoising step and redo it with
    encode_prompts + transformer_forward: same conditioning, same prediction."""
    captured: dict = {}

    def hook(module, args, kwargs, output):
        captured.setdefault("kwargs", kwargs)
        captured.setdefault("output", output)

    handle = pipe.transformer.register_forward_hook(hook, with_kwargs=True)
    try:
        pipe(
            prompt="a person waves",
            height=HEIGHT, width=WIDTH, num_frames=FRAMES, frame_rate=24.0, num_inference_steps=2,
            guidance_scale=1.0, audio_guidance_scale=1.0, stg_scale=0.0, audio_stg_scale=0.0,
            modality_scale=1.0, audio_modality_scale=1.0, max_sequence_length=SEQ,
            generator=torch.Generator().manual_seed(0), output_type="latent",
        )
    finally:
        handle.remove()
    kw = captured["kwargs"]
    f, h, w = kw["num_frames"], kw["height"], kw["width"]
    video = pipe._unpack_latents(kw["hidden_states"], f, h, w)
    audio = pipe._unpack_audio_latents(kw["audio_hidden_states"], kw["audio_num_frames"], num_mel_bins=16)
    sigma = kw["timestep"] / 1000

    cond = forward.encode_prompts(pipe, ["a person waves"], max_sequence_length=SEQ)
    torch.testing.assert_close(cond["video_embeds"], kw["encoder_hidden_states"])
    torch.testing.assert_close(cond["audio_embeds"], kw["audio_encoder_hidden_states"])
    with torch.no_grad():
        out = forward.transformer_forward(pipe, video, audio, cond, sigma, frame_rate=24.0)
    expected_video = pipe._unpack_latents(captured["output"][0].float(), f, h, w)
    expected_audio = pipe._unpack_audio_latents(captured["output"][1].float(), kw["audio_num_frames"], 16)
    torch.testing.assert_close(out.video, expected_video)
    torch.testing.assert_close(out.audio, expected_audio)
    assert forward.audio_latent_length(pipe, f, 24.0) == kw["audio_num_frames"]


def test_transformer_forward_trains_the_transformer(pipe):
    x0 = forward.encode_video(pipe, _frames())
    cond = forward.encode_prompts(pipe, ["a person waves"], max_sequence_length=SEQ)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x0.shape, generator=g)
    sigma = torch.tensor([0.7])
    pred = forward.transformer_forward(pipe, forward.noisy_latents(x0, noise, sigma), None, cond, sigma, generator=g).video
    assert pred.shape == x0.shape
    loss = torch.nn.functional.mse_loss(pred, forward.velocity_target(x0, noise))
    loss.backward()
    try:
        grads = {n: p.grad for n, p in pipe.transformer.named_parameters() if p.grad is not None}
        assert any("to_gate_logits" in n and g.abs().sum() > 0 for n, g in grads.items())
        assert grads["proj_in.weight"].abs().sum() > 0
        assert all(p.grad is None for p in pipe.text_encoder.parameters())  # frozen conditioning
    finally:
        pipe.transformer.zero_grad(set_to_none=True)
    with pytest.raises(ValueError, match="multiple of"):
        forward.encode_prompts(pipe, ["x"], max_sequence_length=60)


# --- loading -----------------------------------------------------------------------------


def test_missing_local_folder_raises_helpful_error(tmp_path):
    missing = tmp_path / "ltx-2.3"
    with pytest.raises(errors.ModelNotFoundError, match="hf download diffusers/LTX-2.3-Diffusers") as info:
        loading.load_pipeline("2.3", str(missing), device="cpu")
    assert isinstance(info.value, FileNotFoundError)
    assert str(missing) in str(info.value) and "LTX-2.3" in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(errors.ModelNotFoundError, match="model_index.json"):
        loading.load_pipeline("2.3", str(empty), device="cpu")


def test_uncached_hub_id_raises_helpful_error():
    hub_id = "ltxbench-tests/not-a-cached-model"
    with pytest.raises(errors.ModelNotFoundError, match=f"hf download {hub_id}"):
        loading.load_pipeline("2.3", hub_id, device="cpu")
    problems = locate.source_problems(hub_id, "2.3")
    assert [p.field for p in problems] == ["model.source"] and isinstance(problems[0], Problem)
    assert "cache" in problems[0].allowed


def test_source_problems_is_light_and_strict(tmp_path):
    assert locate.source_problems("tiny", "2.3") == []
    assert locate.source_problems(str(tmp_path / "nope"), "2.3")[0].field == "model.source"
    assert "hub id" in locate.source_problems("not a hub id!", "2.3")[0].allowed
    code = (
        "import sys; from ltxbench.model import locate; locate.source_problems('./nope', '2.3');"
        "locate.source_problems('someone/uncached', '2.3'); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_saved_tiny_pipeline_loads_back_through_the_real_path(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "ltx23")
    assert locate.source_problems(str(tmp_path / "ltx23"), "2.3") == []
    loaded = loading.load_pipeline("2.3", str(tmp_path / "ltx23"), dtype="float32", device="cpu")
    assert type(loaded.transformer) is type(pipe.transformer)
    assert type(loaded.vocoder) is type(pipe.vocoder)
    assert tiny.pipeline_hash(loaded) == tiny.pipeline_hash(pipe)


def test_20_folder_loaded_as_23_is_refused(pipe20, tmp_path):
    folder = tmp_path / "ltx20"
    pipe20.save_pretrained(folder)
    problems = locate.source_problems(str(folder), "2.3")
    assert problems and "LTX-2.0" in problems[0].allowed
    with pytest.raises(errors.VersionMismatchError, match="LTX-2.0"):
        loading.load_pipeline("2.3", str(folder), device="cpu")
    # the post-load check catches it too when the config is only known after loading
    with pytest.raises(errors.VersionMismatchError, match="use_prompt_embeddings"):
        loading.check_pipeline_version(pipe20, "2.3", str(folder))
    config = json.loads((folder / "transformer" / "config.json").read_text())
    assert config["use_prompt_embeddings"] is True


def test_resolve_device():
    assert devices.resolve_device("cpu") == torch.device("cpu")
    assert devices.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(errors.DeviceNotAvailableError, match="cuda"):
            devices.resolve_device("cuda")
    with pytest.raises(ValueError):
        devices.resolve_device("tpu")
