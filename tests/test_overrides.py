"""Manual curation decisions: stored in overrides.json and the manifest, re-applied after curate re-runs."""

from __future__ import annotations

import json
import shutil

import pytest

from ltxbench.curate import overrides, stage
from ltxbench.dataset import manifest
from ltxbench.media import video
from ltxbench.run import atomic, folder

from conftest import curated_photos_run

ACCEPTED = "obama-obama-2-000"  # curate accepts the Obama photo ...
REJECTED = "obama-biden-1-000"  # ... and rejects Biden's as the wrong identity
BROKEN = "obama-corrupt-000"  # an unreadable file: no clip can ever be cut from it
HEAD = f"{ACCEPTED}-head"  # the head crop curate cuts from the accepted photo clip


@pytest.fixture(scope="module")
def curated_dir(tmp_path_factory):
    """One real curate run (photos, tiny settings); tests work on copies of it."""
    return curated_photos_run(tmp_path_factory.mktemp("overrides"), head_crops=True)


@pytest.fixture
def run(curated_dir, tmp_path):
    shutil.copytree(curated_dir, tmp_path / "run")
    return folder.open_run(tmp_path / "run")


def _record(run, clip_id):
    return next(r for r in manifest.load_manifest(run) if r["id"] == clip_id)


def test_the_real_run_has_the_clips_these_tests_overrule(run):
    assert _record(run, ACCEPTED)["status"] == "accepted" and _record(run, ACCEPTED)["media"]
    assert _record(run, REJECTED)["status"] == "rejected" and _record(run, REJECTED)["media"] is None
    assert _record(run, BROKEN)["status"] == "rejected"


def test_set_and_clear_round_trip_through_overrides_json_and_the_manifest(run):
    rec = overrides.set_override(run, ACCEPTED, "rejected", note="eyes closed")
    assert (rec["status"], rec["auto_status"], rec["override"]["status"], rec["override"]["note"]) == (
        "rejected", "accepted", "rejected", "eyes closed")
    on_disk = _record(run, ACCEPTED)
    assert on_disk == rec
    stored = json.loads(run.path(overrides.OVERRIDES).read_text())
    assert stored[ACCEPTED]["status"] == "rejected" and stored[ACCEPTED]["note"] == "eyes closed" and stored[ACCEPTED]["at"]
    others = [r for r in manifest.load_manifest(run) if r["id"] not in (ACCEPTED, HEAD)]
    assert all(r.get("override") is None for r in others)

    back = overrides.clear_override(run, ACCEPTED)
    assert (back["status"], back["override"]) == ("accepted", None)
    assert _record(run, ACCEPTED) == back
    assert overrides.load_overrides(run) == {}


def test_a_head_crop_follows_its_parent_rejected_by_hand(run):
    assert _record(run, HEAD)["status"] == "accepted" and _record(run, HEAD)["parent"] == ACCEPTED
    overrides.set_override(run, ACCEPTED, "rejected", note="not him")
    head = _record(run, HEAD)
    assert (head["status"], head["auto_status"]) == ("rejected", "accepted")
    assert head["override"]["note"] == f"follows {ACCEPTED} (rejected by hand)"
    assert set(overrides.load_overrides(run)) == {ACCEPTED}  # only the decision made is stored
    overrides.set_override(run, HEAD, "accepted", note="the crop alone is fine")  # its own decision wins
    assert _record(run, HEAD)["status"] == "accepted"
    overrides.clear_override(run, HEAD)
    assert _record(run, HEAD)["status"] == "rejected"
    overrides.clear_override(run, ACCEPTED)
    assert (_record(run, HEAD)["status"], _record(run, HEAD)["override"]) == ("accepted", None)


