"""Training pieces: refusals with their fix, the σ schedule, the latent and text cache."""

from __future__ import annotations

import math

import pytest
import torch

from ltxbench import errors
from ltxbench.model import forward, tiny, versions
from ltxbench.params import loading
from ltxbench.run import atomic, folder
from ltxbench.train import data, schedule


def _run_with_manifest(tmp_path, params_file, records):
    run = folder.open_run(tmp_path / "run", params_file)
    atomic.write_jsonl(run.path("dataset", "manifest.jsonl"), records)
    return run


def _clip(cid, caption="obmx, a medium shot", lint=(), status="accepted", **extra):
    return {"id": cid, "character": "obama", "status": status, "caption": caption, "lint": list(lint),
            "media": f"clips/{cid}.mp4", "num_frames": 9, "width": 64, "height": 64, "source_kind": "image", **extra}


def test_too_few_clips_is_refused_with_the_fix(tmp_path, params_file):
    run = _run_with_manifest(tmp_path, params_file, [_clip("a", status="rejected")])
    with pytest.raises(data.TrainingDataError, match="lower train.min_clips"):
        data.training_clips(run)


def test_lint_errors_and_missing_captions_block_training(tmp_path, params_file):
    run = _run_with_manifest(tmp_path, params_file, [_clip("a", lint=[{"level": "error", "code": "missing_trigger", "message": "no trigger"}])])
    with pytest.raises(data.TrainingDataError, match="lint error"):
        data.training_clips(run)
    run = _run_with_manifest(tmp_path, params_file, [_clip("a", caption=None)])
    with pytest.raises(data.TrainingDataError, match="run the caption stage"):
        data.training_clips(run)
    run = _run_with_manifest(tmp_path, params_file, [_clip("a", lint=[{"level": "warning", "code": "too_short", "message": "short"}])])
    import numpy as np

    from ltxbench.media import video

    video.write_mp4(run.path("dataset", "clips", "a.mp4"), np.zeros((9, 64, 64, 3), np.uint8), fps=24)
    assert [c["id"] for c in data.training_clips(run)] == ["a"]  # warnings do not block


def test_token_shift_matches_the_inference_schedule():
    from diffusers.pipelines.ltx2.pipeline_ltx2 import calculate_shift

    cfg = dict(versions.LTX2_SCHEDULER_CONFIG)
    for tokens in (256, 1024, 2500, 4096, 6000):
        expected = calculate_shift(tokens, cfg["base_image_seq_len"], cfg["max_image_seq_len"], cfg["base_shift"], cfg["max_shift"])
        assert schedule.token_shift(tokens, cfg) == pytest.approx(expected)


def test_sigma_samples_lie_in_the_open_interval_and_shift_upwards():
    g = torch.Generator().manual_seed(0)
    low = [schedule.sample_sigma(g, 0.0) for _ in range(400)]
    high = [schedule.sample_sigma(g, 2.0) for _ in range(400)]
    assert all(0.0 < s < 1.0 for s in low + high)
    assert abs(sum(low) / 400 - 0.5) < 0.05  # logit-normal without shift is centred
    assert sum(high) / 400 > sum(low) / 400 + 0.2  # more tokens -> noisier σ, as at inference


def test_learning_rate_schedules():
    assert [schedule.lr_at(s, 4, 1.0, 2, "constant") for s in (1, 2, 3, 4)] == pytest.approx([0.5, 1.0, 1.0, 1.0])
    assert [schedule.lr_at(s, 6, 1.0, 2, "linear") for s in (3, 4, 5, 6)] == pytest.approx([0.75, 0.5, 0.25, 0.0])
    assert [schedule.lr_at(s, 4, 1.0, 0, "cosine") for s in (1, 2, 3, 4)] == pytest.approx([0.8535534, 0.5, 0.1464466, 0.0])


