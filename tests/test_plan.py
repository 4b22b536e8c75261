"""``ltxbench plan``: the step rule, the checkpoint interval, memory and time per GPU class, counts
from a curated run and measured step times from its training log; nothing is loaded."""

from __future__ import annotations

import csv

import pytest

from ltxbench import cli, errors
from ltxbench.model.architecture import transformer_config
from ltxbench.params import loading
from ltxbench.run import atomic, folder
from ltxbench.train import flops as train_flops
from ltxbench.train import plan, vram

from conftest import REPO, small_params


def test_the_step_rule_is_100_per_clip_within_500_to_2000_per_character_summed():
    assert plan.recommended_steps({"a": 2}) == 500
    assert plan.recommended_steps({"a": 12}) == 1200
    assert plan.recommended_steps({"a": 40}) == 2000
    assert plan.recommended_steps({"a": 5, "b": 12}) == 1700  # several characters: each its own budget
    assert plan.recommended_interval(1500) == 250 and plan.recommended_interval(2000) == 300
    assert plan.recommended_interval(120) == 50


def test_the_full_size_recipe_is_planned_without_its_weights_on_this_machine():
    path = REPO / "params" / "single_character.yaml"
    with pytest.raises(errors.ParamsError, match="not in the local Hugging Face cache"):
        loading.load(path)  # running it needs the weights ...
    params = loading.load(path, check_weights=False)  # ... planning it does not
    p = plan.make_plan(params, None)
    # before curate: two photos (one clip each) and a 10 s video (at most 10 / (121/24) = 1 clip)
    assert p.dataset.clips == {"obama": 3} and not p.dataset.measured and "estimated before curate" in p.dataset.how
    assert p.steps_configured == 2000 and p.steps_recommended == 500
    assert any("4.0x the 500" in w and "overfitting" in w for w in p.warnings)
    # time: the model FLOPs of the step, plus the forward recomputed under gradient checkpointing
    weights, attention = train_flops.forward_flops_split(transformer_config("2.3"), *vram.step_tokens(params))
    assert p.step_tflop * 1e12 == pytest.approx(3 * weights + 4 * attention)
    by_name = {g.gpu.name: g for g in p.gpus}
    h100 = by_name["H100 80GB"]
    assert h100.step_s == pytest.approx(p.step_tflop * 1e12 / (989e12 * plan.ASSUMED_MFU))
    assert h100.total_h == pytest.approx(h100.step_s * 2000 / 3600) and not h100.measured
    # memory: the VRAM planner's estimate against each GPU's memory
    expected = vram.estimate(params, vram.model_dims(params.model), 79.2 * plan.GIB).total / plan.GIB
    assert h100.memory_gib == pytest.approx(expected) and h100.fits
    assert not by_name["RTX 4090 24GB"].fits and any(w.startswith("RTX 5090 32GB: needs") for w in p.warnings)
    text = p.as_text()
    assert "H200 141GB" in text and "estimate: FLOPs at 35% MFU, not measured" in text and "GPU-hours" in text


def test_a_curated_and_trained_run_gives_counted_clips_and_a_measured_step_time(tmp_path):
    params_path = small_params(tmp_path, train={"steps": 40, "checkpoint_every": 30})
    run = folder.open_run(tmp_path / "run", params_path)
    atomic.write_jsonl(run.path("dataset", "manifest.jsonl"), [
        {"id": "c1", "status": "accepted", "character": "obama", "source_kind": "image"},
        {"id": "c2", "status": "accepted", "character": "obama", "source_kind": "video"},
        {"id": "c3", "status": "rejected", "character": "obama", "source_kind": "video"},
        {"id": "c2-head", "status": "accepted", "character": "obama", "source_kind": "video", "variant": "head"},
    ])
    run.path("train").mkdir()
    with open(run.path("train", "metrics.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["stage", "step", "step_time"])
        w.writeheader()
        w.writerows([{"stage": "main", "step": i, "step_time": t} for i, t in enumerate([0.2, 0.3, 0.25, 5.0], 1)])
    p = plan.make_plan(run.params, run.dir)
    assert p.dataset.clips == {"obama": 2} and p.dataset.measured and p.dataset.frames == 1 + 9
    assert p.measured_here[0] == pytest.approx(0.275)  # the median: a slow checkpoint step does not skew it
    assert any("only 1 checkpoint(s)" in w for w in p.warnings)
    assert any("the tiny model" in w for w in p.warnings)
    assert "measured here: 0.275 s/step" in p.as_text()


def test_the_command_prints_the_plan_and_refuses_bad_parameters(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/<name> here: nothing counted from an old run
    assert cli.main(["plan", str(REPO / "params" / "demo.yaml"), "--set", "train.checkpoint_every=100"]) == 0
    out = capsys.readouterr().out
    assert "checkpoints: every 100 steps" in out and "estimated before curate" in out
    assert "RTX 4090 24GB" in out and "the tiny model" in out
    assert cli.main(["plan", str(small_params(tmp_path)), "--set", "train.steps=0"]) == 2
    assert "nothing was planned" in capsys.readouterr().err
