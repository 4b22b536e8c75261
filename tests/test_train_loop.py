"""The training loop on the tiny LTX-2.3 model and real footage: learning, checkpoints, resume, stages."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from ltxbench import caption, curate, lora, ltx, runs, train
from ltxbench import train_state as TS

from conftest import DATA, REPO, small_params


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A curated, captioned dataset folder (two photos of the character) to copy into runs."""
    tmp = tmp_path_factory.mktemp("ds")
    params = small_params(tmp, curate={"resolution": 64, "clip_frames": 9})
    raw = __import__("yaml").safe_load(params.read_text())
    raw["dataset"]["characters"][0]["media"] = [str(DATA / "obama_2.jpg"), str(DATA / "obama_3.jpg")]
    params.write_text(__import__("yaml").safe_dump(raw))
    run = runs.open_run(tmp / "run", params)
    curate.curate(run)
    caption.caption(run)
    assert len([r for r in curate.load_manifest(run) if r["status"] == "accepted"]) == 2
    return params, run.path("dataset")


def _run(tmp_path, dataset, name, overrides):
    params_file, dataset_dir = dataset
    run_dir = tmp_path / name
    run_dir.mkdir()
    shutil.copytree(dataset_dir, run_dir / "dataset")
    from ltxbench import params as P

    params = P.load(params_file, overrides)
    runs.init_run_dir(run_dir, params)
    return runs.open_run(run_dir)


def _lora(path):
    return load_file(str(path))


def test_loss_decreases_and_checkpoints_carry_provenance(tmp_path, dataset):
    run = _run(tmp_path, dataset, "learn", {"train.steps": 30, "train.checkpoint_every": 10, "train.learning_rate": 2e-3})
    result = train.train(run)
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
    assert cols == list(train.METRICS_FIELDS)

    # The saved LoRA loads through diffusers' LTX2Pipeline and changes what it generates.
    pipe = ltx.build_tiny_pipeline()
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
    expected = _lora(train.train(straight).checkpoints[-1])

    killed = _run(tmp_path, dataset, "killed", overrides)
    env = {**os.environ, "LTXBENCH_QUIET": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "ltxbench.train", str(killed.dir / "params.yaml"), "--run-dir", str(killed.dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not TS.state_path(killed.path("checkpoints"), 8).is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # kill -9, mid-training
    proc.wait()
    done = TS.latest_state(killed.path("checkpoints"))
    assert done is not None and lora.checkpoint_step(done) < 24, "the kill came too late to test resuming"

    resumed = train.train(runs.open_run(killed.dir))
    assert resumed.summary["resumed_from_step"] == lora.checkpoint_step(done)
    got = _lora(resumed.checkpoints[-1])
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected), "resumed weights differ from the uninterrupted run"
    straight_rows = straight.path("train", "metrics.csv").read_text().splitlines()
    resumed_rows = killed.path("train", "metrics.csv").read_text().splitlines()
    assert [r.split(",")[2] for r in resumed_rows] == [r.split(",")[2] for r in straight_rows]  # same losses


def test_resume_refuses_a_state_from_other_parameters(tmp_path, dataset):
    run = _run(tmp_path, dataset, "refuse", {"train.steps": 2, "train.checkpoint_every": 2})
    train.train(run)
    changed = _run(tmp_path, dataset, "changed", {"train.steps": 2, "train.checkpoint_every": 2, "train.rank": 8})
    shutil.rmtree(changed.path("checkpoints"), ignore_errors=True)
    shutil.copytree(run.path("checkpoints"), changed.path("checkpoints"))
    with pytest.raises(TS.ResumeRefused, match=r"train.rank: 4 -> 8"):
        train.train(changed)
    fresh = train.train(changed, force=True)  # starting over moves the old checkpoints aside
    assert [p.name for p in fresh.checkpoints] == ["lora_step_000002.safetensors"]
    assert list(changed.path("checkpoints").glob("previous-*/lora_step_000002.safetensors"))


def test_staged_recipe_continues_one_lora_across_stages(tmp_path, dataset):
    stages = [{"name": "heads", "steps": 3, "crop": "head", "still": True, "learning_rate": 2e-3},
              {"name": "frames", "steps": 2, "source_kinds": ["image"]}]
    run = _run(tmp_path, dataset, "staged", {"train.stages": stages, "train.checkpoint_every": 5})
    result = train.train(run)
    rows = result.table().to_dict("records")
    assert [r["stage"] for r in rows] == ["heads"] * 3 + ["frames"] * 2
    assert [p.name for p in result.checkpoints] == ["lora_step_000003.safetensors", "lora_step_000005.safetensors"]  # stage ends
    assert lora.read_metadata(result.checkpoints[0])["stage"] == "heads"
    assert lora.read_metadata(result.checkpoints[1])["stage"] == "frames"
    assert rows[0]["lr"] == pytest.approx(2e-3) and rows[-1]["lr"] == pytest.approx(run.params.train.learning_rate)


def test_nan_loss_stops_with_the_last_good_checkpoint(tmp_path, dataset):
    from safetensors.torch import save_file

    from ltxbench import params as P

    run = _run(tmp_path, dataset, "nan", {"train.steps": 2, "train.checkpoint_every": 2})
    train.train(run)
    for cached in run.path("cache", "latents").glob("*.safetensors"):  # a corrupted cache entry
        lat = load_file(str(cached))["latents"]
        save_file({"latents": torch.full_like(lat, float("nan"))}, str(cached))
    runs.init_run_dir(run.dir, P.load(run.dir / "params.yaml", {"train.steps": 4}))
    with pytest.raises(FloatingPointError, match=r"loss became nan at step 3.*Last good checkpoint: .*lora_step_000002"):
        train.train(runs.open_run(run.dir))
    assert [p.name for p in lora.list_checkpoints(run.path("checkpoints"))] == ["lora_step_000002.safetensors"]


def test_two_process_data_parallel_run_matches_one_process(tmp_path, dataset):
    import socket

    overrides = {"train.steps": 4, "train.checkpoint_every": 4, "train.learning_rate": 2e-3}
    single = _run(tmp_path, dataset, "single", {**overrides, "train.batch_size": 2})
    expected = _lora(train.train(single).checkpoints[-1])

    multi = _run(tmp_path, dataset, "multi", {**overrides, "train.batch_size": 1})  # 2 processes x 1 clip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LTXBENCH_QUIET": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), "-m", "ltxbench.train", str(multi.dir / "params.yaml"), "--run-dir", str(multi.dir)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    got = _lora(lora.list_checkpoints(multi.path("checkpoints"))[-1])
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=1e-5)
    summary = __import__("json").loads(multi.path("train", "summary.json").read_text())
    assert summary["processes"] == 2


def test_keep_last_prunes_old_checkpoints_but_keeps_the_best(tmp_path, dataset):
    run = _run(tmp_path, dataset, "prune", {"train.steps": 6, "train.checkpoint_every": 2, "train.keep_last": 1})
    runs.atomic_write_json(run.path("eval", "best_checkpoint.json"), {"checkpoint": "lora_step_000002"})
    result = train.train(run)
    assert [p.name for p in result.checkpoints] == ["lora_step_000002.safetensors", "lora_step_000006.safetensors"]
    assert sorted(p.name for p in run.path("checkpoints").glob("state_step_*.pt")) == ["state_step_000002.pt", "state_step_000006.pt"]
