"""The face clips the tiny pretrained base learns from: licence-clean footage and photos bundled
in ``tests/data``, cut around each face dlib finds, with augmentation.

Every item is a square *context* around one face (``CONTEXT_SCALE`` face heights on a side,
``CONTEXT_PX`` pixels) over ``FRAMES`` frames: consecutive film frames, or a photo repeated (a
photo's clip gets a slow pan when it is drawn, as curate's ``image_to_clip`` gives stills).
:meth:`FaceItem.draw` cuts a training clip from it: a head crop of 1.85-2.25 face heights (curate's
head crops are 2.0), jittered in position, mirrored, with small brightness and contrast changes.

Who is in it (see ``tests/data/ATTRIBUTION.md``): Joe Biden (a White House photograph, public
domain), the man with glasses and the woman of *Tears of Steel* (CC-BY 3.0, Blender Foundation),
and the demo character's two *training* photos (``obama_2``, ``obama_3``, public domain), which
only the VAE sees: see :mod:`ltxbench.model.tiny_base.pretrain` for why. ``obama_1``, the demo's
reference photo, is never trained on; it measures how well the VAE reconstructs an unseen photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

FRAMES = 9  # 8k+1 frames: two latent frames, the first (causal) one and one group of eight
SIZE = 128  # the clips' side in pixels: 4 x 4 latent cells
CONTEXT_SCALE = 2.8  # context side in face heights: room for the largest crop (2.4) plus jitter
CONTEXT_PX = 192

# (file, person, description used in the transformer's captions)
PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("biden_1.jpg", "biden", "an older man with white hair in a dark suit and tie"),
    ("obama_2.jpg", "character", ""),
    ("obama_3.jpg", "character", ""),
)
HELD_OUT_PHOTO = "obama_1.jpg"
FILM = "tears_of_steel_10s.mp4"
FILM_STRIDE = 3  # look for a face every third frame
FILM_MIN_FACE_PX = 40  # smaller faces hold too few pixels for a 128 px crop
# The film's faces, grouped by who they are (dlib distance < 0.6 to the group's first face).
FILM_PEOPLE: tuple[tuple[str, str], ...] = (
    ("glasses", "a young man with curly hair and glasses"),
    ("woman", "a young woman with short hair and pale eyes"),
)


@dataclass
class FaceItem:
    """One face over ``FRAMES`` frames, as a square context ``[F, CONTEXT_PX, CONTEXT_PX, 3]`` uint8."""

    name: str
    person: str
    description: str
    context: np.ndarray
    still: bool

    def draw(self, rng: np.random.Generator, frames: int = FRAMES, size: int = SIZE, spread: float = 1.0) -> np.ndarray:
        """An augmented head-crop clip ``[3, frames, size, size]`` float32 in ``[-1, 1]``; ``spread``
        scales every random change (0: curate's centred 2.0 crop, unmirrored only by chance)."""
        import cv2

        face_px = CONTEXT_PX / CONTEXT_SCALE
        side = face_px * (2.05 + spread * rng.uniform(-0.2, 0.2))
        room = (CONTEXT_PX - side) / 2.0
        cx = CONTEXT_PX / 2.0 + spread * rng.uniform(-0.3, 0.3) * room
        cy = CONTEXT_PX / 2.0 + spread * rng.uniform(-0.3, 0.3) * room
        pan = spread * rng.uniform(-0.06, 0.06) * side if self.still else 0.0
        flip = rng.random() < 0.5
        gain, offset = 1.0 + spread * rng.uniform(-0.1, 0.1), spread * rng.uniform(-12.0, 12.0)
        start = int(rng.integers(0, len(self.context) - frames + 1)) if len(self.context) > frames else 0
        out = np.empty((frames, size, size, 3), dtype=np.float32)
        for k in range(frames):
            source = self.context[min(start + k, len(self.context) - 1)]
            shift = pan * (k / max(frames - 1, 1) - 0.5)
            scale = size / side
            left, top = cx + shift - side / 2.0, cy - side / 2.0
            matrix = np.array([[scale, 0.0, -left * scale], [0.0, scale, -top * scale]], dtype=np.float32)
            frame = cv2.warpAffine(source, matrix, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REFLECT)
            out[k] = frame[:, ::-1] if flip else frame
        out = np.clip(out * gain + offset, 0.0, 255.0)
        return (out / 127.5 - 1.0).transpose(3, 0, 1, 2).copy()


def _context(frames: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """Square context around ``box`` (x0, y0, x1, y1 px) in each of ``frames``, mirrored at the edges."""
    import cv2

    x0, y0, x1, y1 = box
    side = (y1 - y0) * CONTEXT_SCALE
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    scale = CONTEXT_PX / side
    matrix = np.array([[scale, 0.0, -(cx - side / 2.0) * scale], [0.0, scale, -(cy - side / 2.0) * scale]], dtype=np.float32)
    return np.stack([cv2.warpAffine(f, matrix, (CONTEXT_PX, CONTEXT_PX), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REFLECT) for f in frames])


def photo_item(path: Path, person: str, description: str, analyzer) -> FaceItem:
    from ltxbench.media import video

    image = video.read_image(path)
    face = analyzer.largest(image)
    if face is None:
        raise ValueError(f"{path.name}: no face found")
    return FaceItem(path.stem, person, description, _context(image[None], face.box), still=True)


def film_items(path: Path, analyzer) -> list[FaceItem]:
    """Every face of at least ``FILM_MIN_FACE_PX`` found at the film's sampled frames, with the
    ``FRAMES`` frames from there; a face whose identity matches no :data:`FILM_PEOPLE` group is
    left out (groups are formed in order of appearance)."""
    from ltxbench.media import video

    info = video.probe(path)
    starts = list(range(0, info.num_frames - FRAMES, FILM_STRIDE))
    firsts = video.read_frames(path, starts)
    anchors: list[np.ndarray] = []
    items: list[FaceItem] = []
    for start, frame in zip(starts, firsts):
        face = analyzer.largest(frame)
        if face is None or face.box[3] - face.box[1] < FILM_MIN_FACE_PX:
            continue
        group = next((i for i, a in enumerate(anchors) if np.linalg.norm(a - face.embedding) < 0.6), None)
        if group is None:
            if len(anchors) == len(FILM_PEOPLE):
                continue
            anchors.append(face.embedding)
            group = len(anchors) - 1
        person, description = FILM_PEOPLE[group]
        clip = video.read_frames(path, list(range(start, start + FRAMES)))
        items.append(FaceItem(f"{path.stem}_{start:04d}", person, description, _context(clip, face.box), still=False))
    return items


def face_items(data_dir: Path) -> list[FaceItem]:
    """All training items, photos first, then the film's."""
    from ltxbench import faces

    analyzer = faces.FaceAnalyzer(upsample=1)
    items = [photo_item(data_dir / name, person, text, analyzer) for name, person, text in PHOTOS]
    return items + film_items(data_dir / FILM, analyzer)


def held_out_clip(data_dir: Path, frames: int = FRAMES, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The reference photo's head crop (2.0 face heights, curate's rule) as a still clip
    ``[3, frames, size, size]`` in [-1, 1], and the photo's dlib embedding."""
    from ltxbench import faces
    from ltxbench.media import video

    analyzer = faces.FaceAnalyzer(upsample=1)
    image = video.read_image(data_dir / HELD_OUT_PHOTO)
    face = analyzer.largest(image)
    item = FaceItem("held_out", "character", "", _context(image[None], face.box), still=True)
    face_px = CONTEXT_PX / CONTEXT_SCALE
    side = 2.0 * face_px
    left = (CONTEXT_PX - side) / 2.0
    import cv2

    crop = cv2.resize(item.context[0][int(left):int(left + side), int(left):int(left + side)], (size, size),
                      interpolation=cv2.INTER_AREA)
    clip = np.repeat(crop[None], frames, axis=0).astype(np.float32) / 127.5 - 1.0
    return clip.transpose(3, 0, 1, 2).copy(), face.embedding
