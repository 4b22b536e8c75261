"""IC-LoRAs evaluated with and without their reference (``train.reference``): the gain measured.

A checkpoint whose metadata says it is reference-conditioned (:func:`ltxbench.lora.files.reference_settings`)
is generated twice with the same prompts and seeds: as every checkpoint is (``samples/<checkpoint>/``,
no reference: the trigger alone), and through diffusers' ``LTX2InContextPipeline`` with the
character's first reference photo given as the reference (``samples/reference/<checkpoint>/``). The
base model is also given the same photo (``samples/reference/base/``): what the reference does
without the IC-LoRA. Leakage is measured without the reference only (with it the face is given).

The comparison is paired by prompt and seed (the reference is the only difference): per checkpoint
and metric the mean of (with − without) and its 95% bootstrap interval, in ``eval/reference.csv``;
``eval/reference.json`` says it in a sentence for the pick (else the last checkpoint) and
``eval/reference.png`` draws identity per step both ways. The pick itself is made without the
reference, on the same rules as every LoRA.

Caveat, written into the notes: the photo given as the reference is also one of the identity
references, so identity with it can be inflated by copying that photo. The copy check
(:func:`reference_copies`) measures it: every video given the photo gets
``reference_copy_similarity``, its faces' mean similarity to that photo's face, and one at or above
``COPY_SIMILARITY`` (0.85, dlib distance 0.18: the same photo re-encoded or re-cropped; two photos
of one person measure 0.34-0.44 in distance) is a copy of it, not a new picture of the person.
``eval/reference.json`` counts them, and its sentence says when the gain rests on copies. It also
gives identity measured without that photo: ``train_copy_similarity`` (each video's faces against
the nearest face of the accepted training clips) with and without the reference, an independent
check when the given photo is not itself among the training faces (:func:`given_among_training`
says whether it is; when it is, the sentence says the check is not independent). And it counts the
videos that repaint a training clip's picture (``train_scene_distance``, the scene-copy check of
:mod:`ltxbench.evaluate.metrics.overfit`): a face check can miss those on blurry renders, and then the
gain is the LoRA reproducing its training data (docs/ic_lora.md, "Measured").
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.evaluate.bases import change_verdict, paired_difference
from ltxbench.evaluate.metrics.overfit import COPY_SIMILARITY, SCENE_COPY_DISTANCE
from ltxbench.evaluate.select import main_strength, summarize
from ltxbench.evaluate.sources import BASE, SampleVideo, label_strength
from ltxbench.lora import files as lora
from ltxbench.run import atomic
from ltxbench.run.folder import Run
from ltxbench.util import figures

log = logging.getLogger("ltxbench")

REFERENCE_FIELDS = ("checkpoint", "step", "strength", "metric", "n", "without", "with_reference", "change",
                    "ci_low", "ci_high")
IDENTITY = "identity_similarity"
COPY = "reference_copy_similarity"
TRAINING = "train_copy_similarity"
SCENE = "train_scene_distance"


@dataclass(frozen=True)
class ReferencePlan:
    """What the reference videos are made with: one photo per character and the LoRAs' downscale factor."""

    images: dict[str, np.ndarray]
    image_sha256: dict[str, str]
    downscale_factor: int
    checkpoints: list[Path]
    character_of: dict[str, str]
    """prompt id -> the character whose photo its videos are given."""

    def pipeline(self, pipe: Any) -> Any:
        """The in-context pipeline over ``pipe``'s own modules (the adapters loaded on ``pipe`` apply)."""
        from ltxbench.evaluate.reference import in_context_pipeline

        return in_context_pipeline(pipe)

    def generate(self, pipe_ic: Any, text: str, seed: int, settings: dict[str, Any], prompt_id: str
                 ) -> tuple[np.ndarray, tuple[np.ndarray, int] | None]:
        """One video given ``prompt_id``'s character's photo (:func:`~ltxbench.evaluate.reference.generate_with_reference`)."""
        from ltxbench.evaluate.reference import generate_with_reference

        return generate_with_reference(pipe_ic, text, seed, settings, self.images[self.character_of[prompt_id]],
                                       self.downscale_factor)

    def record(self, prompt_id: str) -> dict[str, Any]:
        """The part of a video's record that names its reference (it is reused only when this matches)."""
        return {"image_sha256": self.image_sha256[self.character_of[prompt_id]], "downscale_factor": self.downscale_factor,
                "strength": 1.0}


