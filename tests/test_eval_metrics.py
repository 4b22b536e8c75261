"""ltxbench.evaluate.metrics on real footage (tests/data), real dlib models, a tiny real open_clip model
and a tiny real ONNX model; nothing mocked. Photos become clips with video.image_to_clip."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from ltxbench import faces
from ltxbench.evaluate.metrics import adherence, bleed, drift, identity, motion, overfit, stats
from ltxbench.media import frames as media_frames
from ltxbench.media import video

from conftest import DATA

W, H, F = 256, 320, 8  # small portrait clips: faces stay large, 8 frames give two per quarter


def _portrait(name: str) -> np.ndarray:
    """The top of a photo at the clip's aspect: the heads in these photos sit in their upper part."""
    image = video.read_image(DATA / name)
    return image[: round(image.shape[1] * H / W)]


def _photo_clip(name: str, amount: float = 0.08, motion_kind: str = "pan") -> np.ndarray:
    return media_frames.image_to_clip(_portrait(name), W, H, F, motion=motion_kind, amount=amount)


@pytest.fixture(scope="module")
def analyzer() -> faces.FaceAnalyzer:
    return faces.FaceAnalyzer()


@pytest.fixture(scope="module")
def refs(analyzer) -> dict[str, np.ndarray]:
    return {"obama": faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer=analyzer),
            "biden": faces.reference_embeddings([DATA / "biden_1.jpg"], analyzer=analyzer)}


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    out = {"obama_2": _photo_clip("obama_2.jpg"), "obama_3": _photo_clip("obama_3.jpg"), "biden": _photo_clip("biden_1.jpg")}
    out["cut"] = np.concatenate([out["obama_2"][:4], out["biden"][4:]])  # obama, then a cut to biden
    return out


@pytest.fixture(scope="module")
def tracks(clips, analyzer) -> dict[str, list]:
    out = {name: identity.face_track(frames, analyzer) for name, frames in clips.items() if name != "cut"}
    # Detection is per frame, so the cut clip's track is its two halves' tracks (saves 8 detections).
    out["cut"] = out["obama_2"][:4] + out["biden"][4:]
    return out


# ---------------------------------------------------------------------------------------
# identity
# ---------------------------------------------------------------------------------------


def test_following_the_face_finds_what_a_full_search_finds(clips, analyzer, refs):
    """face_track searches whole frames every FULL_SEARCH_EVERY frames and near the last face in
    between: on real clips it finds the same faces, with boxes and identities that agree."""
    for name in ("obama_2", "biden"):
        followed = identity.face_track(clips[name], analyzer)
        full = identity.face_track(clips[name], analyzer, full_every=1)
        assert [f is None for f in followed] == [f is None for f in full]
        for a, b in zip(followed, full):
            if a is not None:
                # HOG boxes move with the detection grid's alignment (here up to ~17% of the face)
                assert max(abs(p - q) for p, q in zip(a.box, b.box)) <= 0.25 * (b.box[3] - b.box[1])
        sim = [identity.identity_scores(t, refs["obama"])["identity_similarity"] for t in (followed, full)]
        assert abs(sim[0] - sim[1]) < 0.02
    with pytest.raises(ValueError, match="full_every"):
        identity.face_track(clips["obama_2"], analyzer, full_every=0)


def test_same_person_scores_higher_identity_than_another_person(tracks, refs):
    same = [identity.identity_scores(tracks[n], refs["obama"]) for n in ("obama_2", "obama_3")]
    other = identity.identity_scores(tracks["biden"], refs["obama"])
    for s in [*same, other]:
        assert s["face_found_rate"] == 1.0 and len(s["per_frame_similarity"]) == F
        assert s["identity_similarity"] == pytest.approx(np.mean(s["per_frame_similarity"]))
    assert min(s["identity_similarity"] for s in same) > 0.5 > other["identity_similarity"]
    assert max(s["identity_distance"] for s in same) < faces.SAME_PERSON_DISTANCE < other["identity_distance"]


def test_a_clip_without_faces_gets_no_identity_and_no_drift(analyzer, refs):
    noise = np.random.default_rng(0).integers(0, 256, (4, H, W, 3), dtype=np.uint8)
    track = identity.face_track(noise, analyzer)
    scores = identity.identity_scores(track, refs["obama"])
    assert scores["face_found_rate"] == 0.0 and scores["per_frame_similarity"] == [None] * 4
    assert "identity_similarity" not in scores and "identity_distance" not in scores
    assert drift.drift_scores(track) == {}
    assert bleed.bleed_row(track, refs, "obama") == {"target": "obama", "similarity": {}, "margin": None}


