"""LTX-2's Gemma text encoder from a file (ComfyUI's ``models/text_encoders/``) or a folder.

A tiny Gemma 3 (the tiny pipeline's, seeded) is saved in each spelling real files use; loaded
through ltxbench it must give the hidden states of the model it was saved from, which is what
LTX-2 reads. ltx-core is the reference for the release layout's names and for the 12B config.
"""

from __future__ import annotations

import io
import json

import pytest
import torch

from ltxbench.model import gemma_file, loading, locate, single_file, tiny

PHRASES = ["a photo of a person walking on a beach", "ohwx man smiles at the camera, twice",
           "the quick brown fox jumps over the lazy dog", "close-up of a woman laughing in the rain"]


def tiny_spm(vocab_size: int = 96) -> bytes:
    """A SentencePiece BPE model laid out like Gemma's: <pad>/<eos>/<bos>/<unk> = 0/1/2/3, no dummy
    prefix, no normalisation; small enough for the tiny encoder's 264-token vocabulary."""
    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(PHRASES * 20), model_writer=out, vocab_size=vocab_size, model_type="bpe",
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
        unk_piece="<unk>", add_dummy_prefix=False, normalization_rule_name="identity",
        remove_extra_whitespaces=False, character_coverage=1.0, minloglevel=2)
    return out.getvalue()


def tiny_gemma():
    torch.manual_seed(5)
    return tiny._tiny_text_encoder().eval()


def text_config(model) -> dict:
    return model.config.text_config.to_dict()


def save_gemma(path, model, spelling: str, tokenizer: bytes | None = None, config_in_file: bool = True,
               dtype: torch.dtype | None = None, extra: dict | None = None):
    """``model``'s weights under one of the key spellings real files use."""
    import numpy as np
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    out = {}
    for key, value in state.items():
        if key == "lm_head.weight":
            continue  # tied to embed_tokens, as Google's release and ComfyUI leave it out
        if key.startswith("model.language_model."):
            rest = key[len("model.language_model."):]
            name = {"comfyui": "model.", "release": "language_model.model.", "transformers": "model.language_model."}[spelling] + rest
        elif spelling == "comfyui":
            continue  # ComfyUI's text-encoder file holds the text model only
        else:
            name = key[len("model."):] if spelling == "release" else key
        out[name] = value.to(dtype) if dtype is not None and value.is_floating_point() else value
    if tokenizer is not None:
        out[gemma_file.TOKENIZER_KEY] = torch.from_numpy(np.frombuffer(tokenizer, dtype=np.uint8).copy())
    out.update(extra or {})
    metadata = {"config": json.dumps(text_config(model))} if config_in_file else None
    save_file(out, str(path), metadata=metadata)
    return path


def hidden_states(model, ids):
    mask = torch.ones_like(ids)
    with torch.no_grad():
        return torch.stack(model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states)


