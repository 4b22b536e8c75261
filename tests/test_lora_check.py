"""LoRA check (issue 6): integrity, formats, version evidence, coverage, effect, verdict, CLI.

Every LoRA here is built in the test from the real (tiny or full-size) LTX-2 module shapes and
written in the layout each tool in the wild uses; nothing of diffusers / peft / safetensors is
mocked. Full-size LoRAs stay small by using rank 1 on a few modules.
"""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ltxbench.lora import files as lora
from ltxbench.lora.check import names
from ltxbench.lora.check.check import IncompatibleLoRAError, check_lora, require_compatible
from ltxbench.lora.check.cli import add_check_lora_parser, run_check_lora
from ltxbench.lora.check.convert import convert_for_diffusers
from ltxbench.lora.check.integrity import read_header
from ltxbench.model import forward, tiny

# Targets that cover the renames (proj_in, time_embed, prompt_adaln, av_cross_attn_*), 2.3-only
# modules (to_gate_logits, prompt_adaln), every stream, and both connector layouts.
MIXED_23 = [
    ("transformer", "transformer_blocks.0.attn1.to_q"),
    ("transformer", "transformer_blocks.0.attn1.to_out.0"),
    ("transformer", "transformer_blocks.1.attn2.to_k"),
    ("transformer", "transformer_blocks.0.attn1.to_gate_logits"),
    ("transformer", "transformer_blocks.1.audio_attn2.to_v"),
    ("transformer", "transformer_blocks.0.audio_to_video_attn.to_out.0"),
    ("transformer", "transformer_blocks.1.ff.net.0.proj"),
    ("transformer", "transformer_blocks.1.audio_ff.net.2"),
    ("transformer", "proj_in"),
    ("transformer", "time_embed.linear"),
    ("transformer", "prompt_adaln.linear"),
    ("transformer", "av_cross_attn_video_scale_shift.linear"),
    ("connectors", "video_connector.transformer_blocks.0.attn1.to_q"),
    ("connectors", "video_text_proj_in"),
]
VIDEO_ATTN = [("transformer", f"transformer_blocks.{b}.{a}.{p}") for b in (0, 1) for a in ("attn1", "attn2")
              for p in ("to_q", "to_k", "to_v", "to_out.0")]
RANK, ALPHA = 4, 8.0  # scale 2: a loader that ignores alpha is off by a factor of two


@pytest.fixture(scope="module")
def tiny23():
    return tiny.build_tiny_pipeline("2.3")


@pytest.fixture(scope="module")
def tiny20():
    return tiny.build_tiny_pipeline("2.0")


def _shapes(pipe) -> dict[tuple[str, str], tuple[int, int]]:
    out = {}
    for component in ("transformer", "connectors"):
        for name, module in getattr(pipe, component).named_modules():
            if isinstance(module, torch.nn.Linear) and "lora_" not in name and "base_layer" not in name:
                out[(component, name)] = tuple(module.weight.shape)
    return out


def _factors(shapes, targets, seed=0, zero_b=False) -> dict:
    g = torch.Generator().manual_seed(seed)
    factors = {}
    for t in targets:
        out_f, in_f = shapes[t]
        a = torch.randn(RANK, in_f, generator=g) * 0.3
        b = torch.zeros(out_f, RANK) if zero_b else torch.randn(out_f, RANK, generator=g) * 0.3
        factors[t] = (a, b)
    return factors


def _write(path: Path, factors: dict, fmt: str, alpha: float | None = ALPHA, metadata=None) -> Path:
    """Write ``factors`` ({target: (A, B)}) as tool ``fmt`` would; formats that cannot carry alpha
    get it folded into B, so every layout has the same effect ``alpha/rank * B @ A``."""
    sd: dict[str, torch.Tensor] = {}
    scale = (alpha / RANK) if alpha is not None else 1.0
    for i, (target, (a, b)) in enumerate(factors.items()):
        original, diffusers_name = names.to_original(target), names.display(target)
        raw = target[1]
        if fmt == "kohya":
            stem, down, up = f"lora_unet_{names.flatten(original)}", "lora_down", "lora_up"
        elif fmt in ("comfyui", "comfyui-downup", "comfyui-checkpoint", "mixed"):
            prefix = {"comfyui-checkpoint": "model.diffusion_model."}.get(fmt, "diffusion_model.")
            if original.startswith("text_embedding_projection."):
                prefix = ""  # top level in LTX checkpoints, outside diffusion_model
            stem = f"{prefix}{original}"
            if fmt == "mixed" and i % 2:
                stem = raw if target[0] == "transformer" else diffusers_name
            down, up = ("lora_down", "lora_up") if fmt == "comfyui-downup" else ("lora_A", "lora_B")
        elif fmt == "diffusers":
            stem, down, up = diffusers_name, "lora_A", "lora_B"
        elif fmt == "peft":
            stem, down, up = raw, "lora_A", "lora_B"
        else:
            raise ValueError(fmt)
        with_alpha = fmt in ("kohya", "comfyui", "comfyui-downup") and alpha is not None
        sd[f"{stem}.{down}.weight"] = a.contiguous()
        sd[f"{stem}.{up}.weight"] = (b if with_alpha else b * scale).contiguous()
        if with_alpha:
            sd[f"{stem}.alpha"] = torch.tensor(alpha)
    save_file(sd, str(path), metadata=metadata)
    return path


