"""A plan before launch: steps, checkpoints, peak memory and time for named GPUs (``ltxbench plan``).

Nothing is loaded: the dataset is counted from the run's curated manifest when it exists, else
estimated from the source files; memory comes from the VRAM planner (:mod:`ltxbench.train.vram`, exact
parameter counts of the transformer built on the meta device); time from the model FLOPs of one
step (:mod:`ltxbench.train.flops`).

**Steps** (:func:`recommended_steps`): per character ``100 x accepted clips``, clamped to
500..2000 (the range the LoRA guides give for one character; about 100 passes over each clip), and
summed over characters (each needs its own budget), rounded to 50. **Checkpoints**: an interval
that gives about :data:`CHECKPOINTS_WANTED` checkpoints, so the evaluation has a curve to read.

**Time**: FLOP-based unless measured. Per step: the model FLOPs (weight matmuls 2x, attention 3x
their forward) plus the recomputed forward under gradient checkpointing, divided by the GPU's
dense bf16 tensor peak x :data:`ASSUMED_MFU`. These are estimates, marked so: no full-size step
has been timed on a GPU by this repository. A figure is *measured* only when the run folder has
``train/metrics.csv`` (the median ``step_time`` of that run on the machine that trained it).
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltxbench.dataset.manifest import manifest_if_any, manifest_path
from ltxbench.params import schema as P

GIB = 2**30
STEPS_PER_CLIP = 100
STEPS_MIN, STEPS_MAX = 500, 2000
CHECKPOINTS_WANTED = 6
ASSUMED_MFU = 0.35
"""Model-FLOPs utilisation assumed for the estimates: LoRA training on a frozen bf16 base commonly
runs at 30-45% on data-centre GPUs; a measured figure replaces it when there is one."""


@dataclass(frozen=True)
class GPU:
    name: str
    memory_gib: float
    """Memory as torch.cuda.mem_get_info reports it (a little under the marketed size)."""
    bf16_tflops: float
    """Dense (no sparsity) bf16 tensor-core peak with fp32 accumulation, from the vendor's datasheet."""


GPUS = (
    GPU("RTX 4090 24GB", 23.6, 165.0),
    GPU("RTX 5090 32GB", 31.4, 209.0),
    GPU("L40S 48GB", 44.4, 362.0),
    GPU("A100 80GB", 79.2, 312.0),
    GPU("H100 80GB", 79.2, 989.0),
    GPU("H200 141GB", 139.8, 989.0),
)


@dataclass
class DatasetCount:
    clips: dict[str, int]
    """Accepted (or, before curate, estimated) clips per character."""
    frames: int
    """Frames the clips hold in total (clip_frames each; a photo counts one clip)."""
    measured: bool
    """True: counted from dataset/manifest.jsonl; False: estimated from the source files."""
    how: str
    unreadable: list[str] = field(default_factory=list)
    """Source videos that could not be probed (counted as no clips; curate will reject them with the reason)."""


@dataclass
class GPUPlan:
    gpu: GPU
    memory_gib: float
    fits: bool
    step_s: float
    total_h: float
    measured: bool
    suggestions: list[str] = field(default_factory=list)


