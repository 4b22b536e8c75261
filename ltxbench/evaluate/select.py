"""Per-checkpoint summaries and the best-checkpoint rule.

Summary: per checkpoint and metric, the mean over its videos (prompts x seeds) with a 95%
BCa bootstrap interval (:func:`ltxbench.evaluate.metrics.stats.bootstrap_ci`, fixed seed).

Best checkpoint (documented in runs/README.md; every elimination is written with its reason):

1. **leakage**: mean ``leakage_identity_similarity`` at most the base model's + ``evaluate.leakage_tolerance``
   (the face must not appear without the trigger more than it does without any LoRA);
2. **motion**: mean ``motion_ratio`` at least ``evaluate.min_motion_ratio`` (below: "stiffer than base");
3. **prompt adherence**: mean ``clip_score`` at least the base model's - ``evaluate.clip_tolerance``;
4. **copy**: no video flagged by :func:`ltxbench.evaluate.metrics.overfit.is_copy`;
5. **voice** (only when the LoRA was trained on sound and voices were measured): mean
   ``voice_similarity`` at least 0.5, the speaker backend's same-speaker line;
6. **identity**: mean ``identity_similarity`` at least :data:`SAME_PERSON` (0.5: dlib's
   same-person distance 0.6 on the similarity scale). Below it the faces are somebody else's, and
   a "best" checkpoint that renders somebody else is worse than no verdict;
7. of the checkpoints left, the highest mean ``identity_similarity``; any earlier checkpoint whose
   95% interval reaches that mean is a tie the measurement cannot separate, and the earliest of
   them is picked (less training, less to overfit), which the reason says.

Videos made with ``evaluate.with_loras`` stacked beside the LoRA (labels ending ``+stack``) are
never candidates: :mod:`ltxbench.evaluate.stack` compares them with the LoRA alone.

With several ``evaluate.strengths`` every checkpoint × strength is a candidate (summary label
``<checkpoint>@<strength>``, the checkpoint alone at 1.0) under the same rules; a tie prefers the
earlier step, then the lower strength (less LoRA for a difference the videos cannot show). The
pick names both: ``checkpoint`` (the file), ``strength`` and ``label``.

A rule whose numbers were not measured (no base video, no face without the trigger, no CLIP
weights) does not eliminate: the JSON says it was not applied and why. A checkpoint without any
identity score cannot be picked. When none is picked, the reason says whether no checkpoint
renders the character or the ones that do fail another rule, and ``closest`` names the checkpoint
with the highest identity and what it lacks.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ltxbench.evaluate.sources import BASE, is_stacked, label_strength, split_label

SAME_PERSON = 0.5
"""``identity_similarity`` at dlib's same-person distance (0.6 -> 1 - 0.6/1.2,
:func:`ltxbench.faces.distance_to_similarity`): the least a best checkpoint must reach."""


@dataclass(frozen=True)
class Rules:
    leakage_tolerance: float = 0.05
    min_motion_ratio: float = 0.8
    clip_tolerance: float = 0.02
    audio_trained: bool = False
    """The LoRA was trained on sound (an audio loss weight above 0): its voice must be the character's too."""

    @classmethod
    def from_params(cls, cfg: Any, audio_trained: bool = False) -> "Rules":
        return cls(cfg.leakage_tolerance, cfg.min_motion_ratio, cfg.clip_tolerance, audio_trained)


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and 95% bootstrap interval per checkpoint and metric, base first, then by step."""
    from ltxbench.evaluate.metrics.stats import bootstrap_ci

    groups: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    for r in rows:
        groups[(r["checkpoint"], int(r["step"]), r["metric"])].append(float(r["value"]))
    out = []
    for (ckpt, step, metric), values in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0] != BASE, kv[0][0], kv[0][2])):
        mean, lo, hi = bootstrap_ci(values)
        out.append({"checkpoint": ckpt, "step": step, "strength": label_strength(ckpt), "metric": metric, "n": len(values),
                    "mean": round(mean, 6), "ci_low": round(lo, 6), "ci_high": round(hi, 6)})
    return out


def _means(summary: list[dict[str, Any]], metric: str) -> dict[str, float]:
    return {s["checkpoint"]: float(s["mean"]) for s in summary if s["metric"] == metric}


def copy_flags(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per checkpoint, the videos (``<prompt_id>_s<seed>``) flagged as copies of training frames."""
    from ltxbench.evaluate.metrics.overfit import is_copy

    per_video: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    for r in rows:
        per_video[(r["checkpoint"], r["prompt_id"], int(r["seed"]))][r["metric"]] = float(r["value"])
    flags: dict[str, list[str]] = defaultdict(list)
    for (ckpt, pid, seed), m in sorted(per_video.items()):
        if is_copy(m.get("train_copy_similarity"), m.get("identity_similarity")):
            flags[ckpt].append(f"{pid}_s{seed}")
    return dict(flags)


