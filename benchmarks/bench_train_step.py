"""Training-step cost of the LoRA presets and ranks on the tiny LTX-2.3 transformer (CPU).

Prints each configuration's median step time as a ratio to a baseline measured in the same run
(one frozen forward pass, no gradients), plus trainable parameters and the bytes they add with
their gradients and AdamW state. Ratios, not seconds, because these machines are noisy.
Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_train_step.py``.
"""

from __future__ import annotations

import statistics
import time

import torch
from peft import LoraConfig

from ltxbench.lora import files as lora
from ltxbench.model import forward, tiny

REPEATS = 15


def _median_time(fn) -> float:
    fn()  # warm-up
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(2)
    pipe = tiny.build_tiny_pipeline()
    cond = forward.encode_prompts(pipe, ["obmx talking to the camera"], max_sequence_length=64)
    x0 = torch.randn(1, 128, 3, 4, 7)  # 17 frames at 224x128
    noise = torch.randn_like(x0)
    x_t = forward.noisy_latents(x0, noise, 0.5)

    def frozen_forward():
        with torch.no_grad():
            forward.transformer_forward(pipe, x_t, None, cond, 0.5, generator=torch.Generator().manual_seed(0)).video

    baseline = _median_time(frozen_forward)
    print(f"baseline: frozen forward, tiny LTX-2.3, latents {tuple(x0.shape)}: 1.00")
    print(f"{'targets':<18}{'rank':>6}{'step / baseline':>18}{'trainable':>12}{'adds (KiB)':>12}")
    for preset in ("video_attention", "all_attention", "all_attention_ff"):
        for rank in (4, 16, 64):
            fresh = tiny.build_tiny_pipeline()
            tr = fresh.transformer
            tr.requires_grad_(False)
            tr.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=lora.TARGET_PRESETS[preset]))
            params = [p for p in tr.parameters() if p.requires_grad]
            opt = torch.optim.AdamW(params, lr=1e-4)

            def step():
                pred = forward.transformer_forward(fresh, x_t, None, cond, 0.5, generator=torch.Generator().manual_seed(0)).video
                loss = torch.nn.functional.mse_loss(pred, noise - x0)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            t = _median_time(step)
            n = sum(p.numel() for p in params)
            added = n * 4 * 4 / 1024  # weights + grads + two AdamW moments, float32
            print(f"{preset:<18}{rank:>6}{t / baseline:>18.2f}{n:>12,}{added:>12.1f}")


if __name__ == "__main__":
    main()