def reference_plan(run: Run, checkpoints: list[Path], cases: list[Any], notes: list[str]) -> ReferencePlan | None:
    """The IC-LoRA checkpoints among ``checkpoints`` and their reference photos; None when none is one."""
    from ltxbench.media import video

    conditioned = {p: lora.reference_settings(p) for p in checkpoints}
    conditioned = {p: s for p, s in conditioned.items() if s is not None}
    if not conditioned:
        return None
    newest = max(conditioned, key=lora.checkpoint_step)
    factor = conditioned[newest].downscale_factor
    other = sorted(p.stem for p, s in conditioned.items() if s.downscale_factor != factor)
    if other:  # one run trains one factor; a mixed folder is named, not guessed
        notes.append(f"not evaluated with the reference: {', '.join(other)} (a reference downscale factor other than "
                     f"{newest.stem}'s {factor})")
    images, shas = {}, {}
    for ch in run.params.dataset.characters:
        photo = Path(ch.references[0])
        images[ch.name] = video.read_image(photo)
        shas[ch.name] = hashlib.sha256(photo.read_bytes()).hexdigest()
        notes.append(f"{ch.name}: IC-LoRA videos were given {photo.name} as the reference; it is also an identity "
                     "reference, so identity with the reference can be inflated by copying it (eval/reference.json "
                     "counts the copies and gives identity against the training faces too)")
    keep = [p for p in checkpoints if p in conditioned and conditioned[p].downscale_factor == factor]
    return ReferencePlan(images, shas, factor, keep, {c.prompt_id: c.character for c in cases})


def reference_videos(run: Run, plan: list[tuple[SampleVideo, str, Path | None]], ref: ReferencePlan
                     ) -> list[tuple[SampleVideo, str, Path | None]]:
    """The trigger videos of the base model and the IC-LoRA checkpoints again, under ``samples/reference/``."""
    root = run.path("samples", "reference")
    keep = {p.stem for p in ref.checkpoints}
    out = []
    for sample, text, path in plan:
        if not sample.trigger or sample.stacked or not (path is None or path.stem in keep):
            continue
        moved = SampleVideo(sample.checkpoint, sample.step, sample.prompt_id, sample.seed,
                            root / sample.checkpoint / sample.path.name, True)
        out.append((moved, text, path))
    return out


