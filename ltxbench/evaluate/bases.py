"""One LoRA on several base models (``evaluate.bases``): "does my 2.3 LoRA still work on 2.5?" measured.

Every checkpoint the run's own ``model`` evaluates is run again through each other base with the
same prompts, seeds and sampler, and each base also renders them without a LoRA. A LoRA made for
another version is generated anyway (the checker's verdict becomes a warning: measuring it is the
point); one that touches nothing in a base, does not fit its shapes or is corrupt is skipped for
that base before anything is generated, with the checker's reasons. Stacked LoRAs
(``evaluate.with_loras``) are not run on the other bases.

The comparison that answers the question is paired *within* each base: a checkpoint's identity
minus that base's own identity without the LoRA, on the same prompt and seed (a 2.5 base may draw
faces closer to the character on its own; only the LoRA's gain says what the LoRA does there).

Writes ``samples/bases/<name>/<checkpoint>/`` (videos and records as ``samples/``),
``eval/bases/<name>/metrics.csv`` (the columns of eval/metrics.csv), ``eval/bases.csv`` (every base
side by side, the run's own as ``model``), ``eval/bases.json`` (what was run where, skipped,
warned, and one sentence per base) and ``eval/bases.png``.
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltxbench.evaluate.select import SAME_PERSON, main_strength, summarize
from ltxbench.evaluate.sources import BASE, SampleVideo, is_stacked, label_strength
from ltxbench.params import schema as P
from ltxbench.run import atomic
from ltxbench.run.folder import Run
from ltxbench.util import figures

log = logging.getLogger("ltxbench")

BASES_FIELDS = ("base", "version", "checkpoint", "step", "strength", "metric", "n", "mean", "ci_low", "ci_high",
                "gain", "gain_n", "gain_ci_low", "gain_ci_high")
"""eval/bases.csv: per base, checkpoint and metric, the summary (as eval/summary.csv) and the gain over
that base without LoRA, paired by prompt and seed (empty for the base model's own rows)."""
IDENTITY = "identity_similarity"


@dataclass
class BaseRun:
    """What one base was asked to do and what it made."""

    name: str
    model: P.ModelSection
    videos: list[SampleVideo] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        m = self.model
        return {"name": self.name, "version": m.version, "source": m.source,
                "checkpoint": str(m.checkpoint) if m.checkpoint else None,
                "text_encoder": str(m.text_encoder) if m.text_encoder else None,
                "own": self.name == P.OWN_BASE, "videos": len(self.videos), "skipped": self.skipped,
                "warnings": self.warnings}


def base_model(run: Run, other: P.OtherBaseSection) -> P.ModelSection:
    """``other`` as a full model section: its weights, the run's dtype, device and text length."""
    return run.params.model.model_copy(update={k: getattr(other, k) for k in ("version", "source", "checkpoint", "text_encoder")})


def generate_on_bases(run: Run, checkpoints: list[Path], cases: list[Any], regenerate: bool) -> list[BaseRun]:
    """Load each ``evaluate.bases`` entry in turn, screen ``checkpoints`` against it (cross-version)
    and generate what is missing under ``samples/bases/<name>/``."""
    from ltxbench.evaluate.generate import check_stg_blocks, generate_missing, planned_videos, screen_checkpoints
    from ltxbench.model import devices, loading
    from ltxbench.model.architecture import from_module

    out = []
    for other in run.params.evaluate.bases:
        model = base_model(run, other)
        done = BaseRun(other.name, model)
        log.info("evaluate.bases: %s (LTX-%s, %s)", other.name, model.version, model.source)
        pipe = loading.load_pipeline(model.version, model.source, model.dtype, str(devices.resolve_device(model.device)),
                                     checkpoint=model.checkpoint, text_encoder=model.text_encoder)
        check_stg_blocks(pipe, run.params.evaluate)
        usable, done.skipped = screen_checkpoints(checkpoints, model.version, from_module(pipe), cross_version=True,
                                                  warnings_out=done.warnings)
        for s in done.skipped:  # said before anything is generated on this base
            log.warning("evaluate.bases: %s is not run on %s (%s): %s", s["checkpoint"], other.name, s["verdict"],
                        "; ".join(s["reasons"]))
        plan = [p for p in planned_videos(run, usable, cases, samples=run.path("samples", "bases", other.name))
                if not p[0].stacked]
        if not usable:  # no LoRA to compare: the base's own videos would answer nothing
            plan = []
        generate_missing(run, pipe, plan, regenerate=regenerate, model=model)
        done.videos = [p[0] for p in plan]
        del pipe
        out.append(done)
    return out


def _by_case(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[tuple[str, int], float]]:
    values: dict[tuple[str, str], dict[tuple[str, int], float]] = defaultdict(dict)
    for r in rows:
        values[(r["checkpoint"], r["metric"])][(r["prompt_id"], int(r["seed"]))] = float(r["value"])
    return values


def _paired(before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]) -> tuple[float, float, float, int] | None:
    """Mean of (after - before) over the prompts x seeds both have, its 95% bootstrap interval, n."""
    from ltxbench.evaluate.metrics.stats import bootstrap_ci

    pairs = sorted(set(before) & set(after))
    if not pairs:
        return None
    mean, lo, hi = bootstrap_ci([after[k] - before[k] for k in pairs])
    return mean, lo, hi, len(pairs)


