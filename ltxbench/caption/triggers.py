"""Trigger words: finding them in a caption, inserting them once, and validating them.

A trigger is found as a whole word, case-sensitively: tokenizers are case-sensitive, so ``Obmx``
is not the token sequence the LoRA learned. "Whole word" means not glued to another letter,
digit or underscore, so ``obmx,`` and ``obmx's`` count and ``obmx2`` does not.

Validation (:func:`trigger_problems`) runs with the params validation, before any model loads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal

from ltxbench.caption.english import is_english_word
from ltxbench.errors import Problem

Position = Literal["start", "end"]

_EDGE = re.compile(r"^[^\W_].*[^\W_]$|^[^\W_]$", re.UNICODE)


@lru_cache(maxsize=256)
def _pattern(trigger: str, ignore_case: bool = False) -> re.Pattern[str]:
    flags = re.IGNORECASE if ignore_case else 0
    return re.compile(rf"(?<!\w){re.escape(trigger)}(?!\w)", flags)


def find_trigger(caption: str, trigger: str) -> list[int]:
    """Character offsets where ``trigger`` occurs as a whole word (case-sensitive)."""
    return [m.start() for m in _pattern(trigger).finditer(caption)]


def count_trigger(caption: str, trigger: str) -> int:
    return len(find_trigger(caption, trigger))


def case_variants(caption: str, trigger: str) -> list[str]:
    """Whole-word spellings of ``trigger`` in another case (``Obmx`` for ``obmx``)."""
    return [m.group(0) for m in _pattern(trigger, True).finditer(caption) if m.group(0) != trigger]


def with_trigger(caption: str, trigger: str, position: Position = "start") -> str:
    """``caption`` carrying ``trigger``: unchanged when it is there, else inserted once.

    A case variant (``Obmx``) is corrected in place instead of adding a second trigger. Inserting
    into the result again changes nothing (idempotent). An empty caption becomes the trigger.
    """
    text = caption.strip()
    if find_trigger(text, trigger):
        return text
    if case_variants(text, trigger):
        return _pattern(trigger, True).sub(trigger, text, count=1)
    if not text:
        return trigger
    if position == "start":
        return f"{trigger}, {text}"
    return f"{text.rstrip('. ')}, {trigger}"  # "a wide shot." -> "a wide shot, obmx"


# ---------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------


def _field(prefix: str, i: int) -> str:
    return f"{prefix}.{i}.trigger"


def trigger_problems(characters: Sequence[Any], prefix: str = "dataset.characters") -> list[Problem]:
    """Problems with the characters' triggers, for the params validation.

    ``characters`` are objects with ``.trigger`` (the params' ``CharacterSection``). Exact
    duplicates are left to params' own uniqueness rule; this adds what it cannot see:

    * a trigger must begin and end with a letter or digit (caption punctuation sticks to the ends);
    * two triggers equal but for case (tokenizers keep them apart, people do not);
    * an ordinary English word or common name (:mod:`ltxbench.caption.english`);
    * a trigger inside another trigger (``obm`` in ``obmx``): the encoder sees the shorter in the longer.
    """
    problems: list[Problem] = []
    triggers = [str(getattr(c, "trigger", c)) for c in characters]
    for i, trig in enumerate(triggers):
        if not _EDGE.match(trig):
            problems.append(Problem(_field(prefix, i), trig, "must begin and end with a letter or digit"))
        if is_english_word(trig):
            problems.append(Problem(_field(prefix, i), trig,
                                    "is an ordinary English word (or a common name); the text encoder already gives it a "
                                    "meaning. Use a made-up word such as 'ohwx' or 'zkq7'"))
        for j, other in enumerate(triggers):
            if i == j or trig == other:
                continue
            if trig.lower() == other.lower():
                if i < j:
                    problems.append(Problem(_field(prefix, i), trig,
                                            f"differs from trigger {j} ({other!r}) only in case; triggers must be unique"))
            elif trig.lower() in other.lower():
                problems.append(Problem(_field(prefix, i), trig,
                                        f"is inside another character's trigger {other!r}; captions of one would "
                                        "partly carry the other"))
    return problems