@dataclass
class Plan:
    dataset: DatasetCount
    steps_configured: int
    steps_recommended: int
    checkpoint_every: int
    checkpoint_every_recommended: int
    tokens: tuple[int, int, int]
    step_tflop: float
    gpus: list[GPUPlan]
    measured_here: tuple[float, str] | None
    """(median seconds per step, what) when the run folder has trained on this machine."""
    checkpointing: bool = False
    warnings: list[str] = field(default_factory=list)

    def table(self) -> Any:
        import pandas as pd

        return pd.DataFrame([{"GPU": g.gpu.name, "peak memory GiB": round(g.memory_gib, 1), "of GiB": g.gpu.memory_gib,
                              "fits": g.fits, "s/step": round(g.step_s, 2), "hours (= GPU-hours)": round(g.total_h, 2),
                              "time is": "measured" if g.measured else f"estimate (FLOPs at {ASSUMED_MFU:.0%} MFU)"}
                             for g in self.gpus])

    def as_text(self) -> str:
        d = self.dataset
        per = ", ".join(f"{name} {n}" for name, n in d.clips.items())
        lines = [f"dataset: {sum(d.clips.values())} clip(s) ({per}), {d.frames} frames; {d.how}",
                 f"steps: {self.steps_configured} configured, {self.steps_recommended} recommended "
                 f"({STEPS_PER_CLIP} per clip, {STEPS_MIN}-{STEPS_MAX} per character)",
                 f"checkpoints: every {self.checkpoint_every} steps ({self.steps_configured // self.checkpoint_every} "
                 f"checkpoints); recommended every {self.checkpoint_every_recommended}",
                 f"one step: {self.tokens[0]} video, {self.tokens[1]} audio, {self.tokens[2]} text tokens, "
                 f"{self.step_tflop:.3g} TFLOP (model FLOPs"
                 + (", + the forward recomputed by gradient checkpointing)" if self.checkpointing else ")"), ""]
        if self.measured_here is not None:
            lines.append(f"measured here: {self.measured_here[0]:.3f} s/step ({self.measured_here[1]}); "
                         f"{self.steps_configured} steps = {self.measured_here[0] * self.steps_configured / 3600:.2f} h")
        header = f"{'GPU':<16}{'peak GiB':>10}{'of':>8}  {'fits':<5}{'s/step':>9}{'hours':>8}  time"
        lines += [header, "-" * len(header)]
        for g in self.gpus:
            lines.append(f"{g.gpu.name:<16}{g.memory_gib:>10.1f}{g.gpu.memory_gib:>8.1f}  {'yes' if g.fits else 'NO':<5}"
                         f"{g.step_s:>9.3g}{g.total_h:>8.3g}  "
                         + ("measured" if g.measured else f"estimate: FLOPs at {ASSUMED_MFU:.0%} MFU, not measured"))
        lines.append("hours are for the configured steps on one GPU, so they are also the GPU-hours")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.as_text()


def recommended_steps(clips: dict[str, int]) -> int:
    """The documented rule (module docstring): per character 100 x clips in 500..2000, summed, to 50."""
    total = sum(min(STEPS_MAX, max(STEPS_MIN, STEPS_PER_CLIP * n)) for n in clips.values())
    return max(50, int(round(total / 50.0)) * 50)


