"""Official single-file checkpoints, proven against ltx-core (Lightricks' own model code).

A tiny transformer is built by ltx-core's configurator with seeded random weights and written in
the official layout (``model.diffusion_model.*``, ltx-core's config in the metadata). ltxbench
loads it into diffusers' transformer, and both must give the same video and audio velocities for
the same inputs, with audio and video at different noise levels (so the cross-modal modulation is
checked too).
"""

from __future__ import annotations

import pytest
import torch

from ltxbench import errors
from ltxbench.lora import files as L
from ltxbench.lora.check import names
from ltxbench.model import forward, loading, locate, single_file, tiny, versions

import ltx_core_reference as ref

VERSIONS = ("2.0", "2.3")


def _velocities(core, loaded, version, seed=3):
    """(ltxbench's, ltx-core's) packed velocities for the same random latents, text and sigmas."""
    pipe = tiny.build_tiny_pipeline(version)
    pipe.transformer = loaded
    g = torch.Generator().manual_seed(seed)
    batch, frames, height, width, audio_len, text_len = 1, 2, 2, 3, 5, 7
    video = torch.randn(batch, 128, frames, height, width, generator=g)
    audio = torch.randn(batch, 8, audio_len, 16, generator=g)
    cfg = ref.tiny_config(version)["transformer"]
    width_v = cfg["cross_attention_dim"] if version != "2.0" else cfg["caption_channels"]
    width_a = cfg["audio_cross_attention_dim"] if version != "2.0" else cfg["caption_channels"]
    text_v = torch.randn(batch, text_len, width_v, generator=g)
    text_a = torch.randn(batch, text_len, width_a, generator=g)
    mask = torch.ones(batch, text_len, dtype=torch.long)
    mask[:, -2:] = 0  # padded text tokens must be ignored the same way
    cond = {"video_embeds": text_v, "audio_embeds": text_a, "attention_mask": mask}
    video_sigma, audio_sigma = 0.6, 0.25
    with torch.no_grad():
        ours = forward.transformer_forward(pipe, video, audio, cond, torch.tensor([video_sigma]),
                                       audio_sigma=torch.tensor([audio_sigma]))
    video_coords = loaded.rope.prepare_video_coords(batch, frames, height, width, video.device, fps=24.0)
    audio_coords = loaded.audio_rope.prepare_audio_coords(batch, audio_len, video.device)
    theirs = ref.core_velocity(core, pipe._pack_latents(video, 1, 1), pipe._pack_audio_latents(audio),
                               video_coords, audio_coords, text_v, text_a, mask, video_sigma, audio_sigma)
    return (pipe._pack_latents(ours.video, 1, 1), pipe._pack_audio_latents(ours.audio)), theirs