def test_missing_faces_are_none_in_the_per_frame_list(tracks, refs, clips, analyzer):
    frames = clips["obama_2"][:3].copy()
    frames[1] = 0  # a black frame: no face
    track = identity.face_track(frames, analyzer)
    scores = identity.identity_scores(track, refs["obama"])
    assert scores["face_found_rate"] == pytest.approx(2 / 3)
    assert scores["per_frame_similarity"][1] is None
    assert scores["identity_similarity"] == pytest.approx(np.mean([s for s in scores["per_frame_similarity"] if s is not None]))


def test_bad_frames_are_refused(analyzer, refs):
    with pytest.raises(ValueError, match=r"\[F,H,W,3\] uint8"):
        identity.face_track(np.zeros((2, 32, 32, 3), np.float32), analyzer)
    with pytest.raises(ValueError, match="empty"):
        identity.face_track(np.zeros((0, 32, 32, 3), np.uint8), analyzer)
    with pytest.raises(ValueError, match="empty track"):
        identity.identity_scores([], refs["obama"])


# ---------------------------------------------------------------------------------------
# drift
# ---------------------------------------------------------------------------------------


def test_a_cut_to_another_person_shows_as_drift(tracks):
    steady = drift.drift_scores(tracks["obama_2"])
    cut = drift.drift_scores(tracks["cut"])
    assert set(cut) == {"identity_drift", "drift_q1", "drift_q2", "drift_q3", "drift_q4"}
    assert steady["identity_drift"] < 0.2 and cut["identity_drift"] > 2 * steady["identity_drift"] + 0.2
    # The medoid is one of the two people: that half sits near it, the other half ~0.8 away.
    first, second = np.mean([cut["drift_q1"], cut["drift_q2"]]), np.mean([cut["drift_q3"], cut["drift_q4"]])
    assert abs(first - second) > 0.6
    assert max(steady[f"drift_q{q}"] for q in range(1, 5)) < 0.25


def test_drift_quarters_without_faces_are_none(tracks):
    track = list(tracks["obama_2"])
    track[0] = track[1] = None  # first quarter (frames 0-1 of 8) has no face
    scores = drift.drift_scores(track)
    assert scores["drift_q1"] is None and scores["drift_q2"] is not None
    assert drift.drift_scores([tracks["obama_2"][0], None, None]) == {}  # one face: nothing to compare


# ---------------------------------------------------------------------------------------
# bleed
# ---------------------------------------------------------------------------------------


def test_bleed_matrix_on_two_people_has_a_dominant_diagonal(tracks, refs):
    rows = [bleed.bleed_row(tracks["obama_2"], refs, "obama"), bleed.bleed_row(tracks["obama_3"], refs, "obama"),
            bleed.bleed_row(tracks["biden"], refs, "biden")]
    assert all(r["margin"] > 0.2 for r in rows)
    characters, matrix = bleed.bleed_matrix(rows)
    assert characters == ["obama", "biden"] and matrix.shape == (2, 2)
    assert matrix[0, 0] > matrix[0, 1] and matrix[1, 1] > matrix[1, 0]
    assert matrix[0, 0] == pytest.approx(np.mean([rows[0]["similarity"]["obama"], rows[1]["similarity"]["obama"]]))
    # A video prompted for obama that shows biden: the identities bled, the margin is negative.
    bled = bleed.bleed_row(tracks["biden"], refs, "obama")
    assert bled["margin"] < -0.2


def test_bleed_needs_known_target_and_a_second_character(tracks, refs):
    with pytest.raises(ValueError, match="'trump' has no references"):
        bleed.bleed_row(tracks["biden"], refs, "trump")
    alone = bleed.bleed_row(tracks["obama_2"], {"obama": refs["obama"]}, "obama")
    assert alone["margin"] is None and alone["similarity"]["obama"] > 0.5
    characters, matrix = bleed.bleed_matrix([alone, bleed.bleed_row([None], refs, "biden")])
    assert characters == ["obama", "biden"] and np.isnan(matrix[1]).all()


# ---------------------------------------------------------------------------------------
# motion
# ---------------------------------------------------------------------------------------


