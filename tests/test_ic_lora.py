"""IC-LoRA (reference-conditioned "Face" recipe) on the tiny LTX-2.3: params, the training forward
against diffusers' LTX2InContextPipeline, a short training run, and generation with the reference."""

from __future__ import annotations

import pytest
import torch

from ltxbench import errors
from ltxbench.model import forward, reference, tiny
from ltxbench.params import loading

from conftest import DATA, small_params


def _read(path):
    import numpy as np
    import PIL.Image

    return np.asarray(PIL.Image.open(path).convert("RGB"))


# ---------------------------------------------------------------------------------------
# params
# ---------------------------------------------------------------------------------------


def test_reference_section_defaults_to_photos_and_is_off_by_default(tmp_path):
    assert loading.load(small_params(tmp_path)).train.reference is None
    ref = loading.load(small_params(tmp_path, train={"reference": {}})).train.reference
    assert ref.source == "photos" and ref.downscale_factor == 1


@pytest.mark.parametrize("bad, field", [({"source": "video"}, "train.reference.source"),
                                        ({"downscale_factor": 0}, "train.reference.downscale_factor"),
                                        ({"strength": 0.5}, "train.reference.strength")])
def test_bad_reference_settings_are_refused_naming_the_field(tmp_path, bad, field):
    with pytest.raises(errors.ParamsError, match=field.replace(".", r"\.")):
        loading.load(small_params(tmp_path, train={"reference": bad}))


def test_a_downscale_factor_off_the_clip_grid_is_refused_before_any_model_loads(tmp_path):
    # curate.resolution 64 / factor 4 = 16 px: not on the VAE's 32-px grid
    with pytest.raises(errors.ParamsError, match=r"train\.reference\.downscale_factor.*multiple of 128"):
        loading.load(small_params(tmp_path, train={"reference": {"downscale_factor": 4}}))
    assert loading.load(small_params(tmp_path, train={"reference": {"downscale_factor": 2}})).train.reference.downscale_factor == 2


# ---------------------------------------------------------------------------------------
# the training forward against the pipeline
# ---------------------------------------------------------------------------------------


def _first_transformer_call(pipe_ic, **kwargs):
    """The kwargs and output of the in-context pipeline's first transformer call (a forward hook on
    the real transformer: nothing is replaced, the pipeline runs as it does for a user)."""
    seen = {}

    def hook(module, args, kw, out):
        if not seen:
            seen["kw"] = {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in kw.items()}
            seen["out"] = out[0].detach().clone()

    handle = pipe_ic.transformer.register_forward_hook(hook, with_kwargs=True)
    try:
        pipe_ic(generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs)
    finally:
        handle.remove()
    return seen["kw"], seen["out"]


