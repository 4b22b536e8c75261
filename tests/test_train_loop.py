"""The training loop on the tiny LTX-2.3 model and real footage: learning, checkpoints, resume, stages."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from ltxbench.caption import stage as caption
from ltxbench.curate import stage as curate_stage
from ltxbench.dataset import manifest
from ltxbench.lora import files as lora
from ltxbench.model import forward, tiny
from ltxbench.run import atomic, folder
from ltxbench.train import data, loop
from ltxbench.train import state as TS

from conftest import DATA, REPO, small_params


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A curated, captioned dataset folder (two photos of the character) to copy into runs."""
    tmp = tmp_path_factory.mktemp("ds")
    params = small_params(tmp, curate={"resolution": 64, "clip_frames": 9})
    raw = __import__("yaml").safe_load(params.read_text())
    raw["dataset"]["characters"][0]["media"] = [str(DATA / "obama_2.jpg"), str(DATA / "obama_3.jpg")]
    params.write_text(__import__("yaml").safe_dump(raw))
    run = folder.open_run(tmp / "run", params)
    curate_stage.curate(run)
    caption.caption(run)
    assert len([r for r in manifest.load_manifest(run) if r["status"] == "accepted"]) == 2
    return params, run.path("dataset")


def _run(tmp_path, dataset, name, overrides):
    params_file, dataset_dir = dataset
    run_dir = tmp_path / name
    run_dir.mkdir()
    shutil.copytree(dataset_dir, run_dir / "dataset")
    from ltxbench.params import loading as P

    params = P.load(params_file, overrides)
    folder.init_run_dir(run_dir, params)
    return folder.open_run(run_dir)


def _lora(path):
    return load_file(str(path))


def test_loss_decreases_and_checkpoints_carry_provenance(tmp_path, dataset):
    run = _run(tmp_path, dataset, "learn", {"train.steps": 30, "train.checkpoint_every": 10, "train.learning_rate": 2e-3})
    result = loop.train(run)
    losses = [r["loss"] for r in (result.table().to_dict("records"))]
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10
    assert [p.name for p in result.checkpoints] == [f"lora_step_{s:06d}.safetensors" for s in (10, 20, 30)]
    assert all(TS.state_path(p.parent, lora.checkpoint_step(p)).is_file() for p in result.checkpoints)
    meta = lora.read_metadata(result.checkpoints[-1])
    assert meta["step"] == "30" and meta["base_model_version"] == "2.3" and meta["triggers"] == '{"obama": "obmx"}'
    assert len(meta["dataset_sha256"]) == 64 and meta["params_sha256"] == run.params.sha256()
    assert result.summary["share_per_character"] == {"obama": 1.0}
    assert list(run.path("train", "tb").glob("events.out.tfevents.*"))
    cols = result.table().columns.tolist()
    assert cols == list(loop.METRICS_FIELDS)

    # The saved LoRA loads through diffusers' LTX2Pipeline and changes what it generates.
    pipe = tiny.build_tiny_pipeline()
    kwargs = dict(prompt="obmx talking", width=64, height=64, num_frames=9, num_inference_steps=2, guidance_scale=1.0,
                  stg_scale=0.0, audio_stg_scale=0.0, modality_scale=1.0, audio_modality_scale=1.0, audio_guidance_scale=1.0,
                  max_sequence_length=32, output_type="np")
    base = pipe(generator=torch.Generator().manual_seed(0), **kwargs).frames
    pipe.load_lora_weights(str(result.checkpoints[-1]), adapter_name="trained")
    tuned = pipe(generator=torch.Generator().manual_seed(0), **kwargs).frames
    assert abs(tuned - base).mean() > 1e-4