def test_static_clip_moves_less_than_a_pan_and_real_footage():
    static = _photo_clip("obama_2.jpg", amount=0.0)
    pan = media_frames.image_to_clip(_portrait("obama_2.jpg"), W, H, 16, motion="pan", amount=0.3)
    shot = video.read_frames(DATA / "tears_of_steel_10s.mp4", range(100, 108))  # inside one shot (cuts: 21, 65, 185)
    m_static, m_pan, m_shot = motion.motion_magnitude(static), motion.motion_magnitude(pan), motion.motion_magnitude(shot)
    assert m_static < motion.STATIC_MOTION
    assert m_pan > 10 * max(m_static, 0.01) and m_shot > 10 * max(m_static, 0.01)
    assert motion.motion_ratio(m_static, m_pan) < 0.1
    assert motion.motion_ratio(m_pan, m_static) is None  # static base: no ratio


def test_motion_unit_is_pixels_per_frame_at_the_working_size():
    # Tears of Steel fills its frame (the Sintel excerpt is letterboxed: black bars do not move).
    frame = media_frames.resize_crop(video.read_frames(DATA / "tears_of_steel_10s.mp4", [100])[0], 768, 512)
    shift = 6  # px at 768 wide = 2 px at the 256-px working size
    moved = np.ascontiguousarray(np.roll(frame, shift, axis=1))
    measured = motion.flow_magnitude(frame, moved)
    assert measured == pytest.approx(shift * motion.WORK_LONG_SIDE / 768, rel=0.05)


def test_motion_pairs_read_only_adjacent_frames():
    idx = motion.pair_indices(121, 8)
    assert len(idx) == 16 and idx[:2] == [0, 1] and idx[-2:] == [119, 120]
    assert all(b == a + 1 for a, b in zip(idx[0::2], idx[1::2]))
    shot = video.read_frames(DATA / "tears_of_steel_10s.mp4", range(100, 104))
    paired = motion.motion_magnitude(shot[[0, 1, 2, 3]], paired=True)
    expected = np.mean([motion.flow_magnitude(shot[0], shot[1]), motion.flow_magnitude(shot[2], shot[3])])
    assert paired == pytest.approx(expected)
    with pytest.raises(ValueError, match="even number"):
        motion.motion_magnitude(shot[:3], paired=True)
    with pytest.raises(ValueError, match="at least 2"):
        motion.pair_indices(1)


# ---------------------------------------------------------------------------------------
# stats
# ---------------------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_values():
    rng = np.random.default_rng(1)
    few, many = rng.normal(0.6, 0.1, 8), rng.normal(0.6, 0.1, 200)
    m_few, lo_few, hi_few = stats.bootstrap_ci(few)
    m_many, lo_many, hi_many = stats.bootstrap_ci(many)
    assert lo_few <= m_few <= hi_few and lo_many <= m_many <= hi_many
    assert m_few == pytest.approx(few.mean())
    assert (hi_many - lo_many) < 0.5 * (hi_few - lo_few)
    # ~ 2 * 1.96 * sd / sqrt(n) for a normal sample
    assert hi_many - lo_many == pytest.approx(2 * 1.96 * many.std(ddof=1) / np.sqrt(200), rel=0.2)
    assert stats.bootstrap_ci(few) == stats.bootstrap_ci(few)  # seeded
    assert stats.bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)
    # BCa is undefined without spread (scipy warns and gives NaN): the percentile interval answers.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stats.bootstrap_ci([0.5] * 8) == (0.5, 0.5, 0.5)