def paired_gains(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[float, float, float, int]]:
    """Per (checkpoint, metric): the mean over prompts x seeds of (checkpoint - base model) on the
    same prompt and seed, its 95% bootstrap interval and the number of pairs."""
    values = _by_case(rows)
    out = {}
    for (label, metric), by_case in values.items():
        found = _paired(values.get((BASE, metric), {}), by_case) if label != BASE else None
        if found is not None:
            out[(label, metric)] = found
    return out


def paired_difference(before: list[dict[str, Any]], after: list[dict[str, Any]]
                      ) -> dict[tuple[str, str], tuple[float, float, float, int]]:
    """Per (checkpoint, metric) in both row sets: (after - before) paired by prompt and seed, as :func:`paired_gains`."""
    old, new = _by_case(before), _by_case(after)
    out = {}
    for key, by_case in new.items():
        found = _paired(old.get(key, {}), by_case)
        if found is not None:
            out[key] = found
    return out


def bases_table(runs: list[BaseRun]) -> list[dict[str, Any]]:
    """Every base's summary with the paired gain, the run's own ``model`` first (:data:`BASES_FIELDS`)."""
    table = []
    for b in runs:
        gains = paired_gains(b.rows)
        for s in summarize(b.rows):
            g = gains.get((s["checkpoint"], s["metric"]))
            table.append({"base": b.name, "version": b.model.version, **s,
                          "gain": round(g[0], 6) if g else None, "gain_n": g[3] if g else None,
                          "gain_ci_low": round(g[1], 6) if g else None, "gain_ci_high": round(g[2], 6) if g else None})
    return table


def _identity(table: list[dict[str, Any]], base: str, label: str) -> dict[str, Any] | None:
    return next((r for r in table if r["base"] == base and r["checkpoint"] == label and r["metric"] == IDENTITY), None)


def compared_label(table: list[dict[str, Any]], best: dict[str, Any]) -> str | None:
    """The checkpoint the sentences speak of: the pick, else the last checkpoint at the main strength."""
    if best.get("label") or best.get("checkpoint"):
        return best.get("label") or best.get("checkpoint")
    own = [r for r in table if r["base"] == P.OWN_BASE and r["checkpoint"] != BASE and not is_stacked(r["checkpoint"])]
    strength = main_strength(own)
    own = [r for r in own if label_strength(r["checkpoint"]) == strength]
    return max(own, key=lambda r: r["step"])["checkpoint"] if own else None


def change_verdict(change: float, low: float, high: float, what: str, where: str = "") -> str:
    """The words for a paired change in identity and its interval: none shown, raised or lowered."""
    if low <= 0 <= high:
        return "no gain the videos can show (the interval includes 0)"
    return f"{what} {'raises' if change > 0 else 'lowers'} identity{where}"


def base_sentence(table: list[dict[str, Any]], b: BaseRun, label: str | None) -> str:
    """What the LoRA does on base ``b``, with the numbers; "not known" where the videos cannot say."""
    where = f"{b.name} (LTX-{b.model.version}, {b.model.source})"
    if label is None:
        return f"{where}: not known: no checkpoint was evaluated"
    if any(s["checkpoint"] == label for s in b.skipped):
        why = next(s for s in b.skipped if s["checkpoint"] == label)
        return f"{where}: {label} was not run ({why['verdict']}): {'; '.join(why['reasons'])}"
    mine, alone = _identity(table, b.name, label), _identity(table, b.name, BASE)
    found = next((r for r in table if r["base"] == b.name and r["checkpoint"] == label and r["metric"] == "face_found_rate"), None)
    if mine is None or alone is None or mine["gain"] is None:
        seen = f" (face found in {found['mean']:.0%} of sampled frames)" if found else ""
        return (f"{where}: not known: no prompt and seed has a face both with {label} and without it{seen}, so what the "
                "LoRA does to identity on this base was not measured")
    gain = (f"{mine['gain']:+.3f} (95% CI {mine['gain_ci_low']:+.3f}..{mine['gain_ci_high']:+.3f}, n={mine['gain_n']} "
            "prompt x seed pairs)")
    verdict = change_verdict(mine["gain"], mine["gain_ci_low"], mine["gain_ci_high"], "the LoRA", " on this base")
    line = (f"{where}: {label} identity {mine['mean']:.3f} against {alone['mean']:.3f} without the LoRA, gain {gain}: {verdict}")
    if mine["mean"] < SAME_PERSON:
        line += f"; below dlib's same-person line {SAME_PERSON}, so it does not render the character there"
    if b.name != P.OWN_BASE:
        own = _identity(table, P.OWN_BASE, label)
        if own is not None and own["gain"] is not None and own["gain"] > 0:
            line += f"; on the run's own model the gain is {own['gain']:+.3f}, so {mine['gain'] / own['gain']:.0%} of it carries over"
    return line


