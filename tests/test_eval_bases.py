"""evaluate.bases: one LoRA file run through several base models with the same prompts and seeds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ltxbench import errors
from ltxbench.evaluate import stage as evaluate
from ltxbench.evaluate.bases import BaseRun, bases_table, base_sentence, paired_gains
from ltxbench.lora.check.check import IncompatibleLoRAError, require_compatible
from ltxbench.media import video
from ltxbench.model import tiny
from ltxbench.params import loading
from ltxbench.params import schema as P
from ltxbench.run import folder as run_folder

from conftest import random_lora, small_params

GATES = ["transformer_blocks.0.attn1.to_gate_logits", "transformer_blocks.0.attn2.to_gate_logits"]
"""Modules LTX-2.3 has and 2.0 lacks (gated attention): a LoRA on them alone touches nothing in 2.0."""


def _rows(checkpoint: str, step: int, values: dict[tuple[str, int], float], metric: str = "identity_similarity"):
    return [{"checkpoint": checkpoint, "step": step, "prompt_id": p, "seed": s, "metric": metric, "value": v,
             "strength": 0.0 if checkpoint == "base" else 1.0} for (p, s), v in values.items()]


def test_the_gain_is_paired_within_each_base_and_said_per_base():
    cases = [("talk", 0), ("talk", 1), ("walk", 0), ("walk", 1)]
    own = BaseRun(P.OWN_BASE, P.ModelSection(version="2.3"),
                  rows=_rows("base", 0, dict(zip(cases, [0.30, 0.32, 0.34, 0.36])))
                  + _rows("lora_step_000900", 900, dict(zip(cases, [0.60, 0.62, 0.64, 0.66]))))
    # the other base draws faces closer to the character on its own: its raw identity is higher, its gain lower
    other = BaseRun("ltx25", P.ModelSection(version="2.5"),
                    rows=_rows("base", 0, dict(zip(cases, [0.50, 0.52, 0.54, 0.56])))
                    + _rows("lora_step_000900", 900, dict(zip(cases, [0.56, 0.59, 0.60, 0.62]))))
    gain, lo, hi, n = paired_gains(other.rows)[("lora_step_000900", "identity_similarity")]
    assert n == 4 and gain == pytest.approx(0.0625) and 0 < lo <= gain <= hi
    table = bases_table([own, other])
    assert {r["base"] for r in table} == {"model", "ltx25"}
    mine = next(r for r in table if r["base"] == "ltx25" and r["checkpoint"] == "lora_step_000900")
    assert mine["gain"] == pytest.approx(0.0625) and mine["mean"] == pytest.approx(0.5925)
    assert next(r for r in table if r["base"] == "ltx25" and r["checkpoint"] == "base")["gain"] is None
    said = base_sentence(table, other, "lora_step_000900")
    assert "ltx25 (LTX-2.5, tiny)" in said and "gain +0.062" in said and "raises identity" in said
    assert "21% of it carries over" in said  # 0.0625 of the 0.30 gain on the run's own model

    # no face on the other base: not known, never a number
    blank = BaseRun("blank", P.ModelSection(version="2.5"), rows=_rows("lora_step_000900", 900, dict.fromkeys(cases, 0.0),
                                                                       metric="face_found_rate"))
    said = base_sentence(bases_table([own, blank]), blank, "lora_step_000900")
    assert "not known" in said and "face found in 0%" in said


def test_cross_version_turns_only_the_version_verdict_into_a_warning(tmp_path):
    pipe25 = tiny.build_tiny_pipeline("2.5")
    old = random_lora(tiny.build_tiny_pipeline("2.3"), tmp_path / "old.safetensors", "2.3")
    with pytest.raises(IncompatibleLoRAError, match="evaluate.bases"):
        require_compatible(old, "2.5", base=pipe25)
    report = require_compatible(old, "2.5", base=pipe25, cross_version=True)
    assert report.verdict == "incompatible" and report.reasons == report.version_reasons
    assert any(w.startswith("cross-version evaluation: the LoRA is for LTX-2.3") for w in report.warnings)

    # a LoRA on modules 2.0 does not have touches nothing there: refused even cross-version, and said so
    gates = random_lora(tiny.build_tiny_pipeline("2.3"), tmp_path / "gates.safetensors", "2.3", modules=GATES)
    with pytest.raises(IncompatibleLoRAError, match="it touches nothing in"):
        require_compatible(gates, "2.0", base=tiny.build_tiny_pipeline("2.0"), cross_version=True)


def test_other_bases_are_checked_like_the_model_before_anything_loads(tmp_path):
    for bases, says in (([{"name": "model", "version": "2.5"}], "names the run's own model"),
                        ([{"name": "a", "version": "2.5"}, {"name": "a", "version": "2.0"}], "a repeated"),
                        ([{"name": "same", "version": "2.3", "source": "tiny"}], "is the run's own model"),
                        ([{"name": "gone", "version": "2.5", "source": "./no-such-folder"}], r"evaluate\.bases\.0\.source"),
                        ([{"name": "x", "version": "2.6"}], "version")):
        with pytest.raises(errors.ParamsError, match=says):
            loading.load(small_params(tmp_path, evaluate={"bases": bases}))
    with pytest.raises(errors.ParamsError, match="set one of them"):
        loading.load(small_params(tmp_path, evaluate={"bases": [{"name": "b", "version": "2.5"}], "videos_from": str(tmp_path)}))
    loaded = loading.load(small_params(tmp_path, evaluate={"bases": [{"name": "ltx25", "version": 2.5}]}))
    assert loaded.evaluate.bases[0].version == "2.5" and loaded.evaluate.bases[0].source == "tiny"


@pytest.fixture(scope="module")
def two_base_run(tmp_path_factory):
    """A 2.3 run with one 2.3 checkpoint and one on gated-attention modules only, evaluated on a 2.5 and a 2.0 base too."""
    tmp = tmp_path_factory.mktemp("bases")
    run = run_folder.open_run(tmp / "run", small_params(tmp, evaluate={"bases": [
        {"name": "ltx25", "version": "2.5", "source": "tiny"}, {"name": "ltx20", "version": "2.0", "source": "tiny"}]}))
    pipe = tiny.build_tiny_pipeline("2.3")
    random_lora(pipe, run.path("checkpoints", "lora_step_000002.safetensors"), "2.3", scale=0.5)
    random_lora(pipe, run.path("checkpoints", "lora_step_000004.safetensors"), "2.3", scale=0.5, modules=GATES)
    return run, evaluate.evaluate(run)


def test_one_lora_runs_on_every_base_with_the_same_prompts_and_seeds(two_base_run):
    run, result = two_base_run
    samples = run.path("samples")
    made = sorted(p.relative_to(samples).as_posix() for p in samples.rglob("*.mp4"))
    per_base = [f"{c}/{v}.mp4" for c in ("base", "lora_step_000002") for v in ("talk-notrigger_s0", "talk_s0")]
    # 2.5 has every module the 2.3 LoRAs adapt; 2.0 has none of the gates: that checkpoint is not run there
    assert made == sorted([f"{c}/{v}.mp4" for c in ("base", "lora_step_000002", "lora_step_000004")
                           for v in ("talk-notrigger_s0", "talk_s0")]
                          + [f"bases/ltx25/{x}" for x in per_base]
                          + [f"bases/ltx25/lora_step_000004/{v}.mp4" for v in ("talk-notrigger_s0", "talk_s0")]
                          + [f"bases/ltx20/{x}" for x in per_base])
    record = json.loads((samples / "bases" / "ltx25" / "lora_step_000002" / "talk_s0.json").read_text())
    own = json.loads((samples / "lora_step_000002" / "talk_s0.json").read_text())
    assert record["base"].startswith("ltx-2.5") and own["base"].startswith("ltx-2.3")
    assert record["lora_sha256"] == own["lora_sha256"] and record["seed"] == own["seed"] and record["prompt"] == own["prompt"]

    def frames(rel):
        path = samples / rel / "talk_s0.mp4"
        return video.read_frames(path, list(range(video.probe(path).num_frames))).astype(np.float32)

    # the 2.3 LoRA is in effect on the 2.5 base (it loads and changes the video), and the bases differ
    assert np.abs(frames("bases/ltx25/lora_step_000002") - frames("bases/ltx25/base")).mean() > 1.0
    assert np.abs(frames("bases/ltx25/base") - frames("base")).mean() > 1.0

    table = pd.read_csv(run.path("eval", "bases.csv"))
    assert list(table.columns[:7]) == ["base", "version", "checkpoint", "step", "strength", "metric", "n"]
    assert set(table["base"]) == {"model", "ltx25", "ltx20"}
    assert set(table[table["base"] == "ltx20"]["checkpoint"]) == {"base", "lora_step_000002"}
    got = table[(table["base"] == "ltx25") & (table["metric"] == "motion")]
    assert set(got["checkpoint"]) == {"base", "lora_step_000002", "lora_step_000004"}
    assert pd.read_csv(run.path("eval", "bases", "ltx25", "metrics.csv")).columns.tolist() == list(evaluate.METRIC_FIELDS)

    info = json.loads(run.path("eval", "bases.json").read_text())
    by_name = {b["name"]: b for b in info["bases"]}
    assert by_name["model"]["own"] and by_name["ltx25"]["version"] == "2.5"
    assert any("cross-version evaluation" in w for w in by_name["ltx25"]["warnings"]["lora_step_000002"])
    assert [s["checkpoint"] for s in by_name["ltx20"]["skipped"]] == ["lora_step_000004"]
    assert "touches nothing" in by_name["ltx20"]["skipped"][0]["reasons"][0]
    # the random tiny models draw no faces: identity on each base is not known, and each sentence says so
    assert all("not known" in v or "was not run" in v for v in info["verdicts"].values())
    assert result.bases == info and result.figures["bases"].is_file()
    assert "on base ltx25 (LTX-2.5, tiny)" in repr(result)
    from ltxbench.ui.eval_dashboard import EvalDashboard

    dash = EvalDashboard(run.dir)
    headings = [c.value for c in dash.widget.children if hasattr(c, "value") and isinstance(c.value, str)]
    assert any("other base models" in h and "ltx25 (LTX-2.5, tiny)" in h for h in headings)
    assert 'alt="bases.png"' in dash.static_html()
    # the pick is the run's own model's: the other bases' videos never enter metrics.csv
    assert set(pd.read_csv(result.metrics_path)["checkpoint"]) == {"base", "lora_step_000002", "lora_step_000004"}


def test_evaluating_again_reuses_every_base_s_videos(two_base_run):
    run, _ = two_base_run
    samples = run.path("samples")
    before = {p: p.stat().st_mtime_ns for p in samples.rglob("*.mp4")}
    evaluate.evaluate(run)
    assert {p: p.stat().st_mtime_ns for p in samples.rglob("*.mp4")} == before
