"""Evaluate stage: fixed prompts x fixed seeds through every checkpoint and the base model, each
video scored for identity, drift, bleed, leakage, motion, copying, prompt diversity and adherence.

Where the videos come from (:mod:`ltxbench.evaluate.sources`):

* generated here (:mod:`ltxbench.evaluate.generate`): the base model is loaded once, every LoRA
  checkpoint is checked first (a corrupt one or one made for another base version is skipped and
  reported in ``eval/skipped.json``), then swapped in and out; an existing video is reused only when
  its record (samples/<checkpoint>/<video>.json) names the same LoRA file content, base, prompt, seed
  and settings;
* or, with ``evaluate.videos_from``, a folder made elsewhere (ComfyUI, another machine): nothing is
  generated and no model is loaded. :func:`score_folder` does the same without a run.

Writes (``runs/README.md`` documents every file and metric):

* ``samples/<checkpoint>/<prompt_id>_s<seed>.mp4`` and ``<prompt_id>-notrigger_s<seed>.mp4``;
* ``eval/sampler.json``, ``eval/skipped.json``, ``eval/notes.json`` (what was not measured, and why);
* ``eval/metrics.csv`` (tidy), ``eval/bleed.csv`` (several characters), ``eval/summary.csv``
  (95% bootstrap intervals over prompts x seeds), ``eval/best_checkpoint.json`` (rule in
  :mod:`ltxbench.evaluate.select`), ``eval/diagnosis.json`` (findings with evidence and fixes,
  :mod:`ltxbench.evaluate.diagnosis`); with ``evaluate.with_loras``, ``eval/stack.csv`` (each
  checkpoint with and without the stacked LoRAs, paired by prompt and seed, :mod:`ltxbench.evaluate.stack`);
  for IC-LoRA checkpoints, ``samples/reference/`` and ``eval/reference.{csv,json,png}`` (the same
  prompts and seeds given the reference, :mod:`ltxbench.evaluate.with_reference`);
  with ``evaluate.bases``, ``samples/bases/<name>/``, ``eval/bases.csv``, ``eval/bases.json`` and
  ``eval/bases.png`` (every checkpoint on other base models, :mod:`ltxbench.evaluate.bases`);
* figures ``eval/identity_curve.png``, ``eval/grid_<checkpoint>.png``, ``eval/bleed.png``,
  ``eval/leakage_motion.png``, ``eval/identity_by_angle.png`` (:mod:`ltxbench.evaluate.plots`).

No score is ever invented: a video without a detected face has a face-found rate and nothing else
about faces. The embedded tiny model has random weights and draws no faces, and says so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.dataset.manifest import load_manifest, manifest_if_any
from ltxbench.evaluate import plots as eval_plots
from ltxbench.evaluate.generate import (
    check_stg_blocks,
    neutral_text,
    planned_videos,
    prompt_cases,
    sample_prompt_id,
    sampler_settings,
    screen_checkpoints,
)
from ltxbench.evaluate.score import PromptInfo, Scorer, prompts_from_videos, score_videos
from ltxbench.evaluate.select import Rules, best_label, pick_best, summarize
from ltxbench.evaluate.sources import SampleVideo, VideoFolderError, folder_videos
from ltxbench.evaluate.tables import BLEED_FIELDS, METRIC_FIELDS, SUMMARY_FIELDS, write_csv
from ltxbench.lora import files as lora
from ltxbench.params import schema as P
from ltxbench.run import atomic, folder
from ltxbench.run.folder import Run
from ltxbench.run.layout import BEST_CHECKPOINT, EVAL, name_in

log = logging.getLogger("ltxbench")

__all__ = ["EvaluateResult", "NoUsableCheckpointError", "VideoFolderError", "evaluate", "pick_best",
           "sample_prompt_id", "score_folder", "summarize"]



class NoUsableCheckpointError(RuntimeError):
    """Every checkpoint was refused by the LoRA check: nothing can be evaluated."""


@dataclass
class EvaluateResult:
    eval_dir: Path
    best: dict[str, Any]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Path] = field(default_factory=dict)
    diagnosis: dict[str, Any] = field(default_factory=dict)
    """eval/diagnosis.json: findings with evidence and fixes (:mod:`ltxbench.evaluate.diagnosis`)."""
    reference: dict[str, Any] = field(default_factory=dict)
    """eval/reference.json for IC-LoRA checkpoints: identity with and without the reference
    (:mod:`ltxbench.evaluate.with_reference`); {} without."""
    bases: dict[str, Any] = field(default_factory=dict)
    """eval/bases.json with ``evaluate.bases``: the LoRA on each base, one sentence per base
    (:mod:`ltxbench.evaluate.bases`); {} without."""

    @property
    def metrics_path(self) -> Path:
        return self.eval_dir / "metrics.csv"

    @property
    def summary_path(self) -> Path:
        return self.eval_dir / "summary.csv"

    @property
    def figure_path(self) -> Path:
        return self.eval_dir / "identity_curve.png"

    @property
    def best_grid_path(self) -> Path | None:
        """The best checkpoint's comparison grid (the last checkpoint's when there is no best)."""
        grids = sorted(self.eval_dir.glob("grid_*.png"), key=lambda p: (len(p.stem), p.stem))
        if self.best.get("checkpoint"):
            return self.figures.get(f"grid_{best_label(self.best)}")
        return grids[-1] if grids else None

    def figure(self, name: str) -> Path | None:
        """A figure by name (``identity_curve``, ``leakage_motion``, ``bleed``, ``grid_<checkpoint>``); None
        when the data did not allow it (e.g. ``bleed`` with one character)."""
        return self.figures.get(name)

    def table(self) -> Any:
        """The summary as a DataFrame, one row per checkpoint, a ``mean [low, high]`` column per metric."""
        import pandas as pd

        summary = pd.read_csv(self.summary_path)
        if summary.empty:
            return summary
        summary["value"] = summary.apply(lambda r: f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]", axis=1)
        wide = summary.pivot_table(index=["step", "checkpoint"], columns="metric", values="value", aggfunc="first")
        return wide.reset_index().sort_values(["step", "checkpoint"])

    def __repr__(self) -> str:
        lines = [f"EvaluateResult({self.eval_dir})", f"  best: {self.best.get('checkpoint')}: {self.best.get('reason')}"]
        lines += [f"  skipped {s['checkpoint']} ({s['verdict']}): {'; '.join(s['reasons'])}" for s in self.skipped]
        if self.best.get("stack"):
            lines.append(f"  stacked LoRAs: {self.best['stack'].get('reason')}")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  finding ({f['code']}): {f['title']}" for f in self.diagnosis.get("findings", [])]
        lines += [f"  on base {v}" for v in self.bases.get("verdicts", {}).values()]
        if self.reference:
            lines.append(f"  IC-LoRA: {self.reference.get('reason')}")
        return "\n".join(lines)

    def report(self) -> Any:
        """The diagnosis as readable Markdown (notebook cell)."""
        from IPython.display import Markdown

        from ltxbench.evaluate.diagnosis import as_markdown

        return Markdown(as_markdown(self.diagnosis))


# ---------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------


def load_result(eval_dir: Path) -> EvaluateResult:
    """The outputs of a finished evaluate stage, read from ``eval/`` (nothing is generated or scored)."""
    best_path = eval_dir / name_in(EVAL, BEST_CHECKPOINT)
    if not best_path.is_file():
        raise FileNotFoundError(f"{best_path} not found: run the evaluate stage first")

    def read(name: str, default: Any) -> Any:
        path = eval_dir / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default

    figures = {p.stem: p for p in sorted(eval_dir.glob("*.png"))}
    return EvaluateResult(eval_dir, read(name_in(EVAL, BEST_CHECKPOINT), {}), read("skipped.json", []), read("notes.json", []),
                          figures, read("diagnosis.json", {}), read("reference.json", {}), read("bases.json", {}))


def evaluate(run: Run, reuse: bool = False) -> EvaluateResult:
    """Generate (or read ``evaluate.videos_from``) and score; see the module docstring.

    ``reuse=True`` (what the notebook does) returns the stage's outputs as they are when run.json
    records it completed with these parameters, so the dashboard on a finished run opens in seconds
    instead of after a re-score; the pipeline's own execution of the stage always runs it."""
    from ltxbench import faces

    if reuse and folder.stage_is_current(run, "evaluate") and run.path(BEST_CHECKPOINT).is_file():
        log.info("evaluate: completed with these parameters (run.json): showing its outputs; "
                 "evaluate.evaluate(run) runs it again")
        return load_result(run.path("eval"))

    cfg = run.params.evaluate
    characters = run.params.dataset.characters
    notes: list[str] = []
    analyzer = faces.FaceAnalyzer()
    refs = reference_sets(run, analyzer, notes)
    skipped: list[dict[str, Any]] = []
    others: list[Any] = []  # evaluate.bases, as generated
    with_ref: list[SampleVideo] = []  # IC-LoRAs given their reference
    if cfg.videos_from is not None:
        videos = folder_videos(cfg.videos_from)
        texts = {pr.id: neutral_text(pr.text, cfg.neutral_subject) or pr.text for pr in cfg.prompts}
        prompts = prompts_from_videos(videos, [c.name for c in characters], texts)
        notes.append(f"videos read from {cfg.videos_from} (evaluate.videos_from); nothing was generated")
    else:
        videos, prompts, skipped, others, with_ref = _generate(run, notes)
    atomic.atomic_write_json(run.path("eval", "skipped.json"), skipped)
    # References and training clips keep the default detection (photos and clips of any size);
    # the generated videos use evaluate.face_upsample (None: per video size, see eval_score).
    scorer = Scorer(None if cfg.face_upsample is None else faces.FaceAnalyzer(upsample=cfg.face_upsample), refs, prompts, cfg.face_frames,
                    _training_frames(run, analyzer, notes), _clip_scorer(cfg, notes), workers=cfg.workers,
                    arc=_arc_scorer(cfg, characters, analyzer, notes),
                    voice=voice_scorer(run.params.curate, {c.name: list(c.voices) for c in characters}, notes),
                    yaw_limits=(run.params.curate.yaw_front_max_deg, run.params.curate.yaw_profile_min_deg))
    result = _score_and_write(run.path("eval"), videos, scorer, Rules.from_params(cfg, trains_audio(run.params.train)), notes,
                              skipped, tiny_model=run.params.model.source == "tiny" and cfg.videos_from is None,
                              coverage_gaps=_coverage_gaps(run),
                              stack=[{"path": str(w.path), "strength": w.strength} for w in cfg.with_loras])
    if others:
        _compare_bases(run, result, videos, skipped, others, scorer)
    if with_ref:
        from ltxbench.evaluate.bases import read_metric_rows
        from ltxbench.evaluate.with_reference import given_among_training, write_reference

        # the photo given as the reference is each character's first: the first row of its reference set
        given = {name: embeddings[:1] for name, embeddings in refs.items()}
        result.reference = write_reference(result.eval_dir, read_metric_rows(result.metrics_path),
                                           score_videos(with_ref, replace(scorer, given_reference=given)).rows,
                                           result.best, given_among_training(given, scorer.training))
        result.figures["reference"] = result.eval_dir / "reference.png"
    return result


