"""Manual accept/reject decisions that outlive re-runs of the curate stage.

The curate stage decides every clip automatically (``auto_status``). A person may disagree: the
curation grid (:mod:`ltxbench.ui.curation_grid`) calls :func:`set_override`, which stores the
decision in ``dataset/overrides.json``::

    {"<clip id>": {"status": "accepted" | "rejected", "note": "why", "at": "<UTC ISO time>"}}

and updates the clip's manifest record (``status`` = the override, ``override`` = that object,
``auto_status`` untouched). ``overrides.json`` is the source of truth: curate re-scores every clip
from scratch and then calls :func:`apply_overrides`, which puts every stored decision back. An
override whose clip id no longer exists (a source removed, clip length changed) is kept in the
file, because the clip may come back, and reported as a warning instead of failing the stage.

Both files are written atomically, the overrides file first: a crash between the two writes
leaves a manifest that the next :func:`apply_overrides` (every curate run) brings in line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ltxbench.dataset.manifest import MANIFEST, load_manifest, write_manifest
from ltxbench.run import atomic, folder
from ltxbench.run.folder import Run
from ltxbench.run.layout import OVERRIDES

log = logging.getLogger("ltxbench")

STATUSES = ("accepted", "rejected")


class OverrideError(ValueError):
    """An override that cannot be stored: unknown clip, bad status, or no clip file can be made."""


def load_overrides(run: Run) -> dict[str, dict[str, Any]]:
    """The stored overrides by clip id; ``{}`` when none were ever set."""
    path = run.path(OVERRIDES)
    data = atomic.read_json_object(path, "every manual decision")
    if data is None:
        return {}
    for clip_id, entry in data.items():
        if not isinstance(entry, dict) or entry.get("status") not in STATUSES:
            raise ValueError(f"{path}: override of {clip_id!r} needs a status of {' or '.join(STATUSES)}, found {entry!r}")
    return data


def _write_overrides(run: Run, data: dict[str, dict[str, Any]]) -> Path:
    return atomic.atomic_write_json(run.path(OVERRIDES), dict(sorted(data.items())))


def auto_status(record: dict[str, Any]) -> str:
    """The machine's decision; a record from before overrides existed has only ``status``."""
    return record.get("auto_status") or record["status"]


def _ensure_clip(run: Run, record: dict[str, Any]) -> None:
    """An accepted clip needs its clip file: cut it from the source when curate did not."""
    if record.get("media") and run.path("dataset", record["media"]).is_file():
        return
    from ltxbench.curate import render  # lazily: curate imports this module

    try:
        record["media"] = render.write_clip(run, record)
    except (OSError, ValueError, RuntimeError) as exc:
        raise OverrideError(f"{record['id']}: cannot accept it, its clip file could not be written ({exc})") from exc
    record["media_audio"] = render.clip_audio(record)


def effective(stored: dict[str, dict[str, Any]], records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The override in force per clip id: the stored ones, plus, for a derived clip (a head crop,
    ``parent`` set) without its own, a rejection of its parent, so a clip rejected by hand does
    not stay in training through its head crop."""
    out = {cid: entry for cid, entry in stored.items()}
    for record in records:
        parent = stored.get(record.get("parent") or "")
        if record["id"] not in stored and parent is not None and parent["status"] == "rejected":
            out[record["id"]] = {"status": "rejected", "note": f"follows {record['parent']} (rejected by hand)",
                                 "at": parent.get("at")}
    return out


def _apply_all(run: Run, records: list[dict[str, Any]], stored: dict[str, dict[str, Any]]) -> None:
    """Apply the overrides in force to every record; one that cannot be applied is logged, not raised."""
    in_force = effective(stored, records)
    for record in records:
        try:
            _apply_one(run, record, in_force.get(record["id"]))
        except OverrideError as exc:
            log.warning("override not applied: %s", exc)
            record["status"] = record["auto_status"]
            # recorded on the clip too, so the grid and the manifest say why the decision did not hold
            record["override"] = {**in_force[record["id"]], "not_applied": str(exc)}


def _apply_one(run: Run, record: dict[str, Any], override: dict[str, Any] | None) -> None:
    record["auto_status"] = auto_status(record)
    if override is None:
        record["status"], record["override"] = record["auto_status"], None
        return
    if override["status"] == "accepted":
        _ensure_clip(run, record)
    record["status"] = override["status"]
    record["override"] = {"status": override["status"], "note": override.get("note", ""), "at": override.get("at")}


def set_override(run: Run, clip_id: str, status: str, note: str = "") -> dict[str, Any]:
    """Store a manual decision for one clip and apply it to the manifest; returns the updated record.

    Accepting a clip curate rejected writes its clip file first (``curate.write_clip``); when that
    is impossible (e.g. an unreadable source) nothing is stored and :class:`OverrideError` says why.
    """
    if status not in STATUSES:
        raise OverrideError(f"override status must be {' or '.join(STATUSES)}, not {status!r}")
    records = load_manifest(run)
    by_id = {r["id"]: r for r in records}
    if clip_id not in by_id:
        raise OverrideError(f"no clip {clip_id!r} in {run.path(MANIFEST)}")
    entry = {"status": status, "note": str(note), "at": folder.now_iso()}
    _apply_one(run, by_id[clip_id], entry)  # may write the clip file; raises before anything is stored
    stored = load_overrides(run)
    stored[clip_id] = entry
    _write_overrides(run, stored)
    _apply_all(run, records, stored)  # its head crops follow a rejection
    write_manifest(run, records)
    return by_id[clip_id]


def clear_override(run: Run, clip_id: str) -> dict[str, Any]:
    """Forget the manual decision for one clip: its status goes back to ``auto_status``."""
    records = load_manifest(run)
    by_id = {r["id"]: r for r in records}
    stored = load_overrides(run)
    if clip_id not in by_id and clip_id not in stored:
        raise OverrideError(f"no clip {clip_id!r} in {run.path(MANIFEST)} and no override stored for it")
    if stored.pop(clip_id, None) is not None:
        _write_overrides(run, stored)
    if clip_id not in by_id:  # an override of a vanished clip: removing it from the file is all there is
        return {"id": clip_id, "override": None}
    _apply_all(run, records, stored)
    write_manifest(run, records)
    return by_id[clip_id]


def apply_overrides(run: Run, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Re-apply every stored override to freshly scored ``records`` (changed in place and returned).

    Every record gets ``auto_status`` (the machine decision) and ``override`` (null or the stored
    decision); ``status`` follows the override when there is one, and a head crop follows its
    parent's rejection (:func:`effective`). Overrides naming clips that are
    not in ``records`` stay in the file and are logged; see :func:`problems`. An accepted override
    whose clip file cannot be written leaves the clip at its automatic status, with a warning.
    """
    stored = load_overrides(run)
    _apply_all(run, records, stored)
    for message in problems(stored, records):
        log.warning("%s", message)
    return records


def problems(stored: dict[str, dict[str, Any]], records: list[dict[str, Any]]) -> list[str]:
    """Plain-words warnings about stored overrides: clips that no longer exist, overrides not in effect."""
    ids = {r["id"]: r for r in records}
    out = []
    missing = sorted(set(stored) - set(ids))
    if missing:
        out.append(f"{len(missing)} manual override(s) name clips this curate run did not produce "
                   f"(kept in {OVERRIDES} in case they come back): {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
    for clip_id, entry in sorted(stored.items()):
        record = ids.get(clip_id)
        if record is not None and record.get("status") != entry["status"]:
            out.append(f"{clip_id}: manual override to {entry['status']} is not in effect (its clip file could not be written)")
    return out
