"""Captioning: backends, triggers, lint and export, used by the caption stage (:mod:`ltxbench.caption`).

Importing this package is light (no torch, no transformers): params validation imports
:func:`trigger_problems` and :func:`caption_problems` from here before any model loads.

Modules: :mod:`.triggers` (find, insert, validate), :mod:`.english` (the word list triggers must
avoid), :mod:`.lint` (rules, token counting), :mod:`.template`, :mod:`.user`, :mod:`.vlm` and
:mod:`.tiny_vlm` (the backends, joined in :mod:`.backends`), :mod:`.export`.
"""

from __future__ import annotations

from typing import Any

from ltxbench.params import Problem
from ltxbench.captioning.backends import Captioned, Captioner, backend_label, make_captioner
from ltxbench.captioning.export import ExportResult, export_dataset, write_sidecars
from ltxbench.captioning.lint import (
    DEFAULT_FACE_WORDS,
    RULES,
    LintSettings,
    TokenCounter,
    lint_caption,
    lint_one,
    lint_records,
    token_counter,
)
from ltxbench.captioning.template import framing_of, lighting_of, template_caption
from ltxbench.captioning.triggers import count_trigger, find_trigger, trigger_problems, with_trigger
from ltxbench.captioning.user import UserCaptions
from ltxbench.captioning.vlm import caption_problems


__all__ = [
    "Captioned", "Captioner", "DEFAULT_FACE_WORDS", "ExportResult", "LintSettings", "RULES", "TokenCounter",
    "UserCaptions", "backend_label", "caption_problems", "count_trigger", "export_dataset", "find_trigger",
    "framing_of", "lighting_of", "lint_caption", "lint_one", "lint_records", "make_captioner", "template_caption",
    "token_counter", "trigger_problems", "with_trigger", "write_sidecars",
]
