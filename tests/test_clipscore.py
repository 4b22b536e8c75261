"""ltxbench.curate.scores on the real photos and clips in tests/data (dlib models, nothing mocked)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ltxbench import faces
from ltxbench.curate.scores import compression, duplicates, expression, lighting, pose, sharpness
from ltxbench.curate.scores.clip import ClipFrames, score_clip
from ltxbench.media import frames as media_frames
from ltxbench.media import video
from ltxbench.params import schema

DATA = Path(__file__).resolve().parent / "data"
CFG = schema.CurateSection()


def _score_frame(image: np.ndarray) -> np.ndarray:
    """A photo at curate's score size (short side 480 px), as curate scores it."""
    h, w = image.shape[:2]
    s = 480 / min(h, w)
    return cv2.resize(image, (int(w * s) // 2 * 2, int(h * s) // 2 * 2), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def analyzer() -> faces.FaceAnalyzer:
    return faces.FaceAnalyzer(shape68=True)


@pytest.fixture(scope="module")
def photos(analyzer) -> dict[str, tuple[np.ndarray, faces.Face]]:
    """Each test photo at score size with its largest face (68 landmarks included)."""
    out = {}
    for name in ("obama_1", "obama_2", "obama_3", "biden_1"):
        frame = _score_frame(video.read_image(DATA / f"{name}.jpg"))
        face = analyzer.largest(frame)
        assert face is not None and face.landmarks68 is not None
        out[name] = (frame, face)
    return out


@pytest.fixture(scope="module")
def tos_face(analyzer) -> tuple[np.ndarray, faces.Face]:
    """A real three-quarter face: tears_of_steel frame 96 (the man turned to the image's left)."""
    frame = video.read_frames(DATA / "tears_of_steel_10s.mp4", [96])[0]
    face = analyzer.largest(frame)
    assert face is not None
    return frame, face


@pytest.fixture(scope="module")
def refs(analyzer) -> dict[str, np.ndarray]:
    return {"obama": faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer),
            "biden": faces.reference_embeddings([DATA / "biden_1.jpg"], analyzer)}


def test_yaw_is_near_zero_for_the_frontal_photo_and_flips_sign_in_a_mirror(photos, analyzer):
    frame, face = photos["obama_1"]
    assert abs(pose.yaw_degrees(face.landmarks68)) < 8
    turned, face2 = photos["obama_2"]  # head turned a little towards the image's left
    mirrored = analyzer.largest(np.ascontiguousarray(turned[:, ::-1]))
    yaw, yaw_mirror = pose.yaw_degrees(face2.landmarks68), pose.yaw_degrees(mirrored.landmarks68)
    assert yaw < -10 and yaw_mirror > 10 and abs(yaw + yaw_mirror) < 5


def test_yaw_bins_differ_between_a_frontal_photo_and_a_turned_film_face(photos, tos_face):
    front = pose.yaw_degrees(photos["obama_1"][1].landmarks68)
    turned = pose.yaw_degrees(tos_face[1].landmarks68)
    assert pose.yaw_bin(front, CFG.yaw_front_max_deg, CFG.yaw_profile_min_deg) == "front"
    assert pose.yaw_bin(turned, CFG.yaw_front_max_deg, CFG.yaw_profile_min_deg) == "three_quarter"
    assert pose.yaw_bin(70.0, 25, 60) == "profile" and pose.yaw_bin(-70.0, 25, 60) == "profile"


def test_yaw_ignores_head_roll(photos):
    pts = photos["obama_1"][1].landmarks68.astype(np.float64)
    centre = pts.mean(axis=0)
    a = np.radians(20)
    rolled = (pts - centre) @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) + centre
    assert pose.yaw_degrees(rolled) == pytest.approx(pose.yaw_degrees(pts), abs=1e-6)


def test_the_broad_smile_scores_above_the_threshold_and_the_others_below(photos):
    smiles = {name: expression.smile_score(face.landmarks68) for name, (_, face) in photos.items()}
    assert smiles["obama_1"] >= CFG.smile_min  # the broad smile
    assert all(smiles[n] < CFG.smile_min for n in ("obama_2", "obama_3", "biden_1")), smiles
    assert expression.expression_label(smiles["obama_1"], 0.0, CFG.smile_min, CFG.talk_min_motion) == "smiling"
    assert expression.expression_label(smiles["obama_3"], 0.0, CFG.smile_min, CFG.talk_min_motion) == "neutral"
    assert expression.expression_label(smiles["obama_3"], 0.1, CFG.smile_min, CFG.talk_min_motion) == "talking"
    assert expression.expression_label(None, None, CFG.smile_min, CFG.talk_min_motion) is None


