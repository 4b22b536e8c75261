"""Caption lint: the checks every caption gets, per clip and across the dataset.

Each finding is ``{"level": "error"|"warning", "code": ..., "message": ...}`` and is stored in the
clip's manifest record (``lint``). Errors block the train stage unless
``caption.allow_lint_errors`` is set; warnings do not. Every rule's level can be changed or the
rule switched off with ``caption.lint.levels`` (see :data:`RULES` and docs/captions.md).

Lengths are counted in the text encoder's tokens when its tokenizer can be loaded without a
download (:func:`token_counter`), else in words, and the result says which.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.caption.triggers import case_variants, count_trigger, find_trigger

log = logging.getLogger("ltxbench")

RULES: dict[str, tuple[str, str]] = {
    # code: (default level, what it catches)
    "empty_caption": ("error", "the clip has no caption"),
    "missing_trigger": ("error", "the caption lacks its character's trigger"),
    "foreign_trigger": ("error", "the caption carries another character's trigger"),
    "multiple_triggers": ("error", "more than one trigger occurrence in a single-character clip"),
    "face_words": ("warning", "fixed facial features (eye colour, hair colour, face shape, skin, ...) that the pixels should teach"),
    "too_short": ("warning", "fewer tokens than caption.lint.min_tokens"),
    "too_long": ("warning", "more tokens than caption.lint.max_tokens"),
    "truncated": ("warning", "longer than model.max_sequence_length: the text encoder drops the rest"),
    "trigger_truncated": ("error", "the trigger lies past model.max_sequence_length and is dropped"),
    "near_duplicate": ("warning", "nearly the same words as another caption of the same character"),
    "inconsistent_wording": ("warning", "wording or length far from the other captions of the same character"),
    "control_characters": ("error", "control or invisible format characters (newlines, tabs, zero-width spaces, ...)"),
    "invalid_utf8": ("error", "text that was not valid UTF-8 (replacement characters or lone surrogates)"),
}
LEVELS = ("error", "warning", "off")

_EYE_HAIR_COLOURS = ("blue", "brown", "green", "hazel", "grey", "gray", "amber", "dark", "light", "black", "blonde",
                     "blond", "red", "auburn", "ginger", "white", "silver", "golden", "platinum", "sandy")
_FIXED_FEATURES = (
    "blonde", "blond", "brunette", "redhead", "eye colour", "eye color", "hair colour", "hair color",
    "face shape", "round face", "oval face", "square face", "heart shaped face", "long face", "narrow face",
    "square jaw", "strong jaw", "jawline", "chiseled", "chiselled", "cheekbones", "high cheekbones", "dimples",
    "dimpled", "cleft chin", "double chin", "pointed chin", "thin lips", "full lips", "thick lips",
    "big nose", "small nose", "long nose", "pointed nose", "button nose", "hooked nose", "aquiline nose",
    "broad nose", "thick eyebrows", "bushy eyebrows", "thin eyebrows", "arched eyebrows", "almond eyes",
    "almond shaped eyes", "deep set eyes", "hooded eyes", "skin tone", "skin colour", "skin color", "complexion",
    "pale skin", "fair skin", "dark skin", "light skin", "olive skin", "tanned skin", "smooth skin", "freckles",
    "freckled", "wrinkles", "wrinkled", "crow's feet", "mole", "birthmark", "bald", "balding",
    "receding hairline", "ethnicity", "caucasian",
)
DEFAULT_FACE_WORDS: tuple[str, ...] = tuple(
    [f"{c} eyes" for c in _EYE_HAIR_COLOURS] + [f"{c} eyed" for c in _EYE_HAIR_COLOURS]
    + [f"{c} hair" for c in _EYE_HAIR_COLOURS] + [f"{c} haired" for c in _EYE_HAIR_COLOURS] + list(_FIXED_FEATURES)
)
"""Phrases that describe what stays the same in every clip of a person. Matched case-insensitively
as whole words, hyphens read as spaces (``blue-eyed`` = ``blue eyed``)."""


# ---------------------------------------------------------------------------------------
# Token counting
# ---------------------------------------------------------------------------------------


@dataclass
class TokenCounter:
    """Counts caption length in the text encoder's tokens, or in words when it has no tokenizer."""

    tokenizer: Any | None = None
    note: str = "words (no tokenizer given)"

    @property
    def unit(self) -> str:
        return "tokens" if self.tokenizer is not None else "words"

    def count(self, text: str) -> int:
        """Length of the caption itself (no special tokens)."""
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def sequence_length(self, text: str) -> int:
        """Length the text encoder sees (special tokens included): what max_sequence_length cuts."""
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def position(self, text: str, char_offset: int) -> int:
        """Index, in the encoder's sequence, of the token that holds character ``char_offset``."""
        if self.tokenizer is None:
            return len(text[:char_offset].split())
        enc = self.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
        for i, (start, end) in enumerate(enc["offset_mapping"]):
            if end > start and end > char_offset:
                return i
        return len(enc["input_ids"])


