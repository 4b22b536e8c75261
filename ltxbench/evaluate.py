"""Evaluate stage: fixed prompts x fixed seeds through every checkpoint and the base model,
scored for identity by face-embedding similarity to the character's reference photos.

Writes:

* ``samples/<checkpoint>/<prompt_id>_s<seed>.mp4`` (``base`` for the model without LoRA; with several
  characters every prompt runs with each one's trigger and ``prompt_id`` is ``<character>-<prompt>``); a video
  that already exists is not generated again, so the stage resumes;
* ``eval/sampler.json``: every sampler setting used;
* ``eval/metrics.csv``: tidy rows ``checkpoint, step, prompt_id, seed, metric, value`` with the
  metrics ``face_found_rate`` (share of the sampled frames with a face), and, only for videos in
  which a face was found, ``identity_similarity`` and ``identity_distance`` (mean over the frames
  with a face; :mod:`ltxbench.faces` documents the scale);
* ``eval/summary.csv``: per checkpoint and metric ``n, mean, ci_low, ci_high`` (95% t-interval
  over prompt x seed videos);
* ``eval/best_checkpoint.json``: the checkpoint with the highest mean identity similarity and the
  reason, or ``null`` with the reason when no identity could be measured;
* ``eval/identity_curve.png``: identity similarity and face-found rate against training step,
  the base model drawn as a reference line.

No score is ever invented: a video without a detected face contributes a face-found rate of 0 and
no identity value. The embedded tiny model has random weights and draws no faces, so the demo
reports face-found rate 0 and no identity score, and says so.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import figures, lora, progress, runs
from . import params as P
from .runs import Run

log = logging.getLogger("ltxbench")

BASE = "base"
METRIC_FIELDS = ("checkpoint", "step", "prompt_id", "seed", "metric", "value")
SUMMARY_FIELDS = ("checkpoint", "step", "metric", "n", "mean", "ci_low", "ci_high")


@dataclass
class EvaluateResult:
    metrics_path: Path
    summary_path: Path
    best: dict[str, Any]
    figure_path: Path
    samples_dir: Path

    def table(self):
        import pandas as pd

        return pd.read_csv(self.summary_path)

    def __repr__(self) -> str:
        return f"EvaluateResult(best: {self.best.get('checkpoint')}; {self.best.get('reason')})"


def sampler_settings(cfg: P.EvaluateSection, model: P.ModelSection) -> dict[str, Any]:
    """The keyword arguments every generation uses (besides prompt and generator)."""
    return {
        "width": cfg.width, "height": cfg.height, "num_frames": cfg.num_frames, "frame_rate": cfg.frame_rate,
        "num_inference_steps": cfg.num_inference_steps, "guidance_scale": cfg.guidance_scale,
        "stg_scale": cfg.stg_scale, "spatio_temporal_guidance_blocks": list(cfg.stg_blocks) or None,
        "modality_scale": cfg.modality_scale, "guidance_rescale": cfg.guidance_rescale,
        "audio_guidance_scale": cfg.audio_guidance_scale, "audio_stg_scale": cfg.stg_scale,
        "audio_modality_scale": cfg.modality_scale, "audio_guidance_rescale": cfg.guidance_rescale,
        "negative_prompt": cfg.negative_prompt, "max_sequence_length": model.max_sequence_length,
    }


def prompt_text(template: str, trigger: str) -> str:
    return template.replace("{trigger}", trigger)


def sample_prompt_id(prompt_id: str, character: str, n_characters: int) -> str:
    """The prompt id in file names and metrics: ``<character>-<prompt>`` when several characters
    are evaluated (each prompt runs with each character's trigger, scored against its references)."""
    return prompt_id if n_characters == 1 else f"{character}-{prompt_id}"


def _check_stg_blocks(pipe: Any, cfg: P.EvaluateSection) -> None:
    layers = pipe.transformer.config.num_layers
    bad = [b for b in cfg.stg_blocks if b >= layers]
    if cfg.stg_scale > 0 and bad:
        raise ValueError(f"evaluate.stg_blocks = {list(cfg.stg_blocks)}: the transformer has {layers} blocks (0..{layers - 1}); "
                         f"choose blocks in range or set evaluate.stg_scale: 0")


def generate_video(pipe: Any, prompt: str, seed: int, settings: dict[str, Any]) -> np.ndarray:
    """One video as uint8 ``[F,H,W,3]``, from a CPU generator seeded with ``seed`` (device-independent)."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)
    out = pipe(prompt=prompt, generator=generator, output_type="np", return_dict=True, **settings)
    frames = np.asarray(out.frames[0])  # [F,H,W,3] floats in [0,1]
    return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def score_video(path: Path, analyzer: Any, refs: np.ndarray, face_frames: int) -> dict[str, Any]:
    """Face-found rate over ``face_frames`` evenly spaced frames and, where faces exist, identity."""
    from . import faces, video

    info = video.probe(path)
    picks = video.sample_indices(info.num_frames, face_frames)
    frames = video.read_frames(path, picks)
    distances = []
    for frame in frames:
        face = analyzer.largest(frame)
        if face is not None:
            distances.append(faces.identity_distance(face.embedding, refs))
    out: dict[str, Any] = {"face_found_rate": len(distances) / len(picks), "per_frame_distance": distances}
    if distances:
        out["identity_distance"] = float(np.mean(distances))
        out["identity_similarity"] = float(np.mean([faces.distance_to_similarity(d) for d in distances]))
    return out


def evaluate(run: Run) -> EvaluateResult:
    """Generate and score; see the module docstring."""
    from . import faces, ltx, video

    cfg = run.params.evaluate
    model = run.params.model
    checkpoints = lora.list_checkpoints(run.path("checkpoints"))
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoints in {run.path('checkpoints')}: run the train stage first")
    settings = sampler_settings(cfg, model)
    runs.atomic_write_json(run.path("eval", "sampler.json"), {**settings, "seeds": list(cfg.seeds),
                                                               "prompts": [p.model_dump() for p in cfg.prompts]})
    analyzer = faces.FaceAnalyzer()
    characters = run.params.dataset.characters
    refs = {ch.name: faces.reference_embeddings(ch.references, analyzer=analyzer) for ch in characters}

    device = ltx.resolve_device(model.device)
    pipe = ltx.load_pipeline(model.version, model.source, model.dtype, str(device))  # loaded once
    _check_stg_blocks(pipe, cfg)
    from .lora_check import require_compatible
    from .lora_check.architecture import from_module

    base = from_module(pipe)  # the loaded model's layers, read once for every checkpoint
    for path in checkpoints:  # before anything is generated: a LoRA for another base degrades silently
        require_compatible(path, model.version, base=base)
    targets = ([(BASE, 0, None)] if cfg.include_base else []) + [(p.stem, lora.checkpoint_step(p), p) for p in checkpoints]
    jobs = [(name, step, path, ch, pr, seed) for name, step, path in targets for ch in characters
            for pr in cfg.prompts for seed in cfg.seeds]
    rows: list[dict[str, Any]] = []
    loaded: str | None = None
    for name, step, path, ch, pr, seed in progress.bar(jobs, desc="evaluate", unit="video"):
        prompt_id = sample_prompt_id(pr.id, ch.name, len(characters))
        out = run.path("samples", name, f"{prompt_id}_s{seed}.mp4")
        if not out.is_file():
            loaded = _swap_lora(pipe, loaded, name, path)
            frames = generate_video(pipe, prompt_text(pr.text, ch.trigger), seed, settings)
            video.write_mp4(out, frames, fps=cfg.frame_rate)
        scores = score_video(out, analyzer, refs[ch.name], cfg.face_frames)
        for metric in ("face_found_rate", "identity_similarity", "identity_distance"):
            if metric in scores:
                rows.append({"checkpoint": name, "step": step, "prompt_id": prompt_id, "seed": seed,
                             "metric": metric, "value": round(scores[metric], 6)})
    _swap_lora(pipe, loaded, BASE, None)
    metrics_path = _write_csv(run.path("eval", "metrics.csv"), METRIC_FIELDS, rows)
    summary = summarize(rows)
    summary_path = _write_csv(run.path("eval", "summary.csv"), SUMMARY_FIELDS, summary)
    best = pick_best(summary, tiny_model=model.source == "tiny")
    runs.atomic_write_json(run.path("eval", "best_checkpoint.json"), best)
    figure = plot_identity_curve(summary, run.path("eval", "identity_curve.png"))
    return EvaluateResult(metrics_path, summary_path, best, figure, run.path("samples"))


def _swap_lora(pipe: Any, loaded: str | None, name: str, path: Path | None) -> str | None:
    """Keep at most one LoRA on the base model: unload the previous one, load the next."""
    if loaded == name:
        return loaded
    if loaded is not None and loaded != BASE:
        pipe.unload_lora_weights()
    if path is None:
        return BASE
    pipe.load_lora_weights(str(path), adapter_name=name)
    return name


def _t_quantile_975(df: int) -> float:
    # Two-sided 95% Student-t quantiles; the normal value beyond 30 degrees of freedom.
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
             12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}
    if df in table:
        return table[df]
    below = [k for k in table if k < df]
    return table[max(below)] if df <= 30 else 1.96


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and 95% t-interval per checkpoint and metric."""
    groups: dict[tuple[str, int, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r["checkpoint"], r["step"], r["metric"]), []).append(float(r["value"]))
    out = []
    for (ckpt, step, metric), values in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0] != BASE, kv[0][2])):
        arr = np.asarray(values)
        mean = float(arr.mean())
        if len(arr) > 1:
            half = _t_quantile_975(len(arr) - 1) * float(arr.std(ddof=1)) / math.sqrt(len(arr))
            lo, hi = mean - half, mean + half
        else:
            lo = hi = mean
        out.append({"checkpoint": ckpt, "step": step, "metric": metric, "n": len(arr),
                    "mean": round(mean, 6), "ci_low": round(lo, 6), "ci_high": round(hi, 6)})
    return out