IDS = torch.randint(8, 264, (2, 11), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("spelling", ["comfyui", "release", "transformers"])
def test_every_key_spelling_gives_the_hidden_states_ltx_reads(tmp_path, spelling):
    original = tiny_gemma()
    path = save_gemma(tmp_path / "gemma.safetensors", original, spelling, tokenizer=tiny_spm())
    loaded = gemma_file.load_text_encoder(path, torch.float32)
    assert type(loaded).__name__ == "Gemma3ForCausalLM"
    theirs = hidden_states(original, IDS)
    assert theirs.abs().max() > 0.1
    torch.testing.assert_close(hidden_states(loaded, IDS), theirs, rtol=1e-5, atol=1e-5)


def test_a_config_beside_the_file_is_read_and_without_one_the_shapes_must_be_ltx2s_12b(tmp_path):
    original = tiny_gemma()
    folder = tmp_path / "text_encoders"
    folder.mkdir()
    path = save_gemma(folder / "gemma.safetensors", original, "release", tokenizer=tiny_spm(), config_in_file=False)
    (folder / "config.json").write_text(json.dumps(original.config.to_dict()))  # a full Gemma3Config
    torch.testing.assert_close(hidden_states(gemma_file.load_text_encoder(path, torch.float32), IDS),
                               hidden_states(original, IDS), rtol=1e-5, atol=1e-5)
    (folder / "config.json").unlink()
    with pytest.raises(single_file.CheckpointFormatError, match=r"\(264, 32\), not LTX-2's Gemma 3 12B's .*config.json"):
        gemma_file.load_text_encoder(path)


def test_the_12b_config_and_the_release_names_are_ltx_cores(tmp_path):
    from dataclasses import asdict

    import ltx_core.loader  # noqa: F401  (ltx-core's own import order)
    from ltx_core.text_encoders.gemma.config import GEMMA3_CONFIG_FOR_LTX
    from ltx_core.text_encoders.gemma.encoders.encoder_configurator import GEMMA_LLM_KEY_OPS

    assert gemma_file.GEMMA3_12B_TEXT == asdict(GEMMA3_CONFIG_FOR_LTX.text_config)
    original = tiny_gemma()
    path = save_gemma(tmp_path / "gemma.safetensors", original, "release")
    found = gemma_file.read_gemma_file(path)
    targets = set(original.state_dict())
    for key, ours in found.names.items():
        # ltx-core puts Gemma3ForConditionalGeneration at ``model.``; ours is the text model alone
        theirs = GEMMA_LLM_KEY_OPS.apply_to_key(key)
        assert theirs == "model." + ours.replace("model.", "model.language_model.", 1), (key, theirs, ours)
        assert theirs[len("model."):] in targets
    assert found.set_aside and all(GEMMA_LLM_KEY_OPS.apply_to_key(k)[len("model."):] in targets for k in found.set_aside)


def test_fp8_files_load_dequantized(tmp_path):
    """ComfyUI's ``gemma_3_12B_it_fp8_e4m3fn``: weights cast to fp8 (no scale), or per-tensor
    scaled as ltx-core stores its fp8 linears."""
    original = tiny_gemma()
    plain = save_gemma(tmp_path / "plain_fp8.safetensors", original, "comfyui", tokenizer=tiny_spm())
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(plain))
    linears = [k for k in tensors if k.endswith("proj.weight")]
    assert len(linears) == 14
    expected = {}
    for key in linears:
        tensors[key] = tensors[key].to(torch.float8_e4m3fn)
        expected[key] = tensors[key].to(torch.float32)
    save_file(tensors, str(plain), metadata={"config": json.dumps(text_config(original))})
    loaded = gemma_file.load_text_encoder(plain, torch.float32).state_dict()
    assert all(torch.equal(loaded[k], expected[k]) for k in linears)

    scaled = dict(tensors)
    for key in linears:
        scaled[key[: -len(".weight")] + ".weight_scale"] = torch.tensor(0.5)
    save_file(scaled, str(tmp_path / "scaled.safetensors"), metadata={"config": json.dumps(text_config(original))})
    loaded = gemma_file.load_text_encoder(tmp_path / "scaled.safetensors", torch.float32).state_dict()
    assert all(torch.equal(loaded[k], expected[k] * 0.5) for k in linears)


def test_the_tokenizer_inside_a_comfyui_file_tokenizes_as_sentencepiece_does(tmp_path):
    import sentencepiece as spm

    model = tiny_spm()
    path = save_gemma(tmp_path / "gemma.safetensors", tiny_gemma(), "comfyui", tokenizer=model)
    tokenizer = gemma_file.load_tokenizer(path)
    reference = spm.SentencePieceProcessor(model_proto=model)
    for text in PHRASES + ["Ohwx, in  two   spaces!", "caf\u00e9 at 3 o'clock"]:
        assert tokenizer(text)["input_ids"] == reference.encode(text, add_bos=True), text
    padded = tokenizer(["ohwx", "ohwx man smiles"], padding=True)["input_ids"]
    assert padded[0][0] == 0 and padded[0][-1] != 0  # Gemma pads on the left


def test_missing_tokenizer_unknown_keys_and_missing_file_are_named(tmp_path):
    bare = save_gemma(tmp_path / "gemma.safetensors", tiny_gemma(), "comfyui")
    problems = gemma_file.text_encoder_problems(bare)
    assert len(problems) == 1 and "has no tokenizer inside" in problems[0].allowed \
        and "tokenizer.model" in problems[0].allowed, problems
    (tmp_path / "tokenizer.model").write_bytes(tiny_spm())  # beside the file, as a folder copy has it
    assert gemma_file.text_encoder_problems(bare) == []
    assert gemma_file.load_tokenizer(bare)("ohwx")["input_ids"][0] == 2

    odd = save_gemma(tmp_path / "odd.safetensors", tiny_gemma(), "comfyui", tokenizer=tiny_spm(),
                     extra={"optimizer.exp_avg": torch.zeros(1)})
    with pytest.raises(single_file.CheckpointKeyError, match="not Gemma 3's .*optimizer.exp_avg"):
        gemma_file.read_gemma_file(odd)
    absent = gemma_file.text_encoder_problems(tmp_path / "gemma_3_12B_it.safetensors")
    assert len(absent) == 1 and "ComfyUI/models/text_encoders/" in absent[0].allowed