def test_unknown_clip_or_status_is_refused_and_nothing_is_written(run):
    before = run.path(manifest.MANIFEST).read_bytes()
    with pytest.raises(overrides.OverrideError, match="no clip 'obama-nope-000'"):
        overrides.set_override(run, "obama-nope-000", "accepted")
    with pytest.raises(overrides.OverrideError, match="accepted or rejected"):
        overrides.set_override(run, ACCEPTED, "maybe")
    assert run.path(manifest.MANIFEST).read_bytes() == before
    assert not run.path(overrides.OVERRIDES).exists()


def test_accepting_a_rejected_clip_writes_its_clip_file(run):
    rec = overrides.set_override(run, REJECTED, "accepted", note="it is him, in bad light")
    assert rec["status"] == "accepted" and rec["auto_status"] == "rejected" and rec["media"]
    info = video.probe(run.path("dataset", rec["media"]))
    assert (info.num_frames, info.width, info.height) == (rec["num_frames"], rec["width"], rec["height"])


def test_accepting_a_clip_that_has_no_frames_is_refused(run):
    with pytest.raises(overrides.OverrideError, match="clip file could not be written"):
        overrides.set_override(run, BROKEN, "accepted")
    assert _record(run, BROKEN)["status"] == "rejected" and overrides.load_overrides(run) == {}


def test_overrides_survive_rerunning_curate_and_vanished_clips_are_reported(run):
    overrides.set_override(run, ACCEPTED, "rejected", note="blurry to my eye")
    stored = overrides.load_overrides(run)
    stored["obama-gone-000"] = {"status": "accepted", "note": "", "at": folder.now_iso()}
    atomic.atomic_write_json(run.path(overrides.OVERRIDES), stored)

    stage.curate(run)

    rec = _record(run, ACCEPTED)
    assert (rec["status"], rec["auto_status"], rec["override"]["note"]) == ("rejected", "accepted", "blurry to my eye")
    assert _record(run, HEAD)["status"] == "rejected"
    assert "obama-gone-000" in overrides.load_overrides(run)  # kept: the clip may come back
    cov = json.loads(run.path("dataset", "coverage.json").read_text())
    assert any("obama-gone-000" in w for w in cov["warnings"])
    assert cov["characters"]["obama"]["accepted"] == 0 and cov["characters"]["obama"]["overridden"] == 1
    assert cov["characters"]["obama"]["accepted_head_crops"] == 0


def test_records_from_before_auto_status_keep_their_decision(run):
    records = manifest.load_manifest(run)
    for r in records:  # the layout older runs wrote
        r.pop("auto_status", None)
        r.pop("override", None)
    atomic.atomic_write_json(run.path(overrides.OVERRIDES), {ACCEPTED: {"status": "rejected", "note": "", "at": None}})
    out = overrides.apply_overrides(run, records)
    by_id = {r["id"]: r for r in out}
    assert by_id[ACCEPTED]["auto_status"] == "accepted" and by_id[ACCEPTED]["status"] == "rejected"
    assert by_id[REJECTED]["auto_status"] == by_id[REJECTED]["status"] == "rejected"
    assert by_id[REJECTED]["override"] is None


def test_a_broken_overrides_file_is_a_clear_error(run):
    run.path(overrides.OVERRIDES).write_text("{not json")
    with pytest.raises(ValueError, match="overrides.json: not valid JSON"):
        overrides.load_overrides(run)
    run.path(overrides.OVERRIDES).write_text(json.dumps({ACCEPTED: {"status": "maybe"}}))
    with pytest.raises(ValueError, match="needs a status"):
        overrides.load_overrides(run)


def test_an_override_that_cannot_hold_is_recorded_on_the_clip(run):
    """A stored acceptance of a clip that can no longer be cut (its source is unreadable) leaves the
    clip at its automatic status, and the record says why instead of only a log line."""
    atomic.atomic_write_json(run.path("dataset", "overrides.json"),
                           {BROKEN: {"status": "accepted", "note": "", "at": "2026-11-22T00:00:00+00:00"}})
    stage.curate(run)
    record = _record(run, BROKEN)
    assert record["status"] == "rejected" and record["override"]["status"] == "accepted"
    assert record["override"]["not_applied"]
