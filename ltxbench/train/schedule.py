"""Schedules of the training loop: noise levels (with LTX-2's token shift), learning rate, the stages of a staged recipe.
"""

from __future__ import annotations

import math
from typing import Any

from ltxbench.params import schema as P

# Schedules
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


def sample_generator(seed: int, step: int, index: int) -> Any:
    """The generator for global sample ``index`` of global ``step``: clip, σ and noise depend only on
    (seed, step, index), not on how samples are spread over processes, so 2 processes × batch 1
    draw exactly what 1 process × batch 2 draws, and a resumed run draws what an uninterrupted one did."""
    import hashlib

    import torch

    digest = hashlib.sha256(f"{seed}:{step}:{index}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def lr_at(step: int, total: int, base_lr: float, warmup: int, schedule: str) -> float:
    """Learning rate at 1-based ``step`` of a stage of ``total`` steps: linear warm-up, then
    constant, linear decay or cosine decay to 0 at the last step."""
    if warmup and step <= warmup:
        return base_lr * step / warmup
    if schedule == "constant" or total <= warmup:
        return base_lr
    progress_ = (step - warmup) / max(1, total - warmup)
    if schedule == "linear":
        return base_lr * (1.0 - progress_)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress_))


def resolve_stages(cfg: P.TrainSection) -> list[P.TrainStageSection]:
    """The recipe's stages; without ``train.stages``, one stage from the top-level fields."""
    if cfg.stages:
        return list(cfg.stages)
    return [P.TrainStageSection(name="main", steps=cfg.steps, learning_rate=cfg.learning_rate,
                                video_loss_weight=cfg.video_loss_weight, audio_loss_weight=cfg.audio_loss_weight)]


# ---------------------------------------------------------------------------------------
