"""Coverage report: counts per axis from real curate records, gaps in plain words, null scores tolerated."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import yaml
from PIL import Image

from ltxbench.curate import coverage, stage
from ltxbench.run import folder

from conftest import DATA, small_params

OLD_KEYS = {"clips", "accepted", "rejected", "accepted_by_kind", "rejected_by_reason", "accepted_seconds",
            "mean_identity_similarity"}


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """A real curate run: two Obama photos accepted, Biden's rejected."""
    tmp = tmp_path_factory.mktemp("coverage")
    params = small_params(tmp)
    raw = yaml.safe_load(params.read_text())
    raw["dataset"]["characters"][0]["media"] = [str(DATA / n) for n in ("obama_2.jpg", "obama_3.jpg", "biden_1.jpg")]
    params.write_text(yaml.safe_dump(raw))
    run = folder.open_run(tmp / "run", params)
    return run, stage.curate(run).records


def _accepted(curated):
    return next(r for r in curated[1] if r["status"] == "accepted")


def _variants(base, n, **categorical):
    """``n`` copies of a real accepted record; only the named categorical fields differ (a counting test)."""
    out = []
    for i in range(n):
        r = copy.deepcopy(base)
        r["id"] = f"{base['id']}-v{i}"
        for key, values in categorical.items():
            value = values[i % len(values)] if isinstance(values, list) else values
            if key == "source_kind":
                r["source_kind"] = value
            else:
                r["scores"][key] = value
        out.append(r)
    return out


def test_report_of_a_real_run_keeps_the_old_keys_and_names_its_gaps(curated):
    run, records = curated
    report, png = coverage.write_coverage(run, records)
    obama = report["characters"]["obama"]
    assert OLD_KEYS <= set(obama)
    assert (obama["clips"], obama["accepted"], obama["rejected"]) == (3, 2, 1)
    assert obama["accepted_by_kind"] == {"image": 2}
    assert obama["rejected_by_reason"] == {"wrong_identity": 1}
    assert 0.5 < obama["mean_identity_similarity"] <= 1.0
    assert "fewer than 10 clips (2 accepted)" in obama["gaps"]
    assert any(g.startswith("photos dominate: 100% of clips are photos") for g in obama["gaps"])
    assert report["warnings"][:len(obama["gaps"])] == [f"obama: {g}" for g in obama["gaps"]]
    assert json.loads(run.path("dataset", "coverage.json").read_text()) == json.loads(json.dumps(report))
    with Image.open(png) as im:
        assert im.width > 1000 and im.height > 250


def test_one_expression_no_profile_close_ups_only_and_dark_only_are_named(curated):
    records = _variants(_accepted(curated), 12, source_kind="video", expression="neutral", yaw_bin=["front", "three_quarter"],
                        framing="close_up", lighting="dark", background_key=["0" * 16, "f" * 16, "00ff00ff00ff00ff"])
    cov = coverage.coverage_report(records)["characters"]["obama"]
    assert cov["accepted_by_expression"] == {"neutral": 12, "smiling": 0, "talking": 0, "unknown": 0}
    assert cov["accepted_by_yaw_bin"] == {"front": 6, "three_quarter": 6, "profile": 0, "unknown": 0}
    assert cov["gaps"] == ["no profile shots", "one expression only (neutral)", "only dark lighting", "all clips are close-ups"]
    assert cov["background_groups"] == 3


def test_photo_share_and_missing_bins(curated):
    records = _variants(_accepted(curated), 10, source_kind=["image"] * 4 + ["video"], expression=["neutral", "smiling"],
                        yaw_bin=["profile"], framing=["close_up", "wide"], lighting=["normal"])
    gaps = coverage.coverage_report(records)["characters"]["obama"]["gaps"]
    assert gaps[0].startswith("photos dominate: 80% of clips are photos (8 of 10")
    assert "no frontal shots" in gaps and "no three-quarter views" in gaps and "no talking clips" in gaps
    assert not any("lighting" in g or "all clips are" in g or "fewer than" in g for g in gaps)


