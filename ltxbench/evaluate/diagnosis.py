"""From scores to the next action: ``eval/diagnosis.json``.

:func:`diagnose` reads the per-checkpoint summary (means with 95% bootstrap intervals), the
best-checkpoint verdict and the copy flags, and returns *findings*: each names its evidence
(metric, checkpoint, value, interval, what it was compared with) and the fix the practice of the
field recommends. Rules whose numbers were not measured are listed under ``not_checked`` with the
reason, never passed silently; rules that found nothing are listed under ``passed`` with the value
they looked at. Every rule and threshold is documented in docs/evaluation.md ("Diagnosis").

Which checkpoint is diagnosed: the best one when one was picked, else the ``closest`` one (the
highest identity, with what it lacks), else the LoRA checkpoint with the highest identity.
Curve rules (underfit, plateau) read every checkpoint; the others read the diagnosed one against
the base model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ltxbench.evaluate.select import SAME_PERSON, best_label
from ltxbench.evaluate.sources import BASE

RISING_MIN = 0.01
"""Identity gain from the second-last to the last checkpoint that counts as "still rising" (below
it the curve is flat: the demo's checkpoints 900-1500 differ by 0.001)."""
UNDERFIT_MORE_STEPS = 1.3
"""Underfit fix: about 30% more steps, the increment the training guides suggest before changing anything else."""
DIVERSITY_KEPT_MIN = 0.5
"""Prompt diversity below half the base model's (with separated intervals) = the prompts collapse to one scene."""
DRIFT_MAX = 0.3
"""Mean dlib distance of a clip's faces to its most typical face above which the face changes within
the clip (one steady face measures 0.0-0.2; a cut to another person ~0.4)."""
DRIFT_OVER_BASE = 0.05
"""Drift counts as the LoRA's only when it exceeds the base model's by this much; otherwise the base does it too."""
BLEED_MARGIN_MIN = 0.05
"""Mean bleed margin (similarity to the prompted character minus the strongest other) below which identities bleed."""
ANGLE_BINS = ("three_quarter", "profile")
ANGLE_NAMES = {"front": "front", "three_quarter": "three-quarter", "profile": "profile"}
RULES_DOC = "docs/evaluation.md#diagnosis"


@dataclass(frozen=True)
class Evidence:
    metric: str
    checkpoint: str
    step: int
    value: float
    ci_low: float
    ci_high: float
    n: int
    against: str | None = None
    """What the value was compared with, in words (a threshold, the base model's value)."""


@dataclass(frozen=True)
class Finding:
    code: str
    title: str
    checkpoint: str
    evidence: list[Evidence]
    fix: str
    rule: str = RULES_DOC


@dataclass
class Diagnosis:
    checkpoint: str | None
    chosen_as: str
    findings: list[Finding] = field(default_factory=list)
    passed: list[dict[str, str]] = field(default_factory=list)
    not_checked: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Table:
    """The summary indexed by (checkpoint, metric)."""

    def __init__(self, summary: list[dict[str, Any]]) -> None:
        self.rows = {(s["checkpoint"], s["metric"]): s for s in summary}
        steps = {s["checkpoint"]: int(s["step"]) for s in summary}
        self.steps = steps
        self.checkpoints = sorted((c for c in steps if c != BASE), key=lambda c: (steps[c], c))

    def get(self, checkpoint: str, metric: str) -> dict[str, Any] | None:
        return self.rows.get((checkpoint, metric))

    def mean(self, checkpoint: str, metric: str) -> float | None:
        s = self.get(checkpoint, metric)
        return None if s is None else float(s["mean"])

    def evidence(self, checkpoint: str, metric: str, against: str | None = None) -> Evidence:
        s = self.rows[(checkpoint, metric)]
        return Evidence(metric, checkpoint, int(s["step"]), round(float(s["mean"]), 4), round(float(s["ci_low"]), 4),
                        round(float(s["ci_high"]), 4), int(s["n"]), against)


def _diagnosed(table: _Table, best: dict[str, Any]) -> tuple[str | None, str]:
    if best.get("checkpoint"):
        return best_label(best), "the best checkpoint (eval/best_checkpoint.json)"
    closest = best_label(best.get("closest") or {})
    if closest:
        return closest, "the closest checkpoint: none was picked, this one has the highest identity"
    scored = [c for c in table.checkpoints if table.get(c, "identity_similarity")]
    if scored:
        top = max(scored, key=lambda c: (table.mean(c, "identity_similarity"), -table.steps[c]))
        return top, "the checkpoint with the highest identity"
    return None, "none: no LoRA checkpoint has an identity score"


def diagnose(summary: list[dict[str, Any]], best: dict[str, Any], copies: dict[str, list[str]] | None = None,
             coverage_gaps: dict[str, list[str]] | None = None) -> Diagnosis:
    """Findings with evidence and fixes (see the module docstring). ``copies``: per checkpoint the
    videos flagged as training-frame copies (:func:`ltxbench.evaluate.select.copy_flags`);
    ``coverage_gaps``: per character the curate stage's gaps (``dataset/coverage.json``), cited
    by the angle rule."""
    table = _Table(summary)
    ckpt, chosen_as = _diagnosed(table, best)
    out = Diagnosis(ckpt, chosen_as)
    if ckpt is None:
        if table.checkpoints:
            out.findings.append(Finding(
                "no_face", "No face in any LoRA video", table.checkpoints[-1], [],
                "Nothing about identity can be said. Look at the grids: if the model draws no faces at all (the "
                "embedded random-weight model does not), check the base model; if it draws them too small, use closer "
                "framing in the evaluation prompts."))
        else:
            out.not_checked.append({"code": "all", "why": "no LoRA checkpoint was evaluated"})
        return out
    _curve_rules(table, out)
    _overfit_rules(table, ckpt, copies or {}, out)
    _angle_rule(table, ckpt, coverage_gaps or {}, out)
    _drift_rule(table, ckpt, out)
    _leakage_rules(table, ckpt, best.get("thresholds", {}), out)
    _worse_than_base_rules(table, ckpt, best.get("thresholds", {}), out)
    _voice_rule(table, ckpt, out)
    return out


def _voice_rule(table: _Table, ckpt: str, out: Diagnosis) -> None:
    mine = table.get(ckpt, "voice_similarity")
    if mine is None:
        out.not_checked.append({"code": "voice", "why": "voice_similarity not measured (no reference voices, or no "
                                "speech in the generated sound)"})
        return
    if mine["mean"] >= SAME_PERSON:
        out.passed.append({"code": "voice", "detail": f"voice similarity {mine['mean']:.3f} >= {SAME_PERSON}"})
        return
    base = table.get(BASE, "voice_similarity")
    evidence = [table.evidence(ckpt, "voice_similarity", f"below the same-speaker line {SAME_PERSON}")]
    if base is not None:
        evidence.append(table.evidence(BASE, "voice_similarity"))
    out.findings.append(Finding(
        "voice", "The voice is not the character's", ckpt, evidence,
        "Train the sound on the character's own clean speech: clips where only they speak (curate coverage "
        "accepted_own_voice; wrong_voice and several_speakers clips are rejected), an audio stage with "
        "audio_loss_weight > 0, and check in train/metrics.csv that the audio loss has converged (audio learns "
        "faster than video, then stalls)."))


def _curve_rules(table: _Table, out: Diagnosis) -> None:
    scored = [c for c in table.checkpoints if table.get(c, "identity_similarity")]
    if len(scored) < 2:
        out.not_checked.append({"code": "underfit", "why": "fewer than two checkpoints with an identity score: no curve to read"})
        return
    last, before = scored[-1], scored[-2]
    top = max(table.mean(c, "identity_similarity") for c in scored)
    if top >= SAME_PERSON:
        out.passed.append({"code": "underfit", "detail": f"identity reaches {top:.3f} >= {SAME_PERSON} at some checkpoint"})
        return
    gain = table.mean(last, "identity_similarity") - table.mean(before, "identity_similarity")
    evidence = [table.evidence(before, "identity_similarity", f"below the same-person line {SAME_PERSON}"),
                table.evidence(last, "identity_similarity", f"{gain:+.3f} over {before}")]
    if gain >= RISING_MIN:
        steps = table.steps[last]
        more = int(round(steps * UNDERFIT_MORE_STEPS, -1))
        out.findings.append(Finding(
            "underfit", "Underfit: identity is still rising at the last checkpoint and below the same-person line", last,
            evidence,
            f"Train longer: about 30% more steps (train.steps {steps} -> {more}). Check that every caption carries "
            "the trigger (the caption stage's lint lists those that do not)."))
    else:
        out.findings.append(Finding(
            "plateau", "Identity levelled off below the same-person line", last, evidence,
            "More steps alone will not help: the curve is flat. Give training more of the face: more varied clips "
            "of the character (curate coverage), head crops (train.stages crop: head), the trigger in every "
            "caption; then a higher learning rate or rank."))


def _overfit_rules(table: _Table, ckpt: str, copies: dict[str, list[str]], out: Diagnosis) -> None:
    flagged = copies.get(ckpt, [])
    if table.get(ckpt, "train_copy_similarity") is None:
        out.not_checked.append({"code": "overfit_copy", "why": "train_copy_similarity not measured (no training faces)"})
    elif flagged:
        out.findings.append(Finding(
            "overfit_copy", f"Overfit: {len(flagged)} video(s) copy a training frame", ckpt,
            [table.evidence(ckpt, "train_copy_similarity", "copy flag: >= 0.85 and 0.10 above the identity to the references")],
            "Use an earlier checkpoint or fewer steps, or train on more varied clips (more scenes, angles, "
            f"expressions). Flagged: {', '.join(flagged[:5])}."))
    else:
        out.passed.append({"code": "overfit_copy", "detail": "no video flagged as a copy of a training frame"})
    mine, base = table.get(ckpt, "prompt_diversity"), table.get(BASE, "prompt_diversity")
    if mine is None or base is None:
        out.not_checked.append({"code": "overfit_diversity", "why": "prompt_diversity not measured for the checkpoint and "
                                "the base model (needs two prompts and base videos)"})
        return
    kept = mine["mean"] / base["mean"] if base["mean"] > 0 else None
    if kept is not None and kept < DIVERSITY_KEPT_MIN and mine["ci_high"] < base["ci_low"]:
        out.findings.append(Finding(
            "overfit_diversity", f"Overfit: the prompts collapse to one scene ({kept:.0%} of the base model's diversity)",
            ckpt, [table.evidence(ckpt, "prompt_diversity", f"base {base['mean']:.3f}; below {DIVERSITY_KEPT_MIN:.0%} of it"),
                   table.evidence(BASE, "prompt_diversity")],
            "The LoRA paints its training shots whatever the prompt. Use an earlier checkpoint or fewer steps, "
            "and train on more varied data (other scenes and backgrounds; captions that describe what varies)."))
    else:
        out.passed.append({"code": "overfit_diversity",
                           "detail": f"prompt diversity {mine['mean']:.3f} vs base {base['mean']:.3f}"})


def _angle_rule(table: _Table, ckpt: str, coverage_gaps: dict[str, list[str]], out: Diagnosis) -> None:
    front = table.get(ckpt, "identity_similarity_front")
    turned = {b: table.get(ckpt, f"identity_similarity_{b}") for b in ANGLE_BINS}
    shown = {b: s for b, s in turned.items() if s is not None}
    if front is None or not shown:
        missing = "front" if front is None else " or ".join(ANGLE_NAMES[b] for b in ANGLE_BINS)
        why = (f"the videos of {ckpt} show no {missing} faces, so how identity holds across head angles is not known: "
               "add evaluation prompts that turn the head (looking over the shoulder, in profile)")
        gaps = _angle_gaps(coverage_gaps)
        if gaps:
            why += f"; the training data lacks them too (curate coverage: {'; '.join(gaps)})"
        out.not_checked.append({"code": "angles", "why": why})
        return
    failing = {b: s for b, s in shown.items() if s["mean"] < SAME_PERSON}
    if front["mean"] < SAME_PERSON or not failing:
        out.passed.append({"code": "angles", "detail": "front " + f"{front['mean']:.3f}" + "".join(
            f", {ANGLE_NAMES[b]} {s['mean']:.3f}" for b, s in shown.items())})
        return
    gaps = _angle_gaps(coverage_gaps)
    names = " and ".join(ANGLE_NAMES[b] for b in failing)
    fix = f"Add training clips of the character in {names} view; the dataset, not the settings, is short of them."
    if gaps:
        fix += f" The curate coverage already says: {'; '.join(gaps)}."
    out.findings.append(Finding(
        "angles", f"Breaks on angles: front faces pass, {names} faces do not", ckpt,
        [table.evidence(ckpt, "identity_similarity_front", f"passes {SAME_PERSON}")]
        + [table.evidence(ckpt, f"identity_similarity_{b}", f"below {SAME_PERSON}") for b in failing], fix))


def _angle_gaps(coverage_gaps: dict[str, list[str]]) -> list[str]:
    """The curate coverage gaps about head angles, prefixed with the character when there are several."""
    several = len(coverage_gaps) > 1
    return [f"{name}: {g}" if several else g for name, gs in sorted(coverage_gaps.items()) for g in gs
            if "three-quarter" in g or "profile" in g]


def _drift_rule(table: _Table, ckpt: str, out: Diagnosis) -> None:
    mine, base = table.get(ckpt, "identity_drift"), table.get(BASE, "identity_drift")
    if mine is None:
        out.not_checked.append({"code": "drift", "why": f"identity_drift not measured for {ckpt} (needs two faces in a video)"})
        return
    if mine["mean"] <= DRIFT_MAX:
        out.passed.append({"code": "drift", "detail": f"identity_drift {mine['mean']:.3f} <= {DRIFT_MAX}"})
        return
    if base is not None and base["mean"] > DRIFT_MAX and mine["mean"] <= base["mean"] + DRIFT_OVER_BASE:
        out.findings.append(Finding(
            "base_limitation", "The face changes within the clip in the base model too", ckpt,
            [table.evidence(ckpt, "identity_drift", f"above {DRIFT_MAX}"),
             table.evidence(BASE, "identity_drift", "the base model without LoRA drifts as much")],
            "A limitation of the base model (fast motion, turning heads), not of the LoRA: training will not "
            "fix it. Use slower motion in the prompts, or more steps / frames at inference."))
        return
    against = f"above {DRIFT_MAX}" + (f" and the base model's {base['mean']:.3f}" if base is not None else "")
    out.findings.append(Finding(
        "drift", "Identity drifts within the clip", ckpt, [table.evidence(ckpt, "identity_drift", against)],
        "The face is not yet stable across a clip: train more steps, or on more varied clips (the face turning, "
        "talking, moving) so the identity holds through motion."))


def _leakage_rules(table: _Table, ckpt: str, thresholds: dict[str, Any], out: Diagnosis) -> None:
    limit = thresholds.get("leakage_max")
    mine = table.get(ckpt, "leakage_identity_similarity")
    if limit is None or mine is None:
        out.not_checked.append({"code": "leakage", "why": "leakage not measured for the checkpoint and the base model"})
    elif mine["mean"] > limit:
        out.findings.append(Finding(
            "leakage", "Leakage: the character appears without the trigger", ckpt,
            [table.evidence(ckpt, "leakage_identity_similarity", f"above the base model's + tolerance, {limit:.3f}"),
             table.evidence(BASE, "leakage_identity_similarity")],
            "Fix the captions, not the training settings: the trigger in every caption and captions that describe "
            "the rest of the scene (so the face binds to the trigger, not to 'a person'); prior preservation "
            "(train.prior_preservation) penalises the change directly."))
    else:
        out.passed.append({"code": "leakage", "detail": f"leakage {mine['mean']:.3f} <= {limit:.3f}"})
    bleed = table.get(ckpt, "bleed_margin")
    if bleed is None:
        out.not_checked.append({"code": "bleed", "why": "one character, or no face: no bleed margin"})
    elif bleed["mean"] < BLEED_MARGIN_MIN:
        out.findings.append(Finding(
            "bleed", "Bleed between characters: a prompted face resembles another character as much", ckpt,
            [table.evidence(ckpt, "bleed_margin", f"below {BLEED_MARGIN_MIN}")],
            "Fix the captions: one distinct, rare trigger per character, every clip captioned with its own "
            "character's trigger only, and clips of each character alone."))
    else:
        out.passed.append({"code": "bleed", "detail": f"bleed margin {bleed['mean']:.3f} >= {BLEED_MARGIN_MIN}"})


def _worse_than_base_rules(table: _Table, ckpt: str, thresholds: dict[str, Any], out: Diagnosis) -> None:
    fix = ("Lower the learning rate (or the LoRA strength at inference). If this LoRA was trained for LTX-2.0, "
           "run `ltxbench check-lora FILE --base 2.3`: an old LoRA damages a 2.3 base.")
    floor = thresholds.get("min_motion_ratio")
    motion = table.get(ckpt, "motion_ratio")
    if motion is None or floor is None:
        out.not_checked.append({"code": "motion", "why": "motion_ratio not measured (no base videos, or static ones)"})
    elif motion["mean"] < floor:
        out.findings.append(Finding("motion", "Worse than base: stiffer motion", ckpt,
                                    [table.evidence(ckpt, "motion_ratio", f"below {floor}")], fix))
    else:
        uncertain = motion["ci_low"] < floor
        out.passed.append({"code": "motion", "detail": f"motion ratio {motion['mean']:.3f} >= {floor}"
                           + (f" (but its 95% interval reaches {motion['ci_low']:.3f}: more seeds would settle it)"
                              if uncertain else "")})
    clip_min = thresholds.get("clip_min")
    clip = table.get(ckpt, "clip_score")
    if clip is None or clip_min is None:
        out.not_checked.append({"code": "adherence", "why": "clip_score not measured (no CLIP weights, or no base videos)"})
    elif clip["mean"] < clip_min:
        out.findings.append(Finding("adherence", "Worse than base: follows the prompts less", ckpt,
                                    [table.evidence(ckpt, "clip_score", f"below the base model's - tolerance, {clip_min:.2f}"),
                                     table.evidence(BASE, "clip_score")], fix))
    else:
        out.passed.append({"code": "adherence", "detail": f"clip_score {clip['mean']:.2f} >= {clip_min:.2f}"})


def as_markdown(diagnosis: dict[str, Any]) -> str:
    """The diagnosis as a short readable report (notebook and dashboard)."""
    lines = [f"**Diagnosis of {diagnosis['checkpoint'] or 'no checkpoint'}** ({diagnosis['chosen_as']})", ""]
    if not diagnosis["findings"]:
        lines.append("No finding: every rule that could be checked passed.")
    for f in diagnosis["findings"]:
        lines.append(f"- **{f['title']}** (`{f['code']}`)")
        for e in f["evidence"]:
            against = f"; {e['against']}" if e.get("against") else ""
            lines.append(f"  - `{e['metric']}` at {e['checkpoint']}: {e['value']:.3f} "
                         f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}], n={e['n']}{against}")
        lines.append(f"  - *Fix:* {f['fix']}")
    if diagnosis["not_checked"]:
        lines += ["", "Not known (not measured):"]
        lines += [f"- `{n['code']}`: {n['why']}" for n in diagnosis["not_checked"]]
    if diagnosis["passed"]:
        lines += ["", "Passed: " + "; ".join(f"`{p['code']}` ({p['detail']})" for p in diagnosis["passed"])]
    return "\n".join(lines)