def test_bootstrap_refuses_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        stats.bootstrap_ci([])
    with pytest.raises(ValueError, match="finite"):
        stats.bootstrap_ci([0.5, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci([0.5, 0.6], confidence=1.5)


# ---------------------------------------------------------------------------------------
# overfitting
# ---------------------------------------------------------------------------------------


class _CountingAnalyzer(faces.FaceAnalyzer):
    """The real analyzer, counting its calls (to see a cache hit)."""

    calls = 0

    def largest(self, frame_rgb):
        type(self).calls += 1
        return super().largest(frame_rgb)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, clips) -> tuple[Path, list[dict]]:
    folder = tmp_path_factory.mktemp("dataset")
    video.write_mp4(folder / "clips" / "c0.mp4", clips["obama_2"], fps=24)
    video.write_mp4(folder / "clips" / "c1.mp4", clips["biden"], fps=24)
    records = [{"id": "c0", "status": "accepted", "media": "clips/c0.mp4"},
               {"id": "c1", "status": "rejected", "media": "clips/c1.mp4"},  # rejected: not training data
               {"id": "c2", "status": "accepted", "media": None}]  # no clip file written
    return folder, records


def test_copy_flag_fires_when_the_video_is_a_training_clip(dataset, analyzer, refs, tracks):
    folder, records = dataset
    train = overfit.TrainingFrames.from_manifest(records, folder, analyzer, frames_per_clip=4)
    assert len(train) == 4 and set(train.clip_ids) == {"c0"} and train.skipped == []
    copied = identity.face_track(video.read_frames(folder / "clips" / "c0.mp4", range(F)), analyzer)
    copy_sim = train.nearest_similarity(copied)
    ident = identity.identity_scores(copied, refs["obama"])["identity_similarity"]
    assert copy_sim >= overfit.COPY_SIMILARITY and overfit.is_copy(copy_sim, ident)
    assert train.nearest_clip(copied) == "c0"
    # The same person in another photo is close to the training faces, but not a copy.
    fresh = tracks["obama_3"]
    fresh_sim = train.nearest_similarity(fresh)
    assert 0.5 < fresh_sim < overfit.COPY_SIMILARITY
    assert not overfit.is_copy(fresh_sim, identity.identity_scores(fresh, refs["obama"])["identity_similarity"])
    assert train.nearest_similarity([None, None]) is None and not overfit.is_copy(None, 0.6)


def test_scene_copy_is_the_training_clip_again_and_not_another_photo_of_him(dataset, analyzer, clips):
    """The picture-level check: the training clip re-encoded (what a video repainting it looks like)
    is within SCENE_COPY_DISTANCE of it; a clip of another photo of the same man, and of another
    person, is not."""
    folder, records = dataset
    train = overfit.TrainingFrames.from_manifest(records, folder, analyzer, frames_per_clip=4)
    assert train.thumbnail_ids == ["c0"] and train.thumbnails.shape == (1, overfit.THUMB_SIDE, overfit.THUMB_SIDE, 3)
    again, clip = train.nearest_scene(video.read_frames(folder / "clips" / "c0.mp4", range(F)))
    assert clip == "c0" and again <= overfit.SCENE_COPY_DISTANCE
    for other in ("obama_3", "biden"):
        distance, _ = train.nearest_scene(clips[other])
        assert distance > overfit.SCENE_COPY_DISTANCE > again, (other, distance)
    assert overfit.TrainingFrames(train.embeddings, train.clip_ids, train.frame_indices).nearest_scene(clips["biden"]) is None


def test_training_faces_are_cached_and_rebuilt_when_clips_change(dataset, tmp_path):
    folder, records = dataset
    cache = tmp_path / "train_faces.npz"
    counting = _CountingAnalyzer()
    first = overfit.TrainingFrames.from_manifest(records, folder, counting, frames_per_clip=2, cache_path=cache)
    calls = _CountingAnalyzer.calls
    assert cache.is_file() and calls == 2
    again = overfit.TrainingFrames.from_manifest(records, folder, counting, frames_per_clip=2, cache_path=cache)
    assert _CountingAnalyzer.calls == calls  # served from the cache
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    assert again.clip_ids == first.clip_ids and again.frame_indices == first.frame_indices
    np.testing.assert_array_equal(again.thumbnails, first.thumbnails)
    assert again.thumbnail_ids == first.thumbnail_ids == ["c0"]
    overfit.TrainingFrames.from_manifest(records, folder, counting, frames_per_clip=3, cache_path=cache)
    assert _CountingAnalyzer.calls == calls + 3  # other settings: rebuilt


def test_unreadable_training_clip_is_skipped_with_its_reason(tmp_path, analyzer):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "bad.mp4").write_bytes(b"not a video")
    records = [{"id": "bad", "status": "accepted", "media": "clips/bad.mp4"},
               {"id": "gone", "status": "accepted", "media": "clips/gone.mp4"}]
    train = overfit.TrainingFrames.from_manifest(records, tmp_path, analyzer)
    assert len(train) == 0 and [s[0] for s in train.skipped] == ["bad", "gone"]
    assert "bad.mp4" in train.skipped[0][1] and "gone.mp4" in train.skipped[1][1]


