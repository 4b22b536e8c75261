"""Curate on real footage: clips never span a cut, sizes follow the LTX grid, bad input is recorded, sources untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import pytest
import yaml
from PIL import Image

from ltxbench.caption import stage as caption
from ltxbench.curate import candidates, overrides, render, shots, stage
from ltxbench.dataset.reasons import CODES as REASON_CODES
from ltxbench.media import frames, video
from ltxbench.params import schema
from ltxbench.run import atomic
from ltxbench.run import folder as run_folder
from ltxbench.train import data

from conftest import DATA, small_params

REQUIRED = {"id", "character", "found_in", "source", "source_kind", "source_fps", "source_num_frames", "start_frame",
            "num_frames", "fps", "width", "height", "parent", "variant", "media", "media_audio", "thumb", "camera_motion",
            "auto_status", "status", "override", "reasons", "reason_details", "scores", "caption", "lint"}
SCORES = {"frames_sampled", "face_rate", "match_rate", "face_height", "identity_backend", "identity_distance", "identity_similarity",
          "face_box", "yaw_deg", "yaw_bin", "smile", "mouth_motion", "expression", "brightness", "contrast",
          "color_temp_k", "lighting", "flat_share", "flat_noise", "style", "framing", "sharpness", "motion_blur", "blockiness", "dup_key", "dup_group",
          "background_key", "audio_present", "speech_ratio", "loudness_lufs", "audio_flag", "audio_usable"}


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
    params = small_params(tmp, curate={"clip_frames": 25, "resolution": 128, "face_samples": 2, "head_crops": True})
    raw = json.loads(json.dumps(__import__("yaml").safe_load(params.read_text())))
    raw["dataset"]["characters"][0]["media"] = [str(p) for p in sources] + [str(tiny), str(corrupt)]
    params.write_text(__import__("yaml").safe_dump(raw))
    run = run_folder.open_run(tmp / "run", params)
    result = stage.curate(run)
    return run, result, before


def test_every_source_frame_range_stays_inside_one_shot(curated):
    run, result, _ = curated
    cuts = shots.content_cuts(DATA / "tears_of_steel_10s.mp4")
    assert cuts == [21, 65, 185]  # the three real cuts of the excerpt
    span = frames.source_span(24, 24, 25)
    clips = [r for r in result.records if r["source"].endswith("tears_of_steel_10s.mp4") and r["scores"] and r["variant"] == "full"]
    assert len(clips) == 1 + 4 + 2  # shots of 44, 120 and 55 frames hold 1, 4 and 2 clips of 25
    for r in clips:
        first, last = r["start_frame"], r["start_frame"] + span - 1
        assert not any(first < c <= last for c in cuts), f"{r['id']} spans a cut"
    short = [r for r in result.records if r["source"].endswith("tears_of_steel_10s.mp4") and not r["scores"]]
    assert len(short) == 1 and short[0]["reasons"] == ["too_short"]  # the 21-frame first shot
    assert "21 source frames" in short[0]["reason_details"][0] and "curate.clip_frames 25" in short[0]["reason_details"][0]


def test_records_have_every_field_and_ltx_sizes(curated):
    _, result, _ = curated
    for r in result.records:
        assert REQUIRED <= set(r)
        assert r["status"] in ("accepted", "rejected") and (r["status"] == "accepted") == (not r["reasons"])
        assert r["status"] == r["auto_status"] and r["override"] is None
        assert len(r["reasons"]) == len(r["reason_details"]) and set(r["reasons"]) <= set(REASON_CODES)
        if r["scores"]:
            assert set(r["scores"]) == SCORES
            assert r["scores"]["identity_backend"] == "dlib"  # the default backend
            assert r["num_frames"] % 8 == 1 and r["width"] % 32 == 0 and r["height"] % 32 == 0
            assert min(r["width"], r["height"]) == 128


def test_accepted_clips_are_written_with_their_size_and_length(curated):
    run, result, _ = curated
    accepted = [r for r in result.accepted if r["variant"] == "full"]
    assert [r["source"].rsplit("/", 1)[1] for r in accepted] == ["obama_2.jpg"]
    info = video.probe(run.path("dataset", accepted[0]["media"]))
    assert (info.num_frames, info.width, info.height) == (25, accepted[0]["width"], accepted[0]["height"])
    assert info.fps == pytest.approx(24)
    assert accepted[0]["media_audio"] is None and accepted[0]["scores"]["audio_present"] is False


def test_bad_input_is_rejected_with_its_reason_and_sources_are_untouched(curated):
    _, result, before = curated
    by_name = {r["source"].rsplit("/", 1)[1]: r for r in result.records}
    assert by_name["tiny.png"]["reasons"] == ["low_resolution"] and "never upscaled" in by_name["tiny.png"]["reason_details"][0]
    assert by_name["corrupt.mp4"]["reasons"] == ["unreadable"] and "corrupt.mp4" in by_name["corrupt.mp4"]["reason_details"][0]
    assert by_name["biden_1.jpg"]["reasons"] == ["wrong_identity"]
    assert all(_sha(p) == h for p, h in before.items())


def test_manifest_and_coverage_files(curated):
    run, result, _ = curated
    on_disk = atomic.read_jsonl(run.path("dataset", "manifest.jsonl"))
    assert on_disk == result.records
    assert json.loads(run.path("dataset", "coverage.json").read_text())["characters"]["obama"]
    assert run.path("dataset", "coverage.png").stat().st_size > 5000
    assert len(result.table()) == len(result.records)


def test_captions_carry_the_trigger_once_and_lint_is_stored(curated):
    run, _, _ = curated
    res = caption.caption(run)
    accepted = [r for r in res.records if r["status"] == "accepted"]
    assert accepted and all(r["caption"].split().count("obmx,") + r["caption"].split().count("obmx") == 1 for r in accepted)
    assert res.errors == []
    assert atomic.read_jsonl(run.path("dataset", "manifest.jsonl")) == res.records


def test_trigger_insertion_and_lint():
    assert caption.with_trigger("a wide shot", "obmx", "start") == "obmx, a wide shot"
    assert caption.with_trigger("a wide shot", "obmx", "end") == "a wide shot, obmx"
    assert caption.with_trigger("obmx walks", "obmx", "start") == "obmx walks"
    codes = {x["code"] for x in caption.lint_caption("bdnx walks", "obmx", ["bdnx"])}
    assert codes == {"missing_trigger", "foreign_trigger", "too_short"}
    assert caption.lint_caption("obmx, a medium shot of a person", "obmx", []) == []


def test_head_crop_clip_is_square_from_its_parent_and_never_upscaled(curated):
    run, result, _ = curated
    head = next(r for r in result.records if r["variant"] == "head")
    parent = next(r for r in result.records if r["id"] == head["parent"])
    assert head["id"] == f"{parent['id']}-head" and head["status"] == "accepted" and parent["variant"] == "full"
    info = video.probe(run.path("dataset", head["media"]))
    assert (info.width, info.height, info.num_frames) == (128, 128, 25) == (head["width"], head["height"], 25)
    x0, y0, x1, y1 = head["crop"]["box"]
    fx0, fy0, fx1, fy1 = parent["scores"]["face_box"]
    assert x0 <= fx0 and y0 <= fy0 and x1 >= fx1 and y1 >= fy1  # the face lies inside the crop
    assert (x1 - x0) * parent["width"] == pytest.approx((y1 - y0) * parent["height"], abs=0.01)  # square in pixels
    big = run.params.curate.model_copy(update={"resolution": 1024})  # more pixels than the photo's head holds
    too_small = stage._head_record(run, parent, big)
    assert too_small["reasons"] == ["low_resolution"] and too_small["media"] is None
    assert "never upscaled" in too_small["reason_details"][0]


def test_write_clip_recreates_an_accepted_clip_and_cuts_rejected_ones(curated):
    run, result, _ = curated
    accepted = next(r for r in result.accepted if r["variant"] == "full")
    written = video.read_frames(run.path("dataset", accepted["media"]), range(25)).astype(np.int16)
    assert np.abs(render.render_clip(run, accepted).astype(np.int16) - written).mean() < 3  # H.264 at crf 18
    stranger = next(r for r in result.records if r["reasons"] == ["wrong_identity"] and r["source_kind"] == "video")
    rel = render.write_clip(run, stranger)
    assert rel == f"clips/{stranger['id']}.mp4" and stranger["media"] is None  # the record is left alone
    info = video.probe(run.path("dataset", rel))
    assert (info.num_frames, info.width, info.height) == (25, stranger["width"], stranger["height"])
    first = video.read_frames(run.path("dataset", rel), [0])[0].astype(np.int16)
    source = frames.resize_crop(video.read_frames(DATA / "tears_of_steel_10s.mp4", [stranger["start_frame"]])[0],
                               stranger["width"], stranger["height"]).astype(np.int16)
    assert np.abs(first - source).mean() < 4
    for code in ("too_short", "low_resolution", "unreadable"):
        record = next(r for r in result.records if r["reasons"] == [code])
        with pytest.raises(ValueError, match="no clip can be cut"):
            render.write_clip(run, record)


def test_overriding_a_rejected_clip_writes_its_clip_through_write_clip(curated):
    run, result, _ = curated
    stranger = next(r for r in result.records if r["reasons"] == ["wrong_identity"] and r["source_kind"] == "image")
    record = overrides.set_override(run, stranger["id"], "accepted", note="test")
    assert record["status"] == "accepted" and record["auto_status"] == "rejected"
    assert run.path("dataset", record["media"]).is_file()
    overrides.clear_override(run, stranger["id"])


@pytest.fixture(scope="module")
def two_characters(tmp_path_factory):
    """biden's media folder holds two copies of an Obama photo (one under a non-UTF-8 name)."""
    tmp = tmp_path_factory.mktemp("two")
    folder = tmp / "biden_media"
    folder.mkdir()
    shutil.copy(DATA / "obama_2.jpg", folder / "a_obama.jpg")
    odd = os.fsdecode(bytes(folder) + b"/b_obama_\xff.jpg")
    shutil.copy(DATA / "obama_2.jpg", odd)
    params = small_params(tmp, curate={"clip_frames": 9, "resolution": 128, "face_samples": 2})
    raw = yaml.safe_load(params.read_text())
    raw["dataset"]["characters"] = [
        {"name": "biden", "trigger": "bdnx", "references": [str(DATA / "biden_1.jpg")], "media": [str(folder)]},
        {"name": "obama", "trigger": "obmx", "references": [str(DATA / "obama_1.jpg")], "media": [str(DATA / "obama_3.jpg")]},
    ]
    params.write_text(yaml.safe_dump(raw))
    run = run_folder.open_run(tmp / "run", params)
    return run, stage.curate(run)


