"""Faces and identity, offline: dlib's HOG detector, 5-point landmarks and 128-D ResNet embedding.

The model files ship in the ``face_recognition_models`` package and are loaded on first use
(about 1 s), never at import. :class:`FaceAnalyzer` finds faces in an RGB frame and embeds
them; :func:`reference_embeddings`, :func:`identity_distance` and :func:`distance_to_similarity`
turn embeddings into an identity score.

Why a distance, not cosine similarity
    dlib's embeddings are trained so that the Euclidean distance between two photos of one
    person is below 0.6 (dlib's documented same-person threshold; the model scores 99.38% on LFW). Their raw
    cosine similarity is squeezed into a narrow band near 1: measured on ``tests/data`` it is
    0.95-0.97 for the same person and still 0.80-0.82 for two different people, so a cosine
    "similarity" of 0.8 would look like a good score for the wrong person.

    The score used is ``similarity = clip(1 - distance / 1.2, 0, 1)``: linear and monotone in
    the distance, 1 for identical embeddings, **0.5 exactly at dlib's 0.6 threshold**, 0 at
    distance 1.2 (different people sit around 0.8-0.9). Being linear (below 1.2), a mean of
    similarities over frames is the similarity of the mean distance; a sigmoid would not be.

Measured on tests/data with ``FaceAnalyzer()`` defaults (largest face per photo)::

    pair                 distance   raw cosine   similarity
    obama_1 - obama_2      0.365       0.965        0.696
    obama_1 - obama_3      0.335       0.971        0.721
    obama_2 - obama_3      0.439       0.949        0.634
    obama_1 - biden_1      0.855       0.811        0.287
    obama_2 - biden_1      0.826       0.821        0.312
    obama_3 - biden_1      0.873       0.801        0.272

    same person 0.34-0.44 (similarity 0.63-0.72); different people 0.83-0.87 (0.27-0.31).
    Each Obama photo against the other two (identity_distance, reduce="min"): 0.335, 0.365,
    0.335; biden_1 against all three: 0.826. With reduce="mean": 0.273, 0.367, 0.345 and 0.822.

Reference set: :func:`identity_distance` takes the minimum distance over the reference photos
(nearest neighbour). dlib's 0.6 threshold was calibrated on pairs of photos, which is what the
minimum compares, and varied references (profile, smiling, other light) each match the frames
that resemble them instead of being blurred into one template. ``reduce="mean"`` (distance to
the mean embedding) is available for comparison.

Backends (:class:`IdentityScale`): dlib's embedding is the default. ``FaceAnalyzer(embedder=
ArcFaceEmbedder(path))`` keeps dlib's detector and 5-point landmarks but makes ``Face.embedding``
an L2-normalised 512-D ArcFace embedding from user-supplied ONNX weights; its distance is the
cosine distance ``1 - cos`` and its similarity ``max(cos, 0)`` (as FaceSim-Arc). Use
``analyzer.scale`` (or :func:`identity_scale`) so distances, similarities and thresholds match
the embedding they are computed from.

Speed on this machine (2 CPU cores, the generic dlib-bin wheel): the ResNet embedding costs
~0.19 s per face whatever the image size. With the defaults, a 640x360 frame takes 0.13 s with
no face and 0.32 s with one face; a 1434x2333 photo 0.44 s (detection at 1280 px, 0.2 s).
:meth:`FaceAnalyzer.largest` embeds only the largest face, so extra faces cost nothing there.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

import cv2
import numpy as np

log = logging.getLogger("ltxbench")

PathLike = str | os.PathLike[str]

EMBEDDING_DIM = 128
SAME_PERSON_DISTANCE = 0.6
"""dlib's documented threshold: two faces closer than this are the same person."""
SIMILARITY_ZERO_DISTANCE = 2 * SAME_PERSON_DISTANCE
"""Distance at which :func:`distance_to_similarity` reaches 0, so the threshold maps to 0.5."""


class NoFaceError(ValueError):
    """A reference photo in which no face is found."""