def _strip_metadata(path: Path, out: Path) -> Path:
    from safetensors.torch import load_file

    save_file(load_file(str(path)), str(out))
    return out


def _forward(pipe) -> torch.Tensor:
    cond = forward.encode_prompts(pipe, ["obmx talking"], max_sequence_length=32)
    x = torch.randn(1, 128, 2, 2, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return forward.transformer_forward(pipe, x, None, cond, 0.5, generator=torch.Generator().manual_seed(2)).video


def _merged_forward(version: str, factors: dict, scale: float) -> torch.Tensor:
    """The LoRA's defined effect, independent of any loader: W += scale * B @ A."""
    pipe = tiny.build_tiny_pipeline(version)
    with torch.no_grad():
        for (component, module), (a, b) in factors.items():
            getattr(pipe, component).get_submodule(module).weight += scale * (b @ a)
    return _forward(pipe)


def _lora_modules(pipe, adapter: str) -> int:
    return sum(1 for c in ("transformer", "connectors") for _, m in getattr(pipe, c).named_modules()
               if hasattr(m, "lora_A") and adapter in m.lora_A)


def _cli(*argv: str, capsys=None) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="ltxbench")
    add_check_lora_parser(parser.add_subparsers(dest="command", required=True))
    code = run_check_lora(parser.parse_args(["check-lora", *argv]))
    return code, capsys.readouterr().out if capsys else ""


def _full_size(path: Path, targets: list[tuple[str, str]], version: str, metadata=None, zero_b=False) -> Path:
    """A rank-1 LoRA with the real full-size shapes of ``version`` (small even at 4096 wide)."""
    from ltxbench.model.architecture import version_table

    table = version_table(version)
    sd = {}
    for i, t in enumerate(targets):
        out_f, in_f = table[t]
        g = torch.Generator().manual_seed(i)
        sd[f"diffusion_model.{names.to_original(t)}.lora_A.weight"] = torch.randn(1, in_f, generator=g) * 0.01
        sd[f"diffusion_model.{names.to_original(t)}.lora_B.weight"] = torch.randn(out_f, 1, generator=g) * (0 if zero_b else 0.01)
    save_file(sd, str(path), metadata=metadata)
    return path


# -- 1. integrity -------------------------------------------------------------------------------


def test_truncated_and_damaged_files_are_corrupt_with_a_precise_message(tmp_path, tiny23, capsys):
    good = _write(tmp_path / "good.safetensors", _factors(_shapes(tiny23), VIDEO_ATTN), "comfyui")
    data = good.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[:-100])
    report = check_lora(cut, tiny23)
    assert report.verdict == "corrupt" and report.exit_code == 1
    assert "truncated" in report.reasons[0] and "(100 missing)" in report.reasons[0]
    assert _cli(str(cut), "--base", "2.3", capsys=capsys)[0] == 1

    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(data[:8] + b"#" + data[9:])  # first byte of the JSON header
    assert check_lora(damaged).verdict == "corrupt"
    assert "not valid UTF-8 JSON" in check_lora(damaged).reasons[0]

    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(data + b"\0" * 16)  # bytes no header entry accounts for
    assert "16 bytes follow the last tensor" in check_lora(padded).reasons[0]


