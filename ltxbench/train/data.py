"""Training data: which clips may be trained on (guards), their cached latents and text
conditioning, and weighted sampling.

Guards run before any model loads and name the offending clips: no accepted clips, a clip without
a caption or whose caption lacks its character's trigger, blocking caption lint errors, a clip whose
size is off the LTX grid (frames 8k+1, sides multiples of 32) or whose file is missing.

Cache keys (``cache/latents``, ``cache/text``, ``cache/audio``) are sha256 of model version, model
source, the tiny build id (for ``tiny``), the clip file's (or its wav's) content hash or the caption,
and the variant (full frames, head crop, still), so a changed clip, wav, caption or model is
re-encoded, never silently reused.

Audio: a clip has sound to train on when its record names ``media_audio`` (``clips/<id>.wav``,
written by curate when the source's audio is usable). A stage with ``audio_loss_weight > 0``
encodes those wavs (:mod:`ltxbench.model.audio`); a stage that asks for audio but has no clip with
audio is refused, naming the stage, before any model loads.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.curate import render
from ltxbench.dataset.manifest import load_manifest
from ltxbench.params import schema as P
from ltxbench.run import atomic
from ltxbench.run.folder import Run
from ltxbench.util import progress


class TrainingDataError(ValueError):
    """The dataset cannot be trained on as it stands; the message names the clips and the fix."""


def _names(ids: list[str], limit: int = 5) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def training_clips(run: Run) -> list[dict[str, Any]]:
    """Accepted, captioned, well-formed clips; refuses (naming clips and the fix) otherwise."""
    records = load_manifest(run)
    clips = [r for r in records if r["status"] == "accepted"]
    cfg = run.params.train
    if len(clips) < cfg.min_clips:
        raise TrainingDataError(
            f"only {len(clips)} accepted clip(s), train.min_clips is {cfg.min_clips}: add footage of the character, "
            f"relax the curate thresholds, or lower train.min_clips")
    uncaptioned = [r["id"] for r in clips if not r.get("caption")]
    if uncaptioned:
        raise TrainingDataError(f"{len(uncaptioned)} accepted clip(s) have no caption ({_names(uncaptioned)}): run the caption stage")
    triggers = {c.name: c.trigger for c in run.params.dataset.characters}
    from ltxbench.caption.triggers import count_trigger  # the lint's whole-word, case-sensitive rule

    no_trigger = [r["id"] for r in clips if triggers.get(r["character"]) and count_trigger(r["caption"], triggers[r["character"]]) == 0]
    if no_trigger:
        raise TrainingDataError(f"{len(no_trigger)} caption(s) lack their character's trigger ({_names(no_trigger)}): "
                                f"the LoRA would not bind the identity to the trigger; fix the captions")
    allow_lint = run.params.caption.allow_lint_errors
    errors = [f"{r['id']}: {x['message']}" for r in clips for x in r.get("lint", []) if x.get("level") == "error"]
    if errors and not allow_lint:
        raise TrainingDataError(f"{len(errors)} caption lint error(s) block training ({_names(errors)}); fix the captions")
    bad_size = [f"{r['id']} ({r['num_frames']} frames, {r['width']}x{r['height']})" for r in clips
                if r["num_frames"] % 8 != 1 or r["width"] % 32 or r["height"] % 32]
    if bad_size:
        raise TrainingDataError(f"{len(bad_size)} clip(s) are off the LTX grid, frames must be 8k+1 and sides multiples "
                                f"of 32: {_names(bad_size)}; re-run curate")
    missing = [r["id"] for r in clips if not r.get("media") or not run.path("dataset", r["media"]).is_file()]
    if missing:
        raise TrainingDataError(f"{len(missing)} accepted clip file(s) are missing ({_names(missing)}): re-run curate")
    return clips


def is_head_clip(record: dict[str, Any]) -> bool:
    """A head-crop clip curate derived from a parent clip (``curate.head_crops``)."""
    return record.get("variant") == "head"


def stage_clips(clips: list[dict[str, Any]], stage: P.TrainStageSection) -> list[dict[str, Any]]:
    """The clips one training stage uses (its source-kind filter).

    ``crop: full`` stages train on whole-frame clips only (a head-crop clip repeats its parent).
    ``crop: head`` stages train on curate's head-crop clips, and crop on the fly the clips that
    have a face box but no head-crop clip of their own."""
    chosen = [r for r in clips if r["source_kind"] in stage.source_kinds]
    if stage.crop == "head":
        heads = [r for r in chosen if is_head_clip(r)]
        has_head = {r.get("parent") for r in heads}
        chosen = heads + [r for r in chosen if not is_head_clip(r) and r["id"] not in has_head
                          and (r.get("scores") or {}).get("face_box")]
    else:
        chosen = [r for r in chosen if not is_head_clip(r)]
    if not chosen:
        raise TrainingDataError(f"train stage '{stage.name}' selects no clip (source_kinds={stage.source_kinds}, crop={stage.crop})")
    return chosen


def has_audio(record: dict[str, Any]) -> bool:
    """Whether the clip carries its own sound to train on: curate (and the curation grid's
    overrides) write ``media_audio`` exactly when the source's audio is usable, so it is the one
    field to trust."""
    return bool(record.get("media_audio"))


def check_audio_stages(run: Run, stages: list[P.TrainStageSection], per_stage: list[list[dict[str, Any]]]) -> None:
    """Refuse, before any model loads, a stage that weights audio but has no clip with audio, and
    an audio-weighted stage whose clips name a wav that is not there."""
    for stage, chosen in zip(stages, per_stage):
        if stage.audio_loss_weight <= 0:
            continue
        with_audio = [r for r in chosen if has_audio(r)]
        if not with_audio:
            raise TrainingDataError(
                f"train stage '{stage.name}' has audio_loss_weight {stage.audio_loss_weight} but none of its "
                f"{len(chosen)} clip(s) has audio (media_audio): add footage with usable sound, or set the "
                f"stage's audio_loss_weight to 0")
        missing = [r["id"] for r in with_audio if not run.path("dataset", r["media_audio"]).is_file()]
        if missing:
            raise TrainingDataError(f"{len(missing)} clip wav file(s) of stage '{stage.name}' are missing "
                                    f"({_names(missing)}): re-run curate")


# ---------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------


@dataclass
class ClipSampler:
    """Draws clips with probability ∝ character weight × source-kind weight, from a torch generator
    (so the draw order is part of the resumable RNG state)."""

    clips: list[dict[str, Any]]
    weights: list[float]

    @classmethod
    def build(cls, clips: list[dict[str, Any]], cfg: P.TrainSection) -> "ClipSampler":
        weights = [cfg.character_weights.get(r["character"], 1.0) * cfg.source_kind_weights.get(r["source_kind"], 1.0) for r in clips]
        if not any(w > 0 for w in weights):
            raise TrainingDataError("every clip has sampling weight 0: check train.character_weights and train.source_kind_weights")
        return cls(clips, weights)

    def draw(self, generator: Any) -> dict[str, Any]:
        import torch

        idx = torch.multinomial(torch.tensor(self.weights, dtype=torch.float64), 1, generator=generator).item()
        return self.clips[idx]

    def expected_shares(self) -> dict[str, float]:
        total = sum(self.weights)
        out: dict[str, float] = {}
        for r, w in zip(self.clips, self.weights):
            out[r["character"]] = out.get(r["character"], 0.0) + w / total
        return {k: round(v, 4) for k, v in out.items()}


# ---------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cache_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def dataset_sha256(clips: list[dict[str, Any]], run: Run) -> str:
    """Fingerprint of what is trained on: ids, captions and clip contents."""
    h = hashlib.sha256()
    for r in sorted(clips, key=lambda r: r["id"]):
        h.update(f"{r['id']}\x1f{r['caption']}\x1f{file_sha256(run.path('dataset', r['media']))}\n".encode())
    return h.hexdigest()


def model_id(run: Run) -> str:
    return model_section_id(run.params.model)


def model_section_id(m: P.ModelSection) -> str:
    """What a base model is, for caches and sample records: version, source and the build or files
    behind them (a rebuilt tiny model or a rewritten file is another model)."""
    from ltxbench.model import locate, tiny

    build = ""  # a real folder or hub id names its weights itself
    if m.source == "tiny":
        build = tiny.TINY_BUILD_ID
    elif m.source == locate.TINY_PRETRAINED:
        from ltxbench.model import tiny_base

        build = tiny_base.build_id()
    # a file replacing source's part is part of the model (and one replaced in place is another model)
    for part, path in (("checkpoint", m.checkpoint), ("text_encoder", m.text_encoder)):
        if path is not None:
            info = _newest(Path(path))
            build += f"\x1f{part}={Path(path).resolve()}|{info.st_size}|{info.st_mtime_ns}"
    return f"ltx-{m.version}\x1f{m.source}\x1f{build}"


def _newest(path: Path) -> os.stat_result:
    """``stat`` of a file, or of a folder's newest file (a folder's own mtime misses rewritten files)."""
    if path.is_dir():
        files = [f for f in path.rglob("*") if f.is_file()]
        if files:
            return max((f.stat() for f in files), key=lambda st: st.st_mtime_ns)
    return path.stat()


def load_cached(path: Path) -> dict[str, Any] | None:
    from safetensors.torch import load_file

    return load_file(str(path)) if path.is_file() else None


def save_cached(path: Path, tensors: dict[str, Any]) -> None:
    from safetensors.torch import save

    atomic.atomic_write_bytes(path, save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}))


def head_crop_frames(run: Run, record: dict[str, Any]) -> np.ndarray:
    """The head crop of a full clip that curate made none for, ``[F,S,S,3]``: curate's own head-crop
    record (:func:`ltxbench.curate.render.head_record`: ``curate.head_crop_scale`` x the face height),
    rendered from the source as curate renders it, at ``curate.resolution`` or, when the source holds
    fewer pixels, the largest multiple of 32 it holds (never upscaled)."""
    cfg = run.params.curate
    head, crop_px = render.head_record(record, cfg)
    side = min(cfg.resolution, int(crop_px + 1e-6) // 32 * 32)
    if side < 32:
        raise TrainingDataError(f"{record['id']}: its head crop holds {crop_px:.0f} source px, fewer than the 32 the VAE needs")
    return render.render_clip(run, {**head, "width": side, "height": side})


def _head_crop_key(run: Run, record: dict[str, Any]) -> str:
    """What a ``crop: head`` latent depends on beyond the clip file: the face box and the crop rule's settings."""
    cfg = run.params.curate
    return f"{(record.get('scores') or {}).get('face_box')}|{cfg.head_crop_scale}|{cfg.resolution}"