def pick_best(summary: list[dict[str, Any]], tiny_model: bool = False) -> dict[str, Any]:
    """The LoRA checkpoint with the highest mean identity similarity, with the reason."""
    ident = [s for s in summary if s["metric"] == "identity_similarity" and s["checkpoint"] != BASE]
    base = next((s for s in summary if s["metric"] == "identity_similarity" and s["checkpoint"] == BASE), None)
    face_rates = {s["checkpoint"]: s["mean"] for s in summary if s["metric"] == "face_found_rate"}
    if not ident:
        reason = ("no face was found in any video generated with a LoRA checkpoint (face-found rate 0), so no identity "
                  "score exists and no checkpoint can be picked.")
        if tiny_model:
            reason += (" The embedded tiny model has random weights and cannot draw faces; with real weights this picks "
                       "the checkpoint whose faces match the references best.")
        return {"checkpoint": None, "step": None, "metric": "identity_similarity", "value": None,
                "face_found_rate": face_rates, "reason": reason}
    best = max(ident, key=lambda s: (s["mean"], -s["step"]))
    reason = (f"highest mean identity similarity {best['mean']:.3f} (95% CI {best['ci_low']:.3f}..{best['ci_high']:.3f}, "
              f"n={best['n']} videos with a face)")
    if base is not None:
        reason += f"; base model without LoRA: {base['mean']:.3f}"
    return {"checkpoint": best["checkpoint"], "step": best["step"], "metric": "identity_similarity",
            "value": best["mean"], "face_found_rate": face_rates, "reason": reason}


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return runs.atomic_write_text(path, buf.getvalue())