@pytest.mark.parametrize("version", VERSIONS)
def test_an_official_checkpoint_gives_ltx_cores_velocities(tmp_path, version):
    core = ref.tiny_transformer(version)
    path = ref.save_official(tmp_path / f"ltx-{version}-tiny.safetensors", core, version)
    checkpoint = single_file.read_checkpoint(path)
    assert single_file.detect_version(checkpoint) == version
    loaded = single_file.load_transformer(checkpoint, version)
    assert versions.detect_version(loaded.config) == version

    (ours_v, ours_a), (core_v, core_a) = _velocities(core, loaded, version)
    assert core_v.abs().max() > 1 and core_a.abs().max() > 1  # the check has something to compare
    torch.testing.assert_close(ours_v, core_v, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours_a, core_a, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("version, rule", [("2.3", "prompt_adaln_single"), ("2.0", "adaln_single")])
def test_a_missing_key_map_entry_is_an_error_naming_the_keys(tmp_path, monkeypatch, version, rule):
    path = ref.save_official(tmp_path / "tiny.safetensors", ref.tiny_transformer(version), version)
    monkeypatch.delitem(names._TOP_LEVEL, rule)
    with pytest.raises(single_file.CheckpointKeyError) as caught:
        single_file.load_transformer(single_file.read_checkpoint(path), version)
    text = str(caught.value)
    assert f"{rule}.linear.weight" in text and "no transformer parameter takes" in text
    assert "lacks" in text  # ... and the parameters left without weights


def test_diffusers_own_single_file_map_loses_2_3s_prompt_modulation(tmp_path):
    """Why the conversion is written here: diffusers 0.42.1's LTX-2 converter renames the substring
    ``adaln_single``, so 2.3's prompt modulation lands on names the model does not have."""
    from diffusers.loaders.single_file_utils import convert_ltx2_transformer_to_diffusers

    core = ref.tiny_transformer("2.3")
    official = {f"model.diffusion_model.{k}": v for k, v in core.state_dict().items()}
    converted = convert_ltx2_transformer_to_diffusers(dict(official))
    expected = set(single_file.load_transformer(
        single_file.read_checkpoint(ref.save_official(tmp_path / "t.safetensors", core, "2.3")), "2.3").state_dict())
    lost = sorted(set(converted) - expected)
    assert lost and all("prompt" in k for k in lost), lost


def test_keys_outside_the_layout_and_unknown_modules_are_errors(tmp_path):
    core = ref.tiny_transformer("2.3")
    stray = ref.save_official(tmp_path / "stray.safetensors", core, "2.3", extra={"optimizer.step": torch.zeros(1)})
    with pytest.raises(single_file.CheckpointKeyError, match=r"outside the official LTX-2 layout .*: optimizer.step"):
        single_file.read_checkpoint(stray).component_keys()
    unknown = ref.save_official(tmp_path / "unknown.safetensors", core, "2.3",
                                extra={"model.diffusion_model.mystery_block.weight": torch.zeros(2)})
    with pytest.raises(single_file.CheckpointKeyError, match="mystery_block.weight"):
        single_file.load_transformer(single_file.read_checkpoint(unknown), "2.3")


def test_a_file_without_config_or_with_another_versions_config_is_refused(tmp_path):
    from safetensors.torch import save_file

    core = ref.tiny_transformer("2.3")
    bare = tmp_path / "bare.safetensors"
    save_file({f"model.diffusion_model.{k}": v.contiguous() for k, v in core.state_dict().items()}, str(bare))
    with pytest.raises(single_file.CheckpointFormatError, match="no 'config' metadata"):
        single_file.load_transformer(single_file.read_checkpoint(bare), "2.3")

    mixed = tmp_path / "mixed.safetensors"
    import json
    save_file({f"model.diffusion_model.{k}": v.contiguous() for k, v in core.state_dict().items()}, str(mixed),
              metadata={"config": json.dumps(ref.tiny_config("2.0"))})
    with pytest.raises(errors.VersionMismatchError, match="keys are LTX-2.3's but its metadata config describes LTX-2.0"):
        single_file.detect_version(single_file.read_checkpoint(mixed))
    # a 2.3 file asked for as 2.5, and 2.3's keys (video feed-forward biases) under 2.5's config
    plain = ref.save_official(tmp_path / "plain.safetensors", core, "2.3")
    with pytest.raises(errors.VersionMismatchError, match="holds LTX-2.3 weights"):
        single_file.open_checkpoint(plain, "2.5")
    relabelled = _with_config(tmp_path, "relabelled.safetensors", plain, ref.tiny_config("2.5"))
    with pytest.raises(errors.VersionMismatchError, match="keys are LTX-2.3's but its metadata config describes LTX-2.5"):
        single_file.detect_version(single_file.read_checkpoint(relabelled))


def _with_config(tmp_path, name, source, config):
    """A copy of ``source``'s tensors under another metadata config."""
    import json

    from safetensors.torch import load_file, save_file

    out = tmp_path / name
    save_file(load_file(str(source)), str(out), metadata={"config": json.dumps(config)})
    return out


def test_a_malformed_config_is_a_format_error_naming_the_file(tmp_path):
    good = ref.save_official(tmp_path / "t.safetensors", ref.tiny_transformer("2.3"), "2.3")
    listed = _with_config(tmp_path, "list.safetensors", good, {"transformer": [1, 2]})
    with pytest.raises(single_file.CheckpointFormatError, match="'transformer' section is not a JSON object"):
        single_file.read_checkpoint(listed)
    config = ref.tiny_config("2.3")
    config["transformer"]["positional_embedding_max_pos"] = 20  # a number where ltx-core reads a list
    scalar = _with_config(tmp_path, "scalar.safetensors", good, config)
    problems = single_file.checkpoint_problems(scalar, "2.3")
    assert len(problems) == 1 and "cannot describe a transformer" in problems[0].allowed, problems
    config = ref.tiny_config("2.3")
    config["transformer"]["attention_head_dim"] = "wide"
    with pytest.raises(single_file.CheckpointFormatError, match="does not make a transformer"):
        single_file.load_transformer(single_file.read_checkpoint(
            _with_config(tmp_path, "typo.safetensors", good, config)), "2.3")


def test_a_checkpoint_problem_is_blamed_on_the_checkpoint_not_on_model_source(tmp_path):
    """A folder source that is fine and a checkpoint that is missing, or of another version: the
    error names the file (a missing file is an OSError, which must not read as 'the weights at
    model.source are incomplete')."""
    absent = tmp_path / "ltx-2.3-22b-dev.safetensors"
    with pytest.raises(FileNotFoundError, match="checkpoint .*ltx-2.3-22b-dev.safetensors does not exist") as caught:
        loading.load_pipeline("2.3", locate.TINY_PRETRAINED, device="cpu", checkpoint=absent)
    assert not isinstance(caught.value, errors.ModelNotFoundError) and "incomplete" not in str(caught.value)
    older = ref.save_official(tmp_path / "ltx-2.0.safetensors", ref.tiny_transformer("2.0"), "2.0")
    with pytest.raises(errors.VersionMismatchError, match=r"ltx-2\.0\.safetensors holds LTX-2\.0 weights"):
        loading.load_pipeline("2.3", locate.TINY_PRETRAINED, device="cpu", checkpoint=older)


def test_an_ltxbench_lora_changes_ltx_core_as_it_changes_diffusers(tmp_path):
    """A LoRA saved by ltxbench, applied by ltx-core's own loader and fusion under ltx-core's module
    names (what ComfyUI does with ``diffusion_model.*`` keys), moves ltx-core's output as the same
    adapter moves the diffusers model's."""
    from ltx_core.loader.fuse_loras import apply_loras
    from ltx_core.loader.primitives import LoraStateDictWithStrength, StateDict
    from ltx_core.loader.sd_ops import LTXV_LORA_COMFY_RENAMING_MAP
    from ltx_core.loader.sft_loader import SafetensorsStateDictLoader
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    version = "2.3"
    core = ref.tiny_transformer(version)
    with torch.no_grad():  # weights a bfloat16 fusion (ltx-core fuses in the stored dtype) keeps exactly
        for p in core.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    path = ref.save_official(tmp_path / "base.safetensors", core, version)
    loaded = single_file.load_transformer(single_file.read_checkpoint(path), version)
    (base_ours, _), (base_core, _) = _velocities(core, loaded, version)

    rank, alpha = 4, 8.0
    loaded.add_adapter(LoraConfig(r=rank, lora_alpha=alpha, target_modules=L.TARGET_PRESETS["all_attention"]))
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in loaded.named_parameters():
            if "lora_" in name:  # a trained adapter: both matrices non-zero
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    state = get_peft_model_state_dict(loaded)
    provenance = L.Provenance(version, str(path), rank, alpha, "all_attention", {"ada": "ada"}, 10, "main", "", "")
    lora_file = L.save_lora(tmp_path / "lora.safetensors", state, provenance)
    (lora_ours, _), _ = _velocities(core, loaded, version)

    lora_sd = SafetensorsStateDictLoader().load(str(lora_file), LTXV_LORA_COMFY_RENAMING_MAP)
    model_keys = set(core.state_dict())
    targets = {k.rsplit(".lora_", 1)[0] + ".weight" for k in lora_sd.sd}
    assert targets and targets <= model_keys, sorted(targets - model_keys)[:5]  # every pair names an ltx-core module
    assert len(targets) == len(state) // 2

    base_sd = {k: v.to(torch.bfloat16) for k, v in core.state_dict().items()}
    fused = apply_loras(StateDict(base_sd, torch.device("cpu"), 0, {torch.bfloat16}),
                        [LoraStateDictWithStrength(lora_sd, 1.0)], dtype=torch.float32)
    changed = [k for k in targets if not torch.equal(fused.sd[k], base_sd[k].float())]
    assert len(changed) == len(targets)
    core.load_state_dict(fused.sd)
    _, (lora_core, _) = _velocities(core, loaded, version)

    ours, theirs = lora_ours - base_ours, lora_core - base_core
    assert ours.norm() > 0.1 * base_ours.norm()  # the adapter does move the output
    torch.testing.assert_close(theirs, ours, rtol=1e-3, atol=1e-3)


def test_an_fp8_checkpoint_loads_as_ltx_core_dequantizes_it(tmp_path):
    """The fp8 variant: block linears quantized by ltx-core's own per-tensor quantizer, stored as
    ltx-core's scaled layout (fp8 ``weight`` [out, in], ``weight_scale``, ``input_scale``). Loaded,
    the model holds ltx-core's dequantization of each weight and gives its velocities."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    version = "2.3"
    core = ref.tiny_transformer(version)
    quantized, state = ref.fp8_tensors(core)
    assert len(quantized) >= 3 * 20
    path = ref.save_official(tmp_path / "ltx-2.3-tiny-fp8.safetensors", core, version, extra=quantized)

    loaded = single_file.load_transformer(single_file.read_checkpoint(path), version, dtype=torch.float32)
    some = next(k for k in quantized if k.endswith(".weight"))[len("model.diffusion_model."):]
    torch.testing.assert_close(loaded.state_dict()[names.to_diffusers(some)[1]], state[some], rtol=0, atol=0)
    core.load_state_dict(state)  # the reference runs on ltx-core's dequantized weights
    (ours_v, ours_a), (core_v, core_a) = _velocities(core, loaded, version)
    torch.testing.assert_close(ours_v, core_v, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours_a, core_a, rtol=1e-4, atol=1e-4)

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    orphan = tmp_path / "orphan.safetensors"
    save_file({**load_file(str(path)), "model.diffusion_model.transformer_blocks.1.attn1.ghost.weight_scale":
               torch.tensor(1.0)}, str(orphan), metadata=metadata)
    with pytest.raises(single_file.CheckpointKeyError, match="scales a weight the file does not have"):
        single_file.load_transformer(single_file.read_checkpoint(orphan), version)

    # a per-channel scale is another quantization format: refused, never broadcast into the weight
    weight = next(k for k in quantized if k.endswith(".weight"))
    per_channel = tmp_path / "per_channel.safetensors"
    tensors = load_file(str(path))
    tensors[weight[: -len(".weight")] + ".weight_scale"] = torch.ones(tensors[weight].shape[0])
    save_file(tensors, str(per_channel), metadata=metadata)
    with pytest.raises(single_file.CheckpointFormatError, match="only per-tensor fp8 scales"):
        single_file.load_transformer(single_file.read_checkpoint(per_channel), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_the_text_connectors_give_ltx_cores_prompt_embeddings(tmp_path, version):
    """Gemma hidden states -> per-modality prompt embeddings: ltx-core's ``EmbeddingsProcessor``
    (feature extractor and both connectors, learnable registers in place of left padding) and the
    diffusers connectors loaded from the same file agree."""
    processor = ref.tiny_text_processor(version)
    path = ref.save_official(tmp_path / "t.safetensors", ref.tiny_transformer(version), version,
                             extra=ref.official_text_tensors(processor))
    text = tiny.TINY_TEXT
    connectors = single_file.load_connectors(single_file.read_checkpoint(path), text["hidden_size"],
                                             text["num_hidden_layers"])
    g = torch.Generator().manual_seed(0)
    hidden = tuple(torch.randn(1, 16, text["hidden_size"], generator=g) for _ in range(text["num_hidden_layers"] + 1))
    mask = torch.ones(1, 16, dtype=torch.long)
    mask[0, :5] = 0  # Gemma pads on the left; ltx-core replaces padding for batch size 1 only
    with torch.no_grad():
        theirs = processor.process_hidden_states(hidden, mask, padding_side="left")
        video, audio, out_mask = connectors(torch.stack(hidden, dim=-1).flatten(2, 3), mask, padding_side="left")
    assert theirs.video_encoding.abs().max() > 1
    torch.testing.assert_close(video, theirs.video_encoding, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(audio, theirs.audio_encoding, rtol=1e-5, atol=1e-5)
    assert torch.equal(out_mask.long(), theirs.attention_mask.long())

    # the RoPE length is read from the config: ltx-core's default (1) would give other embeddings
    wrong = single_file.connectors_config(single_file.read_checkpoint(path).config, text["hidden_size"],
                                          text["num_hidden_layers"], (tiny.TINY_REGISTERS, tiny.TINY_REGISTERS))
    assert wrong["connector_rope_base_seq_len"] == ref.CONNECTOR_MAX_POS
    connectors.video_connector.rope.base_seq_len = 1
    with torch.no_grad():
        moved, _, _ = connectors(torch.stack(hidden, dim=-1).flatten(2, 3), mask, padding_side="left")
    assert not torch.allclose(moved, theirs.video_encoding, atol=1e-3)


def _official_file(tmp_path, version="2.3", kind="float32"):
    """A tiny official file: ltx-core's transformer and text processor, in float32, or as the
    releases store them (``bf16``, and ``fp8`` with ltx-core's scaled block linears)."""
    core, text = ref.tiny_transformer(version), ref.official_text_tensors(ref.tiny_text_processor(version))
    path = tmp_path / f"ltx-{version}-tiny-{kind}.safetensors"
    if kind == "fp8":
        return ref.save_official_fp8(path, core, version, extra=text)[0]
    return ref.save_official(path, core, version, extra=text, dtype=torch.bfloat16 if kind == "bf16" else None)


def test_model_checkpoint_is_checked_before_anything_is_written(tmp_path):
    from ltxbench import errors as ltxbench_errors
    from ltxbench.params import loading as params_loading

    from conftest import small_params

    good = _official_file(tmp_path)
    assert params_loading.load(small_params(tmp_path, model={"checkpoint": str(good)})).model.checkpoint == good
    older = _official_file(tmp_path, "2.0")
    with pytest.raises(ltxbench_errors.ParamsError) as caught:
        params_loading.load(small_params(tmp_path, model={"checkpoint": str(older)}))
    assert "model.checkpoint" in str(caught.value) and "holds LTX-2.0 weights" in str(caught.value)
    with pytest.raises(ltxbench_errors.ParamsError, match="file not found"):
        params_loading.load(small_params(tmp_path, model={"checkpoint": str(tmp_path / "absent.safetensors")}))


def test_a_checkpoint_under_the_home_folder_is_found_with_a_tilde(tmp_path, monkeypatch):
    from ltxbench.params import loading as params_loading

    from conftest import small_params

    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    good = _official_file(home / "models")
    monkeypatch.setenv("HOME", str(home))
    loaded = params_loading.load(small_params(tmp_path, model={"checkpoint": f"~/models/{good.name}"}))
    assert loaded.model.checkpoint == good


@pytest.mark.parametrize("kind", ["bf16", "fp8"])
def test_a_run_on_an_official_checkpoint_runs_the_four_stages_on_its_weights(tmp_path, kind):
    import json

    from ltxbench import pipeline

    from conftest import small_params

    file = _official_file(tmp_path, kind=kind)
    pipe = loading.load_pipeline("2.3", "tiny", device="cpu", checkpoint=file)
    core = ref.tiny_transformer("2.3")
    quantized, dequantized = ref.fp8_tensors(core) if kind == "fp8" else ({}, {})
    loaded = pipe.transformer.state_dict()
    for key, value in core.state_dict().items():
        # the bf16 file's values, read into model.dtype (float32); fp8 weights dequantized in float32
        want = dequantized[key] if f"model.diffusion_model.{key}" in quantized else value.to(torch.bfloat16).float()
        assert torch.equal(loaded[names.to_diffusers(key)[1]], want), key

    run_dir = tmp_path / "run"
    result = pipeline.run_pipeline(small_params(tmp_path, model={"checkpoint": str(file)}), run_dir=run_dir, quiet=True)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete" and result.ran
    checkpoint = run_dir / "checkpoints" / "lora_step_000004.safetensors"
    assert L.read_metadata(checkpoint)["base_model_checkpoint"] == str(file)
    records = [json.loads(p.read_text()) for p in (run_dir / "samples").rglob("*.json")]
    assert records and all("checkpoint=" in r["base"] for r in records if "base" in r)
    assert (run_dir / "eval" / "metrics.csv").read_text().count("\n") > 1


def test_the_video_vae_decodes_as_ltx_cores_decoder(tmp_path):
    """ltx-core's ``VideoDecoder`` (its configurator, the tiny pipeline's decoder shapes) and the
    diffusers VAE the file is loaded into decode the same latents to the same pixels."""
    decoder = ref.tiny_vae_decoder()
    donor = tiny.build_tiny_pipeline("2.3")
    path = ref.save_official(tmp_path / "t.safetensors", ref.tiny_transformer("2.3"), "2.3",
                             extra={**ref.official_text_tensors(ref.tiny_text_processor("2.3")),
                                    **ref.official_vae_tensors(decoder, donor.vae)})
    pipe = tiny.build_tiny_pipeline("2.3", seed=5)
    latents = torch.randn(1, 128, 2, 2, 3, generator=torch.Generator().manual_seed(0))
    before = forward.decode_video(pipe, latents)
    loading.replace_from_checkpoint(pipe, "2.3", path)
    ours = forward.decode_video(pipe, latents)
    with torch.no_grad():
        theirs = decoder(latents)
    assert ours.shape == theirs.shape == (1, 3, 9, 64, 96)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(before, theirs, atol=1e-2)  # the comparison is of the file's weights


def test_the_vae_block_rule_reproduces_diffusers_map_for_the_released_layout():
    """Released VAEs: encoder res/down x4 + mid (9 blocks), decoder mid + (up, res) x3 (7 blocks).
    There diffusers' fixed table and ltxbench's alternation rule must agree on every key."""
    from diffusers.loaders.single_file_utils import convert_ltx2_vae_to_diffusers

    keys = [f"vae.encoder.down_blocks.{i}.{'res_blocks.0.conv1' if i % 2 == 0 else 'conv'}.conv.weight" for i in range(9)]
    keys += [f"vae.decoder.up_blocks.{i}.{'res_blocks.0.conv1' if i % 2 == 0 else 'conv'}.conv.weight" for i in range(7)]
    keys += ["vae.per_channel_statistics.mean-of-means", "vae.per_channel_statistics.std-of-means"]
    tensors = {k: torch.zeros(1) for k in keys}
    ours = set(single_file.convert_video_vae(tensors))
    theirs = set(convert_ltx2_vae_to_diffusers(dict(tensors)))
    assert ours == theirs, sorted(ours ^ theirs)


def test_a_folder_source_gets_the_files_transformer_without_loading_its_own(tmp_path, monkeypatch):
    """With a diffusers folder as model.source (here the embedded pretrained base), the file's
    transformer and connectors are handed to from_pretrained, so the folder's own transformer is
    never read."""
    from diffusers import LTX2VideoTransformer3DModel

    file = _official_file(tmp_path)
    reads = []
    original = LTX2VideoTransformer3DModel.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        reads.append(args)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(LTX2VideoTransformer3DModel, "from_pretrained", classmethod(counting))
    pipe = loading.load_pipeline("2.3", locate.TINY_PRETRAINED, device="cpu", checkpoint=file)
    assert reads == []
    assert pipe.transformer.config.num_layers == tiny.TINY_TRANSFORMER["num_layers"]  # the file's, not the folder's
    core = ref.tiny_transformer("2.3").state_dict()
    mine = pipe.transformer.state_dict()
    assert all(torch.equal(mine[names.to_diffusers(k)[1]], v) for k, v in core.items())


# ---------------------------------------------------------------------------------------
# LTX-2.5's split release: the transformer file (diffusion_models/ltx-2.5-22b-*-transformer-*)
# ---------------------------------------------------------------------------------------


def _split_25_file(tmp_path, seed=0):
    """(path, ltx-core transformer, ltx-core text processor): a tiny LTX-2.5 transformer file laid out
    as the release's (``model.diffusion_model.*`` with the connector blocks, no projection)."""
    core, processor = ref.tiny_transformer("2.5", seed=seed), ref.tiny_text_processor("2.5")
    path = ref.save_split_25(tmp_path / "ltx-2.5-tiny-dev-transformer-bf16.safetensors", core,
                             ref.official_text_tensors(processor))
    return path, core, processor


def test_ltx_2_5s_transformer_file_gives_ltx_cores_velocities_without_the_video_ff_biases(tmp_path):
    path, core, _ = _split_25_file(tmp_path)
    checkpoint = single_file.open_checkpoint(path, "2.5")
    assert single_file.detect_version(checkpoint) == "2.5"
    assert not single_file.has_text_projection(checkpoint)
    loaded = single_file.load_transformer(checkpoint, "2.5")
    assert versions.detect_version(loaded.config) == "2.5"
    assert loaded.config.ff_bias is False and loaded.config.audio_ff_bias is True
    assert loaded.transformer_blocks[0].ff.net[2].bias is None
    assert loaded.transformer_blocks[0].audio_ff.net[2].bias is not None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        marker = f.get_tensor("model.diffusion_model.keyframes_abs_pos_embedding")
    assert torch.equal(loaded.keyframes_abs_pos_embedding.detach(), marker)

    (ours_v, ours_a), (core_v, core_a) = _velocities(core, loaded, "2.5")
    assert core_v.abs().max() > 1 and core_a.abs().max() > 1
    torch.testing.assert_close(ours_v, core_v, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours_a, core_a, rtol=1e-4, atol=1e-4)

    # as a 2.3 file (the same keys, biases expected) it does not load: the flag decides
    with pytest.raises(errors.VersionMismatchError, match="LTX-2.5"):
        single_file.open_checkpoint(path, "2.3")


def test_the_2_5_file_takes_its_connector_blocks_and_the_sources_projection(tmp_path):
    """On a 2.5 source (tiny, and a diffusers folder), the file's transformer and connector blocks
    replace the source's; the input projection, which the release keeps with the Gemma 4 encoder,
    stays the source's; the prompt embeddings then equal ltx-core's for the same projection."""
    path, core, processor = _split_25_file(tmp_path)
    source = tiny.build_tiny_pipeline("2.5")
    folder = tmp_path / "ltx-2.5-diffusers"
    source.save_pretrained(folder)
    own_projection = single_file.text_projection(source.connectors)
    assert own_projection and all(k.split(".")[0] in names.PROJECTION_MODULES for k in own_projection)
    for where in ("tiny", str(folder)):
        pipe = loading.load_pipeline("2.5", where, device="cpu", checkpoint=path)
        state = pipe.connectors.state_dict()
        assert all(torch.equal(state[k], v) for k, v in own_projection.items())
        blocks = {names.to_diffusers(k[len("model.diffusion_model."):])[1]: v
                  for k, v in ref.official_text_tensors(processor).items() if k.startswith("model.diffusion_model.")}
        assert blocks and all(torch.equal(state[k], v) for k, v in blocks.items())
        mine = pipe.transformer.state_dict()
        assert torch.equal(mine["proj_in.weight"], core.state_dict()["patchify_proj.weight"])

    # ltx-core's processor with the source's projection gives the pipeline's prompt embeddings
    with torch.no_grad():
        extractor = processor.feature_extractor
        extractor.video_aggregate_embed.weight.copy_(own_projection["video_text_proj_in.weight"])
        extractor.video_aggregate_embed.bias.copy_(own_projection["video_text_proj_in.bias"])
        extractor.audio_aggregate_embed.weight.copy_(own_projection["audio_text_proj_in.weight"])
        extractor.audio_aggregate_embed.bias.copy_(own_projection["audio_text_proj_in.bias"])
    text = tiny.TINY_TEXT
    g = torch.Generator().manual_seed(0)
    hidden = tuple(torch.randn(1, 16, text["hidden_size"], generator=g) for _ in range(text["num_hidden_layers"] + 1))
    mask = torch.ones(1, 16, dtype=torch.long)
    mask[0, :5] = 0
    with torch.no_grad():
        theirs = processor.process_hidden_states(hidden, mask, padding_side="left")
        video, audio, _ = pipe.connectors(torch.stack(hidden, dim=-1).flatten(2, 3), mask, padding_side="left")
    torch.testing.assert_close(video, theirs.video_encoding, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(audio, theirs.audio_encoding, rtol=1e-5, atol=1e-5)


def test_a_split_release_file_that_is_not_the_transformer_is_refused_naming_the_one_to_use(tmp_path):
    from safetensors.torch import save_file

    encoder = tmp_path / "gemma4-12b-with-proj-ltx-2.5-bf16.safetensors"
    save_file({"model.language_model.layers.0.mlp.down_proj.weight": torch.zeros(2, 2),
               "text_embedding_projection.video_aggregate_embed.weight": torch.zeros(2, 2)}, str(encoder))
    problems = single_file.checkpoint_problems(encoder, "2.5")
    assert len(problems) == 1 and "diffusion_models/ltx-2.5-22b-dev-transformer-bf16.safetensors" in problems[0].allowed
    # the transformer file alone, with nothing to take the projection from, says where it is
    path, _, _ = _split_25_file(tmp_path)
    with pytest.raises(single_file.CheckpointFormatError, match="input projection"):
        single_file.load_connectors(single_file.read_checkpoint(path), tiny.TINY_TEXT["hidden_size"],
                                    tiny.TINY_TEXT["num_hidden_layers"])
