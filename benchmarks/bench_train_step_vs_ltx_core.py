"""ltxbench's LoRA training step against a minimal reference step on ltx-core's own transformer,
side by side on the same GPU in one run: seconds per step, peak memory, MFU and their ratio.

Both sides are the full-size LTX-2.3 audio-video transformer with random weights (fixed seed),
built straight on the GPU in bfloat16, with gradient checkpointing and a rank-32 LoRA (peft) on
the ``all_attention`` targets; one model is alive at a time (each is 38 GB of weights).

* **ltxbench**: diffusers' ``LTX2VideoTransformer3DModel`` from the 2.3 config, stepped by
  ``bench_train_step_gpu.py``'s functions (``ltxbench.model.forward.transformer_forward``, MSE against the velocity,
  backward, gradient clipping, AdamW on the LoRA), as ltxbench trains it.
* **ltx-core**: Lightricks' ``LTXModel`` from ``LTXModelConfigurator.from_config`` with the same
  architecture (every value derived from the diffusers config: :func:`ltx_core_config`), LoRA via
  ``peft.inject_adapter_in_model`` on the same module names (ltx-core uses the original LTX-2
  names, which for the attention projections are diffusers' names too:
  ``transformer_blocks.N.{attn1,attn2,audio_attn1,audio_attn2,audio_to_video_attn,video_to_audio_attn}.{to_q,to_k,to_v,to_out.0}``),
  ``set_gradient_checkpointing(True)``, inputs as ltx-core's ``Modality`` (latent tokens from its
  ``VideoLatentPatchifier`` / ``AudioPatchifier``, positions from its ``VideoLatentTools`` /
  ``AudioLatentTools``, one timestep per sample as ltxbench passes it, the same text embeddings and
  mask) at the same token counts: the same latents, the audio noise drawn from the same seed,
  video at sigma 0.6 and audio at 1 (pure noise), as ltxbench's step.

The step is the same function for both (``make_step``: bf16 autocast, MSE, backward, clipping,
AdamW), with the same warm-up and timed steps; ``torch.cuda.synchronize`` around each timed step;
peak memory is reset after the first model is freed and counts from the end of each warm-up.
MFU uses the same analytic FLOP count for both (``ltxbench.train.flops``; the architectures are
the same, and the script checks it: every parameter's name, through ltxbench's naming table, and
shape must agree). Ratios are ltxbench / ltx-core: above 1 means ltxbench is slower or larger.

Run on a CUDA machine (budget: under 8 minutes on one H100/H200, model building included; two
builds of seconds each and 2 x 8 steps of about a second expected; not yet run on a GPU):
``.venv/bin/python benchmarks/bench_train_step_vs_ltx_core.py [--steps 6]``. Without a GPU it exits
with status 2 and says so. ``--tiny`` runs the same code on a tiny config of the same
architecture (CPU allowed) to check the script; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_train_step_gpu as gpu  # noqa: E402  (puts the repository on sys.path too)

# Values ltx-core's configurator insists on (check_config_value): its only supported choices,
# and the released 2.3 checkpoint's.
LTX_CORE_FIXED: dict[str, Any] = {
    "dropout": 0.0, "attention_bias": True, "num_vector_embeds": None, "activation_fn": "gelu-approximate",
    "num_embeds_ada_norm": 1000, "use_linear_projection": False, "only_cross_attention": False,
    "cross_attention_norm": True, "double_self_attention": False, "upcast_attention": False,
    "standardization_norm": "rms_norm", "norm_elementwise_affine": False, "qk_norm": "rms_norm",
    "positional_embedding_type": "rope", "use_audio_video_cross_attention": True, "share_ff": False,
    "av_cross_ada_norm": True, "use_middle_indices_grid": True,
}
# diffusers values that ltx-core's LTXModel hard-codes (it has no option for anything else).
DIFFUSERS_FIXED_IN_LTX_CORE: dict[str, Any] = {
    "patch_size": 1, "patch_size_t": 1, "audio_patch_size": 1, "audio_patch_size_t": 1,
    "activation_fn": "gelu-approximate", "qk_norm": "rms_norm_across_heads", "norm_elementwise_affine": False,
    "attention_bias": True, "attention_out_bias": True, "ff_bias": True, "audio_ff_bias": True,
    "use_prompt_adaln_single": True, "use_keyframes_abs_pos_embedding": False, "causal_offset": 1,
}


def full_diffusers_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with ``LTX2VideoTransformer3DModel``'s defaults filled in (no model built)."""
    from diffusers import LTX2VideoTransformer3DModel

    params = inspect.signature(LTX2VideoTransformer3DModel.__init__).parameters.values()
    return {**{p.name: p.default for p in params if p.default is not inspect.Parameter.empty}, **config}