def _no_pick_reason(checkpoints: list[str], ident: dict[str, dict[str, Any]], eliminated: dict[str, list[str]]) -> str:
    """Why nothing was picked, in the words a researcher acts on."""
    renders = [c for c in checkpoints if c in ident and ident[c]["mean"] >= SAME_PERSON]
    if not renders:
        best = max((ident[c]["mean"] for c in checkpoints if c in ident), default=None)
        return (f"no checkpoint renders the character: the highest mean identity similarity is {best:.3f}, below "
                f"dlib's same-person line {SAME_PERSON} (see closest). Train longer or on more varied clips of the "
                f"character, and check that every caption carries the trigger.")
    failed = sorted({r.split(":", 1)[0] for c in renders for r in eliminated[c]})
    return (f"the checkpoint(s) that render the character ({', '.join(renders)}) all fail another rule "
            f"({', '.join(failed)}; see eliminated), so none is picked.")


def pick_best(summary: list[dict[str, Any]], rows: list[dict[str, Any]], rules: Rules = Rules(),
              tiny_model: bool = False) -> dict[str, Any]:
    """The best LoRA checkpoint by the module's rule, with what eliminated the others."""
    ident = {s["checkpoint"]: s for s in summary if s["metric"] == "identity_similarity"}
    steps = {s["checkpoint"]: s["step"] for s in summary}

    def order(c: str) -> tuple[int, float]:  # less training first, then less LoRA
        return steps[c], label_strength(c)

    # a checkpoint at several strengths is several candidates (labels ``name@strength``); videos made
    # with stacked LoRAs are a comparison (eval_stack), never a candidate: the pick is the LoRA alone
    checkpoints = sorted({c for c in steps if c != BASE and not is_stacked(c)}, key=lambda c: (*order(c), c))
    leak, motion, clip = _means(summary, "leakage_identity_similarity"), _means(summary, "motion_ratio"), _means(summary, "clip_score")
    copies = copy_flags(rows)
    applied: dict[str, str] = {}
    thresholds: dict[str, float | None] = {"leakage_max": None, "min_motion_ratio": rules.min_motion_ratio, "clip_min": None}
    eliminated: dict[str, list[str]] = defaultdict(list)

    if BASE in leak:
        limit = thresholds["leakage_max"] = round(leak[BASE] + rules.leakage_tolerance, 6)
        applied["leakage"] = f"leakage_identity_similarity <= base {leak[BASE]:.3f} + {rules.leakage_tolerance} = {limit:.3f}"
        for c in checkpoints:
            if c in leak and leak[c] > limit:
                eliminated[c].append(f"leakage: face without the trigger {leak[c]:.3f} > {limit:.3f} (base {leak[BASE]:.3f})")
    else:
        applied["leakage"] = ("not applied: no leakage measured for the base model (no no-trigger videos, "
                              "or no face in them)")
    if motion:
        applied["motion"] = f"motion_ratio >= {rules.min_motion_ratio}"
        for c in checkpoints:
            if c in motion and motion[c] < rules.min_motion_ratio:
                eliminated[c].append(f"motion: stiffer than base, motion ratio {motion[c]:.2f} < {rules.min_motion_ratio}")
    else:
        applied["motion"] = "not applied: no motion ratio measured (no base videos, or static base videos)"
    if BASE in clip:
        floor = thresholds["clip_min"] = round(clip[BASE] - rules.clip_tolerance, 6)
        applied["clip"] = f"clip_score >= base {clip[BASE]:.2f} - {rules.clip_tolerance} = {floor:.2f}"
        for c in checkpoints:
            if c in clip and clip[c] < floor:
                eliminated[c].append(f"prompt adherence: clip_score {clip[c]:.2f} < {floor:.2f}")
    else:
        applied["clip"] = "not applied: clip_score not measured (no CLIP weights, or no base videos)"
    applied["copy"] = "no video flagged as a copy of a training frame (eval_metrics.overfit.is_copy)"
    for c, videos in copies.items():
        if c in checkpoints:
            eliminated[c].append(f"copy: {len(videos)} video(s) copy a training frame ({', '.join(videos[:3])})")
    voices = _means(summary, "voice_similarity")
    if not rules.audio_trained:
        applied["voice"] = "not applied: the LoRA was not trained on sound (no audio loss weight)"
    elif not voices:
        applied["voice"] = "not applied: no voice_similarity measured (no reference voices, or no speech in the samples)"
    else:
        applied["voice"] = f"voice_similarity >= {SAME_PERSON} (the speaker backend's same-speaker line)"
        for c in checkpoints:
            if c in voices and voices[c] < SAME_PERSON:
                eliminated[c].append(f"voice: {voices[c]:.3f} < {SAME_PERSON}, the voice is not the character's")
    applied["identity"] = f"identity_similarity >= {SAME_PERSON} (dlib's same-person line)"
    for c in checkpoints:
        if c not in ident:
            eliminated[c].append("identity: no face found in any of its videos, so no identity score")
        elif ident[c]["mean"] < SAME_PERSON:
            eliminated[c].append(f"identity: {ident[c]['mean']:.3f} < {SAME_PERSON}, its faces are not the character's "
                                 f"by dlib's same-person line")
    thresholds["identity_min"] = SAME_PERSON

    survivors = [c for c in checkpoints if c not in eliminated]
    face_rates = _means(summary, "face_found_rate")
    out: dict[str, Any] = {"metric": "identity_similarity", "rules": applied, "thresholds": thresholds, "eliminated": dict(eliminated),
                           "candidates": checkpoints, "face_found_rate": face_rates}
    if not survivors:
        if not any(c in ident for c in checkpoints):
            reason = ("no face was found in any video generated with a LoRA checkpoint (face-found rate 0), so no "
                      "identity score exists and no checkpoint can be picked.")
            if tiny_model:
                reason += (" The embedded tiny model has random weights and cannot draw faces; with real weights this "
                           "picks the checkpoint whose faces match the references best.")
        elif not checkpoints:
            reason = "no LoRA checkpoint was evaluated."
        else:
            reason = _no_pick_reason(checkpoints, ident, eliminated)
        scored = [c for c in checkpoints if c in ident]
        if scored:
            closest = max(scored, key=lambda c: (ident[c]["mean"], -steps[c], -label_strength(c)))
            out["closest"] = {"checkpoint": split_label(closest)[0], "strength": label_strength(closest),
                              "label": closest, "step": steps[closest], "value": ident[closest]["mean"],
                              "lacks": eliminated[closest]}
        return {"checkpoint": None, "step": None, "strength": None, "label": None, "value": None, "reason": reason, **out}
    top = max(survivors, key=lambda c: (ident[c]["mean"], -steps[c], -label_strength(c)))
    tied = [c for c in survivors if order(c) < order(top) and ident[c]["ci_high"] >= ident[top]["mean"]]
    best = min(tied, key=order) if tied else top
    s = ident[best]
    several = len({label_strength(c) for c in checkpoints}) > 1
    at = f" at strength {label_strength(best):g}" if several else ""
    if best == top:
        reason = (f"highest mean identity similarity {s['mean']:.3f} (95% CI {s['ci_low']:.3f}..{s['ci_high']:.3f}, "
                  f"n={s['n']} videos with a face){',' + at + ',' if at else ''} among the {len(survivors)} "
                  f"{'checkpoint × strength pair(s)' if several else 'checkpoint(s)'} that pass every rule")
    else:
        t = ident[top]
        what = "earlier step or lower strength" if several else "earlier step"
        reason = (f"mean identity similarity {s['mean']:.3f} (95% CI {s['ci_low']:.3f}..{s['ci_high']:.3f}, n={s['n']}){at}: "
                  f"a tie with the highest, {top} at {t['mean']:.3f}, whose mean lies inside this interval, so the "
                  f"{what} is preferred (less LoRA for a difference the videos cannot show)")
    if BASE in ident:
        reason += f"; base model without LoRA: {ident[BASE]['mean']:.3f}"
    return {"checkpoint": split_label(best)[0], "step": steps[best], "strength": label_strength(best), "label": best,
            "value": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "reason": reason, **out}