def test_kill_and_resume_equals_an_uninterrupted_run(tmp_path, dataset):
    overrides = {"train.steps": 24, "train.checkpoint_every": 4, "train.dropout": 0.1, "train.lr_schedule": "cosine"}
    straight = _run(tmp_path, dataset, "straight", overrides)
    expected = _lora(loop.train(straight).checkpoints[-1])

    killed = _run(tmp_path, dataset, "killed", overrides)
    # The killed run computes in a child process: give it this process's thread count, since CPU
    # reductions are bitwise-reproducible only at equal thread counts (an earlier test in the same
    # session may leave OMP_NUM_THREADS in the environment, e.g. Ray's driver).
    threads = str(torch.get_num_threads())
    env = {**os.environ, "LTXBENCH_QUIET": "1", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    proc = subprocess.Popen([sys.executable, "-m", "ltxbench.train", str(killed.dir / "params.yaml"), "--run-dir", str(killed.dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not TS.state_path(killed.path("checkpoints"), 8).is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # kill -9, mid-training
    proc.wait()
    done = TS.latest_state(killed.path("checkpoints"))
    assert done is not None and lora.checkpoint_step(done) < 24, "the kill came too late to test resuming"

    resumed = loop.train(folder.open_run(killed.dir))
    assert resumed.summary["resumed_from_step"] == lora.checkpoint_step(done)
    got = _lora(resumed.checkpoints[-1])
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected), "resumed weights differ from the uninterrupted run"
    straight_rows = straight.path("train", "metrics.csv").read_text().splitlines()
    resumed_rows = killed.path("train", "metrics.csv").read_text().splitlines()
    assert [r.split(",")[2] for r in resumed_rows] == [r.split(",")[2] for r in straight_rows]  # same losses


@pytest.mark.parametrize("damage", ["truncated state", "missing lora", "truncated lora"])
def test_a_damaged_newest_checkpoint_resumes_from_the_one_before_and_says_why(tmp_path, dataset, caplog, damage):
    run = _run(tmp_path, dataset, damage.replace(" ", "_"), {"train.steps": 4, "train.checkpoint_every": 2})
    loop.train(run)
    ckpts = run.path("checkpoints")
    state, lora_file = TS.state_path(ckpts, 4), ckpts / "lora_step_000004.safetensors"
    if damage == "truncated state":
        state.write_bytes(state.read_bytes()[:100])
    elif damage == "missing lora":
        lora_file.unlink()
    else:
        lora_file.write_bytes(lora_file.read_bytes()[:200])
    run.params.train.steps = 6  # carry on: from step 2, the newest intact checkpoint
    resumed = loop.train(run)
    assert resumed.summary["resumed_from_step"] == 2
    assert [p.name for p in resumed.checkpoints] == [f"lora_step_00000{s}.safetensors" for s in (2, 4, 6)]
    named = {"truncated state": "state_step_000004.pt: unreadable", "missing lora": "lora_step_000004.safetensors is missing",
             "truncated lora": "lora_step_000004.safetensors: truncated"}[damage]
    assert named in caplog.text and "trying an earlier checkpoint" in caplog.text
    assert list(ckpts.glob("damaged-*/state_step_000004.pt"))  # the passed-over state moved aside, not deleted


def test_resume_refuses_a_state_from_other_parameters(tmp_path, dataset):
    run = _run(tmp_path, dataset, "refuse", {"train.steps": 2, "train.checkpoint_every": 2})
    loop.train(run)
    changed = _run(tmp_path, dataset, "changed", {"train.steps": 2, "train.checkpoint_every": 2, "train.rank": 8})
    shutil.rmtree(changed.path("checkpoints"), ignore_errors=True)
    shutil.copytree(run.path("checkpoints"), changed.path("checkpoints"))
    with pytest.raises(TS.ResumeRefused, match=r"train.rank: 4 -> 8"):
        loop.train(changed)
    fresh = loop.train(changed, force=True)  # starting over moves the old checkpoints aside
    assert [p.name for p in fresh.checkpoints] == ["lora_step_000002.safetensors"]
    assert list(changed.path("checkpoints").glob("previous-*/lora_step_000002.safetensors"))


def test_staged_recipe_continues_one_lora_across_stages(tmp_path, dataset):
    stages = [{"name": "heads", "steps": 3, "crop": "head", "still": True, "learning_rate": 2e-3},
              {"name": "frames", "steps": 2, "source_kinds": ["image"]}]
    run = _run(tmp_path, dataset, "staged", {"train.stages": stages, "train.checkpoint_every": 5})
    result = loop.train(run)
    rows = result.table().to_dict("records")
    assert [r["stage"] for r in rows] == ["heads"] * 3 + ["frames"] * 2
    assert [p.name for p in result.checkpoints] == ["lora_step_000003.safetensors", "lora_step_000005.safetensors"]  # stage ends
    assert lora.read_metadata(result.checkpoints[0])["stage"] == "heads"
    assert lora.read_metadata(result.checkpoints[1])["stage"] == "frames"
    assert rows[0]["lr"] == pytest.approx(2e-3) and rows[-1]["lr"] == pytest.approx(run.params.train.learning_rate)


def test_nan_loss_stops_with_the_last_good_checkpoint(tmp_path, dataset):
    from safetensors.torch import save_file

    from ltxbench.params import loading as P

    run = _run(tmp_path, dataset, "nan", {"train.steps": 2, "train.checkpoint_every": 2})
    loop.train(run)
    for cached in run.path("cache", "latents").glob("*.safetensors"):  # a corrupted cache entry
        lat = load_file(str(cached))["latents"]
        save_file({"latents": torch.full_like(lat, float("nan"))}, str(cached))
    folder.init_run_dir(run.dir, P.load(run.dir / "params.yaml", {"train.steps": 4}))
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 3.*Last good checkpoint: .*lora_step_000002"):
        loop.train(folder.open_run(run.dir))
    assert [p.name for p in lora.list_checkpoints(run.path("checkpoints"))] == ["lora_step_000002.safetensors"]


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_process_data_parallel_run_matches_one_process(tmp_path, dataset, strategy):
    """2 processes x 1 clip (gloo on CPU) equal 1 process x 2 clips; with fsdp each process holds half
    of every weight, the saved LoRA and optimizer state are gathered into full tensors, and a
    2-step sharded run resumed to 4 steps (optimizer state scattered back) lands on the same weights."""
    import socket

    overrides = {"train.steps": 4, "train.checkpoint_every": 4, "train.learning_rate": 2e-3}
    single = _run(tmp_path, dataset, "single", {**overrides, "train.batch_size": 2})
    expected = _lora(loop.train(single).checkpoints[-1])

    multi = _run(tmp_path, dataset, "multi", {**overrides, "train.batch_size": 1, "train.distributed": strategy})

    def launch(params_file):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "LTXBENCH_QUIET": "1", "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(port), "-m", "ltxbench.train", str(params_file), "--run-dir", str(multi.dir)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]

    if strategy == "fsdp":  # first half, then resume (train.steps may grow between a stop and a resume)
        from ltxbench.params import loading as P

        full = multi.params
        folder.init_run_dir(multi.dir, P.load(multi.dir / "params.yaml", {"train.steps": 2, "train.checkpoint_every": 2}))
        launch(multi.dir / "params.yaml")
        assert [p.name for p in lora.list_checkpoints(multi.path("checkpoints"))] == ["lora_step_000002.safetensors"]
        folder.init_run_dir(multi.dir, full)
    launch(multi.dir / "params.yaml")
    got = _lora(lora.list_checkpoints(multi.path("checkpoints"))[-1])
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=1e-5)
    summary = __import__("json").loads(multi.path("train", "summary.json").read_text())
    assert summary["processes"] == 2 and summary["distributed"] == strategy
    assert summary["resumed_from_step"] == (2 if strategy == "fsdp" else 0)


def test_keep_last_prunes_old_checkpoints_but_keeps_the_best(tmp_path, dataset):
    run = _run(tmp_path, dataset, "prune", {"train.steps": 6, "train.checkpoint_every": 2, "train.keep_last": 1})
    atomic.atomic_write_json(run.path("eval", "best_checkpoint.json"), {"checkpoint": "lora_step_000002"})
    result = loop.train(run)
    assert [p.name for p in result.checkpoints] == ["lora_step_000002.safetensors", "lora_step_000006.safetensors"]
    assert sorted(p.name for p in run.path("checkpoints").glob("state_step_*.pt")) == ["state_step_000002.pt", "state_step_000006.pt"]


# ---------------------------------------------------------------------------------------
# Audio: the clip's own sound (tests/data/speech_en.wav muxed into a clip record)
# ---------------------------------------------------------------------------------------


def _write_speech_excerpt(path, start_s, duration_s=0.5):
    """A PCM wav cut from the real speech recording (what curate writes as clips/<id>.wav)."""
    import wave

    with wave.open(str(DATA / "speech_en.wav"), "rb") as src:
        rate, width, channels = src.getframerate(), src.getsampwidth(), src.getnchannels()
        src.setpos(int(start_s * rate))
        frames = src.readframes(int(duration_s * rate))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as dst:
        dst.setnchannels(channels)
        dst.setsampwidth(width)
        dst.setframerate(rate)
        dst.writeframes(frames)


def _with_audio(run, start_s=1.0, which=1):
    """Give the first ``which`` accepted clips their sound: media_audio + the wav file."""
    records = manifest.load_manifest(run)
    accepted = [r for r in records if r["status"] == "accepted"]
    for r in accepted[:which]:
        r["media_audio"] = f"clips/{r['id']}.wav"
        _write_speech_excerpt(run.path("dataset", r["media_audio"]), start_s)
    atomic.write_jsonl(run.path("dataset", "manifest.jsonl"), records)
    return accepted


def test_audio_latents_are_cached_and_rebuilt_when_the_wav_changes(tmp_path, dataset):
    from ltxbench.train.data import precompute_audio

    run = _run(tmp_path, dataset, "audio_cache", {})
    clips = _with_audio(run)
    pipe = tiny.build_tiny_pipeline()
    got, stats = precompute_audio(run, pipe, clips)
    assert stats == {"audio_hits": 0, "audio_misses": 1}
    assert list(got) == [clips[0]["id"]]  # the clip without sound has no audio latents
    lat, mask = got[clips[0]["id"]]
    assert tuple(lat.shape) == (1, 8, forward.audio_latent_length(pipe, 2, 24.0), 16) and mask.tolist() == [1.0] * lat.shape[2]
    assert torch.isfinite(lat).all() and lat.std() > 0.05
    _, stats = precompute_audio(run, pipe, clips)
    assert stats == {"audio_hits": 1, "audio_misses": 0}
    _write_speech_excerpt(run.path("dataset", clips[0]["media_audio"]), 3.0)  # other words: the wav changed
    again, stats = precompute_audio(run, pipe, clips)
    assert stats == {"audio_hits": 0, "audio_misses": 1}
    assert not torch.equal(again[clips[0]["id"]][0], lat)


def test_audio_stage_learns_the_clip_sound_and_masks_clips_without_it(tmp_path, dataset):
    stages = [{"name": "video_audio", "steps": 24, "audio_loss_weight": 1.0, "learning_rate": 3e-3}]
    run = _run(tmp_path, dataset, "audio_train", {"train.stages": stages, "train.checkpoint_every": 24,
                                                  "train.targets": "all_attention"})
    clips = _with_audio(run)
    result = loop.train(run)
    rows = result.table().to_dict("records")
    with_sound = [r for r in rows if r["clip"] == clips[0]["id"]]
    without = [r for r in rows if r["clip"] != clips[0]["id"]]
    assert with_sound and without
    assert all(r["audio_loss"] != r["audio_loss"] for r in without)  # NaN in the csv: no audio loss, masked out
    audio_losses = [r["audio_loss"] for r in with_sound]
    assert all(math.isfinite(a) for a in audio_losses)
    assert result.summary["cache"]["audio_misses"] == 1
    # per modality, video and audio apart (the loss is their weighted sum)
    assert all(math.isfinite(r["video_loss"]) and math.isfinite(r["video_loss_smoothed"]) for r in rows)
    for r in with_sound:
        assert r["loss"] == pytest.approx(r["video_loss"] + r["audio_loss"], rel=1e-4)
    assert all(math.isfinite(r["audio_loss_smoothed"]) for r in with_sound)
    assert "modalities" in result.summary

    # σ changes every step, so compare the audio loss on the same 6 fixed (σ, noise) draws before and after.
    from peft import LoraConfig
    from peft.utils import set_peft_model_state_dict

    from ltxbench.train.data import precompute, precompute_audio

    pipe = tiny.build_tiny_pipeline()
    lat, text, _ = precompute(run, pipe, clips)
    audio, _ = precompute_audio(run, pipe, clips)
    stage = run.params.train.stages[0]
    cid = clips[0]["id"]

    def audio_loss_on_fixed_draws():
        with torch.no_grad():
            return float(sum(loop._clip_loss(pipe, lat[cid], text[cid], torch.Generator().manual_seed(i), stage, run.params.train,
                                        torch.device("cpu"), audio[cid])[2] for i in range(6))) / 6

    before = audio_loss_on_fixed_draws()
    cfg = run.params.train
    pipe.transformer.add_adapter(LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, target_modules=lora.TARGET_PRESETS[cfg.targets]))
    state = torch.load(TS.latest_state(run.path("checkpoints")), weights_only=True)
    set_peft_model_state_dict(pipe.transformer, state["lora"])
    after = audio_loss_on_fixed_draws()
    print(f"audio loss on fixed draws: {before:.4f} -> {after:.4f}")
    assert after < before * 0.97, (before, after)


def test_audio_stage_without_any_clip_with_audio_is_refused_naming_the_stage(tmp_path, dataset):
    stages = [{"name": "frames", "steps": 1}, {"name": "talking", "steps": 1, "audio_loss_weight": 0.5}]
    run = _run(tmp_path, dataset, "audio_refused", {"train.stages": stages})
    with pytest.raises(data.TrainingDataError, match=r"stage 'talking' has audio_loss_weight 0.5 but none of its 2 clip"):
        loop.train(run)
    assert not run.path("cache").exists() or not list(run.path("cache").rglob("*.safetensors"))  # refused before encoding


def test_int8_base_weights_train_the_same_lora_layout(tmp_path, dataset):
    overrides = {"train.steps": 6, "train.checkpoint_every": 6, "train.learning_rate": 2e-3}
    plain = _lora(loop.train(_run(tmp_path, dataset, "fp32_base", overrides)).checkpoints[-1])
    run = _run(tmp_path, dataset, "int8_base", {**overrides, "train.base_quantization": "int8"})
    result = loop.train(run)
    quantized = _lora(result.checkpoints[-1])
    assert quantized.keys() == plain.keys()
    assert all(quantized[k].dtype == torch.float32 for k in quantized)  # the LoRA itself is not quantized
    assert all(math.isfinite(r["loss"]) for r in result.table().to_dict("records"))
    b_keys = [k for k in quantized if k.endswith("lora_B.weight")]
    assert all(quantized[k].abs().sum() > 0 for k in b_keys)  # B starts at zero: every adapter trained
    assert result.summary["trainable_parameters"] == sum(v.numel() for v in plain.values())  # only LoRA trains
    assert any(not torch.equal(quantized[k], plain[k]) for k in b_keys)  # 8-bit base weights change the result


def test_prior_preservation_trains_on_the_bases_own_trigger_free_videos(tmp_path, dataset):
    """The prior videos are what the base pipeline itself renders for the caption without the
    trigger (same seed, same sampler settings), cached; every step adds their loss."""
    from ltxbench.evaluate.generate import sampler_settings
    from ltxbench.train import prior as train_prior

    run = _run(tmp_path, dataset, "prior", {"train.steps": 4, "train.checkpoint_every": 4,
                                             "train.prior_preservation.samples": 2})
    result = loop.train(run)
    captions = result.summary["prior_preservation"]["captions"]
    assert captions and all("obmx" not in c for c in captions)
    assert result.summary["cache"]["prior_misses"] == 2
    assert all(r["prior_loss"] > 0 for r in result.table().to_dict("records"))
    assert run.path("train", "prior.png").is_file()

    cached = [load_file(str(p))["latents"] for p in run.path("cache", "prior").glob("*.safetensors")]
    assert len(cached) == 2
    pipe = tiny.build_tiny_pipeline()
    vae = pipe.vae

    def base_render(caption, index, shape):
        _, _, f, h, w = shape
        settings = dict(sampler_settings(run.params.evaluate, run.params.model), num_frames=(f - 1) * 8 + 1, height=h * 32, width=w * 32)
        out = pipe(prompt=caption, generator=torch.Generator().manual_seed(train_prior.SEED_OFFSET + index),
                   output_type="latent", return_dict=False, **settings)[0]
        return pipe._normalize_latents(out, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)

    for c in cached:  # each one is the base's own rendering of a trigger-free caption at its seed
        assert any(torch.allclose(base_render(cap, i, c.shape), c, atol=1e-5) for cap in captions for i in range(2))
    assert cached[0].shape != cached[1].shape or not torch.allclose(cached[0], cached[1])  # two seeds: two videos

    again = loop.train(run, force=True)
    assert again.summary["cache"]["prior_hits"] == 2 and again.summary["cache"].get("prior_misses", 0) == 0


def test_a_flat_audio_loss_beside_a_falling_video_loss_is_noted():
    steps = range(1, 101)
    flat = [{"step": i, "audio_loss_smoothed": 0.30 + 0.001 * (i % 2), "video_loss_smoothed": 1.0 - 0.006 * i} for i in steps]
    note = loop.modality_note(flat)
    assert note is not None and note.startswith("the audio loss has flattened")
    both_fall = [{**r, "audio_loss_smoothed": 0.6 - 0.004 * r["step"]} for r in flat]
    assert loop.modality_note(both_fall) is None
    assert loop.modality_note([{"step": 1, "video_loss_smoothed": 1.0, "audio_loss_smoothed": None}]) is None  # no audio
