"""The caption editor widget: review and fix captions in Jupyter, lint as you type.

Per accepted clip: a preview (four frames across the clip, or its thumbnail), the caption in an
editable text box, and lint badges that update on every keystroke (the clip's own rules plus
near-duplicate and consistency against the current captions of its character). *Save* writes the
edited captions into ``dataset/manifest.jsonl`` (``caption_source: editor``, which reruns of the
caption stage keep) with the lint recomputed; *Export .txt* writes a sidecar ``clips/<id>.txt``
per captioned clip, the layout other trainers read.

Everything works headless: :meth:`CaptionEditor.set_caption`, :meth:`save` and
:meth:`export_sidecars` are what the buttons and text boxes call.
"""

from __future__ import annotations

import html
import io
import logging
from pathlib import Path
from typing import Any

from ltxbench.caption import edits as caption_edits
from ltxbench.caption import stage
from ltxbench.caption.exporting import write_sidecars
from ltxbench.caption.lint import LintSettings, lint_one, model_tokenizer, token_counter
from ltxbench.dataset.manifest import load_manifest, write_manifest
from ltxbench.run.folder import Run

log = logging.getLogger("ltxbench")

_COLOURS = {"error": "#c62828", "warning": "#b26a00", "ok": "#2e7d32"}
FILTERS = ("all", "errors", "warnings or errors")


def badges_html(findings: list[dict[str, str]]) -> str:
    """Lint findings as coloured badges (code in the badge, message beside it)."""
    if not findings:
        return f'<span style="background:{_COLOURS["ok"]};color:white;padding:1px 6px;border-radius:8px">ok</span>'
    items = []
    for x in findings:
        colour = _COLOURS.get(x["level"], "#555")
        items.append(f'<div><span title="{html.escape(x["message"])}" style="background:{colour};color:white;padding:1px 6px;'
                     f'border-radius:8px">{html.escape(x["level"])} · {html.escape(x["code"])}</span> '
                     f'<span style="font-size:90%">{html.escape(x["message"])}</span></div>')
    return "".join(items)


def preview_jpeg(run: Run, record: dict[str, Any], frames: int = 4, height: int = 96) -> bytes | None:
    """A strip of ``frames`` frames spread across the clip, or its thumbnail; ``None`` without either."""
    import numpy as np
    from PIL import Image

    from ltxbench.media import video
    from ltxbench.media.frames import sample_indices

    try:
        if record.get("media"):
            picks = video.read_frames(run.path("dataset", record["media"]), sample_indices(int(record["num_frames"]), frames))
            tiles = [Image.fromarray(f) for f in picks]
            tiles = [t.resize((max(1, round(t.width * height / t.height)), height)) for t in tiles]
            strip = Image.fromarray(np.concatenate([np.asarray(t) for t in tiles], axis=1))
            buf = io.BytesIO()
            strip.save(buf, format="JPEG", quality=85)
            return buf.getvalue()
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("caption editor: no frame preview for %s (%s)", record["id"], exc)
    thumb = run.path("dataset", record["thumb"]) if record.get("thumb") else None
    return thumb.read_bytes() if thumb is not None and thumb.is_file() else None


