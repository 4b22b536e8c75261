"""The vision-language-model captioner: an open VLM reads a few frames of each clip.

Any transformers image-text-to-text model with a chat template works through
``AutoProcessor`` / ``AutoModelForImageTextToText`` (Qwen2.5-VL and Qwen3-VL are the tested
family; the default is ``Qwen/Qwen2.5-VL-3B-Instruct``). The frames of a clip go in as a list of
images in time order, which every such model accepts, rather than as a "video" input whose
frame-sampling rules differ between model families.

Weights come from a local folder or the Hugging Face cache only (``local_files_only``); when they
are absent, :class:`VLMNotFoundError` says what to download. ``caption.vlm.model: tiny`` builds a
random-weight Qwen2.5-VL in code (:mod:`.tiny_vlm`) to run the path without any download.

Generation is greedy (deterministic). The model's text is cleaned (one line, no quotes or
"Caption:" prefix) and then gets the trigger and the lint like any other caption.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.errors import Problem

log = logging.getLogger("ltxbench")


class VLMNotFoundError(FileNotFoundError):
    """The captioning VLM's weights are not on this machine; the message says what to download."""


def _is_local(model_id: str) -> bool:
    return model_id.startswith(("/", ".", "~")) or Path(model_id).expanduser().is_dir()


def download_hint(model_id: str) -> str:
    return (f"download it first: `hf download {model_id}` (into the Hugging Face cache; HF_HOME or HF_HUB_CACHE "
            f"move it), or `hf download {model_id} --local-dir /models/vlm` and set caption.vlm.model: /models/vlm; "
            "caption.vlm.model: tiny runs a random-weight VLM without any download")


def vlm_problems(model_id: str, field: str = "caption.vlm.model") -> list[Problem]:
    """Whether the VLM's weights are here, checked without loading anything (for params validation)."""
    if model_id == "tiny":
        return []
    if _is_local(model_id):
        folder = Path(model_id).expanduser()
        if not (folder / "config.json").is_file():
            return [Problem(field, model_id, "no config.json in that folder, so no transformers model is there")]
        return []
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", model_id):
        return [Problem(field, model_id, "expected 'tiny', a local folder (/..., ./...) or a hub id owner/name")]
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(model_id, "config.json")
    except Exception:  # malformed ids raise validation errors: not cached
        found = None
    if not isinstance(found, str):
        return [Problem(field, model_id, "not in the local Hugging Face cache and nothing is downloaded at run time; "
                        + download_hint(model_id))]
    return []


def load_vlm(model_id: str, device: str = "auto", dtype: str = "auto") -> tuple[Any, Any]:
    """``(model, processor)`` from a local folder or the HF cache (never downloads), in eval mode."""
    import torch

    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    torch_dtype = {"auto": torch.bfloat16 if dev == "cuda" else torch.float32, "float32": torch.float32,
                   "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    if model_id == "tiny":
        from ltxbench.caption.tiny_vlm import build_tiny_vlm

        model, processor = build_tiny_vlm()
        model = model.to(torch_dtype)
    else:
        problems = vlm_problems(model_id)
        if problems:
            raise VLMNotFoundError(f"captioning VLM {model_id!r}: {problems[0].allowed}")
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            processor = AutoProcessor.from_pretrained(model_id, local_files_only=True)
            model = AutoModelForImageTextToText.from_pretrained(model_id, local_files_only=True, dtype=torch_dtype)
        except OSError as exc:  # a partial download: config present, weights or processor files missing
            raise VLMNotFoundError(f"captioning VLM {model_id!r} is incomplete on this machine ({exc}); "
                                   + download_hint(model_id)) from exc
    model = model.to(dev).eval()
    tokenizer = getattr(processor, "tokenizer", processor)
    tokenizer.padding_side = "left"  # decoder-only batched generation: prompts must end where generation starts
    return model, processor


def _fit(frame: np.ndarray, max_side: int) -> Any:
    from PIL import Image

    img = Image.fromarray(frame)
    scale = max_side / max(img.size)
    if scale < 1:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)
    return img


def clean_output(text: str) -> str:
    """The model's answer as one caption line: whitespace collapsed, no quotes, no "Caption:" prefix."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"^(caption|description)\s*:\s*", "", text, flags=re.IGNORECASE)
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


class VLMCaptioner:
    """Captions clips with a VLM: system prompt + the sampled frames + the user prompt, batched."""

    def __init__(self, model: Any, processor: Any, *, model_id: str, system_prompt: str, prompt: str,
                 frames: int = 4, max_side: int = 448, max_new_tokens: int = 96):
        self.model, self.processor = model, processor
        self.model_id, self.system_prompt, self.prompt = model_id, system_prompt, prompt
        self.frames, self.max_side, self.max_new_tokens = frames, max_side, max_new_tokens

    @classmethod
    def from_settings(cls, cfg: Any) -> VLMCaptioner:
        """From ``caption.vlm`` (a ``CaptionVLMSection``)."""
        model, processor = load_vlm(cfg.model, cfg.device, cfg.dtype)
        return cls(model, processor, model_id=cfg.model, system_prompt=cfg.system_prompt, prompt=cfg.prompt,
                   frames=cfg.frames, max_side=cfg.max_side, max_new_tokens=cfg.max_new_tokens)

    @property
    def label(self) -> str:
        return f"vlm:{self.model_id}"

    def messages(self, n_frames: int) -> list[dict[str, Any]]:
        user = [{"type": "image"} for _ in range(n_frames)]
        user.append({"type": "text", "text": self.prompt.replace("{frames}", str(n_frames))})
        return [{"role": "system", "content": [{"type": "text", "text": self.system_prompt}]},
                {"role": "user", "content": user}]

    def inputs(self, frame_lists: Sequence[Sequence[np.ndarray]]) -> Any:
        """The processor's batch for clips given as lists of ``[H,W,3]`` uint8 frames."""
        texts = [self.processor.apply_chat_template(self.messages(len(fr)), add_generation_prompt=True, tokenize=False)
                 for fr in frame_lists]
        images = [[_fit(f, self.max_side) for f in fr] for fr in frame_lists]
        return self.processor(text=texts, images=images, padding=True, return_tensors="pt")

    def caption_frames(self, frame_lists: Sequence[Sequence[np.ndarray]]) -> list[str]:
        import torch

        batch = self.inputs(frame_lists).to(self.model.device)
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(self.model.dtype)
        with torch.inference_mode():
            out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[:, batch["input_ids"].shape[1]:]
        return [clean_output(t) for t in self.processor.batch_decode(new, skip_special_tokens=True)]

    def caption(self, clips: Sequence[tuple[dict[str, Any], Path]]) -> list[str | None]:
        """One caption per ``(record, clip file)``; ``None`` where the clip cannot be read."""
        from ltxbench.media import video
        from ltxbench.media.frames import sample_indices

        frame_lists, ok = [], []
        for record, media in clips:
            try:
                frames = video.read_frames(media, sample_indices(int(record["num_frames"]), self.frames))
            except (OSError, RuntimeError) as exc:
                log.warning("caption: cannot read %s (%s); clip left without a caption", media, exc)
                ok.append(False)
                continue
            frame_lists.append(list(frames))
            ok.append(True)
        texts = iter(self.caption_frames(frame_lists) if frame_lists else [])
        return [next(texts) if good else None for good in ok]


def caption_problems(cfg: Any) -> list[Problem]:
    """Problems with ``caption`` settings that need the disk (for params validation): the VLM's
    weights must be here when ``caption.backend`` is ``vlm``. Loads nothing."""
    if cfg.backend == "vlm":
        return vlm_problems(cfg.vlm.model)
    return []
