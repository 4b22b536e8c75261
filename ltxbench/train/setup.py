"""Model setup for training: the optimizer, the 8-bit base, peak memory.

Processes and sharding are :mod:`ltxbench.train.distributed`'s."""

from __future__ import annotations

from typing import Any

from ltxbench.params import schema as P

def make_optimizer(params: list[Any], cfg: P.TrainSection, device: Any) -> Any:
    import torch

    if cfg.optimizer == "adamw8bit":
        if device.type != "cuda":
            raise RuntimeError("train.optimizer: adamw8bit needs a CUDA GPU (bitsandbytes); use adamw on the CPU")
        try:
            import bitsandbytes as bnb
        except ImportError:
            raise RuntimeError("train.optimizer: adamw8bit needs bitsandbytes: pip install bitsandbytes") from None
        return bnb.optim.AdamW8bit(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def quantize_base(transformer: Any, mode: str) -> int:
    """Store the frozen base weights of every Linear layer in 8 bits (optimum-quanto ``qint8`` or
    ``qfloat8``, per-output-channel scales); the LoRA layers stay float32 and keep training.

    Must run after the adapters are added, so the LoRA initialisation (and the saved keys) are the
    unquantized run's. quanto replaces parameters when it quantizes, and the new ones come back
    with ``requires_grad=True``: everything but the LoRA is frozen again here. Returns the number
    of quantized layers. fp8 on a CPU is emulated (dequantised per matmul): it runs, slowly.
    """
    from optimum.quanto import freeze, qfloat8, qint8, quantize

    weights = {"int8": qint8, "fp8": qfloat8}[mode]
    quantize(transformer, weights=weights, exclude=["*lora_A*", "*lora_B*", "*lora_embedding*"])
    freeze(transformer)  # materialise the 8-bit weights, drop the float copies
    from optimum.quanto.nn import QModuleMixin

    for name, param in transformer.named_parameters():
        param.requires_grad_(".lora_" in name)
    return sum(isinstance(m, QModuleMixin) for m in transformer.modules())


def peak_memory_mb(device: Any) -> float:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak RSS (KiB on Linux)


#