class _Bait:
    """Unpickling this creates a file: proof of whether anything was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_pickles_named_safetensors_are_refused_and_never_unpickled(tmp_path):
    proof = tmp_path / "the_bait_works"
    pickle.loads(pickle.dumps(_Bait(proof), protocol=2)).close()
    assert proof.exists()  # the bait does fire when unpickled

    marker = tmp_path / "was_unpickled"
    legacy = tmp_path / "legacy.safetensors"
    legacy.write_bytes(pickle.dumps({"w": _Bait(marker)}, protocol=2))
    zipped = tmp_path / "zipped.safetensors"
    torch.save({"lora_A": torch.zeros(2, 2)}, zipped)
    for path, word in ((legacy, "pickle"), (zipped, "zip archive")):
        report = check_lora(path, "2.3")
        assert report.verdict == "refused" and report.exit_code == 1
        assert word in report.reasons[0] and "not opened" in report.reasons[0]
    assert not marker.exists()


def test_a_valid_checkpoint_whose_header_length_starts_with_0x80_is_not_taken_for_a_pickle(tmp_path, tiny23):
    """Header lengths are multiples of 8, so about 1 in 32 of ltxbench's own checkpoints begins
    with byte 0x80, pickle's protocol marker (here: a longer character name in the provenance)."""
    peft_state = {f"{m}.lora_{ab}.weight": t for (c, m), (a, b) in _factors(_shapes(tiny23), VIDEO_ATTN).items()
                  for ab, t in (("A", a), ("B", b))}
    for length in range(1, 400):  # the provenance grows by one byte a step: some length hits 0x80
        prov = lora.Provenance(base_version="2.3", base_source="tiny", rank=RANK, alpha=ALPHA, targets="video_attention",
                               triggers={"o" * length: "obmx"}, step=5, stage="train", dataset_sha256="d" * 64,
                               params_sha256="p" * 64)
        path = lora.save_lora(tmp_path / f"lora_{length}.safetensors", peft_state, prov)
        if path.read_bytes()[:1] == b"\x80":
            break
    else:
        pytest.fail("no header length starting with 0x80 was produced")
    report = check_lora(path, tiny23)
    assert report.ok and report.verdict == "compatible", report.reasons
    assert len(read_header(path)[0]) == len(peft_state)


def test_nan_and_inf_tensors_make_the_file_corrupt(tmp_path, tiny23):
    factors = _factors(_shapes(tiny23), VIDEO_ATTN)
    a, b = factors[VIDEO_ATTN[3]]
    b[0, 0], b[1, 1] = float("nan"), float("inf")
    report = check_lora(_write(tmp_path / "nan.safetensors", factors, "comfyui"), tiny23)
    assert report.verdict == "corrupt" and "NaN/inf" in report.reasons[0]
    assert report.integrity["nonfinite"] == {f"diffusion_model.{VIDEO_ATTN[3][1]}.lora_B.weight": 2}


# -- 2. formats, conversion, diffusers' own traps ------------------------------------------------


@pytest.fixture(scope="module")
def mixed_lora(tiny23):
    """One LoRA's factors and its effect computed by merging ``W += alpha/rank * B @ A``."""
    factors = _factors(_shapes(tiny23), MIXED_23, seed=3)
    return factors, _merged_forward("2.3", factors, ALPHA / RANK)


@pytest.mark.parametrize("fmt", ["comfyui", "kohya", "comfyui-checkpoint", "peft", "mixed", "diffusers"])
def test_conversion_loads_every_key_through_diffusers_with_the_original_effect(tmp_path, tiny23, mixed_lora, fmt):
    factors, expected = mixed_lora
    path = _write(tmp_path / f"{fmt}.safetensors", factors, fmt)
    state, unmapped = convert_for_diffusers(path, base=tiny23)
    assert unmapped == {}
    assert len(state) == 2 * len(MIXED_23)

    tiny23.load_lora_weights(state, adapter_name=f"conv_{fmt.replace('-', '_')}")
    try:
        assert _lora_modules(tiny23, f"conv_{fmt.replace('-', '_')}") == len(MIXED_23)  # every key landed
        torch.testing.assert_close(_forward(tiny23), expected, atol=1e-4, rtol=1e-4)
    finally:
        tiny23.unload_lora_weights()
    report = check_lora(path, tiny23)
    assert report.ok, report.reasons
    assert report.formats.get({"mixed": "comfyui"}.get(fmt, fmt)) and report.coverage["matched"] == len(MIXED_23)