def test_mouth_opening_tells_the_open_mouth_from_the_closed_one(photos):
    open_ = expression.mouth_opening(photos["obama_2"][1].landmarks68)  # speaking at the podium
    closed = expression.mouth_opening(photos["biden_1"][1].landmarks68)
    assert open_ > 0.1 > closed
    assert expression.mouth_motion([0.1]) is None and expression.mouth_motion([0.1, 0.1, 0.1]) == pytest.approx(0.0)


def test_landmarks_refitted_in_a_known_box_match_the_detected_ones(photos, analyzer):
    frame, face = photos["obama_1"]
    refit = analyzer.landmarks68_in(frame, face.box)
    assert np.abs(refit - face.landmarks68).max() < 3.0


def test_sharpness_drops_when_a_real_face_is_blurred(photos):
    for name, (frame, face) in photos.items():
        sharp = sharpness.sharpness(sharpness.face_crop(frame, face.box))
        blurred = sharpness.sharpness(sharpness.face_crop(cv2.GaussianBlur(frame, (0, 0), 2.0), face.box))
        assert sharp >= CFG.min_sharpness > blurred or sharp > 2 * blurred, (name, sharp, blurred)
        assert sharp > 2 * blurred


def test_blockiness_rises_when_a_real_frame_is_jpeg_compressed():
    frame = video.read_frames(DATA / "tears_of_steel_10s.mp4", [100])[0]
    clean = compression.blockiness(frame)
    ok, buf = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 5])
    blocky = compression.blockiness(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    assert clean < CFG.max_blockiness < blocky
    shifted = compression.blockiness(cv2.imdecode(buf, cv2.IMREAD_COLOR)[3:, 5:, ::-1])  # grid no longer at pixel 0
    assert shifted > CFG.max_blockiness


def test_lighting_measures_brightness_contrast_and_colour_temperature(photos):
    frame = photos["obama_3"][0]
    b, c = lighting.brightness_contrast(frame)
    b_dark, c_dark = lighting.brightness_contrast((frame * 0.4).astype(np.uint8))
    assert b_dark < b and c_dark < c and 0 < b < 1
    assert lighting.lighting_band(b_dark, CFG.dark_below, CFG.bright_above) == "dark"
    assert lighting.color_temperature_k(np.full((4, 4, 3), 255, np.uint8)) == pytest.approx(6500, abs=100)  # D65 white
    warm = frame.copy()
    warm[..., 2] = (warm[..., 2] * 0.6).astype(np.uint8)  # less blue: warmer light
    assert lighting.color_temperature_k(warm) < lighting.color_temperature_k(frame) - 500
    assert lighting.color_temperature_k(np.zeros((4, 4, 3), np.uint8)) is None


def test_dup_key_matches_two_renders_of_one_photo_and_not_another_photo():
    image = video.read_image(DATA / "obama_2.jpg")
    pan = media_frames.image_to_clip(image, 240, 480, 9, motion="pan")
    zoom = media_frames.image_to_clip(image, 240, 480, 9, motion="zoom")
    other = media_frames.image_to_clip(video.read_image(DATA / "obama_3.jpg"), 240, 480, 9)
    assert duplicates.hamming(duplicates.dct_hash(pan), duplicates.dct_hash(zoom)) <= CFG.duplicate_distance
    assert duplicates.hamming(duplicates.dct_hash(pan), duplicates.dct_hash(other)) > 3 * CFG.duplicate_distance
    keys = [duplicates.dct_hash(pan), duplicates.dct_hash(other), duplicates.dct_hash(zoom), None]
    assert duplicates.group_heads(keys, CFG.duplicate_distance) == [0, 1, 0, None]


def test_background_key_ignores_the_face_and_sees_the_scene(photos):
    frame, face = photos["obama_1"]
    key = duplicates.background_key(frame, face.box)
    changed_face = frame.copy()
    x0, y0, x1, y1 = face.box
    changed_face[y0:y1, x0:x1] = 0
    assert len(key) == 48 and duplicates.background_key(changed_face, face.box) == key
    assert duplicates.background_key(photos["biden_1"][0], photos["biden_1"][1].box) != key


def test_style_tells_the_animated_excerpt_from_live_action_and_photos():
    from ltxbench.curate.scores import style

    verdicts, cues = {}, {}
    for name in ("tears_of_steel_10s.mp4", "sintel_10s.mp4"):
        path = DATA / name
        frames = video.read_frames(path, media_frames.sample_indices(video.probe(path).num_frames, 12))
        cues[name] = style.clip_style_cues(frames)
        verdicts[name] = style.style_of(*cues[name], CFG.style_flat_min, CFG.style_noise_max)
    assert verdicts == {"tears_of_steel_10s.mp4": "photoreal", "sintel_10s.mp4": "stylised"}
    (live_flat, live_noise), (anim_flat, anim_noise) = cues["tears_of_steel_10s.mp4"], cues["sintel_10s.mp4"]
    assert anim_flat > 2 * live_flat and live_noise > 2 * anim_noise  # both cues separate them, by a margin
    for name in ("obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "biden_1.jpg"):  # a plain backdrop keeps its grain
        flat, noise = style.style_cues(video.read_image(DATA / name))
        assert style.style_of(flat, noise, CFG.style_flat_min, CFG.style_noise_max) == "photoreal", name
    # the cues do not depend on the source's size: the same frame at half size reads alike
    frame = video.read_frames(DATA / "sintel_10s.mp4", [60])[0]
    half = frame[::2, ::2]
    assert style.style_cues(half)[0] == pytest.approx(style.style_cues(frame)[0], abs=0.1)


def _clip(frame: np.ndarray, n: int = 2, source: np.ndarray | None = None) -> ClipFrames:
    return ClipFrames(np.stack([frame] * n), source_frame=frame if source is None else source, still=True)


def test_score_clip_accepts_the_character_and_fills_every_score(photos, analyzer, refs):
    result = score_clip(_clip(photos["obama_1"][0]), analyzer, refs, "obama", CFG)
    assert result.reasons == [] and result.character == "obama"
    s = result.scores
    assert s["match_rate"] == 1.0 and s["identity_distance"] < 0.1 and s["yaw_bin"] == "front"
    assert s["expression"] == "smiling" and s["framing"] in ("close_up", "medium") and s["mouth_motion"] == 0.0
    assert s["lighting"] in ("dark", "normal", "bright") and 1000 < s["color_temp_k"] < 20000
    assert len(s["dup_key"]) == 16 and len(s["background_key"]) == 48
    assert s["style"] == "photoreal" and 0 <= s["flat_share"] <= 1 and s["flat_noise"] > CFG.style_noise_max


def test_a_face_goes_to_the_character_it_matches_and_no_match_is_wrong_identity(photos, analyzer, refs):
    moved = score_clip(_clip(photos["obama_2"][0]), analyzer, refs, "biden", CFG)  # filed under biden
    assert moved.character == "obama" and moved.reasons == []
    nobody = score_clip(_clip(photos["biden_1"][0]), analyzer, {"obama": refs["obama"]}, "obama", CFG)
    assert [r.code for r in nobody.reasons] == ["wrong_identity"] and nobody.character == "obama"
    assert "curate.identity_threshold" in nobody.reasons[0].detail


def test_face_reason_codes(photos, tos_face, analyzer, refs):
    empty = video.read_frames(DATA / "tears_of_steel_10s.mp4", [30])[0]  # a shot without a face
    no_face = score_clip(_clip(empty), analyzer, refs, "obama", CFG)
    assert [r.code for r in no_face.reasons] == ["no_face"] and no_face.scores["face_height"] is None
    tiny = score_clip(_clip(photos["obama_3"][0]), analyzer, refs, "obama", CFG.model_copy(update={"min_face_height": 0.5}))
    assert [r.code for r in tiny.reasons] == ["face_too_small"]
    half = ClipFrames(np.stack([photos["obama_1"][0][:480, :300], cv2.resize(empty, (300, 480))]), source_frame=empty)
    absent = score_clip(half, analyzer, refs, "obama", CFG.model_copy(update={"min_face_rate": 0.75}))
    assert [r.code for r in absent.reasons] == ["character_absent"] and absent.scores["match_rate"] == 0.5


def test_quality_reason_codes(photos, analyzer, refs):
    frame = photos["obama_1"][0]
    blurred = score_clip(_clip(cv2.GaussianBlur(frame, (0, 0), 6.0)), analyzer, refs, "obama", CFG)
    assert "blurry" in [r.code for r in blurred.reasons] and "curate.min_sharpness" in blurred.reasons[-1].detail
    ok, buf = cv2.imencode(".jpg", frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 5])
    blocky = score_clip(_clip(frame, source=cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]), analyzer, refs, "obama", CFG)
    assert [r.code for r in blocky.reasons] == ["compressed"]