def _compare_bases(run: Run, result: EvaluateResult, videos: list[SampleVideo], skipped: list[dict[str, Any]],
                   others: list[Any], scorer: Scorer) -> None:
    """Score the other bases' videos with the same scorer and put every base side by side."""
    from ltxbench.evaluate.bases import BaseRun, read_metric_rows, write_bases

    own = BaseRun(P.OWN_BASE, run.params.model, videos, skipped, rows=read_metric_rows(result.metrics_path))
    for other in others:
        other.rows = score_videos(other.videos, scorer).rows if other.videos else []
    result.bases = write_bases(result.eval_dir, own, others, result.best)
    result.figures["bases"] = result.eval_dir / "bases.png"


def _coverage_gaps(run: Run) -> dict[str, list[str]]:
    """Per character the curate stage's coverage gaps (dataset/coverage.json), for the diagnosis; {} without one."""
    path = run.path("dataset", "coverage.json")
    if not path.is_file():
        return {}
    characters = json.loads(path.read_text(encoding="utf-8")).get("characters", {})
    return {name: list(c.get("gaps", [])) for name, c in characters.items()}


def _generate(run: Run, notes: list[str]) -> tuple[list[SampleVideo], dict[str, PromptInfo], list[dict[str, Any]], list[Any],
                                                    list[SampleVideo]]:
    from ltxbench.evaluate.generate import generate_missing, screen_stack, stacked_loras
    from ltxbench.model import devices, loading
    from ltxbench.model.architecture import from_module

    cfg, model = run.params.evaluate, run.params.model
    checkpoints = lora.list_checkpoints(run.path("checkpoints"))
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoints in {run.path('checkpoints')}: run the train stage first, or set "
                                "evaluate.videos_from to score videos made elsewhere")
    sampler = {**sampler_settings(cfg, model), "seeds": list(cfg.seeds), "prompts": [p.model_dump() for p in cfg.prompts],
               "neutral_subject": cfg.neutral_subject, "leakage": cfg.leakage, "model": [model.version, model.source]
               + ([str(model.checkpoint)] if model.checkpoint is not None else [])
               + ([f"text_encoder={model.text_encoder}"] if model.text_encoder is not None else [])}
    previous = run.path("eval", "sampler.json")
    # Reusing videos made with other settings, prompt texts or another model would mix two experiments.
    stale = previous.is_file() and _made_differently(json.loads(previous.read_text(encoding="utf-8")), sampler)
    if stale:
        log.warning("evaluate: sampler settings, prompts or model differ from those of the existing samples/ "
                    "(eval/sampler.json): every video is generated again")
    atomic.atomic_write_json(previous, sampler)
    pipe = loading.load_pipeline(model.version, model.source, model.dtype, str(devices.resolve_device(model.device)),
                             checkpoint=model.checkpoint, text_encoder=model.text_encoder)  # once
    check_stg_blocks(pipe, cfg)
    architecture = from_module(pipe)
    screen_stack(stacked_loras(cfg), model.version, architecture)  # a refused stack is an error, before any video
    usable, skipped = screen_checkpoints(checkpoints, model.version, architecture)
    if not usable:
        atomic.atomic_write_json(run.path("eval", "skipped.json"), skipped)
        lines = "\n".join(f"  - {s['checkpoint']} ({s['verdict']}): {'; '.join(s['reasons'])}" for s in skipped)
        raise NoUsableCheckpointError(f"all {len(skipped)} checkpoint(s) in {run.path('checkpoints')} were refused by the "
                                      f"LoRA check for LTX-{model.version}, nothing to evaluate:\n{lines}\n"
                                      f"Run `ltxbench check-lora FILE --base {model.version}` for the full reports.")
    cases = prompt_cases(cfg, run.params.dataset.characters)
    plan = planned_videos(run, usable, cases)
    generate_missing(run, pipe, plan, regenerate=stale)
    from ltxbench.evaluate.with_reference import reference_plan, reference_videos

    reference = reference_plan(run, usable, cases, notes)
    with_ref = reference_videos(run, plan, reference) if reference is not None else []
    if with_ref:  # IC-LoRAs: the same trigger videos again, given the reference
        generate_missing(run, pipe, with_ref, regenerate=stale, reference=reference)
    del pipe
    others = []
    if cfg.bases:  # one base in memory at a time
        from ltxbench.evaluate.bases import generate_on_bases

        others = generate_on_bases(run, usable, cases, regenerate=stale)
    prompts = {c.prompt_id: PromptInfo(c.character, c.neutral_id, c.neutral_text or c.text) for c in cases}
    return [p[0] for p in plan], prompts, skipped, others, [p[0] for p in with_ref]


