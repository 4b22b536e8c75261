"""The curation grid: look at every clip curate scored, overrule its decision, watch coverage change.

Per clip a card: an animated preview (a GIF cut from the clip file, cached under
``dataset/previews/``) or the thumbnail, the key scores, the rejection reasons, an
accepted/rejected toggle, an optional note and *reset to automatic*. Filters by character, status,
reason code and score ranges (identity similarity, face height, sharpness); pages keep large
datasets responsive (previews are built only for the page shown). Every toggle goes through
:func:`ltxbench.curate.overrides.set_override` (so it lands in ``dataset/overrides.json`` and the manifest
and survives re-running curate) and redraws the coverage figure of the current decisions, also
rewriting ``dataset/coverage.json`` / ``coverage.png``.

Everything works headless: :meth:`CurationGrid.toggle`, :meth:`reset` and :meth:`set_note` are what
the buttons call, and setting a widget's value (``grid.toggles[clip_id].value = "accepted"``,
``grid.character.value = "obama"``) goes the same way.
"""

from __future__ import annotations

import html
import io
import logging
from pathlib import Path
from typing import Any

from ltxbench.curate import coverage, overrides
from ltxbench.run import atomic, folder
from ltxbench.run.folder import Run

log = logging.getLogger("ltxbench")

PREVIEW_FRAMES = 16
PREVIEW_HEIGHT = 128
ALL = "all"
STATUS_FILTERS = (ALL, "accepted", "rejected", "overridden", "auto accepted", "auto rejected")
# Score range filters: (score key, label, fixed bounds or None to take the data's range).
RANGES = (("identity_similarity", "identity", (0.0, 1.0)), ("face_height", "face height", (0.0, 1.0)),
          ("sharpness", "sharpness", None))
_COLOURS = {"accepted": "#2e7d32", "rejected": "#c62828"}


def _score(record: dict[str, Any], key: str) -> float | None:
    value = (record.get("scores") or {}).get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def preview_gif(run: Run, record: dict[str, Any], frames: int = PREVIEW_FRAMES, height: int = PREVIEW_HEIGHT) -> Path | None:
    """A short looping GIF of a clip's file, cached as ``dataset/previews/<id>.gif``; ``None`` without a file.

    The cache is rebuilt when the clip file is newer than the GIF (curate re-cut the clip).
    """
    from PIL import Image

    from ltxbench.media import frames as media_frames
    from ltxbench.media import video

    if not record.get("media"):
        return None
    clip = run.path("dataset", record["media"])
    if not clip.is_file():
        return None
    out = run.path("dataset", "previews", f"{record['id']}.gif")
    if out.is_file() and out.stat().st_mtime >= clip.stat().st_mtime:
        return out
    try:
        picks = video.read_frames(clip, media_frames.sample_indices(int(record["num_frames"]), frames))
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("curation grid: no preview for %s (%s)", record["id"], exc)
        return None
    tiles = [Image.fromarray(f) for f in picks]
    tiles = [t.resize((max(1, round(t.width * height / t.height)), height)) for t in tiles]
    buf = io.BytesIO()
    # duration: show the sampled frames over the clip's real length, so motion keeps its pace
    seconds = int(record["num_frames"]) / float(record.get("fps") or 24)
    tiles[0].save(buf, format="GIF", save_all=True, append_images=tiles[1:], loop=0,
                  duration=max(40, round(1000 * seconds / len(tiles))))
    return atomic.atomic_write_bytes(out, buf.getvalue())


def preview_bytes(run: Run, record: dict[str, Any], animated: bool = True) -> tuple[bytes, str] | None:
    """(image bytes, format) to show for a clip: its GIF, else its thumbnail; ``None`` without either."""
    gif = preview_gif(run, record) if animated else None
    if gif is not None:
        return gif.read_bytes(), "gif"
    thumb = run.path("dataset", record["thumb"]) if record.get("thumb") else None
    if thumb is not None and thumb.is_file():
        return thumb.read_bytes(), "jpeg"
    return None


def scores_html(record: dict[str, Any]) -> str:
    """The scores a person decides on, in one short block; ``–`` where not measured."""
    def num(key: str, fmt: str) -> str:
        value = _score(record, key)
        return "–" if value is None else format(value, fmt)

    cats = " · ".join(coverage.category(record, k).replace("_", "-") for k in coverage.CATEGORIES)
    return (f"identity {num('identity_similarity', '.2f')} · face {num('face_height', '.2f')} · "
            f"sharpness {num('sharpness', '.3g')}<br>{html.escape(cats)}")