def reference_table(without: list[dict[str, Any]], with_ref: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per checkpoint (and the base) and metric: with the reference against without it, pair by pair."""
    steps = {r["checkpoint"]: int(r["step"]) for r in with_ref}
    means_without = {(s["checkpoint"], s["metric"]): s for s in summarize(without)}
    means_with = {(s["checkpoint"], s["metric"]): s for s in summarize(with_ref)}
    table = []
    for (label, metric), (change, lo, hi, n) in sorted(paired_difference(without, with_ref).items(),
                                                      key=lambda kv: (steps.get(kv[0][0], 0), kv[0])):
        mine = means_with[(label, metric)]
        alone = means_without.get((label, metric))
        table.append({"checkpoint": label, "step": steps.get(label, 0), "strength": label_strength(label), "metric": metric,
                      "n": n, "without": alone["mean"] if alone else None, "with_reference": mine["mean"],
                      "change": round(change, 6), "ci_low": round(lo, 6), "ci_high": round(hi, 6)})
    return table


def reference_copies(with_ref: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per checkpoint (and the base), of its videos given the reference: how many with a face copy
    the given photo (``reference_copy_similarity >= COPY_SIMILARITY``) and their mean similarity to
    it; how many repaint a training clip's picture (``train_scene_distance <= SCENE_COPY_DISTANCE``,
    :mod:`ltxbench.evaluate.metrics.overfit`), when measured."""
    faces_of: dict[str, list[float]] = {}
    scenes_of: dict[str, list[float]] = {}
    for r in with_ref:
        if r["metric"] == COPY:
            faces_of.setdefault(r["checkpoint"], []).append(float(r["value"]))
        elif r["metric"] == SCENE:
            scenes_of.setdefault(r["checkpoint"], []).append(float(r["value"]))
    out: dict[str, dict[str, Any]] = {}
    for label, values in faces_of.items():
        out[label] = {"videos": len(values), "copies": sum(v >= COPY_SIMILARITY for v in values),
                      "mean_similarity": round(float(np.mean(values)), 6), "threshold": COPY_SIMILARITY}
    for label, values in scenes_of.items():
        out.setdefault(label, {}).update({"scene_videos": len(values),
                                          "scene_copies": sum(v <= SCENE_COPY_DISTANCE for v in values),
                                          "scene_threshold": SCENE_COPY_DISTANCE})
    return out


def given_among_training(given: dict[str, np.ndarray], training: Any) -> bool | None:
    """Whether any character's given photo is (a copy of) one of the training faces: its nearest
    training face at or above ``COPY_SIMILARITY``. None when there are no training faces to compare."""
    from ltxbench.faces import distance_to_similarity

    if training is None or not len(training.embeddings) or not given:
        return None
    nearest = [float(np.linalg.norm(training.embeddings - e[0], axis=1).min()) for e in given.values()]
    return any(distance_to_similarity(d) >= COPY_SIMILARITY for d in nearest)


def _training_clause(row: dict[str, Any] | None, given_in_training: bool | None, scene_copies: int = 0) -> str:
    """The sentence's identity against the training faces, the check that does not use the given photo."""
    if row is None or row["without"] is None:
        return "; identity against the training faces not measured (no training face, or no face both ways)"
    figures = (f"{row['with_reference']:.3f} against {row['without']:.3f} (change {row['change']:+.3f}, 95% CI "
               f"{row['ci_low']:+.3f}..{row['ci_high']:+.3f})")
    if scene_copies:
        return (f"; against the nearest training face: {figures}, not a measure of new pictures of him: the videos "
                "that repaint a training clip are near its faces by construction")
    if given_in_training:
        return (f"; against the nearest training face: {figures}, not an independent check: the given photo is also "
                "among the training faces")
    known = "" if given_in_training is False else " (not known whether the given photo is among them)"
    return (f"; against the nearest training face, pictures other than the given photo{known}: {figures}: "
            f"{change_verdict(row['change'], row['ci_low'], row['ci_high'], 'the reference')}")


def reference_sentence(table: list[dict[str, Any]], best: dict[str, Any],
                       copies: dict[str, dict[str, Any]] | None = None,
                       given_in_training: bool | None = None) -> dict[str, Any]:
    """eval/reference.json: the label compared (the pick, else the newest checkpoint) and the gain in words."""
    ident = {r["checkpoint"]: r for r in table if r["metric"] == IDENTITY}
    trained = {r["checkpoint"]: r for r in table if r["metric"] == TRAINING}
    label = best.get("label") or best.get("checkpoint")
    if label not in ident:
        loras = [r for r in ident.values() if r["checkpoint"] != BASE]
        label = max(loras, key=lambda r: r["step"])["checkpoint"] if loras else None
    if label is None:
        return {"label": None, "change": None,
                "reason": "not known: no prompt and seed has a face both with and without the reference, so the "
                          "reference's gain in identity was not measured"}
    r = ident[label]
    verdict = change_verdict(r["change"], r["ci_low"], r["ci_high"], "the reference")
    reason = (f"{label} with the reference: identity {r['with_reference']:.3f} against {r['without']:.3f} with the trigger "
              f"alone (change {r['change']:+.3f}, 95% CI {r['ci_low']:+.3f}..{r['ci_high']:+.3f}, n={r['n']} prompt x seed "
              f"pairs): {verdict}")
    base = ident.get(BASE)
    if base is not None:
        reason += (f"; the base model given the same reference: {base['with_reference']:.3f} (the reference alone, "
                   "without the IC-LoRA)")
    copied = (copies or {}).get(label)
    if copied is None or "copies" not in copied:
        reason += "; not known whether the videos copy the given photo (no face compared with it)"
    elif copied["copies"]:
        reason += (f"; but {copied['copies']} of {copied['videos']} videos with the reference copy the given photo "
                   f"(similarity to it >= {COPY_SIMILARITY}), so the gain rests partly on copying that photo, which is "
                   "also the identity reference")
    else:
        reason += (f"; none of its {copied['videos']} videos with a face copies the given photo (mean similarity to it "
                   f"{copied['mean_similarity']:.3f}, a copy >= {COPY_SIMILARITY})")
    scene_copies = (copied or {}).get("scene_copies", 0)
    if copied and "scene_videos" in copied:
        if scene_copies:
            share = "the gain is" if scene_copies == copied["scene_videos"] else "that part of the gain is"
            reason += (f"; {scene_copies} of its {copied['scene_videos']} videos with the reference repaint a training "
                       f"clip's picture (thumbnail distance <= {SCENE_COPY_DISTANCE}): {share} the LoRA reproducing "
                       "its training data, not drawing the character anew; look at samples/reference/")
        else:
            reason += f"; none of its {copied['scene_videos']} videos with the reference repaints a training clip"
    t = trained.get(label)
    reason += _training_clause(t, given_in_training, scene_copies)
    return {"label": label, "identity_without": r["without"], "identity_with": r["with_reference"], "change": r["change"],
            "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"], "copies": copies or {},
            "training_similarity_without": t["without"] if t else None,
            "training_similarity_with": t["with_reference"] if t else None,
            "training_change": t["change"] if t else None, "training_ci_low": t["ci_low"] if t else None,
            "training_ci_high": t["ci_high"] if t else None, "given_in_training": given_in_training, "reason": reason}