@pytest.mark.parametrize("fmt, alpha, outcome", [
    ("comfyui", ALPHA, ValueError),       # .alpha keys: 'Invalid LoRA checkpoint'
    ("comfyui-downup", None, IndexError),  # lora_down / lora_up names
    ("kohya", ALPHA, 0),                   # lora_unet_: ignored, only a warning
    ("comfyui-checkpoint", None, 0),       # model.diffusion_model.: ignored, only a warning
    ("mixed", None, 6),                    # keys without diffusion_model. dropped silently
    ("comfyui", None, 13),                 # connector blocks under diffusion_model. are lost
])
def test_the_predicted_diffusers_behaviour_matches_the_real_loader(tmp_path, tiny23, fmt, alpha, outcome):
    with_connectors = fmt == "comfyui" and alpha is None
    targets = MIXED_23 if with_connectors else [t for t in MIXED_23 if t[0] == "transformer"][:12]
    path = _write(tmp_path / f"{fmt}.safetensors", _factors(_shapes(tiny23), targets), fmt, alpha=alpha)
    predicted = check_lora(path, tiny23).loader
    adapter = f"asis_{fmt.replace('-', '_')}"
    try:
        if isinstance(outcome, type):
            assert predicted.raises and predicted.raises.startswith(outcome.__name__)
            with pytest.raises(outcome):
                tiny23.load_lora_weights(str(path), adapter_name=adapter)
        else:
            assert predicted.raises is None and predicted.loaded_pairs == outcome
            tiny23.load_lora_weights(str(path), adapter_name=adapter)
            assert _lora_modules(tiny23, adapter) == outcome
            assert len(predicted.dropped) == 2 * (len(targets) - outcome) + (len(targets) if fmt == "kohya" else 0)
            if with_connectors:  # the projection loads (diffusers renames it), the block does not
                assert _lora_modules(tiny23, adapter) == len(targets) - 1
                assert list(predicted.dropped) == [
                    "diffusion_model.video_embeddings_connector.transformer_1d_blocks.0.attn1.to_q.lora_A.weight",
                    "diffusion_model.video_embeddings_connector.transformer_1d_blocks.0.attn1.to_q.lora_B.weight"]
    finally:
        tiny23.unload_lora_weights()


def test_formats_are_counted_and_unmappable_keys_listed(tmp_path, tiny23):
    factors = _factors(_shapes(tiny23), VIDEO_ATTN[:2])
    path = _write(tmp_path / "k.safetensors", factors, "kohya")
    from safetensors.torch import load_file

    sd = load_file(str(path))
    sd["lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight"] = torch.zeros(4, 8)
    sd["lora_unet_transformer_blocks_0_attn1_to_k.hada_w1_a"] = torch.zeros(4, 8)
    sd["lora_unet_not_a_module.lora_down.weight"] = torch.zeros(4, 8)
    sd["diffusion_model.transformer_blocks.0.attn1.to_v.lora_A.weight"] = torch.zeros(4, 32)  # no B
    save_file(sd, str(path))
    report = check_lora(path, tiny23)
    assert report.formats == {"kohya": 8, "text-encoder": 1, "comfyui": 1}
    assert report.styles["lora_down/lora_up"] == 6 and report.styles["alpha"] == 2
    assert set(report.unmapped) == {
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight",
        "lora_unet_transformer_blocks_0_attn1_to_k.hada_w1_a",
        "lora_unet_not_a_module.lora_down.weight",
        "diffusion_model.transformer_blocks.0.attn1.to_v.lora_A.weight",
    }
    assert "LoHa" in report.unmapped["lora_unet_transformer_blocks_0_attn1_to_k.hada_w1_a"]
    assert report.verdict == "incompatible" and "4 keys cannot be mapped" in report.reasons[0]
    state, unmapped = convert_for_diffusers(path)
    assert len(state) == 4 and len(unmapped) == 4


# -- 3. version evidence -----------------------------------------------------------------------


def _ltxbench_lora(path: Path, pipe, version: str, targets=VIDEO_ATTN, seed=0) -> Path:
    peft_state = {f"{m}.lora_{ab}.weight": t for (c, m), (a, b) in _factors(_shapes(pipe), targets, seed).items()
                  for ab, t in (("A", a), ("B", b))}
    prov = lora.Provenance(base_version=version, base_source="tiny", rank=RANK, alpha=ALPHA, targets="video_attention",
                           triggers={"obama": "obmx"}, step=5, stage="train", dataset_sha256="d" * 64,
                           params_sha256="p" * 64)
    return lora.save_lora(path, peft_state, prov)


