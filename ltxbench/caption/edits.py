"""Captions a person wrote, kept through every re-run of curate and caption.

The caption editor (:class:`ltxbench.ui.CaptionEditor`) stores each saved caption in
``dataset/caption_edits.json`` before it updates the manifest::

    {"<clip id>": {"caption": "...", "at": "<UTC ISO time>", "source": "<source>", "start_frame": 0, "variant": "full"}}

Curate rebuilds the manifest from scratch, so, as for manual accept/reject decisions
(:mod:`ltxbench.curate.overrides`), this file is the source of truth: curate calls :func:`restore`, which

1. carries over the caption (``caption``, ``caption_source``, ``lint``) of every clip that is the
   same clip as before (same id, source, start frame, length and variant): re-curating never
   empties the captions of clips it did not change, whoever wrote them;
2. puts every stored hand-written caption back (``caption_source: editor``), which the caption
   stage then keeps. An edit whose clip is gone or was cut differently (a source removed, another
   clip length) stays in the file, because the clip may come back, and is reported as a warning.

Only ``caption.force`` replaces a hand-written caption, and then :func:`forget` drops the edits it
replaced from the file (and says how many), so a later curate does not bring back text the person
asked to replace.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ltxbench.run import atomic, folder
from ltxbench.run.folder import Run
from ltxbench.run.layout import CAPTION_EDITS

log = logging.getLogger("ltxbench")

EDITS = CAPTION_EDITS
EDITOR_SOURCE = "editor"
_SAME_CLIP = ("source", "start_frame", "num_frames", "variant")


def load(run: Run) -> dict[str, dict[str, Any]]:
    """The stored hand-written captions by clip id; ``{}`` when none were saved."""
    path = run.path(EDITS)
    data = atomic.read_json_object(path, "every hand-written caption")
    if data is None:
        return {}
    if not all(isinstance(e, dict) and isinstance(e.get("caption"), str) for e in data.values()):
        raise ValueError(f"{path}: expected {{clip id: {{caption: text, ...}}}}; fix it, or delete it to drop every "
                         "hand-written caption")
    return data


def store(run: Run, captions: dict[str, str], records: list[dict[str, Any]]) -> Path:
    """Add (or replace) the hand-written ``captions`` {clip id: text}; ``records`` (the manifest)
    say which clip each id is, so a clip cut differently later is recognised."""
    by_id = {r["id"]: r for r in records}
    data = load(run)
    now = folder.now_iso()
    for clip_id, text in captions.items():
        record = by_id.get(clip_id, {})
        data[clip_id] = {"caption": text, "at": now, **{k: record.get(k) for k in _SAME_CLIP}}
    return atomic.atomic_write_json(run.path(EDITS), dict(sorted(data.items())))


def forget(run: Run, clip_ids: list[str]) -> int:
    """Drop the stored edits of ``clip_ids`` (replaced by ``caption.force``); returns how many."""
    data = load(run)
    gone = [c for c in clip_ids if c in data]
    if gone:
        for clip_id in gone:
            del data[clip_id]
        atomic.atomic_write_json(run.path(EDITS), dict(sorted(data.items())))
    return len(gone)


def _same_clip(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in _SAME_CLIP)


def restore(run: Run, records: list[dict[str, Any]], previous: list[dict[str, Any]]) -> list[str]:
    """Carry captions over from ``previous`` (the manifest before this curate run) and put the
    stored hand-written ones back into ``records`` (in place); returns warnings for stored edits
    that found no clip."""
    before = {r["id"]: r for r in previous}
    for record in records:
        old = before.get(record["id"])
        if old is not None and old.get("caption") and _same_clip(old, record):
            record["caption"] = old["caption"]
            record["caption_source"] = old.get("caption_source")
            record["lint"] = old.get("lint", [])
    by_id = {r["id"]: r for r in records}
    warnings = []
    for clip_id, edit in load(run).items():
        record = by_id.get(clip_id)
        if record is None:
            warnings.append(f"hand-written caption of {clip_id} kept in {EDITS}, but no such clip now")
        elif not _same_clip(edit, record):
            warnings.append(f"hand-written caption of {clip_id} kept in {EDITS}, but the clip is now cut differently "
                            f"(source, start frame, length or variant changed): not applied")
        else:
            record["caption"], record["caption_source"] = edit["caption"], EDITOR_SOURCE
    for w in warnings:
        log.warning("curate: %s", w)
    return warnings
