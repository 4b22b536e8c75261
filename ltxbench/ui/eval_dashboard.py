"""The evaluate dashboard: the diagnosis (findings, evidence, fixes), identity curve, a checkpoint
slider over the comparison grids (still frames or animated previews), identity per head angle and
per prompt, bleed heat-map, leakage and motion, the best checkpoint marked; a strength selector
when several ``evaluate.strengths`` were evaluated, and a "with the stacked LoRAs" switch with the
stack's figure when ``evaluate.with_loras`` was.

Everything shown is read from the run folder as the evaluate stage wrote it (``eval/*.png``,
``eval/best_checkpoint.json``, ``eval/diagnosis.json``, the sample videos); nothing is computed anew except the animated
previews, which are the videos' own frames. Headless use (tests, scripts): :meth:`EvalDashboard.select`
and :attr:`EvalDashboard.mode` are what the slider and the toggle call; :attr:`grid_bytes` holds
what is displayed.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.evaluate.select import best_label
from ltxbench.evaluate.sources import (
    BASE,
    SampleVideo,
    folder_videos,
    is_stacked,
    split_label,
    stack_label,
    strength_label,
)
from ltxbench.run.folder import Run
from ltxbench.run.layout import BEST_CHECKPOINT, EVAL, name_in

PREVIEW_FRAMES = 16
PREVIEW_HEIGHT = 128
MODES = ("frames", "animated")


def animated_preview(videos: list[SampleVideo], checkpoint: str, frames: int = PREVIEW_FRAMES) -> bytes | None:
    """An animated GIF: per prompt x seed a row, base on the left and ``checkpoint`` on the right,
    ``frames`` evenly spaced frames of the real videos; None when the checkpoint has no videos."""
    import cv2
    from PIL import Image

    from ltxbench.evaluate.plots import grid_rows
    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    rows = grid_rows(videos, checkpoint)
    if not rows:
        return None

    def clip(sample: SampleVideo) -> np.ndarray:
        picked = video.read_frames(sample.path, media_frames.sample_indices(video.probe(sample.path).num_frames, frames))
        width = max(1, round(picked.shape[2] * PREVIEW_HEIGHT / picked.shape[1]))
        out = np.stack([cv2.resize(f, (width, PREVIEW_HEIGHT), interpolation=cv2.INTER_AREA) for f in picked])
        pad = frames - len(out)  # a shorter video holds its last frame
        return np.concatenate([out, np.repeat(out[-1:], pad, axis=0)]) if pad > 0 else out

    strips = []
    for _, base, mine in rows:
        right = clip(mine)
        left = clip(base) if base is not None else np.full_like(right, 235)
        width = max(left.shape[2], right.shape[2])
        left, right = (np.pad(c, ((0, 0), (0, 0), (0, width - c.shape[2]), (0, 0)), constant_values=255) for c in (left, right))
        strips.append(np.concatenate([left, np.full((frames, PREVIEW_HEIGHT, 8, 3), 255, np.uint8), right], axis=2))
    width = max(s.shape[2] for s in strips)
    strips = [np.pad(s, ((0, 0), (0, 4), (0, width - s.shape[2]), (0, 0)), constant_values=255) for s in strips]
    movie = _labelled(np.concatenate(strips, axis=1), [label for label, _, _ in rows], checkpoint)
    images = [Image.fromarray(f) for f in movie]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=120, loop=0)
    return buf.getvalue()


def diagnosis_html(diagnosis: dict[str, Any] | None) -> str:
    """eval/diagnosis.json as HTML: each finding with its evidence and fix, then what is not known."""
    if diagnosis is None:
        return "<i>no eval/diagnosis.json: evaluate again with this ltxbench to get the diagnosis</i>"
    e = html.escape
    parts = [f"<h4>Diagnosis of {e(diagnosis['checkpoint'] or 'no checkpoint')}</h4><i>{e(diagnosis['chosen_as'])}</i>"]
    if not diagnosis["findings"]:
        parts.append("<p>No finding: every rule that could be checked passed.</p>")
    items = []
    for f in diagnosis["findings"]:
        evidence = "".join(f"<li><code>{e(x['metric'])}</code> at {e(x['checkpoint'])}: {x['value']:.3f} "
                           f"[{x['ci_low']:.3f}, {x['ci_high']:.3f}], n={x['n']}"
                           f"{'; ' + e(x['against']) if x.get('against') else ''}</li>" for x in f["evidence"])
        items.append(f"<li><b>{e(f['title'])}</b> <code>{e(f['code'])}</code><ul>{evidence}"
                     f"<li><i>Fix:</i> {e(f['fix'])}</li></ul></li>")
    if items:
        parts.append(f"<ul>{''.join(items)}</ul>")
    if diagnosis["not_checked"]:
        parts.append("<b>Not known</b> (not measured):<ul>" + "".join(
            f"<li><code>{e(n['code'])}</code>: {e(n['why'])}</li>" for n in diagnosis["not_checked"]) + "</ul>")
    if diagnosis["passed"]:
        parts.append("<b>Passed</b>: " + "; ".join(f"<code>{e(p['code'])}</code> ({e(p['detail'])})"
                                                    for p in diagnosis["passed"]))
    return "".join(parts)


LABEL_WIDTH, HEADER_HEIGHT = 96, 20


def _labelled(movie: np.ndarray, row_labels: list[str], checkpoint: str) -> np.ndarray:
    """``movie`` ``[F,H,W,3]`` with a header (base model | checkpoint) and a column of row labels
    (prompt and seed), drawn once and put beside every frame, as the still grid has them."""
    from PIL import Image, ImageDraw

    frames, height, width = movie.shape[:3]
    canvas = Image.new("RGB", (LABEL_WIDTH + width, HEADER_HEIGHT + height), "white")
    draw = ImageDraw.Draw(canvas)
    half = (width - 8) // 2
    from ltxbench.evaluate.plots import grid_baseline

    left = grid_baseline(checkpoint)
    draw.text((LABEL_WIDTH + 4, 4), "base model (no LoRA)" if left == BASE else f"{left} alone", fill="black")
    draw.text((LABEL_WIDTH + half + 12, 4), checkpoint, fill="black")
    row = height / max(1, len(row_labels))
    for i, label in enumerate(row_labels):
        draw.text((4, HEADER_HEIGHT + int(i * row + row / 2) - 6), label, fill="black")
    layer = np.asarray(canvas).copy()
    out = np.repeat(layer[None], frames, axis=0)
    out[:, HEADER_HEIGHT:, LABEL_WIDTH:] = movie
    return out


class EvalDashboard:
    """Display as the last expression of a notebook cell; see the module docstring."""

    def __init__(self, run: Run | str | Path):
        import ipywidgets as w  # lazily: the stages never need a UI library

        from ltxbench.run import folder

        self.run = run if isinstance(run, Run) else folder.open_run(run)
        self.eval_dir = self.run.path("eval")
        best_file = self.eval_dir / name_in(EVAL, BEST_CHECKPOINT)
        if not best_file.is_file():
            raise FileNotFoundError(f"{best_file} not found: run the evaluate stage first (evaluate.evaluate(run))")
        self.best: dict[str, Any] = json.loads(best_file.read_text(encoding="utf-8"))
        skipped_file = self.eval_dir / "skipped.json"
        self.skipped = json.loads(skipped_file.read_text(encoding="utf-8")) if skipped_file.is_file() else []
        notes_file = self.eval_dir / "notes.json"
        self.notes = json.loads(notes_file.read_text(encoding="utf-8")) if notes_file.is_file() else []
        self.videos = self._videos()
        # evaluated labels: a checkpoint at strength 1.0 is its name, at another ``name@strength``
        self.checkpoints = sorted({v.checkpoint for v in self.videos if v.checkpoint != BASE},
                                  key=lambda c: (next(v.step for v in self.videos if v.checkpoint == c), split_label(c)[1], c))
        # the slider names LoRA files; base+stack (the stack alone) is shown in the stack figure
        self.loras = list(dict.fromkeys(split_label(c)[0] for c in self.checkpoints if split_label(c)[0] != BASE))
        self.strengths = sorted({split_label(c)[1] for c in self.checkpoints if split_label(c)[0] != BASE})
        self.stacked = any(is_stacked(c) for c in self.checkpoints)
        self.grid_bytes: bytes = b""
        self.current: str | None = None
        self._mode = "frames"
        self._gifs: dict[str, bytes | None] = {}
        self._syncing = False

        self.header = w.HTML(self._header_html())
        diagnosis_file = self.eval_dir / "diagnosis.json"
        self.diagnosis: dict[str, Any] | None = (json.loads(diagnosis_file.read_text(encoding="utf-8"))
                                                 if diagnosis_file.is_file() else None)
        self.diagnosis_panel = w.HTML(diagnosis_html(self.diagnosis))
        self.curve = self._image("identity_curve.png")
        self.slider = w.SelectionSlider(options=self.loras or ["(none)"], description="checkpoint",
                                        continuous_update=False, layout=w.Layout(width="45%"))
        self.strength_picker = w.Dropdown(options=[(f"{x:g}", x) for x in self.strengths] or [("1", 1.0)],
                                          description="strength", layout=w.Layout(width="160px"))
        if len(self.strengths) < 2:
            self.strength_picker.layout.display = "none"  # one strength: nothing to choose
        self.stack_toggle = w.Checkbox(value=False, description="with the stacked LoRAs", indent=False,
                                       layout=w.Layout(width="200px"))
        if not self.stacked:
            self.stack_toggle.layout.display = "none"  # nothing was stacked
        self.mode_toggle = w.ToggleButtons(options=MODES, value="frames", description="show",
                                           style={"button_width": "100px"}, layout=w.Layout(margin="0 0 0 32px"))
        self.caption = w.HTML()
        self.grid = w.Image(format="png")
        self.slider.observe(lambda change: self._picked(), names="value")
        self.strength_picker.observe(lambda change: self._picked(), names="value")
        self.stack_toggle.observe(lambda change: self._picked(), names="value")
        self.mode_toggle.observe(lambda change: setattr(self, "mode", change["new"]), names="value")
        panels = [self.diagnosis_panel, w.HTML("<h4>Identity across checkpoints</h4>"), self.curve,
                  w.HTML("<h4>Checkpoint vs base (same prompt and seed per row)</h4>"),
                  w.HBox([self.slider, self.strength_picker, self.stack_toggle, self.mode_toggle],
                         layout=w.Layout(align_items="center", grid_gap="32px")),
                  self.caption, self.grid,
                  w.HTML("<h4>Where identity breaks: per head angle and per prompt</h4>"),
                  self._image("identity_by_angle.png"),
                  w.HTML("<h4>Leakage and motion</h4>"), self._image("leakage_motion.png")]
        if (self.eval_dir / "strength_curve.png").is_file():
            panels += [w.HTML("<h4>Identity, leakage and motion against the LoRA strength</h4>"),
                       self._image("strength_curve.png")]
        if (self.eval_dir / "stack_curve.png").is_file():
            panels += [w.HTML("<h4>The stacked LoRAs: each checkpoint alone and with the stack</h4>"),
                       self._image("stack_curve.png")]
        if (self.eval_dir / "reference.png").is_file():
            reason = json.loads((self.eval_dir / "reference.json").read_text(encoding="utf-8")).get("reason", "")
            panels += [w.HTML(f"<h4>The IC-LoRA with and without its reference</h4><p>{html.escape(reason)}</p>"),
                       self._image("reference.png")]
        if (self.eval_dir / "bases.png").is_file():
            panels += [w.HTML("<h4>The LoRA on other base models (evaluate.bases)</h4>" + self._bases_html()),
                       self._image("bases.png")]
        if (self.eval_dir / "bleed.png").is_file():
            panels += [w.HTML("<h4>Bleed between characters</h4>"), self._image("bleed.png")]
        if (self.eval_dir / "voice_curve.png").is_file():
            panels += [w.HTML("<h4>Voice across checkpoints</h4>"), self._image("voice_curve.png")]
        if (self.eval_dir / "voice_bleed.png").is_file():
            panels += [w.HTML("<h4>Bleed between characters' voices</h4>"), self._image("voice_bleed.png")]
        self.widget = w.VBox([self.header, *panels])
        start = best_label(self.best) if best_label(self.best) in self.checkpoints else None
        if start is None and self.checkpoints:
            start = next((c for c in reversed(self.checkpoints) if not is_stacked(c)), self.checkpoints[-1])
        if start is not None:
            self.select(start)

    def _videos(self) -> list[SampleVideo]:
        source = self.run.params.evaluate.videos_from or self.run.path("samples")
        return folder_videos(source) if Path(source).is_dir() else []

    def _image(self, name: str) -> Any:
        import ipywidgets as w

        path = self.eval_dir / name
        if not path.is_file():
            return w.HTML(f"<i>no {html.escape(name)} (not written by the evaluate stage)</i>")
        return w.Image(value=path.read_bytes(), format="png")

    def _header_html(self) -> str:
        best = self.best
        if best.get("checkpoint"):
            at = f" at strength {best['strength']:g}" if len(self.strengths) > 1 or best.get("strength", 1.0) != 1.0 else ""
            head = (f"<b>Best checkpoint: {html.escape(best['checkpoint'])}{at}</b> (step {best['step']}, identity "
                    f"{best['value']:.3f}) · {html.escape(best['reason'])}")
        else:
            head = f"<b>No best checkpoint</b>: {html.escape(str(best.get('reason')))}"
        items = [f"<li>{html.escape(c)}: eliminated ({html.escape('; '.join(r))})</li>"
                 for c, r in best.get("eliminated", {}).items()]
        items += [f"<li>{html.escape(s['checkpoint'])}: skipped, {html.escape(s['verdict'])} "
                  f"({html.escape('; '.join(s['reasons']))})</li>" for s in self.skipped]
        items += [f"<li>note: {html.escape(n)}</li>" for n in self.notes]
        if best.get("stack"):
            head += f"<br><b>Stacked LoRAs</b>: {html.escape(str(best['stack'].get('reason')))}"
        return head + (f"<ul>{''.join(items)}</ul>" if items else "")

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value!r}")
        self._mode = value
        if self.mode_toggle.value != value:
            self.mode_toggle.value = value
        if self.current is not None:
            self.select(self.current)

    def select(self, checkpoint: str) -> bytes:
        """Show ``checkpoint``'s grid (or its animated preview); returns the image bytes shown."""
        if checkpoint not in self.checkpoints:
            raise ValueError(f"no evaluated checkpoint {checkpoint!r}; evaluated: {', '.join(self.checkpoints) or 'none'}")
        self.current = checkpoint
        lora_name, strength = split_label(checkpoint)
        self._syncing = True  # moving the widgets to the label must not select again half-way
        try:
            if lora_name in self.loras and self.slider.value != lora_name:
                self.slider.value = lora_name
            if lora_name in self.loras and self.strength_picker.value != strength:
                self.strength_picker.value = strength
            if self.stack_toggle.value != is_stacked(checkpoint):
                self.stack_toggle.value = is_stacked(checkpoint)
        finally:
            self._syncing = False
        star = " ★ best checkpoint" if checkpoint == best_label(self.best) else ""
        why = "; ".join(self.best.get("eliminated", {}).get(checkpoint, []))
        grid_file = self.eval_dir / f"grid_{checkpoint}.png"
        if self._mode == "animated":
            if checkpoint not in self._gifs:
                self._gifs[checkpoint] = animated_preview(self.videos, checkpoint)
            data, fmt = self._gifs[checkpoint], "gif"
        else:
            data, fmt = (grid_file.read_bytes() if grid_file.is_file() else None), "png"
        self.grid_bytes = data or b""
        self.grid.format = fmt
        self.grid.value = self.grid_bytes
        note = "" if data else " · <i>no videos of this checkpoint to show</i>"
        self.caption.value = (f"<b>{html.escape(checkpoint)}</b>{star}" + (f" · eliminated: {html.escape(why)}" if why else "")
                              + note)
        return self.grid_bytes

    def _picked(self) -> None:
        """The slider, the strength or the stack switch changed: show that checkpoint at that strength
        (with the stack), or say it was not evaluated."""
        if self._syncing:
            return
        label = strength_label(self.slider.value, self.strength_picker.value)
        if self.stack_toggle.value:
            label = stack_label(label)
        if label == self.current:
            return
        if label in self.checkpoints:
            self.select(label)
            return
        self.current = None
        self.grid_bytes = b""
        self.grid.value = b""
        self.caption.value = (f"<b>{html.escape(str(self.slider.value))}</b> was not evaluated at strength "
                              f"{self.strength_picker.value:g}" + (" with the stack" if self.stack_toggle.value else ""))

    def select_at(self, checkpoint: str, strength: float = 1.0, stacked: bool = False) -> bytes:
        """:meth:`select` by checkpoint name, LoRA strength and whether with the stacked LoRAs."""
        label = strength_label(checkpoint, strength)
        return self.select(stack_label(label) if stacked else label)

    STATIC_FIGURES = ("identity_curve.png", "identity_by_angle.png", "leakage_motion.png", "strength_curve.png", "stack_curve.png",
                      "reference.png", "bases.png", "bleed.png", "voice_curve.png", "voice_bleed.png")

    def _bases_html(self) -> str:
        """eval/bases.json's sentence per base, as a list ("" without the file)."""
        path = self.eval_dir / "bases.json"
        if not path.is_file():
            return ""
        verdicts = json.loads(path.read_text(encoding="utf-8")).get("verdicts", {})
        return "<ul>" + "".join(f"<li>{html.escape(v)}</li>" for v in verdicts.values()) + "</ul>"

    def static_html(self) -> str:
        """What the dashboard shows, as HTML with the figures embedded: the run's record without a kernel."""
        from ltxbench.ui.record import img

        parts = [self._header_html(), self.diagnosis_panel.value]
        for name in self.STATIC_FIGURES:
            path = self.eval_dir / name
            if path.is_file():
                parts.append(img(path.read_bytes(), alt=name))
        if self.current is not None and self.grid_bytes:
            from ltxbench.evaluate.plots import grid_baseline

            left = grid_baseline(self.current)
            parts.append(f"<h4>{html.escape(self.current)} vs {html.escape('base' if left == BASE else left)} (same prompt and seed per row)</h4>"
                         + img(self.grid_bytes, "image/gif" if self._mode == "animated" else "image/png", alt="grid"))
        return "".join(f"<div>{p}</div>" for p in parts)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from ltxbench.ui.record import bundle

        best = self.best.get("checkpoint") or "none"
        return bundle(self.widget, self.static_html(), f"EvalDashboard({self.eval_dir}; best checkpoint: {best})", **kwargs)
