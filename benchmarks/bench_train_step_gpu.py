"""One LoRA training step of the full-size LTX-2.3 transformer on a GPU: seconds per step, peak
memory and model-FLOPs utilisation (MFU).

The transformer is built on the GPU from the released 2.3 config with random weights (no
download; ``ltxbench.lora_check.architecture.transformer_config``), in bfloat16, with gradient
checkpointing and a rank-32 LoRA on every attention projection (``all_attention``), as
``params/staged.yaml`` trains it. Inputs: 768×512, 49 frames (7×16×24 = 2688 video tokens),
51 audio tokens (2.04 s at 25/s), 1024 text tokens (the pipeline's sequence length), random
text embeddings of the connectors' widths. The step is the ltxbench training step's core:
``ltx.transformer_forward`` under bf16 autocast, MSE against the velocity, backward, AdamW.

MFU = model FLOPs per step / seconds per step / the GPU's dense bf16 peak. Model FLOPs are
counted analytically from the config and the token counts (:mod:`ltxbench.train_flops`: weight
matmuls 2× their forward on a frozen base, attention 3×, the usual model-FLOPs convention and an
upper bound on the matmuls autograd runs; recomputation by checkpointing is not credited; attention
counted as Q·Kᵀ and A·V whatever kernel (flash, cuDNN, math) computes them, so the figure does not
depend on which kernels torch's FlopCounterMode knows). Peak: 989 TFLOP/s for H100/H200 SXM, 756 for H100 PCIe, 312 for A100 (dense bf16,
vendor datasheets); ``--peak-tflops`` overrides.

Run on a CUDA machine: ``.venv/bin/python benchmarks/bench_train_step_gpu.py [--steps 6]``.
On a machine without a GPU it exits (status 2) saying so. ``--tiny`` runs the same code on the
tiny transformer (CPU allowed) to check the script itself; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PEAK_BF16_TFLOPS = {"H200": 989.0, "H100 80GB HBM3": 989.0, "H100 SXM": 989.0, "H100 PCIe": 756.0, "H100": 989.0,
                    "A100": 312.0}


def peak_tflops(device_name: str) -> float | None:
    for key, value in PEAK_BF16_TFLOPS.items():  # most specific names first
        if key in device_name:
            return value
    return None


def build_pipe(tiny: bool, device):
    """An ``LTX2Pipeline`` holding only the transformer (random weights, bf16) and the scheduler:
    all ``ltx.transformer_forward`` needs."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2Pipeline, LTX2VideoTransformer3DModel

    from ltxbench import ltx

    if tiny:
        transformer = ltx.build_tiny_pipeline().transformer.to(device=device, dtype=torch.bfloat16)
    else:
        from ltxbench.lora_check.architecture import transformer_config

        torch.manual_seed(0)
        with torch.device(device):  # initialise straight on the GPU: 22B parameters never touch the CPU
            transformer = LTX2VideoTransformer3DModel(**transformer_config("2.3"))
        transformer.to(torch.bfloat16)
    return LTX2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(**ltx.LTX2_SCHEDULER_CONFIG), vae=None, audio_vae=None,
                        text_encoder=None, tokenizer=None, connectors=None, transformer=transformer, vocoder=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps (after 2 warm-up steps)")
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--text-tokens", type=int, default=1024)
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak, for MFU")
    parser.add_argument("--tiny", action="store_true", help="check the script on the tiny model (CPU allowed)")
    args = parser.parse_args(argv)

    import torch
    from peft import LoraConfig

    from ltxbench import lora, ltx, train_flops

    if not torch.cuda.is_available() and not args.tiny:
        print("bench_train_step_gpu: no CUDA GPU visible (torch.cuda.is_available() is False); this benchmark times "
              "the full-size 22B transformer and needs a GPU with about 80 GB. Run it on a GPU machine "
              "(or --tiny to check the script on the CPU).")
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pipe = build_pipe(args.tiny, device)
    transformer = pipe.transformer
    config = dict(transformer.config)
    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=args.rank, lora_alpha=args.rank, target_modules=lora.TARGET_PRESETS["all_attention"]))
    transformer.enable_gradient_checkpointing()
    transformer.train()
    trainable = [p for p in transformer.parameters() if p.requires_grad]
    for p in trainable:
        p.data = p.data.float()  # LoRA weights and AdamW state in float32, as the train stage keeps them
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)

    latent_frames, lh, lw = (args.frames - 1) // 8 + 1, args.height // 32, args.width // 32
    tv = latent_frames * lh * lw
    ta = ltx.audio_latent_length(pipe, latent_frames, 24.0)
    tt = args.text_tokens
    g = torch.Generator(device="cpu").manual_seed(0)
    x0 = torch.randn(1, 128, latent_frames, lh, lw, generator=g).to(device)
    noise = torch.randn(x0.shape, generator=g).to(device)
    cond = {"video_embeds": torch.randn(1, tt, config["cross_attention_dim"], generator=g).to(device, torch.bfloat16),
            "audio_embeds": torch.randn(1, tt, config["audio_cross_attention_dim"], generator=g).to(device, torch.bfloat16),
            "attention_mask": torch.ones(1, tt, dtype=torch.long, device=device)}
    sigma = 0.6
    x_t = ltx.noisy_latents(x0, noise, sigma)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            pred = ltx.transformer_forward(pipe, x_t, None, cond, sigma, generator=torch.Generator(device=device).manual_seed(1))
        loss = torch.nn.functional.mse_loss(pred.float(), (noise - x0).float())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        return loss.item()  # one sync per step, as the train loop's loss log

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times, losses = [], []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        losses.append(step())
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    flops = train_flops.train_step_model_flops(config, tv, ta, tt)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = args.peak_tflops or (peak_tflops(name) if device.type == "cuda" else None)
    params_b = sum(p.numel() for p in transformer.parameters()) / 1e9
    print(f"device: {name}; transformer {'tiny' if args.tiny else 'LTX-2.3 full size'} ({params_b:.2f} B parameters, bf16), "
          f"LoRA rank {args.rank} all_attention, gradient checkpointing")
    print(f"tokens: video {tv} ({args.width}x{args.height}, {args.frames} frames), audio {ta}, text {tt}")
    print(f"seconds per step (median of {args.steps}): {seconds:.3f}  [min {min(times):.3f}, max {max(times):.3f}]")
    if device.type == "cuda":
        print(f"peak memory allocated: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB "
              f"(reserved {torch.cuda.max_memory_reserved(device) / 2**30:.1f} GiB)")
    print(f"model FLOPs per step: {flops / 1e12:.1f} TFLOP -> {flops / seconds / 1e12:.1f} TFLOP/s")
    if peak:
        print(f"MFU: {flops / seconds / (peak * 1e12):.1%} of {peak:.0f} TFLOP/s dense bf16")
    else:
        print("MFU: unknown peak for this device; pass --peak-tflops")
    print(f"losses: {', '.join(f'{v:.4f}' for v in losses)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