def write_bases(eval_dir: Path, own: BaseRun, others: list[BaseRun], best: dict[str, Any]) -> dict[str, Any]:
    """eval/bases/<name>/metrics.csv, eval/bases.csv, eval/bases.json and eval/bases.png; returns bases.json."""
    from ltxbench.evaluate.tables import METRIC_FIELDS, write_csv

    for b in others:
        write_csv(eval_dir / "bases" / b.name / "metrics.csv", METRIC_FIELDS, b.rows)
    runs = [own, *others]
    table = bases_table(runs)
    write_csv(eval_dir / "bases.csv", BASES_FIELDS, table)
    label = compared_label(table, best)
    record = {"compared": label, "bases": [b.describe() for b in runs],
              "verdicts": {b.name: base_sentence(table, b, label) for b in runs}}
    atomic.atomic_write_json(eval_dir / "bases.json", record)
    plot_bases(table, [b.name for b in runs], label, eval_dir / "bases.png")
    for b in runs:
        log.info("evaluate.bases: %s", record["verdicts"][b.name])
    return record


def read_metric_rows(path: Path) -> list[dict[str, Any]]:
    """eval/metrics.csv back as rows (the run's own model's, for the side-by-side table)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [{**r, "step": int(r["step"]), "seed": int(r["seed"]), "value": float(r["value"]),
                 "strength": float(r["strength"]) if r.get("strength") not in (None, "") else 1.0}
                for r in csv.DictReader(fh)]


def plot_bases(table: list[dict[str, Any]], names: list[str], label: str | None, out: Path) -> Path:
    """Left: identity per step on each base, its no-LoRA level dashed in the same colour. Right: the
    gain over each base's own no-LoRA videos with its interval; the compared checkpoint marked."""
    fig, (ax1, ax2) = figures.new_figure(2, (12, 4.2))
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown"]
    rows = [r for r in table if r["metric"] == IDENTITY and not is_stacked(r["checkpoint"])]
    strength = main_strength([r for r in rows if r["base"] == P.OWN_BASE]) or 1.0
    drawn = False
    for name, colour in zip(names, colours):
        mine = sorted((r for r in rows if r["base"] == name and r["checkpoint"] != BASE
                       and label_strength(r["checkpoint"]) == strength), key=lambda r: r["step"])
        alone = next((r for r in rows if r["base"] == name and r["checkpoint"] == BASE), None)
        version = next((r["version"] for r in table if r["base"] == name), "?")
        tag = f"{name} (LTX-{version})"
        if not mine and alone is None:
            ax1.plot([], [], color=colour, label=f"{tag}: no face found, not measured")
            continue
        drawn = True
        if mine:
            steps = [r["step"] for r in mine]
            ax1.plot(steps, [r["mean"] for r in mine], marker="o", color=colour, label=f"{tag} with the LoRA")
            ax1.fill_between(steps, [r["ci_low"] for r in mine], [r["ci_high"] for r in mine], color=colour, alpha=0.12)
            paired = [r for r in mine if r["gain"] is not None]
            if paired:
                ps = [r["step"] for r in paired]
                ax2.plot(ps, [r["gain"] for r in paired], marker="o", color=colour, label=tag)
                ax2.fill_between(ps, [r["gain_ci_low"] for r in paired], [r["gain_ci_high"] for r in paired],
                                 color=colour, alpha=0.15)
                marked = [r for r in paired if r["checkpoint"] == label]
                if marked:
                    ax2.plot([marked[0]["step"]], [marked[0]["gain"]], marker="*", markersize=14, color=colour,
                             linestyle="none")
        if alone is not None:
            ax1.axhline(alone["mean"], color=colour, linestyle="--", linewidth=1,
                        label=f"{tag} without LoRA {alone['mean']:.3f}")
    if not drawn:
        ax1.text(0.5, 0.5, "no face found on any base:\nno identity score", ha="center", va="center",
                 transform=ax1.transAxes, color="tab:red", fontsize=8)
    ax1.axhline(SAME_PERSON, color="gray", linestyle=":", linewidth=1)
    ax1.set_ylim(0, 1)
    ax1.set_title("Identity on each base, same prompts and seeds\n(dashed: that base without the LoRA)", fontsize=10)
    ax1.set_xlabel("training step")
    ax1.set_ylabel("identity similarity")
    ax2.axhline(0.0, color="black", linewidth=1)
    ax2.set_title("What the LoRA adds on each base\n(identity minus the same base without it, paired; 95% CI)",
                  fontsize=10)
    ax2.set_xlabel("training step")
    ax2.set_ylabel("identity gain")
    for ax in (ax1, ax2):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=7)
    return figures.save_figure(fig, out)
