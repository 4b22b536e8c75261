"""What a curated dataset covers per character, and what is missing, in plain words.

:func:`coverage_report` counts the accepted clips of every character along the axes a character
LoRA must generalise over (head angle, expression, lighting, framing, source kind, background) and
names the gaps a person can act on ("no profile shots", "one expression only (neutral)", ...).
:func:`plot_coverage` draws the same counts, one row per character. :func:`write_coverage` writes
both into ``dataset/coverage.json`` and ``dataset/coverage.png`` (curate calls it last, the
curation grid after every manual decision).

Scores can be null (not measurable, or a manifest from before a score existed): such clips are
counted as ``unknown`` and never produce a gap on their own.

Gap thresholds (constants below, documented in runs/README.md):

* ``MIN_ACCEPTED_CLIPS`` = 10: "fewer than 10 clips"; character LoRAs are usually trained on
  10-50 clips, and with fewer the LoRA tends to reproduce the few clips it saw;
* ``MAX_PHOTO_SHARE`` = 0.5: more than half of the accepted clips are photos ("photos dominate");
  a photo clip is a still with a synthetic pan, so LTX learns no motion of the character from it;
* ``MIN_BACKGROUNDS`` = 3: fewer distinct backgrounds than this (checked once there are that many
  clips with a background key): the LoRA learns the background as part of the character;
  two ``background_key`` colour layouts are one background when their cells differ by at most
  ``BACKGROUND_MAX_LEVEL_DIFF`` = 1.5 of 16 levels on average (on tests/data/tears_of_steel_10s.mp4,
  clips of one shot differ by 0.7-1.1, clips of different shots by 1.9 or more);
* head angle, expression, framing, lighting: a bin with no accepted clip, or a single value for
  every clip, is named once at least one clip has the score measured;
* voice: ``accepted_own_voice`` counts accepted clips whose speech is the character's own
  (``voice_similarity`` >= 0.5, one speaker) and usable (``audio_usable``); null when no clip has a
  voice score (no reference voices, or no speech); 0 is a gap;
* style: accepted clips of both photoreal footage and stylised animation ("style mix", see
  :mod:`ltxbench.curate.scores.style`): a character LoRA trained on both blends the two looks.
"""

from __future__ import annotations

import io
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from ltxbench.dataset.reasons import CODES
from ltxbench.run.folder import Run

log = logging.getLogger("ltxbench")

MIN_ACCEPTED_CLIPS = 10
MAX_PHOTO_SHARE = 0.5
MIN_BACKGROUNDS = 3
BACKGROUND_MAX_LEVEL_DIFF = 1.5
UNKNOWN = "unknown"

# The categorical scores the report counts, in display order, with the words gaps use.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "yaw_bin": ("front", "three_quarter", "profile"),
    "expression": ("neutral", "smiling", "talking"),
    "lighting": ("dark", "normal", "bright"),
    "framing": ("close_up", "medium", "wide"),
    "style": ("photoreal", "stylised"),
}
TITLES = {"yaw_bin": "head angle", "expression": "expression", "lighting": "lighting", "framing": "framing",
          "style": "style", "source_kind": "source kind"}
_YAW_GAP = {"front": "no frontal shots", "three_quarter": "no three-quarter views", "profile": "no profile shots"}
_FRAMING_WORDS = {"close_up": "close-ups", "medium": "medium shots", "wide": "wide shots"}

# Manifests written before reasons were codes hold sentences; these prefixes map them to codes.
_LEGACY_REASONS = (
    ("unreadable source", "unreadable"), ("source too small", "low_resolution"), ("shot ", "too_short"),
    ("no face found", "no_face"), ("face too small", "face_too_small"), ("identity mismatch", "wrong_identity"),
    ("the character is in only", "character_absent"),
)


def reason_code(reason: str) -> str:
    """A reason's machine code; sentences of older manifests are mapped, anything else is ``other``."""
    if reason in CODES:
        return reason
    for prefix, code in _LEGACY_REASONS:
        if reason.startswith(prefix):
            return code
    return "other"


def _scores(record: dict[str, Any]) -> dict[str, Any]:
    return record.get("scores") or {}


def category(record: dict[str, Any], key: str) -> str:
    """A record's value of a categorical score or ``source_kind``; ``unknown`` when null or missing."""
    value = record.get(key) if key == "source_kind" else _scores(record).get(key)
    return value if isinstance(value, str) and value else UNKNOWN


