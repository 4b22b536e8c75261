"""Compare the runs of a sweep (notebook ``05_compare.ipynb``): one table, one chart, a side-by-side viewer.

Everything shown is read from the run folders as the stages wrote them; nothing is computed
anew and no value is invented. A figure a run does not have yet (not evaluated, no face found,
a metric a later evaluate version adds) is shown as "—" (NaN in the DataFrame), and the identity
chart says in words why a run has no curve:

* best identity, its step and strength: ``eval/best_checkpoint.json`` (``checkpoint``, ``step``,
  ``strength``, ``value``; a file from before strengths were evaluated means 1.0);
* leakage and motion ratio: ``eval/summary.csv`` rows ``leakage_identity_similarity`` and
  ``motion_ratio`` at the best checkpoint, or at the last LoRA checkpoint when there is no best
  (the ``figures_at`` column names the checkpoint);
* training time: ``train/summary.json`` ``seconds``;
* identity curves: ``eval/summary.csv`` rows ``identity_similarity`` per LoRA checkpoint;
* side by side: the best checkpoint's grid image (``eval/grid_<checkpoint>.png`` or
  ``eval/grids/<checkpoint>.png``) when the evaluate stage wrote one, else real frames read from
  ``samples/<checkpoint>/*.mp4``, labelled with the video and the frame numbers.

Widgets (ipywidgets) are imported only inside the functions that build them.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.evaluate.sources import BASE
from ltxbench.run.layout import BEST_CHECKPOINT

IDENTITY = "identity_similarity"
LEAKAGE = "leakage_identity_similarity"
MOTION = "motion_ratio"
HEADLINE = ("best_identity", "best_step", "best_strength", "stack_identity_change", "leakage", "motion_ratio", "figures_at",
            "train_seconds")
GRID_PATTERNS = ("eval/grid_{ckpt}.png", "eval/grids/{ckpt}.png", "eval/{ckpt}_grid.png", "eval/grid_{ckpt}.jpg")
MAX_PANELS = 6
STRIP_VIDEOS = 3
STRIP_FRAMES = 4


# ---------------------------------------------------------------------------------------
# The sweep folder
# ---------------------------------------------------------------------------------------


@dataclass
class SweepView:
    """A sweep folder as ``ltxbench sweep`` left it (sweep.json and one folder per run)."""

    dir: Path
    data: dict[str, Any]

    @property
    def run_ids(self) -> list[str]:
        """The runs of the current sweep file, in its order."""
        order = self.data.get("order") or list(self.data.get("runs", {}))
        return [r for r in order if self.data.get("runs", {}).get(r, {}).get("in_sweep", True)]

    @property
    def keys(self) -> list[str]:
        keys = self.data.get("keys")
        if keys is None:
            keys = list(dict.fromkeys(k for r in self.data.get("runs", {}).values() for k in r.get("overrides", {})))
        return list(keys)

    def record(self, run_id: str) -> dict[str, Any]:
        return self.data.get("runs", {}).get(run_id, {})

    def run_dir(self, run_id: str) -> Path:
        # The folder next to sweep.json first: the sweep folder may have been moved or mounted elsewhere.
        local = self.dir / run_id
        return local if local.is_dir() else Path(self.record(run_id).get("run_dir", local))

    def __repr__(self) -> str:
        counts = self.data.get("counts", {})
        shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        return (f"Sweep {self.data.get('sweep')} ({self.dir}): {len(self.run_ids)} runs ({shown or 'no status yet'}), "
                f"status {self.data.get('status')}\n  stages: {', '.join(self.data.get('stages', []))}\n"
                f"  base: {self.data.get('base')}\n  sweep file: {self.data.get('sweep_file')}\n"
                f"  varied: {', '.join(self.keys) or 'nothing'}")


def open_sweep(sweep_dir: str | Path | SweepView) -> SweepView:
    if isinstance(sweep_dir, SweepView):
        return sweep_dir
    folder = Path(sweep_dir).resolve()
    from ltxbench.sweep.state import SWEEP_JSON, read_sweep_json

    path = folder / SWEEP_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `ltxbench sweep params/sweeps/<name>.yaml` first, and point "
                                f"sweep_dir at its folder (runs/<sweep name>)")
    return SweepView(folder, read_sweep_json(folder))


def _read_json(path: Path) -> dict[str, Any] | None:
    """A run's JSON result, ``None`` when the stage has not written it; a broken file is an error."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); re-run that run's stage (ltxbench run ... --force)") from None