def _made_differently(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether existing videos were made differently: any setting, the model, or the text of a prompt
    id both runs share differ (new prompt ids or seeds alone are just more videos)."""
    texts = {p["id"]: p["text"] for p in old.get("prompts", [])}
    changed_text = any(texts.get(p["id"], p["text"]) != p["text"] for p in new["prompts"])
    keys = set(new) - {"prompts", "seeds", "leakage"}
    return changed_text or any(old.get(k) != new[k] for k in keys)


def score_folder(root: str | Path, references: dict[str, list[str | Path]] | list[str | Path], out_dir: str | Path,
                 *, prompts: dict[str, str] | None = None, steps: dict[str, int] | None = None, face_frames: int = 16,
                 rules: Rules = Rules(), clip: Any = None, training: Any = None, face_upsample: int | None = None,
                 workers: int = 0, voices: dict[str, list[str | Path]] | list[str | Path] | None = None) -> EvaluateResult:
    """Score a folder of videos made elsewhere, without a run (no model is loaded).

    ``root/<checkpoint>/<prompt_id>_s<seed>.mp4`` (and ``-notrigger`` leakage videos; ``base`` is the
    model without LoRA); ``references``: photos of one character, or ``{character: photos}``
    (several: prompt ids start with ``<character>-``); ``prompts``: prompt id -> text CLIP compares
    with (needs ``clip``, an ``eval_metrics.adherence.ClipScorer``); ``steps``: training step per
    folder name where the name has none; ``training``: an ``eval_metrics.overfit.TrainingFrames``
    for the copy check (none: not measured); ``face_upsample`` and ``workers`` as
    ``evaluate.face_upsample`` / ``evaluate.workers``; ``voices``: reference voices (audio files or
    videos of the character speaking), a list for one character or ``{character: files}``, for the
    voice metrics (Resemblyzer). Writes the ``eval/`` files into ``out_dir``.
    """
    from ltxbench import faces

    analyzer = faces.FaceAnalyzer()
    by_character = references if isinstance(references, dict) else {"character": list(references)}
    refs = {name: faces.reference_embeddings(paths, analyzer=analyzer) for name, paths in by_character.items()}
    videos = folder_videos(root, steps)
    notes = [f"videos read from {root}; nothing was generated"]
    if clip is None:
        notes.append("clip_score not measured: no CLIP scorer given")
    if training is None:
        notes.append("train_copy_similarity not measured: no training frames given")
    infos = prompts_from_videos(videos, list(refs), prompts)
    by_voice = voices if isinstance(voices, dict) else ({next(iter(refs)): list(voices)} if voices else {})
    scorer = Scorer(None if face_upsample is None else faces.FaceAnalyzer(upsample=face_upsample), refs, infos, face_frames,
                    training, clip, workers=workers, voice=voice_scorer(P.CurateSection(), by_voice, notes))
    return _score_and_write(Path(out_dir), videos, scorer, rules, notes, [])


def _score_and_write(eval_dir: Path, videos: list[SampleVideo], scorer: Scorer, rules: Rules, notes: list[str],
                     skipped: list[dict[str, Any]], tiny_model: bool = False,
                     coverage_gaps: dict[str, list[str]] | None = None,
                     stack: list[dict[str, Any]] | None = None) -> EvaluateResult:
    from ltxbench.evaluate.diagnosis import diagnose
    from ltxbench.evaluate.select import at_strength, copy_flags, main_strength
    from ltxbench.evaluate.stack import STACK_FIELDS, stack_table, stack_verdict

    scores = score_videos(videos, scorer)
    _voice_notes(scores.rows, scorer, notes)
    write_csv(eval_dir / "metrics.csv", METRIC_FIELDS, scores.rows)
    if scores.bleed:
        write_csv(eval_dir / "bleed.csv", BLEED_FIELDS, scores.bleed)
    summary = summarize(scores.rows)
    write_csv(eval_dir / "summary.csv", SUMMARY_FIELDS, summary)
    best = pick_best(summary, scores.rows, rules, tiny_model=tiny_model)
    best["skipped"] = [s["checkpoint"] for s in skipped]
    table = stack_table(scores.rows) if any(v.stacked for v in videos) else None
    if table is not None:
        write_csv(eval_dir / "stack.csv", STACK_FIELDS, table)
        best["stack"] = stack_verdict(table, best, stack or [])
    atomic.atomic_write_json(eval_dir / name_in(EVAL, BEST_CHECKPOINT), best)
    # the diagnosis reads the curve over steps at the pick's strength (or the main one)
    strength = best.get("strength") or main_strength(summary)
    diagnosis = diagnose(at_strength(summary, scores.rows, best, strength)[0], best, copy_flags(scores.rows),
                         coverage_gaps).as_dict()
    atomic.atomic_write_json(eval_dir / "diagnosis.json", diagnosis)
    for note in notes:
        log.info("evaluate: %s", note)
    atomic.atomic_write_json(eval_dir / "notes.json", notes)
    figures = eval_plots.write_figures(eval_dir, videos, scores, summary, best, stack=table)
    return EvaluateResult(eval_dir, best, skipped, notes, figures, diagnosis)


# ---------------------------------------------------------------------------------------
# Inputs of scoring
# ---------------------------------------------------------------------------------------


def reference_sets(run: Run, analyzer: Any, notes: list[str]) -> dict[str, np.ndarray]:
    """Per character: embeddings of the reference photos, plus the faces of ``evaluate.reference_clips``
    (clips held out of training). A listed clip that is missing, accepted (train uses it) or holds
    no readable face is an error naming the clip and the fix."""
    from ltxbench import faces

    cfg = run.params.evaluate
    refs = {ch.name: faces.reference_embeddings(ch.references, analyzer=analyzer) for ch in run.params.dataset.characters}
    if not cfg.reference_clips:
        return refs
    by_id = {r["id"]: r for r in load_manifest(run, needed_by="evaluate.reference_clips")}
    problems, extra = [], {name: [] for name in refs}
    for cid in cfg.reference_clips:
        rec = by_id.get(cid)
        if rec is None:
            problems.append(f"{cid}: no such clip in dataset/manifest.jsonl")
        elif rec.get("status") == "accepted":
            problems.append(f"{cid}: accepted, so train uses it; hold it out first (override it to rejected in the "
                            "curation grid), or remove it from evaluate.reference_clips")
        elif rec.get("character") not in refs:
            problems.append(f"{cid}: character {rec.get('character')!r} is not evaluated")
        else:
            found = _clip_faces(run, rec, analyzer, cfg.reference_clip_frames)
            if found is None:
                problems.append(f"{cid}: no clip file and no photo to read its frames from")
            elif not found:
                problems.append(f"{cid}: no face found in its {cfg.reference_clip_frames} sampled frames")
            else:
                extra[rec["character"]].extend(found)
    if problems:
        raise ValueError("evaluate.reference_clips cannot be used:\n" + "\n".join(f"  - {p}" for p in problems))
    for name, embs in extra.items():
        if embs:
            refs[name] = np.concatenate([refs[name], np.stack(embs).astype(np.float32)])
            notes.append(f"{name}: {len(embs)} face(s) from held-out clips added to the reference photos")
    return refs


def _clip_faces(run: Run, rec: dict[str, Any], analyzer: Any, n: int) -> list[np.ndarray] | None:
    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    if rec.get("media"):
        path = run.path("dataset", rec["media"])
        frames = video.read_frames(path, media_frames.sample_indices(video.probe(path).num_frames, n))
    elif rec.get("source_kind") == "image":
        frames = video.read_image(rec["source"])[None]
    else:
        return None
    found = [analyzer.largest(f) for f in frames]
    return [f.embedding for f in found if f is not None]


def _training_frames(run: Run, analyzer: Any, notes: list[str]) -> Any:
    """Faces of the accepted training clips for the copy check; None (with a note) without a manifest."""
    from ltxbench.evaluate.metrics.overfit import TrainingFrames

    records = manifest_if_any(run.dir)
    if records is None:
        notes.append("train_copy_similarity not measured: the run has no dataset/manifest.jsonl")
        return None
    frames = TrainingFrames.from_manifest(records, run.path("dataset"), analyzer, run.params.evaluate.reference_clip_frames,
                                          cache_path=run.path("eval", "training_faces.npz"))
    if not len(frames):
        notes.append("train_copy_similarity not measured: no face found in the accepted training clips")
        return None
    for clip_id, why in frames.skipped:
        notes.append(f"training clip {clip_id} left out of the copy check: {why}")
    return frames


def _arc_scorer(cfg: P.EvaluateSection, characters: list[P.CharacterSection], analyzer: Any,
                notes: list[str]) -> tuple[Any, dict[str, np.ndarray]] | None:
    """``(ArcFaceEmbedder, ArcFace reference embeddings per character)`` when the user supplied
    ArcFace weights (``evaluate.arcface_model``): adds ``facesim_arc``, comparable to the
    published FaceSim-Arc protocol (see docs/evaluation.md). None otherwise."""
    if cfg.arcface_model is None:
        notes.append("facesim_arc not measured: evaluate.arcface_model is not set (ArcFace weights are not shipped)")
        return None
    from ltxbench import faces
    from ltxbench.evaluate.metrics.identity import arc_reference_embeddings

    embedder = faces.ArcFaceEmbedder(cfg.arcface_model)
    refs = {ch.name: arc_reference_embeddings(ch.references, embedder, analyzer) for ch in characters}
    return embedder, refs


def trains_audio(train: P.TrainSection) -> bool:
    """Whether the LoRA learnt sound: an audio loss weight above 0 in the recipe or one of its stages."""
    if train.stages:
        return any(st.audio_loss_weight > 0 for st in train.stages)
    return train.audio_loss_weight > 0


def voice_scorer(curate_cfg: P.CurateSection, voices: dict[str, list[Any]], notes: list[str]) -> Any:
    """``(VoiceEncoder, {character: reference voice embeddings})`` for the characters that have
    reference voices (``dataset.characters[].voices``, the curate stage's speaker backend), or None
    with a note."""
    wanted = {name: paths for name, paths in voices.items() if paths}
    if not wanted:
        notes.append("voice_similarity not measured: no character has reference voices (dataset.characters[].voices)")
        return None
    from ltxbench import voice

    encoder = voice.VoiceEncoder.load(*voice.settings(curate_cfg))
    return encoder, {name: voice.reference_voices(paths, encoder) for name, paths in wanted.items()}


def _voice_notes(rows: list[dict[str, Any]], scorer: Scorer, notes: list[str]) -> None:
    """Say why the voice was not measured when it was not (no sound, no speech)."""
    measured = {r["metric"] for r in rows}
    if "speech_found_rate" not in measured:
        notes.append("voice not measured: no generated video has a sound track")
    elif scorer.voice is not None and "voice_similarity" not in measured:
        notes.append("voice_similarity not measured: no generated video has 1 s of speech (silero-vad); the sound "
                     "is there but nobody speaks")


def _clip_scorer(cfg: P.EvaluateSection, notes: list[str]) -> Any:
    """The CLIP scorer, or None with one warning saying what to download (the rest still runs)."""
    if not cfg.clip_score:
        notes.append("clip_score not measured: evaluate.clip_score is off")
        return None
    from ltxbench.evaluate.metrics.adherence import ClipScorer, ClipWeightsMissingError

    try:
        return ClipScorer.load(cfg.clip_model, cfg.clip_pretrained)
    except ClipWeightsMissingError as exc:
        log.warning("evaluate: clip_score (prompt adherence) not measured: %s", exc)
        notes.append(f"clip_score not measured: {exc}")
        return None