def test_cache_is_reused_and_rebuilt_when_a_caption_changes(tmp_path, params_file):
    import numpy as np

    from ltxbench.media import video

    run = folder.open_run(tmp_path / "run", params_file)
    frames = np.random.default_rng(0).integers(0, 255, size=(9, 64, 64, 3), dtype=np.uint8)
    video.write_mp4(run.path("dataset", "clips", "a.mp4"), frames, fps=24)
    pipe = tiny.build_tiny_pipeline()
    clips = [_clip("a")]
    lat, text, stats = data.precompute(run, pipe, clips)
    assert stats == {"latent_hits": 0, "latent_misses": 1, "text_hits": 0, "text_misses": 1}
    assert tuple(lat["a"].shape) == (1, 128, 2, 2, 2)
    _, _, stats = data.precompute(run, pipe, clips)
    assert stats == {"latent_hits": 1, "latent_misses": 0, "text_hits": 1, "text_misses": 0}
    _, _, stats = data.precompute(run, pipe, [_clip("a", caption="obmx, a wide shot")])
    assert stats["text_misses"] == 1 and stats["latent_hits"] == 1
    video.write_mp4(run.path("dataset", "clips", "a.mp4"), frames[:, ::-1].copy(), fps=24)  # the clip changed
    _, _, stats = data.precompute(run, pipe, clips)
    assert stats["latent_misses"] == 1
    assert math.isfinite(float(lat["a"].abs().mean()))


def test_switching_the_model_version_rebuilds_the_caches(tmp_path, params_file):
    """Text embeddings (and latents) of one version are never reused for another: a known cause of
    degraded runs when users move a run from 2.3 to 2.5 (ltx-trainer asks for --overwrite)."""
    import numpy as np

    from conftest import small_params
    from ltxbench.media import video

    run = folder.open_run(tmp_path / "run", params_file)
    frames = np.random.default_rng(0).integers(0, 255, size=(9, 64, 64, 3), dtype=np.uint8)
    video.write_mp4(run.path("dataset", "clips", "a.mp4"), frames, fps=24)
    _, _, stats = data.precompute(run, tiny.build_tiny_pipeline("2.3"), [_clip("a")])
    assert stats["text_misses"] == 1 and stats["latent_misses"] == 1
    (tmp_path / "p25").mkdir()
    folder.init_run_dir(run.dir, loading.load(small_params(tmp_path / "p25", model={"version": "2.5"})))
    run25 = folder.open_run(run.dir)
    assert run25.params.model.version == "2.5" and data.model_id(run25) != data.model_id(run)
    _, text, stats = data.precompute(run25, tiny.build_tiny_pipeline("2.5"), [_clip("a")])
    assert stats == {"latent_hits": 0, "latent_misses": 1, "text_hits": 0, "text_misses": 1}
    _, _, stats = data.precompute(run25, tiny.build_tiny_pipeline("2.5"), [_clip("a")])
    assert stats["text_hits"] == 1 and stats["latent_hits"] == 1


def test_guards_name_the_offending_clips(tmp_path, params_file):
    import numpy as np

    from ltxbench.media import video

    run = _run_with_manifest(tmp_path, params_file, [_clip("a", caption="a medium shot of a person")])
    with pytest.raises(data.TrainingDataError, match=r"lack their character's trigger \(a\)"):
        data.training_clips(run)
    run = _run_with_manifest(tmp_path, params_file, [_clip("b", num_frames=10), _clip("c", width=70)])
    with pytest.raises(data.TrainingDataError, match=r"off the LTX grid.*b \(10 frames.*c \(9 frames, 70x64\)"):
        data.training_clips(run)
    run = _run_with_manifest(tmp_path, params_file, [_clip("d")])
    with pytest.raises(data.TrainingDataError, match=r"clip file\(s\) are missing \(d\)"):
        data.training_clips(run)
    video.write_mp4(run.path("dataset", "clips", "d.mp4"), np.zeros((9, 64, 64, 3), np.uint8), fps=24)
    assert [c["id"] for c in data.training_clips(run)] == ["d"]


