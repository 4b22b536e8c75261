"""The live loss widget: rows in, label and figure out (headless)."""

from __future__ import annotations

from ltxbench.ui.train_monitor import LossMonitor


def _row(step, stage="main"):
    return {"stage": stage, "step": step, "loss": 1.0 / step, "loss_smoothed": 1.0 / step, "lr": 1e-4, "step_time": 0.1}


def test_monitor_keeps_rows_updates_the_label_and_draws():
    mon = LossMonitor(every=2)
    for s in range(1, 6):
        mon(_row(s, "heads" if s < 3 else "video"))
    assert len(mon.rows) == 5 and "step 5" in mon.label.value and "stage video" in mon.label.value
    fig = mon.figure()
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # loss, smoothed, one stage boundary
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3, 4, 5]
    # drawn every 2 steps into the Image widget as PNG bytes (a pyplot-free figure in an Output only
    # ever showed its repr text under the inline backend)
    drawn = mon.image.value
    assert drawn[:8] == b"\x89PNG\r\n\x1a\n" and len(drawn) > 5000
    mon(_row(6, "video"))
    assert mon.image.value != drawn
