"""Caption stage: every accepted clip gets a caption that carries its character's trigger word.

The offline default (``caption.backend: template``) writes the caption from the curate scores:
what varies between clips (framing, lighting, whether it is a still with camera motion), never the
fixed face, which the LoRA must learn from the pixels. The trigger is inserted once, at
``caption.trigger_position``. Lint runs on every caption and is stored per clip (``lint``); an
``error`` blocks the train stage.

Writes the captions and lint back into ``RUN_DIR/dataset/manifest.jsonl`` (atomically).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import params as P
from . import runs
from .curate import MANIFEST, load_manifest
from .runs import Run


@dataclass
class CaptionResult:
    records: list[dict[str, Any]]
    manifest_path: Path

    def table(self):
        import pandas as pd

        rows = [{"id": r["id"], "character": r["character"], "caption": r["caption"],
                 "lint": "; ".join(f"{x['level']}: {x['message']}" for x in r["lint"]) or "ok"}
                for r in self.records if r["status"] == "accepted"]
        return pd.DataFrame(rows)

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(r["id"], x["message"]) for r in self.records for x in r.get("lint", []) if x["level"] == "error"]

    def __repr__(self) -> str:
        n = sum(1 for r in self.records if r["status"] == "accepted")
        return f"CaptionResult({n} captions, {len(self.errors)} lint errors; manifest: {self.manifest_path})"


def framing_of(face_height: float | None) -> str:
    """Framing from the face's share of the frame height (the same cut-offs as the curate docs)."""
    if face_height is None:
        return "wide"
    if face_height >= 0.3:
        return "close-up"
    if face_height >= 0.12:
        return "medium"
    return "wide"


def lighting_of(brightness: float | None) -> str:
    if brightness is None:
        return "natural"
    if brightness < 0.3:
        return "low-key"
    if brightness > 0.6:
        return "bright"
    return "soft"


def template_caption(record: dict[str, Any]) -> str:
    """A caption from the curate scores: describes what varies, never the face."""
    s = record.get("scores") or {}
    framing = framing_of(s.get("face_height"))
    lighting = lighting_of(s.get("brightness"))
    if record["source_kind"] == "image":
        motion = "still photograph with a slow zoom" if record.get("camera_motion") == "zoom" else "still photograph with a slow camera pan"
    else:
        motion = "video footage"
    return f"a {framing} shot of a person, {lighting} lighting, {motion}"


def with_trigger(caption: str, trigger: str, position: str) -> str:
    """Insert the trigger once when missing; never duplicate it."""
    if re.search(rf"(?<!\S){re.escape(trigger)}(?!\S)", caption):
        return caption
    return f"{trigger}, {caption}" if position == "start" else f"{caption}, {trigger}"


def lint_caption(caption: str, trigger: str, other_triggers: list[str]) -> list[dict[str, str]]:
    """The checks every caption gets. ``error`` blocks training; ``warning`` does not."""
    out = []
    words = caption.split()
    if words.count(trigger) == 0 and trigger not in caption:
        out.append({"level": "error", "code": "missing_trigger", "message": f"caption lacks the trigger '{trigger}'"})
    for other in other_triggers:
        if re.search(rf"(?<!\S){re.escape(other)}[,.]?(?!\S)", caption):
            out.append({"level": "error", "code": "foreign_trigger", "message": f"caption carries another character's trigger '{other}'"})
    if len(words) < 4:
        out.append({"level": "warning", "code": "too_short", "message": f"only {len(words)} words"})
    return out


def caption(run: Run) -> CaptionResult:
    """Caption every accepted clip of the manifest and lint the captions."""
    cfg: P.CaptionSection = run.params.caption
    triggers = {c.name: c.trigger for c in run.params.dataset.characters}
    records = load_manifest(run)
    for r in records:
        if r["status"] != "accepted":
            continue
        trigger = triggers[r["character"]]
        text = with_trigger(template_caption(r), trigger, cfg.trigger_position)
        r["caption"] = text
        r["lint"] = lint_caption(text, trigger, [t for n, t in triggers.items() if n != r["character"]])
    path = run.path(MANIFEST)
    runs.write_jsonl(path, records)
    return CaptionResult(records, path)