def ltx_core_config(config: dict[str, Any]) -> dict[str, Any]:
    """The ``LTXModelConfigurator.from_config`` config of the same architecture as the diffusers
    ``config``; ValueError for a diffusers config ltx-core cannot express."""
    d = full_diffusers_config(config)
    wrong = {k: d[k] for k, v in DIFFUSERS_FIXED_IN_LTX_CORE.items() if d[k] != v}
    if d["gated_attn"] != d["audio_gated_attn"]:
        wrong["audio_gated_attn"] = d["audio_gated_attn"]
    if d["cross_attn_mod"] != d["audio_cross_attn_mod"]:
        wrong["audio_cross_attn_mod"] = d["audio_cross_attn_mod"]
    if wrong:
        raise ValueError(f"ltx-core's LTXModel has no equivalent of these diffusers values: {wrong}")
    return {"transformer": {
        **LTX_CORE_FIXED,
        "num_layers": d["num_layers"],
        "num_attention_heads": d["num_attention_heads"], "attention_head_dim": d["attention_head_dim"],
        "in_channels": d["in_channels"], "out_channels": d["out_channels"],
        "cross_attention_dim": d["cross_attention_dim"],
        "audio_num_attention_heads": d["audio_num_attention_heads"],
        "audio_attention_head_dim": d["audio_attention_head_dim"],
        "audio_in_channels": d["audio_in_channels"], "audio_out_channels": d["audio_out_channels"],
        "audio_cross_attention_dim": d["audio_cross_attention_dim"],
        "norm_eps": d["norm_eps"],
        "positional_embedding_theta": d["rope_theta"],
        "positional_embedding_max_pos": [d["pos_embed_max_pos"], d["base_height"], d["base_width"]],
        "audio_positional_embedding_max_pos": [d["audio_pos_embed_max_pos"]],
        "timestep_scale_multiplier": d["timestep_scale_multiplier"],
        "av_ca_timestep_scale_multiplier": d["cross_attn_timestep_scale_multiplier"],
        "rope_type": d["rope_type"],  # "split" for 2.3
        "frequencies_precision": "float64" if d["rope_double_precision"] else "float32",
        "apply_gated_attention": d["gated_attn"],  # per-head gates on every attention (to_gate_logits)
        "cross_attention_adaln": d["cross_attn_mod"],  # sigma-modulated text K/V (prompt_adaln_single)
        "caption_proj_before_connector": not d["use_prompt_embeddings"],  # 2.3: no caption_projection
    }}


def build_ltx_core(core_config: dict[str, Any], device: Any) -> Any:
    """ltx-core's ``LTXModel``, random weights (seed 0) built on ``device`` in bf16. Linear and
    RMSNorm layers initialise themselves; the modulation tables are ``torch.empty`` in ltx-core
    (a checkpoint fills them), so they get diffusers' initialisation, ``randn / sqrt(width)``."""
    import torch
    from ltx_core.model.transformer.model_configurator import LTXModelConfigurator

    with gpu.building(device, torch.bfloat16):
        model = LTXModelConfigurator.from_config(core_config)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "scale_shift_table" in name.rsplit(".", 1)[-1]:
                    p.copy_(torch.randn(p.shape) / p.shape[-1] ** 0.5)
    return model