def plot_identity_curve(summary: list[dict[str, Any]], out: Path) -> Path:
    """Identity similarity and face-found rate per checkpoint step, base model as a dashed line."""
    fig, (ax1, ax2) = figures.new_figure(2, (11, 3.8))
    all_steps = sorted({s["step"] for s in summary if s["checkpoint"] != BASE})
    for ax, metric, title, ylim in ((ax1, "identity_similarity", "Identity similarity to the references\n(1 = identical, 0.5 = same-person threshold)", (0, 1)),
                                    (ax2, "face_found_rate", "Face-found rate\n(share of sampled frames with a face)", (-0.02, 1.02))):
        pts = [s for s in summary if s["metric"] == metric and s["checkpoint"] != BASE]
        base = next((s for s in summary if s["metric"] == metric and s["checkpoint"] == BASE), None)
        if pts:
            steps = [s["step"] for s in pts]
            means = [s["mean"] for s in pts]
            ax.plot(steps, means, marker="o", color="tab:blue", label="LoRA checkpoints")
            ax.fill_between(steps, [s["ci_low"] for s in pts], [s["ci_high"] for s in pts], color="tab:blue", alpha=0.15, label="95% CI")
            if metric == "identity_similarity":
                top = max(pts, key=lambda s: (s["mean"], -s["step"]))
                ax.plot([top["step"]], [top["mean"]], marker="*", markersize=15, color="tab:orange", linestyle="none", label="best checkpoint")
        if base is not None:
            ax.axhline(base["mean"], color="gray", linestyle="--", label="base model (no LoRA)")
        if not pts and base is None:
            ax.text(0.5, 0.5, "no faces found in any generated video:\nno identity score", ha="center", va="center",
                    transform=ax.transAxes, color="tab:red")
        ax.set_ylim(*ylim)
        if all_steps:
            pad = max(1, (all_steps[-1] - all_steps[0]) * 0.05)
            ax.set_xlim(all_steps[0] - pad, all_steps[-1] + pad)
        ax.set_xlabel("training step")
        ax.set_title(title)
        if pts or base is not None:
            ax.legend(loc="best", fontsize=8)
    ax1.set_ylabel("identity similarity")
    ax2.set_ylabel("share of frames with a face")
    return figures.save_figure(fig, out)
