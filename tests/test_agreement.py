"""Training and generation agree: what the train stage fits is what the evaluate stage samples.

The classic check: overfit one real clip, then generate from its prompt and see the clip come
back. Everything on the way is the product's own code, so a wrong sign in the velocity target, a
σ/timestep scale mismatch, latents normalised differently in the cache and in the sampler, or a
LoRA saved under keys the pipeline does not load each makes these tests fail:

* the clip's latents come from the train cache's encoder (``ltx.encode_video``), the loss from the
  train stage (``train._clip_loss``, σ drawn by its sampler, with its learning-rate schedule);
* generation is ``LTX2Pipeline.__call__`` with the evaluate stage's settings
  (``eval_generate.sampler_settings``), which denormalises its output itself; a LoRA is saved by
  ``lora.save_lora`` and loaded by the evaluate stage's ``Adapters`` (``load_lora_weights``).

The transformer here is wider than the default tiny one (256 wide, 4 blocks): the default is 32
wide, narrower than the 128 latent channels, and cannot carry the noise through its residual
stream, so it cannot fit a flow-matching target closely whatever the code does. Training is
video-only, the train stage's default. Its audio->video attention is switched off (output
projection zero, frozen), so the video stream is measured alone: video-only training shows the
video stream pure-noise audio (σ_audio = 1, the pipeline's first-step input), while the pipeline
denoises the audio alongside the video, and an audio->video attention that never learned anything
(random weights here) then feeds the video stream inputs it never saw in training. With it left on,
the same run generates the clip with a relative error of 0.58 instead of 0.33 (measured with
``--keep-audio-to-video``). A pretrained base has learned that attention; how much the
mismatch costs a LoRA on the real model is not measured here.

``python tests/test_agreement.py --break sign|sigma|normalization`` runs the same training with one
convention deliberately broken and prints the errors, to show the tests would catch it. Measured
(correct conventions 0.33, 0.68 on another CPU; a random model 3.90): sign 6.94, σ scale 1.43, cache
normalisation 0.92.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ltxbench.evaluate import generate as eval_generate
from ltxbench.lora import files as lora
from ltxbench.media import frames as media_frames
from ltxbench.media import video
from ltxbench.model import forward as model_forward
from ltxbench.model import tiny
from ltxbench.params import schema as P
from ltxbench.train import distributed, loop, schedule

DATA = Path(__file__).resolve().parent / "data"
SIZES = {"num_layers": 4, "num_attention_heads": 8, "attention_head_dim": 32,
         "audio_num_attention_heads": 8, "audio_attention_head_dim": 8}
PROMPT = "a man on a bridge, medium shot"
FRAMES, WIDTH, HEIGHT, TEXT_LEN = 9, 96, 64, 32
FULL_STEPS, FULL_LR = 2000, 3e-3


def real_clip(first_frame: int = 100) -> torch.Tensor:
    """Nine frames of Tears of Steel (frame 100 on: a man on a bridge) at 96x64, ``[1, 3, F, H, W]`` in [-1, 1]."""
    frames = video.read_frames(DATA / "tears_of_steel_10s.mp4", list(range(first_frame, first_frame + FRAMES)))
    frames = np.stack([media_frames.resize_crop(f, WIDTH, HEIGHT) for f in frames])
    return torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).float() / 127.5 - 1.0


def evaluate_settings() -> dict:
    cfg = P.EvaluateSection(prompts=[{"id": "p", "text": PROMPT}], seeds=[0], width=WIDTH, height=HEIGHT,
                            num_frames=FRAMES, num_inference_steps=8, guidance_scale=1.0, stg_scale=0.0,
                            stg_blocks=[], modality_scale=1.0, guidance_rescale=0.0, audio_guidance_scale=1.0)
    return eval_generate.sampler_settings(cfg, P.ModelSection(max_sequence_length=TEXT_LEN))


class Clip:
    """One clip as the train stage caches it (normalised latents, text conditioning), and what the
    VAE makes of it computed here without the cache's code: the pipeline's output is compared in
    VAE space, so a cache that normalised differently from the pipeline would show."""

    def __init__(self, pipe, first_frame: int = 100):
        pixels = real_clip(first_frame)
        self.pixels = pixels
        self.video = model_forward.encode_video(pipe, pixels)
        self.cond = model_forward.encode_prompts(pipe, [PROMPT], max_sequence_length=TEXT_LEN)
        with torch.no_grad():
            self.video_vae_space = pipe.vae.encode(pixels).latent_dist.mode()


def learning_model(keep_audio_to_video: bool = False):
    """The tiny pipeline with a transformer wide enough to fit (``SIZES``); its audio->video
    attention silenced and frozen unless ``keep_audio_to_video`` (see the module docstring)."""
    pipe = tiny.build_tiny_pipeline(transformer_sizes=SIZES)
    if not keep_audio_to_video:
        with torch.no_grad():
            for block in pipe.transformer.transformer_blocks:
                out = block.audio_to_video_attn.to_out[0]
                out.weight.zero_()
                out.bias.zero_()
    return pipe


def trainable(pipe) -> list:
    """Every transformer weight but the silenced audio->video output projection."""
    frozen = {id(b.audio_to_video_attn.to_out[0].weight) for b in pipe.transformer.transformer_blocks}
    frozen |= {id(b.audio_to_video_attn.to_out[0].bias) for b in pipe.transformer.transformer_blocks}
    params = [p for p in pipe.transformer.parameters() if id(p) not in frozen]
    for p in pipe.transformer.parameters():
        p.requires_grad_(id(p) not in frozen)
    return params


def fit(pipe, clip: Clip, params, steps: int, lr: float) -> list[float]:
    """The train stage's loss on one clip (video only, its default), its σ sampler and per-sample
    generators, a cosine schedule."""
    cfg = P.TrainSection(steps=steps, checkpoint_every=steps, learning_rate=lr)
    stage = schedule.resolve_stages(cfg)[0]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    pipe.transformer.train()
    losses = []
    for step in range(1, steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(step, steps, lr, 50, "cosine")
        loss, *_ = loop._clip_loss(pipe, clip.video, clip.cond, schedule.sample_generator(0, step, 0), stage, cfg,
                                      torch.device("cpu"))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    pipe.transformer.eval()
    return losses


def generated(pipe, seed: int) -> torch.Tensor:
    """The pipeline's own output for the clip's prompt: video latents in VAE space (the pipeline
    denormalises them itself)."""
    with torch.no_grad():
        return pipe(prompt=PROMPT, generator=torch.Generator().manual_seed(seed), output_type="latent",
                    return_dict=False, **evaluate_settings())[0]


def relative_error(pipe, clip: Clip, seeds=(0, 1)) -> float:
    """Mean over seeds of |generated - clip| / |clip| in VAE space."""
    return float(np.mean([((generated(pipe, s) - clip.video_vae_space).norm() / clip.video_vae_space.norm()).item()
                          for s in seeds]))


@pytest.fixture(scope="module")
def overfit_full():
    torch.manual_seed(0)
    pipe = learning_model()
    clip = Clip(pipe)
    before = relative_error(pipe, clip)
    losses = fit(pipe, clip, trainable(pipe), FULL_STEPS, FULL_LR)
    return pipe, clip, before, losses


def test_a_model_trained_on_one_clip_generates_that_clip(overfit_full):
    pipe, clip, before, losses = overfit_full
    after = relative_error(pipe, clip)
    print(f"relative error of the generated latents: {before:.3f} (random) -> {after:.3f} (trained); "
          f"loss {np.mean(losses[:50]):.3f} -> {np.mean(losses[-50:]):.3f}")
    assert before > 2.0  # a random model generates something else
    assert after < VIDEO_BOUND
    # and it is *this* clip, not any clip: another shot of the film is far away
    other = Clip(pipe, first_frame=OTHER_SHOT)
    v = generated(pipe, 0)
    # measured 8.0 against 11.6 (a ratio of 0.69) on the AVX2 machine below
    assert (v - clip.video_vae_space).norm() < 0.8 * (v - other.video_vae_space).norm()


def test_a_lora_trained_by_the_stage_code_moves_generation_to_its_clip_after_a_save_and_load(overfit_full, tmp_path):
    """On the overfit model as the base, a LoRA fitted to another shot, saved as the train stage saves
    checkpoints and loaded into a fresh pipeline as the evaluate stage loads them, generates that shot."""
    from peft import LoraConfig

    base, first, _, _ = overfit_full
    base_state = {k: v.clone() for k, v in base.transformer.state_dict().items()}
    pipe = learning_model()
    pipe.transformer.load_state_dict(base_state)
    target = Clip(pipe, first_frame=OTHER_SHOT)
    before = relative_error(pipe, target)
    pipe.transformer.requires_grad_(False)
    pipe.transformer.add_adapter(LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, init_lora_weights=True,
                                            target_modules=lora.TARGET_PRESETS[LORA_TARGETS]))
    fit(pipe, target, [p for p in pipe.transformer.parameters() if p.requires_grad], LORA_STEPS, LORA_LR)
    in_memory = generated(pipe, 0)

    path = lora.save_lora(tmp_path / "lora_step_000001.safetensors", distributed.lora_state_dict(pipe.transformer),
                          lora.Provenance(base_version="2.3", base_source="tiny", rank=LORA_RANK, alpha=LORA_RANK,
                                          targets=LORA_TARGETS, triggers={}, step=LORA_STEPS, stage="s",
                                          dataset_sha256="-", params_sha256="-"))
    fresh = learning_model()
    fresh.transformer.load_state_dict(base_state)
    adapters = eval_generate.Adapters(fresh, [])
    adapters.use("lora_step_000001", path)
    reloaded = generated(fresh, 0)
    assert torch.allclose(reloaded, in_memory, atol=1e-4), (reloaded - in_memory).abs().max()  # every key loaded

    after = relative_error(fresh, target)
    print(f"LoRA: relative error to its clip {before:.3f} (base) -> {after:.3f}; to the base's clip "
          f"{relative_error(fresh, first):.3f}")
    assert after < 0.8 * before and after < LORA_BOUND
    assert after < relative_error(fresh, first)  # it draws its own clip, not the base's
    adapters.use("base", None)  # deleted: the base again
    assert torch.allclose(generated(fresh, 0), generated(base, 0), atol=1e-4)


# The fits are chaotic in the last digits: the same code and pins give 0.325 on one CPU and 0.684
# on another (AMD EPYC, AVX2; loss 1.06 -> 0.07 on both), so the bounds hold on both with margin
# and still sit below what a broken convention gives (sign 6.94, sigma scale 1.43, cache
# normalisation 0.92, measured on the first) and far below a random model's 3.90.
VIDEO_BOUND = 0.8
OTHER_SHOT = 30  # frames 30-38: another shot of the film (a different person, another place)
# LoRA to its clip, measured 0.831 -> 0.347 and 0.903 -> 0.645 (the two CPUs above)
LORA_RANK, LORA_TARGETS, LORA_STEPS, LORA_LR, LORA_BOUND = 64, "video_attention", 1000, 3e-3, 0.75


def test_the_pipelines_decoder_and_the_cache_encoder_invert_each_other():
    """Cached latents decode (``ltx.decode_video``, the evaluate side's decoder) to exactly what the
    VAE alone reconstructs from the clip, and the pipeline's own decoded frames are the decoding of
    the VAE-space latents it returns: one latent space on both sides."""
    pipe = tiny.build_tiny_pipeline()
    pixels = real_clip()
    cached = model_forward.encode_video(pipe, pixels)
    with torch.no_grad():
        raw = pipe.vae.encode(pixels).latent_dist.mode()
        reconstruction = pipe.vae.decode(raw, None, return_dict=False)[0]  # the VAE's own best, [-1, 1]
    assert torch.allclose(model_forward.decode_video(pipe, cached), reconstruction, atol=1e-5)
    assert (cached - raw).abs().max() > 0.1  # the normalisation is not the identity here: the check has teeth

    settings = evaluate_settings()
    with torch.no_grad():
        latent_out = pipe(prompt=PROMPT, generator=torch.Generator().manual_seed(3), output_type="latent",
                          return_dict=False, **settings)[0]
        frames = pipe(prompt=PROMPT, generator=torch.Generator().manual_seed(3), output_type="pt",
                      return_dict=False, **settings)[0]  # [B, F, 3, H, W] in [0, 1]
    normalised = pipe._normalize_latents(latent_out, pipe.vae.latents_mean, pipe.vae.latents_std, pipe.vae.config.scaling_factor)
    decoded = ((model_forward.decode_video(pipe, normalised).clamp(-1, 1) + 1) / 2).permute(0, 2, 1, 3, 4)
    assert frames.shape == decoded.shape == (1, FRAMES, 3, HEIGHT, WIDTH)
    assert torch.allclose(frames, decoded, atol=1e-4), (frames - decoded).abs().max()


# ---------------------------------------------------------------------------------------
# The same training with one convention broken: these are what the tests above must catch
# ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def broken(convention: str):
    """Break one convention on the training side only; the pipeline keeps its own."""
    saved = {name: getattr(model_forward, name) for name in ("velocity_target", "transformer_forward", "encode_video")}
    if convention == "sign":  # the target points from noise to data instead of data to noise
        model_forward.velocity_target = lambda x0, noise: x0 - noise
    elif convention == "sigma":  # the transformer sees σ in [0, 1] where the pipeline passes σ·1000
        def forward(pipe, x, a, cond, sigma, **kw):
            kw["audio_sigma"] = None if kw.get("audio_sigma") is None else kw["audio_sigma"] / 1000.0
            return saved["transformer_forward"](pipe, x, a, cond, torch.as_tensor(sigma) / 1000.0, **kw)
        model_forward.transformer_forward = forward
    elif convention == "normalization":  # the cache stores VAE-space latents, unnormalised
        def encode(pipe, frames, **kw):
            with torch.no_grad():
                return pipe.vae.encode(frames.to(pipe.vae.dtype)).latent_dist.mode().float()
        model_forward.encode_video = encode
    elif convention != "none":
        raise ValueError(convention)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(model_forward, name, fn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--break", dest="convention", default="none", choices=["none", "sign", "sigma", "normalization"])
    parser.add_argument("--steps", type=int, default=FULL_STEPS)
    parser.add_argument("--keep-audio-to-video", action="store_true",
                        help="leave the (untrained) audio->video attention on, to measure what it costs")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    pipe = learning_model(args.keep_audio_to_video)
    with broken(args.convention):
        clip = Clip(pipe)
        before = relative_error(pipe, clip)
        params = list(pipe.transformer.parameters()) if args.keep_audio_to_video else trainable(pipe)
        losses = fit(pipe, clip, params, args.steps, FULL_LR)
    after = relative_error(pipe, clip)
    print(f"--break {args.convention}{' --keep-audio-to-video' if args.keep_audio_to_video else ''}: loss "
          f"{np.mean(losses[:50]):.3f} -> {np.mean(losses[-50:]):.3f}; relative error of the generated latents "
          f"{before:.3f} -> {after:.3f} (bound {VIDEO_BOUND}): the test would {'pass' if after < VIDEO_BOUND else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
