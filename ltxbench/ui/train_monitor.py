"""A live loss plot for the train notebook: pass an instance as ``train.train(run, on_step=monitor)``.

It redraws every ``every`` steps (the raw loss faint, the smoothed loss bold, stage boundaries
dotted) as PNG bytes into an ipywidgets ``Image``: the figures are built without pyplot, which the
inline backend would never render (an ``Output`` showed the text ``<Figure size 700x300 with 1
Axes>``), and bytes draw the same in JupyterLab, Voilà and any frontend. Outside Jupyter the widget
simply is not shown; training is unaffected either way.
"""

from __future__ import annotations

from typing import Any


class LossMonitor:
    """Callable ``on_step`` hook that keeps the metric rows and draws them live."""

    def __init__(self, every: int = 10, title: str = "Training loss (live)"):
        import ipywidgets as widgets

        self.every = max(1, every)
        self.title = title
        self.rows: list[dict[str, Any]] = []
        self.image = widgets.Image(format="png")
        self.label = widgets.HTML("waiting for the first step…")
        self.widget = widgets.VBox([self.label, self.image])

    def __call__(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self.label.value = (f"step {row['step']} · stage {row['stage']} · loss {row['loss']:.4f} "
                            f"(smoothed {row['loss_smoothed']:.4f}) · lr {row['lr']:.2e} · {row['step_time']:.2f} s/step")
        if len(self.rows) % self.every == 0:
            self.redraw()

    def figure(self) -> Any:
        from ltxbench.util.figures import new_figure

        fig, ax = new_figure(1, (7, 3))
        steps = [r["step"] for r in self.rows]
        ax.plot(steps, [r["loss"] for r in self.rows], color="tab:blue", alpha=0.35, label="loss")
        ax.plot(steps, [r["loss_smoothed"] for r in self.rows], color="tab:blue", label="smoothed")
        audio = [(r["step"], r["audio_loss_smoothed"]) for r in self.rows if r.get("audio_loss_smoothed") is not None]
        if audio:  # video and audio apart: they converge at different speeds
            ax.plot(steps, [r.get("video_loss_smoothed") for r in self.rows], color="tab:green", linewidth=0.9, label="video")
            ax.plot(*zip(*audio), color="tab:red", linewidth=0.9, label="audio")
        for prev, r in zip(self.rows, self.rows[1:]):
            if r["stage"] != prev["stage"]:
                ax.axvline(r["step"] - 0.5, color="gray", linestyle=":")
        ax.set_xlabel("step")
        ax.set_ylabel("flow-matching MSE")
        ax.set_title(self.title)
        ax.legend(loc="upper right")
        fig.tight_layout()
        return fig

    def png(self) -> bytes:
        """The current figure as PNG bytes (what the widget shows)."""
        import io

        buf = io.BytesIO()
        self.figure().savefig(buf, dpi=100, format="png")
        return buf.getvalue()

    def redraw(self) -> None:
        if self.rows:
            self.image.value = self.png()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from ltxbench.ui.record import bundle, img

        static = (f"<p>{self.label.value}</p>" + img(self.png() if self.rows else None, alt="loss")
                  + ("<p><i>live loss plot: drawn while training in an interactive session; the record shows "
                     "train/loss.png below</i></p>" if not self.rows else ""))
        return bundle(self.widget, static, f"LossMonitor({len(self.rows)} steps)", **kwargs)
