"""Prompt adherence: CLIP score between a video's frames and its prompt (open_clip, offline).

``clip_score = mean over frames of 100 * max(cos(image_embedding, text_embedding), 0)``: the
convention of torchmetrics' ``CLIPScore`` (Hessel et al.'s CLIPScore uses 2.5 instead of 100;
the ranking is the same). Typical values with ViT-B-32 LAION weights: ~20 for unrelated
image/text, ~30-35 for a good match. Use it to compare checkpoints with each other and with the
base model on the same prompts, not as an absolute quality.

Weights are never downloaded here (evaluation must run offline and reproducibly). ``pretrained``
is either a file path (an open_clip checkpoint, ``.bin``/``.pt``/``.safetensors``) or an
open_clip tag such as ``laion2b_s34b_b79k``, which is looked up in the local Hugging Face cache
(``cache_dir``, else ``HF_HUB_CACHE``/``~/.cache/huggingface/hub``) or, for URL-only tags, in
open_clip's ``~/.cache/clip``. When the file is not there, :class:`ClipWeightsMissingError`
says exactly what to download and where to put it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
_HF_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


class ClipWeightsMissingError(FileNotFoundError):
    """The CLIP weights for the prompt-adherence score are not on this machine."""


def resolve_weights(model_name: str, pretrained: str, cache_dir: str | Path | None = None) -> Path:
    """The local checkpoint file for ``model_name`` + ``pretrained`` (path or tag), never downloading."""
    import open_clip

    if os.path.sep in pretrained or pretrained.endswith((".bin", ".pt", ".pth", ".safetensors")) or Path(pretrained).is_file():
        path = Path(pretrained).expanduser()
        if path.is_file():
            return path
        raise ClipWeightsMissingError(
            f"CLIP weights file not found: {path}. Put an open_clip checkpoint for {model_name} there (for the "
            f"default ViT-B-32 LAION-2B weights: `huggingface-cli download laion/CLIP-ViT-B-32-laion2B-s34B-b79K open_clip_pytorch_model.bin "
            f"--local-dir {path.parent}` then pass {path.parent / 'open_clip_pytorch_model.bin'}).")
    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise ClipWeightsMissingError(f"{pretrained!r} is neither a file nor an open_clip tag of {model_name}; "
                                      f"known tags: {tags}")
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
        names = (filename,) if filename else _HF_WEIGHT_FILES
        for name in names:
            found = try_to_load_from_cache(repo, name, cache_dir=str(cache_dir) if cache_dir else None)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
        cache = f" --cache-dir {cache_dir}" if cache_dir else ""
        where = cache_dir or "the default Hugging Face cache (HF_HUB_CACHE, else ~/.cache/huggingface/hub)"
        raise ClipWeightsMissingError(
            f"CLIP weights for {model_name}/{pretrained} are not in {where} and are never downloaded during "
            f"evaluation. Download them there with `huggingface-cli download {repo} {names[-1]}{cache}` (on a machine "
            f"with internet, then copy the cache folder here), or download {repo}/{names[-1]} anywhere and pass "
            f"the file's path as the pretrained CLIP weights.")
    url = cfg.get("url", "")
    target = Path(cache_dir or Path.home() / ".cache" / "clip") / os.path.basename(url)
    if target.is_file():
        return target
    raise ClipWeightsMissingError(
        f"CLIP weights for {model_name}/{pretrained} are missing and are never downloaded during evaluation: "
        f"download {url} and put it at {target}, or pass the file's path as the pretrained weights.")


@dataclass
class ClipScorer:
    """An open_clip model, its image preprocessing and tokenizer, on CPU unless ``device`` says otherwise."""

    model: Any
    preprocess: Any
    tokenizer: Any
    device: str
    weights: Path

    @classmethod
    def load(cls, model_name: str = DEFAULT_MODEL, pretrained: str = DEFAULT_PRETRAINED,
             cache_dir: str | Path | None = None, device: str = "cpu") -> ClipScorer:
        """Load from a local file only (see the module docstring); ``model_name`` is any open_clip
        config name, including ones registered with ``open_clip.add_model_config``."""
        import open_clip

        if open_clip.get_model_config(model_name) is None:
            raise ValueError(f"unknown open_clip model {model_name!r}; e.g. {DEFAULT_MODEL}")
        weights = resolve_weights(model_name, pretrained, cache_dir)
        # A file path makes open_clip load it directly: no tag lookup, no network.
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=str(weights), device=device)
        model.eval()
        return cls(model, preprocess, open_clip.get_tokenizer(model_name), device, weights)

    def image_embeddings(self, frames: np.ndarray) -> np.ndarray:
        """L2-normalised image embeddings ``[F,D]`` of ``frames`` ``[F,H,W,3]`` uint8."""
        import torch
        from PIL import Image

        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or len(frames) == 0:
            raise ValueError(f"frames must be a non-empty [F,H,W,3] uint8 array, got shape {getattr(frames, 'shape', None)}")
        batch = torch.stack([self.preprocess(Image.fromarray(f)) for f in frames]).to(self.device)
        with torch.inference_mode():
            emb = self.model.encode_image(batch).float()
        return torch.nn.functional.normalize(emb, dim=-1).cpu().numpy()

    def text_embedding(self, text: str) -> np.ndarray:
        """L2-normalised text embedding ``[D]``."""
        import torch

        with torch.inference_mode():
            emb = self.model.encode_text(self.tokenizer([text]).to(self.device)).float()
        return torch.nn.functional.normalize(emb, dim=-1)[0].cpu().numpy()

    def score(self, frames: np.ndarray, text: str) -> float:
        """``clip_score``: mean over frames of ``100 * max(cosine, 0)`` (module docstring)."""
        cos = self.image_embeddings(frames) @ self.text_embedding(text)
        return float(np.mean(100.0 * np.clip(cos, 0.0, None)))
