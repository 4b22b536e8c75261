"""The diagnosis rules (ltxbench.evaluate.diagnosis) on constructed score tables, each both ways: the
finding fires on the table that shows the problem and not on the one that does not. The end to
end case on real faces (a front face that passes and a turned one that fails) is in test_evaluate."""

from __future__ import annotations

import pytest

from ltxbench.evaluate import select as eval_select
from ltxbench.evaluate.diagnosis import as_markdown, diagnose


def _s(ckpt: str, metric: str, mean: float, lo: float | None = None, hi: float | None = None, n: int = 8) -> dict:
    step = 0 if ckpt == "base" else int(ckpt.rsplit("_", 1)[1])
    return {"checkpoint": ckpt, "step": step, "metric": metric, "n": n, "mean": mean,
            "ci_low": mean - 0.02 if lo is None else lo, "ci_high": mean + 0.02 if hi is None else hi}


def _table(identity: dict[str, float], **metrics: dict[str, float | tuple[float, float, float]]) -> list[dict]:
    rows = [_s(c, "identity_similarity", v) for c, v in identity.items()]
    for metric, values in metrics.items():
        for c, v in values.items():
            rows.append(_s(c, metric, *v) if isinstance(v, tuple) else _s(c, metric, v))
    return rows


def _run(summary, copies=None, gaps=None):
    best = eval_select.pick_best(summary, [])
    return diagnose(summary, best, copies, gaps).as_dict()


def _codes(d) -> set[str]:
    return {f["code"] for f in d["findings"]}


def _state(d, code) -> str:
    if code in _codes(d):
        return "finding"
    if any(p["code"] == code for p in d["passed"]):
        return "passed"
    assert any(n["code"] == code for n in d["not_checked"]), f"{code} is nowhere in the diagnosis"
    return "not_checked"


def test_underfit_fires_when_identity_still_rises_below_the_line_and_names_more_steps():
    rising = _run(_table({"base": 0.3, "step_000300": 0.36, "step_000600": 0.42}))
    assert rising["checkpoint"] == "step_000600" and rising["chosen_as"].startswith("the closest")
    f = next(f for f in rising["findings"] if f["code"] == "underfit")
    assert "train.steps 600 -> 780" in f["fix"] and "trigger" in f["fix"]
    assert [e["checkpoint"] for e in f["evidence"]] == ["step_000300", "step_000600"]
    assert f["evidence"][1]["value"] == 0.42 and f["evidence"][1]["ci_low"] == 0.4
    flat = _run(_table({"base": 0.3, "step_000300": 0.42, "step_000600": 0.425}))
    assert "underfit" not in _codes(flat) and "plateau" in _codes(flat)
    learned = _run(_table({"base": 0.3, "step_000300": 0.45, "step_000600": 0.55}))
    assert _state(learned, "underfit") == "passed" and "plateau" not in _codes(learned)


def test_overfit_fires_on_copies_and_on_collapsed_prompt_diversity_only():
    ident = {"base": 0.3, "step_000300": 0.55, "step_000600": 0.56}
    collapsed = _table(ident, prompt_diversity={"base": (0.13, 0.05, 0.19), "step_000300": (0.007, 0.006, 0.009)},
                       train_copy_similarity={"step_000300": 0.6})
    d = _run(collapsed, copies={"step_000300": ["talk_s0"]})
    assert d["checkpoint"] == "step_000300"  # the tie within the interval picks the earlier step
    assert {"overfit_diversity", "overfit_copy"} <= _codes(d)
    div = next(f for f in d["findings"] if f["code"] == "overfit_diversity")
    assert "5% of the base" in div["title"] and {e["checkpoint"] for e in div["evidence"]} == {"step_000300", "base"}
    kept = _table(ident, prompt_diversity={"base": (0.13, 0.05, 0.19), "step_000300": (0.11, 0.06, 0.15)},
                  train_copy_similarity={"step_000300": 0.6})
    d = _run(kept, copies={})
    assert _state(d, "overfit_diversity") == "passed" and _state(d, "overfit_copy") == "passed"
    # half the base's diversity but overlapping intervals: the videos cannot tell, so no finding
    wide = _table(ident, prompt_diversity={"base": (0.13, 0.02, 0.2), "step_000300": (0.05, 0.01, 0.1)})
    assert _state(_run(wide), "overfit_diversity") == "passed"
    assert _state(_run(_table(ident)), "overfit_copy") == "not_checked"