class CaptionEditor:
    """Edit the captions of a run's accepted clips; display it as the last expression of a cell."""

    def __init__(self, run: Run, page_size: int = 10, show: str = "all"):
        import ipywidgets as w  # lazily: the stages never need a UI library

        self.run = run
        self.page_size = page_size
        self.page = 0
        self.settings = LintSettings.from_params(run.params)
        self.counter = token_counter(*model_tokenizer(run.params.model))
        self.triggers = {c.name: c.trigger for c in run.params.dataset.characters}
        self.edited: set[str] = set()
        self._load()
        self.boxes: dict[str, Any] = {}
        self.badges: dict[str, Any] = {}
        self.filter = w.Dropdown(options=FILTERS, value=show, description="show")
        self.prev_button = w.Button(description="◀ previous")
        self.next_button = w.Button(description="next ▶")
        self.page_label = w.Label()
        self.save_button = w.Button(description="Save to manifest", button_style="primary", icon="save")
        self.export_button = w.Button(description="Export .txt sidecars", icon="file")
        self.status = w.HTML()
        self.rows_box = w.VBox()
        self.filter.observe(lambda _: self._go(0), names="value")
        self.prev_button.on_click(lambda _: self._go(self.page - 1))
        self.next_button.on_click(lambda _: self._go(self.page + 1))
        self.save_button.on_click(lambda _: self.save())
        self.export_button.on_click(lambda _: self.export_sidecars())
        header = w.HTML(f"<b>{len(self.accepted)} accepted clips</b>; lengths in {html.escape(self.counter.note)}. "
                        "Triggers: " + ", ".join(f"{html.escape(n)} → <code>{html.escape(t)}</code>" for n, t in self.triggers.items()))
        nav = w.HBox([self.filter, self.prev_button, self.page_label, self.next_button])
        self.widget = w.VBox([header, nav, self.rows_box, w.HBox([self.save_button, self.export_button]), self.status])
        self._go(0)

    # -- data ------------------------------------------------------------------------------
    def _load(self) -> None:
        self.records = load_manifest(self.run)
        self.by_id = {r["id"]: r for r in self.records}

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") == "accepted"]

    def lint(self, clip_id: str) -> list[dict[str, str]]:
        """The current lint of a clip, as its badges show it."""
        return lint_one(self.by_id[clip_id], self.records, self.triggers, self.settings, self.counter)

    def set_caption(self, clip_id: str, text: str) -> list[dict[str, str]]:
        """Change a caption (what typing in its box does); returns the updated lint."""
        record = self.by_id[clip_id]
        if record.get("caption") != text:
            record["caption"] = text
            self.edited.add(clip_id)
        if clip_id in self.boxes and self.boxes[clip_id].value != text:
            self.boxes[clip_id].value = text  # its observer comes back here with no change
        found = self.lint(clip_id)
        # dataset rules (near-duplicates, wording) involve the other captions too: refresh every row shown
        for other in self.badges:
            self.badges[other].value = badges_html(found if other == clip_id else self.lint(other))
        self.status.value = f"{len(self.edited)} unsaved edit(s)"
        return found

    def save(self) -> Path:
        """Write the edited captions into the manifest, relinted; edits by others to other clips are kept."""
        on_disk = load_manifest(self.run)
        # the edits file first: it outlives re-runs of curate, which rebuild the manifest (caption_edits)
        caption_edits.store(self.run, {cid: self.by_id[cid]["caption"] for cid in self.edited if cid in self.by_id}, on_disk)
        for r in on_disk:
            if r["id"] in self.edited and r["id"] in self.by_id:
                r["caption"] = self.by_id[r["id"]]["caption"]
                r["caption_source"] = stage.EDITOR_SOURCE
        stage.relint(self.run, on_disk)
        path = write_manifest(self.run, on_disk)
        n = len(self.edited)
        self.edited.clear()
        self._load()
        self._go(self.page)
        errors = sum(1 for r in self.records for x in r.get("lint", []) if x["level"] == "error")
        self.status.value = f"saved {n} edit(s) to {html.escape(str(path))}; {errors} lint error(s) in the dataset"
        return path

    def export_sidecars(self) -> list[Path]:
        """Save pending edits, then write ``clips/<id>.txt`` for every captioned accepted clip and
        refresh ``dataset.csv`` / ``dataset.jsonl`` (:func:`ltxbench.caption.export`), so no exported
        file keeps an old caption."""
        if self.edited:
            self.save()
        paths = write_sidecars(self.records, self.run.path("dataset"))
        exported = stage.export(self.run)
        self.status.value = (f"wrote {len(paths)} sidecar .txt file(s) next to the clips in "
                             f"{html.escape(str(self.run.path('dataset', 'clips')))} and refreshed "
                             f"{html.escape(str(exported.csv_path))} ({exported.clips} clips)")
        return paths

    # -- view ------------------------------------------------------------------------------
    def _visible(self) -> list[dict[str, Any]]:
        keep = {"all": (), "errors": ("error",), "warnings or errors": ("error", "warning")}[self.filter.value]
        recs = self.accepted
        if keep:
            recs = [r for r in recs if any(x["level"] in keep for x in self.lint(r["id"]))]
        return recs

    def _go(self, page: int) -> None:
        visible = self._visible()
        pages = max(1, -(-len(visible) // self.page_size))
        self.page = min(max(0, page), pages - 1)
        shown = visible[self.page * self.page_size:(self.page + 1) * self.page_size]
        self.boxes, self.badges = {}, {}
        self.rows_box.children = [self._row(r) for r in shown]
        self.page_label.value = f"page {self.page + 1}/{pages} ({len(visible)} clips)"
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= pages - 1

    def _row(self, record: dict[str, Any]) -> Any:
        import ipywidgets as w

        clip_id = record["id"]
        jpeg = preview_jpeg(self.run, record)
        preview = w.Image(value=jpeg, format="jpeg", layout=w.Layout(max_width="420px")) if jpeg else w.HTML("<i>no preview</i>")
        box = w.Textarea(value=record.get("caption") or "", continuous_update=True,
                         layout=w.Layout(width="100%", height="64px"))
        badges = w.HTML(badges_html(self.lint(clip_id)))
        box.observe(lambda change, cid=clip_id: self.set_caption(cid, change["new"]), names="value")
        self.boxes[clip_id], self.badges[clip_id] = box, badges
        title = w.HTML(f"<b>{html.escape(clip_id)}</b> · {html.escape(record['character'])} "
                       f"(<code>{html.escape(self.triggers.get(record['character'], ''))}</code>) · "
                       f"{html.escape(str(record.get('caption_source') or 'no caption yet'))}")
        return w.HBox([preview, w.VBox([title, box, badges], layout=w.Layout(width="100%"))],
                      layout=w.Layout(border="1px solid #ddd", padding="4px", margin="2px 0"))

    def static_html(self) -> str:
        """Every accepted clip's caption, where it came from and its lint, as HTML: the run's record
        without a kernel."""
        rows = [f"<tr><td><b>{html.escape(r['id'])}</b></td><td>{html.escape(r.get('caption') or '')}</td>"
                f"<td>{html.escape(str(r.get('caption_source') or ''))}</td><td>{badges_html(self.lint(r['id']))}</td></tr>"
                for r in self.accepted]
        return (f"<p>{html.escape(repr(self))}</p><table><tr><th>clip</th><th>caption</th><th>source</th><th>lint</th></tr>"
                f"{''.join(rows)}</table>")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        from ltxbench.ui.record import bundle

        return bundle(self.widget, self.static_html(), repr(self), **kwargs)

    def __repr__(self) -> str:
        return f"CaptionEditor({len(self.accepted)} clips, {len(self.edited)} unsaved edit(s); run {self.run.dir})"