def test_weighted_sampling_follows_character_and_kind_weights(params_file):
    from ltxbench.train.data import ClipSampler

    cfg = loading.load(params_file, {"train.source_kind_weights": {"video": 3.0, "image": 1.0}}).train
    clips = [_clip("v", source_kind="video"), _clip("i", source_kind="image")]
    sampler = ClipSampler.build(clips, cfg)
    g = torch.Generator().manual_seed(0)
    draws = [sampler.draw(g)["id"] for _ in range(2000)]
    assert abs(draws.count("v") / 2000 - 0.75) < 0.04


def test_character_weights_must_name_a_character(params_file):
    with pytest.raises(errors.ParamsError, match="no such character"):
        loading.load(params_file, {"train.character_weights": {"nobody": 2.0}})


def test_log_mel_puts_a_tone_in_its_mel_band_at_100_frames_per_second():
    from ltxbench.model import audio as ltx_audio

    sr = 16000
    t = torch.arange(sr) / sr
    tone = torch.sin(2 * math.pi * 1000.0 * t)[None].repeat(2, 1)  # 1 s stereo, 1 kHz
    mel = ltx_audio.log_mel(tone, sr, hop_length=160, n_mels=64)
    assert tuple(mel.shape) == (2, 101, 64)  # centred frames: 1 + T / hop
    centres = ltx_audio.mel_frequencies(sr, 64)
    peak = int(mel[0].mean(0).argmax())
    assert abs(float(centres[peak]) - 1000.0) == float((centres - 1000.0).abs().min())  # the band nearest 1 kHz
    silence = ltx_audio.log_mel(torch.zeros(2, sr), sr)
    assert torch.allclose(silence, torch.full_like(silence, math.log(ltx_audio.LOG_FLOOR)))


def test_a_still_stage_cannot_train_audio(params_file):
    with pytest.raises(errors.ParamsError, match="still stage cannot train audio"):
        loading.load(params_file, {"train.stages": [{"name": "s", "steps": 1, "still": True, "audio_loss_weight": 1.0}]})


def test_flop_count_matches_pytorchs_counter_on_the_tiny_transformer():
    """The analytic count against PyTorch's FlopCounterMode, per kind of matmul.

    Attention runs on SDPA's math backend here: there it is two ``bmm`` per call, which every
    torch counts. The fused CPU/GPU kernels (``_scaled_dot_product_flash_attention_for_cpu``,
    flash, cuDNN) have flop formulas in some torch versions and not in others (torch 2.14.1's
    counter left the CPU flash kernel out and reported about half the model's FLOPs), so the
    total under the default backend says more about the torch version than about the model."""
    from peft import LoraConfig
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from ltxbench.lora import files as lora
    from ltxbench.train import flops as train_flops

    def counted(counter: FlopCounterMode) -> tuple[int, int]:
        by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
        weight_ops = sum(n for op, n in by_op.items() if op in ("aten.mm", "aten.addmm"))
        assert set(by_op) <= {"aten.mm", "aten.addmm", "aten.bmm"}, by_op  # nothing else does matmul work
        return weight_ops, by_op.get("aten.bmm", 0)

    pipe = tiny.build_tiny_pipeline()
    cond = forward.encode_prompts(pipe, ["obmx talking"], max_sequence_length=64)
    x = torch.randn(1, 128, 7, 4, 7)  # 49 frames at 224x128: 196 video tokens
    ta = forward.audio_latent_length(pipe, 7)
    config = dict(pipe.transformer.config)
    weights, attention = train_flops.forward_flops_split(config, 196, ta, 64)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        forward.transformer_forward(pipe, x, None, cond, 0.5, generator=torch.Generator().manual_seed(0)).video
    counted_weights, counted_attention = counted(counter)
    assert attention == counted_attention  # Q·Kᵀ and A·V: exact
    assert weights == pytest.approx(counted_weights, rel=0.02)  # the rest: per-sample embedding MLPs
    assert weights < counted_weights
    assert train_flops.transformer_forward_flops(config, 196, ta, 64) == weights + attention

    # A LoRA step on a frozen base, adapted as the GPU benchmark adapts it (every attention projection):
    # the count's convention is forward + activation-gradient backward, 2x the weight matmuls and 3x the
    # attention matmuls. It is an upper bound: autograd skips the gradients nothing needs (the patch-in
    # projections of the data, the text key/value projections of the frozen base): 5% fewer here.
    # Rank 1 keeps the LoRA's own matmuls, which the model count leaves out, small on this tiny width.
    pipe.transformer.requires_grad_(False)
    pipe.transformer.add_adapter(LoraConfig(r=1, lora_alpha=1, target_modules=lora.TARGET_PRESETS["all_attention"]))
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        forward.transformer_forward(pipe, x, None, cond, 0.5, generator=torch.Generator().manual_seed(0)).video.square().mean().backward()
    step = train_flops.train_step_model_flops(config, 196, ta, 64)
    assert step == 2 * weights + 3 * attention
    assert 0.9 * step < sum(counted(counter)) <= step
    assert train_flops.video_tokens(49, 512, 768) == 2688 and train_flops.audio_tokens(49, 24.0) == 51


