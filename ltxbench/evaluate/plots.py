"""Figures of the evaluate stage (static PNGs under ``eval/``, pyplot-free, written atomically).

* ``identity_curve.png``: identity similarity per training step (mean, 95% bootstrap band, one
  thin line per prompt), the base model dashed, the best checkpoint starred; face-found rate beside it;
* ``grid_<checkpoint>.png``: one row per prompt x seed, frames of the base model's video on the
  left and the checkpoint's on the right (same prompt, same seed);
* ``bleed.png`` (several characters): mean similarity of each prompted character's faces to
  every character's references; the diagonal should dominate;
* ``leakage_motion.png``: face without the trigger, and motion relative to base, per step;
* ``voice_bleed.png`` (several characters with reference voices): the same matrix for the voices;
* ``voice_curve.png`` (when a sample has sound): voice similarity to the reference voices per step
  (mean, 95% band, base dashed, 0.5 = same speaker), leakage of the voice without the trigger, and
  the share of the sound that is speech;
* ``stack_curve.png`` (``evaluate.with_loras``): identity, leakage, motion and CLIP adherence per
  step alone and with the stacked LoRAs, and the stack's cost for the pick;
* ``identity_by_angle.png``: where identity breaks: identity per head angle (front, three-quarter,
  profile) per step, and a prompt x checkpoint table of identity (mean over seeds).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.evaluate.select import best_label
from ltxbench.evaluate.sources import BASE, SampleVideo, is_stacked, label_strength, split_label, unstacked
from ltxbench.util import figures

log = logging.getLogger("ltxbench")
GRID_FRAMES = 3
GRID_ROW_HEIGHT = 128
BEST_STYLE = dict(marker="*", markersize=16, color="tab:orange", linestyle="none", label="best checkpoint")


def write_figures(eval_dir: Path, videos: list[SampleVideo], scores: Any, summary: list[dict[str, Any]],
                  best: dict[str, Any], stack: list[dict[str, Any]] | None = None) -> dict[str, Path]:
    """Every figure the data allows; returns ``{name: path}``. Stale grids of checkpoints no longer
    evaluated are removed, so the folder never shows an old grid as current."""
    from ltxbench.evaluate.select import at_strength, main_strength

    best_any = best
    strength_path = eval_dir / "strength_curve.png"
    alone = [s for s in summary if not is_stacked(s["checkpoint"])]  # the stacked videos have their own figure
    if len({label_strength(s["checkpoint"]) for s in alone if s["checkpoint"] != BASE}) > 1:
        plot_strength(alone, best, strength_path)
    elif strength_path.is_file():
        strength_path.unlink()  # an old curve must not pass for this evaluation's
    # the per-step figures show one strength (1.0 when evaluated): several would overlap at each step
    summary, rows, best = at_strength(summary, scores.rows, best, main_strength(summary))
    out = {"identity_curve": plot_identity_curve(summary, rows, best, eval_dir / "identity_curve.png"),
           "leakage_motion": plot_leakage_motion(summary, best, eval_dir / "leakage_motion.png"),
           "identity_by_angle": plot_identity_by_angle(summary, rows, eval_dir / "identity_by_angle.png")}
    if strength_path.is_file():
        out["strength_curve"] = strength_path
    stack_path = eval_dir / "stack_curve.png"
    if stack is not None and best_any.get("stack"):  # stack: eval_stack.stack_table, as in eval/stack.csv
        out["stack_curve"] = plot_stack(stack, best_any, stack_path)
    elif stack_path.is_file():
        stack_path.unlink()  # an old comparison must not pass for this evaluation's
    if scores.bleed_rows:
        out["bleed"] = plot_bleed(scores.bleed_rows, eval_dir / "bleed.png")
    if getattr(scores, "voice_bleed_rows", None):
        out["voice_bleed"] = plot_bleed(scores.voice_bleed_rows, eval_dir / "voice_bleed.png",
                                        what="voice", column="similarity to this character's reference voices")
    elif (eval_dir / "voice_bleed.png").is_file():
        (eval_dir / "voice_bleed.png").unlink()  # an old matrix must not pass for this evaluation's
    voice_path = eval_dir / "voice_curve.png"
    if any(s["metric"] in ("voice_similarity", "speech_found_rate") for s in summary):
        out["voice_curve"] = plot_voice_curve(summary, best, voice_path)
    elif voice_path.is_file():
        voice_path.unlink()  # an old curve must not pass for this evaluation's
    wanted = set()
    for ckpt in sorted({v.checkpoint for v in videos if v.checkpoint != BASE}):
        path = plot_grid(videos, ckpt, eval_dir / f"grid_{ckpt}.png", best_checkpoint=best_label(best_any))
        if path is not None:
            out[f"grid_{ckpt}"] = path
            wanted.add(path.name)
    for stale in eval_dir.glob("grid_*.png"):
        if stale.name not in wanted:
            stale.unlink()
    return out


def plot_strength(summary: list[dict[str, Any]], best: dict[str, Any], out: Path) -> Path:
    """Identity, leakage and motion against the LoRA strength for the picked (or closest)
    checkpoint and the last one; the base model at strength 0."""
    from ltxbench.evaluate.select import SAME_PERSON
    def lora_of(label: str) -> str:
        return split_label(label)[0]

    loras = sorted({lora_of(s["checkpoint"]) for s in summary if s["checkpoint"] != BASE},
                   key=lambda c: next(s["step"] for s in summary if lora_of(s["checkpoint"]) == c))
    picked = best.get("checkpoint") or (best.get("closest") or {}).get("checkpoint")
    shown = list(dict.fromkeys([c for c in (picked, loras[-1] if loras else None) if c]))
    fig, axes = figures.new_figure(3, (15, 4.2))
    limits = best.get("thresholds", {})
    panels = (("identity_similarity", "Identity with the trigger\n(0.5 = dlib's same-person line)", SAME_PERSON),
              ("leakage_identity_similarity", "Leakage: identity WITHOUT the trigger\n(lower is better)", limits.get("leakage_max")),
              ("motion_ratio", "Motion kept: LoRA / base\n(below the red line: stiffer than base)", limits.get("min_motion_ratio")))
    for ax, (metric, title, line) in zip(axes, panels):
        base = next((s for s in summary if s["checkpoint"] == BASE and s["metric"] == metric), None)
        for i, lora in enumerate(shown):
            pts = sorted((s for s in summary if s["metric"] == metric and s["checkpoint"] != BASE
                          and lora_of(s["checkpoint"]) == lora), key=lambda s: label_strength(s["checkpoint"]))
            if not pts:
                continue
            xs = [label_strength(s["checkpoint"]) for s in pts]
            colour = ("tab:blue", "tab:gray")[min(i, 1)]
            ax.plot(xs, [s["mean"] for s in pts], marker="o", color=colour, label=lora)
            ax.fill_between(xs, [s["ci_low"] for s in pts], [s["ci_high"] for s in pts], color=colour, alpha=0.15)
        if base is not None and metric != "motion_ratio":
            ax.plot([0.0], [base["mean"]], marker="s", color="black", linestyle="none", label="base model (strength 0)")
        if best.get("checkpoint") and best.get("label"):
            at = next((s for s in summary if s["checkpoint"] == best["label"] and s["metric"] == metric), None)
            if at is not None:
                ax.plot([float(best["strength"])], [at["mean"]], **{**BEST_STYLE, "label": "best (checkpoint, strength)"})
        if line is not None:
            ax.axhline(line, color="tab:red", linestyle=":", label="rule")
        if not ax.get_lines():
            _no_data(ax, f"{metric} not measured")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("LoRA strength")
        if metric != "motion_ratio":
            ax.set_ylim(0, 1)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=7)
    return figures.save_figure(fig, out)


def plot_stack(table: list[dict[str, Any]], best: dict[str, Any], out: Path) -> Path:
    """Each compared metric per step, alone and with the stacked LoRAs (paired means from
    :func:`ltxbench.evaluate.stack.stack_table`), at the pick's strength (else the highest evaluated);
    the base model at step 0 with and without the stack; the stack's cost in the title."""
    from ltxbench.evaluate.select import SAME_PERSON

    verdict = best.get("stack") or {}
    label = verdict.get("label")
    strengths = {r["strength"] for r in table if r["checkpoint"] != BASE}
    strength = split_label(label)[1] if label and label != BASE else (1.0 if 1.0 in strengths or not strengths else max(strengths))
    limits = best.get("thresholds", {})
    panels = (("identity_similarity", "Identity with the trigger", SAME_PERSON),
              ("leakage_identity_similarity", "Leakage: identity WITHOUT the trigger", limits.get("leakage_max")),
              ("motion_ratio", "Motion kept: LoRA / base", limits.get("min_motion_ratio")),
              ("clip_score", "Prompt adherence (CLIP)", limits.get("clip_min")))
    fig, axes = figures.new_figure(4, (19, 4.4))
    for ax, (metric, title, line) in zip(axes, panels):
        pts = sorted((r for r in table if r["metric"] == metric and (r["checkpoint"] == BASE or r["strength"] == strength)),
                     key=lambda r: r["step"])
        if pts:
            steps = [r["step"] for r in pts]
            ax.plot(steps, [r["alone"] for r in pts], marker="o", color="tab:blue", label="LoRA alone")
            ax.plot(steps, [r["stacked"] for r in pts], marker="D", color="tab:purple", label="with the stack")
            if label:
                at = next((r for r in pts if r["checkpoint"] == label), None)
                if at is not None:
                    ax.plot([at["step"]], [at["stacked"]], **{**BEST_STYLE, "label": f"compared: {label}"})
        if line is not None and pts:
            ax.axhline(line, color="tab:red", linestyle=":", label="rule")
        if not pts:
            _no_data(ax, f"{metric} not measured with and without the stack")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step (0 = base model)")
        last_step = max((r["step"] for r in table), default=0)
        if last_step > 0:  # the same step axis on every panel, from the base model on
            ax.set_xlim(-0.05 * last_step, 1.05 * last_step)
        if metric in ("identity_similarity", "leakage_identity_similarity"):
            ax.set_ylim(0, 1)
        elif metric == "motion_ratio" and pts:
            ax.set_ylim(0, max(1.5, 1.1 * max(max(r["alone"], r["stacked"]) for r in pts)))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=7)
    files = ", ".join(f"{Path(w['path']).name} at {w['strength']:g}" for w in verdict.get("loras", [])) or "the stack"
    cost = verdict.get("change")
    what = "identity change not known" if cost is None else f"identity change {cost:+.3f} for {label}"
    fig.suptitle(f"Stacked beside the LoRA (strength {strength:g}): {files}; {what}", fontsize=11)
    return figures.save_figure(fig, out)


