"""How training runs over processes: one strategy object per layout, so the loop reads top to bottom.

``Single`` is one process. ``DataParallel`` (``train.distributed: ddp``) keeps a full copy of the model
in each process and averages the LoRA gradients after every backward pass, as DDP does. ``Sharded``
(``fsdp``) shards every weight with FSDP2, whose backward pass already reduce-scatters (averages) the
gradients; saving gathers the shards. The processes come from ``accelerate launch`` or ``torchrun``
(gloo on CPUs, NCCL on GPUs); :func:`strategy` picks the class from their number and the parameter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class Single:
    """One process: nothing to average, gather or wait for."""

    name = "none"

    def __init__(self, acc: Any):
        self.acc = acc
        self.num_processes = acc.num_processes
        self.process_index = acc.process_index
        self.is_main = acc.is_main_process

    def prepare(self, transformer: Any) -> None:
        """Called once the adapters (and any resumed LoRA weights) are in place, before the optimizer exists."""

    def average_gradients(self, trainable: list[Any]) -> None:
        """Make every process's gradients the mean over processes (after the backward passes of a step)."""

    def mean(self, value: Any) -> Any:
        """A tensor's mean over processes (the step loss: a NaN anywhere reaches every process)."""
        return value

    def norm_value(self, grad_norm: Any) -> Any:
        """``clip_grad_norm_``'s result as a plain tensor."""
        return grad_norm

    def lora_state(self, transformer: Any) -> dict[str, Any]:
        """The LoRA weights to save, as full tensors (every process calls this; the main one writes)."""
        from peft.utils import get_peft_model_state_dict

        return get_peft_model_state_dict(transformer)

    def optimizer_state(self, transformer: Any, optimizer: Any) -> dict[str, Any]:
        return optimizer_state(transformer, optimizer, sharded=False)

    def load_optimizer_state(self, transformer: Any, optimizer: Any, saved: dict[str, Any]) -> None:
        load_optimizer_state(transformer, optimizer, saved, sharded=False)

    def restores_rng(self) -> bool:
        """Whether a resumed state's global RNG applies (one RNG state cannot be every process's)."""
        return self.num_processes == 1

    def wait(self) -> None:
        self.acc.wait_for_everyone()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """The main process runs the block first (it fills the caches), then the others (they read them)."""
        with self.acc.main_process_first():
            yield


class DataParallel(Single):
    """A full model per process; LoRA gradients averaged after the backward passes (what DDP does)."""

    name = "ddp"

    def average_gradients(self, trainable: list[Any]) -> None:
        import torch

        for p in trainable:
            p.grad = self.acc.reduce(p.grad if p.grad is not None else torch.zeros_like(p), "mean")

    def mean(self, value: Any) -> Any:
        return self.acc.reduce(value, "mean")


class Sharded(DataParallel):
    """FSDP2: every weight sharded over the processes; the backward pass averages the gradients itself."""

    name = "fsdp"

    def prepare(self, transformer: Any) -> None:
        shard_transformer(transformer)

    def average_gradients(self, trainable: list[Any]) -> None:
        pass  # FSDP has already reduce-scattered (averaged) them in the backward pass

    def norm_value(self, grad_norm: Any) -> Any:
        return grad_norm.full_tensor()  # a replicated DTensor

    def lora_state(self, transformer: Any) -> dict[str, Any]:
        return lora_state_dict(transformer)

    def optimizer_state(self, transformer: Any, optimizer: Any) -> dict[str, Any]:
        return optimizer_state(transformer, optimizer, sharded=True)

    def load_optimizer_state(self, transformer: Any, optimizer: Any, saved: dict[str, Any]) -> None:
        load_optimizer_state(transformer, optimizer, saved, sharded=True)


def strategy(acc: Any, distributed: str) -> Single:
    """The strategy for ``acc``'s processes and ``train.distributed`` (``ddp`` or ``fsdp``; one process is always Single)."""
    if acc.num_processes == 1:
        return Single(acc)
    return Sharded(acc) if distributed == "fsdp" else DataParallel(acc)


def shard_transformer(transformer: Any) -> None:
    """FSDP2: shard every parameter (base and LoRA) of each transformer block, then the rest, over
    the processes; each block's full weights exist only while it runs (gathered before its
    forward and its backward, freed after), so the 22B base needs ~1/N of its memory per GPU.

    torch's ``fully_shard`` directly, not accelerate's FSDP plugin (which calls the same
    ``fully_shard``): accelerate 1.15 turns its plugin on only for GPU-type process groups
    (``AcceleratorState`` never switches ``MULTI_CPU`` to FSDP), which would make this path
    GPU-only and untestable here; ``fully_shard`` runs on NCCL and gloo alike, and accelerate still
    provides the process group. LoRA parameters stay trainable inside the sharded blocks (FSDP2
    shards per parameter, so frozen and trainable parameters mix freely)."""
    from torch.distributed.fsdp import fully_shard

    for block in transformer.transformer_blocks:
        fully_shard(block)
    fully_shard(transformer)


def lora_state_dict(transformer: Any) -> dict[str, Any]:
    """peft-format LoRA weights as full tensors, also from a sharded (FSDP2) transformer: each
    ``DTensor`` shard is all-gathered with ``full_tensor()`` — a collective, so every process must
    call this, and in the same order (``named_parameters`` is)."""
    from peft.utils import get_peft_model_state_dict
    from torch.distributed.tensor import DTensor

    full = {}
    for name, param in transformer.named_parameters():
        if ".lora_" in name:
            t = param.detach()
            full[name] = t.full_tensor() if isinstance(t, DTensor) else t
    return get_peft_model_state_dict(transformer, state_dict=full)


def optimizer_state(transformer: Any, optimizer: Any, sharded: bool) -> dict[str, Any]:
    """The optimizer state to save: as is, or (FSDP) gathered into full tensors by every process."""
    if not sharded:
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(transformer, optimizer, options=StateDictOptions(full_state_dict=True))


def load_optimizer_state(transformer: Any, optimizer: Any, saved: dict[str, Any], sharded: bool) -> None:
    if not sharded:
        optimizer.load_state_dict(saved)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(transformer, optimizer, optim_state_dict=saved, options=StateDictOptions(full_state_dict=True))


def accelerator(device_name: str) -> Any:
    """accelerate's process state: one process here, or one per GPU/CPU under ``accelerate launch`` /
    ``torchrun`` (gloo on CPUs, NCCL on GPUs). Mixed precision stays ltxbench's own autocast."""
    import torch
    from accelerate import Accelerator

    return Accelerator(cpu=device_name == "cpu" or not torch.cuda.is_available(), mixed_precision="no")