@pytest.mark.parametrize("factor", [1, 2])
def test_training_forward_builds_the_reference_tokens_the_in_context_pipeline_builds(factor):
    """The pipeline's own first transformer call (target noise + reference tokens) is replayed
    through ltxbench's training forward: reference tokens (VAE encoding of the same photo),
    coordinates, per-token timesteps and the target's velocity must all be the pipeline's."""
    from diffusers.pipelines.ltx2 import LTX2ReferenceCondition

    from ltxbench.evaluate.reference import in_context_pipeline

    pipe = tiny.build_tiny_pipeline("2.3")
    pipe_ic = in_context_pipeline(pipe)
    height, width, frames, fps = 128, 64, 9, 24.0
    photo = _read(DATA / "obama_2.jpg")
    import PIL.Image

    kw, out = _first_transformer_call(
        pipe_ic, prompt="obmx talking", height=height, width=width, num_frames=frames, frame_rate=fps,
        reference_conditions=LTX2ReferenceCondition(frames=PIL.Image.fromarray(photo), strength=1.0),
        reference_downscale_factor=factor, num_inference_steps=2, guidance_scale=1.0, stg_scale=0.0,
        modality_scale=1.0, audio_guidance_scale=1.0, audio_stg_scale=0.0, audio_modality_scale=1.0,
        max_sequence_length=32)

    lat_f, lat_h, lat_w = (frames - 1) // 8 + 1, height // 32, width // 32
    n_target = lat_f * lat_h * lat_w
    from ltxbench.train.reference import encode_reference

    ref_lat = encode_reference(pipe, photo, height, width, factor)
    assert tuple(ref_lat.shape) == (1, 128, 1, lat_h // factor, lat_w // factor)
    n_ref = ref_lat.shape[3] * ref_lat.shape[4]
    hidden = kw["hidden_states"]
    assert hidden.shape[1] == n_target + n_ref  # the pipeline appended exactly one reference's tokens
    # the pipeline's clean reference tokens are ltxbench's encoding of the same photo
    torch.testing.assert_close(hidden[:, n_target:], pipe._pack_latents(ref_lat, 1, 1), rtol=1e-5, atol=1e-5)
    t = kw["sigma"]
    assert float(kw["timestep"][0, n_target:].abs().max()) == 0.0 and torch.all(kw["timestep"][0, :n_target] == t)

    # replay the same inputs through the training forward
    x_t = pipe._unpack_latents(hidden[:, :n_target].float(), lat_f, lat_h, lat_w, 1, 1)
    a_t = pipe._unpack_audio_latents(kw["audio_hidden_states"].float(), kw["audio_num_frames"], num_mel_bins=16)
    cond = {"video_embeds": kw["encoder_hidden_states"], "audio_embeds": kw["audio_encoder_hidden_states"],
            "attention_mask": kw["encoder_attention_mask"]}
    seen = {}
    handle = pipe.transformer.register_forward_pre_hook(lambda m, a, k: seen.update(k), with_kwargs=True)
    try:
        ours = forward.transformer_forward(pipe, x_t, a_t, cond, t / 1000.0, audio_sigma=kw["audio_timestep"] / 1000.0,
                                           frame_rate=fps, reference=reference.ReferenceLatents(ref_lat, factor))
    finally:
        handle.remove()
    torch.testing.assert_close(seen["video_coords"], kw["video_coords"])
    torch.testing.assert_close(seen["timestep"], kw["timestep"])
    if factor == 2:  # the reference's spatial coordinates reach as far as the target's
        target_h = kw["video_coords"][0, 1, :n_target, 1].max()
        assert seen["video_coords"][0, 1, n_target:, 1].max() == target_h
    expected = pipe._unpack_latents(out[:, :n_target].float(), lat_f, lat_h, lat_w, 1, 1)
    torch.testing.assert_close(ours.video, expected, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------
# training and generation
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A curated, captioned dataset (two photos of the character, so two source files)."""
    import yaml

    from ltxbench.caption import stage as caption
    from ltxbench.curate import stage as curate_stage
    from ltxbench.run import folder

    tmp = tmp_path_factory.mktemp("ic")
    # 128 px: obama_3's clip is 128x224, whose long side does not divide by 128 (the guard's test)
    params = small_params(tmp, curate={"resolution": 128, "clip_frames": 9})
    raw = yaml.safe_load(params.read_text())
    raw["dataset"]["characters"][0]["media"] = [str(DATA / "obama_2.jpg"), str(DATA / "obama_3.jpg")]
    params.write_text(yaml.safe_dump(raw))
    run = folder.open_run(tmp / "run", params)
    curate_stage.curate(run)
    caption.caption(run)
    return params, run.path("dataset")


def _run(tmp_path, dataset, overrides):
    import shutil

    from ltxbench.run import folder

    params_file, dataset_dir = dataset
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copytree(dataset_dir, run_dir / "dataset")
    folder.init_run_dir(run_dir, loading.load(params_file, overrides))
    return folder.open_run(run_dir)


def test_clip_source_needs_another_source_file_and_is_refused_before_any_model_loads(tmp_path, dataset):
    from ltxbench.dataset import manifest
    from ltxbench.run import atomic
    from ltxbench.train import data
    from ltxbench.train import reference as train_reference

    run = _run(tmp_path, dataset, {"train.reference": {"source": "clip"}})
    records = manifest.load_manifest(run)
    accepted = [r for r in records if r["status"] == "accepted"]
    assert len({r["source"] for r in accepted}) == 2
    train_reference.check_references(run, data.training_clips(run))  # two files: each clip has the other
    for r in records:
        r["source"] = accepted[0]["source"]  # as if both clips came from one file
    atomic.write_jsonl(run.path("dataset", "manifest.jsonl"), records)
    with pytest.raises(data.TrainingDataError, match="from one source file only"):
        train_reference.check_references(run, data.training_clips(run))


def test_a_clip_side_off_the_factors_grid_is_refused_naming_the_clip(tmp_path, dataset):
    from ltxbench.train import data
    from ltxbench.train import reference as train_reference

    # curate.resolution 128 passes the params check for factor 4, but a 224-px long side does not divide by 128
    run = _run(tmp_path, dataset, {"train.reference": {"downscale_factor": 4}})
    with pytest.raises(data.TrainingDataError, match=r"not multiples of 128 .*obama-obama-3-000 \(128x224\)"):
        train_reference.check_references(run, data.training_clips(run))


@pytest.mark.parametrize("source, factor", [("photos", 1), ("clip", 1)])
def test_ic_lora_training_saves_a_lora_that_says_it_needs_a_reference(tmp_path, dataset, source, factor):
    from ltxbench.lora import files as lora
    from ltxbench.train import data, loop

    run = _run(tmp_path, dataset, {"train.steps": 3, "train.checkpoint_every": 3,
                                   "train.reference": {"source": source, "downscale_factor": factor}})
    result = loop.train(run)
    meta = lora.read_metadata(result.checkpoints[-1])
    assert meta["reference_conditioned"] == "true" and meta["reference_source"] == source
    assert lora.reference_settings(result.checkpoints[-1]) == lora.ReferenceSettings(factor, source)
    # photos: the one reference photo at each clip size; clip: each clip's middle frame for the other clip
    sizes = {(r["width"], r["height"]) for r in data.training_clips(run)}
    assert result.summary["cache"]["reference_misses"] == (len(sizes) if source == "photos" else 2)
    assert all(r["loss"] == r["loss"] for r in result.table().to_dict("records"))  # finite (NaN != NaN)
    if source == "photos":
        again = loop.train(run, force=True)
        assert again.summary["cache"]["reference_hits"] == len(sizes) and again.summary["cache"]["reference_misses"] == 0


def test_an_ordinary_lora_needs_no_reference(tmp_path):
    from conftest import random_lora
    from ltxbench.lora import files as lora

    path = random_lora(tiny.build_tiny_pipeline("2.3"), tmp_path / "lora_step_000001.safetensors", "2.3")
    assert "reference_conditioned" not in lora.read_metadata(path) and lora.reference_settings(path) is None


def test_the_ic_lora_loads_into_the_in_context_pipeline_and_the_reference_changes_the_video(tmp_path, dataset):
    from ltxbench.evaluate.generate import generate_video, sampler_settings
    from ltxbench.evaluate.reference import generate_with_reference, in_context_pipeline
    from ltxbench.lora import files as lora
    from ltxbench.train import loop

    run = _run(tmp_path, dataset, {"train.steps": 2, "train.checkpoint_every": 2, "train.learning_rate": 1e-2,
                                   "train.reference": {}})
    path = loop.train(run).checkpoints[-1]
    settings_ref = lora.reference_settings(path)
    pipe = tiny.build_tiny_pipeline("2.3")
    pipe_ic = in_context_pipeline(pipe)
    assert pipe_ic.transformer is pipe.transformer  # shared: adapters loaded on either apply to both
    pipe_ic.load_lora_weights(str(path), adapter_name="ic")
    assert "ic" in pipe.transformer.peft_config
    settings = sampler_settings(run.params.evaluate, run.params.model)
    photo = _read(DATA / "obama_1.jpg")
    frames, _ = generate_with_reference(pipe_ic, "obmx talking to the camera", 0, settings, photo,
                                        settings_ref.downscale_factor)
    assert frames.dtype.name == "uint8" and frames.shape == (9, 64, 64, 3)
    plain, _ = generate_video(pipe_ic, "obmx talking to the camera", 0, settings)
    other, _ = generate_with_reference(pipe_ic, "obmx talking to the camera", 0, settings, _read(DATA / "biden_1.jpg"),
                                       settings_ref.downscale_factor)
    # the reference enters: without it, or with another face, the same seed gives another video
    assert abs(frames.astype(float) - plain.astype(float)).mean() > 0.1
    assert abs(frames.astype(float) - other.astype(float)).mean() > 0.1
    again, _ = generate_with_reference(pipe_ic, "obmx talking to the camera", 0, settings, photo, 1)
    assert (again == frames).all()  # and the same reference and seed give the same video
    half, _ = generate_with_reference(pipe_ic, "obmx talking to the camera", 0, settings, photo, 2)
    assert half.shape == frames.shape and abs(half.astype(float) - frames.astype(float)).mean() > 0.1
    with pytest.raises(ValueError, match="multiples of 32"):
        generate_with_reference(pipe_ic, "obmx", 0, settings, photo, 4)  # 64 / 4 = 16 px


def test_evaluate_scores_an_ic_lora_with_and_without_its_reference(tmp_path, dataset):
    import json

    import numpy as np
    import pandas as pd

    from ltxbench.evaluate import stage as evaluate
    from ltxbench.media import video
    from ltxbench.train import loop

    run = _run(tmp_path, dataset, {"train.steps": 2, "train.checkpoint_every": 1, "train.learning_rate": 1e-2,
                                   "train.reference": {}})
    loop.train(run)
    result = evaluate.evaluate(run)
    samples = run.path("samples")
    made = sorted(p.relative_to(samples).as_posix() for p in samples.rglob("*.mp4"))
    plain = [f"{c}/{v}.mp4" for c in ("base", "lora_step_000001", "lora_step_000002") for v in ("talk-notrigger_s0", "talk_s0")]
    # with the reference: the trigger videos only (leakage with the face given would measure nothing)
    assert made == sorted(plain + [f"reference/{c}/talk_s0.mp4" for c in ("base", "lora_step_000001", "lora_step_000002")])
    record = json.loads((samples / "reference" / "lora_step_000002" / "talk_s0.json").read_text())
    assert record["reference"]["downscale_factor"] == 1 and len(record["reference"]["image_sha256"]) == 64
    assert "reference" not in json.loads((samples / "lora_step_000002" / "talk_s0.json").read_text())

    def frames(rel):
        path = samples / rel / "talk_s0.mp4"
        return video.read_frames(path, list(range(video.probe(path).num_frames))).astype(np.float32)

    assert np.abs(frames("reference/lora_step_000002") - frames("lora_step_000002")).mean() > 0.1

    table = pd.read_csv(run.path("eval", "reference.csv"))
    assert set(table["checkpoint"]) == {"base", "lora_step_000001", "lora_step_000002"}
    motion = table[(table["checkpoint"] == "lora_step_000002") & (table["metric"] == "motion")].iloc[0]
    assert motion["n"] == 1 and motion["change"] == pytest.approx(motion["with_reference"] - motion["without"], abs=1e-5)
    # the random tiny model draws no faces: the gain in identity is not known, and the entry says so
    assert result.reference["change"] is None and result.reference["reason"].startswith("not known")
    assert result.figures["reference"].is_file() and "IC-LoRA: not known" in repr(result)
    from ltxbench.ui.eval_dashboard import EvalDashboard

    dash = EvalDashboard(run.dir)
    assert any("with and without its reference" in getattr(c, "value", "") for c in dash.widget.children
               if isinstance(getattr(c, "value", None), str))
    assert 'alt="reference.png"' in dash.static_html()
    notes = json.loads(run.path("eval", "notes.json").read_text())
    assert any("obama_1.jpg as the reference" in n and "inflated" in n for n in notes)
    # the pick is made on the videos without the reference: their labels alone are in metrics.csv
    assert set(pd.read_csv(result.metrics_path)["checkpoint"]) == {"base", "lora_step_000001", "lora_step_000002"}
    before = {p: p.stat().st_mtime_ns for p in samples.rglob("*.mp4")}
    evaluate.evaluate(run)
    assert {p: p.stat().st_mtime_ns for p in samples.rglob("*.mp4")} == before  # every video reused


def test_the_copy_check_flags_a_video_of_the_given_photo_and_not_another_photo_of_him(tmp_path):
    """Scored as the videos given the reference are: a clip made of the given photo itself is a copy
    of it (similarity >= 0.85), a clip of another photo of the same man is not, and the sentence of
    eval/reference.json says the gain rests on copying when the pick's videos copy."""
    import numpy as np

    from ltxbench import faces
    from ltxbench.evaluate import with_reference as W
    from ltxbench.evaluate.score import PromptInfo, Scorer, score_videos
    from ltxbench.evaluate.sources import SampleVideo
    from ltxbench.media import video

    analyzer = faces.FaceAnalyzer()
    given = faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer=analyzer)
    videos = []
    for label, photo in (("copying", "obama_1.jpg"), ("drawing", "obama_2.jpg")):
        image = video.read_image(DATA / photo)
        side = min(image.shape[:2]) // 2 * 2
        still = np.repeat(image[None, :side, :side], 9, axis=0)
        path = video.write_mp4(tmp_path / f"{label}.mp4", still, fps=24.0)
        videos.append(SampleVideo(label, 1 if label == "copying" else 2, "talk", 0, path))
    scorer = Scorer(None, {"obama": given}, {"talk": PromptInfo("obama", "talk-notrigger", None)}, 4,
                    given_reference={"obama": given})
    rows = score_videos(videos, scorer).rows
    similarity = {r["checkpoint"]: r["value"] for r in rows if r["metric"] == W.COPY}
    assert similarity["copying"] >= W.COPY_SIMILARITY > similarity["drawing"] > 0.5  # the same man, another photo
    copies = W.reference_copies(rows)
    assert copies["copying"]["copies"] == 1 and copies["drawing"]["copies"] == 0
    # without a given photo (the videos made without the reference) there is no such metric
    assert not [r for r in score_videos(videos, Scorer(None, {"obama": given}, scorer.prompts, 4)).rows
                if r["metric"] == W.COPY]

    table = [{"checkpoint": label, "step": step, "metric": W.IDENTITY, "n": 4, "without": 0.4, "with_reference": 0.7,
              "change": 0.3, "ci_low": 0.2, "ci_high": 0.4} for label, step in (("copying", 1), ("drawing", 2))]
    assert "copy the given photo" in W.reference_sentence(table, {"label": "copying"}, copies)["reason"]
    assert "none of its 1 videos" in W.reference_sentence(table, {"label": "drawing"}, copies)["reason"]
    assert "not known whether" in W.reference_sentence(table, {"label": "drawing"}, {})["reason"]


def test_identity_against_the_training_faces_is_called_independent_only_when_the_given_photo_is_not_one():
    """eval/reference.json's second identity check leaves the given photo out: it is independent when
    that photo's face is not among the training faces (measured on real photos), and said not to be
    when it is."""
    import numpy as np

    from ltxbench import faces
    from ltxbench.evaluate import with_reference as W
    from ltxbench.evaluate.metrics.overfit import TrainingFrames

    analyzer = faces.FaceAnalyzer()
    given = {"obama": faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer=analyzer)}
    others = faces.reference_embeddings([DATA / "obama_2.jpg", DATA / "obama_3.jpg"], analyzer=analyzer)
    apart = TrainingFrames(others, ["c2", "c3"], [0, 0])
    among = TrainingFrames(np.concatenate([others, given["obama"]]), ["c2", "c3", "c1"], [0, 0, 0])
    assert W.given_among_training(given, apart) is False
    assert W.given_among_training(given, among) is True
    assert W.given_among_training(given, None) is None

    row = {"checkpoint": "lora", "step": 1, "n": 4, "without": 0.33, "with_reference": 0.55, "change": 0.22,
           "ci_low": 0.2, "ci_high": 0.24}
    table = [{**row, "metric": W.IDENTITY}, {**row, "metric": W.TRAINING}]
    independent = W.reference_sentence(table, {"label": "lora"}, {}, False)
    assert "pictures other than the given photo: 0.550 against 0.330" in independent["reason"]
    assert independent["training_similarity_with"] == 0.55 and independent["given_in_training"] is False
    assert "not an independent check" in W.reference_sentence(table, {"label": "lora"}, {}, True)["reason"]
    assert "not measured" in W.reference_sentence(table[:1], {"label": "lora"}, {}, False)["reason"]


