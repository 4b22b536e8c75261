"""Step time of ltxbench's training loop against a minimal hand-written loop (target: at most 1.1x).

Both train the same LoRA (rank 8, video attention) on the same tiny LTX-2.3 transformer and the same
cached latents of two real clips. The minimal loop does only: draw a clip, draw σ and noise, forward,
MSE, backward, clip gradients, AdamW step. ltxbench's loop adds weighted sampling, the σ shift,
metrics rows, TensorBoard scalars and a checkpoint (LoRA file + resume state) every 10 steps; its
per-step time is measured between consecutive ``on_step`` callbacks, so all of that is included.
Printed as a ratio measured in one run (these machines are noisy).
Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_train_loop.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
STEPS = 40


def _params(tmp: Path) -> Path:
    raw = yaml.safe_load((REPO / "params" / "demo.yaml").read_text())
    raw["dataset"]["characters"][0]["references"] = [str(DATA / "obama_1.jpg")]
    raw["dataset"]["characters"][0]["media"] = [str(DATA / "obama_2.jpg"), str(DATA / "obama_3.jpg")]
    raw["train"].update({"steps": STEPS, "checkpoint_every": 10, "rank": 8, "alpha": 8})
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def minimal_loop(latents: list[torch.Tensor], conds: list[dict], steps: int) -> list[float]:
    from peft import LoraConfig

    from ltxbench.lora import files as lora
    from ltxbench.model import forward, tiny

    pipe = tiny.build_tiny_pipeline()
    tr = pipe.transformer
    tr.requires_grad_(False)
    torch.manual_seed(0)
    tr.add_adapter(LoraConfig(r=8, lora_alpha=8, target_modules=lora.TARGET_PRESETS["video_attention"]))
    params = [p for p in tr.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    g = torch.Generator().manual_seed(0)
    times = []
    for step in range(steps):
        t0 = time.perf_counter()
        i = step % len(latents)
        x0 = latents[i]
        sigma = torch.rand(1, generator=g).item()
        noise = torch.randn(x0.shape, generator=g)
        pred = forward.transformer_forward(pipe, (1 - sigma) * x0 + sigma * noise, None, conds[i], sigma, generator=g).video
        loss = torch.nn.functional.mse_loss(pred, noise - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    os.environ["LTXBENCH_QUIET"] = "1"
    sys.path.insert(0, str(REPO))
    from ltxbench.caption import stage as caption
    from ltxbench.curate import stage
    from ltxbench.model import tiny
    from ltxbench.run import folder
    from ltxbench.train import loop
    from ltxbench.train.data import precompute, training_clips

    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        run = folder.open_run(tmp / "run", _params(tmp))
        stage.curate(run)
        caption.caption(run)
        clips = training_clips(run)
        lat, text, _ = precompute(run, tiny.build_tiny_pipeline(), clips)
        ordered = [lat[c["id"]] for c in clips]
        conds = [text[c["id"]] for c in clips]

        stamps: list[float] = []
        loop.train(run, on_step=lambda row: stamps.append(time.perf_counter()))
        ours = [b - a for a, b in zip(stamps, stamps[1:])]
        base = minimal_loop(ordered, conds, STEPS)

    base_med, ours_med = statistics.median(base[1:]), statistics.median(ours)
    base_mean, ours_mean = statistics.mean(base[1:]), statistics.mean(ours)
    print(f"baseline: minimal hand-written loop, tiny LTX-2.3, {STEPS} steps: 1.00")
    print(f"ltxbench loop, median step (between on_step callbacks): {ours_med / base_med:.2f}x")
    print(f"ltxbench loop, mean step incl. checkpoints every 10 steps: {ours_mean / base_mean:.2f}x (target <= 1.10x)")


if __name__ == "__main__":
    main()