def test_version_from_metadata_and_not_provable_without_it(tmp_path, tiny23):
    path = _ltxbench_lora(tmp_path / "lora_step_000005.safetensors", tiny23, "2.3")
    report = check_lora(path, tiny23)
    assert report.ok and report.version.version == "2.3" and report.version.confidence == "declared"
    assert report.version.evidence[0].startswith("metadata: base_model_version=2.3")

    bare = check_lora(_strip_metadata(path, tmp_path / "bare.safetensors"), tiny23)
    assert bare.ok and bare.version.version is None and bare.version.confidence == "none"
    assert bare.version.describe() == "version not provable from keys"
    assert any("not provable" in w for w in bare.warnings)

    # a third-party trainer naming a version is a hint: warned about, never a failure
    hinted = _write(tmp_path / "hint.safetensors", _factors(_shapes(tiny23), VIDEO_ATTN), "kohya",
                    metadata={"ss_base_model_version": "ltx-2.0"})
    report = check_lora(hinted, tiny23)
    assert report.ok and report.version.confidence == "hint" and report.version.hint == "2.0"
    assert any("names LTX-2.0, the base is LTX-2.3" in w for w in report.warnings)

    # The headline case: trained on 2.0 (identical attention shapes), about to be used on 2.3.
    old = check_lora(_ltxbench_lora(tmp_path / "old.safetensors", tiny23, "2.0"), tiny23)
    assert old.verdict == "incompatible" and old.coverage["matched"] == len(VIDEO_ATTN)
    assert any("is for LTX-2.0" in r and "base is LTX-2.3" in r for r in old.reasons)


def test_older_loras_on_a_25_base_the_evidence_and_the_verdict(tmp_path, tiny23):
    """A 2.5 base is told by its bias-free video feed-forward and keyframe embedding (in memory and
    as a single file); a 2.3 LoRA made by ltxbench loads on it module for module, and the verdict
    says so and that only a measurement can tell whether it still works; a 2.5 LoRA passes. A LoRA
    without provenance cannot be told apart (the modules are the same): compatible, with the warning."""
    from safetensors.torch import save_file

    tiny25 = tiny.build_tiny_pipeline("2.5")
    report = check_lora(_ltxbench_lora(tmp_path / "new.safetensors", tiny25, "2.5"), tiny25)
    assert report.ok and report.base_version == "2.5"
    assert "video feed-forward is bias-free (2.5)" in report.base_evidence
    assert "keyframes_abs_pos_embedding present (2.5)" in report.base_evidence

    older = check_lora(_ltxbench_lora(tmp_path / "old23.safetensors", tiny23, "2.3"), tiny25)
    assert older.verdict == "incompatible" and older.coverage["matched"] == len(VIDEO_ATTN)
    reason = next(r for r in older.reasons if "is for LTX-2.3" in r)
    assert "base is LTX-2.5" in reason and "load without any error" in reason and "evaluate it on both bases" in reason
    assert check_lora(_ltxbench_lora(tmp_path / "old20.safetensors", tiny23, "2.0"), tiny25).verdict == "incompatible"
    bare = check_lora(_strip_metadata(tmp_path / "old23.safetensors", tmp_path / "bare23.safetensors"), tiny25)
    assert bare.ok and any("not provable" in w for w in bare.warnings)

    # the same base as an official-style single file: the key names alone show 2.5
    state = {f"model.diffusion_model.{k}": v.contiguous() for k, v in tiny25.transformer.state_dict().items()}
    save_file(state, str(tmp_path / "ltx-2.5-tiny.safetensors"))
    from_file = check_lora(tmp_path / "new.safetensors", tmp_path / "ltx-2.5-tiny.safetensors")
    assert from_file.ok and from_file.base_version == "2.5"
    assert "video feed-forward is bias-free (2.5)" in from_file.base_evidence


def test_version_from_module_and_shape_signatures_without_metadata(tmp_path, tiny20, tiny23):
    gated = _write(tmp_path / "gated.safetensors", _factors(_shapes(tiny23), MIXED_23[:4]), "comfyui")
    finding = check_lora(gated, tiny23).version
    assert finding.confidence == "strong" and finding.candidates == ("2.3", "2.5")
    assert any("to_gate_logits" in e and "exists only in 2.3, 2.5" in e for e in finding.evidence)

    caption = [("transformer", "caption_projection.linear_1"), *VIDEO_ATTN[:2]]
    legacy = _write(tmp_path / "legacy20.safetensors", _factors(_shapes(tiny20), caption), "comfyui")
    report = check_lora(legacy, tiny23)
    assert report.version.version == "2.0" and report.version.confidence == "strong"
    assert report.verdict == "incompatible"
    assert report.coverage["missing"] == ["transformer.caption_projection.linear_1"]
    assert check_lora(legacy, tiny20).ok

    # time_embed.linear: 9 modulation parameters (2.3) vs 6 (2.0), readable at any width.
    ratio = _write(tmp_path / "ratio.safetensors", _factors(_shapes(tiny20), [("transformer", "time_embed.linear")]), "comfyui")
    assert check_lora(ratio, tiny20).version.version == "2.0"

    # Full-size shapes: connector width 3840 (2.0) against 4096 (2.3).
    conn = _full_size(tmp_path / "conn.safetensors", [("connectors", "video_connector.transformer_blocks.0.attn1.to_q")], "2.0")
    full = check_lora(conn, "2.3")
    assert full.version.version == "2.0" and full.verdict == "incompatible"
    assert any("[3840 x 3840] matches only 2.0" in e for e in full.version.evidence)


