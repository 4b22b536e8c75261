"""Train stage: a peft LoRA on the LTX-2 transformer with the rectified-flow loss.

Reads the accepted, captioned clips of ``dataset/manifest.jsonl`` (guards and cache:
:mod:`ltxbench.train.data`) and writes:

* ``checkpoints/lora_step_NNNNNN.safetensors`` every ``train.checkpoint_every`` steps and at the
  last step (format and provenance: :mod:`ltxbench.lora`), each with
  ``checkpoints/state_step_NNNNNN.pt`` to resume from (:mod:`ltxbench.train.state`);
* ``train/metrics.csv`` (fields in :data:`METRICS_FIELDS`), ``train/tb/`` TensorBoard events,
  ``train/summary.json`` (samples per character, time, cache hits) and ``train/loss.png``.

The loss is the flow-matching target of the LTX-2 scheduler: ``x_t = (1-σ)·x0 + σ·ε`` and the
transformer predicts ``ε - x0``; σ is drawn from a logit-normal shifted by the token count as the
inference schedule is. The VAE and text encoder are released after encoding, so only the
transformer (and its LoRA) is in memory while training. A staged recipe (``train.stages``) runs
its stages in order on the same LoRA and optimizer, each with its own clips, steps, lr and loss
weights. With ``train.prior_preservation.samples`` the base model first renders trigger-free
videos and every step also trains on one of them (:mod:`ltxbench.train.prior`), so prompts
without the trigger keep rendering what the base renders. A stage with an audio loss weight also denoises the clip's own audio latents (same σ,
own noise; :func:`_clip_loss`); clips without sound add no audio loss.
With ``train.reference`` (IC-LoRA) each step also shows the clip's clean reference tokens after the
clip's own, as the in-context pipeline does (:mod:`ltxbench.train.reference`); the loss stays the clip's.

Memory and scale: ``train.base_quantization`` stores the frozen base in 8 bits (optimum-quanto,
:func:`quantize_base`); under ``torchrun``/``accelerate launch`` the LoRA gradients are averaged
across processes (``ddp``) or every weight is sharded with FSDP2 (``fsdp``,
:mod:`ltxbench.train.distributed` holds the three layouts as strategy objects), the saved LoRA then
being gathered into full tensors. The hot loop syncs with the host once per step.
Also runnable without papermill: ``python -m ltxbench.train PARAMS.yaml [--run-dir DIR]``.

"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ltxbench.lora import files as lora
from ltxbench.params import schema as P
from ltxbench.run import atomic, folder
from ltxbench.run.folder import Run
from ltxbench.run.layout import BEST_CHECKPOINT
from ltxbench.train import prior as train_prior
from ltxbench.train import reference as train_reference
from ltxbench.train import state as TS
from ltxbench.train.data import (
    ClipSampler,
    check_audio_stages,
    clip_fps,
    dataset_sha256,
    precompute,
    precompute_audio,
    stage_clips,
    training_clips,
)
from ltxbench.train.schedule import lr_at, resolve_stages, sample_generator, sample_sigma, token_shift
from ltxbench.train import distributed
from ltxbench.train.setup import make_optimizer, peak_memory_mb, quantize_base
from ltxbench.util import figures, progress

log = logging.getLogger("ltxbench")

METRICS_FIELDS = ("stage", "step", "loss", "loss_smoothed", "lr", "grad_norm", "step_time", "samples_per_s",
                  "peak_memory_mb", "sigma", "clip", "character", "audio_loss", "prior_loss",
                  "video_loss", "video_loss_smoothed", "audio_loss_smoothed")
SMOOTHING = 0.9  # exponential moving average of the loss, for the log and the plot


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


# The stage
# ---------------------------------------------------------------------------------------


def train(run: Run, on_step: Callable[[dict[str, Any]], None] | None = None, force: bool | None = None) -> TrainResult:
    """Train (or resume) the LoRA; see the module docstring for what is written where.

    ``on_step`` is called with each metrics row (a dashboard can draw a live loss curve).
    ``force`` starts over even when a resumable state exists (default: ``LTXBENCH_FORCE=1``).
    """
    import torch
    from peft import LoraConfig
    from peft.utils import set_peft_model_state_dict

    from ltxbench.model import devices, loading

    cfg = run.params.train
    force = os.environ.get("LTXBENCH_FORCE") == "1" if force is None else force
    clips = training_clips(run)  # guards, before any model loads
    stages = resolve_stages(cfg)
    per_stage = [stage_clips(clips, st) for st in stages]
    check_audio_stages(run, stages, per_stage)  # before any model loads
    train_reference.check_references(run, clips)
    if cfg.prior_preservation.samples:
        for chosen in per_stage:
            train_prior.check_prompts(run, chosen)
    audio_clips = {r["id"]: r for st, chosen in zip(stages, per_stage) if st.audio_loss_weight > 0 for r in chosen}
    samplers = [ClipSampler.build(c, cfg) for c in per_stage]
    total_steps = sum(st.steps for st in stages)
    data_sha = dataset_sha256(clips, run)
    fingerprint = TS.resume_fingerprint(run.params)

    dist = distributed.strategy(distributed.accelerator(run.params.model.device), cfg.distributed)
    device = dist.acc.device if dist.num_processes > 1 else devices.resolve_device(run.params.model.device)
    pipe = loading.load_pipeline(run.params.model.version, run.params.model.source, run.params.model.dtype, "cpu",
                             checkpoint=run.params.model.checkpoint, text_encoder=run.params.model.text_encoder)
    encoded = {}
    cache_stats: dict[str, int] = {}
    with dist.main_first():  # the main process fills the cache, the others read it
        for st, chosen in zip(stages, per_stage):
            variant = (st.crop, st.still)
            if variant not in encoded:
                encoded[variant] = precompute(run, pipe, chosen, st)
                for k, v in encoded[variant][2].items():
                    cache_stats[k] = cache_stats.get(k, 0) + v
        audio, audio_stats = precompute_audio(run, pipe, list(audio_clips.values()))
        cache_stats.update(audio_stats)
        references, reference_stats = train_reference.precompute_references(run, pipe, stages, per_stage, clips, encoded)
        cache_stats.update(reference_stats)
        priors = _prior_videos(run, pipe, stages, per_stage, encoded, device, cache_stats)
    transformer = pipe.transformer
    pipe.text_encoder = None  # only the transformer (and the pipeline's packing helpers) stay in memory
    pipe.vae = None
    pipe.audio_vae = None
    transformer.requires_grad_(False)
    torch.manual_seed(run.params.run.seed)  # LoRA init draws from the global RNG: make it the run's, not the process's
    transformer.add_adapter(LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                       target_modules=lora.TARGET_PRESETS[cfg.targets], init_lora_weights=True))
    if cfg.base_quantization != "none":
        log.info("quantized %d base layers to %s", quantize_base(transformer, cfg.base_quantization), cfg.base_quantization)
    if cfg.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    transformer.to(device)
    seed = run.params.run.seed

    ckpt_dir = run.path("checkpoints")
    start_step, start_stage, start_stage_step, rows = 0, 0, 0, []
    latest, state, damaged = (TS.newest_intact_state(ckpt_dir, fingerprint, data_sha)  # refuses other params or data
                              if cfg.resume and not force else (None, None, []))
    for reason in damaged:
        log.warning("train: not resuming from %s; trying an earlier checkpoint", reason)
    dist.wait()  # every process decides on the same files before any is moved
    if latest is None:
        if dist.is_main:
            TS.archive_previous(ckpt_dir)  # a fresh run never mixes with an earlier run's checkpoints (damaged ones too)
    else:
        from ltxbench.lora.check.check import require_compatible

        resumed = next(p for p in lora.list_checkpoints(ckpt_dir) if lora.checkpoint_step(p) == state["step"])
        require_compatible(resumed, run.params.model.version, base=pipe)  # a foreign or corrupt file is refused loudly
        set_peft_model_state_dict(transformer, state["lora"])  # full tensors: before any sharding
        start_step, start_stage, start_stage_step, rows = state["step"], state["stage_index"], state["stage_step"], state["history"]
        if dist.is_main:
            _drop_checkpoints_after(ckpt_dir, start_step)
        log.info("resuming from %s at step %d", latest, start_step)

    dist.prepare(transformer)
    trainable = [p for p in transformer.parameters() if p.requires_grad]  # after sharding: FSDP2 swaps in DTensors
    optimizer = make_optimizer(trainable, cfg, device)
    torch.manual_seed(seed + dist.process_index)  # dropout draws from the global RNG (saved in the resume state)
    if state is not None:
        dist.load_optimizer_state(transformer, optimizer, state["optimizer"])
        if dist.restores_rng():
            torch.set_rng_state(state["torch_rng"])

    provenance = dict(base_version=run.params.model.version, base_source=run.params.model.source, rank=cfg.rank,
                      alpha=cfg.alpha, targets=cfg.targets, triggers={c.name: c.trigger for c in run.params.dataset.characters},
                      dataset_sha256=data_sha, params_sha256=run.params.sha256(),
                      base_checkpoint=str(run.params.model.checkpoint or ""),
                      reference=lora.ReferenceSettings(cfg.reference.downscale_factor, cfg.reference.source)
                      if cfg.reference is not None else None)
    from torch.utils.tensorboard import SummaryWriter

    dist.wait()
    writer = SummaryWriter(str(run.path("train", "tb")), purge_step=start_step + 1) if dist.is_main else None
    smoothed = rows[-1]["loss_smoothed"] if rows else None
    # per modality (issue: audio learns faster than video, then stalls): EMAs resumed from the history
    video_smoothed = rows[-1].get("video_loss_smoothed") if rows else None
    audio_smoothed = next((r["audio_loss_smoothed"] for r in reversed(rows) if r.get("audio_loss_smoothed") is not None), None)
    started = time.time()
    step = start_step
    transformer.train()
    bar = progress.counter(total_steps - start_step, desc="train", unit="step")
    try:
        for si in range(start_stage, len(stages)):
            st, sampler = stages[si], samplers[si]
            latents, texts, _ = encoded[(st.crop, st.still)]
            stage_priors = priors.get((st.crop, st.still), [])
            lr_base = st.learning_rate or cfg.learning_rate
            for stage_step in range(start_stage_step + 1 if si == start_stage else 1, st.steps + 1):
                step += 1
                t0 = time.time()
                lr = lr_at(stage_step, st.steps, lr_base, cfg.warmup_steps, cfg.lr_schedule)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
                losses, audio_losses, prior_losses, video_losses, drawn = [], [], [], [], []
                for b in range(cfg.batch_size):
                    g = sample_generator(seed, step, dist.process_index * cfg.batch_size + b)
                    clip = sampler.draw(g)
                    ref = references.draw((st.crop, st.still), clip["id"], g) if references is not None else None
                    loss, sigma, audio_loss, video_mse = _clip_loss(pipe, latents[clip["id"]], texts[clip["id"]], g, st, cfg,
                                                                    device, audio.get(clip["id"]) if st.audio_loss_weight > 0 else None,
                                                                    clip_fps(clip), ref)
                    (loss / cfg.batch_size).backward()
                    losses.append(loss.detach())
                    video_losses.append(video_mse)
                    if audio_loss is not None:
                        audio_losses.append(audio_loss)
                    drawn.append((clip, sigma))
                    if stage_priors:  # the same step also keeps one trigger-free base video as the base renders it
                        prior = stage_priors[int(torch.randint(len(stage_priors), (1,), generator=g))]
                        p_loss, *_ = _clip_loss(pipe, prior.latents, prior.text, g, st, cfg, device, None,
                                                  run.params.evaluate.frame_rate)
                        (cfg.prior_preservation.loss_weight * p_loss / cfg.batch_size).backward()
                        prior_losses.append(p_loss.detach())
                step_loss = torch.stack(losses).mean().reshape(1)
                dist.average_gradients(trainable)
                step_loss = dist.mean(step_loss)  # a NaN anywhere reaches every process: all stop together
                grad_norm = dist.norm_value(torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm))
                # The one host sync of the step (on a GPU, .item() waits for the queue to drain): loss, gradient
                # norm and audio loss come back together, after the backward pass is queued, not once per value.
                fetched = torch.cat([step_loss.float(), grad_norm.reshape(1).float().to(step_loss.device),
                                     torch.stack(audio_losses).mean().reshape(1) if audio_losses else step_loss.new_zeros(1),
                                     torch.stack(prior_losses).mean().reshape(1) if prior_losses else step_loss.new_zeros(1),
                                     torch.stack(video_losses).mean().reshape(1)]).tolist()
                loss_val, grad_norm, audio_val, prior_val, video_val = fetched
                if not math.isfinite(loss_val):  # before optimizer.step: the weights stay those of the last good step
                    last = lora.list_checkpoints(ckpt_dir)
                    raise FloatingPointError(
                        f"loss became {loss_val} at step {step} (clip {';'.join(c['id'] for c, _ in drawn)}, "
                        f"σ={';'.join(f'{s_:.3f}' for _, s_ in drawn)}); training stopped. "
                        f"Last good checkpoint: {last[-1] if last else 'none'}. Lower train.learning_rate or check the clip.")
                optimizer.step()
                smoothed = loss_val if smoothed is None else SMOOTHING * smoothed + (1 - SMOOTHING) * loss_val
                video_smoothed = video_val if video_smoothed is None else SMOOTHING * video_smoothed + (1 - SMOOTHING) * video_val
                if audio_losses:
                    audio_smoothed = audio_val if audio_smoothed is None else SMOOTHING * audio_smoothed + (1 - SMOOTHING) * audio_val
                dt = time.time() - t0
                row = {"stage": st.name, "step": step, "loss": round(loss_val, 6), "loss_smoothed": round(smoothed, 6),
                       "lr": lr, "grad_norm": round(grad_norm, 6), "step_time": round(dt, 4),
                       "samples_per_s": round(cfg.batch_size / max(dt, 1e-9), 3),
                       "peak_memory_mb": round(peak_memory_mb(device), 1), "sigma": round(drawn[0][1], 5),
                       "clip": ";".join(c["id"] for c, _ in drawn), "character": ";".join(c["character"] for c, _ in drawn),
                       "audio_loss": round(audio_val, 6) if audio_losses else None,
                       "prior_loss": round(prior_val, 6) if prior_losses else None,
                       "video_loss": round(video_val, 6), "video_loss_smoothed": round(video_smoothed, 6),
                       "audio_loss_smoothed": round(audio_smoothed, 6) if audio_losses else None}
                rows.append(row)
                bar.update(1)
                if writer is not None:
                    for key in ("loss", "loss_smoothed", "lr", "grad_norm", "step_time", "peak_memory_mb", "audio_loss", "prior_loss",
                                "video_loss", "video_loss_smoothed", "audio_loss_smoothed"):
                        if row[key] is not None:
                            writer.add_scalar(f"train/{key}", row[key], step)
                if on_step is not None and dist.is_main:
                    on_step(row)
                if step % cfg.checkpoint_every == 0 or stage_step == st.steps:
                    # under FSDP every process holds a shard: all take part in gathering, the main one writes
                    lora_state = dist.lora_state(transformer)
                    optim_state = dist.optimizer_state(transformer, optimizer)
                    if dist.is_main:
                        _checkpoint(run, lora_state, optim_state, step, si, stage_step, st.name, fingerprint, data_sha,
                                    rows, provenance, cfg)
                    dist.wait()
            start_stage_step = 0
    finally:
        bar.close()
        if dist.is_main:
            writer.close()
            _write_metrics(run, rows)
    checkpoints = lora.list_checkpoints(ckpt_dir)
    shares: dict[str, int] = {}
    for r in rows:
        for ch in r["character"].split(";"):
            shares[ch] = shares.get(ch, 0) + 1
    drawn_total = sum(shares.values()) or 1
    summary = {
        "steps": total_steps, "resumed_from_step": start_step, "seconds": round(time.time() - started, 2),
        "final_loss": rows[-1]["loss"] if rows else None, "stages": [st.model_dump() for st in stages],
        "samples_per_character": shares,
        "share_per_character": {k: round(v / drawn_total, 4) for k, v in shares.items()},
        "expected_share_per_character": samplers[0].expected_shares(),
        "clips": len(clips), "cache": cache_stats, "device": str(device),
        "trainable_parameters": sum(p.numel() for p in trainable),
        "checkpoints": [str(p.relative_to(run.dir)) for p in checkpoints],
    }
    summary["processes"] = dist.num_processes
    summary["distributed"] = dist.name
    summary["base_quantization"] = cfg.base_quantization
    summary["prior_preservation"] = {"samples": cfg.prior_preservation.samples, "loss_weight": cfg.prior_preservation.loss_weight,
                                     "captions": sorted({p.caption for group in priors.values() for p in group}),
                                     "figure": "train/prior.png" if priors else None}
    summary["modalities"] = modality_note(rows)
    figure = run.path("train", "loss.png")
    if dist.is_main:
        atomic.atomic_write_json(run.path("train", "summary.json"), summary)
        plot_loss(rows, figure)
    return TrainResult(checkpoints, run.path("train", "metrics.csv"), figure, summary)


def _prior_videos(run: Run, pipe: Any, stages: list[P.TrainStageSection], per_stage: list[list[dict[str, Any]]],
                  encoded: dict[tuple[str, bool], Any], device: Any, cache_stats: dict[str, int]
                  ) -> dict[tuple[str, bool], list[train_prior.PriorSample]]:
    """The prior-preservation videos per stage variant (none when ``train.prior_preservation.samples``
    is 0), rendered by the base model before any LoRA exists; ``train/prior.png`` shows them."""
    cfg = run.params.train.prior_preservation
    if cfg.samples == 0:
        return {}
    priors: dict[tuple[str, bool], list[train_prior.PriorSample]] = {}
    for st, chosen in zip(stages, per_stage):
        variant = (st.crop, st.still)
        if variant not in priors:
            priors[variant], stats = train_prior.generate_priors(run, pipe, chosen, encoded[variant][0], cfg, device)
            for k, v in stats.items():
                cache_stats[k] = cache_stats.get(k, 0) + v
    train_prior.preview(pipe, [p for group in priors.values() for p in group], run.path("train", "prior.png"))
    return priors


def _clip_loss(pipe: Any, x0: Any, cond: dict[str, Any], generator: Any, stage: P.TrainStageSection,
               cfg: P.TrainSection, device: Any, audio: tuple[Any, Any] | None = None,
               fps: float = 24.0, reference: Any | None = None) -> tuple[Any, float, Any | None]:
    """Weighted flow-matching loss of one clip at a freshly drawn σ: (loss, σ, unweighted audio loss
    as a detached tensor, or None).

    With ``audio`` (latents ``[1, 8, L, 16]``, mask ``[L]``) the audio latents are noised at the same
    σ with their own noise and the audio velocity joins the loss, averaged over the valid (mask 1)
    latents only. Without it the audio stream is the pipeline's pure-noise first-step input
    (σ_audio = 1), which carries no information about the clip, and adds no loss: a clip without
    sound in an audio stage is masked out, not given made-up sound.

    With ``reference`` (a :class:`~ltxbench.model.reference.ReferenceLatents`, IC-LoRA) its clean
    tokens follow the clip's, the loss is the clip's alone, and σ's shift counts both, as the
    in-context pipeline's schedule does (its ``mu`` is computed from the whole sequence).
    """
    import torch

    from ltxbench.model import forward

    x0 = x0.to(device)
    tokens = x0.shape[2] * x0.shape[3] * x0.shape[4]
    if reference is not None:
        tokens += reference.latents.shape[2] * reference.latents.shape[3] * reference.latents.shape[4]
    sigma = sample_sigma(generator, token_shift(tokens, dict(pipe.scheduler.config)))
    noise = torch.randn(x0.shape, generator=generator).to(device)
    x_t = forward.noisy_latents(x0, noise, sigma)
    a_t = None
    if audio is not None:
        a0, a_mask = audio[0].to(device), audio[1].to(device)
        a_noise = torch.randn(a0.shape, generator=generator).to(device)
        a_t = forward.noisy_latents(a0, a_noise, sigma)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.mixed_precision == "bf16")
    with autocast:
        out = forward.transformer_forward(pipe, x_t, a_t, {k: v.to(device) for k, v in cond.items()}, sigma,
                                      frame_rate=fps, generator=generator, reference=reference)
    video_mse = torch.nn.functional.mse_loss(out.video.float(), forward.velocity_target(x0, noise).float())
    loss = stage.video_loss_weight * video_mse
    if audio is None:
        return loss, sigma, None, video_mse.detach()
    err = (out.audio.float() - forward.velocity_target(a0, a_noise).float()).square()  # [1, 8, L, 16]
    weights = a_mask.view(1, 1, -1, 1)
    audio_loss = (err * weights).sum() / (weights.sum() * err.shape[1] * err.shape[3]).clamp(min=1.0)
    return loss + stage.audio_loss_weight * audio_loss, sigma, audio_loss.detach(), video_mse.detach()


def _checkpoint(run: Run, lora_state: dict[str, Any], optim_state: dict[str, Any], step: int, stage_index: int,
                stage_step: int, stage_name: str, fingerprint: dict[str, Any], data_sha: str, rows: list[dict[str, Any]],
                provenance: dict[str, Any], cfg: P.TrainSection) -> None:
    """LoRA file, then the resume state (its presence marks the checkpoint complete), then pruning."""
    ckpt_dir = run.path("checkpoints")
    lora.save_lora(lora.checkpoint_path(ckpt_dir, step), lora_state,
                   lora.Provenance(step=step, stage=stage_name, **provenance))
    _write_metrics(run, rows)
    TS.save_state(TS.state_path(ckpt_dir, step), lora_state=lora_state, optimizer_state=optim_state,
                  step=step, stage_index=stage_index, stage_step=stage_step, fingerprint=fingerprint,
                  dataset_sha=data_sha, history=rows)
    if cfg.keep_last:
        _prune(run, cfg.keep_last)


def _prune(run: Run, keep_last: int) -> None:
    """Keep the newest ``keep_last`` checkpoints and the evaluation's best; older ones are removed."""
    import json

    ckpt_dir = run.path("checkpoints")
    best = None
    best_file = run.path(BEST_CHECKPOINT)
    if best_file.is_file():
        best = json.loads(best_file.read_text()).get("checkpoint")
    for path in lora.list_checkpoints(ckpt_dir)[:-keep_last]:
        if path.stem == best:
            continue
        path.unlink()
        TS.state_path(ckpt_dir, lora.checkpoint_step(path)).unlink(missing_ok=True)