def setup_ltx_core(core_config: dict[str, Any], rank: int, device: Any) -> tuple[Any, list[Any], Any]:
    """A minimal LoRA set-up: frozen model, peft's ``inject_adapter_in_model`` with the same
    LoraConfig, ltx-core's own gradient checkpointing, train mode."""
    from peft import inject_adapter_in_model

    model = build_ltx_core(core_config, device)
    model.requires_grad_(False)
    model = inject_adapter_in_model(gpu.lora_config(rank), model)
    model.set_gradient_checkpointing(True)
    model.train()
    trainable, optimizer = gpu.lora_optimizer(model)
    return model, trainable, optimizer


def ltx_core_forward(model: Any, config: dict[str, Any], inputs: gpu.Inputs, device: Any) -> tuple[Callable[[], Any], Any]:
    """``LTXModel(video, audio, perturbations)`` on ltx-core ``Modality`` inputs built with its own
    patchifiers and latent tools from ltxbench's step inputs; returns (forward, its target
    ``noise - x0`` patchified). With the same weights its video velocity equals
    ``ltxbench.model.forward.transformer_forward``'s (tests/test_bench_scripts.py checks it)."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor
    from ltx_core.components.patchifiers import AudioPatchifier, VideoLatentPatchifier
    from ltx_core.guidance.perturbations import BatchedPerturbationConfig
    from ltx_core.model.transformer.modality import Modality
    from ltx_core.tools import AudioLatentTools, VideoLatentTools
    from ltx_core.types import AudioLatentShape, SpatioTemporalScaleFactors, VideoLatentShape

    d = full_diffusers_config(config)
    t, h, w = d["vae_scale_factors"]
    video_tools = VideoLatentTools(VideoLatentPatchifier(patch_size=1), VideoLatentShape.from_torch_shape(inputs.x_t.shape),
                                   fps=inputs.frame_rate, scale_factors=SpatioTemporalScaleFactors(time=t, width=w, height=h),
                                   causal_fix=d["causal_offset"] == 1)
    video_state = video_tools.create_initial_state(device, torch.float32, initial_latent=inputs.x_t.float())
    # the audio stream as transformer_forward feeds it: Gaussian noise of the pipeline's length, sigma 1
    audio_shape = AudioLatentShape(batch=1, channels=inputs.audio_channels, frames=inputs.audio_tokens, mel_bins=inputs.audio_mel_bins)
    audio_noise = randn_tensor(tuple(audio_shape.to_torch_shape()), generator=torch.Generator(device=device).manual_seed(inputs.audio_seed),
                               device=device, dtype=torch.float32)
    audio_tools = AudioLatentTools(AudioPatchifier(patch_size=1, sample_rate=d["audio_sampling_rate"], hop_length=d["audio_hop_length"],
                                                   audio_latent_downsample_factor=d["audio_scale_factor"], is_causal=True), audio_shape)
    audio_state = audio_tools.create_initial_state(device, torch.float32, initial_latent=audio_noise)
    dtype = inputs.cond["video_embeds"].dtype  # bf16, as ltxbench casts its inputs to the prompt dtype

    def modality(state: Any, sigma: float, context: Any) -> Modality:
        return Modality(latent=state.latent.to(dtype), sigma=torch.full((1,), sigma, device=device),
                        timesteps=torch.full((1, 1), sigma, device=device),  # one per sample, as ltxbench
                        positions=state.positions, context=context, context_mask=inputs.cond["attention_mask"])

    video = modality(video_state, inputs.sigma, inputs.cond["video_embeds"])
    audio = modality(audio_state, 1.0, inputs.cond["audio_embeds"])
    perturbations = BatchedPerturbationConfig.empty(1)
    target = video_tools.patchifier.patchify(inputs.noise - inputs.x0)

    def forward() -> Any:
        video_out, _ = model(video=video, audio=audio, perturbations=perturbations)
        return video_out

    return forward, target


def ltx_core_step(model: Any, config: dict[str, Any], inputs: gpu.Inputs, trainable: list[Any], optimizer: Any,
                  device: Any) -> Callable[[], float]:
    """The reference step: :func:`ltx_core_forward` in the same ``make_step`` as ltxbench's."""
    forward, target = ltx_core_forward(model, config, inputs, device)
    return gpu.make_step(forward, target, trainable, optimizer, device)


