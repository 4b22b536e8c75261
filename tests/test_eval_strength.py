"""LoRA strength as an evaluated axis (``evaluate.strengths``): names, the pick, the parameters,
and on the tiny pretrained base, identity that falls as the strength goes to 0."""

from __future__ import annotations

import json
import shutil

import pytest

from ltxbench.evaluate import select as eval_select
from ltxbench.evaluate.sources import SampleVideo, checkpoint_step, folder_videos, split_label, strength_label


def test_a_checkpoint_at_a_strength_has_one_name_everywhere(tmp_path):
    assert strength_label("lora_step_000250", 1.0) == "lora_step_000250"
    assert strength_label("lora_step_000250", 0.6) == "lora_step_000250@0.6"
    assert split_label("lora_step_000250@0.6") == ("lora_step_000250", 0.6)
    assert split_label("lora_step_000250") == ("lora_step_000250", 1.0)
    assert checkpoint_step("lora_step_000250@0.6") == 250  # the strength is not the step
    assert checkpoint_step("mine@0.5", {"mine": 40}) == 40
    v = SampleVideo("lora_step_000250@0.6", 250, "talking", 0, tmp_path / "x.mp4")
    assert (v.lora, v.strength) == ("lora_step_000250", 0.6)
    assert SampleVideo("base", 0, "talking", 0, tmp_path / "x.mp4").strength == 0.0

    # a folder of videos made elsewhere at another strength (ComfyUI's strength_model) is read the same way
    import numpy as np

    from ltxbench.media import video

    for folder in ("base", "step_000300", "step_000300@0.5"):
        video.write_mp4(tmp_path / "made" / folder / "talking_s0.mp4", np.zeros((9, 32, 32, 3), np.uint8), fps=8)
    found = {(v.checkpoint, v.step, v.strength) for v in folder_videos(tmp_path / "made")}
    assert found == {("base", 0, 0.0), ("step_000300", 300, 1.0), ("step_000300@0.5", 300, 0.5)}


def _summary(identity: dict[str, tuple[float, float, float]], motion: dict[str, float] | None = None) -> list[dict]:
    rows = []
    for label, (mean, lo, hi) in identity.items():
        step = 0 if label == "base" else checkpoint_step(label)
        rows.append({"checkpoint": label, "step": step, "metric": "identity_similarity", "n": 8, "mean": mean,
                     "ci_low": lo, "ci_high": hi})
    for label, value in (motion or {}).items():
        rows.append({"checkpoint": label, "step": checkpoint_step(label), "metric": "motion_ratio", "n": 8,
                     "mean": value, "ci_low": value, "ci_high": value})
    return rows


def test_the_pick_names_a_checkpoint_and_a_strength_under_the_same_rules():
    summary = _summary({"base": (0.33, 0.31, 0.35), "step_000600": (0.55, 0.53, 0.57), "step_000600@0.5": (0.45, 0.43, 0.47),
                        "step_000900": (0.62, 0.6, 0.64), "step_000900@0.5": (0.58, 0.56, 0.60)},
                       motion={"step_000600": 0.9, "step_000600@0.5": 1.0, "step_000900": 0.6, "step_000900@0.5": 0.95})
    best = eval_select.pick_best(summary, [])
    # step 900 at full strength is stiffer than base (motion 0.6 < 0.8): at 0.5 it keeps the motion and the face
    assert (best["checkpoint"], best["strength"], best["label"], best["step"]) == ("step_000900", 0.5, "step_000900@0.5", 900)
    assert "at strength 0.5" in best["reason"] and "checkpoint × strength pair(s)" in best["reason"]
    assert best["eliminated"]["step_000900"][0].startswith("motion")
    assert "identity: 0.450 < 0.5" in best["eliminated"]["step_000600@0.5"][0]


def test_a_tie_between_strengths_prefers_the_lower_one_and_one_strength_reads_as_before():
    tied = _summary({"base": (0.33, 0.31, 0.35), "step_000900@0.7": (0.60, 0.55, 0.66), "step_000900": (0.62, 0.6, 0.64)})
    best = eval_select.pick_best(tied, [])
    assert (best["checkpoint"], best["strength"]) == ("step_000900", 0.7)
    assert "earlier step or lower strength is preferred" in best["reason"]
    single = eval_select.pick_best(_summary({"base": (0.33, 0.31, 0.35), "step_000900": (0.62, 0.6, 0.64)}), [])
    assert (single["checkpoint"], single["strength"], single["label"]) == ("step_000900", 1.0, "step_000900")
    assert "strength" not in single["reason"]


def test_strengths_out_of_range_or_repeated_are_refused_before_anything_loads(tmp_path):
    from ltxbench import errors
    from ltxbench.params import loading

    from conftest import small_params

    for bad, says in (([0.0], "greater than 0"), ([2.5], "less than or equal to 2"), ([0.5, 0.5], "must be unique"),
                      ([], "at least 1")):
        with pytest.raises(errors.ParamsError, match=says):
            loading.load(small_params(tmp_path, evaluate={"strengths": bad}))
    assert loading.load(small_params(tmp_path, evaluate={"strengths": [0.5, 1.0]})).evaluate.strengths == [0.5, 1.0]


