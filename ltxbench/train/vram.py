"""VRAM planner: estimate a training step's peak memory before anything loads, say whether it fits
the visible GPU, and which choices would make it fit.

Peak ≈ base weights + LoRA (weights, gradients, optimizer moments) + activations saved for the
backward pass + a fixed CUDA overhead. With ``train.base_quantization`` (int8/fp8) every Linear
weight counts 1 byte plus a 4-byte scale per output row, the other parameters their dtype (within
1% of the quantized tiny model's stored bytes, ``tests/test_vram.py``). Parameter counts are exact: the transformer is built on
PyTorch's ``meta`` device from its config (the real 2.0/2.3 configs, or the tiny one), which costs
no memory. Activations follow a per-layer, per-token model whose coefficients were fitted to the
bytes the tiny LTX-2.3 transformer saves for backward (measured with autograd's saved-tensor
hooks, 1–3 layers, 8–448 video tokens, 32–64 text tokens):

* per transformer block: ``28.2·T_v·d_v + 31.6·T_a·d_a + 7.9·T_text·(d_v + d_a)`` elements
  without gradient checkpointing, ``2.5·(T_v·d_v + T_a·d_a)`` with it, plus one block's full
  activations while it is recomputed in the backward pass;
* outside the blocks: ``0.57·T_v·128`` elements.

Against the bytes measured on held-out tiny shapes, the estimate is within 4% once activations
pass 1 MB (18% low on the smallest, 8 video tokens); with checkpointing the kept part is within
10% from about 300 video tokens on (it is dominated by a fixed overhead below), and the recomputed block is estimated, not measured (it lives only inside the backward
pass). ``benchmarks/bench_vram_estimate.py`` re-measures and prints the errors. The full-size figures
assume activations scale with width as the tiny ones do (every saved tensor of a block is a
linear function of the width; attention scores are not saved by the fused attention kernels) and
have not been checked on a GPU in this repository yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ltxbench.params import loading, schema

PER_LAYER_VIDEO = 28.2
PER_LAYER_AUDIO = 31.6
PER_LAYER_TEXT = 7.9
PER_LAYER_CHECKPOINTED = 2.5
OUTSIDE_VIDEO = 0.57
CUDA_OVERHEAD_BYTES = 1.0 * 2**30  # context, cuBLAS workspaces, allocator slack
GIB = 2**30


@dataclass
class ModelDims:
    layers: int
    video_width: int
    audio_width: int
    parameters: int
    linear_shapes: dict[str, tuple[int, int]]  # module name -> (out, in)


@dataclass
class MemoryPlan:
    video_tokens: int
    audio_tokens: int
    text_tokens: int
    base_weights: float
    lora_states: float
    activations: float
    overhead: float
    gpu_total: float | None
    kept_activations: float = 0.0
    """Activations held from forward to backward (the part measured in calibration)."""
    suggestions: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return self.base_weights + self.lora_states + self.activations + self.overhead

    @property
    def fits(self) -> bool | None:
        return None if self.gpu_total is None else self.total <= self.gpu_total

    def table(self) -> Any:
        import pandas as pd

        rows = [("base weights", self.base_weights), ("LoRA weights + grads + optimizer", self.lora_states),
                ("activations saved for backward", self.activations), ("CUDA overhead", self.overhead),
                ("total (estimate)", self.total)]
        return pd.DataFrame([{"part": k, "GiB": round(v / GIB, 3)} for k, v in rows])

    def __repr__(self) -> str:
        gpu = "no GPU visible" if self.gpu_total is None else f"GPU {self.gpu_total / GIB:.1f} GiB: {'fits' if self.fits else 'does NOT fit'}"
        lines = [f"MemoryPlan: {self.total / GIB:.2f} GiB peak estimate ({gpu}); tokens video {self.video_tokens}, "
                 f"audio {self.audio_tokens}, text {self.text_tokens}"]
        lines += [f"  would fit: {s}" for s in self.suggestions]
        return "\n".join(lines)


def dims_from_transformer(transformer: Any) -> ModelDims:
    import torch

    cfg = transformer.config
    shapes = {n: (m.out_features, m.in_features) for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    return ModelDims(cfg.num_layers, cfg.num_attention_heads * cfg.attention_head_dim,
                     cfg.audio_num_attention_heads * cfg.audio_attention_head_dim,
                     sum(p.numel() for p in transformer.parameters()), shapes)


def model_dims(model: schema.ModelSection) -> ModelDims:
    """Exact sizes of the transformer, built on the meta device (no weights, no memory)."""
    import torch
    from diffusers import LTX2VideoTransformer3DModel

    if model.source == "tiny":
        from ltxbench.model import tiny

        return dims_from_transformer(tiny.build_tiny_pipeline(model.version).transformer)
    if model.source == "tiny-pretrained":  # its own sizes, read from its config
        from ltxbench.model import tiny_base

        with torch.device("meta"):
            return dims_from_transformer(LTX2VideoTransformer3DModel.from_config(
                LTX2VideoTransformer3DModel.load_config(tiny_base.folder() / "transformer")))
    from ltxbench.model.architecture import transformer_config

    with torch.device("meta"):
        transformer = LTX2VideoTransformer3DModel(**transformer_config(model.version))
    return dims_from_transformer(transformer)


def step_tokens(params: schema.RunParams) -> tuple[int, int, int]:
    """(video, audio, text) tokens of one training clip at the curate settings (widest 16:9 bucket)."""
    c = params.curate
    short = c.resolution
    long = int(round(short * 16 / 9 / 32)) * 32  # the widest common bucket (16:9)
    latent_frames = (c.clip_frames - 1) // 8 + 1
    video = latent_frames * (short // 32) * (long // 32)
    audio = int(round(c.clip_frames / c.fps * 25))  # 25 audio latents per second
    return video, audio, params.model.max_sequence_length


def estimate(params: schema.RunParams, dims: ModelDims, gpu_total: float | None = None, *,
             tokens: tuple[int, int, int] | None = None, _suggest: bool = True) -> MemoryPlan:
    """Peak memory of one training step for ``params`` on a model of ``dims`` (bytes).

    ``tokens`` (video, audio, text) overrides the count derived from the curate settings."""
    from ltxbench.lora import files as lora

    t = params.train
    tv, ta, tt = tokens or step_tokens(params)
    weight_bytes = 2 if params.model.dtype in ("bfloat16", "float16") else 4
    linear_params = sum(o * i for o, i in dims.linear_shapes.values())
    if t.base_quantization != "none":  # Linear weights in 1 byte (+ one fp32 scale per output row); the rest as loaded
        scales = sum(o for o, _ in dims.linear_shapes.values())
        base_bytes = linear_params + 4 * scales + (dims.parameters - linear_params) * weight_bytes
    else:
        base_bytes = dims.parameters * weight_bytes
    act_bytes = 2 if (t.mixed_precision == "bf16" or weight_bytes == 2) else 4
    pattern = re.compile(lora.TARGET_PRESETS[t.targets])
    lora_params = sum(t.rank * (o + i) for n, (o, i) in dims.linear_shapes.items() if pattern.fullmatch(n))
    per_param = 4 + 4 + (2 if t.optimizer == "adamw8bit" else 8)  # fp32 weight + grad + moments
    full_layer = PER_LAYER_VIDEO * tv * dims.video_width + PER_LAYER_AUDIO * ta * dims.audio_width \
        + PER_LAYER_TEXT * tt * (dims.video_width + dims.audio_width)
    outside = OUTSIDE_VIDEO * tv * 128
    if t.gradient_checkpointing:
        kept = dims.layers * PER_LAYER_CHECKPOINTED * (tv * dims.video_width + ta * dims.audio_width) + outside
        recompute = full_layer
    else:
        kept, recompute = dims.layers * full_layer + outside, 0.0
    plan = MemoryPlan(tv, ta, tt, base_bytes, lora_params * per_param,
                      (kept + recompute) * act_bytes * t.batch_size,
                      CUDA_OVERHEAD_BYTES if gpu_total is not None else 0.0, gpu_total,
                      kept_activations=kept * act_bytes * t.batch_size)
    if _suggest and plan.fits is False:
        plan.suggestions = _suggestions(params, dims, gpu_total)
    return plan


def _suggestions(params: schema.RunParams, dims: ModelDims, gpu_total: float) -> list[str]:
    """Single changes, then pairs, that bring the estimate under the GPU's memory."""
    options: list[tuple[str, dict[str, Any]]] = []
    if not params.train.gradient_checkpointing:
        options.append(("train.gradient_checkpointing=true", {"train.gradient_checkpointing": True}))
    if params.model.dtype == "float32":
        options.append(("model.dtype=bfloat16", {"model.dtype": "bfloat16"}))
    if params.train.mixed_precision == "no":
        options.append(("train.mixed_precision=bf16", {"train.mixed_precision": "bf16"}))
    if params.train.optimizer == "adamw":
        options.append(("train.optimizer=adamw8bit", {"train.optimizer": "adamw8bit"}))
    frames = params.curate.clip_frames
    if frames > 49:
        options.append(("curate.clip_frames=49", {"curate.clip_frames": 49}))
    if params.curate.resolution > 384:
        options.append(("curate.resolution=384", {"curate.resolution": 384}))
    if params.train.rank > 16:
        options.append(("train.rank=16", {"train.rank": 16}))
    if params.train.base_quantization == "none":
        options.append(("train.base_quantization=int8", {"train.base_quantization": "int8"}))
    fitting = []
    for label, change in options:
        if _fits_with(params, dims, gpu_total, change):
            fitting.append(label)
    if not fitting:
        for (la, ca), (lb, cb) in ((a, b) for i, a in enumerate(options) for b in options[i + 1:]):
            if _fits_with(params, dims, gpu_total, {**ca, **cb}):
                fitting.append(f"{la} and {lb}")
    if fitting:
        return fitting
    base = estimate(params, dims, gpu_total, _suggest=False).base_weights
    return [f"no single change or pair among precision, checkpointing, optimizer, frames, resolution, rank and 8-bit "
            f"base weights fits this GPU (base weights now {base / GIB:.1f} GiB): use a larger GPU, or shard the base "
            f"over several GPUs with train.distributed=fsdp"]