def _read_summary(run_dir: Path) -> Any:
    import pandas as pd

    path = run_dir / "eval" / "summary.csv"
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (ValueError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path} cannot be read ({exc}); re-run that run's evaluate stage") from None


def _dotted(data: Any, key: str) -> Any:
    for part in key.split("."):
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return math.nan
    return data


# ---------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------


def headline(run_dir: Path) -> dict[str, Any]:
    """The headline figures of one run folder; NaN for every figure the run does not have."""
    best = _read_json(run_dir / BEST_CHECKPOINT) or {}
    train = _read_json(run_dir / "train" / "summary.json") or {}
    summary = _read_summary(run_dir)
    at = best.get("label") or best.get("checkpoint") or _last_checkpoint(summary)  # label: checkpoint@strength
    return {
        "best_identity": _number(best.get("value")),
        "best_step": _number(best.get("step")),
        # evaluations from before strengths were evaluated picked at 1.0
        "best_strength": _number(best.get("strength", 1.0 if best.get("checkpoint") else None)),
        # evaluate.with_loras: identity with the stacked LoRAs minus alone (NaN: nothing stacked or not known)
        "stack_identity_change": _number((best.get("stack") or {}).get("change")),
        "leakage": _metric_at(summary, at, LEAKAGE),
        "motion_ratio": _metric_at(summary, at, MOTION),
        "figures_at": at if at else math.nan,
        "train_seconds": _number(train.get("seconds")),
    }


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def _last_checkpoint(summary: Any) -> str | None:
    if summary is None or summary.empty:
        return None
    lora = summary[summary["checkpoint"] != BASE]
    return None if lora.empty else str(lora.sort_values("step").iloc[-1]["checkpoint"])


def _metric_at(summary: Any, checkpoint: str | None, metric: str) -> float:
    if summary is None or checkpoint is None:
        return math.nan
    rows = summary[(summary["checkpoint"] == checkpoint) & (summary["metric"] == metric)]
    return float(rows.iloc[0]["mean"]) if not rows.empty else math.nan


def runs_table(sweep: str | Path | SweepView) -> Any:
    """One row per run: id, status, the value of every varied key, the headline figures, times, error.

    Varied values are read from the run's resolved ``params.yaml`` when it exists (what the run
    really used), else from the override in sweep.json. Sorted by best identity, highest first.
    """
    import pandas as pd
    import yaml

    view = open_sweep(sweep)
    rows = []
    for run_id in view.run_ids:
        rec, run_dir = view.record(run_id), view.run_dir(run_id)
        params_path = run_dir / "params.yaml"
        resolved = yaml.safe_load(params_path.read_text(encoding="utf-8")) if params_path.is_file() else None
        row: dict[str, Any] = {"run": run_id, "status": rec.get("status", "pending")}
        for key in view.keys:
            value = _dotted(resolved, key) if resolved is not None else rec.get("overrides", {}).get(key, math.nan)
            row[key] = json.dumps(value) if isinstance(value, (list, dict)) else value
        row.update(headline(run_dir))
        row["run_seconds"] = _number(rec.get("duration_s"))
        row["error"] = rec.get("error") or math.nan
        rows.append(row)
    columns = ["run", "status", *view.keys, *HEADLINE, "run_seconds", "error"]
    return sort_runs(pd.DataFrame(rows, columns=columns), "best_identity", ascending=False)


def sort_runs(table: Any, by: str, ascending: bool = True) -> Any:
    """Sort on one column, empty values last; mixed-type columns sort by their text."""
    try:
        return table.sort_values(by, ascending=ascending, na_position="last", kind="stable")
    except TypeError:
        return table.sort_values(by, ascending=ascending, na_position="last", kind="stable",
                                 key=lambda col: col.map(lambda v: v if isinstance(v, float) and math.isnan(v) else str(v)))


def table_view(table: Any) -> Any:
    """The table for display: missing figures as "—", figures to 3 decimals, values as written, no index."""
    formats: dict[str, Any] = {c: _plain for c in table.columns}
    formats.update({c: "{:.3f}" for c in ("best_identity", "leakage", "motion_ratio") if c in table})
    formats.update({c: "{:+.3f}" for c in ("stack_identity_change",) if c in table})
    formats.update({c: "{:.0f}" for c in ("best_step",) if c in table})
    formats.update({c: "{:g}" for c in ("best_strength",) if c in table})
    formats.update({c: "{:.1f}" for c in ("train_seconds", "run_seconds") if c in table})
    return table.style.format(formats, na_rep="—").hide(axis="index")


def _plain(value: Any) -> str:
    """A varied value as a person writes it: ``0.0001`` as 1e-04, not 0.000100."""
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------


