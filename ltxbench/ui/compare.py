"""The sweep comparison's widgets (notebooks/05_compare.ipynb): a sortable table and a run chooser
whose best checkpoints appear side by side. Tables and figures come from :mod:`ltxbench.compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ltxbench.compare import MAX_PANELS, SweepView, checkpoint_panels, default_selection, open_sweep, sort_runs, table_view


def sortable_table(table: Any) -> Any:
    """The table with a sort-by menu and an order switch (ipywidgets)."""
    import ipywidgets as w

    default = "best_identity" if "best_identity" in table.columns else table.columns[0]
    by = w.Dropdown(options=list(table.columns), value=default, description="sort by")
    order = w.ToggleButtons(options=["descending", "ascending"], value="descending")
    out = w.Output()

    def render(*_: Any) -> None:
        out.outputs = ()  # set kernel-side, so it also works with no frontend attached (papermill)
        out.append_display_data(table_view(sort_runs(table, by.value, ascending=order.value == "ascending")))

    by.observe(render, names="value")
    order.observe(render, names="value")
    render()
    return w.VBox([w.HBox([by, order]), out])


def checkpoint_selector(sweep: str | Path | SweepView, preselect: int = 2) -> Any:
    """Choose runs; their best checkpoints' grids (or sample frames) appear side by side."""
    import ipywidgets as w

    view = open_sweep(sweep)
    ids = view.run_ids
    select = w.SelectMultiple(options=ids, value=tuple(default_selection(view, preselect)), rows=min(8, max(2, len(ids))),
                              description="runs")
    out = w.Output()

    def render(*_: Any) -> None:
        out.outputs = ()  # set kernel-side, so it also works with no frontend attached (papermill)
        if select.value:
            out.append_display_data(checkpoint_panels(view, list(select.value)))

    select.observe(render, names="value")
    render()
    hint = w.HTML(f"Choose up to {MAX_PANELS} runs (Ctrl/Shift-click) to put their best checkpoints side by side.")
    return w.VBox([hint, select, out])
