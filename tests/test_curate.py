"""Curate on real footage: clips never span a cut, sizes follow the LTX grid, bad input is recorded, sources untouched."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from ltxbench import caption, curate, runs, video

from conftest import DATA, small_params

REQUIRED = {"id", "character", "source", "source_kind", "start_frame", "num_frames", "fps", "width", "height",
            "media", "status", "reasons", "scores", "caption", "lint"}


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("curate")
    tiny = tmp / "tiny.png"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tiny)
    corrupt = tmp / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    sources = [DATA / "tears_of_steel_10s.mp4", DATA / "obama_2.jpg", DATA / "biden_1.jpg"]
    before = {p: _sha(p) for p in sources}
    params = small_params(tmp, curate={"clip_frames": 25, "resolution": 128, "face_samples": 2})
    raw = json.loads(json.dumps(__import__("yaml").safe_load(params.read_text())))
    raw["dataset"]["characters"][0]["media"] = [str(p) for p in sources] + [str(tiny), str(corrupt)]
    params.write_text(__import__("yaml").safe_dump(raw))
    run = runs.open_run(tmp / "run", params)
    result = curate.curate(run)
    return run, result, before


def test_every_source_frame_range_stays_inside_one_shot(curated):
    run, result, _ = curated
    cuts = video.detect_cuts(DATA / "tears_of_steel_10s.mp4")
    assert cuts == [21, 65, 185]  # the three real cuts of the excerpt
    span = video.source_span(24, 24, 25)
    clips = [r for r in result.records if r["source"].endswith("tears_of_steel_10s.mp4") and r["scores"]]
    assert len(clips) == 1 + 4 + 2  # shots of 44, 120 and 55 frames hold 1, 4 and 2 clips of 25
    for r in clips:
        first, last = r["start_frame"], r["start_frame"] + span - 1
        assert not any(first < c <= last for c in cuts), f"{r['id']} spans a cut"
    short = [r for r in result.records if r["source"].endswith("tears_of_steel_10s.mp4") and not r["scores"]]
    assert len(short) == 1 and "fewer than one clip needs" in short[0]["reasons"][0]  # the 21-frame first shot


def test_records_have_every_field_and_ltx_sizes(curated):
    _, result, _ = curated
    for r in result.records:
        assert REQUIRED <= set(r)
        assert r["status"] in ("accepted", "rejected") and (r["status"] == "accepted") == (not r["reasons"])
        if r["scores"]:
            assert r["num_frames"] % 8 == 1 and r["width"] % 32 == 0 and r["height"] % 32 == 0
            assert min(r["width"], r["height"]) == 128


def test_accepted_clips_are_written_with_their_size_and_length(curated):
    run, result, _ = curated
    accepted = result.accepted
    assert [r["source"].rsplit("/", 1)[1] for r in accepted] == ["obama_2.jpg"]
    info = video.probe(run.path("dataset", accepted[0]["media"]))
    assert (info.num_frames, info.width, info.height) == (25, accepted[0]["width"], accepted[0]["height"])
    assert info.fps == pytest.approx(24)


def test_bad_input_is_rejected_with_its_reason_and_sources_are_untouched(curated):
    _, result, before = curated
    by_name = {r["source"].rsplit("/", 1)[1]: r for r in result.records}
    assert "never upscaled" in by_name["tiny.png"]["reasons"][0]
    assert "unreadable source" in by_name["corrupt.mp4"]["reasons"][0]
    assert "identity mismatch" in by_name["biden_1.jpg"]["reasons"][0]
    assert all(_sha(p) == h for p, h in before.items())


def test_manifest_and_coverage_files(curated):
    run, result, _ = curated
    on_disk = runs.read_jsonl(run.path("dataset", "manifest.jsonl"))
    assert on_disk == result.records
    cov = json.loads(run.path("dataset", "coverage.json").read_text())
    assert cov["characters"]["obama"]["accepted"] == 1
    assert any("photos dominate" in w for w in cov["warnings"])
    assert run.path("dataset", "coverage.png").stat().st_size > 5000
    assert len(result.table()) == len(result.records)


def test_captions_carry_the_trigger_once_and_lint_is_stored(curated):
    run, _, _ = curated
    res = caption.caption(run)
    accepted = [r for r in res.records if r["status"] == "accepted"]
    assert accepted and all(r["caption"].split().count("obmx,") + r["caption"].split().count("obmx") == 1 for r in accepted)
    assert res.errors == []
    assert runs.read_jsonl(run.path("dataset", "manifest.jsonl")) == res.records


def test_trigger_insertion_and_lint():
    assert caption.with_trigger("a wide shot", "obmx", "start") == "obmx, a wide shot"
    assert caption.with_trigger("a wide shot", "obmx", "end") == "a wide shot, obmx"
    assert caption.with_trigger("obmx walks", "obmx", "start") == "obmx walks"
    codes = {x["code"] for x in caption.lint_caption("bdnx walks", "obmx", ["bdnx"])}
    assert codes == {"missing_trigger", "foreign_trigger", "too_short"}
    assert caption.lint_caption("obmx, a medium shot of a person", "obmx", []) == []
