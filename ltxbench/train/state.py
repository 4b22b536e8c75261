"""Training state for resume: ``checkpoints/state_step_NNNNNN.pt`` next to each LoRA checkpoint.

A state holds the LoRA weights as trained (alpha not folded), the optimizer state, the global torch
RNG state (LoRA dropout), the step and stage reached, and the fingerprints of
the parameters and the data (clip, σ and noise of every sample derive from (seed, step, sample), so
no sampler state is needed). A run killed at any moment resumes from its newest state and reaches
the same weights as an uninterrupted run (bitwise on CPU); a state whose parameters or data differ
is refused, naming the differences. States are written atomically and read with
``torch.load(weights_only=True)``: nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ltxbench.params import schema as P
from ltxbench.run import atomic, folder

# Train fields that may change between a kill and the resume without changing what is learned
# up to the resumed step (more steps extends the run; checkpoint bookkeeping is free).
RESUME_FREE_FIELDS = ("steps", "checkpoint_every", "keep_last", "resume")


class ResumeRefused(RuntimeError):
    """A training state exists but was made with other parameters or data."""


def resume_fingerprint(params: P.RunParams) -> dict[str, Any]:
    """The parameters that decide the trained weights: model, train (minus bookkeeping), seed."""
    train = {k: v for k, v in params.train.model_dump(mode="json").items() if k not in RESUME_FREE_FIELDS}
    return {"model": params.model.model_dump(mode="json"), "train": train, "seed": params.run.seed}


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): d}


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = _flatten(old), _flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def state_path(ckpt_dir: Path, step: int) -> Path:
    return ckpt_dir / f"state_step_{step:06d}.pt"


def latest_state(ckpt_dir: Path) -> Path | None:
    states = sorted(Path(ckpt_dir).glob("state_step_*.pt"))
    return states[-1] if states else None


def newest_intact_state(ckpt_dir: Path, fingerprint: dict[str, Any], dataset_sha: str
                        ) -> tuple[Path | None, dict[str, Any] | None, list[str]]:
    """The newest resume state that loads, whose LoRA file beside it is intact: ``(path, state,
    skipped)``, ``skipped`` naming every newer one passed over and why (a truncated state file, a
    missing or damaged LoRA file: what a crash or a power loss mid-write leaves). A state from other
    parameters or data is not damage: :class:`ResumeRefused` is raised as before."""
    from ltxbench.lora.check.integrity import check_file
    from ltxbench.lora.files import checkpoint_path, checkpoint_step

    skipped: list[str] = []
    for path in sorted(Path(ckpt_dir).glob("state_step_*.pt"), reverse=True):
        lora_file = checkpoint_path(ckpt_dir, checkpoint_step(path))
        if not lora_file.is_file():
            skipped.append(f"{path.name}: its LoRA file {lora_file.name} is missing")
            continue
        integrity, _ = check_file(lora_file)  # the small file first: a damaged one spares loading the state
        if not integrity.ok:
            skipped.append(f"{lora_file.name}: {integrity.status} ({'; '.join(integrity.problems)[:200]})")
            continue
        try:
            state = load_state(path, fingerprint, dataset_sha)
        except ResumeRefused:
            raise
        except Exception as exc:  # noqa: BLE001 -- any unreadable file: say which, try the one before
            first_line = (str(exc).splitlines() or [""])[0][:200]
            skipped.append(f"{path.name}: unreadable ({type(exc).__name__}: {first_line})")
            continue
        return path, state, skipped
    return None, None, skipped


def save_state(path: Path, *, lora_state: dict[str, Any], optimizer_state: dict[str, Any], step: int,
               stage_index: int, stage_step: int, fingerprint: dict[str, Any], dataset_sha: str,
               history: list[dict[str, Any]]) -> Path:
    """``optimizer_state``: ``optimizer.state_dict()``, or under FSDP the full (gathered) state."""
    import torch

    blob = {
        "lora": {k: v.detach().cpu().clone() for k, v in lora_state.items()},
        "optimizer": optimizer_state,
        "torch_rng": torch.get_rng_state(),
        "step": step, "stage_index": stage_index, "stage_step": stage_step,
        "fingerprint": json.dumps(fingerprint, sort_keys=True),
        "dataset_sha256": dataset_sha,
        "history": json.dumps(history),
    }
    with atomic.atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return path


def load_state(path: Path, fingerprint: dict[str, Any], dataset_sha: str) -> dict[str, Any]:
    """Read a state and check it belongs to this run; raises :class:`ResumeRefused` naming what differs."""
    import torch

    blob = torch.load(path, map_location="cpu", weights_only=True)
    old = json.loads(blob["fingerprint"])
    diffs = differences(old, fingerprint)
    problems = []
    if diffs:
        problems.append("parameters differ: " + "; ".join(diffs))
    if blob["dataset_sha256"] != dataset_sha:
        problems.append("the dataset differs (clips, captions or clip contents changed since)")
    if problems:
        raise ResumeRefused(f"cannot resume from {path}: " + " | ".join(problems)
                            + ". Set train.resume: false (or run with --force) to start over; earlier checkpoints are moved aside, not deleted.")
    blob["history"] = json.loads(blob["history"])
    return blob


def archive_previous(ckpt_dir: Path) -> Path | None:
    """Move earlier checkpoints and states into ``checkpoints/previous-<time>/`` (nothing is deleted)."""
    files = sorted(list(ckpt_dir.glob("lora_step_*.safetensors")) + list(ckpt_dir.glob("state_step_*.pt")))
    if not files:
        return None
    dest = ckpt_dir / f"previous-{folder.now_iso().replace(':', '')}"
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        f.rename(dest / f.name)
    return dest