# -- 4. coverage ----------------------------------------------------------------------------------


def test_unmatched_keys_and_shape_mismatches_are_reported(tmp_path, tiny23):
    shapes = _shapes(tiny23)
    factors = _factors(shapes, VIDEO_ATTN[:3])
    factors[("transformer", "caption_projection.linear_1")] = (torch.randn(RANK, 32), torch.randn(32, RANK))
    factors[VIDEO_ATTN[0]] = (torch.randn(RANK, 48), torch.randn(32, RANK))  # in_features 48, base has 32
    report = check_lora(_write(tmp_path / "bad.safetensors", factors, "comfyui", alpha=None), tiny23)
    assert report.verdict == "incompatible" and report.exit_code == 1
    assert report.coverage["missing"] == ["transformer.caption_projection.linear_1"]
    assert report.coverage["shape_mismatches"] == [
        {"module": "transformer.transformer_blocks.0.attn1.to_q", "lora": [32, 48], "base": [32, 32]}]
    assert report.loader.raises.startswith("RuntimeError (size mismatch")
    state, unmapped = convert_for_diffusers(tmp_path / "bad.safetensors", base=tiny23)
    assert len(state) == 4 and len(unmapped) == 4  # the two bad pairs are reported, not loaded


# -- 5. effect -------------------------------------------------------------------------------------


def test_all_zero_lora_b_is_inert(tmp_path, tiny23, capsys):
    path = _write(tmp_path / "zero.safetensors", _factors(_shapes(tiny23), VIDEO_ATTN, zero_b=True), "comfyui")
    report = check_lora(path, tiny23)
    assert report.verdict == "inert" and "all zeros" in report.reasons[0]
    assert all(e.inert and e.delta_norm == 0 for e in report.effects)
    full = _full_size(tmp_path / "zero_full.safetensors", VIDEO_ATTN, "2.3", zero_b=True)
    code, out = _cli(str(full), "--base", "2.3", "--json", capsys=capsys)
    assert code == 1 and json.loads(out)["verdict"] == "inert"
    with pytest.raises(IncompatibleLoRAError, match="inert"):
        require_compatible(path, "2.3", base=tiny23)
    assert require_compatible(path, "2.3", base=tiny23, allow_inert=True).verdict == "inert"


def test_effect_is_relative_to_real_weights_from_every_kind_of_base(tmp_path, tiny23, capsys):
    factors = _factors(_shapes(tiny23), MIXED_23, seed=5)
    path = _write(tmp_path / "l.safetensors", factors, "kohya")
    folder = tmp_path / "base23"
    tiny23.transformer.save_pretrained(folder / "transformer")
    tiny23.connectors.save_pretrained(folder / "connectors")
    single = tmp_path / "ckpt.safetensors"
    save_file({f"model.diffusion_model.{names.to_original(('transformer', k[:-7]))}.weight" if k.endswith(".weight")
               else f"model.diffusion_model.{k}": v.contiguous() for k, v in tiny23.transformer.state_dict().items()},
              str(single))
    reports = {kind: check_lora(path, base) for kind, base in (("memory", tiny23), ("folder", folder), ("file", single))}
    code, out = _cli(str(path), "--base", str(folder), capsys=capsys)
    assert code == 0 and "relative to the base weight" in out
    mem = {e.target: e for e in reports["memory"].effects}
    assert reports["folder"].ok and reports["folder"].base_version == "2.3"
    for e in reports["folder"].effects:
        assert not e.estimated and e.relative == pytest.approx(mem[e.target].relative)
        a, b = factors[e.target]
        assert e.delta_norm == pytest.approx(float((ALPHA / RANK * b @ a).norm()), rel=1e-5)
    groups = reports["memory"].to_dict()["effect"]["groups"]
    assert set(groups) == {"video", "audio", "audio_video", "text"} and groups["video"]["ranks"] == [RANK]
    assert groups["video"]["alphas"] == [ALPHA] and groups["video"]["scales"] == [ALPHA / RANK]
    # the single file has no connectors: those two pairs are reported missing, the rest measured
    assert len(reports["file"].coverage["missing"]) == 2 and reports["file"].base_version == "2.3"
    assert sum(not e.estimated for e in reports["file"].effects) == len(MIXED_23) - 2


