"""One LoRA training step of the full-size LTX-2.3 transformer on a GPU: seconds per step, peak
memory and model-FLOPs utilisation (MFU).

The transformer is built on the GPU from the released 2.3 config with random weights (no
download; ``ltxbench.model.architecture.transformer_config``), in bfloat16, with gradient
checkpointing and a rank-32 LoRA on every attention projection (``all_attention``), as
``params/staged.yaml`` trains it. Inputs: 768×512, 49 frames (7×16×24 = 2688 video tokens),
51 audio tokens (2.04 s at 25/s), 1024 text tokens (the pipeline's sequence length), random
text embeddings of the connectors' widths. The step is the ltxbench training step's core:
``ltxbench.model.forward.transformer_forward`` under bf16 autocast, MSE against the velocity, backward, AdamW.

MFU = model FLOPs per step / seconds per step / the GPU's dense bf16 peak. Model FLOPs are
counted analytically from the config and the token counts (:mod:`ltxbench.train.flops`: weight
matmuls 2× their forward on a frozen base, attention 3×, the usual model-FLOPs convention and an
upper bound on the matmuls autograd runs; recomputation by checkpointing is not credited; attention
counted as Q·Kᵀ and A·V whatever kernel (flash, cuDNN, math) computes them, so the figure does not
depend on which kernels torch's FlopCounterMode knows). Peak: 989 TFLOP/s for H100/H200 SXM, 756 for H100 PCIe, 312 for A100 (dense bf16,
vendor datasheets); ``--peak-tflops`` overrides.

Run on a CUDA machine: ``.venv/bin/python benchmarks/bench_train_step_gpu.py [--steps 6]``.
On a machine without a GPU it exits (status 2) saying so. ``--tiny`` runs the same code on a
tiny config of the same architecture (CPU allowed) to check the script itself; its numbers mean
nothing.

The pieces (config, model building, inputs, LoRA set-up, the timed loop, MFU) are functions that
``bench_train_step_vs_ltx_core.py`` imports to time ltx-core's transformer the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 80GB HBM3": 989.0, "H100 SXM": 989.0, "H100 PCIe": 756.0, "H100": 989.0,
                    "A100": 312.0}

# --tiny: the 2.3 architecture (gated attention, sigma-modulated cross-attention, split RoPE, no
# caption projection) at toy widths. Video and audio keep equal head counts (the a2v/v2a RoPE is
# laid out per video head over the audio width) and the text widths equal the stream widths (2.3
# modulates the text keys/values in the stream's width).
TINY_OVERRIDES: dict[str, int] = {
    "num_layers": 2, "num_attention_heads": 2, "attention_head_dim": 32, "cross_attention_dim": 64,
    "audio_num_attention_heads": 2, "audio_attention_head_dim": 16, "audio_cross_attention_dim": 32,
}
TINY_SHAPE = {"width": 128, "height": 96, "frames": 17, "text_tokens": 32}  # 3x3x4 = 36 video tokens
FULL_SHAPE = {"width": 768, "height": 512, "frames": 49, "text_tokens": 1024}

NO_GPU_MESSAGE = ("{name}: no CUDA GPU visible (torch.cuda.is_available() is False); this benchmark times "
                  "the full-size 19B-parameter LTX-2.3 transformer and needs a GPU with about 80 GB. Run it on a "
                  "GPU machine (or --tiny to check the script on the CPU).")


def peak_tflops(device_name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS.items():  # most specific names first
        if key in device_name:
            return value
    return None


def diffusers_config(tiny: bool) -> dict[str, Any]:
    """``LTX2VideoTransformer3DModel`` config: the released 2.3 one, or its tiny version."""
    from ltxbench.model.architecture import transformer_config

    return {**transformer_config("2.3"), **(TINY_OVERRIDES if tiny else {})}


@contextlib.contextmanager
def building(device: Any, dtype: Any, seed: int = 0) -> Iterator[None]:
    """Construct modules straight on ``device`` in ``dtype`` (22B parameters never touch the CPU
    and are never float32: 44 GB in bf16 instead of 88 GB), with a fixed seed."""
    import torch

    previous = torch.get_default_dtype()
    torch.manual_seed(seed)
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def build_pipe(config: dict[str, Any], device: Any) -> Any:
    """An ``LTX2Pipeline`` holding only the transformer (random weights, bf16) and the scheduler:
    all ``ltxbench.model.forward.transformer_forward`` needs."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2Pipeline, LTX2VideoTransformer3DModel

    from ltxbench.model import versions

    with building(device, torch.bfloat16):
        transformer = LTX2VideoTransformer3DModel(**config)
    return LTX2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(**versions.LTX2_SCHEDULER_CONFIG), vae=None, audio_vae=None,
                        text_encoder=None, tokenizer=None, connectors=None, transformer=transformer, vocoder=None)


