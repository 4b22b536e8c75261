"""Where the evaluated videos come from: this run's ``samples/`` or a folder made elsewhere.

Both give the same list of :class:`SampleVideo`, so scoring never cares who generated a video.
The folder layout (the one the evaluate stage writes, and what a ComfyUI export can be renamed to)::

    <root>/<checkpoint>/<prompt_id>_s<seed>.mp4            videos with the trigger
    <root>/<checkpoint>/<prompt_id>-notrigger_s<seed>.mp4  the same prompt with the trigger removed (leakage)

``<checkpoint>`` is ``base`` for the model without LoRA (step 0); for any other folder the training
step is the trailing number of its name (``lora_step_000250``, ``step_000250``, ``mylora_250``)
unless a ``steps`` mapping names it. A LoRA used at a strength other than 1.0 has ``@<strength>``
after the name (``lora_step_000250@0.6``: the same checkpoint at weight 0.6), which is how the
evaluate stage names those folders and how videos made in ComfyUI at another ``strength_model``
can be scored. Videos made with other LoRAs stacked beside it (``evaluate.with_loras``) have
``+stack`` last (``lora_step_000250@0.6+stack``; ``base+stack`` is the base model with the stack
alone). Anything that does not fit is listed in one error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BASE = "base"
NO_TRIGGER = "-notrigger"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")
_NAME = re.compile(r"^(?P<prompt>[A-Za-z0-9_-]+?)(?P<notrigger>-notrigger)?_s(?P<seed>\d+)$")
_STEP = re.compile(r"(\d+)$")
STRENGTH_MARK = "@"
STACK_MARK = "+stack"
_STRENGTH = re.compile(r"^(?P<name>.+)@(?P<strength>\d+(?:\.\d+)?)$")


class VideoFolderError(ValueError):
    """A folder of videos that cannot be evaluated as it is (the message lists every problem)."""


@dataclass(frozen=True)
class SampleVideo:
    """One video to score. ``prompt_id`` never carries the ``-notrigger`` suffix; ``trigger`` says
    whether the prompt had the character's trigger (False: a leakage video)."""

    checkpoint: str
    step: int
    prompt_id: str
    seed: int
    path: Path
    trigger: bool = True

    @property
    def name(self) -> str:
        return video_name(self.prompt_id, self.seed, self.trigger)

    @property
    def lora(self) -> str:
        """The checkpoint without its strength mark (``lora_step_000250@0.6`` -> ``lora_step_000250``)."""
        return split_label(self.checkpoint)[0]

    @property
    def strength(self) -> float:
        """The LoRA's weight (1.0 unless the checkpoint is marked ``@<strength>``; the base: 0.0)."""
        return label_strength(self.checkpoint)

    @property
    def stacked(self) -> bool:
        """Made with ``evaluate.with_loras`` loaded beside the checkpoint (label ends in ``+stack``)."""
        return is_stacked(self.checkpoint)


def strength_label(checkpoint: str, strength: float) -> str:
    """The name a checkpoint has at ``strength``: itself at 1.0, ``<checkpoint>@<strength>`` otherwise."""
    return checkpoint if strength == 1.0 else f"{checkpoint}{STRENGTH_MARK}{strength:g}"


def split_label(label: str) -> tuple[str, float]:
    """``lora_step_000250@0.6`` -> ``("lora_step_000250", 0.6)``; an unmarked name is at 1.0; a
    ``+stack`` mark is dropped (:func:`is_stacked` reads it)."""
    label = unstacked(label)
    m = _STRENGTH.match(label)
    return (m["name"], float(m["strength"])) if m else (label, 1.0)


def label_strength(label: str) -> float:
    """The LoRA strength a checkpoint label stands for (the base model, with or without a stack: 0.0)."""
    name, strength = split_label(label)
    return 0.0 if name == BASE else strength


def stack_label(label: str) -> str:
    """The name of ``label``'s videos made with the stacked LoRAs: ``lora_step_000250@0.6+stack``."""
    return label if is_stacked(label) else label + STACK_MARK


def is_stacked(label: str) -> bool:
    return label.endswith(STACK_MARK)


def unstacked(label: str) -> str:
    """``lora_step_000250@0.6+stack`` -> ``lora_step_000250@0.6``."""
    return label[: -len(STACK_MARK)] if is_stacked(label) else label


def video_name(prompt_id: str, seed: int, trigger: bool = True) -> str:
    """``talking_s0`` / ``talking-notrigger_s0`` (without the suffix)."""
    return f"{prompt_id}{'' if trigger else NO_TRIGGER}_s{seed}"


def parse_video_name(stem: str) -> tuple[str, int, bool] | None:
    """``talking-notrigger_s3`` -> ``("talking", 3, False)``; None when the name does not fit."""
    m = _NAME.match(stem)
    if m is None:
        return None
    return m["prompt"], int(m["seed"]), m["notrigger"] is None


def checkpoint_step(name: str, steps: dict[str, int] | None = None) -> int | None:
    """The training step of a checkpoint folder: 0 for ``base``, ``steps[name]`` when given, else
    the trailing number of the name; None when there is none."""
    if steps and name in steps:
        return int(steps[name])
    name, _ = split_label(name)
    if name == BASE:
        return 0
    if steps and name in steps:
        return int(steps[name])
    m = _STEP.search(name)
    return int(m.group(1)) if m else None


def folder_videos(root: str | Path, steps: dict[str, int] | None = None) -> list[SampleVideo]:
    """Every video under ``root/<checkpoint>/``, sorted by step, checkpoint, prompt, seed.

    Raises :class:`VideoFolderError` when ``root`` is missing, holds no videos, or when folder or
    file names cannot be parsed (all of them listed, with the expected form).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise VideoFolderError(f"evaluate.videos_from = {root}: no such folder")
    problems: list[str] = []
    found: list[SampleVideo] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                       and not p.name.startswith("."))
        if not files:
            continue
        step = checkpoint_step(folder.name, steps)
        if step is None:
            problems.append(f"{folder.name}/: no training step in the folder name (name it like step_000250, "
                            "or 'base' for the model without LoRA, or pass steps={name: step})")
            continue
        for path in files:
            parsed = parse_video_name(path.stem)
            if parsed is None:
                problems.append(f"{folder.name}/{path.name}: expected <prompt_id>_s<seed>{path.suffix} or "
                                f"<prompt_id>-notrigger_s<seed>{path.suffix}")
                continue
            prompt_id, seed, trigger = parsed
            found.append(SampleVideo(folder.name, step, prompt_id, seed, path, trigger))
    loose = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if loose:
        problems.append(f"videos directly in {root} ({', '.join(loose[:5])}{'…' if len(loose) > 5 else ''}): put them "
                        "in one folder per checkpoint, <root>/<checkpoint>/<prompt_id>_s<seed>.mp4")
    if problems:
        raise VideoFolderError(f"{len(problems)} problem(s) in {root}:\n" + "\n".join(f"  - {p}" for p in problems))
    if not found:
        raise VideoFolderError(f"no videos in {root}: expected <root>/<checkpoint>/<prompt_id>_s<seed>.mp4 "
                               f"({', '.join(VIDEO_SUFFIXES)}), with 'base' as the checkpoint of the model without LoRA")
    return sorted(found, key=lambda v: (v.step, v.checkpoint != BASE, v.checkpoint, v.prompt_id, v.seed, not v.trigger))