def test_videos_that_repaint_a_training_clip_are_counted_and_named_in_the_sentence():
    """train_scene_distance at or under the line counts as a repainted training clip; the sentence
    then says the gain is the LoRA reproducing its data, and that the training-face check is moot."""
    from ltxbench.evaluate import with_reference as W

    rows = [{"checkpoint": "lora", "metric": W.SCENE, "value": v} for v in (0.05, 0.09, 0.2)]
    rows += [{"checkpoint": "lora", "metric": W.COPY, "value": 0.5}]
    copies = W.reference_copies(rows)
    assert copies["lora"]["scene_copies"] == 2 and copies["lora"]["scene_videos"] == 3
    row = {"checkpoint": "lora", "step": 1, "n": 3, "without": 0.3, "with_reference": 0.5, "change": 0.2,
           "ci_low": 0.1, "ci_high": 0.3}
    table = [{**row, "metric": W.IDENTITY}, {**row, "metric": W.TRAINING}]
    reason = W.reference_sentence(table, {"label": "lora"}, copies, False)["reason"]
    assert "2 of its 3 videos with the reference repaint a training clip" in reason
    assert "not a measure of new pictures of him" in reason
    clean = W.reference_copies([{**r, "value": 0.3} if r["metric"] == W.SCENE else r for r in rows])
    assert "none of its 3 videos with the reference repaints" in W.reference_sentence(table, {"label": "lora"}, clean,
                                                                                       False)["reason"]