@lru_cache(maxsize=8)
def token_counter(source: str = "tiny", text_encoder: str | None = None) -> TokenCounter:
    """The counter for ``model.source``: the tiny model's local tokenizer, the ``tokenizer/``
    folder of a local diffusers folder or of a cached hub snapshot, or ``model.text_encoder``'s
    when one is set; words when none loads (nothing is downloaded)."""
    if text_encoder is not None:
        try:
            from ltxbench.model import gemma_file

            return TokenCounter(gemma_file.load_tokenizer(text_encoder), f"tokens of the text encoder's tokenizer ({text_encoder})")
        except Exception as exc:  # lint still runs, on words, and says why
            log.warning("caption lint counts words: no tokenizer in model.text_encoder %r (%s)", text_encoder, exc)
            return TokenCounter(None, f"words: no tokenizer could be loaded from model.text_encoder {text_encoder!r}")
    try:
        if source == "tiny-pretrained":  # a saved copy of the same byte-level tokenizer
            from ltxbench.model import tiny_base

            source = str(tiny_base.folder())
        if source == "tiny":
            from ltxbench.model import tiny

            return TokenCounter(tiny.build_tiny_tokenizer(), "tokens of the tiny LTX text encoder (byte-level: one per UTF-8 byte)")
        local = source.startswith(("/", ".", "~"))
        if local and not (Path(source).expanduser() / "tokenizer").is_dir():
            raise FileNotFoundError(f"{source}/tokenizer is not a folder")  # say so without importing transformers
        from transformers import AutoTokenizer

        folder = Path(source).expanduser() / "tokenizer" if local else source
        tok = AutoTokenizer.from_pretrained(folder, local_files_only=True, **({} if local else {"subfolder": "tokenizer"}))
        return TokenCounter(tok, f"tokens of the text encoder's tokenizer ({source}/tokenizer)")
    except Exception as exc:  # absent folder, not cached, broken files: lint still runs, on words
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("caption lint counts words: no tokenizer for model.source %r (%s)", source, reason)
        return TokenCounter(None, f"words: no tokenizer could be loaded for model.source {source!r} ({reason[:120]})")


def model_tokenizer(model: Any) -> tuple[str, str | None]:
    """``token_counter``'s arguments for a params ``model`` section (hashable, for its cache)."""
    return model.source, (str(model.text_encoder) if model.text_encoder is not None else None)


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------


@dataclass
class LintSettings:
    min_tokens: int = 5
    max_tokens: int = 256
    max_sequence_length: int | None = None
    face_words: Sequence[str] = DEFAULT_FACE_WORDS
    duplicate_similarity: float = 0.9
    min_consistency: float = 0.1
    levels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: Any) -> LintSettings:
        """From a ``RunParams`` (``caption.lint`` and ``model.max_sequence_length``)."""
        cfg = params.caption.lint
        words = list(DEFAULT_FACE_WORDS if cfg.face_words is None else cfg.face_words) + list(cfg.face_words_extra)
        return cls(cfg.min_tokens, cfg.max_tokens, params.model.max_sequence_length, tuple(words),
                   cfg.duplicate_similarity, cfg.min_consistency, dict(cfg.levels))

    def level(self, code: str) -> str:
        return self.levels.get(code, RULES[code][0])


def _add(out: list[dict[str, str]], settings: LintSettings, code: str, message: str) -> None:
    level = settings.level(code)
    if level != "off":
        out.append({"level": level, "code": code, "message": message})


@lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in _normalise(phrase).split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)")


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("-", " ").replace("\u2019", "'")).strip()