def test_the_pipeline_encodes_prompts_with_the_files_encoder_and_tokenizer(tmp_path):
    """Tiny source, text encoder from a ComfyUI file: the prompt embeddings are those of the model
    the file was saved from, through the file's own tokenizer; a folder source never reads its
    own encoder; an encoder of another width is refused, naming both shapes."""
    from transformers import Gemma3ForConditionalGeneration

    original = tiny_gemma()
    path = save_gemma(tmp_path / "gemma_3_12B_it.safetensors", original, "comfyui", tokenizer=tiny_spm())
    pipe = loading.load_pipeline("2.3", "tiny", device="cpu", text_encoder=path)
    assert type(pipe.text_encoder).__name__ == "Gemma3ForCausalLM"
    prompt = "ohwx man smiles at the camera"
    assert pipe.tokenizer(prompt)["input_ids"][1:] == pipe.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        ours = pipe.encode_prompt(prompt, do_classifier_free_guidance=False, max_sequence_length=32, device="cpu")[0]
        pipe.text_encoder = original
        theirs = pipe.encode_prompt(prompt, do_classifier_free_guidance=False, max_sequence_length=32, device="cpu")[0]
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)

    def refuse(*args, **kwargs):
        raise AssertionError("the folder's own text encoder was read")

    original_loader = Gemma3ForConditionalGeneration.from_pretrained
    Gemma3ForConditionalGeneration.from_pretrained = classmethod(refuse)
    try:
        folder_pipe = loading.load_pipeline("2.3", locate.TINY_PRETRAINED, device="cpu", text_encoder=path)
    finally:
        Gemma3ForConditionalGeneration.from_pretrained = original_loader
    assert type(folder_pipe.text_encoder).__name__ == "Gemma3ForCausalLM"

    wider = tiny._tiny_text_encoder()
    config = text_config(wider) | {"hidden_size": 48}
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    other = Gemma3ForCausalLM(Gemma3TextConfig(**{k: v for k, v in config.items() if k != "model_type"}))
    wide = tmp_path / "wide.safetensors"
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in other.state_dict().items() if k != "lm_head.weight"}
              | {gemma_file.TOKENIZER_KEY: torch.frombuffer(bytearray(tiny_spm()), dtype=torch.uint8)},
              str(wide), metadata={"config": json.dumps(config)})
    with pytest.raises(ValueError, match="3 hidden states of width 48, but the text connectors read 3 of width 32"):
        loading.load_pipeline("2.3", "tiny", device="cpu", text_encoder=wide)


def test_a_run_on_comfyuis_files_runs_the_four_stages(tmp_path):
    """What a ComfyUI user has: the official checkpoint (bf16) and the Gemma file with its
    tokenizer inside. Curate, caption, train and evaluate run on them; the caption lint counts
    the file's tokens; the model's identity names both files."""
    from ltxbench import errors, pipeline
    from ltxbench.params import loading as params_loading

    import ltx_core_reference as ref
    from conftest import small_params

    checkpoint = ref.save_official(tmp_path / "ltx-2.3-tiny-dev.safetensors", ref.tiny_transformer("2.3"), "2.3",
                                   extra=ref.official_text_tensors(ref.tiny_text_processor("2.3")), dtype=torch.bfloat16)
    encoder = save_gemma(tmp_path / "gemma_3_12B_it.safetensors", tiny_gemma(), "comfyui", tokenizer=tiny_spm(),
                         dtype=torch.bfloat16)
    params_file = small_params(tmp_path, model={"checkpoint": str(checkpoint), "text_encoder": str(encoder)})
    assert params_loading.load(params_file).model.text_encoder == encoder
    run_dir = tmp_path / "run"
    result = pipeline.run_pipeline(params_file, run_dir=run_dir, quiet=True)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete" and result.ran
    from ltxbench.caption.lint import model_tokenizer, token_counter

    counter = token_counter(*model_tokenizer(params_loading.load(params_file).model))
    assert counter.tokenizer is not None and "gemma_3_12B_it.safetensors" in counter.note
    assert counter.sequence_length("ohwx man") == len(gemma_file.load_tokenizer(encoder)("ohwx man")["input_ids"])
    records = [json.loads(p.read_text()) for p in (run_dir / "samples").rglob("*.json")]
    assert records and all("text_encoder=" in r["base"] for r in records if "base" in r)
    assert (run_dir / "eval" / "metrics.csv").read_text().count("\n") > 1

    broken = small_params(tmp_path, model={"text_encoder": str(tmp_path / "absent.safetensors")})
    with pytest.raises(errors.ParamsError, match="model.text_encoder.*ComfyUI/models/text_encoders/"):
        params_loading.load(broken)