def _drop_checkpoints_after(ckpt_dir: Path, step: int) -> None:
    """LoRA files written after the resumed state (a kill between LoRA and state) are redone;
    newer state files (only damaged ones can be newer: resume takes the newest intact one) are
    moved into ``checkpoints/damaged-<time>/``, not deleted."""
    for path in lora.list_checkpoints(ckpt_dir):
        if lora.checkpoint_step(path) > step:
            path.unlink()
    newer = [p for p in ckpt_dir.glob("state_step_*.pt") if lora.checkpoint_step(p) > step]
    if newer:
        aside = ckpt_dir / f"damaged-{folder.now_iso().replace(':', '')}"
        aside.mkdir(parents=True, exist_ok=True)
        for path in newer:
            path.rename(aside / path.name)


def _write_metrics(run: Run, rows: list[dict[str, Any]]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return atomic.atomic_write_text(run.path("train", "metrics.csv"), buf.getvalue())


PLATEAU_WINDOW = 0.2
"""Share of the steps compared at the end of training: the last 20% against the 20% before."""
AUDIO_FLAT = 0.02
VIDEO_FALLING = 0.05


def modality_note(rows: list[dict[str, Any]]) -> str | None:
    """A note when the audio loss has flattened while the video loss still falls: the smoothed
    audio loss changed by under 2% between the last two fifths of the audio steps while the
    smoothed video loss fell by more than 5% (audio trains faster than video: the guides' advice is
    to check its convergence apart, and stop or lower its weight once it is flat). None otherwise."""
    audio = [(r["step"], r["audio_loss_smoothed"]) for r in rows if r.get("audio_loss_smoothed") is not None]
    n = int(len(audio) * PLATEAU_WINDOW)
    if n < 5:
        return None
    steps = {s for s, _ in audio}
    video = [r["video_loss_smoothed"] for r in rows if r["step"] in steps and r.get("video_loss_smoothed") is not None]
    if len(video) != len(audio):
        return None

    def change(values: list[float]) -> float:
        before, last = float(sum(values[-2 * n:-n]) / n), float(sum(values[-n:]) / n)
        return (last - before) / max(abs(before), 1e-12)

    a, v = change([x for _, x in audio]), change(video)
    if abs(a) < AUDIO_FLAT and v < -VIDEO_FALLING:
        return (f"the audio loss has flattened ({a:+.1%} over the last {n} audio steps) while the video loss still falls "
                f"({v:+.1%}): the sound has learnt what it will; consider ending the audio stage earlier or lowering "
                "its audio_loss_weight, and judge the voice in the evaluation")
    return None


def plot_loss(rows: list[dict[str, Any]], out: Path) -> Path:
    import numpy as np

    fig, ax = figures.new_figure(1, (7, 3.5))
    if rows:
        steps = np.array([r["step"] for r in rows])
        ax.plot(steps, [r["loss"] for r in rows], color="tab:blue", alpha=0.35, label="loss")
        ax.plot(steps, [r["loss_smoothed"] for r in rows], color="tab:blue", label=f"smoothed (EMA {SMOOTHING})")
        audio = [(r["step"], r["audio_loss_smoothed"]) for r in rows if r.get("audio_loss_smoothed") is not None]
        if audio:  # apart: audio and video converge at different speeds
            ax.plot(steps, [r.get("video_loss_smoothed") for r in rows], color="tab:green", linewidth=0.9,
                    label="video MSE (smoothed)")
            ax.plot(*zip(*audio), color="tab:red", linewidth=0.9, label="audio MSE (smoothed)")
        prior = [(r["step"], r["prior_loss"]) for r in rows if r.get("prior_loss") is not None]
        if prior:  # the loss on the base's own trigger-free videos: rising means the LoRA changes what it should keep
            ax.plot(*zip(*prior), color="tab:orange", alpha=0.6, linewidth=0.8, label="prior loss (base videos, no trigger)")
        bounds = [r["step"] for prev, r in zip(rows, rows[1:]) if r["stage"] != prev["stage"]]
        for b in bounds:
            ax.axvline(b - 0.5, color="gray", linestyle=":")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching MSE")
    ax.set_title("Training loss")
    return figures.save_figure(fig, out)