@dataclass
class Png:
    """A rendered figure: shown as an image in Jupyter; ``note`` says what it shows or lacks."""

    data: bytes
    title: str
    note: str = ""
    texts: list[str] = field(default_factory=list)

    def _repr_png_(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"<{self.title}{': ' + self.note if self.note else ''}>"

    def save(self, path: str | Path) -> Path:
        from ltxbench.run import atomic

        return atomic.atomic_write_bytes(path, self.data)


def _render(fig: Any, title: str, note: str = "") -> Png:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    texts = [t.get_text() for ax in fig.axes for t in (list(ax.texts) + [ax.title])] + [t.get_text() for t in fig.texts]
    return Png(buf.getvalue(), title, note, [t for t in texts if t])


def _identity_rows(run_dir: Path, status: str) -> tuple[Any, str | None]:
    """The run's identity curve (LoRA checkpoints by step), or None and why there is none."""
    summary = _read_summary(run_dir)
    if summary is None:
        return None, f"not evaluated (no eval/summary.csv; run {status})"
    rows = summary[(summary["metric"] == IDENTITY) & (summary["checkpoint"] != BASE)].sort_values("step")
    if rows.empty:
        best = _read_json(run_dir / BEST_CHECKPOINT) or {}
        reason = "no face found in any generated video, so no identity score"
        if "tiny" in str(best.get("reason", "")):
            reason += " (tiny random-weight model)"
        return None, reason
    return rows, None


def identity_curves(sweep: str | Path | SweepView) -> Png:
    """Identity similarity against training step, every run on one chart (95% CI shaded).

    Runs without an identity score are listed on the chart with the reason; when no run has one,
    the chart says so in words instead of drawing empty axes.
    """
    from ltxbench.util.figures import new_figure

    view = open_sweep(sweep)
    fig, ax = new_figure(1, (9, 4.5))
    missing: list[str] = []
    drawn = 0
    for run_id in view.run_ids:
        rows, reason = _identity_rows(view.run_dir(run_id), view.record(run_id).get("status", "pending"))
        if rows is None:
            missing.append(f"{run_id}: {reason}")
            continue
        line, = ax.plot(rows["step"], rows["mean"], marker="o", label=run_id)
        ax.fill_between(rows["step"], rows["ci_low"], rows["ci_high"], color=line.get_color(), alpha=0.12)
        drawn += 1
    ax.set_xlabel("training step")
    ax.set_ylabel("identity similarity")
    ax.set_ylim(0, 1)
    ax.set_title(f"Identity per checkpoint, sweep {view.data.get('sweep')} (1 = identical, 0.5 = same-person threshold)", fontsize=10)
    if drawn:
        ax.legend(fontsize=8, loc="lower right")
    if missing:
        header = "No identity score in any run of this sweep:" if not drawn else "Runs without an identity score:"
        ax.text(0.5, 0.5 if not drawn else 0.03, "\n".join([header, *missing[:10]]), ha="center",
                va="center" if not drawn else "bottom", transform=ax.transAxes, fontsize=8, color="tab:red", wrap=True)
    note = f"{drawn} run(s) drawn" + (f"; {len(missing)} without identity: " + "; ".join(missing) if missing else "")
    return _render(fig, "identity curves", note)


# ---------------------------------------------------------------------------------------
# Side by side
# ---------------------------------------------------------------------------------------


@dataclass
class Panel:
    """What one run shows in the side-by-side view."""

    run_id: str
    kind: str  # "grid", "frames" or "none"
    title: str
    image: np.ndarray | None = None
    row_labels: list[str] = field(default_factory=list)
    col_labels: list[str] = field(default_factory=list)


def _step_of(checkpoint: str) -> int:
    try:
        return int(checkpoint.rsplit("_", 1)[1])
    except (IndexError, ValueError):
        return -1


def _grid_file(run_dir: Path, checkpoint: str) -> Path | None:
    for pattern in GRID_PATTERNS:
        path = run_dir / pattern.format(ckpt=checkpoint)
        if path.is_file():
            return path
    return None


def _frame_strip(videos: list[Path]) -> tuple[np.ndarray, list[str], list[str]]:
    """Rows: videos; columns: evenly spaced frames (first and last included), read from the files."""
    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    rows, labels, cols = [], [], []
    for path in videos[:STRIP_VIDEOS]:
        info = video.probe(path)
        idx = media_frames.sample_indices(info.num_frames, STRIP_FRAMES)
        frames = video.read_frames(path, idx)
        rows.append(frames)
        labels.append(path.stem)
        # columns are labelled by the first video's frames; a video of another length says so in its row label
        if not cols:
            cols = [f"frame {i}" for i in idx]
        elif [f"frame {i}" for i in idx] != cols:
            labels[-1] += f" (frames {', '.join(map(str, idx))})"
    height = max(r.shape[1] for r in rows)
    width = max(r.shape[2] for r in rows)
    ncol = max(r.shape[0] for r in rows)
    canvas = np.full((len(rows) * height, ncol * width, 3), 255, dtype=np.uint8)  # white where sizes differ
    for i, frames in enumerate(rows):
        for j, frame in enumerate(frames):
            canvas[i * height:i * height + frame.shape[0], j * width:j * width + frame.shape[1]] = frame
    return canvas, labels, cols


def run_panel(run_id: str, run_dir: Path) -> Panel:
    """The best checkpoint's grid, else frames of its samples; the last checkpoint when there is no best."""
    best = _read_json(run_dir / BEST_CHECKPOINT) or {}
    checkpoint = best.get("label") or best.get("checkpoint")  # the samples folder of the pick's strength
    why = "best checkpoint"
    if not checkpoint:
        sampled = sorted((p.name for p in (run_dir / "samples").glob("lora_step_*") if p.is_dir()), key=_step_of)
        if not sampled:
            return Panel(run_id, "none", f"{run_id}\nno grid and no samples (evaluate has not run)")
        checkpoint, why = sampled[-1], "no best checkpoint (no identity score): last checkpoint"
    grid = _grid_file(run_dir, checkpoint)
    if grid is not None:
        from PIL import Image

        with Image.open(grid) as img:
            image = np.asarray(img.convert("RGB"))
        return Panel(run_id, "grid", f"{run_id}\n{why}: {checkpoint}\n{grid.relative_to(run_dir)}", image)
    videos = sorted((run_dir / "samples" / checkpoint).glob("*.mp4"))
    if not videos:
        return Panel(run_id, "none", f"{run_id}\n{why}: {checkpoint}\nno grid image and no sample videos")
    image, rows, cols = _frame_strip(videos)
    return Panel(run_id, "frames", f"{run_id}\n{why}: {checkpoint}\nframes of samples/{checkpoint}/*.mp4", image, rows, cols)


def checkpoint_panels(sweep: str | Path | SweepView, run_ids: list[str]) -> Png:
    """The chosen runs side by side (at most six)."""
    from ltxbench.util.figures import new_figure

    view = open_sweep(sweep)
    chosen = list(run_ids)[:MAX_PANELS]
    if not chosen:
        raise ValueError("choose at least one run")
    panels = [run_panel(r, view.run_dir(r)) for r in chosen]
    fig, axes = new_figure(len(panels), (4.8 * len(panels), 4.2))
    for ax, panel in zip(np.atleast_1d(axes), panels):
        ax.set_title(panel.title, fontsize=8)
        if panel.image is None:
            ax.text(0.5, 0.5, "nothing to show", ha="center", va="center", transform=ax.transAxes, color="tab:red")
            ax.set_axis_off()
            continue
        ax.imshow(panel.image)
        _label_strip(ax, panel)
    kinds = ", ".join(f"{p.run_id}: {p.kind}" for p in panels)
    return _render(fig, "checkpoints side by side", kinds)


def _label_strip(ax: Any, panel: Panel) -> None:
    if panel.kind != "frames" or panel.image is None:
        ax.set_axis_off()
        return
    h, w = panel.image.shape[:2]
    cell_h, cell_w = h / len(panel.row_labels), w / len(panel.col_labels)
    ax.set_yticks([cell_h * (i + 0.5) for i in range(len(panel.row_labels))], panel.row_labels, fontsize=7)
    ax.set_xticks([cell_w * (j + 0.5) for j in range(len(panel.col_labels))], panel.col_labels, fontsize=7)


def default_selection(view: SweepView, n: int = 2) -> list[str]:
    """The runs with the best identity first, then the completed ones, then the rest."""
    table = runs_table(view)
    order = table.assign(_done=table["status"] == "completed").sort_values(
        ["best_identity", "_done"], ascending=[False, False], na_position="last", kind="stable")
    return order["run"].head(n).tolist()


def best_side_by_side(sweep: str | Path | SweepView, n: int = 2) -> Png:
    """The ``n`` best runs side by side, as a plain image (kept in the executed notebook, unlike widgets)."""
    view = open_sweep(sweep)
    return checkpoint_panels(view, default_selection(view, n))