def _series(summary: list[dict[str, Any]], metric: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    pts = sorted((s for s in summary if s["metric"] == metric and s["checkpoint"] != BASE), key=lambda s: s["step"])
    base = next((s for s in summary if s["metric"] == metric and s["checkpoint"] == BASE), None)
    return pts, base


def _no_data(ax: Any, text: str, width: int = 48) -> None:
    """A message in the middle of an empty panel, broken into lines that stay inside the axes."""
    import textwrap

    lines = [textwrap.fill(part, width) for part in text.split("\n")]
    ax.text(0.5, 0.5, "\n".join(lines), ha="center", va="center", transform=ax.transAxes, color="tab:red", fontsize=8)


def plot_identity_curve(summary: list[dict[str, Any]], rows: list[dict[str, Any]], best: dict[str, Any], out: Path) -> Path:
    fig, (ax1, ax2) = figures.new_figure(2, (12, 4.2))
    pts, base = _series(summary, "identity_similarity")
    per_prompt: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["metric"] == "identity_similarity" and r["checkpoint"] != BASE:
            per_prompt[r["prompt_id"]][int(r["step"])].append(float(r["value"]))
    for i, (pid, by_step) in enumerate(sorted(per_prompt.items())):
        steps = sorted(by_step)
        ax1.plot(steps, [np.mean(by_step[s]) for s in steps], linewidth=0.8, alpha=0.5,
                 label="per prompt (mean over seeds)" if i == 0 else None, color="tab:gray")
    if pts:
        steps = [s["step"] for s in pts]
        ax1.plot(steps, [s["mean"] for s in pts], marker="o", color="tab:blue", label="mean over prompts x seeds")
        ax1.fill_between(steps, [s["ci_low"] for s in pts], [s["ci_high"] for s in pts], color="tab:blue", alpha=0.15,
                         label="95% bootstrap interval")
    if base is not None:
        ax1.axhline(base["mean"], color="black", linestyle="--", label=f"base model (no LoRA) {base['mean']:.3f}")
    out_pts = [s for s in pts if s["checkpoint"] in best.get("eliminated", {})]
    if out_pts:
        ax1.plot([s["step"] for s in out_pts], [s["mean"] for s in out_pts], marker="x", markersize=10, color="tab:red",
                 linestyle="none", label="eliminated by a rule (best_checkpoint.json)")
    if best.get("checkpoint"):
        ax1.plot([best["step"]], [best["value"]], **BEST_STYLE)
    if not pts and base is None:
        _no_data(ax1, "no face found in any video:\nno identity score")
    ax1.set_ylim(0, 1)
    ax1.set_title("Identity similarity to the references\n(1 = identical, 0.5 = dlib's same-person threshold)", fontsize=10)
    ax1.set_xlabel("training step")
    ax1.set_ylabel("identity similarity")
    fr_pts, fr_base = _series(summary, "face_found_rate")
    if fr_pts:
        ax2.plot([s["step"] for s in fr_pts], [s["mean"] for s in fr_pts], marker="o", color="tab:green", label="LoRA checkpoints")
        ax2.fill_between([s["step"] for s in fr_pts], [s["ci_low"] for s in fr_pts], [s["ci_high"] for s in fr_pts],
                         color="tab:green", alpha=0.15)
    if fr_base is not None:
        ax2.axhline(fr_base["mean"], color="black", linestyle="--", label="base model")
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_title("Face-found rate\n(share of sampled frames with a face)", fontsize=10)
    ax2.set_xlabel("training step")
    for ax in (ax1, ax2):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=7)
    return figures.save_figure(fig, out)


