"""LoRA files: presets match real modules; saved files load in diffusers' LTX-2 loader with alpha applied."""

from __future__ import annotations

import re

import pytest
import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file

from ltxbench.lora import files as lora
from ltxbench.model import forward, tiny


def _provenance(step=3):
    return lora.Provenance(base_version="2.3", base_source="tiny", rank=4, alpha=16.0, targets="video_attention",
                           triggers={"obama": "obmx"}, step=step, stage="train", dataset_sha256="d" * 64, params_sha256="p" * 64)


@pytest.mark.parametrize("preset", sorted(lora.TARGET_PRESETS))
def test_every_preset_matches_modules_of_the_tiny_transformer(preset):
    transformer = tiny.build_tiny_pipeline().transformer
    names = [n for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)]
    matched = [n for n in names if re.fullmatch(lora.TARGET_PRESETS[preset], n)]
    assert matched
    if preset == "video_attention":
        assert all(".attn1." in n or ".attn2." in n for n in matched)
        assert len(matched) == transformer.config.num_layers * 2 * 4
    if preset == "text_cross_attention":
        assert sorted({n.rsplit(".", 1)[1] for n in matched}) == ["to_k", "to_v"] and all(".attn2." in n for n in matched)
        assert len(matched) == transformer.config.num_layers * 2
    if preset == "all_attention_ff":
        assert any(".audio_ff." in n for n in matched) and any(".video_to_audio_attn." in n for n in matched)


def test_saved_lora_loads_in_diffusers_and_reproduces_the_trained_adapter(tmp_path):
    pipe = tiny.build_tiny_pipeline()
    transformer = pipe.transformer
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=16.0, target_modules=lora.TARGET_PRESETS["video_attention"]))
    torch.manual_seed(0)
    with torch.no_grad():  # a trained-looking adapter: B is zero at init
        for name, p in transformer.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.2)
    cond = forward.encode_prompts(pipe, ["obmx talking"], max_sequence_length=32)
    x = torch.randn(1, 128, 2, 2, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = forward.transformer_forward(pipe, x, None, cond, 0.5, generator=torch.Generator().manual_seed(2)).video

    path = lora.save_lora(tmp_path / "lora_step_000003.safetensors", get_peft_model_state_dict(transformer), _provenance())
    keys = list(load_file(str(path)))
    assert keys and all(k.startswith("diffusion_model.transformer_blocks.") for k in keys)
    assert all(k.endswith((".lora_A.weight", ".lora_B.weight")) for k in keys)
    meta = lora.read_metadata(path)
    assert meta["base_model_version"] == "2.3" and meta["alpha_folded"] == "true" and meta["step"] == "3"

    fresh = tiny.build_tiny_pipeline()
    with torch.no_grad():
        base_out = forward.transformer_forward(fresh, x, None, cond, 0.5, generator=torch.Generator().manual_seed(2)).video
    fresh.load_lora_weights(str(path), adapter_name="ckpt")
    with torch.no_grad():
        loaded = forward.transformer_forward(fresh, x, None, cond, 0.5, generator=torch.Generator().manual_seed(2)).video
    assert not torch.allclose(base_out, expected, atol=1e-4)  # the adapter matters
    torch.testing.assert_close(loaded, expected, atol=1e-4, rtol=1e-4)  # alpha/rank = 4 applied by folding

    fresh.unload_lora_weights()
    with torch.no_grad():
        unloaded = forward.transformer_forward(fresh, x, None, cond, 0.5, generator=torch.Generator().manual_seed(2)).video
    torch.testing.assert_close(unloaded, base_out)


def test_export_refuses_unexpected_keys():
    with pytest.raises(ValueError, match="unexpected LoRA key"):
        lora.export_state_dict({"transformer_blocks.0.attn1.to_q.weight": torch.zeros(1)}, 4, 4)


def test_original_names_invert_diffusers_renames():
    assert lora.to_original_name("proj_in") == "patchify_proj"
    assert lora.to_original_name("audio_proj_in") == "audio_patchify_proj"
    assert lora.to_original_name("time_embed.linear") == "adaln_single.linear"
    assert lora.to_original_name("transformer_blocks.3.attn1.to_q") == "transformer_blocks.3.attn1.to_q"


def test_checkpoint_names():
    assert lora.checkpoint_step("runs/x/checkpoints/lora_step_000250.safetensors") == 250
    with pytest.raises(ValueError, match="lora_step_000250"):
        lora.checkpoint_step("final.safetensors")