def test_outsized_lora_is_flagged_without_failing(tmp_path, tiny23):
    factors = {t: (a * 30, b * 30) for t, (a, b) in _factors(_shapes(tiny23), VIDEO_ATTN).items()}
    report = check_lora(_write(tmp_path / "big.safetensors", factors, "comfyui"), tiny23)
    assert report.ok and any("outsized" in w for w in report.warnings)
    assert all(e.outsized for e in report.effects)


# -- 6. verdict, CLI, stage hook ------------------------------------------------------------------


def test_cli_exit_codes_and_json(tmp_path, capsys):
    attn = [("transformer", "transformer_blocks.3.attn1.to_q"), ("transformer", "transformer_blocks.3.audio_attn1.to_k"),
            ("transformer", "time_embed.linear")]
    good = _full_size(tmp_path / "good.safetensors", attn, "2.3", {"base_model_version": "2.3"})
    code, out = _cli(str(good), "--base", "2.3", capsys=capsys)
    assert code == 0 and "COMPATIBLE" in out and "LTX-2.3 (certain)" in out
    code, out = _cli(str(good), "--base", "2.0", "--json", capsys=capsys)
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "incompatible" and data["exit_code"] == 1
    assert data["coverage"]["shape_mismatches"][0]["module"] == "transformer.time_embed.linear"
    assert data["version"]["candidates"] == ["2.3", "2.5"] and data["effect"]["groups"]["audio"]["modules"] == 1

    code, out = _cli(str(tmp_path / "missing.safetensors"), "--json", capsys=capsys)
    assert code == 2 and json.loads(out)["verdict"] == "usage-error"
    assert _cli(str(good), "--base", "2.7", capsys=capsys)[0] == 2
    assert _cli(str(good), "--base", str(tmp_path), capsys=capsys)[0] == 2  # a folder that is no model
    with pytest.raises(SystemExit) as exit_info:
        _cli(capsys=capsys)  # FILE missing: argparse's own usage error
    assert exit_info.value.code == 2


def test_require_compatible_raises_with_reasons(tmp_path, tiny23):
    path = _ltxbench_lora(tmp_path / "old.safetensors", tiny23, "2.0")
    with pytest.raises(IncompatibleLoRAError) as info:
        require_compatible(path, "2.3", base=tiny23)
    assert "is for LTX-2.0" in str(info.value) and "check-lora" in str(info.value)
    assert info.value.report.verdict == "incompatible"
    ok = require_compatible(_ltxbench_lora(tmp_path / "new.safetensors", tiny23, "2.3"), "2.3", base=tiny23)
    assert ok.ok and str(ok).splitlines()[2].startswith("verdict   COMPATIBLE")


def test_header_parser_agrees_with_safetensors(tmp_path, tiny23):
    path = _write(tmp_path / "h.safetensors", _factors(_shapes(tiny23), VIDEO_ATTN[:2]), "kohya", metadata={"x": "y"})
    infos, meta, size = read_header(path)
    assert meta == {"x": "y"} and size == path.stat().st_size
    assert infos["lora_unet_transformer_blocks_0_attn1_to_q.lora_down.weight"].shape == (RANK, 32)


def test_original_and_diffusers_names_round_trip_for_every_real_module():
    from ltxbench.model.architecture import KNOWN_VERSIONS, version_table

    for version in KNOWN_VERSIONS:
        for target in version_table(version):
            assert names.to_diffusers(names.to_original(target)) == target
            if target[0] == "transformer":  # the names ltxbench itself saves
                assert names.to_original(target) == lora.to_original_name(target[1])
    assert names.to_original(("connectors", "video_connector.transformer_blocks.3.attn1.to_q")) == \
        "video_embeddings_connector.transformer_1d_blocks.3.attn1.to_q"
    assert names.to_diffusers("text_embedding_projection.aggregate_embed") == ("connectors", "text_proj_in")


def test_a_key_naming_a_container_module_is_reported_not_a_crash(tmp_path):
    from safetensors.torch import save_file

    from ltxbench.lora.check.check import check_lora
    from ltxbench.model import tiny

    path = tmp_path / "container.safetensors"
    save_file({"diffusion_model.transformer_blocks.0.attn1.lora_A.weight": torch.ones(4, 32),
               "diffusion_model.transformer_blocks.0.attn1.lora_B.weight": torch.ones(32, 4)}, str(path))
    report = check_lora(path, base=tiny.build_tiny_pipeline())
    assert not report.ok and report.reasons