@dataclass
class Run:
    label: str
    timing: gpu.Timing
    params: int
    trainable: int
    shapes: dict[str, tuple[int, ...]]  # parameter name (diffusers naming) -> shape
    lora_targets: frozenset[str]
    build_seconds: float


def _lora_targets(model: Any) -> frozenset[str]:
    return frozenset(name for name, module in model.named_modules() if hasattr(module, "lora_A"))


def run_ltxbench(config: dict[str, Any], args: argparse.Namespace, shape: dict[str, int], device: Any) -> tuple[Run, gpu.Inputs]:
    t0 = time.perf_counter()
    pipe, trainable, optimizer = gpu.setup_ltxbench(config, args.rank, device)
    built = time.perf_counter() - t0
    inputs = gpu.make_inputs(pipe, config, shape["width"], shape["height"], shape["frames"], shape["text_tokens"], device)
    timing = gpu.time_steps(gpu.ltxbench_step(pipe, inputs, trainable, optimizer, device), args.steps, device, args.warmup)
    model = pipe.transformer
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters() if "lora_" not in name}
    return Run("ltxbench", timing, sum(math.prod(v) for v in shapes.values()), sum(p.numel() for p in trainable), shapes,
               _lora_targets(model), built), inputs


def run_ltx_core(config: dict[str, Any], args: argparse.Namespace, inputs: gpu.Inputs, device: Any) -> Run:
    from ltxbench.lora.check import names

    t0 = time.perf_counter()
    model, trainable, optimizer = setup_ltx_core(ltx_core_config(config), args.rank, device)
    built = time.perf_counter() - t0
    timing = gpu.time_steps(ltx_core_step(model, config, inputs, trainable, optimizer, device), args.steps, device, args.warmup)
    # ltx-core spells parameters the original LTX-2 way (adaln_single, q_norm, scale_shift_table_a2v_ca_audio,
    # ...): ltxbench's naming table turns them into diffusers' names
    shapes = {names.to_diffusers(name)[1]: tuple(p.shape) for name, p in model.named_parameters() if "lora_" not in name}
    return Run("ltx-core", timing, sum(math.prod(v) for v in shapes.values()), sum(p.numel() for p in trainable), shapes,
               _lora_targets(model), built)


def free(device: Any) -> str:
    """Collect what the finished run left and report the memory still allocated."""
    import torch

    gc.collect()
    if device.type != "cuda":
        return ""
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    return f"{torch.cuda.memory_allocated(device) / 2**30:.2f} GiB still allocated"


def architecture_check(a: Run, b: Run) -> list[str]:
    """Lines comparing the two models' parameters (names in diffusers naming) and LoRA targets."""
    lines = []
    only_a, only_b = sorted(set(a.shapes) - set(b.shapes)), sorted(set(b.shapes) - set(a.shapes))
    differ = sorted(k for k in set(a.shapes) & set(b.shapes) if a.shapes[k] != b.shapes[k])
    if not (only_a or only_b or differ):
        lines.append(f"architecture: the same {len(a.shapes)} parameter tensors (names through ltxbench.lora.check.names, "
                     f"shapes) in both; {a.params:,} parameters each")
    else:
        lines.append(f"ARCHITECTURE MISMATCH: parameters {a.label} {a.params:,} vs {b.label} {b.params:,}")
        for label, keys in ((f"only in {a.label}", only_a), (f"only in {b.label}", only_b), ("shapes differ", differ)):
            if keys:
                lines.append(f"  {label} ({len(keys)}): {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}")
    if a.lora_targets == b.lora_targets:
        lines.append(f"LoRA: the same {len(a.lora_targets)} adapted modules by name in both")
    else:
        lines.append(f"LORA TARGETS DIFFER: {len(a.lora_targets)} vs {len(b.lora_targets)} modules; only in {a.label}: "
                     f"{sorted(a.lora_targets - b.lora_targets)[:4]}, only in {b.label}: {sorted(b.lora_targets - a.lora_targets)[:4]}")
    return lines