def test_a_clip_goes_to_the_character_it_matches_best(two_characters):
    _, result = two_characters
    moved = [r for r in result.records if "biden_media" in r["source"]]
    assert len(moved) == 2 and all(r["character"] == "obama" and r["found_in"] == "biden" for r in moved)
    own = next(r for r in result.records if r["source"].endswith("obama_3.jpg"))
    assert own["character"] == "obama" and own["found_in"] is None and own["status"] == "accepted"


def test_a_near_duplicate_is_rejected_after_the_first_and_odd_names_stay_valid_json(two_characters):
    run, result = two_characters
    first, second = [r for r in result.records if "biden_media" in r["source"]]
    assert first["status"] == "accepted" and second["reasons"] == ["duplicate"]
    assert second["scores"]["dup_group"] == first["scores"]["dup_group"] == first["id"]
    assert first["id"] in second["reason_details"][0] and "curate.duplicate_distance" in second["reason_details"][0]
    assert second["source"].endswith("b_obama_\\xff.jpg")
    text = run.path("dataset", "manifest.jsonl").read_bytes().decode("utf-8")  # strict UTF-8
    assert [json.loads(line)["id"] for line in text.splitlines()] == [r["id"] for r in result.records]
    assert candidates.source_path(second["source"]).is_file()  # the escape leads back to the file
    assert video.probe(run.path("dataset", render.write_clip(run, second))).num_frames == 9


