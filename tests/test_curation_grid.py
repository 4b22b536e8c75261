"""The curation grid, driven headless: filters, previews, toggles that write back, coverage that follows."""

from __future__ import annotations

import json
import shutil

import pytest

from ltxbench.curate import overrides
from ltxbench.dataset import manifest
from ltxbench.run import folder
from ltxbench.ui.curation_grid import CurationGrid

from conftest import curated_photos_run

OBAMA = "obama-obama-2-000"
BIDEN = "obama-biden-1-000"
BROKEN = "obama-corrupt-000"


@pytest.fixture(scope="module")
def curated_dir(tmp_path_factory):
    return curated_photos_run(tmp_path_factory.mktemp("grid"))


@pytest.fixture
def run(curated_dir, tmp_path):
    shutil.copytree(curated_dir, tmp_path / "run")
    return folder.open_run(tmp_path / "run")


def _on_disk(run, clip_id):
    return next(r for r in manifest.load_manifest(run) if r["id"] == clip_id)


def test_every_clip_gets_a_card_with_a_preview_and_filters_narrow_them(run):
    grid = CurationGrid(run, page_size=10)
    assert set(grid.toggles) == {OBAMA, BIDEN, BROKEN}
    previews = {cid: card.children[0] for cid, card in zip(grid.toggles, grid.cards.children)}
    assert previews[OBAMA].format == "gif" and run.path("dataset", "previews", f"{OBAMA}.gif").is_file()
    assert previews[BIDEN].format == "jpeg"  # rejected: no clip file, its thumbnail
    assert "no preview" in previews[BROKEN].value
    assert grid.coverage_image.value[:4] == b"\x89PNG" and "photos dominate" in grid.gaps.value

    grid.status_filter.value = "rejected"
    assert set(grid.toggles) == {BIDEN, BROKEN}
    grid.reason.value = "wrong_identity"
    assert set(grid.toggles) == {BIDEN}
    grid.reason.value = grid.status_filter.value = "all"
    grid.ranges["identity_similarity"].value = (0.5, 1.0)  # Biden's face is far from Obama's references
    assert set(grid.toggles) == {OBAMA}
    grid.ranges["identity_similarity"].value = (0.0, 1.0)
    grid.character.value = "obama"
    assert len(grid.visible()) == 3


def test_paging(run):
    grid = CurationGrid(run, page_size=2, animated=False)
    assert "page 1/2" in grid.page_label.value and len(grid.toggles) == 2 and grid.prev_button.disabled
    grid.next_button.click()
    assert "page 2/2" in grid.page_label.value and list(grid.toggles) == [BROKEN] and grid.next_button.disabled


def test_a_toggle_writes_back_and_coverage_follows(run):
    grid = CurationGrid(run, animated=False)
    assert grid.report["characters"]["obama"]["accepted"] == 1
    grid.notes[OBAMA].value = "not him, a look-alike"  # a note waits for the decision
    assert overrides.load_overrides(run) == {}
    grid.toggles[OBAMA].value = "rejected"
    rec = _on_disk(run, OBAMA)
    assert (rec["status"], rec["auto_status"], rec["override"]["note"]) == ("rejected", "accepted", "not him, a look-alike")
    assert overrides.load_overrides(run)[OBAMA]["status"] == "rejected"
    cov = json.loads(run.path("dataset", "coverage.json").read_text())
    assert cov["characters"]["obama"]["accepted"] == 0 and grid.report["characters"]["obama"]["accepted"] == 0
    assert "no accepted clips" in grid.gaps.value
    assert "by hand" in grid.status_labels[OBAMA].value and not grid.reset_buttons[OBAMA].disabled

    grid.notes[OBAMA].value = "look-alike, checked twice"  # a note on a decided clip is stored at once
    assert overrides.load_overrides(run)[OBAMA]["note"] == "look-alike, checked twice"

    grid.reset_buttons[OBAMA].click()
    rec = _on_disk(run, OBAMA)
    assert (rec["status"], rec["override"]) == ("accepted", None) and overrides.load_overrides(run) == {}
    assert grid.toggles[OBAMA].value == "accepted" and grid.reset_buttons[OBAMA].disabled
    assert grid.report["characters"]["obama"]["accepted"] == 1


def test_accepting_a_rejected_clip_from_the_grid_writes_its_clip(run):
    grid = CurationGrid(run, animated=False)
    rec = grid.toggle(BIDEN, "accepted", note="checked by hand")
    assert rec["media"] and run.path("dataset", rec["media"]).is_file()
    assert _on_disk(run, BIDEN)["status"] == "accepted" and grid.report["characters"]["obama"]["accepted"] == 2

    grid.toggles[BROKEN].value = "accepted"  # no clip can be cut from an unreadable file
    assert "could not be written" in grid.message.value
    assert grid.toggles[BROKEN].value == "rejected" and _on_disk(run, BROKEN)["status"] == "rejected"


def test_the_grid_and_the_caption_editor_leave_static_copies_for_the_record(run, monkeypatch):
    from ltxbench.caption import stage as caption
    from ltxbench.ui.caption_editor import CaptionEditor

    monkeypatch.setenv("LTXBENCH_RECORD", "1")  # as while the pipeline executes 01 and 02
    grid = CurationGrid(run)._repr_mimebundle_()
    assert set(grid) == {"text/html", "text/plain"}
    assert grid["text/html"].count("<tr>") == len(CurationGrid(run).records) and "data:image/jpeg;base64" in grid["text/html"]
    assert grid["text/plain"].startswith("CurationGrid(")
    caption.caption(run)
    editor = CaptionEditor(run)._repr_mimebundle_()
    assert set(editor) == {"text/html", "text/plain"} and "obmx" in editor["text/html"]


def test_a_clip_accepted_by_hand_shows_its_moving_preview_at_once(run):
    grid = CurationGrid(run, animated=True)
    assert grid.previews[BIDEN].format == "jpeg"  # rejected by curate: no clip file, so its thumbnail
    grid.toggle(BIDEN, "accepted")
    assert grid.previews[BIDEN].format == "gif" and grid.previews[BIDEN].value[:6] == b"GIF89a"
