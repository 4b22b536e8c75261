"""Every path of the run-folder contract (runs/README.md) as a name, relative to the run folder.

Stages, widgets and the sweep tables name files through these constants instead of spelling them,
so the contract has one home; ``tests/test_layout.py`` checks this list against runs/README.md.
Paths with a ``{}`` field are patterns: ``SAMPLE_VIDEO.format(checkpoint=..., video=...)``.
"""

from __future__ import annotations

PARAMS_YAML = "params.yaml"
RUN_JSON = "run.json"
RUN_LOCK = ".run.lock"
NOTEBOOK = "notebooks/{name}.ipynb"

DATASET = "dataset"
MANIFEST = "dataset/manifest.jsonl"
CLIP = "dataset/clips/{id}.mp4"
CLIP_CAPTION = "dataset/clips/{id}.txt"
THUMB = "dataset/thumbs/{id}.jpg"
PREVIEW = "dataset/previews/{id}.gif"
COVERAGE_JSON = "dataset/coverage.json"
COVERAGE_PNG = "dataset/coverage.png"
OVERRIDES = "dataset/overrides.json"
CAPTION_EDITS = "dataset/caption_edits.json"
EXPORT_CSV = "dataset/dataset.csv"
EXPORT_JSONL = "dataset/dataset.jsonl"

CACHE_LATENTS = "cache/latents/{key}.safetensors"
CACHE_TEXT = "cache/text/{key}.safetensors"
CACHE_AUDIO = "cache/audio/{key}.safetensors"

CHECKPOINTS = "checkpoints"
CHECKPOINT = "checkpoints/lora_step_{step:06d}.safetensors"
TRAIN_METRICS = "train/metrics.csv"
TRAIN_SUMMARY = "train/summary.json"
TRAIN_LOSS_PNG = "train/loss.png"

SAMPLES = "samples"
SAMPLE_VIDEO = "samples/{checkpoint}/{video}.mp4"
SAMPLE_PROVENANCE = "samples/{checkpoint}/{video}.json"

EVAL = "eval"
EVAL_SAMPLER = "eval/sampler.json"
EVAL_SKIPPED = "eval/skipped.json"
EVAL_NOTES = "eval/notes.json"
EVAL_METRICS = "eval/metrics.csv"
EVAL_BLEED = "eval/bleed.csv"
EVAL_SUMMARY = "eval/summary.csv"
BEST_CHECKPOINT = "eval/best_checkpoint.json"
DIAGNOSIS = "eval/diagnosis.json"
TRAINING_FACES = "eval/training_faces.npz"
IDENTITY_CURVE = "eval/identity_curve.png"
GRID = "eval/grid_{checkpoint}.png"
BLEED_PNG = "eval/bleed.png"
LEAKAGE_MOTION_PNG = "eval/leakage_motion.png"
VOICE_CURVE_PNG = "eval/voice_curve.png"
VOICE_BLEED_PNG = "eval/voice_bleed.png"
IDENTITY_BY_ANGLE_PNG = "eval/identity_by_angle.png"
STACK_CSV = "eval/stack.csv"
STACK_CURVE_PNG = "eval/stack_curve.png"
STRENGTH_CURVE_PNG = "eval/strength_curve.png"
# evaluate.bases: the same videos on other base models, side by side
BASES_SAMPLE_VIDEO = "samples/bases/{name}/{checkpoint}/{video}.mp4"
BASES_SAMPLE_PROVENANCE = "samples/bases/{name}/{checkpoint}/{video}.json"
BASES_CSV = "eval/bases.csv"
BASES_METRICS = "eval/bases/{name}/metrics.csv"
BASES_JSON = "eval/bases.json"
BASES_PNG = "eval/bases.png"
# IC-LoRAs: the trigger videos again, given the reference
REFERENCE_SAMPLE_VIDEO = "samples/reference/{checkpoint}/{video}.mp4"
REFERENCE_SAMPLE_PROVENANCE = "samples/reference/{checkpoint}/{video}.json"
REFERENCE_CSV = "eval/reference.csv"
REFERENCE_METRICS = "eval/reference/metrics.csv"
REFERENCE_JSON = "eval/reference.json"
REFERENCE_PNG = "eval/reference.png"


def name_in(folder: str, path: str) -> str:
    """``path`` relative to one of the run's folders: ``name_in(EVAL, BEST_CHECKPOINT) == "best_checkpoint.json"``."""
    prefix = folder.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise ValueError(f"{path} is not inside {folder}/")
    return path[len(prefix):]