def test_a_broken_audio_track_costs_the_clip_its_audio_not_its_frames(tmp_path):
    """The audio reader fails on this source (its bytes are not media); the clip's audio scores say
    so instead of the whole source turning into an ``unreadable`` record."""
    import dataclasses

    broken = tmp_path / "broken_audio.mp4"
    broken.write_text("these bytes are no audio stream\n")
    info = dataclasses.replace(video.probe(DATA / "tears_of_steel_10s.mp4"), has_audio=True)
    cand = candidates.Candidate("c-broken-000", "c", broken, "video", 0, list(range(121)), 640, 352)
    cfg = run_folder.open_run(tmp_path / "run", small_params(tmp_path)).params.curate
    scores = stage._audio_scores(cand, info, cfg)
    assert scores["audio_present"] is True and scores["audio_usable"] is False
    assert "broken_audio.mp4" in scores["audio_error"]


# ---------------------------------------------------------------------------------------
# curate.face_embedder: arcface (a tiny exported ONNX model; random weights, so no identity claims)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arc_onnx(tmp_path_factory):
    from test_faces import export_tiny_arcface

    return export_tiny_arcface(tmp_path_factory.mktemp("arc") / "tiny_arcface.onnx")


def test_curate_with_arcface_records_its_backend_and_threshold(tmp_path, arc_onnx):
    # workers=2: the analyzer, with its ONNX embedder, goes to worker processes and back.
    params = small_params(tmp_path, curate={"face_embedder": "arcface", "arcface_model": str(arc_onnx),
                                            "arcface_threshold": 0.02, "workers": 2})
    run = run_folder.open_run(tmp_path / "run", params)
    records = stage.curate(run).records
    scored = [r for r in records if r["scores"] and r["scores"]["identity_distance"] is not None]
    assert len(scored) == 2  # obama_2.jpg and biden_1.jpg both show a face
    for r in scored:
        s = r["scores"]
        assert s["identity_backend"] == "arcface"
        assert 0.0 <= s["identity_similarity"] <= 1.0 and 0.0 <= s["identity_distance"] <= 2.0
        assert s["identity_similarity"] == pytest.approx(max(0.0, 1.0 - s["identity_distance"]), abs=2e-4)
        # A random network puts no face within 0.02 of a reference: the ArcFace threshold decided.
        assert r["reasons"] == ["wrong_identity"] and "curate.arcface_threshold 0.02" in r["reason_details"][0]


