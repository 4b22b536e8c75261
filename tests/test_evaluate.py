"""Evaluate stage: the tiny default end to end with bad checkpoints, videos made elsewhere scored on
real faces (tests/data photos as "checkpoints"), the best-checkpoint rule, figures and the dashboard.

Nothing of the model, the face models or the LoRA checker is mocked: checkpoints are real LoRA
files for the tiny pipeline, and the scored videos are real clips of real photos.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from ltxbench import faces
from ltxbench.evaluate import select as eval_select
from ltxbench.evaluate import stage as evaluate
from ltxbench.evaluate.generate import neutral_text
from ltxbench.evaluate.sources import VideoFolderError, folder_videos, parse_video_name
from ltxbench.media import frames, video
from ltxbench.model import tiny
from ltxbench.run import atomic, folder
from ltxbench.train import data as train_data

from conftest import DATA
from conftest import random_lora as _lora_for
from conftest import small_params


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------------------
# Videos made elsewhere: a folder of real-face clips
# ---------------------------------------------------------------------------------------

SIDE = 128  # small videos for speed; the face fills about half the frame, enough for dlib


@pytest.fixture(scope="module")
def face_crops():
    """Each photo cropped around its face (the photos are portraits: a centre crop would cut the face)."""
    analyzer = faces.FaceAnalyzer()
    out = {}
    for name in ("obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "biden_1.jpg"):
        image = video.read_image(DATA / name)
        x0, y0, x1, y1 = analyzer.largest(image).box
        cx, cy, half = (x0 + x1) // 2, (y0 + y1) // 2, int((x1 - x0) * 1.2)
        out[name] = image[max(0, cy - half):cy + half, max(0, cx - half):cx + half]
    return out


def _clip(crops, photo: str, motion="pan", amount=0.08):
    return frames.image_to_clip(crops[photo], SIDE, SIDE, 9, motion=motion, amount=amount)


# checkpoint folder -> (prompt "talk" seed 0, prompt "walk" seed 0, "talk" without the trigger, seed 0)
FOLDER = {
    "base": (("biden_1.jpg", "pan"), ("biden_1.jpg", "zoom"), ("biden_1.jpg", "pan")),
    "step_000100": (("obama_2.jpg", "pan"), ("obama_2.jpg", "zoom"), ("biden_1.jpg", "pan")),  # passes every rule
    "step_000200": (("obama_1.jpg", "pan"), ("obama_1.jpg", "zoom"), ("obama_1.jpg", "pan")),  # leaks: face without trigger
    "step_000300": (("obama_1.jpg", "still"), ("obama_1.jpg", "still"), ("biden_1.jpg", "pan")),  # stiff: no motion
    "step_000400": (("biden_1.jpg", "pan"), ("biden_1.jpg", "zoom"), ("biden_1.jpg", "pan")),  # the wrong person
    "step_000500": (("obama_3.jpg", "pan"), ("obama_3.jpg", "pan"), ("biden_1.jpg", "pan")),  # a copy of a training clip
}


@pytest.fixture(scope="module")
def made_elsewhere(tmp_path_factory, face_crops):
    root = tmp_path_factory.mktemp("comfy")
    for ckpt, (s0, s1, leak) in FOLDER.items():
        for name, (photo, motion) in (("talk_s0", s0), ("walk_s0", s1), ("talk-notrigger_s0", leak)):
            clip = _clip(face_crops, photo, "pan", 0.0) if motion == "still" else _clip(face_crops, photo, motion)
            video.write_mp4(root / ckpt / f"{name}.mp4", clip, fps=24)
    return root


@pytest.fixture(scope="module")
def scored(made_elsewhere, face_crops, tmp_path_factory):
    """The stage on a run whose ``evaluate.videos_from`` is that folder (no model is loaded). Its
    manifest has one accepted training clip, the obama_3 pan that step_000500 reproduces."""
    tmp = tmp_path_factory.mktemp("elsewhere")
    run = folder.open_run(tmp / "run", small_params(tmp, evaluate={"videos_from": str(made_elsewhere), "face_frames": 4}))
    video.write_mp4(run.path("dataset", "clips", "c1.mp4"), _clip(face_crops, "obama_3.jpg"), fps=24)
    atomic.write_jsonl(run.path("dataset", "manifest.jsonl"),
                     [{"id": "c1", "status": "accepted", "media": "clips/c1.mp4", "character": "obama"}])
    result = evaluate.evaluate(run)
    return result, _read_csv(result.metrics_path), _read_csv(result.summary_path)


def _mean(summary, ckpt, metric):
    return next(float(s["mean"]) for s in summary if s["checkpoint"] == ckpt and s["metric"] == metric)


def test_videos_made_elsewhere_score_higher_identity_for_the_right_person(scored):
    result, metrics, summary = scored
    obama, biden = _mean(summary, "step_000100", "identity_similarity"), _mean(summary, "step_000400", "identity_similarity")
    assert obama > 0.5 > biden  # dlib's same-person threshold maps to 0.5
    assert _mean(summary, "step_000100", "face_found_rate") == 1.0
    # every per-video metric of the contract that this folder can measure is there
    measured = {r["metric"] for r in metrics}
    assert {"face_found_rate", "identity_similarity", "identity_distance", "identity_drift", "drift_q1", "drift_q4",
            "leakage_identity_similarity", "motion", "motion_ratio", "train_copy_similarity", "prompt_diversity"} <= measured
    # no CLIP weights on this machine: one clear note, the rest measured
    assert "clip_score" not in measured and any("clip_score not measured" in n for n in result.notes)
    assert not (result.eval_dir.parent / "samples").exists()  # nothing generated
    assert not (result.eval_dir / "sampler.json").exists()
    assert "bleed_margin" not in measured  # one character: nobody to bleed into
    # the summary holds bootstrap intervals around each mean
    for s in summary:
        assert float(s["ci_low"]) <= float(s["mean"]) <= float(s["ci_high"])
    leak = {r["checkpoint"]: float(r["value"]) for r in metrics if r["metric"] == "leakage_identity_similarity"}
    assert leak["step_000200"] > 0.5 > leak["base"]


def test_best_checkpoint_rule_eliminates_and_picks_as_documented(scored):
    result, metrics, summary = scored
    best = json.loads((result.eval_dir / "best_checkpoint.json").read_text())
    elim = best["eliminated"]
    assert any(r.startswith("leakage") for r in elim["step_000200"])
    assert any("stiffer than base" in r for r in elim["step_000300"])
    assert any(r.startswith("copy") for r in elim["step_000500"])
    assert "step_000100" not in elim
    assert elim["step_000400"] == [next(r for r in elim["step_000400"] if r.startswith("identity"))]  # Biden: not him
    # the pick is the highest identity among the checkpoints no rule eliminated
    assert best["checkpoint"] == "step_000100"
    assert best["value"] == pytest.approx(_mean(summary, "step_000100", "identity_similarity"), abs=1e-6)
    # without the rules, the leaking or stiff checkpoint (faces of the reference photo itself) would have won
    assert max(_mean(summary, c, "identity_similarity") for c in ("step_000200", "step_000300")) > best["value"]
    assert "not applied" in best["rules"]["clip"]


def test_a_finished_evaluation_is_shown_from_its_files_and_rerun_only_when_not_current(scored):
    result, _, _ = scored
    run = folder.open_run(result.eval_dir.parent)
    metrics = result.metrics_path
    folder.update_stage(run.dir, "evaluate", status="completed", fingerprint=run.params.stage_fingerprint("evaluate"))
    before = metrics.stat().st_mtime_ns
    shown = evaluate.evaluate(run, reuse=True)  # what the notebook's cell does on a finished run
    assert metrics.stat().st_mtime_ns == before  # nothing re-scored
    assert shown.best == result.best and shown.diagnosis == result.diagnosis and shown.notes == result.notes
    assert set(result.figures) <= set(shown.figures) and shown.table().equals(result.table())
    folder.update_stage(run.dir, "evaluate", fingerprint="another parameter set")
    assert not folder.stage_is_current(run, "evaluate")
    assert evaluate.evaluate(run, reuse=True).best == result.best and metrics.stat().st_mtime_ns != before  # scored again


def test_rule_thresholds_come_from_the_parameters(scored):
    _, metrics, summary = scored
    rows = [{**r, "step": int(r["step"]), "seed": int(r["seed"]), "value": float(r["value"])} for r in metrics]
    summ = [{**s, "step": int(s["step"]), "n": int(s["n"]), "mean": float(s["mean"]), "ci_low": float(s["ci_low"]),
             "ci_high": float(s["ci_high"])} for s in summary]
    lax = eval_select.pick_best(summ, rows, eval_select.Rules(leakage_tolerance=1.0, min_motion_ratio=0.0))
    assert "step_000200" not in lax["eliminated"] and "step_000300" not in lax["eliminated"]
    assert lax["checkpoint"] in ("step_000200", "step_000300")


def test_figures_are_written_for_every_checkpoint(scored):
    result, _, _ = scored
    for name in ("identity_curve", "leakage_motion", "grid_step_000100", "grid_step_000500"):
        assert result.figures[name].stat().st_size > 5000
    assert "bleed" not in result.figures  # one character


def test_dashboard_headless(scored):
    from ltxbench.ui.eval_dashboard import EvalDashboard

    result, _, _ = scored
    dash = EvalDashboard(result.eval_dir.parent)
    assert dash.checkpoints == ["step_000100", "step_000200", "step_000300", "step_000400", "step_000500"]
    assert dash.current == "step_000100" and "★ best checkpoint" in dash.caption.value  # starts at the best
    assert dash.grid_bytes == (result.eval_dir / "grid_step_000100.png").read_bytes()
    shown = dash.select("step_000200")
    assert dash.slider.value == "step_000200" and "eliminated: leakage" in dash.caption.value
    assert shown[:4] == b"\x89PNG"
    dash.mode = "animated"
    assert dash.grid_bytes[:6] == b"GIF89a" and dash.grid.format == "gif"
    import io

    from PIL import Image
    with Image.open(io.BytesIO(dash.grid_bytes)) as gif:
        assert gif.n_frames == 9  # the 9-frame videos, every frame
    assert "Best checkpoint: step_000100" in dash.header.value and "clip_score not measured" in dash.header.value
    assert "Diagnosis of step_000100" in dash.diagnosis_panel.value and "Not known" in dash.diagnosis_panel.value
    with pytest.raises(ValueError, match="no evaluated checkpoint"):
        dash.select("step_999999")


def test_widgets_leave_a_static_copy_for_the_record(scored, monkeypatch):
    """In the pipeline's execution (LTXBENCH_RECORD=1) the dashboards display HTML with their figures
    embedded, which any notebook viewer shows without a kernel; interactively the live view too."""
    from ltxbench.ui.eval_dashboard import EvalDashboard
    from ltxbench.ui.train_monitor import LossMonitor

    result, _, _ = scored
    monkeypatch.delenv("LTXBENCH_RECORD", raising=False)
    live = EvalDashboard(result.eval_dir.parent)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in live and "<img" in live["text/html"]
    monkeypatch.setenv("LTXBENCH_RECORD", "1")
    recorded = EvalDashboard(result.eval_dir.parent)._repr_mimebundle_()
    assert set(recorded) == {"text/html", "text/plain"}
    html_text = recorded["text/html"]
    assert html_text.count("<img") >= 4 and "Diagnosis of" in html_text and "Best checkpoint: step_000100" in html_text
    assert recorded["text/plain"].startswith("EvalDashboard(") and "VBox" not in recorded["text/plain"]
    monitor = LossMonitor()._repr_mimebundle_()
    assert set(monitor) == {"text/html", "text/plain"} and "train/loss.png" in monitor["text/html"]


def test_score_folder_without_a_run(tmp_path, face_crops):
    root = tmp_path / "videos"
    video.write_mp4(root / "base" / "talk_s0.mp4", _clip(face_crops, "biden_1.jpg"), fps=24)
    video.write_mp4(root / "my_lora_000300" / "talk_s0.mp4", _clip(face_crops, "obama_2.jpg"), fps=24)
    result = evaluate.score_folder(root, [DATA / "obama_1.jpg"], tmp_path / "eval", face_frames=2)
    assert result.best["checkpoint"] == "my_lora_000300" and result.best["step"] == 300
    assert any("train_copy_similarity not measured" in n for n in result.notes)
    assert (tmp_path / "eval" / "grid_my_lora_000300.png").is_file()


def _turned_face(side: int) -> np.ndarray:
    """A real three-quarter face (tears_of_steel frame 96, the man turned to the image's left; see
    test_clipscore), cropped around the face and resized to ``side``."""
    import cv2

    frame = video.read_frames(DATA / "tears_of_steel_10s.mp4", [96])[0]
    x0, y0, x1, y1 = faces.FaceAnalyzer().largest(frame).box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    half = min(int((x1 - x0) * 1.2), cy, cx, frame.shape[0] - cy, frame.shape[1] - cx)  # square, inside the frame
    crop = frame[cy - half:cy + half, cx - half:cx + half]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)


def test_identity_per_head_angle_tells_a_broken_angle_from_an_unlearned_face(tmp_path, face_crops):
    import cv2

    root = tmp_path / "videos"
    front = cv2.resize(face_crops["obama_2.jpg"], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    turned = _turned_face(SIDE)
    # the "LoRA" draws the character from the front and somebody else when the head turns
    video.write_mp4(root / "step_000300" / "talk_s0.mp4", np.stack([front, turned] * 4), fps=24)
    video.write_mp4(root / "base" / "talk_s0.mp4", _clip(face_crops, "biden_1.jpg"), fps=24)
    result = evaluate.score_folder(root, [DATA / "obama_1.jpg"], tmp_path / "eval", face_frames=8)
    rows = {(r["checkpoint"], r["metric"]): float(r["value"]) for r in _read_csv(result.metrics_path)}
    assert rows[("step_000300", "identity_similarity_front")] > 0.5 > rows[("step_000300", "identity_similarity_three_quarter")]
    assert ("step_000300", "identity_similarity_profile") not in rows  # no profile face: no value, not 0
    assert 10 < rows[("step_000300", "head_yaw_deg")] < 40  # half front (~5°), half three-quarter
    assert ("base", "identity_similarity_front") in rows and ("base", "identity_similarity_three_quarter") not in rows
    assert result.figure("identity_by_angle").stat().st_size > 5000
    diagnosis = json.loads((result.eval_dir / "diagnosis.json").read_text())
    assert diagnosis == result.diagnosis and diagnosis["checkpoint"] == "step_000300"
    angles = next(f for f in diagnosis["findings"] if f["code"] == "angles")
    assert "three-quarter" in angles["title"] and "three-quarter view" in angles["fix"]


def test_several_characters_get_bleed_rows_and_heat_map(tmp_path, face_crops):
    root = tmp_path / "videos"
    for ckpt, obama_photo in (("base", "biden_1.jpg"), ("step_000100", "obama_2.jpg")):
        video.write_mp4(root / ckpt / "obama-talk_s0.mp4", _clip(face_crops, obama_photo), fps=24)
        video.write_mp4(root / ckpt / "biden-talk_s0.mp4", _clip(face_crops, "biden_1.jpg", "zoom"), fps=24)
    refs = {"obama": [DATA / "obama_1.jpg"], "biden": [DATA / "biden_1.jpg"]}
    result = evaluate.score_folder(root, refs, tmp_path / "eval", face_frames=2)
    margins = {(r["checkpoint"], r["prompt_id"]): float(r["value"]) for r in _read_csv(result.metrics_path)
               if r["metric"] == "bleed_margin"}
    assert margins[("step_000100", "obama-talk")] > 0 > margins[("base", "obama-talk")]  # base drew biden for obama
    assert margins[("step_000100", "biden-talk")] > 0
    bleed = _read_csv(tmp_path / "eval" / "bleed.csv")
    assert {(r["target"], r["character"]) for r in bleed} == {(a, b) for a in refs for b in refs}
    assert result.figure("bleed").stat().st_size > 5000
    with pytest.raises(ValueError, match="carol-talk"):
        video.write_mp4(root / "base" / "carol-talk_s0.mp4", _clip(face_crops, "biden_1.jpg"), fps=24)
        evaluate.score_folder(root, refs, tmp_path / "eval2", face_frames=2)


def test_folder_errors_list_every_problem(tmp_path, face_crops):
    with pytest.raises(VideoFolderError, match="no such folder"):
        folder_videos(tmp_path / "missing")
    with pytest.raises(VideoFolderError, match="no videos in"):
        folder_videos(tmp_path)
    clip = _clip(face_crops, "obama_1.jpg")
    video.write_mp4(tmp_path / "base" / "talk_s0.mp4", clip, fps=24)
    video.write_mp4(tmp_path / "base" / "talk.mp4", clip, fps=24)
    video.write_mp4(tmp_path / "final" / "talk_s0.mp4", clip, fps=24)
    with pytest.raises(VideoFolderError) as info:
        folder_videos(tmp_path)
    assert "base/talk.mp4" in str(info.value) and "final/: no training step" in str(info.value)
    assert "2 problem(s)" in str(info.value)
    (tmp_path / "base" / "talk.mp4").unlink()
    found = folder_videos(tmp_path, steps={"final": 750})
    assert [(v.checkpoint, v.step) for v in found] == [("base", 0), ("final", 750)]


def test_video_names_and_neutral_prompts():
    assert parse_video_name("walk_fast-notrigger_s12") == ("walk_fast", 12, False)
    assert parse_video_name("obama-talk_s0") == ("obama-talk", 0, True)
    assert parse_video_name("talk") is None
    assert neutral_text("{trigger} talking to the camera", "a person") == "A person talking to the camera"
    assert neutral_text("portrait of {trigger}, smiling", "a person") == "portrait of a person, smiling"
    assert neutral_text("a man talking", "a person") is None


# ---------------------------------------------------------------------------------------
# The stage on the tiny default: generation, leakage videos, bad checkpoints skipped
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    run = folder.open_run(tmp / "run", small_params(tmp))
    pipe = tiny.build_tiny_pipeline("2.3")
    ckpts = run.path("checkpoints")
    _lora_for(pipe, ckpts / "lora_step_000002.safetensors", "2.3")
    _lora_for(tiny.build_tiny_pipeline("2.0"), ckpts / "lora_step_000004.safetensors", "2.0")  # made on LTX-2.0
    good = (ckpts / "lora_step_000002.safetensors").read_bytes()
    (ckpts / "lora_step_000006.safetensors").write_bytes(good[: len(good) // 2])  # truncated: corrupt
    return run


def test_stage_end_to_end_on_the_tiny_model_skips_bad_checkpoints(tiny_run, caplog):
    run = tiny_run
    result = evaluate.evaluate(run)
    skipped = json.loads(run.path("eval", "skipped.json").read_text())
    verdicts = {s["checkpoint"]: s["verdict"] for s in skipped}
    assert verdicts == {"lora_step_000004": "incompatible", "lora_step_000006": "corrupt"}
    assert any("LTX-2.0" in r for s in skipped if s["checkpoint"] == "lora_step_000004" for r in s["reasons"])
    assert "skipping lora_step_000006.safetensors" in caplog.text
    samples = sorted(p.relative_to(run.path("samples")).as_posix() for p in run.path("samples").rglob("*.mp4"))
    assert samples == ["base/talk-notrigger_s0.mp4", "base/talk_s0.mp4",
                       "lora_step_000002/talk-notrigger_s0.mp4", "lora_step_000002/talk_s0.mp4"]
    metrics = _read_csv(result.metrics_path)
    assert {r["checkpoint"] for r in metrics} == {"base", "lora_step_000002"}
    assert {r["metric"] for r in metrics} >= {"face_found_rate", "motion", "motion_ratio"}
    # the random tiny model draws no faces: no identity, no leakage score, and the pick says why
    assert not any(r["metric"] in ("identity_similarity", "leakage_identity_similarity") for r in metrics)
    assert result.best["checkpoint"] is None and "random weights" in result.best["reason"]
    assert result.best["skipped"] == ["lora_step_000004", "lora_step_000006"]
    sampler = json.loads(run.path("eval", "sampler.json").read_text())
    assert sampler["num_inference_steps"] == 2 and sampler["seeds"] == [0] and sampler["neutral_subject"] == "a person"
    assert run.path("eval", "grid_lora_step_000002.png").is_file()
    # resume: nothing is generated again
    before = {p: p.stat().st_mtime_ns for p in run.path("samples").rglob("*.mp4")}
    evaluate.evaluate(run)
    assert {p: p.stat().st_mtime_ns for p in run.path("samples").rglob("*.mp4")} == before
    # other sampler settings: the old videos are not mixed in, every one is made again
    run.params.evaluate.num_inference_steps = 3
    evaluate.evaluate(run)
    after = {p: p.stat().st_mtime_ns for p in run.path("samples").rglob("*.mp4")}
    assert all(after[p] != before[p] for p in before) and "generated again" in caplog.text


def test_a_checkpoint_retrained_under_the_same_name_gets_new_videos_and_an_unchanged_one_keeps_its_own(tmp_path, caplog):
    """Videos are keyed on the content of the LoRA file that made them (and the base), not on its name:
    retraining rewrites lora_step_000004 with other weights; its videos must change, the others not."""
    caplog.set_level("INFO", logger="ltxbench")
    run = folder.open_run(tmp_path / "run", small_params(tmp_path))
    pipe = tiny.build_tiny_pipeline("2.3")
    ckpts = run.path("checkpoints")
    _lora_for(pipe, ckpts / "lora_step_000002.safetensors", "2.3", seed=0)
    _lora_for(pipe, ckpts / "lora_step_000004.safetensors", "2.3", seed=1)
    first = evaluate.evaluate(run)
    videos = sorted(run.path("samples").rglob("*.mp4"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in videos}
    record = json.loads(run.path("samples", "lora_step_000004", "talk_s0.json").read_text())
    assert record["lora_sha256"] == train_data.file_sha256(ckpts / "lora_step_000004.safetensors")
    assert record["prompt"] == "obmx talking to the camera" and record["seed"] == 0
    assert json.loads(run.path("samples", "base", "talk_s0.json").read_text())["lora_sha256"] is None

    _lora_for(pipe, ckpts / "lora_step_000004.safetensors", "2.3", seed=7)  # retrained: same name, other weights
    second = evaluate.evaluate(run)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in videos}
    changed = {p.relative_to(run.path("samples")).as_posix() for p in videos if after[p][0] != before[p][0]}
    assert changed == {"lora_step_000004/talk_s0.mp4", "lora_step_000004/talk-notrigger_s0.mp4"}
    assert all(after[p][1] != before[p][1] for p in videos if p.parent.name == "lora_step_000004")
    # the new videos are what was scored: their rows come from the retrained checkpoint's files
    scored = {r["checkpoint"] for r in _read_csv(second.metrics_path)}
    assert scored == {"base", "lora_step_000002", "lora_step_000004"} and first.metrics_path == second.metrics_path
    assert "4 of 6 videos exist, made from the same LoRA file" in caplog.text


def test_all_checkpoints_bad_is_a_clear_error(tmp_path):
    run = folder.open_run(tmp_path / "run", small_params(tmp_path))
    _lora_for(tiny.build_tiny_pipeline("2.0"), run.path("checkpoints", "lora_step_000002.safetensors"), "2.0")
    with pytest.raises(evaluate.NoUsableCheckpointError, match="all 1 checkpoint"):
        evaluate.evaluate(run)
    assert json.loads(run.path("eval", "skipped.json").read_text())[0]["verdict"] == "incompatible"


def test_summary_uses_bootstrap_intervals():
    rows = [{"checkpoint": "lora_step_000010", "step": 10, "prompt_id": "p", "seed": i, "metric": "identity_similarity",
             "value": v} for i, v in enumerate([0.5, 0.6, 0.7, 0.65])]
    (s,) = evaluate.summarize(rows)
    assert s["n"] == 4 and s["mean"] == pytest.approx(0.6125)
    assert 0.5 <= s["ci_low"] < s["mean"] < s["ci_high"] <= 0.7
    assert np.isclose(evaluate.summarize(rows)[0]["ci_low"], s["ci_low"])  # fixed seed: reproducible


def test_facesim_arc_is_measured_when_arcface_weights_are_supplied(tmp_path, made_elsewhere):
    """``evaluate.arcface_model`` adds ``facesim_arc`` rows through the real onnxruntime path (a tiny
    ArcFace-shaped network with random weights: the plumbing and the protocol, not its accuracy)."""
    from test_faces import export_tiny_arcface

    onnx = export_tiny_arcface(tmp_path / "tiny_arcface.onnx")
    subset = tmp_path / "videos"
    for ckpt in ("base", "step_000100"):
        (subset / ckpt).mkdir(parents=True)
        for mp4 in (made_elsewhere / ckpt).glob("*.mp4"):
            (subset / ckpt / mp4.name).write_bytes(mp4.read_bytes())
    run = folder.open_run(tmp_path / "run", small_params(tmp_path, evaluate={
        "videos_from": str(subset), "face_frames": 2, "arcface_model": str(onnx), "workers": 1}))
    result = evaluate.evaluate(run)
    arc = [float(r["value"]) for r in _read_csv(result.metrics_path) if r["metric"] == "facesim_arc"]
    assert len(arc) == 4 and all(0.0 <= v <= 1.0 for v in arc)  # 2 checkpoints x 2 prompts with the trigger
    assert not any("facesim_arc not measured" in n for n in result.notes)


def _table(identity: dict[str, tuple[float, float, float]], leakage: dict[str, float] | None = None) -> list[dict]:
    """A summary as eval_select.summarize writes it: identity (mean, ci_low, ci_high) per checkpoint."""
    steps = {"base": 0, **{c: int(c.rsplit("_", 1)[1]) for c in identity if c != "base"}}
    rows = [{"checkpoint": c, "step": steps[c], "metric": "identity_similarity", "n": 4, "mean": m, "ci_low": lo, "ci_high": hi}
            for c, (m, lo, hi) in identity.items()]
    rows += [{"checkpoint": c, "step": steps[c], "metric": "leakage_identity_similarity", "n": 4, "mean": v, "ci_low": v, "ci_high": v}
             for c, v in (leakage or {}).items()]
    return rows


def test_the_pick_never_names_a_checkpoint_below_the_same_person_line():
    summary = _table({"base": (0.32, 0.3, 0.34), "step_000200": (0.41, 0.38, 0.45), "step_000400": (0.478, 0.42, 0.51)})
    best = eval_select.pick_best(summary, [])
    assert best["checkpoint"] is None and best["reason"].startswith("no checkpoint renders the character")
    assert best["closest"]["checkpoint"] == "step_000400" and best["closest"]["value"] == 0.478
    assert best["closest"]["lacks"][0].startswith("identity: 0.478 < 0.5")
    assert best["thresholds"]["identity_min"] == eval_select.SAME_PERSON == 0.5


def test_when_every_checkpoint_that_renders_the_character_fails_a_rule_nothing_is_picked_and_the_rule_is_named():
    summary = _table({"base": (0.32, 0.3, 0.34), "step_000200": (0.45, 0.4, 0.5), "step_000400": (0.56, 0.52, 0.6)},
                     leakage={"base": 0.31, "step_000200": 0.33, "step_000400": 0.5})
    best = eval_select.pick_best(summary, [])
    assert best["checkpoint"] is None
    assert "(step_000400) all fail another rule (leakage" in best["reason"]
    assert best["closest"]["checkpoint"] == "step_000400" and best["closest"]["lacks"][0].startswith("leakage")


def test_a_tie_within_the_interval_prefers_the_earlier_step_and_says_so():
    summary = _table({"base": (0.32, 0.3, 0.34), "step_000300": (0.508, 0.499, 0.522), "step_000600": (0.509, 0.49, 0.52),
                      "step_000900": (0.512, 0.509, 0.516)})
    best = eval_select.pick_best(summary, [])
    assert best["checkpoint"] == "step_000300" and "a tie with the highest, step_000900" in best["reason"]
    apart = _table({"base": (0.32, 0.3, 0.34), "step_000300": (0.52, 0.5, 0.54), "step_000900": (0.6, 0.57, 0.63)})
    clear = eval_select.pick_best(apart, [])
    assert clear["checkpoint"] == "step_000900" and clear["reason"].startswith("highest mean identity similarity")
