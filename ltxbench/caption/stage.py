"""Caption stage: every accepted clip gets a caption that carries its character's trigger word.

The trigger is how the LoRA binds identity, so every caption of a character's clip carries that
character's trigger, once, at ``caption.trigger_position``; captions describe what varies
(scene, action, expression, camera, lighting), never the fixed face, which the LoRA must learn
from the pixels. The captions come from ``caption.backend`` (:mod:`ltxbench.caption.backends`):

* ``template`` (offline default): from the curate scores, no model;
* ``vlm``: an open vision-language model reading sampled frames (``caption.vlm``);
* ``user``: the user's CSV/JSONL file or sidecar .txt files.

Clips are captioned in batches of ``caption.batch_size`` with a progress bar, and the manifest is
saved as batches finish, so an interrupted run resumes: clips whose caption came from the editor,
or from the same VLM, are kept unless ``caption.force``. Lint then runs on every caption
(:mod:`ltxbench.caption.lint`) and is stored per clip (``lint``); an ``error`` blocks the train
stage unless ``caption.allow_lint_errors``.

Writes ``caption``, ``caption_source`` and ``lint`` into ``RUN_DIR/dataset/manifest.jsonl``
(atomically). :func:`export` writes the dataset for other trainers; the editor widget is
:class:`ltxbench.ui.CaptionEditor` (this module never imports the UI).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltxbench.caption import edits as caption_edits
from ltxbench.caption.backends import backend_label, make_captioner
from ltxbench.caption.exporting import ExportResult, export_dataset
from ltxbench.caption.lint import LintSettings, lint_caption, lint_records, model_tokenizer, token_counter
from ltxbench.caption.template import framing_of, lighting_of, template_caption
from ltxbench.caption.triggers import trigger_problems, with_trigger
from ltxbench.dataset.manifest import MANIFEST, load_manifest, write_manifest
from ltxbench.errors import ParamsError
from ltxbench.params import schema
from ltxbench.run.folder import Run
from ltxbench.util import progress

log = logging.getLogger("ltxbench")

__all__ = ["CaptionResult", "caption", "export", "framing_of", "lighting_of", "lint_caption", "relint",
           "template_caption", "with_trigger"]

EDITOR_SOURCE = caption_edits.EDITOR_SOURCE
"""``caption_source`` of captions saved from the editor widget: kept by reruns unless forced."""

CHECKPOINT_SECONDS = 20.0
"""The manifest is saved at most this often while captioning (and at the end), so a VLM run that
is interrupted loses at most this much work."""


@dataclass
class CaptionResult:
    records: list[dict[str, Any]]
    manifest_path: Path
    backend: str = "template"
    captioned: int = 0
    kept: int = 0
    length_unit: str = ""

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "accepted"]

    def table(self):
        """One row per accepted clip: the caption, where it came from, and its lint in short."""
        import pandas as pd

        rows = [{"id": r["id"], "character": r["character"], "caption": r.get("caption"),
                 "source": r.get("caption_source"),
                 "errors": sum(1 for x in r.get("lint", []) if x["level"] == "error"),
                 "warnings": sum(1 for x in r.get("lint", []) if x["level"] == "warning"),
                 "lint": "; ".join(f"{x['level']} {x['code']}: {x['message']}" for x in r.get("lint", [])) or "ok"}
                for r in self.accepted]
        return pd.DataFrame(rows, columns=["id", "character", "caption", "source", "errors", "warnings", "lint"])

    def lint_table(self):
        """One row per lint finding, errors first."""
        import pandas as pd

        rows = [{"id": r["id"], "character": r["character"], "level": x["level"], "code": x["code"], "message": x["message"]}
                for r in self.accepted for x in r.get("lint", [])]
        df = pd.DataFrame(rows, columns=["id", "character", "level", "code", "message"])
        return df.sort_values(["level", "id"], kind="stable").reset_index(drop=True)

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(r["id"], x["message"]) for r in self.records for x in r.get("lint", []) if x["level"] == "error"]

    @property
    def warnings(self) -> list[tuple[str, str]]:
        return [(r["id"], x["message"]) for r in self.records for x in r.get("lint", []) if x["level"] == "warning"]

    def __repr__(self) -> str:
        return (f"CaptionResult({len(self.accepted)} captions by {self.backend} ({self.captioned} written, {self.kept} kept), "
                f"{len(self.errors)} lint errors, {len(self.warnings)} warnings; lengths in {self.length_unit}; "
                f"manifest: {self.manifest_path})")


def _check_triggers(params: schema.RunParams) -> dict[str, str]:
    problems = trigger_problems(params.dataset.characters)
    if problems:  # the params hook normally refuses these earlier; never caption with a bad trigger
        raise ParamsError(problems, "dataset.characters")
    return {c.name: c.trigger for c in params.dataset.characters}


def needs_caption(record: dict[str, Any], label: str, force: bool) -> bool:
    """Whether the stage (re)captions this clip (see ``caption.force``)."""
    if record.get("status") != "accepted":
        return False
    if force or not record.get("caption"):
        return True
    source = record.get("caption_source")
    if source == EDITOR_SOURCE:
        return False
    return not (label.startswith("vlm:") and source == label)


def relint(run: Run, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute ``lint`` on every record with this run's settings (the editor calls it too)."""
    triggers = {c.name: c.trigger for c in run.params.dataset.characters}
    return lint_records(records, triggers, LintSettings.from_params(run.params), token_counter(*model_tokenizer(run.params.model)))