def test_unreadable_adapter_metadata_is_reported_not_guessed(tmp_path, tiny23):
    """A broken ``lora_adapter_metadata`` means the alpha is unknown: the check warns and the
    converter logs it, instead of applying scale 1 without a word."""
    path = _write(tmp_path / "broken_meta.safetensors", _factors(_shapes(tiny23), VIDEO_ATTN), "diffusers",
                  alpha=None, metadata={"lora_adapter_metadata": "{not json"})
    report = check_lora(path, tiny23)
    assert any("lora_adapter_metadata is not valid JSON" in w for w in report.warnings)
    readable = _write(tmp_path / "ok_meta.safetensors", _factors(_shapes(tiny23), VIDEO_ATTN), "diffusers",
                      alpha=None, metadata={"lora_adapter_metadata": json.dumps({"transformer.lora_alpha": RANK})})
    assert not any("lora_adapter_metadata" in w for w in check_lora(readable, tiny23).warnings)


def test_a_header_nested_too_deeply_is_a_corrupt_verdict_not_a_crash(tmp_path, capsys):
    import struct

    header = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    header += b" " * (-len(header) % 8)
    path = tmp_path / "deep.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    report = check_lora(path, "2.3")
    assert report.verdict == "corrupt" and "nested too deeply" in report.reasons[0]
    code, out = _cli(str(path), "--base", "2.3", "--json", capsys=capsys)
    assert code == 1 and json.loads(out)["verdict"] == "corrupt"


# -- 6. memory ------------------------------------------------------------------------------------

# The child reports VmHWM, the peak resident memory of its own address space (mapped file pages
# included). Not ru_maxrss: Linux carries the parent's peak into a child across vfork/exec, so
# every child of this pytest process (1.4 GiB after building the file) read 1440 MiB, big file or small.
_PEAK_RSS_SCRIPT = """
import re, sys
from ltxbench.lora.check import check_lora
report = check_lora(sys.argv[1], "2.3")
with open("/proc/self/status") as fh:
    peak_kib = int(re.search(r"VmHWM:\\s+(\\d+) kB", fh.read()).group(1))
print(report.verdict, report.integrity["tensors"], len(report.effects), peak_kib * 1024)
"""


def _big_lora(path: Path, blocks: int, rank: int) -> Path:
    """An LTX-2.3 LoRA in ComfyUI layout on every block's video attention, bf16 (1 MiB a module at rank 64)."""
    from ltxbench.model.architecture import version_table

    table = version_table("2.3")
    g = torch.Generator().manual_seed(0)
    a0, b0 = torch.randn(rank, 4096, generator=g) * 0.01, torch.randn(4096, rank, generator=g) * 0.01
    sd = {}
    for i, (block, attn, proj) in enumerate((b, a, p) for b in range(blocks) for a in ("attn1", "attn2")
                                             for p in ("to_q", "to_k", "to_v", "to_out.0")):
        target = ("transformer", f"transformer_blocks.{block}.{attn}.{proj}")
        out_f, in_f = table[target]
        stem = f"diffusion_model.{names.to_original(target)}"
        sd[f"{stem}.lora_A.weight"] = (a0[:, :in_f] * (1 + i / 100)).to(torch.bfloat16)
        sd[f"{stem}.lora_B.weight"] = (b0[:out_f] * (1 - i / 1000)).to(torch.bfloat16)
    save_file(sd, str(path), metadata={"base_model_version": "2.3"})
    return path


def _peak_rss(path: Path) -> tuple[str, int]:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PEAK_RSS_SCRIPT, str(path)], capture_output=True, text=True,
                          timeout=300, check=True)
    verdict, tensors, effects, peak = done.stdout.split()[-4:]
    return verdict, int(peak)


def test_checking_a_large_lora_reads_one_tensor_at_a_time(tmp_path):
    """A 288 MiB LoRA (576 tensors of 0.5 MiB) costs the checker far less memory than the file:
    its peak RSS above the same check of an 8-module file stays under half the file's size.
    Loading every tensor at once (safetensors.load_file, before) cost the whole file: measured
    383 MiB extra for a 384 MiB file; reading one tensor at a time, 2 MiB."""
    big = _big_lora(tmp_path / "big.safetensors", blocks=36, rank=64)
    small = _big_lora(tmp_path / "small.safetensors", blocks=1, rank=64)
    size = big.stat().st_size
    assert size > 300e6
    verdict_small, base = _peak_rss(small)
    verdict, peak = _peak_rss(big)
    assert verdict == verdict_small == "compatible"
    extra = peak - base
    print(f"file {size / 2**20:.0f} MiB: peak RSS {peak / 2**20:.0f} MiB, an 8-module file's {base / 2**20:.0f} MiB, "
          f"extra {extra / 2**20:.0f} MiB = {extra / size:.2f} x the file")
    assert extra < 0.5 * size
