"""Evaluate scoring on real faces, summaries and the best-checkpoint pick."""

from __future__ import annotations

import numpy as np
import pytest

from ltxbench import evaluate, faces, video

from conftest import DATA


@pytest.fixture(scope="module")
def analyzer():
    return faces.FaceAnalyzer()


@pytest.fixture(scope="module")
def real_face_video(tmp_path_factory):
    """A clip of a real face (a photo with a slow pan), standing in for a generated video."""
    clip = video.image_to_clip(video.read_image(DATA / "obama_2.jpg"), 256, 384, 9, motion="pan")
    return video.write_mp4(tmp_path_factory.mktemp("v") / "talk_s0.mp4", clip, fps=24)


def test_identity_of_a_real_face_separates_people(real_face_video, analyzer):
    same = evaluate.score_video(real_face_video, analyzer, faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer=analyzer), 4)
    other = evaluate.score_video(real_face_video, analyzer, faces.reference_embeddings([DATA / "biden_1.jpg"], analyzer=analyzer), 4)
    assert same["face_found_rate"] == 1.0 and len(same["per_frame_distance"]) == 4
    assert same["identity_similarity"] > 0.5 > other["identity_similarity"]


def test_a_video_without_faces_gets_no_identity_score(tmp_path, analyzer):
    noise = np.random.default_rng(0).integers(0, 255, size=(9, 128, 128, 3), dtype=np.uint8)
    path = video.write_mp4(tmp_path / "noise.mp4", noise, fps=24)
    scores = evaluate.score_video(path, analyzer, faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer=analyzer), 4)
    assert scores["face_found_rate"] == 0.0
    assert "identity_similarity" not in scores and "identity_distance" not in scores


def _rows(ckpt, step, values, metric="identity_similarity"):
    return [{"checkpoint": ckpt, "step": step, "prompt_id": "p", "seed": i, "metric": metric, "value": v} for i, v in enumerate(values)]


def test_summary_mean_and_t_interval():
    rows = _rows("lora_step_000010", 10, [0.5, 0.6, 0.7])
    (s,) = evaluate.summarize(rows)
    assert s["n"] == 3 and s["mean"] == pytest.approx(0.6)
    half = 4.303 * 0.1 / np.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert s["ci_low"] == pytest.approx(0.6 - half, abs=1e-6) and s["ci_high"] == pytest.approx(0.6 + half, abs=1e-6)


def test_best_checkpoint_is_the_highest_identity_not_the_latest():
    rows = (_rows("base", 0, [0.3, 0.32]) + _rows("lora_step_000010", 10, [0.6, 0.62])
            + _rows("lora_step_000020", 20, [0.7, 0.72]) + _rows("lora_step_000030", 30, [0.55, 0.5]))
    best = evaluate.pick_best(evaluate.summarize(rows))
    assert best["checkpoint"] == "lora_step_000020" and best["step"] == 20
    assert "0.710" in best["reason"] and "base model without LoRA: 0.310" in best["reason"]


def test_no_faces_means_no_pick_and_says_why():
    rows = _rows("base", 0, [0.0], "face_found_rate") + _rows("lora_step_000010", 10, [0.0], "face_found_rate")
    best = evaluate.pick_best(evaluate.summarize(rows), tiny_model=True)
    assert best["checkpoint"] is None and best["value"] is None
    assert "no face" in best["reason"] and "random weights" in best["reason"]
    assert best["face_found_rate"] == {"base": 0.0, "lora_step_000010": 0.0}


def test_identity_curve_is_drawn(tmp_path):
    rows = _rows("base", 0, [0.3, 0.32]) + _rows("lora_step_000010", 10, [0.6, 0.62]) + _rows("lora_step_000020", 20, [0.7, 0.72])
    rows += _rows("lora_step_000010", 10, [1.0, 1.0], "face_found_rate")
    out = evaluate.plot_identity_curve(evaluate.summarize(rows), tmp_path / "curve.png")
    assert out.stat().st_size > 5000


def test_every_character_gets_its_own_prompt_ids():
    assert evaluate.sample_prompt_id("talking", "obama", 1) == "talking"
    assert evaluate.sample_prompt_id("talking", "biden", 2) == "biden-talking"