def background_distance(a: str, b: str) -> float | None:
    """Mean absolute difference of two ``background_key`` layouts, in quantisation levels (0..15)
    per colour cell (see :mod:`ltxbench.curate.scores.duplicates`); ``None`` when not comparable."""
    if len(a) != len(b) or not a:
        return None
    try:
        return sum(abs(int(x, 16) - int(y, 16)) for x, y in zip(a, b)) / len(a)
    except ValueError:
        return None


def background_groups(keys: list[str]) -> int:
    """Distinct backgrounds among ``background_key`` layouts: greedy grouping, a key joins the first
    group whose first key is within ``BACKGROUND_MAX_LEVEL_DIFF``; keys that cannot be compared
    (other length, not hex) only join an equal key."""
    reps: list[str] = []
    for key in keys:
        for rep in reps:
            distance = background_distance(rep, key)
            if rep == key or (distance is not None and distance <= BACKGROUND_MAX_LEVEL_DIFF):
                break
        else:
            reps.append(key)
    return len(reps)


def _counts(records: list[dict[str, Any]], key: str, order: tuple[str, ...]) -> dict[str, int]:
    found = Counter(category(r, key) for r in records)
    out = {name: found.pop(name, 0) for name in order}
    out.update(sorted((k, v) for k, v in found.items() if k != UNKNOWN))  # values this module does not know yet
    out[UNKNOWN] = found.get(UNKNOWN, 0)
    return out