def reasons_html(record: dict[str, Any]) -> str:
    details = record.get("reason_details") or record.get("reasons") or []
    if not details:
        return ""
    return "<ul style='margin:0;padding-left:16px;font-size:90%'>" + "".join(f"<li>{html.escape(str(d))}</li>" for d in details) + "</ul>"


def status_html(record: dict[str, Any]) -> str:
    status, auto = record["status"], overrides.auto_status(record)
    badge = (f'<span style="background:{_COLOURS.get(status, "#555")};color:white;padding:1px 6px;'
             f'border-radius:8px">{html.escape(status)}</span>')
    if record.get("override"):
        note = record["override"].get("note")
        return badge + f" by hand (automatic: {html.escape(auto)})" + (f" · <i>{html.escape(note)}</i>" if note else "")
    return badge + " automatic"


class CurationGrid:
    """Review and overrule curate's decisions; display it as the last expression of a cell."""

    def __init__(self, run: Run | str | Path, page_size: int = 12, columns: int = 3, animated: bool = True):
        import ipywidgets as w  # lazily: the stages never need a UI library

        self.run = run if isinstance(run, Run) else folder.open_run(run)
        self.page_size = page_size
        self.animated = animated
        self.page = 0
        self._load()
        self.toggles: dict[str, Any] = {}
        self.notes: dict[str, Any] = {}
        self.status_labels: dict[str, Any] = {}
        self.reset_buttons: dict[str, Any] = {}
        self.previews: dict[str, Any] = {}
        self._syncing = False  # set while the code itself moves a toggle, so its observer stays quiet

        names = list(dict.fromkeys([c.name for c in self.run.params.dataset.characters] + [r["character"] for r in self.records]))
        codes = sorted({coverage.reason_code(x) for r in self.records for x in r.get("reasons") or []})
        self.character = w.Dropdown(options=(ALL, *names), value=ALL, description="character")
        self.status_filter = w.Dropdown(options=STATUS_FILTERS, value=ALL, description="status")
        self.reason = w.Dropdown(options=(ALL, *codes), value=ALL, description="reason")
        self.ranges: dict[str, Any] = {}
        for key, label, bounds in RANGES:
            values = [v for r in self.records if (v := _score(r, key)) is not None]
            lo, hi = bounds if bounds is not None else ((min(values), max(values)) if values else (0.0, 1.0))
            hi = hi if hi > lo else lo + 1.0
            self.ranges[key] = w.FloatRangeSlider(value=(lo, hi), min=lo, max=hi, step=(hi - lo) / 100, description=label,
                                                  continuous_update=False, readout_format=".2f" if hi < 100 else ".0f",
                                                  disabled=not values)
        for control in (self.character, self.status_filter, self.reason, *self.ranges.values()):
            control.observe(lambda _: self._go(0), names="value")
        self.prev_button = w.Button(description="◀ previous")
        self.next_button = w.Button(description="next ▶")
        self.page_label = w.Label()
        self.prev_button.on_click(lambda _: self._go(self.page - 1))
        self.next_button.on_click(lambda _: self._go(self.page + 1))
        self.message = w.HTML()
        self.cards = w.GridBox(layout=w.Layout(grid_template_columns=f"repeat({columns}, minmax(260px, 1fr))", grid_gap="6px"))
        self.coverage_image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.gaps = w.HTML()
        filters = w.VBox([w.HBox([self.character, self.status_filter, self.reason]), w.HBox(list(self.ranges.values()))])
        nav = w.HBox([self.prev_button, self.page_label, self.next_button])
        self.widget = w.VBox([filters, nav, self.message, self.cards, w.HTML("<h4>Coverage of the current decisions</h4>"),
                              self.gaps, self.coverage_image])
        self._go(0)
        self.refresh_coverage(write=False)

    # -- data ------------------------------------------------------------------------------
    def _load(self) -> None:
        from ltxbench.dataset.manifest import load_manifest

        self.records = load_manifest(self.run)
        self.by_id = {r["id"]: r for r in self.records}

    def _replace(self, record: dict[str, Any]) -> None:
        self.by_id[record["id"]].clear()
        self.by_id[record["id"]].update(record)

    def toggle(self, clip_id: str, status: str, note: str | None = None) -> dict[str, Any]:
        """Decide a clip by hand (what its accepted/rejected toggle does); returns its updated record.

        ``note`` defaults to what the clip's note box holds. Raises
        :class:`~ltxbench.curate.overrides.OverrideError` when the decision cannot be stored.
        """
        if note is None:
            note = self.notes[clip_id].value if clip_id in self.notes else ""
        record = overrides.set_override(self.run, clip_id, status, note)
        self._replace(record)
        self._sync_card(clip_id)
        self.refresh_coverage()
        self.message.value = f"{html.escape(clip_id)}: {html.escape(status)} by hand (saved to {overrides.OVERRIDES})"
        return self.by_id[clip_id]

    def reset(self, clip_id: str) -> dict[str, Any]:
        """Drop the manual decision of a clip (its *reset to automatic* button)."""
        record = overrides.clear_override(self.run, clip_id)
        self._replace(record)
        self._sync_card(clip_id)
        self.refresh_coverage()
        self.message.value = f"{html.escape(clip_id)}: back to the automatic decision ({html.escape(record['status'])})"
        return self.by_id[clip_id]

    def set_note(self, clip_id: str, note: str) -> dict[str, Any]:
        """Change the note of a clip decided by hand (stored at once); for other clips it waits for the toggle."""
        record = self.by_id[clip_id]
        if clip_id in self.notes and self.notes[clip_id].value != note:
            self.notes[clip_id].value = note  # its observer comes back here with no change
        if record.get("override") and record["override"].get("note") != note:
            return self.toggle(clip_id, record["override"]["status"], note)
        return record

    def refresh_coverage(self, write: bool = True) -> dict[str, Any]:
        """Recount coverage for the current decisions, redraw it, and (``write``) rewrite coverage.json/png."""
        if write:
            report, png = coverage.write_coverage(self.run, self.records)
            image = png.read_bytes() if png is not None else None
        else:
            report, image = coverage.coverage_report(self.records, self.run.params), coverage.render_png(self.records, self.run.params)
        self.report = report
        self.coverage_image.value = image or b""
        gaps = report["warnings"]
        self.gaps.value = ("<b>Gaps</b><ul>" + "".join(f"<li>{html.escape(g)}</li>" for g in gaps) + "</ul>") if gaps else "<b>No gaps found.</b>"
        return report

    # -- view ------------------------------------------------------------------------------
    def visible(self) -> list[dict[str, Any]]:
        """The records that pass every filter, in manifest order."""
        out = []
        for r in self.records:
            if self.character.value != ALL and r["character"] != self.character.value:
                continue
            if not self._status_passes(r):
                continue
            if self.reason.value != ALL and self.reason.value not in {coverage.reason_code(x) for x in r.get("reasons") or []}:
                continue
            if all(self._range_passes(r, key) for key in self.ranges):
                out.append(r)
        return out

    def _status_passes(self, record: dict[str, Any]) -> bool:
        want = self.status_filter.value
        if want == ALL:
            return True
        if want == "overridden":
            return bool(record.get("override"))
        if want.startswith("auto "):
            return overrides.auto_status(record) == want[5:]
        return record["status"] == want

    def _range_passes(self, record: dict[str, Any], key: str) -> bool:
        slider = self.ranges[key]
        lo, hi = slider.value
        if lo <= slider.min and hi >= slider.max:  # the full range: unmeasured clips stay visible
            return True
        value = _score(record, key)
        return value is not None and lo <= value <= hi

    def _go(self, page: int) -> None:
        visible = self.visible()
        pages = max(1, -(-len(visible) // self.page_size))
        self.page = min(max(0, page), pages - 1)
        shown = visible[self.page * self.page_size:(self.page + 1) * self.page_size]
        self.toggles, self.notes, self.status_labels, self.reset_buttons = {}, {}, {}, {}
        self.cards.children = [self._card(r) for r in shown]
        self.page_label.value = f"page {self.page + 1}/{pages} ({len(visible)} of {len(self.records)} clips)"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1

    def _card(self, record: dict[str, Any]) -> Any:
        import ipywidgets as w

        clip_id = record["id"]
        shown = preview_bytes(self.run, record, self.animated)
        # at most its own size (previews are 128 px high: stretched to the card they blurred ~5x, and a
        # portrait clip made one page thousands of pixels tall)
        preview = (w.Image(value=shown[0], format=shown[1], layout=w.Layout(max_width="100%", max_height=f"{PREVIEW_HEIGHT * 1.5:.0f}px",
                                                                             object_fit="contain")) if shown
                   else w.HTML("<i>no preview (no frame could be read)</i>"))
        title = w.HTML(f"<b>{html.escape(clip_id)}</b><br>{html.escape(record['character'])} · "
                       f"{html.escape(str(record.get('source_kind')))}<br>{scores_html(record)}{reasons_html(record)}")
        label = w.HTML(status_html(record))
        toggle = w.ToggleButtons(options=overrides.STATUSES, value=record["status"], style={"button_width": "80px"})
        note = w.Text(value=(record.get("override") or {}).get("note", ""), placeholder="note (optional)",
                      continuous_update=False, layout=w.Layout(width="100%"))
        reset = w.Button(description="reset to automatic", disabled=not record.get("override"), layout=w.Layout(width="auto"))
        toggle.observe(lambda change, cid=clip_id: self._on_toggle(cid, change["new"]), names="value")
        note.observe(lambda change, cid=clip_id: self._on_note(cid, change["new"]), names="value")
        reset.on_click(lambda _, cid=clip_id: self._guarded(self.reset, cid))
        self.toggles[clip_id], self.notes[clip_id], self.status_labels[clip_id], self.reset_buttons[clip_id] = toggle, note, label, reset
        self.previews[clip_id] = preview
        return w.VBox([preview, title, label, toggle, note, reset],
                      layout=w.Layout(border="1px solid #ddd", padding="4px"))

    def _on_toggle(self, clip_id: str, status: str) -> None:
        if not self._syncing and status != self.by_id[clip_id]["status"]:
            self._guarded(self.toggle, clip_id, status)

    def _on_note(self, clip_id: str, note: str) -> None:
        if not self._syncing:
            self._guarded(self.set_note, clip_id, note)

    def _guarded(self, action: Any, *args: Any) -> None:
        """Run a button's action; a decision that cannot be stored is shown, and the card reverts."""
        try:
            action(*args)
        except (overrides.OverrideError, OSError, ValueError) as exc:
            self.message.value = f'<span style="color:{_COLOURS["rejected"]}">{html.escape(str(exc))}</span>'
            self._sync_card(args[0])

    def _sync_card(self, clip_id: str) -> None:
        """Make a shown card match its record (after a decision, a reset or a refused toggle)."""
        if clip_id not in self.toggles:
            return
        record = self.by_id[clip_id]
        self._syncing = True
        try:
            self.toggles[clip_id].value = record["status"]
            self.notes[clip_id].value = (record.get("override") or {}).get("note", "")
        finally:
            self._syncing = False
        self.status_labels[clip_id].value = status_html(record)
        self.reset_buttons[clip_id].disabled = not record.get("override")
        # accepting a clip curate rejected cuts its clip file: show its moving preview now, not at the next render
        shown = preview_bytes(self.run, record, self.animated)
        preview = self.previews.get(clip_id)
        if shown is not None and preview is not None and hasattr(preview, "format") and preview.value != shown[0]:
            preview.format, preview.value = shown[1], shown[0]

    STATIC_ROWS = 200

    def static_html(self) -> str:
        """Every clip (thumbnail, decision, reasons, key scores) and the coverage figure, as HTML: the
        run's record without a kernel."""
        from ltxbench.ui.record import img

        rows = []
        for r in self.records[:self.STATIC_ROWS]:
            thumb = self.run.path("dataset", r["thumb"]) if r.get("thumb") else None
            picture = img(thumb.read_bytes(), "image/jpeg", width=96, alt=r["id"]) if thumb is not None and thumb.is_file() else ""
            rows.append(f"<tr><td>{picture}</td><td><b>{html.escape(r['id'])}</b><br>{html.escape(r['character'])}</td>"
                        f"<td>{status_html(r)}</td><td>{reasons_html(r)}</td><td>{scores_html(r)}</td></tr>")
        more = (f"<p><i>{len(self.records) - self.STATIC_ROWS} more clips in dataset/manifest.jsonl</i></p>"
                if len(self.records) > self.STATIC_ROWS else "")
        coverage_png = self.run.path("dataset", "coverage.png")
        return (f"<p>{html.escape(repr(self))}</p><table>{''.join(rows)}</table>{more}"
                + (img(coverage_png.read_bytes(), alt="coverage") if coverage_png.is_file() else ""))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from ltxbench.ui.record import bundle

        return bundle(self.widget, self.static_html(), repr(self), **kwargs)

    def __repr__(self) -> str:
        n_acc = sum(1 for r in self.records if r["status"] == "accepted")
        n_hand = sum(1 for r in self.records if r.get("override"))
        return f"CurationGrid({n_acc} of {len(self.records)} clips accepted, {n_hand} by hand; run {self.run.dir})"