@dataclass(frozen=True, eq=False)  # eq=False: comparing ndarray fields with == is ambiguous
class Face:
    """One detected face. Coordinates are pixels of the frame given to :meth:`FaceAnalyzer.analyze`."""

    box: tuple[int, int, int, int]  # (x0, y0, x1, y1), x1/y1 exclusive, clipped to the frame
    height_frac: float  # box height / frame height
    embedding: np.ndarray  # float32 [128] dlib ResNet descriptor, or [512] L2-normalised ArcFace with an embedder
    det_score: float  # HOG detector margin (above the analyzer's min_score, 0 by default; larger is surer)
    landmarks: np.ndarray  # float32 [5,2] (x, y): two corners of each eye and the base of the nose
    landmarks68: np.ndarray | None = None  # float32 [68,2] iBUG 300-W points; only with FaceAnalyzer(shape68=True)


# ---------------------------------------------------------------------------------------
# Models (loaded lazily, once per process)
# ---------------------------------------------------------------------------------------


def _model_dir() -> Path:
    """The ``models`` folder of ``face_recognition_models``, found without importing the package
    (its ``__init__`` imports the deprecated ``pkg_resources`` and warns)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face_recognition_models is not installed: pip install face_recognition_models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass(frozen=True)
class _Models:
    detector: Any
    shape_predictor: Any
    recognizer: Any


@functools.lru_cache(maxsize=1)
def _shape68_predictor() -> Any:
    """dlib's 68-point predictor (iBUG 300-W layout: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47,
    mouth 48-67). Loaded only when asked for: head pose and mouth shape need it, identity does not."""
    import dlib

    path = _model_dir() / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise FileNotFoundError(f"dlib model file missing: {path}; reinstall face_recognition_models")
    return dlib.shape_predictor(str(path))


@functools.lru_cache(maxsize=1)
def _models() -> _Models:
    import dlib

    folder = _model_dir()
    files = {"shape": folder / "shape_predictor_5_face_landmarks.dat",
             "resnet": folder / "dlib_face_recognition_resnet_model_v1.dat"}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"dlib model files missing: {missing}; reinstall face_recognition_models")
    log.debug("loading dlib face models from %s", folder)
    return _Models(dlib.get_frontal_face_detector(), dlib.shape_predictor(str(files["shape"])),
                   dlib.face_recognition_model_v1(str(files["resnet"])))


def load_models() -> None:
    """Load every dlib model this module uses now (once per process; e.g. as a worker initializer)."""
    _models()
    _shape68_predictor()


# ---------------------------------------------------------------------------------------
# Detection and embedding
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Detection:
    rect: tuple[int, int, int, int]  # (left, top, right, bottom) inclusive, original pixels, unclipped
    score: float

    @property
    def area(self) -> int:
        left, top, right, bottom = self.rect
        return (right - left + 1) * (bottom - top + 1)


class FaceAnalyzer:
    """Find and embed faces in RGB frames with dlib (CPU, offline).

    Detection runs on a resized copy whose scale is ``min(2 ** upsample, max_side / long_side)``:
    dlib's HOG detector only finds faces of about 80 px and up, so small frames are enlarged
    (``upsample=1``: faces down to ~40 px in a 640x360 frame) while the detection image never
    exceeds ``max_side``, which bounds its cost (~0.2 s at 1280 px here) and shrinks large
    photos (INTER_AREA), whose faces are big anyway. Boxes are mapped back; landmarks and
    embeddings are computed on the original frame. ``min_score`` is dlib's ``adjust_threshold``;
    raise it to keep only confident detections. ``shape68=True`` also fits dlib's 68-point shape
    to each described face (``Face.landmarks68``, ~2 ms a face) for head pose and expression; the
    embedding keeps using the 5-point alignment it was trained with. ``embedder``: an
    :class:`ArcFaceEmbedder` that replaces dlib's embedding (``None``: dlib's); it pickles to its
    path, so the analyzer can be sent to worker processes.
    """

    def __init__(self, upsample: int = 1, max_side: int = 1280, min_score: float = 0.0, shape68: bool = False,
                 embedder: ArcFaceEmbedder | None = None) -> None:
        if upsample not in (0, 1, 2):
            raise ValueError(f"upsample must be 0, 1 or 2, got {upsample}")
        if max_side < 64:
            raise ValueError(f"max_side must be >= 64, got {max_side}")
        self.upsample = upsample
        self.max_side = max_side
        self.min_score = min_score
        self.shape68 = shape68
        self.embedder = embedder

    @property
    def backend(self) -> Literal["dlib", "arcface"]:
        """Which embedding ``Face.embedding`` holds."""
        return "dlib" if self.embedder is None else "arcface"

    @property
    def scale(self) -> IdentityScale:
        """Distance and similarity for this analyzer's embeddings."""
        return identity_scale(self.backend)

    def __repr__(self) -> str:
        arc = "" if self.embedder is None else f", embedder=ArcFaceEmbedder({str(self.embedder.onnx_path)!r})"
        return (f"FaceAnalyzer(upsample={self.upsample}, max_side={self.max_side}, min_score={self.min_score}, "
                f"shape68={self.shape68}{arc})")

    def landmarks68_in(self, frame_rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The 68 points ``[68,2]`` float32 fitted inside ``box`` (x0, y0, x1, y1, pixels), no detection.

        For frames next to one where the face was detected (a face moves little in a few frames):
        the fit costs ~2 ms where a detection costs ~100 ms.
        """
        import dlib

        frame = _as_rgb(frame_rgb)
        x0, y0, x1, y1 = (int(v) for v in box)
        shape = _shape68_predictor()(frame, dlib.rectangle(x0, y0, x1 - 1, y1 - 1))
        return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float32)

    def analyze(self, frame_rgb: np.ndarray) -> list[Face]:
        """Every face in ``frame_rgb`` ``[H,W,3]`` uint8, largest first; ``[]`` when there is none."""
        frame = _as_rgb(frame_rgb)
        return [self._describe(frame, det) for det in self._detect(frame)]

    def largest(self, frame_rgb: np.ndarray) -> Face | None:
        """The largest face in ``frame_rgb``, or ``None``. Only that face is embedded."""
        frame = _as_rgb(frame_rgb)
        detections = self._detect(frame)
        return self._describe(frame, detections[0]) if detections else None

    def largest_near(self, frame_rgb: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.75) -> Face | None:
        """The largest face inside ``box`` (x0, y0, x1, y1) grown by ``margin`` × its size on each
        side, or ``None``. Detection runs on that crop only (a 150 px face in a 768x512 frame: a
        crop about a quarter of the frame's area), so following a face found in a nearby frame
        costs a fraction of a full search; landmarks and embedding use the whole frame."""
        frame = _as_rgb(frame_rgb)
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = box
        grow_x, grow_y = margin * (x1 - x0), margin * (y1 - y0)
        left, top = max(0, int(x0 - grow_x)), max(0, int(y0 - grow_y))
        right, bottom = min(width, int(np.ceil(x1 + grow_x))), min(height, int(np.ceil(y1 + grow_y)))
        if right - left < 16 or bottom - top < 16:
            return None
        detections = self._detect(np.ascontiguousarray(frame[top:bottom, left:right]))
        if not detections:
            return None
        l, t, r, b = detections[0].rect
        return self._describe(frame, _Detection((l + left, t + top, r + left, b + top), detections[0].score))

    def _detect(self, frame: np.ndarray) -> list[_Detection]:
        """HOG detections in original-pixel coordinates, largest first."""
        height, width = frame.shape[:2]
        scale = min(2.0 ** self.upsample, self.max_side / max(height, width))
        work = frame
        if abs(scale - 1.0) > 1e-6:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            work = cv2.resize(frame, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        rects, scores, _ = _models().detector.run(work, 0, self.min_score)
        out = []
        for r, s in zip(rects, scores):
            # Map the inclusive rectangle back: pixel edges scale, so right/bottom go via +1.
            rect = (int(round(r.left() / scale)), int(round(r.top() / scale)),
                    int(round((r.right() + 1) / scale)) - 1, int(round((r.bottom() + 1) / scale)) - 1)
            out.append(_Detection(rect, float(s)))
        return sorted(out, key=lambda d: -d.area)

    def _describe(self, frame: np.ndarray, det: _Detection) -> Face:
        import dlib

        models = _models()
        left, top, right, bottom = det.rect
        shape = models.shape_predictor(frame, dlib.rectangle(left, top, right, bottom))
        landmarks = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float32)
        if self.embedder is None:
            embedding = np.asarray(models.recognizer.compute_face_descriptor(frame, shape), dtype=np.float32)
        else:  # dlib's ResNet is skipped (~0.19 s a face): ArcFace aligns on the same 5 points
            embedding = self.embedder.embed_landmarks(frame, landmarks)
        height, width = frame.shape[:2]
        box = (max(0, left), max(0, top), min(width, right + 1), min(height, bottom + 1))
        landmarks68 = None
        if self.shape68:
            full = _shape68_predictor()(frame, dlib.rectangle(left, top, right, bottom))
            landmarks68 = np.array([[full.part(i).x, full.part(i).y] for i in range(full.num_parts)], dtype=np.float32)
        return Face(box, (box[3] - box[1]) / height, embedding, det.score, landmarks, landmarks68)


def _as_rgb(frame: np.ndarray) -> np.ndarray:
    """A C-contiguous ``[H,W,3]`` uint8 view (dlib refuses strided arrays)."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be a [H,W,3] uint8 RGB array, got shape {getattr(frame, 'shape', None)} "
                         f"dtype {getattr(frame, 'dtype', type(frame).__name__)}")
    return np.ascontiguousarray(frame)


# ---------------------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------------------


def reference_embeddings(paths: Sequence[PathLike], analyzer: FaceAnalyzer | None = None) -> np.ndarray:
    """Embeddings ``[R,D]`` float32 of the largest face in each reference photo, in order
    (``D`` 128 for dlib, 512 with the analyzer's ArcFace embedder).

    Photos are read with their EXIF orientation. An analyzer with ``upsample=0`` that finds no
    face gets one retry at ``upsample=1`` (small faces in small photos); if there is still none,
    :class:`NoFaceError` names the photo.
    """
    from ltxbench.media.video import read_image

    if not paths:
        raise ValueError("no reference photos given: identity needs at least one photo of the character")
    analyzer = analyzer or FaceAnalyzer()
    out = []
    for path in paths:
        image = read_image(path)
        face = analyzer.largest(image)
        if face is None and analyzer.upsample == 0:
            face = FaceAnalyzer(1, analyzer.max_side, analyzer.min_score, embedder=analyzer.embedder).largest(image)
        if face is None:
            raise NoFaceError(f"no face found in reference photo {path} ({image.shape[1]}x{image.shape[0]}): "
                              "use a photo where the face is visible, frontal-ish and at least ~80 px tall")
        out.append(face.embedding)
    return np.stack(out).astype(np.float32)


def identity_distance(embedding: np.ndarray, refs: np.ndarray, reduce: Literal["min", "mean"] = "min") -> float:
    """dlib distance from a face ``embedding`` ``[128]`` to the references ``[R,128]``.

    ``"min"`` (default): Euclidean distance to the nearest reference; below 0.6 means the same
    person. ``"mean"``: distance to the mean reference embedding (reads smaller for everyone).
    """
    e = np.asarray(embedding, dtype=np.float64).reshape(-1)
    r = np.asarray(refs, dtype=np.float64)
    if r.ndim == 1:
        r = r[None, :]
    if e.shape != (EMBEDDING_DIM,) or r.ndim != 2 or r.shape[1] != EMBEDDING_DIM or len(r) == 0:
        raise ValueError(f"need an embedding [128] and references [R,128], got {e.shape} and {r.shape}")
    if reduce == "min":
        return float(np.linalg.norm(r - e, axis=1).min())
    if reduce == "mean":
        return float(np.linalg.norm(r.mean(axis=0) - e))
    raise ValueError(f"reduce must be 'min' or 'mean', got {reduce!r}")


def distance_to_similarity(distance: float) -> float:
    """``clip(1 - distance / 1.2, 0, 1)``: 1 identical, 0.5 at dlib's 0.6 threshold, 0 at 1.2."""
    if not np.isfinite(distance) or distance < 0:
        raise ValueError(f"distance must be a finite number >= 0, got {distance}")
    return float(np.clip(1.0 - distance / SIMILARITY_ZERO_DISTANCE, 0.0, 1.0))


def arcface_distance(embedding: np.ndarray, refs: np.ndarray, reduce: Literal["min", "mean"] = "min") -> float:
    """Cosine distance ``1 - cos`` from an ArcFace ``embedding`` ``[D]`` to the references ``[R,D]``.

    ``"min"`` (default): to the nearest reference; ``"mean"``: to the mean of the (normalised)
    references. Inputs are re-normalised, so any non-zero vectors work.
    """
    e = np.asarray(embedding, dtype=np.float64).reshape(-1)
    r = np.asarray(refs, dtype=np.float64)
    if r.ndim == 1:
        r = r[None, :]
    if r.ndim != 2 or len(r) == 0 or r.shape[1] != e.shape[0]:
        raise ValueError(f"need an embedding [D] and references [R,D] from the same model, got {e.shape} and {r.shape}")
    e = e / max(float(np.linalg.norm(e)), 1e-12)
    r = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-12)
    if reduce == "min":
        cos = float((r @ e).max())
    elif reduce == "mean":
        m = r.mean(axis=0)
        cos = float(m @ e / max(float(np.linalg.norm(m)), 1e-12))
    else:
        raise ValueError(f"reduce must be 'min' or 'mean', got {reduce!r}")
    return float(np.clip(1.0 - cos, 0.0, 2.0))