def _redirected(lora_file, out, seed: int = 0):
    """A LoRA as strong as ``lora_file`` (the same A matrices, every B with the same norm) that
    points elsewhere: random B directions. Stacked beside the character LoRA it is a style LoRA
    that knows nothing of the character, which is what costs identity in a stack."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(seed)
    with safe_open(str(lora_file), "pt") as f:
        meta, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    for key, value in state.items():
        if ".lora_B." in key:
            noise = torch.randn(value.shape, generator=g, dtype=torch.float32)
            state[key] = (noise * value.float().norm() / noise.norm()).to(value.dtype)
    save_file(state, str(out), metadata=meta)
    return out


def test_identity_falls_with_the_strength_and_under_a_stack_on_the_pretrained_base(demo_run, tmp_path):
    """The demo's last checkpoint (trained on the tiny pretrained base) evaluated again at 0.25 and
    1.0, alone and with a stacked LoRA, with the same prompts and seeds: the 1.0 videos are reused,
    the others generated; at 0.25 the faces are much less the character's (closer to the base's),
    and the stack costs identity, which the pick's ``stack`` entry and eval/stack.csv say."""
    import pandas as pd

    from ltxbench import compare
    from ltxbench.evaluate import stage as evaluate
    from ltxbench.params import schema
    from ltxbench.run import folder as run_folder
    from ltxbench.ui.eval_dashboard import EvalDashboard

    copy = tmp_path / "demo"
    shutil.copytree(demo_run, copy)
    ckpts = sorted((copy / "checkpoints").glob("lora_step_*.safetensors"))
    for older in ckpts[:-1]:  # the last checkpoint only: a third of the videos, the same question
        older.unlink()
    last = ckpts[-1].stem
    style = _redirected(ckpts[-1], tmp_path / "style.safetensors")
    run = run_folder.open_run(copy)
    run = run_folder.Run(copy, run.params.model_copy(update={"evaluate": run.params.evaluate.model_copy(update={
        "strengths": [0.25, 1.0], "with_loras": [schema.StackedLoRASection(path=style, strength=1.0)]})}))

    def made():
        return {str(p.relative_to(copy)): p.stat().st_mtime_ns for p in (copy / "samples").rglob("*.mp4")}

    before = made()
    result = evaluate.evaluate(run)
    after = made()
    reused = {k: t for k, t in before.items() if k.split("/")[1] in ("base", last)}
    assert reused and all(after[k] == t for k, t in reused.items())  # the strength-1.0 videos alone are reused
    new = {k.split("/")[1] for k in after if k not in before}
    assert new == {f"{last}@0.25", "base+stack", f"{last}+stack", f"{last}@0.25+stack"}

    summary = pd.read_csv(copy / "eval" / "summary.csv")
    assert set(summary["strength"]) == {0.0, 0.25, 1.0}
    metrics = pd.read_csv(copy / "eval" / "metrics.csv")
    assert set(metrics["strength"]) == {0.0, 0.25, 1.0}
    ident = summary[summary["metric"] == "identity_similarity"].set_index("checkpoint")["mean"]
    print({"base": ident["base"], "at 0.25": ident[f"{last}@0.25"], "at 1.0": ident[last],
           "at 1.0 with the stack": ident.get(f"{last}+stack")})
    assert ident[f"{last}@0.25"] < ident[last] - 0.05
    assert abs(ident[f"{last}@0.25"] - ident["base"]) < abs(ident[last] - ident["base"])

    best = json.loads((copy / "eval" / "best_checkpoint.json").read_text())
    assert best["checkpoint"] is None or (best["strength"] in (0.25, 1.0) and best["label"]
                                          == strength_label(best["checkpoint"], best["strength"]))
    assert all("+stack" not in c for c in best["candidates"])
    assert (copy / "eval" / "strength_curve.png").is_file() and "strength_curve" in result.figures

    # the stack: identity alone vs stacked, pair by pair, and the cost said for the pick (or the closest)
    stack = pd.read_csv(copy / "eval" / "stack.csv")
    row = stack[(stack["checkpoint"] == last) & (stack["metric"] == "identity_similarity")].iloc[0]
    print("stack at 1.0:", row.to_dict(), best["stack"]["reason"])
    # a LoRA pointing elsewhere costs the face in every pair (measured here: -0.020, 95% CI -0.025..-0.015)
    assert row["change"] < 0 and row["ci_high"] < 0
    assert best["stack"]["change"] is not None and best["stack"]["change"] < 0 and "the stack costs" in best["stack"]["reason"]
    assert "stack_curve" in result.figures

    board = EvalDashboard(run)
    assert board.strengths == [0.25, 1.0] and board.strength_picker.layout.display != "none"
    assert board.stacked and board.stack_toggle.layout.display != "none" and last in board.loras
    board.select_at(last, 0.25)
    assert board.current == f"{last}@0.25" and board.slider.value == last and board.grid_bytes
    board.strength_picker.value = 1.0  # the selector alone moves to the same checkpoint at 1.0
    assert board.current == last
    board.stack_toggle.value = True  # and the switch to its videos with the stack
    assert board.current == f"{last}+stack" and board.grid_bytes
    assert "Stacked LoRAs" in board.static_html() and "stack_curve.png" in board.static_html()
    assert compare.headline(copy)["best_strength"] in (0.25, 1.0) or best["checkpoint"] is None
    assert compare.headline(copy)["stack_identity_change"] == pytest.approx(best["stack"]["change"])