def variant_pixels(run: Run, record: dict[str, Any], stage: P.TrainStageSection) -> Any:
    """The clip's pixels for a stage variant as ``[1, 3, F, H, W]`` in [-1, 1]."""
    import torch

    from ltxbench.media import video

    n = record["num_frames"]
    indices = [n // 2] if stage.still else range(n)  # a still is the middle frame: F = 1 = 8·0 + 1
    if stage.crop == "head" and not is_head_clip(record):  # a head-crop clip is already cropped
        frames = head_crop_frames(run, record)[list(indices)]
    else:
        frames = video.read_frames(run.path("dataset", record["media"]), indices)  # [F,H,W,3]
    return torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).float() / 127.5 - 1.0


def precompute(run: Run, pipe: Any, clips: list[dict[str, Any]], stage: P.TrainStageSection | None = None
               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """Latents per clip ``[1,128,F',H',W']`` and text conditioning per clip, cached.

    Returns (latents by clip id, text conditioning by clip id, cache hit/miss counts).
    """
    from ltxbench.model import forward

    stage = stage or P.TrainStageSection(name="main", steps=1)
    mid = model_id(run)
    variant = f"{stage.crop}-{'still' if stage.still else 'clip'}"
    latents, texts = {}, {}
    stats = {"latent_hits": 0, "latent_misses": 0, "text_hits": 0, "text_misses": 0}
    for r in progress.bar(clips, desc=f"encode ({variant})", unit="clip"):
        media = run.path("dataset", r["media"])
        key = cache_key(mid, file_sha256(media), variant, str(r["num_frames"]), str(r["width"]), str(r["height"]),
                        _head_crop_key(run, r) if stage.crop == "head" else "")
        path = run.path("cache", "latents", f"{key}.safetensors")
        cached = load_cached(path)
        if cached is None:
            lat = forward.encode_video(pipe, variant_pixels(run, r, stage))
            save_cached(path, {"latents": lat})
            stats["latent_misses"] += 1
        else:
            lat = cached["latents"]
            stats["latent_hits"] += 1
        latents[r["id"]] = lat

        texts[r["id"]], hit = text_conditioning(run, pipe, r["caption"])
        stats["text_hits" if hit else "text_misses"] += 1
    return latents, texts, stats


def text_conditioning(run: Run, pipe: Any, caption: str) -> tuple[dict[str, Any], bool]:
    """The caption's text conditioning as the pipeline builds it, cached under ``cache/text`` by
    model and caption: (conditioning, whether it came from the cache)."""
    import torch

    from ltxbench.model import forward

    max_len = run.params.model.max_sequence_length
    path = run.path("cache", "text", f"{cache_key(model_id(run), caption, str(max_len))}.safetensors")
    cond = load_cached(path)
    if cond is not None:
        return cond, True
    with torch.no_grad():
        cond = {k: v.cpu() for k, v in forward.encode_prompts(pipe, [caption], max_sequence_length=max_len).items()}
    save_cached(path, cond)
    return cond, False


def clip_fps(record: dict[str, Any]) -> float:
    return float(record.get("fps") or 24.0)


def precompute_audio(run: Run, pipe: Any, clips: list[dict[str, Any]]
                     ) -> tuple[dict[str, tuple[Any, Any]], dict[str, int]]:
    """Audio latents ``[1, 8, L, 16]`` and a validity mask ``[L]`` for each clip with audio, cached
    under ``cache/audio`` by the wav's content hash.

    ``L`` is the audio length the pipeline pairs with the clip's video latents at the clip's fps
    (:func:`ltxbench.model.forward.audio_latent_length`): the encoding is cut to it, and where the wav is
    shorter than the clip the missing latents are zero with mask 0, so they add no loss.
    Returns ({clip id: (latents, mask)}, hit/miss counts); clips without audio are absent.
    """
    import torch

    from ltxbench.model import audio as ltx_audio
    from ltxbench.model import forward

    mid = model_id(run)
    out: dict[str, tuple[Any, Any]] = {}
    stats = {"audio_hits": 0, "audio_misses": 0}
    vae_cfg = pipe.audio_vae.config
    for r in progress.bar([r for r in clips if has_audio(r)], desc="encode audio", unit="clip"):
        wav = run.path("dataset", r["media_audio"])
        fps = clip_fps(r)
        latent_frames = (r["num_frames"] - 1) // 8 + 1
        length = forward.audio_latent_length(pipe, latent_frames, fps)
        key = cache_key(mid, file_sha256(wav), "audio", str(r["num_frames"]), str(fps), str(length))
        path = run.path("cache", "audio", f"{key}.safetensors")
        cached = load_cached(path)
        if cached is None:
            try:
                waveform = ltx_audio.read_waveform(wav, vae_cfg.sample_rate, 0.0, r["num_frames"] / fps,
                                                   channels=vae_cfg.in_channels)
                encoded = ltx_audio.encode_audio(pipe, waveform)
            except ValueError as exc:
                raise TrainingDataError(f"clip {r['id']}: its audio cannot be used ({exc}); re-run curate") from exc
            lat = torch.zeros(1, encoded.shape[1], length, encoded.shape[3])
            valid = min(length, encoded.shape[2])
            lat[:, :, :valid] = encoded[:, :, :valid]
            mask = torch.zeros(length)
            mask[:valid] = 1.0
            cached = {"latents": lat, "mask": mask}
            save_cached(path, cached)
            stats["audio_misses"] += 1
        else:
            stats["audio_hits"] += 1
        out[r["id"]] = (cached["latents"], cached["mask"])
    return out, stats