def test_prompt_diversity_drops_when_every_prompt_gives_the_same_video(clips):
    tears = video.read_frames(DATA / "tears_of_steel_10s.mp4", range(230, 238))
    sintel = video.read_frames(DATA / "sintel_10s.mp4", range(30, 38))
    varied = overfit.prompt_diversity({"talk": clips["obama_2"], "street": tears, "snow": [sintel, sintel[::-1]]})
    collapsed = overfit.prompt_diversity({"talk": clips["obama_2"], "street": clips["obama_2"][::-1],
                                          "snow": [clips["obama_2"]]})
    assert collapsed < 0.01 and varied > 10 * collapsed and varied > 0.1
    assert overfit.prompt_diversity({"talk": clips["obama_2"]}) is None


# ---------------------------------------------------------------------------------------
# prompt adherence (open_clip)
# ---------------------------------------------------------------------------------------

TINY_CLIP = {"embed_dim": 32,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
             "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_clip_weights(tmp_path_factory) -> Path:
    """A tiny open_clip model from a config, random weights saved to a file as a user would supply them."""
    import open_clip
    import torch

    folder = tmp_path_factory.mktemp("clip")
    (folder / "ltxbench-tiny-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(folder / "ltxbench-tiny-clip.json")
    torch.manual_seed(0)
    model = open_clip.create_model("ltxbench-tiny-clip")
    torch.save(model.state_dict(), folder / "tiny_clip.bin")
    return folder / "tiny_clip.bin"


def test_clip_score_loads_weights_from_the_file_and_scores(tiny_clip_weights, clips):
    import torch

    scorer = adherence.ClipScorer.load("ltxbench-tiny-clip", pretrained=str(tiny_clip_weights))
    assert scorer.weights == tiny_clip_weights
    saved = torch.load(tiny_clip_weights, weights_only=True)
    for name, tensor in scorer.model.state_dict().items():  # the file's weights, not a fresh init
        assert torch.equal(tensor, saved[name]), name
    frames = clips["obama_2"][:3]
    emb = scorer.image_embeddings(frames)
    assert emb.shape == (3, 32) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    text = "a man in a suit talking to the camera"
    score = scorer.score(frames, text)
    expected = np.mean(100 * np.clip(emb @ scorer.text_embedding(text), 0, None))
    assert score == pytest.approx(expected) and 0.0 <= score <= 100.0
    assert scorer.score(frames, text) == score  # deterministic


def test_missing_clip_weights_say_what_to_download(tmp_path):
    with pytest.raises(adherence.ClipWeightsMissingError, match=r"not found: .*nothere\.bin.*huggingface-cli download"):
        adherence.ClipScorer.load("ViT-B-32", pretrained=str(tmp_path / "nothere.bin"))
    with pytest.raises(adherence.ClipWeightsMissingError,
                       match=r"laion/CLIP-ViT-B-32-laion2B-s34B-b79K open_clip_pytorch_model\.bin --cache-dir"):
        adherence.ClipScorer.load("ViT-B-32", pretrained="laion2b_s34b_b79k", cache_dir=tmp_path)
    assert issubclass(adherence.ClipWeightsMissingError, FileNotFoundError)
    with pytest.raises(adherence.ClipWeightsMissingError, match="known tags"):
        adherence.ClipScorer.load("ViT-B-32", pretrained="no_such_tag")
    with pytest.raises(ValueError, match="unknown open_clip model"):
        adherence.ClipScorer.load("no-such-model", pretrained=str(tmp_path / "x.bin"))


# ---------------------------------------------------------------------------------------
# FaceSim-Arc (ArcFace ONNX path, tiny exported model)
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_arcface(tmp_path_factory):
    """A tiny torch network 1x3x112x112 -> 512 exported to ONNX: the real onnxruntime path, random weights."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 8, stride=8), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 14 * 14, 512)).eval()
    path = tmp_path_factory.mktemp("arc") / "tiny_arcface.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 112, 112), str(path), input_names=["input.1"], output_names=["embedding"],
                      dynamo=False)
    return net, path


def test_facesim_arc_runs_the_onnx_model(tiny_arcface, clips, tracks, analyzer):
    import onnxruntime
    import torch

    net, path = tiny_arcface
    embedder = faces.ArcFaceEmbedder(path)
    assert isinstance(embedder._session, onnxruntime.InferenceSession)
    frames, track = clips["obama_2"], tracks["obama_2"]
    # The ONNX output is the exported network's output on the aligned chip.
    chip = embedder.aligned_chip(frames[0], track[0]).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(((chip - 127.5) / 127.5).transpose(2, 0, 1)[None])).numpy()[0]
    np.testing.assert_allclose(embedder.embed(frames[0], track[0]), ref / np.linalg.norm(ref), atol=1e-4)

    own = np.stack([embedder.embed(frames[0], track[0])])
    scores = identity.facesim_arc(frames, embedder, own, track=track)
    assert scores["arc_face_found_rate"] == 1.0 and len(scores["per_frame_facesim_arc"]) == F
    assert scores["per_frame_facesim_arc"][0] == pytest.approx(1.0, abs=1e-5)  # the reference frame itself
    assert 0.0 <= scores["facesim_arc"] <= 1.0
    # Without a track it detects the faces itself and gets the same answer.
    assert identity.facesim_arc(frames[:2], embedder, own, analyzer=analyzer)["facesim_arc"] == pytest.approx(
        np.mean(scores["per_frame_facesim_arc"][:2]), abs=1e-5)
    # Frames without a face give no score; references from photos go through the same embedder.
    blank = identity.facesim_arc(np.zeros((2, 64, 64, 3), np.uint8), embedder, own, analyzer=analyzer)
    assert blank == {"arc_face_found_rate": 0.0, "per_frame_facesim_arc": [None, None]}
    photo_refs = identity.arc_reference_embeddings([DATA / "obama_1.jpg"], embedder, analyzer)
    assert photo_refs.shape == (1, 512)
    with pytest.raises(ValueError, match="same model"):
        identity.facesim_arc(frames[:1], embedder, np.ones((1, 128), np.float32), track=track[:1])


def test_facesim_arc_without_weights_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ArcFace weights not found: .*w600k_r50\.onnx"):
        faces.ArcFaceEmbedder(tmp_path / "w600k_r50.onnx")


# ---------------------------------------------------------------------------------------
# The stage's per-video work (eval_score.analyze_videos): detection scale and worker processes
# ---------------------------------------------------------------------------------------


def test_auto_detection_scale_finds_the_same_face_at_768x512(analyzer):
    """Per-video auto scale: 768x512 is searched as it is (upsample 0, ~0.56x the time), a small
    clip is enlarged. At 768x512 upsample 0 finds a 90 px face (a medium shot) with nearly the same
    embedding as the default upsample 1 (measured: faces from ~60 px are found by both)."""
    import cv2

    from ltxbench.evaluate import score as eval_score

    assert eval_score.video_analyzer(512, 768).upsample == 0
    assert eval_score.video_analyzer(H, W).upsample == 1
    photo = video.read_image(DATA / "obama_2.jpg")
    x0, y0, x1, y1 = analyzer.largest(photo).box
    scale = 90 / (y1 - y0)
    small = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    frame = cv2.GaussianBlur(cv2.resize(photo, (768, 512), interpolation=cv2.INTER_AREA), (0, 0), 25)  # a soft background
    frame[:min(512, small.shape[0]), 300:300 + small.shape[1]] = small[:512]
    auto = eval_score.video_analyzer(512, 768).largest(frame)
    default = analyzer.largest(frame)
    assert auto is not None and default is not None
    assert 70 < auto.box[3] - auto.box[1] < 110
    assert float(np.linalg.norm(auto.embedding - default.embedding)) < 0.15  # one person's photos: 0.34-0.44 apart


def test_scoring_in_worker_processes_equals_the_serial_run(tmp_path, clips):
    """Same tracks (boxes, embeddings bit for bit), motion and thumbnails, in the videos' order."""
    from ltxbench.evaluate import score as eval_score
    from ltxbench.evaluate.sources import SampleVideo

    samples = []
    for i, (name, trigger) in enumerate((("obama_2", True), ("biden", True), ("obama_3", False))):
        path = video.write_mp4(tmp_path / f"v{i}.mp4", clips[name], fps=24)
        samples.append(SampleVideo("step_000100", 100, f"p{i}", 0, path, trigger))
    serial = eval_score.analyze_videos(samples, None, 4, workers=1)
    pooled = eval_score.analyze_videos(samples, None, 4, workers=2)

    def key(a):
        return ([None if f is None else (f.box, f.embedding.tobytes()) for f in a.track], a.motion,
                None if a.thumb is None else a.thumb.tobytes())

    assert [key(a) for a in pooled] == [key(a) for a in serial]
    assert all(f is not None for a in serial for f in a.track)  # faces found: the comparison means something
    assert serial[0].motion > 0 and serial[2].motion is None and serial[2].thumb is None
