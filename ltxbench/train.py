"""Train stage: a peft LoRA on the LTX-2 transformer with the rectified-flow loss.

Reads the accepted, captioned clips of ``dataset/manifest.jsonl`` and writes:

* ``cache/latents/<key>.safetensors`` and ``cache/text/<key>.safetensors``: video latents and text
  conditioning, each computed once and keyed by model version + model source + content hash, so
  a changed clip, caption or model is re-encoded and never silently reused;
* ``checkpoints/lora_step_NNNNNN.safetensors`` every ``train.checkpoint_every`` steps and at the
  last step (format and provenance: :mod:`ltxbench.lora`);
* ``train/metrics.csv`` (step, loss, lr, grad_norm, step_time, sigma, clip, character),
  ``train/summary.json`` (samples per character, time) and ``train/loss.png``.

The loss is the flow-matching target of the LTX-2 scheduler: ``x_t = (1-σ)·x0 + σ·ε`` and the
transformer predicts ``ε - x0``; σ is drawn from a logit-normal shifted by the token count as the
inference schedule is. The VAE and text encoder are released after encoding, so only the
transformer (and its LoRA) is in memory while training.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import figures, lora, progress, runs
from . import params as P
from .curate import load_manifest
from .runs import Run

log = logging.getLogger("ltxbench")

METRICS_FIELDS = ("step", "loss", "lr", "grad_norm", "step_time", "sigma", "clip", "character")


class TrainingDataError(ValueError):
    """The dataset cannot be trained on as it stands (too few clips, blocking lint errors)."""


@dataclass
class TrainResult:
    checkpoints: list[Path]
    metrics_path: Path
    figure_path: Path
    summary: dict[str, Any]

    def table(self):
        import pandas as pd

        return pd.read_csv(self.metrics_path)

    def __repr__(self) -> str:
        return (f"TrainResult({len(self.checkpoints)} checkpoints in {self.checkpoints[0].parent if self.checkpoints else '-'}, "
                f"final loss {self.summary.get('final_loss')}, {self.summary.get('seconds')} s)")


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


def training_clips(run: Run) -> list[dict[str, Any]]:
    """Accepted, captioned clips; refuses (with the fix) when training would be meaningless."""
    records = load_manifest(run)
    clips = [r for r in records if r["status"] == "accepted"]
    cfg = run.params.train
    if len(clips) < cfg.min_clips:
        raise TrainingDataError(
            f"only {len(clips)} accepted clip(s), train.min_clips is {cfg.min_clips}: add footage of the character, "
            f"relax the curate thresholds, or lower train.min_clips")
    uncaptioned = [r["id"] for r in clips if not r.get("caption")]
    if uncaptioned:
        raise TrainingDataError(f"{len(uncaptioned)} accepted clip(s) have no caption (e.g. {uncaptioned[0]}): run the caption stage")
    errors = [(r["id"], x["message"]) for r in clips for x in r.get("lint", []) if x.get("level") == "error"]
    if errors:
        shown = "; ".join(f"{i}: {m}" for i, m in errors[:5])
        raise TrainingDataError(f"{len(errors)} caption lint error(s) block training ({shown}); fix the captions")
    return clips


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def dataset_sha256(clips: list[dict[str, Any]], run: Run) -> str:
    h = hashlib.sha256()
    for r in sorted(clips, key=lambda r: r["id"]):
        h.update(f"{r['id']}\x1f{r['caption']}\x1f{_file_sha256(run.path('dataset', r['media']))}\n".encode())
    return h.hexdigest()


def _load_cached(path: Path) -> dict[str, Any] | None:
    from safetensors.torch import load_file

    if not path.is_file():
        return None
    return load_file(str(path))


def _save_cached(path: Path, tensors: dict[str, Any]) -> None:
    from safetensors.torch import save

    runs.atomic_write_bytes(path, save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}))


def precompute(run: Run, pipe: Any, clips: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """Latents per clip and text conditioning per caption, from the cache or freshly encoded.

    Returns (latents by clip id ``[1,128,F',H',W']``, text conditioning by clip id, counts of
    cache hits and misses).
    """
    import torch

    from . import ltx, video

    m = run.params.model
    model_id = f"ltx-{m.version}\x1f{m.source}\x1f{ltx.TINY_BUILD_ID if m.source == 'tiny' else ''}"
    latents, texts = {}, {}
    stats = {"latent_hits": 0, "latent_misses": 0, "text_hits": 0, "text_misses": 0}
    for r in progress.bar(clips, desc="encode clips and captions", unit="clip"):
        media = run.path("dataset", r["media"])
        lkey = _cache_key(model_id, _file_sha256(media), str(r["num_frames"]), str(r["width"]), str(r["height"]))
        lpath = run.path("cache", "latents", f"{lkey}.safetensors")
        cached = _load_cached(lpath)
        if cached is None:
            frames = video.read_frames(media, range(r["num_frames"]))  # [F,H,W,3] uint8
            pixels = torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).float() / 127.5 - 1.0
            with torch.no_grad():
                lat = ltx.encode_video(pipe, pixels)
            _save_cached(lpath, {"latents": lat})
            stats["latent_misses"] += 1
        else:
            lat = cached["latents"]
            stats["latent_hits"] += 1
        latents[r["id"]] = lat

        tkey = _cache_key(model_id, r["caption"], str(m.max_sequence_length))
        tpath = run.path("cache", "text", f"{tkey}.safetensors")
        cached = _load_cached(tpath)
        if cached is None:
            with torch.no_grad():
                cond = ltx.encode_prompts(pipe, [r["caption"]], max_sequence_length=m.max_sequence_length)
            _save_cached(tpath, cond)
            stats["text_misses"] += 1
        else:
            cond = cached
            stats["text_hits"] += 1
        texts[r["id"]] = cond
    return latents, texts, stats


# ---------------------------------------------------------------------------------------
# Schedule and sampling
# ---------------------------------------------------------------------------------------


def token_shift(num_tokens: int, scheduler_config: dict[str, Any]) -> float:
    """The σ-shift ``mu`` for a sequence length: linear between the scheduler's base and max shift,
    the same rule the pipeline uses at inference, so training sees the σ range inference visits."""
    base_len = scheduler_config.get("base_image_seq_len", 1024)
    max_len = scheduler_config.get("max_image_seq_len", 4096)
    base_shift = scheduler_config.get("base_shift", 0.95)
    max_shift = scheduler_config.get("max_shift", 2.05)
    slope = (max_shift - base_shift) / (max_len - base_len)
    return base_shift + slope * (num_tokens - base_len)


def sample_sigma(generator: Any, mu: float) -> float:
    """Shifted logit-normal σ in (0, 1): ``s = sigmoid(u), u ~ N(0,1)``, then the exponential shift."""
    import torch

    u = torch.randn(1, generator=generator).item()
    s = 1.0 / (1.0 + math.exp(-u))
    e = math.exp(mu)
    return e * s / (1.0 + (e - 1.0) * s)


def lr_at(step: int, cfg: P.TrainSection) -> float:
    """Linear warm-up then constant."""
    if cfg.warmup_steps and step <= cfg.warmup_steps:
        return cfg.learning_rate * step / cfg.warmup_steps
    return cfg.learning_rate


# ---------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------


def train(run: Run) -> TrainResult:
    """Train the LoRA; see the module docstring for what is written where."""
    import torch
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from . import ltx

    cfg = run.params.train
    clips = training_clips(run)  # refuses before any model loads
    torch.manual_seed(run.params.run.seed)
    device = ltx.resolve_device(run.params.model.device)
    pipe = ltx.load_pipeline(run.params.model.version, run.params.model.source, run.params.model.dtype, "cpu")
    latents, texts, cache_stats = precompute(run, pipe, clips)
    transformer = pipe.transformer
    # Free the encoders: training needs only the transformer (and the pipeline's packing helpers).
    pipe.text_encoder = None
    pipe.vae = None
    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                       target_modules=lora.TARGET_PRESETS[cfg.targets], init_lora_weights=True))
    transformer.to(device)
    params = [p for p in transformer.parameters() if p.requires_grad]
    if not params:
        raise RuntimeError(f"train.targets={cfg.targets} matched no module of the transformer")
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(run.params.run.seed)
    provenance = dict(
        base_version=run.params.model.version, base_source=run.params.model.source, rank=cfg.rank, alpha=cfg.alpha,
        targets=cfg.targets, triggers={c.name: c.trigger for c in run.params.dataset.characters}, stage="train",
        dataset_sha256=dataset_sha256(clips, run), params_sha256=run.params.sha256())

    ckpt_dir = run.path("checkpoints")
    for old in lora.list_checkpoints(ckpt_dir):  # a re-run must not mix with an earlier run's checkpoints
        old.unlink()
    rows: list[dict[str, Any]] = []
    shares: dict[str, int] = {}
    checkpoints: list[Path] = []
    started = time.time()
    transformer.train()
    for step in progress.bar(range(1, cfg.steps + 1), desc="train", unit="step"):
        t0 = time.time()
        idx = torch.randint(len(clips), (1,), generator=generator).item()
        clip = clips[idx]
        x0 = latents[clip["id"]].to(device)
        num_tokens = x0.shape[2] * x0.shape[3] * x0.shape[4]
        sigma = sample_sigma(generator, token_shift(num_tokens, dict(pipe.scheduler.config)))
        noise = torch.randn(x0.shape, generator=generator).to(device)
        x_t = (1.0 - sigma) * x0 + sigma * noise
        target = noise - x0
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        pred = ltx.transformer_forward(pipe, x_t, None, {k: v.to(device) for k, v in texts[clip["id"]].items()}, sigma)
        loss = torch.nn.functional.mse_loss(pred.float(), target.float())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step} (clip {clip['id']}); lower train.learning_rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm).item()
        optimizer.step()
        shares[clip["character"]] = shares.get(clip["character"], 0) + 1
        rows.append({"step": step, "loss": round(loss.item(), 6), "lr": optimizer.param_groups[0]["lr"],
                     "grad_norm": round(grad_norm, 6), "step_time": round(time.time() - t0, 4),
                     "sigma": round(sigma, 5), "clip": clip["id"], "character": clip["character"]})
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            path = ckpt_dir / f"lora_step_{step:06d}.safetensors"
            lora.save_lora(path, get_peft_model_state_dict(transformer), lora.Provenance(step=step, **provenance))
            checkpoints.append(path)
            _write_metrics(run, rows)  # metrics up to each checkpoint survive a crash
    metrics_path = _write_metrics(run, rows)
    summary = {
        "steps": cfg.steps, "seconds": round(time.time() - started, 2), "final_loss": rows[-1]["loss"],
        "samples_per_character": shares,
        "share_per_character": {k: round(v / cfg.steps, 4) for k, v in shares.items()},
        "clips": len(clips), "cache": cache_stats, "device": str(device),
        "trainable_parameters": sum(p.numel() for p in params),
        "checkpoints": [str(p.relative_to(run.dir)) for p in checkpoints],
    }
    runs.atomic_write_json(run.path("train", "summary.json"), summary)
    figure = plot_loss(rows, run.path("train", "loss.png"))
    return TrainResult(checkpoints, metrics_path, figure, summary)


def _write_metrics(run: Run, rows: list[dict[str, Any]]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return runs.atomic_write_text(run.path("train", "metrics.csv"), buf.getvalue())


def plot_loss(rows: list[dict[str, Any]], out: Path) -> Path:
    import numpy as np

    steps = np.array([r["step"] for r in rows])
    loss = np.array([r["loss"] for r in rows])
    fig, ax = figures.new_figure(1, (7, 3.5))
    ax.plot(steps, loss, color="tab:blue", alpha=0.35, label="loss")
    window = max(1, len(loss) // 10)
    if window > 1:
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color="tab:blue", label=f"moving mean ({window} steps)")
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching MSE")
    ax.set_title("Training loss")
    ax.legend()
    return figures.save_figure(fig, out)
