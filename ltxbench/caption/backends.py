"""Captioner backends behind one interface, chosen by ``caption.backend``.

A captioner has a ``label`` (recorded per clip as ``caption_source``) and
``caption(clips) -> list[Captioned]`` for a batch of ``(record, clip file)``; ``text`` is ``None``
when it has nothing for a clip (the ``empty_caption`` lint then says so).

* ``template``: :mod:`.template`, from the curate scores, no model (the offline default);
* ``vlm``: :mod:`.vlm`, an open vision-language model over sampled frames;
* ``user``: :mod:`.user`, the user's CSV/JSONL/JSON file or sidecar .txt files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ltxbench.caption.template import template_caption
from ltxbench.caption.user import UserCaptions

Clip = tuple[dict[str, Any], Path]


class Captioned(NamedTuple):
    text: str | None
    source: str


class Captioner(Protocol):
    label: str

    def caption(self, clips: Sequence[Clip]) -> list[Captioned]: ...


class TemplateCaptioner:
    label = "template"

    def caption(self, clips: Sequence[Clip]) -> list[Captioned]:
        return [Captioned(template_caption(record), self.label) for record, _ in clips]


class UserCaptioner:
    label = "user"

    def __init__(self, user_file: Path | None, dataset_dir: Path):
        self.captions = UserCaptions(user_file, dataset_dir)

    def caption(self, clips: Sequence[Clip]) -> list[Captioned]:
        out = []
        for record, _ in clips:
            text, where = self.captions.lookup(record)
            out.append(Captioned(text, f"user:{where}" if where else self.label))
        return out


class VLMBackend:
    """Adapter from :class:`.vlm.VLMCaptioner` to the interface; the model loads on construction."""

    def __init__(self, cfg: Any, captioner: Any | None = None):
        from ltxbench.caption.vlm import VLMCaptioner

        self.vlm = captioner or VLMCaptioner.from_settings(cfg)
        self.label = self.vlm.label

    def caption(self, clips: Sequence[Clip]) -> list[Captioned]:
        return [Captioned(t, self.label) for t in self.vlm.caption(clips)]


def backend_label(cfg: Any) -> str:
    """The ``caption_source`` label a backend writes, known before any model loads."""
    return f"vlm:{cfg.vlm.model}" if cfg.backend == "vlm" else cfg.backend


def make_captioner(cfg: Any, dataset_dir: Path) -> Captioner:
    """The captioner ``caption.backend`` names (a ``CaptionSection``)."""
    if cfg.backend == "template":
        return TemplateCaptioner()
    if cfg.backend == "user":
        return UserCaptioner(cfg.user_file, dataset_dir)
    if cfg.backend == "vlm":
        return VLMBackend(cfg.vlm)
    raise ValueError(f"unknown caption.backend {cfg.backend!r}")