def face_words_in(caption: str, face_words: Iterable[str]) -> list[str]:
    """The face-feature phrases found in ``caption`` (longest first, no phrase inside another found one)."""
    text = _normalise(caption)
    found: list[str] = []
    for phrase in sorted(set(face_words), key=len, reverse=True):
        if phrase.strip() and _phrase_pattern(phrase).search(text) and not any(_normalise(phrase) in _normalise(f) for f in found):
            found.append(phrase)
    return found


# ---------------------------------------------------------------------------------------
# Per-caption rules
# ---------------------------------------------------------------------------------------


def _text_problems(caption: str, settings: LintSettings, out: list[dict[str, str]]) -> None:
    bad = sorted({f"U+{ord(ch):04X}" for ch in caption if unicodedata.category(ch) in ("Cc", "Cf")})
    if bad:
        _add(out, settings, "control_characters",
             f"control or invisible characters {', '.join(bad[:6])}{' ...' if len(bad) > 6 else ''}; captions are one plain line")
    broken = sum(1 for ch in caption if ch == "\ufffd" or unicodedata.category(ch) == "Cs")
    if broken:
        _add(out, settings, "invalid_utf8",
             f"{broken} character(s) that were not valid UTF-8 (shown as U+FFFD); re-save the caption source as UTF-8")


def lint_caption(caption: str | None, trigger: str, other_triggers: Sequence[str] = (), *,
                 settings: LintSettings | None = None, counter: TokenCounter | None = None) -> list[dict[str, str]]:
    """The checks one caption gets on its own (see :data:`RULES`). ``error`` blocks training."""
    settings = settings or LintSettings()
    counter = counter or TokenCounter()
    out: list[dict[str, str]] = []
    if caption is None or not caption.strip():
        _add(out, settings, "empty_caption", "no caption: write one or rerun the caption stage")
        return out
    own = count_trigger(caption, trigger)
    if own == 0:
        variants = case_variants(caption, trigger)
        hint = f" (found {variants[0]!r}: triggers are case-sensitive)" if variants else ""
        _add(out, settings, "missing_trigger", f"caption lacks the trigger '{trigger}'{hint}")
    foreign = {t: count_trigger(caption, t) for t in other_triggers if t != trigger}
    for other, n in foreign.items():
        if n:
            _add(out, settings, "foreign_trigger", f"caption carries another character's trigger '{other}'")
    total = own + sum(foreign.values())
    if total > 1:
        _add(out, settings, "multiple_triggers", f"{total} trigger occurrences in a single-character clip; keep exactly one '{trigger}'")
    found = face_words_in(caption, settings.face_words)
    if found:
        shown = ", ".join(f"'{w}'" for w in found[:4])
        _add(out, settings, "face_words", f"describes fixed facial features ({shown}); leave identity to the pixels")
    n = counter.count(caption)
    if n < settings.min_tokens:
        _add(out, settings, "too_short", f"only {n} {counter.unit} (caption.lint.min_tokens is {settings.min_tokens})")
    if n > settings.max_tokens:
        _add(out, settings, "too_long", f"{n} {counter.unit} (caption.lint.max_tokens is {settings.max_tokens})")
    limit = settings.max_sequence_length
    if limit is not None and counter.sequence_length(caption) > limit:
        _add(out, settings, "truncated",
             f"{counter.sequence_length(caption)} {counter.unit} with special tokens; the text encoder keeps the first {limit} "
             "(model.max_sequence_length) and drops the rest")
        starts = find_trigger(caption, trigger)
        if starts and all(counter.position(caption, s) >= limit for s in starts):
            _add(out, settings, "trigger_truncated",
                 f"the trigger '{trigger}' lies past model.max_sequence_length ({limit}) and is dropped; move it to the start")
    _text_problems(caption, settings, out)
    return out


# ---------------------------------------------------------------------------------------
# Dataset rules
# ---------------------------------------------------------------------------------------


def _word_sets(captions: Sequence[str], triggers: Iterable[str]) -> list[set[str]]:
    drop = {t.lower() for t in triggers}
    return [{w for w in re.findall(r"[^\W_]+(?:'[^\W_]+)?", c.lower()) if w not in drop} for c in captions]