def caption(run: Run, force: bool | None = None) -> CaptionResult:
    """Caption the accepted clips of the manifest, insert triggers, lint, save (module docstring)."""
    cfg = run.params.caption
    force = cfg.force if force is None else force
    triggers = _check_triggers(run.params)
    records = load_manifest(run)
    path = run.path(MANIFEST)
    label = backend_label(cfg)
    todo = [r for r in records if needs_caption(r, label, force)]
    kept = sum(1 for r in records if r.get("status") == "accepted") - len(todo)
    replaced = [r["id"] for r in todo if r.get("caption_source") == EDITOR_SOURCE]  # only with caption.force
    if todo:
        captioner = make_captioner(cfg, run.path("dataset"))
        last_save = time.monotonic()
        batches = [todo[i:i + cfg.batch_size] for i in range(0, len(todo), cfg.batch_size)]
        for batch in progress.bar(batches, desc=f"caption ({label})", unit="batch"):
            results = captioner.caption([(r, run.path("dataset", r["media"])) for r in batch])
            for r, out in zip(batch, results):
                text = out.text.strip() if out.text is not None else None  # sidecars end in a newline
                if text is not None and cfg.insert_trigger:
                    text = with_trigger(text, triggers[r["character"]], cfg.trigger_position)
                r["caption"], r["caption_source"] = text, out.source
            if time.monotonic() - last_save > CHECKPOINT_SECONDS:
                write_manifest(run, records)
                last_save = time.monotonic()
    relint(run, records)
    write_manifest(run, records)
    if replaced and caption_edits.forget(run, replaced):
        log.warning("caption: caption.force replaced %d hand-written caption(s) (%s); they are dropped from %s",
                    len(replaced), ", ".join(replaced[:5]), caption_edits.EDITS)
    unit = token_counter(*model_tokenizer(run.params.model)).note
    log.info("caption: %d written, %d kept; lengths in %s", len(todo), kept, unit)
    return CaptionResult(records, path, label, len(todo), kept, unit)


def export(run: Run, out_dir: str | Path | None = None) -> ExportResult:
    """The accepted, captioned clips as ``dataset.csv`` / ``dataset.jsonl`` (caption, media_path) and
    sidecar .txt files, in ``RUN_DIR/dataset/`` or ``out_dir`` (clips copied there); see
    :mod:`ltxbench.caption.exporting`."""
    records = load_manifest(run)
    return export_dataset(records, run.path("dataset"), Path(out_dir) if out_dir is not None else None,
                          allow_lint_errors=run.params.caption.allow_lint_errors)
