"""The VRAM planner: exact parameter counts, activations checked against measured bytes, suggestions."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig

from ltxbench.lora import files as lora
from ltxbench.model import forward
from ltxbench.model import tiny as model_tiny
from ltxbench.params import loading, schema
from ltxbench.train import vram

GIB = 2**30


@pytest.fixture(scope="module")
def tiny():
    pipe = model_tiny.build_tiny_pipeline()
    dims = vram.dims_from_transformer(pipe.transformer)
    pipe.transformer.requires_grad_(False)
    pipe.transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=lora.TARGET_PRESETS["video_attention"]))
    return pipe, dims


@pytest.mark.parametrize("shape,checkpointing", [((49, 256, 256), False), ((65, 256, 448), False), ((65, 256, 448), True)])
def test_activation_estimate_matches_the_measured_bytes(tiny, params_file, shape, checkpointing):
    pipe, dims = tiny
    frames, height, width = shape
    x = torch.randn(1, 128, (frames - 1) // 8 + 1, height // 32, width // 32)
    cond = forward.encode_prompts(pipe, ["obmx talking"], max_sequence_length=64)
    measured = vram.measure_saved_activation_bytes(pipe, x, cond, checkpointing)
    params = loading.load(params_file, {"model.max_sequence_length": 64, "train.gradient_checkpointing": checkpointing})
    tokens = (x.shape[2] * x.shape[3] * x.shape[4], forward.audio_latent_length(pipe, x.shape[2]), 64)
    estimated = vram.estimate(params, dims, tokens=tokens).kept_activations
    assert abs(estimated - measured) / measured < 0.10


def test_lora_and_weight_bytes_are_exact(tiny, params_file):
    pipe, dims = tiny
    params = loading.load(params_file)
    plan = vram.estimate(params, dims)
    trainable = sum(p.numel() for p in pipe.transformer.parameters() if p.requires_grad)  # rank 4, as params
    assert plan.lora_states == trainable * 16  # fp32 weight, grad and two AdamW moments
    frozen = sum(p.numel() for n, p in pipe.transformer.named_parameters() if "lora_" not in n)
    assert plan.base_weights == frozen * 4


def test_full_size_plan_says_what_fits(params_file):
    dims = vram.model_dims(schema.ModelSection(version="2.3", source="somewhere/else"))
    assert dims.layers == 48 and dims.video_width == 4096 and dims.parameters > 15e9
    params = loading.load(params_file, {"curate.clip_frames": 121, "curate.resolution": 512, "model.dtype": "bfloat16",
                                  "train.mixed_precision": "bf16", "model.max_sequence_length": 1024})
    plan = vram.estimate(params, dims, 80 * GIB)
    assert plan.fits is False and "train.gradient_checkpointing=true" in plan.suggestions
    small_gpu = vram.estimate(params, dims, 24 * GIB)
    assert small_gpu.fits is False and "8-bit" in small_gpu.suggestions[0]
    assert vram.estimate(params, dims).fits is None  # no GPU visible: no verdict


def test_int8_base_weight_bytes_match_the_quantized_model(params_file):
    from ltxbench.train import setup

    transformer = model_tiny.build_tiny_pipeline().transformer
    dims = vram.dims_from_transformer(transformer)
    params = loading.load(params_file, {"train.base_quantization": "int8"})
    estimated = vram.estimate(params, dims).base_weights
    setup.quantize_base(transformer, "int8")
    stored = sum(t.numel() * t.element_size() for t in transformer.state_dict().values())  # int8 data + scales + rest
    assert abs(estimated - stored) / stored < 0.02
    assert estimated < 0.35 * vram.estimate(loading.load(params_file), dims).base_weights  # vs float32