def character_coverage(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts and gaps of one character's records (accepted and rejected).

    Head crops (``variant: head``) are cut from clips already counted, so they add no coverage:
    they are counted apart (``accepted_head_crops``) and left out of every other number.
    """
    heads = [r for r in records if r.get("variant") == "head"]
    records = [r for r in records if r.get("variant") != "head"]
    acc = [r for r in records if r.get("status") == "accepted"]
    kinds = Counter(r.get("source_kind", UNKNOWN) for r in acc)
    reasons = Counter(reason_code(x) for r in records if r.get("status") == "rejected" for x in r.get("reasons") or [])
    sims = [_scores(r)["identity_similarity"] for r in acc if isinstance(_scores(r).get("identity_similarity"), (int, float))]
    keys = [_scores(r)["background_key"] for r in acc if isinstance(_scores(r).get("background_key"), str)]
    out: dict[str, Any] = {
        "clips": len(records), "accepted": len(acc), "rejected": len(records) - len(acc),
        "accepted_by_kind": dict(kinds), "rejected_by_reason": dict(reasons.most_common()),
        "accepted_seconds": round(sum(r["num_frames"] / r["fps"] for r in acc if r.get("fps")), 2),
        "mean_identity_similarity": round(sum(sims) / len(sims), 4) if sims else None,
        "overridden": sum(1 for r in records if r.get("override")),
        "accepted_head_crops": sum(1 for r in heads if r.get("status") == "accepted"),
    }
    for key, order in CATEGORIES.items():
        out[f"accepted_by_{key}"] = _counts(acc, key, order)
    voiced = [r for r in acc if isinstance(_scores(r).get("voice_similarity"), (int, float))]
    # the guides: speech is worth training on only when it is clean and the character's own
    out["accepted_own_voice"] = sum(1 for r in voiced if _scores(r)["voice_similarity"] >= 0.5
                                    and not _scores(r).get("several_speakers") and _scores(r).get("audio_usable")) if voiced else None
    out["background_groups"] = background_groups(keys) if keys else None
    out["background_unknown"] = len(acc) - len(keys)
    out["gaps"] = gaps(out)
    return out


def gaps(cov: dict[str, Any]) -> list[str]:
    """Plain-words gaps of one character's counts (see the module docstring for the thresholds)."""
    n = cov["accepted"]
    if n == 0:
        return ["no accepted clips (training cannot learn this character)"]
    out = []
    if n < MIN_ACCEPTED_CLIPS:
        out.append(f"fewer than {MIN_ACCEPTED_CLIPS} clips ({n} accepted)")
    photos = cov["accepted_by_kind"].get("image", 0)
    if photos / n > MAX_PHOTO_SHARE:
        out.append(f"photos dominate: {round(100 * photos / n)}% of clips are photos ({photos} of {n}; "
                   "LTX learns the character's motion only from video)")
    yaw = _known(cov["accepted_by_yaw_bin"])
    if yaw:
        out.extend(_YAW_GAP[b] for b in CATEGORIES["yaw_bin"] if yaw.get(b, 0) == 0)
    expr = _known(cov["accepted_by_expression"])
    present = [k for k, v in expr.items() if v]
    if len(present) == 1:
        out.append(f"one expression only ({present[0]})")
    elif expr and expr.get("talking", 0) == 0:
        out.append("no talking clips")
    light = [k for k, v in _known(cov["accepted_by_lighting"]).items() if v]
    if len(light) == 1 and light[0] != "normal":
        out.append(f"only {light[0]} lighting")
    framing = [k for k, v in _known(cov["accepted_by_framing"]).items() if v]
    if len(framing) == 1:
        out.append(f"all clips are {_FRAMING_WORDS.get(framing[0], framing[0])}")
    if cov.get("accepted_own_voice") == 0:
        out.append("no clip with the character's own clean voice (an audio LoRA cannot learn the voice)")
    styles = _known(cov["accepted_by_style"])
    if styles.get("photoreal") and styles.get("stylised"):
        out.append(f"style mix: {styles['photoreal']} photoreal and {styles['stylised']} stylised (animation) clips; "
                   "a LoRA trained on both blends the looks: keep one style, or caption the style in every clip")
    groups, with_key = cov["background_groups"], n - cov["background_unknown"]
    if groups is not None and with_key >= MIN_BACKGROUNDS and groups < MIN_BACKGROUNDS:
        out.append(f"one background only ({with_key} clips)" if groups == 1
                   else f"only {groups} backgrounds across {with_key} clips")
    return out


def _known(counts: dict[str, int]) -> dict[str, int]:
    """The measured part of a count dict; empty when nothing was measured."""
    known = {k: v for k, v in counts.items() if k != UNKNOWN}
    return known if sum(known.values()) else {}


def _characters(records: list[dict[str, Any]], params: Any | None) -> list[str]:
    names = [c.name for c in params.dataset.characters] if params is not None else []
    return names + sorted({r["character"] for r in records} - set(names))


def coverage_report(records: list[dict[str, Any]], params: Any | None = None) -> dict[str, Any]:
    """Per character counts and gaps; ``warnings`` repeats every gap as ``"<character>: <gap>"``.

    ``params`` (a :class:`~ltxbench.params.RunParams`) gives the characters and their order, so a
    character with no clips at all is reported too; without it the characters in ``records`` are.
    """
    report: dict[str, Any] = {"characters": {}, "warnings": [], "thresholds": {
        "min_accepted_clips": MIN_ACCEPTED_CLIPS, "max_photo_share": MAX_PHOTO_SHARE,
        "min_backgrounds": MIN_BACKGROUNDS, "background_max_level_diff": BACKGROUND_MAX_LEVEL_DIFF}}
    for name in _characters(records, params):
        cov = character_coverage([r for r in records if r["character"] == name])
        report["characters"][name] = cov
        report["warnings"].extend(f"{name}: {gap}" for gap in cov["gaps"])
    return report


# ---------------------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------------------

_COLUMNS = ("yaw_bin", "expression", "lighting", "framing", "style", "source_kind", "reasons")
_GREEN, _GREY, _RED, _GAP = "#2e7d32", "#9e9e9e", "#c62828", "#c62828"


def coverage_figure(records: list[dict[str, Any]], params: Any | None = None) -> Any:
    """The coverage figure: one row per character, a bar chart per axis, the gaps written under it."""
    from matplotlib.figure import Figure

    report = coverage_report(records, params)
    names = list(report["characters"])
    fig = Figure(figsize=(17, 3.4 * len(names)), layout="constrained")
    rows = fig.subfigures(len(names), 1, squeeze=False)[:, 0]
    for row, name in zip(rows, names):
        cov = report["characters"][name]
        sim = cov["mean_identity_similarity"]
        row.suptitle(f"{name}: {cov['accepted']} of {cov['clips']} clips accepted, {cov['accepted_seconds']:g} s"
                     + (f", mean identity similarity {sim:.2f}" if sim is not None else "")
                     + (f", {cov['overridden']} decided by hand" if cov["overridden"] else ""),
                     fontsize=12, fontweight="bold", x=0.01, ha="left")
        gap_text = "Gaps: " + "; ".join(cov["gaps"]) if cov["gaps"] else "No gaps found."
        row.supxlabel(gap_text, fontsize=10.5, color=_GAP if cov["gaps"] else _GREEN, x=0.01, ha="left", wrap=True)
        axes = row.subplots(1, len(_COLUMNS))
        for ax, column in zip(axes, _COLUMNS):
            if column == "reasons":
                _reasons_panel(ax, cov["rejected_by_reason"])
            elif column == "source_kind":
                counts = {"video": cov["accepted_by_kind"].get("video", 0), "image": cov["accepted_by_kind"].get("image", 0)}
                _bars(ax, counts, TITLES[column])
            else:
                _bars(ax, cov[f"accepted_by_{column}"], TITLES[column])
    return fig


def _bars(ax: Any, counts: dict[str, int], title: str) -> None:
    measured = any(v for k, v in counts.items() if k != UNKNOWN)
    if not counts.get(UNKNOWN):
        counts = {k: v for k, v in counts.items() if k != UNKNOWN}
    labels = [k.replace("_", "\n") if k != "three_quarter" else "3/4" for k in counts]
    values = list(counts.values())
    colours = [_GREY if k == UNKNOWN else _GREEN for k in counts]
    x = range(len(values))
    ax.bar(x, values, color=colours)
    ax.set_xticks(list(x), labels, fontsize=9)
    top = max(values + [1])
    ax.set_ylim(0, top * 1.25)
    for i, v in zip(x, values):  # a measured zero is a gap: write it in red so an empty slot is not missed
        gap = v == 0 and measured
        ax.text(i, v + top * 0.03, str(v), ha="center", va="bottom", fontsize=9,
                color=_RED if gap else "black", fontweight="bold" if gap else "normal")
    ax.set_title(f"{title} (accepted)" if measured else f"{title} (not measured)", fontsize=10)
    ax.tick_params(axis="y", labelsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)


def _reasons_panel(ax: Any, reasons: dict[str, int]) -> None:
    ax.set_title("why clips were rejected", fontsize=10)
    if not reasons:
        ax.text(0.5, 0.5, "none rejected", ha="center", va="center", transform=ax.transAxes, fontsize=10)
        ax.set_axis_off()
        return
    items = list(reasons.items())[:8]
    y = range(len(items))
    ax.barh(list(y), [v for _, v in items], color=_RED, alpha=0.75)
    ax.set_yticks(list(y), [k.replace("_", " ") for k, _ in items], fontsize=9)
    ax.invert_yaxis()
    ax.tick_params(axis="x", labelsize=8)
    ax.xaxis.get_major_locator().set_params(integer=True)


def render_png(records: list[dict[str, Any]], params: Any | None = None) -> bytes | None:
    """The coverage figure as PNG bytes (what the curation grid shows); ``None`` without records."""
    if not records:
        return None
    buf = io.BytesIO()
    coverage_figure(records, params).savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def plot_coverage(records: list[dict[str, Any]], out: Path, params: Any | None = None) -> Path | None:
    """Write the coverage figure to ``out`` (atomically); ``None`` and nothing written without records."""
    from ltxbench.run import atomic

    if not records:
        return None
    fig = coverage_figure(records, params)
    with atomic.atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    return Path(out)


def write_coverage(run: Run, records: list[dict[str, Any]]) -> tuple[dict[str, Any], Path | None]:
    """Write ``dataset/coverage.json`` and ``coverage.png`` for ``records``; returns (report, png path).

    Problems with stored manual overrides (clips that no longer exist, overrides not in effect) are
    added to ``warnings`` and listed under ``overrides``.
    """
    from ltxbench.curate import overrides
    from ltxbench.run import atomic

    report = coverage_report(records, run.params)
    stored = overrides.load_overrides(run)
    problems = overrides.problems(stored, records)
    report["overrides"] = {"stored": len(stored), "problems": problems}
    report["warnings"].extend(problems)
    atomic.atomic_write_json(run.path("dataset", "coverage.json"), report)
    png = plot_coverage(records, run.path("dataset", "coverage.png"), run.params)
    if png is None:
        run.path("dataset", "coverage.png").unlink(missing_ok=True)  # no stale figure of an earlier dataset
    return report, png