def test_breaks_on_angles_only_when_front_passes_and_a_turned_angle_fails_and_cites_coverage():
    ident = {"base": 0.3, "step_000300": 0.52}
    gaps = {"obama": ["no profile shots", "one expression only (neutral)"]}
    broken = _table(ident, identity_similarity_front={"step_000300": 0.58}, identity_similarity_profile={"step_000300": 0.38})
    d = _run(broken, gaps=gaps)
    f = next(f for f in d["findings"] if f["code"] == "angles")
    assert "profile" in f["title"] and "no profile shots" in f["fix"] and "expression" not in f["fix"]
    assert [e["metric"] for e in f["evidence"]] == ["identity_similarity_front", "identity_similarity_profile"]
    holds = _table(ident, identity_similarity_front={"step_000300": 0.58}, identity_similarity_profile={"step_000300": 0.52})
    assert _state(_run(holds), "angles") == "passed"
    never = _table(ident, identity_similarity_front={"step_000300": 0.45}, identity_similarity_profile={"step_000300": 0.3})
    assert _state(_run(never), "angles") == "passed"  # never learned the face at all: not an angle problem
    front_only = _run(_table(ident, identity_similarity_front={"step_000300": 0.58}), gaps=gaps)
    why = next(n["why"] for n in front_only["not_checked"] if n["code"] == "angles")
    assert "not known" in why and "no profile shots" in why


def test_drift_is_the_loras_unless_the_base_drifts_as_much():
    ident = {"base": 0.3, "step_000300": 0.52}
    lora_drifts = _run(_table(ident, identity_drift={"base": 0.15, "step_000300": 0.4}))
    assert "drift" in _codes(lora_drifts) and "base_limitation" not in _codes(lora_drifts)
    both = _run(_table(ident, identity_drift={"base": 0.38, "step_000300": 0.4}))
    assert "base_limitation" in _codes(both) and "drift" not in _codes(both)
    assert _state(_run(_table(ident, identity_drift={"base": 0.38, "step_000300": 0.12})), "drift") == "passed"


def test_leakage_and_bleed_point_at_the_captions():
    ident = {"base": 0.3, "step_000300": 0.45, "step_000600": 0.56}
    leaky = _run(_table(ident, leakage_identity_similarity={"base": 0.29, "step_000300": 0.3, "step_000600": 0.5}))
    assert leaky["checkpoint"] == "step_000600" and leaky["chosen_as"].startswith("the closest")
    f = next(f for f in leaky["findings"] if f["code"] == "leakage")
    assert "captions" in f["fix"] and f["evidence"][0]["value"] == 0.5
    clean = _run(_table(ident, leakage_identity_similarity={"base": 0.29, "step_000600": 0.31}))
    assert _state(clean, "leakage") == "passed"
    bleeding = _run(_table(ident, bleed_margin={"step_000600": 0.01}))
    assert "bleed" in _codes(bleeding) and "trigger per character" in next(
        f["fix"] for f in bleeding["findings"] if f["code"] == "bleed")
    assert _state(_run(_table(ident, bleed_margin={"step_000600": 0.2})), "bleed") == "passed"
    assert _state(_run(_table(ident)), "bleed") == "not_checked"


def test_worse_than_base_names_the_learning_rate_and_the_checker():
    ident = {"base": 0.3, "step_000300": 0.52, "step_000600": 0.56}
    stiff = _run(_table(ident, motion_ratio={"step_000300": 0.9, "step_000600": 0.6},
                        clip_score={"base": 30.0, "step_000300": 30.1, "step_000600": 25.0}))
    assert stiff["checkpoint"] == "step_000300"
    assert _state(stiff, "motion") == "passed" and _state(stiff, "adherence") == "passed"
    # the diagnosis of a run whose every rendering checkpoint is stiff: the closest one's motion is named
    worse = _run(_table({"base": 0.3, "step_000300": 0.56}, motion_ratio={"step_000300": 0.6},
                        clip_score={"base": 30.0, "step_000300": 25.0}))
    assert {"motion", "adherence"} <= _codes(worse)
    assert "check-lora" in next(f["fix"] for f in worse["findings"] if f["code"] == "motion")
    margin = _run(_table({"base": 0.3, "step_000300": 0.56}, motion_ratio={"step_000300": (0.81, 0.55, 1.1)}))
    assert "more seeds would settle it" in next(p["detail"] for p in margin["passed"] if p["code"] == "motion")


def test_what_was_not_measured_is_said_and_no_faces_is_a_finding_not_a_score():
    d = _run(_table({"base": 0.3, "step_000300": 0.52}))
    not_checked = {n["code"] for n in d["not_checked"]}
    assert {"overfit_diversity", "angles", "drift", "leakage", "motion", "adherence"} <= not_checked
    faceless = diagnose([_s("step_000300", "face_found_rate", 0.0)], {"checkpoint": None}).as_dict()
    assert faceless["checkpoint"] is None and _codes(faceless) == {"no_face"}
    text = as_markdown(_run(_table({"base": 0.3, "step_000300": 0.36, "step_000600": 0.42})))
    assert text.startswith("**Diagnosis of step_000600**") and "*Fix:* Train longer" in text
    assert "[0.400, 0.440], n=8" in text


@pytest.mark.parametrize("identity", [0.2, 0.49])
def test_a_checkpoint_below_the_line_is_diagnosed_as_closest_never_as_best(identity):
    d = _run(_table({"base": 0.3, "step_000300": identity}))
    assert d["checkpoint"] == "step_000300" and "closest" in d["chosen_as"] and "best" not in d["chosen_as"]