def _fits_with(params: schema.RunParams, dims: ModelDims, gpu_total: float, change: dict[str, Any]) -> bool:
    raw = loading.apply_overrides(params.to_dict(), change)
    changed = schema.RunParams.model_validate(raw)
    return estimate(changed, dims, gpu_total, _suggest=False).fits is True


def visible_gpu_bytes() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    _free, total = torch.cuda.mem_get_info()
    return float(total)


def plan_training(params: schema.RunParams) -> MemoryPlan:
    """The planner as the train notebook calls it: the run's model and the visible GPU."""
    return estimate(params, model_dims(params.model), visible_gpu_bytes())


def measure_saved_activation_bytes(pipe: Any, video_latents: Any, text_cond: dict[str, Any], checkpointing: bool = False) -> int:
    """Bytes autograd saves for backward in one training forward (unique storages), for calibration."""
    import torch

    from ltxbench.model import forward

    transformer = pipe.transformer
    if checkpointing:
        transformer.enable_gradient_checkpointing()
    else:
        transformer.disable_gradient_checkpointing()
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        pred = forward.transformer_forward(pipe, video_latents, None, text_cond, 0.5, generator=torch.Generator().manual_seed(0)).video
        loss = pred.square().mean()
    loss.backward()
    return sum(seen.values())
