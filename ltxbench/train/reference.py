"""IC-LoRA training data: which reference image each clip may be shown with, encoded and cached.

``train.reference.source``:

* ``photos``: the clip's character's ``dataset.characters[].references``;
* ``clip``: the middle frame of another accepted full-frame clip of the same character, from
  another source file (a clip of the same file, or its own head crop, would show the very frame
  to be denoised: the LoRA would learn to copy instead of to carry the identity over).

Guards (:func:`check_references`) run before any model loads. Latents (:func:`precompute_references`)
are encoded with the VAE at each clip's training size divided by ``downscale_factor`` while the
VAE is still loaded, and cached under ``cache/references`` keyed by model, image content, size and
factor, like the other latent caches. Each step draws one candidate from the step's generator, so
the draw is reproducible and resumable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.params import schema as P
from ltxbench.run.folder import Run
from ltxbench.train.data import (
    TrainingDataError,
    _names,
    cache_key,
    file_sha256,
    is_head_clip,
    load_cached,
    model_id,
    save_cached,
)
from ltxbench.util import progress


@dataclass(frozen=True)
class ReferenceImage:
    """One image a clip may be shown with: a photo, or a clip's middle frame."""

    path: Path
    frame: int | None
    """The frame index for a clip, None for a photo."""

    @property
    def label(self) -> str:
        return self.path.name if self.frame is None else f"{self.path.name}#{self.frame}"

    def read(self) -> np.ndarray:
        from ltxbench.media import video

        if self.frame is None:
            return video.read_image(self.path)
        return video.read_frames(self.path, [self.frame])[0]


def candidates(run: Run, clip: dict[str, Any], clips: list[dict[str, Any]]) -> list[ReferenceImage]:
    """The reference images ``clip`` may be trained with (``train.reference.source``)."""
    cfg = run.params.train.reference
    assert cfg is not None
    if cfg.source == "photos":
        ch = next(c for c in run.params.dataset.characters if c.name == clip["character"])
        return [ReferenceImage(Path(p), None) for p in ch.references]
    return [ReferenceImage(run.path("dataset", r["media"]), r["num_frames"] // 2) for r in clips
            if r["character"] == clip["character"] and not is_head_clip(r) and r.get("source") != clip.get("source")]


def check_references(run: Run, clips: list[dict[str, Any]]) -> None:
    """Before any model loads: every clip has a reference to be shown with, and its size divided
    by the factor stays on the VAE's 32-px grid."""
    cfg = run.params.train.reference
    if cfg is None:
        return
    grid = 32 * cfg.downscale_factor
    off = [f"{r['id']} ({r['width']}x{r['height']})" for r in clips if r["width"] % grid or r["height"] % grid]
    if off:
        raise TrainingDataError(f"{len(off)} clip(s) have sides that are not multiples of {grid} (32 x train.reference."
                                f"downscale_factor {cfg.downscale_factor}): {_names(off)}; lower the factor or re-curate "
                                f"at a curate.resolution that divides by {grid}")
    lonely = sorted({r["character"] for r in clips if not candidates(run, r, clips)})
    if lonely:
        raise TrainingDataError(f"train.reference.source is 'clip' but character(s) {', '.join(lonely)} have accepted "
                                f"clips from one source file only: no other clip can serve as the reference; add "
                                f"footage from another file or use source: photos")


@dataclass
class ReferenceBank:
    """Encoded reference latents per (stage variant, clip id): one is drawn per step."""

    latents: dict[tuple[tuple[str, bool], str], list[Any]]
    downscale_factor: int

    def draw(self, variant: tuple[str, bool], clip_id: str, generator: Any) -> Any:
        """A :class:`~ltxbench.model.reference.ReferenceLatents` for the clip, drawn from ``generator``."""
        import torch

        from ltxbench.model.reference import ReferenceLatents

        options = self.latents[(variant, clip_id)]
        pick = int(torch.randint(len(options), (1,), generator=generator)) if len(options) > 1 else 0
        return ReferenceLatents(options[pick], self.downscale_factor)


def precompute_references(run: Run, pipe: Any, stages: list[P.TrainStageSection], per_stage: list[list[dict[str, Any]]],
                          clips: list[dict[str, Any]], encoded: dict[tuple[str, bool], Any]
                          ) -> tuple[ReferenceBank | None, dict[str, int]]:
    """Encode (or read from the cache) every candidate reference at each clip's training size;
    None without ``train.reference``. ``encoded`` holds each stage variant's clip latents (their
    sizes decide the reference sizes: a head crop trains smaller than its clip)."""
    cfg = run.params.train.reference
    if cfg is None:
        return None, {}
    from ltxbench.model.reference import reference_size

    mid = model_id(run)
    stats = {"reference_hits": 0, "reference_misses": 0}
    done: dict[tuple[str, int | None, int, int], Any] = {}
    hashes: dict[Path, str] = {}
    bank: dict[tuple[tuple[str, bool], str], list[Any]] = {}
    for st, chosen in zip(stages, per_stage):
        variant = (st.crop, st.still)
        for r in progress.bar(chosen, desc=f"encode references ({st.crop})", unit="clip"):
            if (variant, r["id"]) in bank:
                continue
            lat = encoded[variant][0][r["id"]]
            height, width = lat.shape[3] * pipe.vae_spatial_compression_ratio, lat.shape[4] * pipe.vae_spatial_compression_ratio
            try:
                reference_size(height, width, cfg.downscale_factor)
            except ValueError as exc:  # a head crop's side is known only once rendered
                raise TrainingDataError(f"clip {r['id']} ({st.crop}): {exc}; lower train.reference.downscale_factor") from exc
            options = []
            for image in candidates(run, r, clips):
                sha = hashes.setdefault(image.path, file_sha256(image.path))
                slot = (sha, image.frame, height, width)
                if slot not in done:
                    key = cache_key(mid, sha, str(image.frame), "reference", str(height), str(width), str(cfg.downscale_factor))
                    path = run.path("cache", "references", f"{key}.safetensors")
                    cached = load_cached(path)
                    if cached is None:
                        cached = {"latents": encode_reference(pipe, image.read(), height, width, cfg.downscale_factor)}
                        save_cached(path, cached)
                        stats["reference_misses"] += 1
                    else:
                        stats["reference_hits"] += 1
                    done[slot] = cached["latents"]
                options.append(done[slot])
            bank[(variant, r["id"])] = options
    return ReferenceBank(bank, cfg.downscale_factor), stats


def encode_reference(pipe: Any, image: np.ndarray, height: int, width: int, downscale_factor: int = 1) -> Any:
    """The reference image's normalised latent ``[1, 128, 1, h/32, w/32]`` (float32, no gradients):
    :func:`ltxbench.model.reference.reference_pixels` through the VAE. Here, not in
    ``model.reference``, because ``model.forward`` imports that module."""
    from ltxbench.model import forward
    from ltxbench.model.reference import reference_pixels

    return forward.encode_video(pipe, reference_pixels(pipe, image, height, width, downscale_factor))
