"""ltxbench.faces on the real photos and clips in tests/data (dlib models, nothing mocked)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ltxbench import faces
from ltxbench.media import video

DATA = Path(__file__).resolve().parent / "data"
OBAMA = [DATA / f"obama_{i}.jpg" for i in (1, 2, 3)]
BIDEN = DATA / "biden_1.jpg"


@pytest.fixture(scope="module")
def analyzer() -> faces.FaceAnalyzer:
    return faces.FaceAnalyzer()


@pytest.fixture(scope="module")
def photo_faces(analyzer: faces.FaceAnalyzer) -> dict[str, faces.Face]:
    """The largest face of each test photo, by file stem."""
    out = {}
    for path in [*OBAMA, BIDEN]:
        face = analyzer.largest(video.read_image(path))
        assert face is not None, path
        out[path.stem] = face
    return out


def _pairs(photo_faces: dict[str, faces.Face]) -> tuple[list[float], list[float]]:
    obama = [photo_faces[p.stem].embedding for p in OBAMA]
    biden = photo_faces[BIDEN.stem].embedding
    same = [faces.identity_distance(a, b[None]) for a, b in itertools.combinations(obama, 2)]
    different = [faces.identity_distance(biden, o[None]) for o in obama]
    return same, different


def test_one_face_per_photo_with_sane_geometry(photo_faces: dict[str, faces.Face]):
    for stem, face in photo_faces.items():
        image = video.read_image(DATA / f"{stem}.jpg")
        x0, y0, x1, y1 = face.box
        assert 0 <= x0 < x1 <= image.shape[1] and 0 <= y0 < y1 <= image.shape[0]
        assert face.height_frac == pytest.approx((y1 - y0) / image.shape[0])
        assert face.embedding.shape == (128,) and face.embedding.dtype == np.float32
        assert face.det_score > 0
        # Eye corners and nose base fall inside the box (landmarks are in original pixels too).
        lx, ly = face.landmarks[:, 0], face.landmarks[:, 1]
        assert face.landmarks.shape == (5, 2)
        assert np.all((lx > x0) & (lx < x1) & (ly > y0) & (ly < y1))


def test_boxes_map_back_from_downscaled_detection():
    # obama_3 is 1434x2333: detected shrunk to 640 px, and at full size.
    image = video.read_image(OBAMA[2])
    small = faces.FaceAnalyzer(upsample=0, max_side=640).largest(image)
    full = faces.FaceAnalyzer(upsample=0, max_side=4096).largest(image)
    assert small is not None and full is not None
    ax0, ay0, ax1, ay1 = small.box
    bx0, by0, bx1, by1 = full.box
    inter = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    assert inter / union > 0.7
    assert faces.identity_distance(small.embedding, full.embedding[None]) < 0.2  # same photo, same face


def test_distance_separates_people(photo_faces: dict[str, faces.Face]):
    same, different = _pairs(photo_faces)
    assert max(same) < faces.SAME_PERSON_DISTANCE < min(different)
    sim_same = [faces.distance_to_similarity(d) for d in same]
    sim_diff = [faces.distance_to_similarity(d) for d in different]
    assert min(sim_same) > 0.5 > max(sim_diff)


def test_raw_cosine_does_not_separate_people(photo_faces: dict[str, faces.Face]):
    # Why the module scores distances: raw cosine between two different people stays high.
    obama_1, biden = photo_faces["obama_1"].embedding, photo_faces["biden_1"].embedding
    assert faces.cosine_similarity(obama_1, biden) > 0.75


def test_reference_embeddings_and_identity(analyzer: faces.FaceAnalyzer, photo_faces: dict[str, faces.Face]):
    refs = faces.reference_embeddings(OBAMA[:2], analyzer=analyzer)
    assert refs.shape == (2, 128) and refs.dtype == np.float32
    np.testing.assert_allclose(refs[0], photo_faces["obama_1"].embedding, atol=1e-6)
    held_out = faces.identity_distance(photo_faces["obama_3"].embedding, refs)
    other = faces.identity_distance(photo_faces["biden_1"].embedding, refs)
    assert held_out < 0.6 < other
    assert faces.distance_to_similarity(held_out) > faces.distance_to_similarity(other)
    # min over references <= distance to each single reference; "mean" is available too
    assert held_out <= faces.identity_distance(photo_faces["obama_3"].embedding, refs[:1])
    assert faces.identity_distance(photo_faces["obama_3"].embedding, refs, reduce="mean") < 0.6


def test_distance_to_similarity_is_documented_mapping():
    assert faces.distance_to_similarity(0.0) == 1.0
    assert faces.distance_to_similarity(0.6) == pytest.approx(0.5)
    assert faces.distance_to_similarity(1.2) == 0.0
    assert faces.distance_to_similarity(2.0) == 0.0
    values = [faces.distance_to_similarity(d) for d in np.linspace(0, 1.2, 13)]
    assert all(a > b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError):
        faces.distance_to_similarity(float("nan"))


def test_no_face_gives_no_score(analyzer: faces.FaceAnalyzer):
    empty_snow = video.read_frames(DATA / "sintel_10s.mp4", [177])[0]  # Sintel: empty snowfield
    grey = np.full((360, 640, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    for frame in (empty_snow, grey, noise):
        assert analyzer.analyze(frame) == []
        assert analyzer.largest(frame) is None


def test_video_frame_of_another_person_is_not_the_reference(analyzer: faces.FaceAnalyzer):
    woman = video.read_frames(DATA / "tears_of_steel_10s.mp4", [232])[0]  # close-up, last shot
    face = analyzer.largest(woman)
    assert face is not None and 0.3 < face.height_frac < 0.7
    refs = faces.reference_embeddings(OBAMA, analyzer=analyzer)
    assert faces.identity_distance(face.embedding, refs) > 0.6


def test_reference_photo_without_face_is_a_clear_error(tmp_path: Path, analyzer: faces.FaceAnalyzer):
    snow = tmp_path / "snow_reference.jpg"
    Image.fromarray(video.read_frames(DATA / "sintel_10s.mp4", [177])[0]).save(snow)
    with pytest.raises(faces.NoFaceError, match="snow_reference.jpg"):
        faces.reference_embeddings([OBAMA[0], snow], analyzer=analyzer)
    with pytest.raises(ValueError, match="at least one photo"):
        faces.reference_embeddings([], analyzer=analyzer)


def test_bad_inputs(analyzer: faces.FaceAnalyzer):
    with pytest.raises(ValueError, match="uint8"):
        analyzer.analyze(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\[R,128\]"):
        faces.identity_distance(np.zeros(128, np.float32), np.zeros((2, 64), np.float32))
    with pytest.raises(ValueError, match="upsample"):
        faces.FaceAnalyzer(upsample=5)


def test_arcface_without_weights_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"w600k_r50\.onnx.*pip install onnxruntime"):
        faces.ArcFaceEmbedder(tmp_path / "w600k_r50.onnx")


def test_arcface_alignment_maps_eyes_onto_template():
    src = np.array([[120.0, 200.0], [180.0, 190.0]])
    m = faces._similarity_from_two_points(src, faces._ARCFACE_EYES)
    mapped = np.c_[src, np.ones(2)] @ m.T
    np.testing.assert_allclose(mapped, faces._ARCFACE_EYES, atol=1e-9)


def test_shape68_adds_the_68_landmarks_and_keeps_the_5_point_embedding():
    image = video.read_image(OBAMA[0])
    plain = faces.FaceAnalyzer().largest(image)
    full = faces.FaceAnalyzer(shape68=True).largest(image)
    assert plain.landmarks68 is None and full.landmarks68.shape == (68, 2)
    np.testing.assert_array_equal(plain.embedding, full.embedding)  # identity unchanged by the option
    x0, y0, x1, y1 = full.box
    jaw, nose = full.landmarks68[:17], full.landmarks68[30]
    assert x0 < nose[0] < x1 and y0 < nose[1] < y1
    assert jaw[:, 0].min() < nose[0] < jaw[:, 0].max()  # the nose tip lies between the jaw's ends
    refit = faces.FaceAnalyzer().landmarks68_in(image, full.box)
    assert np.abs(refit - full.landmarks68).max() < 3.0


# ---------------------------------------------------------------------------------------
# ArcFace as the analyzer's embedding (a tiny real ONNX model exported from torch)
# ---------------------------------------------------------------------------------------


def export_tiny_arcface(path: Path) -> Path:
    """A tiny torch network 1x3x112x112 -> 512, random weights, exported to ONNX: ArcFace's shape
    and the real onnxruntime path (what it embeds is meaningless, so no identity claims on it)."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 8, stride=8), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 14 * 14, 512)).eval()
    torch.onnx.export(net, torch.zeros(1, 3, 112, 112), str(path), input_names=["input.1"],
                      output_names=["embedding"], dynamo=False)
    return path