def recommended_interval(steps: int) -> int:
    """A checkpoint interval giving about CHECKPOINTS_WANTED checkpoints, rounded down to 50 (at least 50)."""
    return max(50, (steps // CHECKPOINTS_WANTED) // 50 * 50)


def count_dataset(params: P.RunParams, run_dir: Path | None) -> DatasetCount:
    """Accepted clips per character from the run's manifest, else estimated from the sources."""
    names = [c.name for c in params.dataset.characters]
    frames_per = params.curate.clip_frames
    stored = manifest_if_any(run_dir) if run_dir is not None else None
    if stored is not None:
        manifest = manifest_path(run_dir)
        # head crops are cut from clips already counted: they add steps' worth of views, not clips
        records = [r for r in stored if r.get("status") == "accepted" and r.get("variant") != "head"]
        clips = {n: sum(1 for r in records if r.get("character") == n) for n in names}
        frames = sum(1 if r.get("source_kind") == "image" else frames_per for r in records)
        return DatasetCount(clips, frames, True, f"counted: accepted clips in {manifest}")
    from ltxbench.curate.candidates import expand_media
    from ltxbench.media import video

    clips, frames, unreadable = {}, 0, []
    seconds = frames_per / params.curate.fps
    for ch in params.dataset.characters:
        n = 0
        for path in expand_media(list(ch.media)):
            if path.suffix.lower() in P.IMAGE_SUFFIXES:
                n, frames = n + 1, frames + 1
                continue
            try:
                fit = int(video.probe(path).duration_s // seconds)
            except (OSError, ValueError, RuntimeError) as exc:  # curate rejects it with the reason; here it adds nothing
                unreadable.append(f"{path}: {exc}")
                fit = 0
            n, frames = n + fit, frames + fit * frames_per
        clips[ch.name] = n
    return DatasetCount(clips, frames, False, "estimated before curate: every photo one clip, every video at most "
                        f"its length / {seconds:.2f} s (curate rejects some; run curate for the real count)", unreadable)


def configured_steps(params: P.RunParams) -> int:
    return sum(s.steps for s in params.train.stages) if params.train.stages else params.train.steps


def measured_step_time(run_dir: Path | None) -> tuple[float, str] | None:
    """Median step_time of the run's train/metrics.csv, or None."""
    path = run_dir / "train" / "metrics.csv" if run_dir is not None else None
    if path is None or not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as fh:
        times = [float(r["step_time"]) for r in csv.DictReader(fh) if r.get("step_time")]
    if not times:
        return None
    return statistics.median(times), f"median of {len(times)} steps in {path}, on the machine that trained it"


def make_plan(params: P.RunParams, run_dir: str | Path | None = None, gpus: tuple[GPU, ...] = GPUS) -> Plan:
    """The plan for ``params`` (see the module docstring); ``run_dir`` supplies counts and timings when it has them."""
    from ltxbench.model.architecture import transformer_config
    from ltxbench.train import vram
    from ltxbench.train.flops import forward_flops_split

    folder = Path(run_dir) if run_dir is not None else None
    dataset = count_dataset(params, folder)
    steps = configured_steps(params)
    recommended = recommended_steps(dataset.clips)
    dims = vram.model_dims(params.model)
    tokens = vram.step_tokens(params)
    config = _transformer_config(params.model, transformer_config)
    weights, attention = forward_flops_split(config, *tokens)
    flops = params.train.batch_size * (2 * weights + 3 * attention)
    if params.train.gradient_checkpointing:  # the forward is run again in the backward pass
        flops += params.train.batch_size * (weights + attention)
    measured = measured_step_time(folder)
    out_gpus = []
    for gpu in gpus:
        mem = vram.estimate(params, dims, gpu.memory_gib * GIB)
        step_s = flops / (gpu.bf16_tflops * 1e12 * ASSUMED_MFU)
        out_gpus.append(GPUPlan(gpu, mem.total / GIB, bool(mem.fits), step_s, step_s * steps / 3600, False, mem.suggestions))
    plan = Plan(dataset, steps, recommended, params.train.checkpoint_every, recommended_interval(steps), tokens,
                flops / 1e12, out_gpus, measured, params.train.gradient_checkpointing)
    plan.warnings = _warnings(params, plan)
    return plan


def _transformer_config(model: P.ModelSection, full_config: Any) -> dict[str, Any]:
    """The transformer config the FLOPs are counted on: the real version's, or the tiny model's own."""
    if model.source == "tiny":
        from ltxbench.model import tiny

        return dict(tiny.build_tiny_pipeline(model.version).transformer.config)
    if model.source == "tiny-pretrained":
        from diffusers import LTX2VideoTransformer3DModel

        from ltxbench.model import tiny_base

        return dict(LTX2VideoTransformer3DModel.load_config(tiny_base.folder() / "transformer"))
    return dict(full_config(model.version))


def _warnings(params: P.RunParams, plan: Plan) -> list[str]:
    out = []
    n_clips = sum(plan.dataset.clips.values())
    out += [f"cannot read {u}: counted as no clips" for u in plan.dataset.unreadable]
    if n_clips == 0:
        out.append("no clips: training cannot start (add media, or run curate to see why clips are rejected)")
    ratio = plan.steps_configured / plan.steps_recommended
    if ratio > 1.5 or ratio < 0.67:
        out.append(f"{plan.steps_configured} steps is {ratio:.1f}x the {plan.steps_recommended} the rule gives for "
                   f"{n_clips} clip(s): {'overfitting (copies, prompt collapse)' if ratio > 1 else 'underfitting'} is likely; "
                   f"set train.steps={plan.steps_recommended} or let the evaluation's curve decide")
    n_ckpt = plan.steps_configured // plan.checkpoint_every
    if n_ckpt < 3:
        out.append(f"only {n_ckpt} checkpoint(s): the evaluation needs a curve; set train.checkpoint_every="
                   f"{plan.checkpoint_every_recommended}")
    elif n_ckpt > 40:
        out.append(f"{n_ckpt} checkpoints: evaluating each renders every prompt and seed; "
                   f"train.checkpoint_every={plan.checkpoint_every_recommended} is enough for the curve")
    fitting = [g.gpu.name for g in plan.gpus if g.fits]
    if not fitting:
        first = plan.gpus[-1] if plan.gpus else None
        hint = f"; on {first.gpu.name}: {first.suggestions[0]}" if first is not None and first.suggestions else ""
        out.append(f"does not fit any listed GPU{hint}")
    else:
        short = [g for g in plan.gpus if not g.fits]
        for g in short:
            if g.suggestions and g.suggestions[0].startswith("no single change"):
                out.append(f"{g.gpu.name}: needs {g.memory_gib:.1f} GiB; {g.suggestions[0]}")
            elif g.suggestions:
                out.append(f"{g.gpu.name}: needs {g.memory_gib:.1f} GiB; would fit with {g.suggestions[0]}")
    if params.model.source in ("tiny", "tiny-pretrained"):
        out.append("the tiny model: GPU figures are for its own small config, not LTX-2.3 (use a params file with the real model)")
    return out
