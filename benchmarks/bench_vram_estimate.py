"""How close the VRAM planner's activation estimate is to the bytes autograd actually saves.

Measured on the tiny LTX-2.3 transformer (CPU) for shapes that were not used to fit the
coefficients, with and without gradient checkpointing; printed as estimate / measured (1.00 is
exact), the baseline being the measurement in the same run. Also prints the planner's estimate for
the full-size LTX-2.3 single-character recipe.
Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_vram_estimate.py``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import LoraConfig

from ltxbench.lora import files as lora
from ltxbench.model import forward, tiny
from ltxbench.params import loading, schema
from ltxbench.train import vram

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    pipe = tiny.build_tiny_pipeline()
    dims = vram.dims_from_transformer(pipe.transformer)
    pipe.transformer.requires_grad_(False)
    pipe.transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=lora.TARGET_PRESETS["video_attention"]))
    cond = forward.encode_prompts(pipe, ["obmx talking"], max_sequence_length=64)
    base = loading.load(REPO / "params" / "demo.yaml", ["model.max_sequence_length=64"])
    print("baseline: bytes saved for backward, measured with autograd hooks: 1.00")
    print(f"{'frames x H x W':<18}{'checkpointing':>14}{'video tokens':>14}{'estimate / measured':>22}")
    for frames, h, w in ((25, 192, 320), (41, 256, 320), (65, 256, 448), (81, 320, 512)):
        x = torch.randn(1, 128, (frames - 1) // 8 + 1, h // 32, w // 32)
        tokens = (x.shape[2] * x.shape[3] * x.shape[4], forward.audio_latent_length(pipe, x.shape[2]), 64)
        for ckpt in (False, True):
            measured = vram.measure_saved_activation_bytes(pipe, x, cond, ckpt)
            params = schema.RunParams.model_validate(loading.apply_overrides(base.to_dict(), {"train.gradient_checkpointing": ckpt}))
            est = vram.estimate(params, dims, tokens=tokens).kept_activations
            print(f"{f'{frames}x{h}x{w}':<18}{str(ckpt):>14}{tokens[0]:>14}{est / measured:>22.2f}")
    recipe = loading.load(REPO / "params" / "single_character.yaml", ["model.source=tiny"])
    real = schema.RunParams.model_validate(loading.apply_overrides(recipe.to_dict(), {"model.source": "diffusers/LTX-2.3-Diffusers"}))
    full = vram.model_dims(real.model)
    for gpu in (80, 141):
        print(f"single_character.yaml on a {gpu} GiB GPU: {vram.estimate(real, full, gpu * 2**30)!r}")


if __name__ == "__main__":
    main()