@pytest.fixture(scope="module")
def arc_analyzer(tmp_path_factory) -> faces.FaceAnalyzer:
    onnx = export_tiny_arcface(tmp_path_factory.mktemp("arc") / "tiny_arcface.onnx")
    return faces.FaceAnalyzer(embedder=faces.ArcFaceEmbedder(onnx))


def test_arcface_analyzer_replaces_only_the_embedding(analyzer, arc_analyzer, photo_faces):
    image = video.read_image(OBAMA[1])
    dlib_face, arc_face = photo_faces[OBAMA[1].stem], arc_analyzer.largest(image)
    assert arc_face.box == dlib_face.box and arc_face.det_score == dlib_face.det_score
    np.testing.assert_array_equal(arc_face.landmarks, dlib_face.landmarks)
    assert arc_face.embedding.shape == (512,) and arc_face.embedding.dtype == np.float32
    assert np.linalg.norm(arc_face.embedding) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(arc_face.embedding, arc_analyzer.embedder.embed(image, dlib_face), atol=1e-6)
    assert (analyzer.backend, arc_analyzer.backend) == ("dlib", "arcface")
    assert analyzer.scale.distance is faces.identity_distance  # dlib's scores stay exactly as they were
    assert analyzer.scale.similarity is faces.distance_to_similarity
    refs = faces.reference_embeddings([OBAMA[0], BIDEN], arc_analyzer)
    assert refs.shape == (2, 512)
    d = arc_analyzer.scale.distance(arc_face.embedding, refs)
    cos = max(float(r @ arc_face.embedding) for r in refs)
    assert d == pytest.approx(1.0 - cos, abs=1e-6) and arc_analyzer.scale.similarity(d) == pytest.approx(max(cos, 0.0), abs=1e-6)