def arcface_similarity(distance: float) -> float:
    """``clip(1 - distance, 0, 1)``: the cosine similarity, negative values clamped to 0 (as FaceSim-Arc)."""
    if not np.isfinite(distance) or distance < 0:
        raise ValueError(f"distance must be a finite number >= 0, got {distance}")
    return float(np.clip(1.0 - distance, 0.0, 1.0))


@dataclass(frozen=True)
class IdentityScale:
    """How one embedding backend measures identity: ``distance(embedding, refs)`` (lower is more
    alike; compared with the backend's threshold) and ``similarity(distance)`` in [0, 1]."""

    backend: Literal["dlib", "arcface"]
    distance: Any  # Callable[[np.ndarray, np.ndarray], float]
    similarity: Any  # Callable[[float], float]


_SCALES = {"dlib": IdentityScale("dlib", identity_distance, distance_to_similarity),
           "arcface": IdentityScale("arcface", arcface_distance, arcface_similarity)}


def identity_scale(backend: str) -> IdentityScale:
    """The :class:`IdentityScale` of ``"dlib"`` (Euclidean, ``1 - d/1.2``) or ``"arcface"`` (``1 - cos``, ``cos``)."""
    try:
        return _SCALES[backend]
    except KeyError:
        raise ValueError(f"unknown identity backend {backend!r}; known: {', '.join(_SCALES)}") from None


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Raw cosine similarity of two embeddings. Diagnostic only: it does not separate people (see above)."""
    a64, b64 = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(a64 @ b64 / (np.linalg.norm(a64) * np.linalg.norm(b64)))


# ---------------------------------------------------------------------------------------
# Optional ArcFace backend (user-supplied ONNX weights)
# ---------------------------------------------------------------------------------------

# Where ArcFace expects the eye centres in its 112x112 input (insightface's alignment template).
_ARCFACE_SIZE = 112
_ARCFACE_EYES = np.array([[38.2946, 51.6963], [73.5318, 51.5014]], dtype=np.float64)


class ArcFaceEmbedder:
    """512-D ArcFace embeddings from ONNX weights the user supplies (not shipped, not downloaded).

    Expects an insightface-style recognition model: input ``[1,3,112,112]`` RGB scaled to
    ``(x - 127.5) / 127.5``, e.g. ``w600k_r50.onnx`` from insightface's ``buffalo_l`` pack.
    Needs ``pip install onnxruntime``. Faces are aligned by a similarity transform that puts
    the eye centres (from dlib's landmarks) where ArcFace expects them; compare ArcFace
    embeddings by cosine similarity and calibrate a threshold on your own photos, since
    dlib's 0.6 does not apply.

    Worker processes: an ONNX Runtime session does not pickle, and one inherited through ``fork``
    would carry a thread pool whose threads the child does not have. So the embedder pickles to
    its path, and sessions are cached per (process id, path): an unpickled or forked copy opens
    its own session, once per process, with one intra-op thread (one process per core).
    """

    def __init__(self, onnx_path: PathLike, threads: int = 0) -> None:
        self.onnx_path = Path(onnx_path)
        self.threads = threads
        if not self.onnx_path.is_file():
            raise FileNotFoundError(
                f"ArcFace weights not found: {self.onnx_path}. Supply an insightface ArcFace recognition "
                "model (e.g. w600k_r50.onnx from the buffalo_l pack) and install the runtime with "
                "`pip install onnxruntime`.")
        try:
            import onnxruntime
        except ImportError as exc:
            raise ImportError("ArcFaceEmbedder needs onnxruntime: `pip install onnxruntime` "
                              f"(weights: {self.onnx_path})") from exc
        del onnxruntime  # imported above only to fail early with a clear message
        self._session = _arcface_session(str(self.onnx_path.resolve()), os.getpid(), threads)
        self._input = self._session.get_inputs()[0].name

    def __getstate__(self) -> dict[str, Any]:
        return {"onnx_path": self.onnx_path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["onnx_path"], threads=1)  # type: ignore[misc]

    def aligned_chip(self, frame_rgb: np.ndarray, face: Face) -> np.ndarray:
        """The face warped to ArcFace's ``[112,112,3]`` uint8 layout."""
        return self._chip(_as_rgb(frame_rgb), face.landmarks)

    def _chip(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        pts = landmarks.astype(np.float64)
        eyes = np.array([pts[0:2].mean(axis=0), pts[2:4].mean(axis=0)])
        eyes = eyes[np.argsort(eyes[:, 0])]  # image-left eye first, as in the template
        m = _similarity_from_two_points(eyes, _ARCFACE_EYES)
        return cv2.warpAffine(frame, m, (_ARCFACE_SIZE, _ARCFACE_SIZE), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT101)

    def embed(self, frame_rgb: np.ndarray, face: Face) -> np.ndarray:
        """L2-normalised ArcFace embedding ``[512]`` float32 of ``face`` in ``frame_rgb``."""
        return self.embed_landmarks(_as_rgb(frame_rgb), face.landmarks)

    def embed_landmarks(self, frame_rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The embedding of the face whose dlib 5-point ``landmarks`` ``[5,2]`` are given."""
        chip = self._chip(_as_rgb(frame_rgb), landmarks).astype(np.float32)
        blob = ((chip - 127.5) / 127.5).transpose(2, 0, 1)[None]
        out = np.asarray(self._session.run(None, {self._input: blob})[0], dtype=np.float32).reshape(-1)
        return out / max(float(np.linalg.norm(out)), 1e-12)


@functools.lru_cache(maxsize=8)
def _arcface_session(path: str, pid: int, threads: int) -> Any:
    """One ONNX Runtime session per (path, process): ``pid`` is in the key so that a forked child
    never uses its parent's session (see :class:`ArcFaceEmbedder`). ``threads`` 0: ORT's default."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    return onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def _similarity_from_two_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 rotation+scale+translation mapping ``src[0]->dst[0]`` and ``src[1]->dst[1]``."""
    s, d = src[1] - src[0], dst[1] - dst[0]
    # As complex numbers: z -> a*z + b with a = d/s.
    a = complex(d[0], d[1]) / complex(s[0], s[1])
    b = complex(dst[0][0], dst[0][1]) - a * complex(src[0][0], src[0][1])
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]], dtype=np.float64)