def _strip(path: Path, n: int) -> np.ndarray:
    """``n`` evenly spaced frames of a video side by side, scaled to the grid's row height."""
    import cv2

    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    frames = video.read_frames(path, media_frames.sample_indices(video.probe(path).num_frames, n))
    scale = GRID_ROW_HEIGHT / frames.shape[1]
    size = (max(1, round(frames.shape[2] * scale)), GRID_ROW_HEIGHT)
    tiles = [cv2.resize(f, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR) for f in frames]
    while len(tiles) < n:  # a shorter video: white tiles, never repeated frames
        tiles.append(np.full_like(tiles[0], 255))
    return np.concatenate(tiles, axis=1)


def grid_rows(videos: list[SampleVideo], checkpoint: str) -> list[tuple[str, SampleVideo | None, SampleVideo]]:
    """``(label, base video or None, checkpoint video)`` per prompt x seed of ``checkpoint`` (trigger
    videos); for a stacked label (``+stack``) the left video is the same checkpoint without the stack."""
    left = grid_baseline(checkpoint)
    base = {(v.prompt_id, v.seed): v for v in videos if v.checkpoint == left and v.trigger}
    mine = sorted((v for v in videos if v.checkpoint == checkpoint and v.trigger), key=lambda v: (v.prompt_id, v.seed))
    return [(f"{v.prompt_id} s{v.seed}", base.get((v.prompt_id, v.seed)), v) for v in mine]


