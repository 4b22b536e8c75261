"""Stacking other LoRAs beside the character LoRA (``evaluate.with_loras``): the paired comparison,
the adapters actually loaded and weighted, the samples and their provenance, and every error path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ltxbench import errors
from ltxbench.evaluate import select as eval_select
from ltxbench.evaluate import stage as evaluate
from ltxbench.evaluate.generate import Adapters, StackedLoRA, StackedLoRAError
from ltxbench.evaluate.sources import folder_videos, split_label, stack_label
from ltxbench.evaluate.stack import stack_table, stack_verdict
from ltxbench.media import video
from ltxbench.model import tiny
from ltxbench.params import loading, schema
from ltxbench.run import folder as run_folder

from conftest import random_lora, small_params


def _rows(label: str, metric: str, values: list[float], step: int = 900) -> list[dict]:
    return [{"checkpoint": label, "step": step, "prompt_id": "talk", "seed": i, "metric": metric, "value": v}
            for i, v in enumerate(values)]


def test_the_stack_is_compared_pair_by_pair_and_its_cost_said_in_words():
    rows = (_rows("step_000900", "identity_similarity", [0.6, 0.62, 0.58, 0.61])
            + _rows("step_000900+stack", "identity_similarity", [0.5, 0.51, 0.47, 0.52])
            + _rows("step_000900", "motion_ratio", [1.0, 0.9, 1.1, 1.0])
            + _rows("step_000900+stack", "motion_ratio", [0.8, 0.7, 0.9, 0.8])
            + _rows("base", "identity_similarity", [0.3, 0.31], step=0)
            + _rows("base+stack", "identity_similarity", [0.3], step=0))  # a pair without a face: left out
    table = stack_table(rows)
    ident = {r["checkpoint"]: r for r in table if r["metric"] == "identity_similarity"}
    assert list(ident) == ["base", "step_000900"]  # base first, then by step
    assert ident["base"]["n"] == 1 and ident["step_000900"]["n"] == 4
    r = ident["step_000900"]
    assert r["alone"] == pytest.approx(0.6025) and r["stacked"] == pytest.approx(0.5) and r["change"] == pytest.approx(-0.1025)
    assert r["ci_high"] < 0  # every pair lost identity: the interval excludes 0
    assert r["strength"] == 1.0 and r["step"] == 900

    loras = [{"path": "/loras/style.safetensors", "strength": 0.8}]
    best = {"checkpoint": "step_000900", "label": "step_000900", "strength": 1.0}
    verdict = stack_verdict(table, best, loras)
    assert verdict["label"] == "step_000900" and verdict["change"] == pytest.approx(-0.1025)
    assert "style.safetensors at 0.8" in verdict["reason"] and "the stack costs 0.102 identity, 17% of it" in verdict["reason"]
    assert "motion ratio 0.80 against 1.00 alone" in verdict["reason"]
    assert "same-person line" not in verdict["reason"]  # 0.500 with the stack: still on the line
    below = stack_verdict(stack_table(_rows("step_000900", "identity_similarity", [0.6, 0.62])
                                      + _rows("step_000900+stack", "identity_similarity", [0.45, 0.47])), best, loras)
    assert "fall below dlib's same-person line 0.5" in below["reason"]

    # a stack that changes nothing the videos can show says so; one where no face was found says it is not known
    flat = stack_table(_rows("step_000900", "identity_similarity", [0.6, 0.5, 0.7])
                       + _rows("step_000900+stack", "identity_similarity", [0.7, 0.5, 0.6]))
    assert "no change the videos can show" in stack_verdict(flat, best, loras)["reason"]
    unknown = stack_verdict(stack_table(_rows("step_000900", "face_found_rate", [0.0])), best, loras)
    assert unknown["change"] is None and unknown["reason"].startswith("not known")


def test_stacked_videos_are_never_the_pick():
    summary = [{"checkpoint": c, "step": s, "metric": "identity_similarity", "n": 4, "mean": m, "ci_low": m - 0.01,
                "ci_high": m + 0.01} for c, s, m in (("base", 0, 0.3), ("step_000900", 900, 0.55),
                                                     ("step_000900+stack", 900, 0.7), ("base+stack", 0, 0.4))]
    best = eval_select.pick_best(summary, [])
    assert best["label"] == "step_000900" and best["candidates"] == ["step_000900"]


def test_a_folder_made_elsewhere_reads_stacked_videos_by_their_mark(tmp_path):
    for folder in ("base", "base+stack", "step_000300@0.5", "step_000300@0.5+stack"):
        video.write_mp4(tmp_path / folder / "talking_s0.mp4", np.zeros((9, 32, 32, 3), np.uint8), fps=8)
    found = {(v.checkpoint, v.step, v.strength, v.stacked) for v in folder_videos(tmp_path)}
    assert found == {("base", 0, 0.0, False), ("base+stack", 0, 0.0, True), ("step_000300@0.5", 300, 0.5, False),
                     ("step_000300@0.5+stack", 300, 0.5, True)}
    assert split_label(stack_label("step_000300@0.5")) == ("step_000300", 0.5)


def test_stacked_loras_that_are_missing_repeated_or_out_of_range_are_refused_at_load(tmp_path):
    style = random_lora(tiny.build_tiny_pipeline("2.3"), tmp_path / "style.safetensors", "2.3")
    for entry, says in (([{"path": str(tmp_path / "nope.safetensors")}], "no such file"),
                        ([{"path": str(style), "strength": 0.0}], "greater than 0"),
                        ([{"path": str(style), "strength": 3}], "less than or equal to 2"),
                        ([{"path": str(style)}, {"path": str(style), "strength": 0.3}], "listed once"),
                        ([{"strength": 0.5}], "path")):
        with pytest.raises(errors.ParamsError, match=says):
            loading.load(small_params(tmp_path, evaluate={"with_loras": entry}))
    with pytest.raises(errors.ParamsError, match="nothing is generated with evaluate.videos_from"):
        loading.load(small_params(tmp_path, evaluate={"with_loras": [{"path": str(style)}], "videos_from": str(tmp_path)}))
    # a relative path is the params file's folder's, as every other path
    params = small_params(tmp_path, evaluate={"with_loras": [{"path": "style.safetensors", "strength": 0.4}]})
    loaded = loading.load(params).evaluate.with_loras
    assert loaded[0].path == style and loaded[0].strength == 0.4


def test_the_stack_is_loaded_beside_the_lora_at_its_own_weight_and_removed_after(tmp_path):
    pipe = tiny.build_tiny_pipeline("2.3")
    character = random_lora(pipe, tmp_path / "lora_step_000002.safetensors", "2.3", seed=1)
    style = random_lora(pipe, tmp_path / "style.safetensors", "2.3", seed=2)

    def to_q():  # loading a LoRA wraps the layer: look it up each time
        return pipe.transformer.transformer_blocks[0].attn1.to_q

    adapters = Adapters(pipe, [StackedLoRA(style, 0.3, "stack_0")])
    adapters.use("lora_step_000002@0.5", character)
    assert to_q().active_adapters == ["lora_step_000002"] and to_q().scaling["lora_step_000002"] == pytest.approx(0.5)
    adapters.use("lora_step_000002@0.5+stack", character)
    assert sorted(to_q().active_adapters) == ["lora_step_000002", "stack_0"]
    assert to_q().scaling["stack_0"] == pytest.approx(0.3) and to_q().scaling["lora_step_000002"] == pytest.approx(0.5)
    adapters.use("base+stack", None)  # the stack alone on the base model
    assert to_q().active_adapters == ["stack_0"] and "lora_step_000002" not in to_q().scaling
    adapters.clear()
    assert not hasattr(to_q(), "active_adapters")  # the plain base again


@pytest.fixture(scope="module")
def stacked_run(tmp_path_factory):
    """A run on the tiny model with one 2.3 checkpoint and one stacked 2.3 LoRA at 0.7."""
    tmp = tmp_path_factory.mktemp("stack")
    pipe = tiny.build_tiny_pipeline("2.3")
    style = random_lora(pipe, tmp / "style.safetensors", "2.3", seed=5, scale=0.5)
    run = run_folder.open_run(tmp / "run", small_params(tmp, evaluate={"with_loras": [{"path": str(style), "strength": 0.7}]}))
    random_lora(pipe, run.path("checkpoints", "lora_step_000002.safetensors"), "2.3")
    return run


def test_every_checkpoint_is_generated_again_with_the_stack_and_compared(stacked_run):
    run = stacked_run
    result = evaluate.evaluate(run)
    samples = run.path("samples")
    made = sorted(p.relative_to(samples).as_posix() for p in samples.rglob("*.mp4"))
    assert made == sorted(f"{c}/{v}.mp4" for c in ("base", "base+stack", "lora_step_000002", "lora_step_000002+stack")
                          for v in ("talk-notrigger_s0", "talk_s0"))

    record = json.loads((samples / "lora_step_000002+stack" / "talk_s0.json").read_text())
    alone = json.loads((samples / "lora_step_000002" / "talk_s0.json").read_text())
    assert record["stack"][0]["strength"] == 0.7 and len(record["stack"][0]["lora_sha256"]) == 64
    assert "stack" not in alone and record["lora_sha256"] == alone["lora_sha256"]

    def frames(folder):
        path = samples / folder / "talk_s0.mp4"
        return video.read_frames(path, list(range(video.probe(path).num_frames))).astype(np.float32)

    # the stacked file is in effect: with it, the same prompt and seed give another video
    assert np.abs(frames("lora_step_000002+stack") - frames("lora_step_000002")).mean() > 1.0
    assert np.abs(frames("base+stack") - frames("base")).mean() > 1.0

    import pandas as pd

    metrics = set(pd.read_csv(run.path("eval", "metrics.csv"))["checkpoint"])
    assert metrics == {"base", "base+stack", "lora_step_000002", "lora_step_000002+stack"}
    best = json.loads(run.path("eval", "best_checkpoint.json").read_text())
    assert best["candidates"] == ["lora_step_000002"]
    # the random tiny model draws no faces: the identity cost is not known, and the entry says so
    assert best["stack"]["loras"] == [{"path": str(run.params.evaluate.with_loras[0].path), "strength": 0.7}]
    assert best["stack"]["change"] is None and best["stack"]["reason"].startswith("not known")
    assert run.path("eval", "stack.csv").is_file() and "stack_curve" in result.figures
    assert "grid_lora_step_000002+stack" in result.figures

    # evaluated again: every video reused; the stack at another strength: only the stacked videos are new
    def times():
        return {p.relative_to(samples).as_posix(): p.stat().st_mtime_ns for p in samples.rglob("*.mp4")}

    before = times()
    evaluate.evaluate(run)
    assert times() == before
    moved = run_folder.Run(run.dir, run.params.model_copy(update={"evaluate": run.params.evaluate.model_copy(update={
        "with_loras": [schema.StackedLoRASection(path=run.params.evaluate.with_loras[0].path, strength=0.3)]})}))
    evaluate.evaluate(moved)
    after = times()
    assert {k for k in after if after[k] != before[k]} == {k for k in before if "+stack/" in k}


def test_a_stacked_lora_for_another_version_is_refused_before_anything_is_generated(tmp_path):
    old = random_lora(tiny.build_tiny_pipeline("2.0"), tmp_path / "helper_20.safetensors", "2.0")
    run = run_folder.open_run(tmp_path / "run", small_params(tmp_path, evaluate={"with_loras": [{"path": str(old), "strength": 0.3}]}))
    random_lora(tiny.build_tiny_pipeline("2.3"), run.path("checkpoints", "lora_step_000002.safetensors"), "2.3")
    with pytest.raises(StackedLoRAError, match=r"evaluate.with_loras.0 = .*helper_20.safetensors \(incompatible\).*LTX-2.0"):
        evaluate.evaluate(run)
    assert not list(run.path("samples").rglob("*.mp4"))