def test_arcface_scale_is_cosine_distance_and_clamped_cosine():
    scale = faces.identity_scale("arcface")
    e = np.zeros(512, np.float32)
    e[0] = 1.0
    other = np.zeros((1, 512), np.float32)
    other[0, 1] = 3.0  # orthogonal; the length does not matter
    assert scale.distance(e, e[None]) == pytest.approx(0.0) and scale.similarity(0.0) == 1.0
    assert scale.distance(e, other) == pytest.approx(1.0) and scale.similarity(1.0) == 0.0
    assert scale.distance(e, -e[None]) == pytest.approx(2.0) and scale.similarity(2.0) == 0.0  # clamped at 0
    assert scale.distance(e, np.stack([other[0], e])) == pytest.approx(0.0)  # nearest reference
    assert scale.distance(e, np.stack([other[0], e]), reduce="mean") == pytest.approx(1 - np.sqrt(0.5))
    with pytest.raises(ValueError, match="same model"):
        scale.distance(e, np.ones((1, 128), np.float32))
    with pytest.raises(ValueError, match="unknown identity backend"):
        faces.identity_scale("facenet")


def test_arcface_analyzer_pickles_and_works_in_forked_workers(arc_analyzer):
    """The ONNX session is opened in the parent before the fork; each worker must open its own
    (a session does not pickle, and an inherited one has no thread pool in the child)."""
    import multiprocessing
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    images = [video.read_image(p) for p in (OBAMA[0], BIDEN)]
    expected = [arc_analyzer.largest(im).embedding for im in images]  # the parent's session is in use
    copy = pickle.loads(pickle.dumps(arc_analyzer))
    assert copy.embedder.onnx_path == arc_analyzer.embedder.onnx_path
    np.testing.assert_allclose(copy.largest(images[0]).embedding, expected[0], atol=1e-6)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        got = list(pool.map(_largest_embedding, [(arc_analyzer, im) for im in images], timeout=120))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-6)


def _largest_embedding(job: tuple[faces.FaceAnalyzer, np.ndarray]) -> np.ndarray:
    analyzer, image = job
    return analyzer.largest(image).embedding