def best_label(best: dict[str, Any]) -> str | None:
    """The summary / samples label of a pick (``checkpoint@strength``; older files: the checkpoint)."""
    return best.get("label") or best.get("checkpoint")


def main_strength(summary: list[dict[str, Any]]) -> float | None:
    """The strength per-step figures and diagnosis read when no pick says otherwise: 1.0 when it
    was evaluated, else the highest."""
    found = {label_strength(s["checkpoint"]) for s in summary if s["checkpoint"] != BASE and not is_stacked(s["checkpoint"])}
    return None if not found else 1.0 if 1.0 in found else max(found)


def at_strength(summary: list[dict[str, Any]], rows: list[dict[str, Any]], best: dict[str, Any],
                strength: float | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Summary, rows and pick restricted to the base model and one LoRA strength, without stacked
    LoRAs (a per-step view); a pick at another strength is dropped from that view (``checkpoint`` None)."""
    keep = {0.0, strength}

    def kept(label: str) -> bool:
        return label_strength(label) in keep and not is_stacked(label)

    summary = [s for s in summary if kept(s["checkpoint"])]
    rows = [r for r in rows if kept(r["checkpoint"])]
    if best.get("checkpoint") and float(best.get("strength", 1.0)) != strength:
        best = {**best, "checkpoint": None, "label": None}
    return summary, rows, best