def lora_config(rank: int, preset: str = "all_attention") -> Any:
    from peft import LoraConfig

    from ltxbench.lora import files as lora

    return LoraConfig(r=rank, lora_alpha=rank, target_modules=lora.TARGET_PRESETS[preset])


def lora_optimizer(model: Any) -> tuple[list[Any], Any]:
    """The trainable (LoRA) parameters in float32, as the train stage keeps them, and AdamW over them."""
    import torch

    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.data = p.data.float()
    return trainable, torch.optim.AdamW(trainable, lr=1e-4)


@dataclass
class Inputs:
    """The step's inputs: video latents [1, 128, F', H', W'], text embeddings, sigma."""

    latent_frames: int
    latent_height: int
    latent_width: int
    audio_tokens: int
    text_tokens: int
    x0: Any
    noise: Any
    x_t: Any
    cond: dict[str, Any]
    sigma: float = 0.6
    frame_rate: float = 24.0
    audio_seed: int = 1  # the generator transformer_forward draws the audio noise from
    audio_channels: int = 8  # the audio latent transformer_forward draws: [1, 8, audio_tokens, 16]
    audio_mel_bins: int = 16

    @property
    def video_tokens(self) -> int:
        return self.latent_frames * self.latent_height * self.latent_width


def make_inputs(pipe: Any, config: dict[str, Any], width: int, height: int, frames: int, text_tokens: int,
                device: Any) -> Inputs:
    import torch

    from ltxbench.model import forward as model_forward

    latent_frames, lh, lw = (frames - 1) // 8 + 1, height // 32, width // 32
    ta = model_forward.audio_latent_length(pipe, latent_frames, 24.0)
    g = torch.Generator(device="cpu").manual_seed(0)
    x0 = torch.randn(1, 128, latent_frames, lh, lw, generator=g).to(device)
    noise = torch.randn(x0.shape, generator=g).to(device)
    cond = {"video_embeds": torch.randn(1, text_tokens, config["cross_attention_dim"], generator=g).to(device, torch.bfloat16),
            "audio_embeds": torch.randn(1, text_tokens, config["audio_cross_attention_dim"], generator=g).to(device, torch.bfloat16),
            "attention_mask": torch.ones(1, text_tokens, dtype=torch.long, device=device)}
    sigma = 0.6
    # transformer_forward's fallbacks without an audio VAE: 8 latent channels, 64 mel bins / compression
    return Inputs(latent_frames, lh, lw, ta, text_tokens, x0, noise, model_forward.noisy_latents(x0, noise, sigma), cond, sigma,
                  audio_mel_bins=64 // pipe.audio_vae_mel_compression_ratio)


def make_step(forward: Callable[[], Any], target: Any, trainable: list[Any], optimizer: Any, device: Any) -> Callable[[], float]:
    """One training step around ``forward()`` (the prediction): bf16 autocast, MSE against
    ``target``, backward, gradient clipping, AdamW; returns the loss (one sync per step, as the
    train loop's loss log)."""
    import torch

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            pred = forward()
        loss = torch.nn.functional.mse_loss(pred.float(), target.float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        return loss.item()

    return step


def ltxbench_step(pipe: Any, inputs: Inputs, trainable: list[Any], optimizer: Any, device: Any) -> Callable[[], float]:
    """ltxbench's step: ``ltxbench.model.forward.transformer_forward`` (video velocity), target ``noise - x0``."""
    import torch

    from ltxbench.model import forward as model_forward

    def forward() -> Any:
        return model_forward.transformer_forward(pipe, inputs.x_t, None, inputs.cond, inputs.sigma, frame_rate=inputs.frame_rate,
                                       generator=torch.Generator(device=device).manual_seed(inputs.audio_seed)).video

    return make_step(forward, inputs.noise - inputs.x0, trainable, optimizer, device)


def setup_ltxbench(config: dict[str, Any], rank: int, device: Any) -> tuple[Any, list[Any], Any]:
    """The diffusers transformer as ltxbench trains it: frozen, LoRA via diffusers' ``add_adapter``,
    gradient checkpointing, train mode."""
    pipe = build_pipe(config, device)
    transformer = pipe.transformer
    transformer.requires_grad_(False)
    transformer.add_adapter(lora_config(rank))
    transformer.enable_gradient_checkpointing()
    transformer.train()
    trainable, optimizer = lora_optimizer(transformer)
    return pipe, trainable, optimizer


@dataclass
class Timing:
    times: list[float]
    losses: list[float]
    peak_allocated: int | None = None
    peak_reserved: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return statistics.median(self.times)


def time_steps(step: Callable[[], float], steps: int, device: Any, warmup: int = 2) -> Timing:
    """``warmup`` untimed steps, then ``steps`` timed ones (synchronised); peak memory counts from
    the end of the warm-up (weights, LoRA and AdamW state and the step's activations)."""
    import torch

    cuda = device.type == "cuda"
    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times, losses = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        losses.append(step())
        if cuda:
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    timing = Timing(times, losses)
    if cuda:
        timing.peak_allocated = torch.cuda.max_memory_allocated(device)
        timing.peak_reserved = torch.cuda.max_memory_reserved(device)
    return timing


def device_peak(device: Any, override: float | None) -> tuple[str, float | None]:
    import torch

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return name, override or (peak_tflops(name) if device.type == "cuda" else None)


def add_shape_arguments(parser: argparse.ArgumentParser) -> None:
    """The step's shape, rank, MFU peak and --tiny: the same options for every GPU step script."""
    parser.add_argument("--width", type=int, default=None, help="default 768 (--tiny: 128)")
    parser.add_argument("--height", type=int, default=None, help="default 512 (--tiny: 96)")
    parser.add_argument("--frames", type=int, default=None, help="default 49 (--tiny: 17)")
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--text-tokens", type=int, default=None, help="default 1024 (--tiny: 32)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, for MFU")
    parser.add_argument("--tiny", action="store_true", help="check the script on a tiny config (CPU allowed)")


def shape_from(args: argparse.Namespace) -> dict[str, int]:
    """The shape asked for, defaults from the full-size or the tiny preset."""
    return {k: getattr(args, k) if getattr(args, k) is not None else v
            for k, v in (TINY_SHAPE if args.tiny else FULL_SHAPE).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps (after 2 warm-up steps)")
    add_shape_arguments(parser)
    args = parser.parse_args(argv)
    shape = shape_from(args)

    import torch

    from ltxbench.train import flops as train_flops

    if not torch.cuda.is_available() and not args.tiny:
        print(NO_GPU_MESSAGE.format(name="bench_train_step_gpu"))
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = diffusers_config(args.tiny)
    pipe, trainable, optimizer = setup_ltxbench(config, args.rank, device)
    inputs = make_inputs(pipe, config, shape["width"], shape["height"], shape["frames"], shape["text_tokens"], device)
    timing = time_steps(ltxbench_step(pipe, inputs, trainable, optimizer, device), args.steps, device)
    seconds, times = timing.seconds, timing.times
    tv, ta, tt = inputs.video_tokens, inputs.audio_tokens, inputs.text_tokens
    flops = train_flops.train_step_model_flops(config, tv, ta, tt)
    name, peak = device_peak(device, args.peak_tflops)
    params_b = sum(p.numel() for p in pipe.transformer.parameters()) / 1e9
    print(f"device: {name}; transformer {'tiny' if args.tiny else 'LTX-2.3 full size'} ({params_b:.2f} B parameters, bf16), "
          f"LoRA rank {args.rank} all_attention, gradient checkpointing")
    if args.tiny:
        print("(--tiny: checks the script only; these numbers mean nothing)")
    print(f"tokens: video {tv} ({shape['width']}x{shape['height']}, {shape['frames']} frames), audio {ta}, text {tt}")
    print(f"seconds per step (median of {args.steps}): {seconds:.3f}  [min {min(times):.3f}, max {max(times):.3f}]")
    if timing.peak_allocated is not None:
        print(f"peak memory allocated: {timing.peak_allocated / 2**30:.1f} GiB "
              f"(reserved {timing.peak_reserved / 2**30:.1f} GiB)")
    print(f"model FLOPs per step: {flops / 1e12:.1f} TFLOP -> {flops / seconds / 1e12:.1f} TFLOP/s")
    if peak:
        print(f"MFU: {flops / seconds / (peak * 1e12):.1%} of {peak:.0f} TFLOP/s dense bf16")
    else:
        print("MFU: unknown peak for this device; pass --peak-tflops")
    print(f"losses: {', '.join(f'{v:.4f}' for v in timing.losses)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