def test_params_refuse_arcface_without_a_model_and_resolve_its_path(tmp_path, arc_onnx):
    from ltxbench import errors
    from ltxbench.params import loading

    with pytest.raises(errors.ParamsError) as info:
        loading.load(small_params(tmp_path, curate={"face_embedder": "arcface"}))
    assert [p.field for p in info.value.problems] == ["curate.arcface_model"]
    assert "required when curate.face_embedder is arcface" in str(info.value)
    with pytest.raises(errors.ParamsError, match=r"curate\.arcface_model = .*w600k_r50\.onnx.*file not found"):
        loading.load(small_params(tmp_path, curate={"face_embedder": "arcface", "arcface_model": "w600k_r50.onnx"}))
    shutil.copy(arc_onnx, tmp_path / "arc.onnx")  # relative to the params file, not the working directory
    loaded = loading.load(small_params(tmp_path, curate={"face_embedder": "arcface", "arcface_model": "arc.onnx"}))
    assert loaded.curate.arcface_model == (tmp_path / "arc.onnx").resolve()
    assert loading.load(small_params(tmp_path)).curate.face_embedder == "dlib"


def test_clips_of_a_variable_frame_rate_source_last_their_real_time(tmp_path):
    """A source at 12 fps for a second, then 48 fps (decord's average: 30): every clip of 9 frames
    at 24 fps shows 8/24 s between its first and last frame, each frame the source frame nearest
    its time. Cut by frame index at the average rate, the first clip took 11 frames of the 12 fps
    part (0.83 s) and the last ones 0.21 s of the 48 fps part."""
    from conftest import vfr_frame_index, write_vfr_mp4

    times = [i / 12 for i in range(12)] + [1 + i / 48 for i in range(48)]
    source = write_vfr_mp4(tmp_path / "vfr.mp4", times)
    params = small_params(tmp_path, curate={"clip_frames": 9, "resolution": 64})
    raw = yaml.safe_load(params.read_text())
    raw["dataset"]["characters"][0]["media"] = [str(source)]
    params.write_text(yaml.safe_dump(raw))
    run = run_folder.open_run(tmp_path / "run", params)
    records = stage.curate(run).records
    assert [r["start_frame"] for r in records] == [0, 5, 10, 21, 38]
    for r in records:  # no face in the picture: rejected, but each clip can be rendered and looked at
        shown = [vfr_frame_index(f) for f in render.render_clip(run, r)]
        assert shown[0] == r["start_frame"] and len(shown) == 9
        assert times[shown[-1]] - times[shown[0]] == pytest.approx(8 / 24, abs=1 / 24), (r["id"], shown)
        for k, i in enumerate(shown):
            t = times[shown[0]] + k / 24
            assert abs(times[i] - t) <= min(abs(x - t) for x in times) + 1e-4, (r["id"], k, i)
        assert r["source_span_s"] == pytest.approx([times[shown[0]], times[shown[0]] + 9 / 24], abs=1e-5)
        assert r["source_fps"] == pytest.approx(30.0) and r["reasons"][0] == "no_face"


def test_curate_head_crops_and_train_head_crops_are_the_same_pixels(curated):
    # One head-crop rule: a `crop: head` training stage that crops a full clip on the fly renders
    # curate's own head record, so it trains on the pixels curate writes as `<id>-head.mp4`.
    run, result, _ = curated
    heads = [r for r in result.records if r["variant"] == "head" and r["status"] == "accepted"]
    assert heads, "the fixture must make at least one head crop"
    head = heads[0]
    parent = next(r for r in result.records if r["id"] == head["parent"])
    on_the_fly = data.head_crop_frames(run, parent)
    assert on_the_fly.shape == (head["num_frames"], head["height"], head["width"], 3)
    assert np.array_equal(on_the_fly, render.render_clip(run, head))  # the very same rendering
    written = video.read_frames(run.path("dataset", head["media"]), range(head["num_frames"]))
    assert np.abs(written.astype(int) - on_the_fly.astype(int)).mean() < 4.0  # only H.264's loss between them
    pixels = data.variant_pixels(run, parent, schema.TrainStageSection(name="heads", steps=1, crop="head"))
    assert pixels.shape == (1, 3, head["num_frames"], head["height"], head["width"])
    diff = np.abs(pixels[0].permute(1, 2, 3, 0).numpy() - (on_the_fly / 127.5 - 1.0))
    assert diff.max() < 1e-6, (diff.max(), np.argwhere(diff > 1e-6)[:5])