def test_stage_clips_use_head_crop_clips_in_head_stages_only():
    """Curate's head-crop clips (``variant: head``) train in ``crop: head`` stages; full-frame
    stages never see them (they repeat their parent); a clip with a face box but no head-crop
    clip of its own is cropped on the fly."""
    from ltxbench.params import schema
    from ltxbench.train.data import stage_clips

    box = {"face_box": [0.4, 0.2, 0.6, 0.5]}
    clips = [
        {"id": "a", "source_kind": "video", "variant": "full", "parent": None, "scores": box},
        {"id": "a-head", "source_kind": "video", "variant": "head", "parent": "a", "scores": box},
        {"id": "b", "source_kind": "video", "variant": "full", "parent": None, "scores": box},
        {"id": "c", "source_kind": "image", "scores": {"face_box": None}},  # older manifest: no variant field
    ]
    full = stage_clips(clips, schema.TrainStageSection(name="full", steps=1))
    assert [r["id"] for r in full] == ["a", "b", "c"]
    head = stage_clips(clips, schema.TrainStageSection(name="head", steps=1, crop="head"))
    assert [r["id"] for r in head] == ["a-head", "b"]


@pytest.mark.parametrize("caption, subject, expected", [
    ("obmx, a medium shot of a person facing the camera", "", "a medium shot of a person facing the camera"),
    ("a photo of obmx smiling, soft light", "a man", "a photo of a man smiling, soft light"),
    ("close-up of obmx, obmx laughing", "", "close-up of, laughing"),
    ("obmxy and obmx", "", "obmxy and"),  # whole words only: another word that starts with the trigger stays
    ("obmx", "", ""),
])
def test_the_prior_prompt_is_the_caption_without_its_trigger(caption, subject, expected):
    from ltxbench.train.prior import without_trigger

    assert without_trigger(caption, "obmx", subject) == expected


def test_prior_prompts_skip_captions_that_are_only_the_trigger():
    from ltxbench.train.prior import prior_prompts

    clips = [{"id": "a", "character": "obama", "caption": "obmx"}, {"id": "b", "character": "obama", "caption": "obmx walking"}]
    assert prior_prompts(clips, {"obama": "obmx"}, "") == [("b", "walking")]


def test_prior_preservation_on_captions_that_are_only_the_trigger_is_refused_before_any_model_loads(tmp_path):
    from ltxbench.train import prior as train_prior
    from ltxbench.train.data import TrainingDataError

    from conftest import small_params

    run = folder.open_run(tmp_path / "run", small_params(tmp_path, train={"prior_preservation": {"samples": 2}}))
    with pytest.raises(TrainingDataError, match="only the trigger"):
        train_prior.check_prompts(run, [{"id": "a", "character": "obama", "caption": "obmx"}])
