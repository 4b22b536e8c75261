"""The GPU benchmark scripts run on the CPU with --tiny, refuse cleanly without a GPU, and the
ltx-core reference step computes what ltxbench's step computes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"


def _run(script: str, *args: str, gpu_visible: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # tiny matmuls: threads only contend on a shared machine
    if not gpu_visible:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return subprocess.run([sys.executable, str(BENCH / script), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_vs_ltx_core_tiny_prints_both_rows_and_the_ratio():
    proc = _run("bench_train_step_vs_ltx_core.py", "--tiny", "--steps", "2", "--warmup", "1", gpu_visible=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "THESE NUMBERS MEAN NOTHING" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:1] in (["ltxbench"], ["ltx-core"])
            and len(line.split()) == 9}
    assert set(rows) == {"ltxbench", "ltx-core"}, out
    assert rows["ltxbench"].split()[7] == rows["ltx-core"].split()[7]  # the same trainable parameters
    assert "ratio ltxbench / ltx-core: time " in out
    assert "architecture: the same" in out and "LoRA: the same" in out, out  # no mismatch reported


@pytest.mark.parametrize("script", ["bench_train_step_vs_ltx_core.py", "bench_train_step_gpu.py"])
def test_without_a_gpu_exits_2_with_a_message(script):
    proc = _run(script, gpu_visible=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and "no CUDA GPU visible" in lines[0] and "--tiny" in lines[0]


def test_gpu_script_tiny_still_runs():
    proc = _run("bench_train_step_gpu.py", "--tiny", "--steps", "1", gpu_visible=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "seconds per step" in proc.stdout and "model FLOPs per step" in proc.stdout


def test_ltx_core_reference_computes_the_same_velocity():
    """With ltxbench's weights copied in (names through lora_check.names), ltx-core's forward on
    the reference step's Modality inputs gives ltxbench.model.forward.transformer_forward's video velocity: the two
    steps time the same computation."""
    import torch

    sys.path.insert(0, str(BENCH))
    import bench_train_step_gpu as gpu
    import bench_train_step_vs_ltx_core as vs
    from ltx_core.components.patchifiers import VideoLatentPatchifier

    from ltxbench.lora.check import names
    from ltxbench.model import forward as model_forward

    device = torch.device("cpu")
    config = gpu.diffusers_config(tiny=True)
    pipe = gpu.build_pipe(config, device)
    pipe.transformer.float().eval()
    core = vs.build_ltx_core(vs.ltx_core_config(config), device).float().eval()
    weights = pipe.transformer.state_dict()
    core.load_state_dict({name: weights[names.to_diffusers(name)[1]] for name in core.state_dict()})
    inputs = gpu.make_inputs(pipe, config, **gpu.TINY_SHAPE, device=device)
    inputs.cond = {k: v.float() if v.is_floating_point() else v for k, v in inputs.cond.items()}
    forward, target = vs.ltx_core_forward(core, config, inputs, device)
    with torch.no_grad():
        expected = model_forward.transformer_forward(pipe, inputs.x_t, None, inputs.cond, inputs.sigma,
                                           generator=torch.Generator(device=device).manual_seed(inputs.audio_seed)).video
        got = forward()
    patchify = VideoLatentPatchifier(patch_size=1).patchify
    torch.testing.assert_close(got, patchify(expected), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(target, patchify(inputs.noise - inputs.x0))