def table(runs: list[Run], flops: int, peak: float | None, steps: int) -> list[str]:
    header = f"{'step':<10} {'s/step':>8} {'min':>8} {'max':>8} {'peak GiB':>9} {'TFLOP/s':>8} {'MFU':>6} {'trainable':>12} {'build s':>8}"
    lines = [f"(median of {steps} timed steps each)", header, "-" * len(header)]
    for r in runs:
        t = r.timing
        mem = f"{t.peak_allocated / 2**30:.1f}" if t.peak_allocated is not None else "n/a"
        mfu = f"{flops / t.seconds / (peak * 1e12):.1%}" if peak else "n/a"
        lines.append(f"{r.label:<10} {t.seconds:>8.3f} {min(t.times):>8.3f} {max(t.times):>8.3f} {mem:>9} "
                     f"{flops / t.seconds / 1e12:>8.1f} {mfu:>6} {r.trainable:>12,} {r.build_seconds:>8.1f}")
    a, b = runs
    memory = (f"{a.timing.peak_allocated / b.timing.peak_allocated:.3f}x" if a.timing.peak_allocated and b.timing.peak_allocated
              else "n/a (no CUDA memory stats)")
    lines.append(f"ratio ltxbench / ltx-core: time {a.timing.seconds / b.timing.seconds:.3f}x, peak memory {memory}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=6, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model first")
    gpu.add_shape_arguments(parser)
    args = parser.parse_args(argv)
    shape = gpu.shape_from(args)

    import torch

    from ltxbench.train import flops as train_flops

    if not torch.cuda.is_available() and not args.tiny:
        print(gpu.NO_GPU_MESSAGE.format(name="bench_train_step_vs_ltx_core"))
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = gpu.diffusers_config(args.tiny)
    core = ltx_core_config(config)["transformer"]
    name, peak = gpu.device_peak(device, args.peak_tflops)
    print(f"device: {name}; LTX-2.3 transformer {'TINY' if args.tiny else 'full size'} with random weights, bf16, "
          f"gradient checkpointing, LoRA rank {args.rank} on all_attention (peft), AdamW")
    if args.tiny:
        print("--tiny: checks the script only; THESE NUMBERS MEAN NOTHING")
    print(f"ltx-core config: {core['num_layers']} layers, video {core['num_attention_heads']}x{core['attention_head_dim']} "
          f"(text {core['cross_attention_dim']}), audio {core['audio_num_attention_heads']}x{core['audio_attention_head_dim']} "
          f"(text {core['audio_cross_attention_dim']}), rope {core['rope_type']} {core['frequencies_precision']}, "
          f"gated attention {core['apply_gated_attention']}, cross-attention adaln {core['cross_attention_adaln']}, "
          f"caption projection {not core['caption_proj_before_connector']}")

    first, inputs = run_ltxbench(config, args, shape, device)
    left = free(device)
    print(f"ltxbench: {first.params:,} parameters, built in {first.build_seconds:.1f} s; freed{': ' + left if left else ''}")
    second = run_ltx_core(config, args, inputs, device)
    free(device)
    print(f"ltx-core: {second.params:,} parameters, built in {second.build_seconds:.1f} s")
    for line in architecture_check(first, second):
        print(line)
    tv, ta, tt = inputs.video_tokens, inputs.audio_tokens, inputs.text_tokens
    flops = train_flops.train_step_model_flops(config, tv, ta, tt)
    print(f"tokens: video {tv} ({shape['width']}x{shape['height']}, {shape['frames']} frames), audio {ta}, text {tt}; "
          f"model FLOPs per step {flops / 1e12:.2f} TFLOP (same count for both)"
          + (f"; MFU against {peak:.0f} TFLOP/s dense bf16" if peak else "; MFU: unknown peak, pass --peak-tflops"))
    for line in table([first, second], flops, peak, args.steps):
        print(line)
    for r in (first, second):
        print(f"losses {r.label}: {', '.join(f'{v:.4f}' for v in r.timing.losses)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