def plot_reference(table: list[dict[str, Any]], out: Path) -> Path:
    """Identity per step with the trigger alone and with the reference (paired means), the base
    model given the reference dashed; the face-found rate beside it."""
    fig, axes = figures.new_figure(2, (12, 4.2))
    for ax, metric, title in ((axes[0], IDENTITY, "Identity with and without the reference\n(same prompts and seeds)"),
                              (axes[1], "face_found_rate", "Face-found rate with and without the reference")):
        rows = [r for r in table if r["metric"] == metric]
        strength = main_strength(rows) or 1.0
        pts = sorted((r for r in rows if r["checkpoint"] != BASE and label_strength(r["checkpoint"]) == strength),
                     key=lambda r: r["step"])
        if pts:
            steps = [r["step"] for r in pts]
            ax.plot(steps, [r["without"] for r in pts], marker="o", color="tab:blue", label="trigger alone")
            ax.plot(steps, [r["with_reference"] for r in pts], marker="D", color="tab:green", label="with the reference")
        base = next((r for r in rows if r["checkpoint"] == BASE), None)
        if base is not None:
            ax.axhline(base["with_reference"], color="tab:green", linestyle="--", linewidth=1,
                       label=f"base model with the reference {base['with_reference']:.3f}")
            if base["without"] is not None:
                ax.axhline(base["without"], color="black", linestyle="--", linewidth=1,
                           label=f"base model {base['without']:.3f}")
        if not pts and base is None:
            ax.text(0.5, 0.5, "no face found both ways:\nnot measured", ha="center", va="center", transform=ax.transAxes,
                    color="tab:red", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=7)
    return figures.save_figure(fig, out)


def write_reference(eval_dir: Path, without: list[dict[str, Any]], with_ref: list[dict[str, Any]],
                    best: dict[str, Any], given_in_training: bool | None = None) -> dict[str, Any]:
    """eval/reference/metrics.csv, eval/reference.csv, eval/reference.json and eval/reference.png."""
    from ltxbench.evaluate.tables import METRIC_FIELDS, write_csv

    write_csv(eval_dir / "reference" / "metrics.csv", METRIC_FIELDS, with_ref)
    table = reference_table(without, with_ref)
    write_csv(eval_dir / "reference.csv", REFERENCE_FIELDS, table)
    verdict = reference_sentence(table, best, reference_copies(with_ref), given_in_training)
    atomic.atomic_write_json(eval_dir / "reference.json", verdict)
    plot_reference(table, eval_dir / "reference.png")
    log.info("evaluate: IC-LoRA: %s", verdict["reason"])
    return verdict
