"""Generation for the evaluate stage: one base model, LoRAs swapped in and out, fixed prompts x seeds.

* Every checkpoint is checked first (:func:`screen_checkpoints`); a corrupt file or one made for
  another base version is skipped with the checker's reasons, never loaded.
* Prompts: each ``evaluate.prompts`` template with ``{trigger}`` replaced by each character's trigger
  and, for leakage, by ``evaluate.neutral_subject`` ("a person"): the same scene without the
  trigger. A no-trigger prompt is the same text for every character, so it is generated once.
* Seeds come from a CPU ``torch.Generator`` so a seed gives the same noise on any device.
* A video that already exists is not generated again (the stage resumes after a crash).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.evaluate.sources import (
    BASE,
    SampleVideo,
    is_stacked,
    split_label,
    stack_label,
    strength_label,
    video_name,
)
from ltxbench.lora import files as lora
from ltxbench.params import schema as P
from ltxbench.run import atomic
from ltxbench.run.folder import Run
from ltxbench.util import progress

log = logging.getLogger("ltxbench")
TRIGGER = "{trigger}"


@dataclass(frozen=True)
class PromptCase:
    """One prompt as evaluated: ``prompt_id`` is ``<character>-<prompt>`` when several characters
    are evaluated; ``neutral_id`` names the shared no-trigger video (the plain prompt id)."""

    prompt_id: str
    neutral_id: str
    character: str
    text: str
    neutral_text: str | None
    """None when the template has no ``{trigger}``: there is nothing to remove, so no leakage video."""


def sample_prompt_id(prompt_id: str, character: str, n_characters: int) -> str:
    """``<character>-<prompt>`` when several characters are evaluated (each prompt runs with each
    character's trigger and is scored against that character's references), else the prompt id."""
    return prompt_id if n_characters == 1 else f"{character}-{prompt_id}"


def prompt_text(template: str, trigger: str) -> str:
    return template.replace(TRIGGER, trigger)


def neutral_text(template: str, subject: str) -> str | None:
    """The prompt without the trigger: ``{trigger}`` becomes ``subject`` (e.g. "a person"), so the
    sentence stays grammatical and describes the same scene. None when there is no ``{trigger}``."""
    if TRIGGER not in template:
        return None
    text = template.replace(TRIGGER, subject)
    return text[0].upper() + text[1:] if template.startswith(TRIGGER) and subject[:1].islower() else text


def prompt_cases(cfg: P.EvaluateSection, characters: list[P.CharacterSection]) -> list[PromptCase]:
    cases = []
    for pr in cfg.prompts:
        neutral = neutral_text(pr.text, cfg.neutral_subject)
        if neutral is None:
            log.warning("evaluate: prompt %r has no {trigger}; no leakage video for it (nothing to remove)", pr.id)
        for ch in characters:
            cases.append(PromptCase(sample_prompt_id(pr.id, ch.name, len(characters)), pr.id, ch.name,
                                    prompt_text(pr.text, ch.trigger), neutral))
    return cases


def sampler_settings(cfg: P.EvaluateSection, model: P.ModelSection) -> dict[str, Any]:
    """The keyword arguments every generation uses (besides prompt and generator)."""
    return {
        "width": cfg.width, "height": cfg.height, "num_frames": cfg.num_frames, "frame_rate": cfg.frame_rate,
        "num_inference_steps": cfg.num_inference_steps, "guidance_scale": cfg.guidance_scale,
        "stg_scale": cfg.stg_scale, "spatio_temporal_guidance_blocks": list(cfg.stg_blocks) or None,
        "modality_scale": cfg.modality_scale, "guidance_rescale": cfg.guidance_rescale,
        "audio_guidance_scale": cfg.audio_guidance_scale, "audio_stg_scale": cfg.stg_scale,
        "audio_modality_scale": cfg.modality_scale, "audio_guidance_rescale": cfg.guidance_rescale,
        "negative_prompt": cfg.negative_prompt, "max_sequence_length": model.max_sequence_length,
    }


def check_stg_blocks(pipe: Any, cfg: P.EvaluateSection) -> None:
    layers = pipe.transformer.config.num_layers
    bad = [b for b in cfg.stg_blocks if b >= layers]
    if cfg.stg_scale > 0 and bad:
        raise ValueError(f"evaluate.stg_blocks = {list(cfg.stg_blocks)}: the transformer has {layers} blocks (0..{layers - 1}); "
                         f"choose blocks in range or set evaluate.stg_scale: 0")


def generate_video(pipe: Any, prompt: str, seed: int, settings: dict[str, Any]) -> tuple[np.ndarray, tuple[np.ndarray, int] | None]:
    """One video as uint8 ``[F,H,W,3]``, from a CPU generator seeded with ``seed`` (device-independent),
    and its generated sound ``(samples [C,T], rate)`` (the vocoder's), or None when there is none
    or it is not finite (the video is still written; its voice then is not measured)."""
    import torch

    from ltxbench.model import video_decoder

    generator = torch.Generator(device="cpu").manual_seed(seed)
    # through the VAE, or (LTX-2.5's default) latents then the diffusion decoder, on the same generator
    video, audio = video_decoder.generate(pipe, prompt, generator, settings)
    frames = np.asarray(video[0])  # [F,H,W,3] floats in [0,1]
    if not np.isfinite(frames).all():  # would silently become a black or noise video after the uint8 cast
        raise FloatingPointError(f"the pipeline returned NaN/inf frames for {prompt!r} (seed {seed}, "
                                 f"{settings.get('num_inference_steps')} steps); check the sampler settings and model.dtype")
    sound = None
    vocoder = getattr(pipe, "vocoder", None)
    if audio is not None and vocoder is not None:
        samples = np.asarray(audio[0].float().cpu() if hasattr(audio[0], "float") else audio[0], dtype=np.float32)
        samples = samples.reshape(-1, samples.shape[-1])[:2]
        if samples.size and np.isfinite(samples).all():
            sound = (samples, int(vocoder.config.output_sampling_rate))
        else:
            log.warning("evaluate: the generated sound for %r (seed %d) is empty or not finite: the video is written "
                        "without it, so its voice is not measured", prompt, seed)
    return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8), sound


def screen_checkpoints(paths: list[Path], version: str, base: Any, *, cross_version: bool = False,
                       warnings_out: dict[str, list[str]] | None = None) -> tuple[list[Path], list[dict[str, Any]]]:
    """Split checkpoints into usable ones and skipped ones (``{checkpoint, path, verdict, reasons}``).

    A LoRA for another base version loads without error and silently degrades the output, and a
    corrupt file stops generation half-way: both are reported and skipped, the rest evaluated.
    ``cross_version`` (``evaluate.bases``): a LoRA whose only fault is its version is kept, the
    checker's warnings per usable checkpoint go into ``warnings_out``.
    """
    from ltxbench.lora.check.check import IncompatibleLoRAError, require_compatible

    ok, skipped = [], []
    for path in paths:
        try:
            report = require_compatible(path, version, base=base, cross_version=cross_version)
            if warnings_out is not None and report.warnings:
                warnings_out[path.stem] = list(report.warnings)
        except IncompatibleLoRAError as exc:
            report = exc.report
            skipped.append({"checkpoint": path.stem, "path": str(path), "verdict": report.verdict,
                            "reasons": list(report.reasons)})
            log.warning("evaluate: skipping %s (%s): %s", path.name, report.verdict, "; ".join(report.reasons))
            continue
        ok.append(path)
    return ok, skipped


@dataclass(frozen=True)
class StackedLoRA:
    """One of ``evaluate.with_loras`` as loaded: the file, its weight and its adapter name."""

    path: Path
    strength: float
    adapter: str


def stacked_loras(cfg: P.EvaluateSection) -> list[StackedLoRA]:
    return [StackedLoRA(Path(w.path), w.strength, f"stack_{i}") for i, w in enumerate(cfg.with_loras)]


class StackedLoRAError(ValueError):
    """A file of ``evaluate.with_loras`` the LoRA checker refuses for this base (the message says why)."""


def screen_stack(stack: list[StackedLoRA], version: str, base: Any) -> None:
    """Check every stacked LoRA against the loaded base (``base``: its architecture) before any
    video is generated. Unlike a bad checkpoint (skipped, the others evaluated), a bad stacked file
    is an error: without it there is no stack to measure."""
    from ltxbench.lora.check.check import IncompatibleLoRAError, require_compatible

    problems = []
    for i, item in enumerate(stack):
        try:
            require_compatible(item.path, version, base=base)
        except IncompatibleLoRAError as exc:
            problems.append(f"evaluate.with_loras.{i} = {item.path} ({exc.report.verdict}): {'; '.join(exc.report.reasons)}")
    if problems:
        raise StackedLoRAError(f"{len(problems)} stacked LoRA(s) refused by the LoRA check for LTX-{version}:\n"
                               + "\n".join(f"  - {p}" for p in problems)
                               + f"\nRun `ltxbench check-lora FILE --base {version}` for the full report.")


class Adapters:
    """What is loaded on the base model: at most one character LoRA (swapped as the checkpoints go
    by; the same file at another strength is only reweighted) and, for videos marked ``+stack``,
    the stacked LoRAs beside it at their own weights."""

    def __init__(self, pipe: Any, stack: list[StackedLoRA]):
        self.pipe, self.stack = pipe, stack
        self.character: str | None = None  # adapter name of the loaded character LoRA
        self.stack_loaded = False

    def use(self, label: str, path: Path | None) -> None:
        """Set the adapters for a video of ``label`` (``name[@strength][+stack]``; ``path`` None: no
        character LoRA, the base model)."""
        name, strength = split_label(label)
        stacked = is_stacked(label)
        if self.stack_loaded and not stacked:
            self.clear()  # the plan puts stacked videos last: this only happens on a resumed, partial plan
        if self.character is not None and (path is None or self.character != name):
            self.pipe.delete_adapters(self.character)
            self.character = None
        if path is not None and self.character is None:
            self._load(path, name)
            self.character = name
        if stacked and not self.stack_loaded:
            for item in self.stack:
                self._load(item.path, item.adapter)
            self.stack_loaded = True
        names = ([name] if path is not None else []) + ([s.adapter for s in self.stack] if stacked else [])
        weights = ([strength] if path is not None else []) + ([s.strength for s in self.stack] if stacked else [])
        if names:
            self.pipe.set_adapters(names, adapter_weights=weights)

    def _load(self, path: Path, adapter: str) -> None:
        with warnings.catch_warnings():  # several adapters on one model is the point of a stack, not a mistake
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            self.pipe.load_lora_weights(str(path), adapter_name=adapter)

    def clear(self) -> None:
        """Back to the base model alone."""
        if self.character is not None or self.stack_loaded:
            self.pipe.unload_lora_weights()
        self.character, self.stack_loaded = None, False


def planned_videos(run: Run, checkpoints: list[Path], cases: list[PromptCase],
                   samples: Path | None = None) -> list[tuple[SampleVideo, str, Path | None]]:
    """Every video the stage needs: (video, prompt text, LoRA file or None for base), grouped by
    checkpoint so each LoRA is loaded once; under ``samples`` (default the run's ``samples/``)."""
    cfg = run.params.evaluate
    samples = run.path("samples") if samples is None else samples
    targets: list[tuple[str, int, Path | None]] = [(BASE, 0, None)] if cfg.include_base else []
    # strengths innermost: one checkpoint's file is loaded once and only reweighted
    targets += [(strength_label(p.stem, w), lora.checkpoint_step(p), p) for p in checkpoints for w in cfg.strengths]
    if cfg.with_loras:  # the same again with the stack, last: the stack is loaded once
        targets += [(stack_label(name), step, path) for name, step, path in targets]
    plan: list[tuple[SampleVideo, str, Path | None]] = []
    for name, step, path in targets:
        neutral_done: set[tuple[str, int]] = set()
        for case in cases:
            for seed in cfg.seeds:
                out = samples / name / (video_name(case.prompt_id, seed) + ".mp4")
                plan.append((SampleVideo(name, step, case.prompt_id, seed, out, True), case.text, path))
                if cfg.leakage and case.neutral_text is not None and (case.neutral_id, seed) not in neutral_done:
                    neutral_done.add((case.neutral_id, seed))
                    out = samples / name / (video_name(case.neutral_id, seed, trigger=False) + ".mp4")
                    plan.append((SampleVideo(name, step, case.neutral_id, seed, out, False), case.neutral_text, path))
    return plan


def provenance_path(video_path: Path) -> Path:
    """The record beside a sample video: ``samples/<checkpoint>/<video>.json``."""
    return video_path.with_suffix(".json")


def sample_provenance(lora_sha256: str | None, base_id: str, text: str, seed: int, settings: dict[str, Any],
                      strength: float = 1.0, stack: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What a sample video was made from: the LoRA file's content (None for the base model) and its
    strength, the stacked LoRAs (content and strength), the base model, the prompt text, the seed and
    the sampler settings. A video is reused only when all agree."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    record = {"lora_sha256": lora_sha256, "base": base_id, "prompt": text, "seed": seed,
              "settings_sha256": hashlib.sha256(blob.encode()).hexdigest(),
              "sound": True}  # the generated sound is muxed in (older, silent samples are made again)
    if lora_sha256 is not None and strength != 1.0:  # records from before strengths were all at 1.0: still reusable
        record["strength"] = strength
    if stack:
        record["stack"] = stack
    return record


def _reusable(path: Path, wanted: dict[str, Any]) -> bool:
    record = provenance_path(path)
    if not (path.is_file() and record.is_file()):
        return False  # a video without its record (an older run, an interrupted write): made again
    try:
        return json.loads(record.read_text(encoding="utf-8")) == wanted
    except (OSError, ValueError):
        return False


def generate_missing(run: Run, pipe: Any, plan: list[tuple[SampleVideo, str, Path | None]], regenerate: bool = False,
                     model: P.ModelSection | None = None, reference: Any = None) -> int:
    """Generate every planned video that does not exist yet with the same provenance (every one with
    ``regenerate``); returns how many were generated.

    Each video's record (:func:`sample_provenance`, written after the video) keys it on the sha256
    of the LoRA file that made it and on the base model: a checkpoint retrained under the same name
    gets new videos, an unchanged one keeps its old ones. ``model``: the base ``pipe`` is (default
    the run's ``model``; ``evaluate.bases`` passes each other base). ``reference``: a
    :class:`ltxbench.evaluate.with_reference.ReferencePlan`: every video is made through the
    in-context pipeline with its character's reference photo, which its record names."""
    from ltxbench.media import video
    from ltxbench.train.data import file_sha256, model_section_id

    cfg = run.params.evaluate
    model = run.params.model if model is None else model  # another base of evaluate.bases
    settings = sampler_settings(cfg, model)
    base_id = model_section_id(model).replace("\x1f", " ")
    lora_hashes = {p: file_sha256(p) for p in {lora_path for _, _, lora_path in plan if lora_path is not None}}
    stack = stacked_loras(cfg)
    stack_record = [{"lora_sha256": file_sha256(s.path), "strength": s.strength} for s in stack]
    todo = []
    for sample, text, lora_path in plan:
        wanted = sample_provenance(lora_hashes.get(lora_path), base_id, text, sample.seed, settings, sample.strength,
                                   stack_record if sample.stacked else None)
        if reference is not None:
            wanted["reference"] = reference.record(sample.prompt_id)
        if regenerate or not _reusable(sample.path, wanted):
            todo.append((sample, text, lora_path, wanted))
    if len(todo) < len(plan):
        log.info("evaluate: %d of %d videos exist, made from the same LoRA file, base and settings: reused",
                 len(plan) - len(todo), len(plan))
    adapters = Adapters(pipe, stack)
    in_context = reference.pipeline(pipe) if reference is not None and todo else None
    try:
        for sample, text, lora_path, wanted in progress.bar(todo, desc="generate", unit="video"):
            adapters.use(sample.checkpoint, lora_path)
            if in_context is not None:
                frames, sound = reference.generate(in_context, text, sample.seed, settings, sample.prompt_id)
            else:
                frames, sound = generate_video(pipe, text, sample.seed, settings)
            video.write_mp4(sample.path, frames, fps=cfg.frame_rate, audio=sound)
            atomic.atomic_write_json(provenance_path(sample.path), wanted)
    finally:
        adapters.clear()
    return len(todo)