def test_a_mix_of_photoreal_and_animated_clips_is_a_gap_and_one_style_is_not(curated):
    mixed = _variants(_accepted(curated), 12, source_kind="video", style=["photoreal"] * 3 + ["stylised"])
    cov = coverage.coverage_report(mixed)["characters"]["obama"]
    assert cov["accepted_by_style"] == {"photoreal": 9, "stylised": 3, "unknown": 0}
    assert any(g.startswith("style mix: 9 photoreal and 3 stylised (animation) clips") for g in cov["gaps"])
    for one in ("photoreal", "stylised"):
        same = _variants(_accepted(curated), 12, source_kind="video", style=one)
        assert not any("style mix" in g for g in coverage.coverage_report(same)["characters"]["obama"]["gaps"])
    old = _variants(_accepted(curated), 12, source_kind="video", style=[None, "stylised"])  # older manifests: unknown
    assert not any("style mix" in g for g in coverage.coverage_report(old)["characters"]["obama"]["gaps"])


def test_no_accepted_clips_and_a_character_without_clips(curated):
    run, records = curated
    rejected = [dict(r, status="rejected") for r in records]
    report = coverage.coverage_report(rejected, run.params)
    assert report["characters"]["obama"]["gaps"] == ["no accepted clips (training cannot learn this character)"]
    assert coverage.coverage_report([], run.params)["characters"]["obama"]["clips"] == 0
    assert coverage.plot_coverage([], run.path("dataset", "nothing.png")) is None


def test_null_and_missing_scores_count_as_unknown_and_never_crash(curated, tmp_path):
    base = _accepted(curated)
    records = _variants(base, 3, expression=[None, "smiling", None], yaw_bin=None, identity_similarity=None,
                        background_key=None)
    no_scores = dict(copy.deepcopy(base), id="x-none", scores=None)
    empty = dict(copy.deepcopy(base), id="x-empty", scores={}, status="rejected", reasons=["no_face"])
    report = coverage.coverage_report(records + [no_scores, empty])
    cov = report["characters"]["obama"]
    assert cov["accepted_by_expression"] == {"neutral": 0, "smiling": 1, "talking": 0, "unknown": 3}
    assert cov["accepted_by_yaw_bin"]["unknown"] == 4 and cov["background_groups"] is None
    assert not set(coverage._YAW_GAP.values()) & set(cov["gaps"])  # an unmeasured angle is no gap
    assert coverage.plot_coverage(records + [no_scores, empty], tmp_path / "c.png").stat().st_size > 10_000


def test_reason_codes_and_legacy_sentences():
    assert coverage.reason_code("blurry") == "blurry"
    assert coverage.reason_code("identity mismatch: median distance 0.884 > curate.identity_threshold 0.6") == "wrong_identity"
    assert coverage.reason_code("shot 0-21 has 21 frames, fewer than one clip needs (25 at 24 fps)") == "too_short"
    assert coverage.reason_code("source too small: short side 40 px") == "low_resolution"
    assert coverage.reason_code("something new") == "other"


def test_background_grouping_by_colour_layout_distance():
    base = "8" * 48
    near = "9" * 24 + "8" * 24  # half the cells one level brighter: the same background
    assert coverage.background_distance(base, near) == 0.5
    assert coverage.background_groups([base, near, "0" * 48]) == 2
    assert coverage.background_groups(["abc", "abc", "not-hex"]) == 2
    assert coverage.background_distance("ab", "abc") is None


def test_figure_has_a_row_per_character_and_writes_the_gaps(curated, tmp_path):
    base = _accepted(curated)
    other = [dict(r, character="biden") for r in _variants(base, 2, expression="talking")]
    fig = coverage.coverage_figure([base] + other)
    assert len(fig.subfigs) == 2
    texts = [t.get_text() for sub in fig.subfigs for t in sub.texts]
    assert any("one expression only (talking)" in t for t in texts)
    arr = np.asarray(Image.open(coverage.plot_coverage([base] + other, tmp_path / "two.png")))
    assert arr.shape[0] > 500


def test_background_groups_follow_the_shots_of_real_footage():
    from ltxbench.curate.scores import duplicates
    from ltxbench.media import video

    # tears_of_steel_10s.mp4 cuts at 21, 65 and 185: frames 90 and 150 are one shot, 40 and 190 two others
    frames = video.read_frames(DATA / "tears_of_steel_10s.mp4", [40, 90, 150, 190])
    keys = [duplicates.background_key(f, None) for f in frames]
    assert coverage.background_distance(keys[1], keys[2]) <= coverage.BACKGROUND_MAX_LEVEL_DIFF
    assert coverage.background_groups(keys) == 3