def similarity_matrix(captions: Sequence[str], triggers: Iterable[str] = ()) -> np.ndarray:
    """Word-set Jaccard similarity between every pair of captions, triggers left out, ``[N,N]``."""
    sets = _word_sets(captions, triggers)
    vocab = {w: i for i, w in enumerate(sorted(set().union(*sets)))} if sets else {}
    m = np.zeros((len(sets), max(1, len(vocab))), dtype=np.float32)
    for i, s in enumerate(sets):
        m[i, [vocab[w] for w in s]] = 1.0
    inter = m @ m.T
    sizes = m.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(union > 0, inter / np.maximum(union, 1e-9), 1.0)
    return sim


def _per_caption(record: dict[str, Any], triggers: Mapping[str, str], settings: LintSettings,
                 counter: TokenCounter) -> list[dict[str, str]]:
    trig = triggers.get(record["character"], "")
    others = [t for c, t in triggers.items() if c != record["character"]]
    return lint_caption(record.get("caption"), trig, others, settings=settings, counter=counter)


def _captioned_groups(records: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r.get("status") == "accepted" and r.get("caption") and r["caption"].strip():
            groups.setdefault(r["character"], []).append(r)
    return groups


def lint_records(records: list[dict[str, Any]], triggers: Mapping[str, str], settings: LintSettings,
                 counter: TokenCounter) -> list[dict[str, Any]]:
    """Set ``lint`` on every accepted record (rejected ones get ``[]``), dataset rules included."""
    for r in records:
        r["lint"] = _per_caption(r, triggers, settings, counter) if r.get("status") == "accepted" else []
    for group in _captioned_groups(records).values():
        for r, found in zip(group, group_findings(group, triggers, settings)):
            r["lint"].extend(found)
    return records


def lint_one(record: dict[str, Any], records: Sequence[dict[str, Any]], triggers: Mapping[str, str],
             settings: LintSettings, counter: TokenCounter) -> list[dict[str, str]]:
    """The lint of one record against the current captions of the others (the editor, as you type)."""
    out = _per_caption(record, triggers, settings, counter)
    group = _captioned_groups(records).get(record["character"], [])
    for r, found in zip(group, group_findings(group, triggers, settings)):
        if r is record:
            out.extend(found)
    return out


def group_findings(group: Sequence[dict[str, Any]], triggers: Mapping[str, str],
                   settings: LintSettings) -> list[list[dict[str, str]]]:
    """Near-duplicate and consistency findings for the captioned clips of one character.

    Near-duplicates are looked for within a character: captions of two characters that differ
    only in the trigger are what makes the trigger the one thing that tells them apart.
    """
    out: list[list[dict[str, str]]] = [[] for _ in group]
    if len(group) < 2:
        return out
    sim = similarity_matrix([r["caption"] for r in group], triggers.values())
    np.fill_diagonal(sim, -1.0)
    for i, r in enumerate(group):
        close = [int(j) for j in np.argsort(-sim[i], kind="stable") if sim[i, j] >= settings.duplicate_similarity]
        if close:
            j = close[0]
            more = f" and {len(close) - 1} more" if len(close) > 1 else ""
            _add(out[i], settings, "near_duplicate",
                 f"nearly the same words as {group[j]['id']}{more} (overlap {sim[i, j]:.2f} >= caption.lint.duplicate_similarity "
                 f"{settings.duplicate_similarity}); say what differs between the clips")
    if len(group) < 3:  # with two captions there is no telling which one is the odd one
        return out
    char = group[0]["character"]
    lengths = np.array([len(r["caption"].split()) for r in group], dtype=float)
    median = float(np.median(lengths))
    np.fill_diagonal(sim, 0.0)
    for i in range(len(group)):
        mean = float(sim[i].sum() / (len(group) - 1))
        ratio = lengths[i] / median if median else 1.0
        if mean < settings.min_consistency:
            _add(out[i], settings, "inconsistent_wording",
                 f"shares little wording with {char}'s other captions (mean overlap {mean:.2f} < caption.lint.min_consistency "
                 f"{settings.min_consistency}); keep one caption style per character")
        elif ratio > 3 or ratio < 1 / 3:
            _add(out[i], settings, "inconsistent_wording",
                 f"{int(lengths[i])} words, {ratio:.1f}x the median length of {char}'s captions; keep captions of one "
                 "character alike in length")
    return out