def grid_baseline(checkpoint: str) -> str:
    """What a checkpoint's grid compares it with: the base model, or for ``X+stack``, ``X`` alone."""
    return unstacked(checkpoint) if is_stacked(checkpoint) else BASE


def grid_image(videos: list[SampleVideo], checkpoint: str, n: int = GRID_FRAMES) -> tuple[np.ndarray, list[str]] | None:
    """The grid as one uint8 image (rows: prompt x seed; left half base, right half checkpoint) and its row labels."""
    rows = grid_rows(videos, checkpoint)
    if not rows:
        return None
    strips, labels = [], []
    for label, base, mine in rows:
        right = _strip(mine.path, n)
        left = _strip(base.path, n) if base is not None else np.full_like(right, 235)
        if left.shape != right.shape:  # base made at another size: pad to the wider strip
            width = max(left.shape[1], right.shape[1])
            left, right = (np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in (left, right))
        gap = np.full((GRID_ROW_HEIGHT, 8, 3), 255, np.uint8)
        strips.append(np.concatenate([left, gap, right], axis=1))
        labels.append(label)
    width = max(s.shape[1] for s in strips)
    strips = [np.pad(s, ((0, 4), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    return np.concatenate(strips, axis=0), labels


def plot_grid(videos: list[SampleVideo], checkpoint: str, out: Path, best_checkpoint: str | None = None) -> Path | None:
    made = grid_image(videos, checkpoint)
    if made is None:
        return None
    image, labels = made
    h, w = image.shape[:2]
    fig, ax = figures.new_figure(1, (min(16, 2 + w / 90), 1.2 + h / 90))
    ax.imshow(image)
    # sizes for the figure as a notebook shows it (scaled to ~900 px wide): 8 pt labels read as 6 px there
    ax.set_yticks([(GRID_ROW_HEIGHT + 4) * (i + 0.5) for i in range(len(labels))], labels, fontsize=12)
    left = grid_baseline(checkpoint)
    left_name = "base model (no LoRA)" if left == BASE else f"{left} alone"
    ax.set_xticks([w * 0.25, w * 0.75], [f"{left_name}: {GRID_FRAMES} frames", f"{checkpoint}: {GRID_FRAMES} frames"],
                  fontsize=13)
    ax.tick_params(length=0)
    star = "  ★ best checkpoint" if checkpoint == best_checkpoint else ""
    ax.set_title(f"{checkpoint} vs {'base' if left == BASE else left}, same prompt and seed per row{star}", fontsize=14)
    return figures.save_figure(fig, out)


def plot_bleed(bleed_rows: list[dict[str, Any]], out: Path, what: str = "face",
               column: str = "similarity to this character's references") -> Path:
    from ltxbench.evaluate.metrics.bleed import bleed_matrix

    names, matrix = bleed_matrix(bleed_rows)
    fig, ax = figures.new_figure(1, (2.5 + 1.1 * len(names), 2 + 0.9 * len(names)))
    im = ax.imshow(np.nan_to_num(matrix, nan=0.0), vmin=0, vmax=1, cmap="viridis")
    for i in range(len(names)):
        for j in range(len(names)):
            text = "—" if np.isnan(matrix[i, j]) else f"{matrix[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", color="white" if not np.isnan(matrix[i, j]) and matrix[i, j] < 0.6 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel(column)
    ax.set_ylabel("prompted character")
    ax.set_title(f"Bleed between characters' {what}s (LoRA checkpoints)\ndiagonal should dominate; — = no {'face' if what == 'face' else 'speech'}",
                 fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return figures.save_figure(fig, out)


def plot_leakage_motion(summary: list[dict[str, Any]], best: dict[str, Any], out: Path) -> Path:
    fig, (ax1, ax2) = figures.new_figure(2, (12, 4))
    rules = best.get("rules", {})
    for ax, metric, title, ylabel in (
            (ax1, "leakage_identity_similarity", "Leakage: identity WITHOUT the trigger\n(lower is better; base dashed)",
             "identity similarity, no trigger"),
            (ax2, "motion_ratio", "Motion kept: checkpoint / base, same prompt and seed\n(1 = same motion, below = stiffer)",
             "motion ratio")):
        pts, base = _series(summary, metric)
        if pts:
            steps = [s["step"] for s in pts]
            ax.plot(steps, [s["mean"] for s in pts], marker="o", color="tab:purple", label="LoRA checkpoints")
            ax.fill_between(steps, [s["ci_low"] for s in pts], [s["ci_high"] for s in pts], color="tab:purple", alpha=0.15,
                            label="95% bootstrap interval")
            if best.get("checkpoint"):
                at = next((s for s in pts if s["checkpoint"] == best_label(best)), None)
                if at is not None:
                    ax.plot([at["step"]], [at["mean"]], **BEST_STYLE)
        if base is not None:
            ax.axhline(base["mean"], color="black", linestyle="--", label="base model")
        if not pts and base is None:
            _no_data(ax, "not measured:\n" + rules.get("leakage" if ax is ax1 else "motion", "").removeprefix("not applied: "))
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
    limits = best.get("thresholds", {})
    if limits.get("leakage_max") is not None:
        ax1.axhline(limits["leakage_max"], color="tab:red", linestyle=":", label="maximum (rule)")
    if _series(summary, "motion_ratio")[0]:
        ax2.axhline(1.0, color="gray", linestyle="--", linewidth=0.8, label="same motion as base")
    if limits.get("min_motion_ratio") is not None:
        ax2.axhline(limits["min_motion_ratio"], color="tab:red", linestyle=":", label="minimum (rule)")
    ax1.set_ylim(0, 1)
    for ax in (ax1, ax2):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=7)
    return figures.save_figure(fig, out)


ANGLE_COLOURS = {"front": "tab:blue", "three_quarter": "tab:orange", "profile": "tab:red"}
ANGLE_NAMES = {"front": "front", "three_quarter": "three-quarter", "profile": "profile"}


def prompt_table(rows: list[dict[str, Any]], metric: str = "identity_similarity") -> tuple[list[str], list[tuple[str, int]], np.ndarray]:
    """``(prompt ids, [(checkpoint, step)] base first then by step, [P,C] mean over seeds, NaN where unmeasured)``."""
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    steps: dict[str, int] = {}
    for r in rows:
        if r["metric"] == metric:
            values[(r["prompt_id"], r["checkpoint"])].append(float(r["value"]))
            steps[r["checkpoint"]] = int(r["step"])
    prompts = sorted({pid for pid, _ in values})
    ckpts = sorted(steps.items(), key=lambda kv: (kv[0] != BASE, kv[1], kv[0]))
    table = np.full((len(prompts), len(ckpts)), np.nan)
    for i, pid in enumerate(prompts):
        for j, (ckpt, _) in enumerate(ckpts):
            if values.get((pid, ckpt)):
                table[i, j] = float(np.mean(values[(pid, ckpt)]))
    return prompts, ckpts, table


def plot_identity_by_angle(summary: list[dict[str, Any]], rows: list[dict[str, Any]], out: Path) -> Path:
    """Identity per head angle per step (left) and per prompt x checkpoint (right); see the module docstring."""
    from ltxbench.evaluate.select import SAME_PERSON

    prompts, ckpts, table = prompt_table(rows)
    fig, (ax1, ax2) = figures.new_figure(2, (13, max(4.2, 1.6 + 0.45 * len(prompts))))
    drawn = False
    for b, colour in ANGLE_COLOURS.items():
        pts, base = _series(summary, f"identity_similarity_{b}")
        if pts:
            steps = [s["step"] for s in pts]
            ax1.plot(steps, [s["mean"] for s in pts], marker="o", color=colour, label=f"{ANGLE_NAMES[b]} faces")
            ax1.fill_between(steps, [s["ci_low"] for s in pts], [s["ci_high"] for s in pts], color=colour, alpha=0.12)
            for s in pts:  # how many videos show this angle: a profile mean over one video is weak evidence
                ax1.annotate(f"n={s['n']}", (s["step"], s["mean"]), textcoords="offset points", xytext=(0, 6),
                             ha="center", fontsize=6, color=colour)
            drawn = True
        if base is not None:
            ax1.axhline(base["mean"], color=colour, linestyle="--", linewidth=0.9, label=f"base, {ANGLE_NAMES[b]} {base['mean']:.2f}")
            drawn = True
    ax1.axhline(SAME_PERSON, color="black", linestyle=":", linewidth=0.9, label="same-person threshold 0.5")
    if not drawn:
        _no_data(ax1, "no face with a measurable head angle:\nno identity per angle")
    ax1.set_ylim(0, 1)
    ax1.set_xlabel("training step")
    ax1.set_ylabel("identity similarity")
    ax1.set_title("Identity per head angle (n = videos showing that angle)\nfront passes, profile fails = the LoRA breaks on angles",
                  fontsize=10)
    ax1.legend(loc="best", fontsize=7)
    if prompts:
        import matplotlib

        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="lightgrey")  # unmeasured is grey, never "0"
        im = ax2.imshow(np.ma.masked_invalid(table), vmin=0, vmax=1, cmap=cmap, aspect="auto")
        for i in range(len(prompts)):
            for j in range(len(ckpts)):
                ax2.text(j, i, "—" if np.isnan(table[i, j]) else f"{table[i, j]:.2f}", ha="center", va="center", fontsize=7)
        ax2.set_xticks(range(len(ckpts)), [c if c == BASE else str(st) for c, st in ckpts], fontsize=7, rotation=45)
        ax2.set_yticks(range(len(prompts)), prompts, fontsize=7)
        ax2.set_xlabel("checkpoint (training step)")
        fig.colorbar(im, ax=ax2, fraction=0.046)
    else:
        _no_data(ax2, "no face found in any video:\nno identity per prompt")
    ax2.set_title("Identity per prompt (mean over seeds; — = no face)\nbelow 0.5 (red) = somebody else", fontsize=10)
    return figures.save_figure(fig, out)


def plot_voice_curve(summary: list[dict[str, Any]], best: dict[str, Any], out: Path) -> Path:
    """Voice similarity (and its leakage) per step beside the speech-found rate; see the module docstring."""
    from ltxbench.evaluate.select import SAME_PERSON

    fig, (ax1, ax2) = figures.new_figure(2, (12, 4))
    drawn = False
    for metric, colour, label in (("voice_similarity", "tab:blue", "with the trigger"),
                                  ("leakage_voice_similarity", "tab:purple", "without the trigger (leakage)")):
        pts, base = _series(summary, metric)
        if pts:
            steps = [s["step"] for s in pts]
            ax1.plot(steps, [s["mean"] for s in pts], marker="o", color=colour, label=label)
            ax1.fill_between(steps, [s["ci_low"] for s in pts], [s["ci_high"] for s in pts], color=colour, alpha=0.15)
            drawn = True
        if base is not None:
            ax1.axhline(base["mean"], color=colour, linestyle="--", linewidth=0.9, label=f"base, {label} {base['mean']:.2f}")
            drawn = True
    if best.get("checkpoint"):
        at = next((s for s in _series(summary, "voice_similarity")[0] if s["checkpoint"] == best_label(best)), None)
        if at is not None:
            ax1.plot([at["step"]], [at["mean"]], **BEST_STYLE)
    ax1.axhline(SAME_PERSON, color="black", linestyle=":", linewidth=0.9, label="same-speaker threshold 0.5")
    if not drawn:
        _no_data(ax1, "no voice score: no sample has 1 s of speech,\nor no character has reference voices")
    ax1.set_ylim(0, 1)
    ax1.set_title("Voice similarity to the reference voices\n(0.5 = the speaker model's same-speaker threshold)", fontsize=10)
    ax1.set_xlabel("training step")
    ax1.set_ylabel("voice similarity")
    ax1.legend(loc="best", fontsize=7)
    pts, base = _series(summary, "speech_found_rate")
    if pts:
        ax2.plot([s["step"] for s in pts], [s["mean"] for s in pts], marker="o", color="tab:green", label="LoRA checkpoints")
    if base is not None:
        ax2.axhline(base["mean"], color="black", linestyle="--", label="base model")
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_title("Speech found (share of the generated sound that is speech)", fontsize=10)
    ax2.set_xlabel("training step")
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(loc="best", fontsize=7)
    return figures.save_figure(fig, out)
