"""The pretrained tiny base (``model.source: tiny-pretrained``): its script runs, its weights are
the ones its provenance describes, it loads through the real-folder path, and a LoRA trained on it
by the product's own stages makes generated faces the character's."""

from __future__ import annotations

import json

import pytest
import torch

from ltxbench.model import loading, locate, tiny_base, versions
from ltxbench.model.tiny_base import pretrain
from ltxbench.train.data import file_sha256


def test_the_pretraining_script_runs_end_to_end_in_a_short_version(tmp_path):
    """Every step of the script (VAE, transformer, assembly) in a few steps; the folder it writes
    loads as a diffusers pipeline and its provenance accounts for every file."""
    assert pretrain.main(["--out", str(tmp_path), "--vae-steps", "2", "--vae-focus-steps", "2", "--vae-fine-steps", "2", "--vae-finer-steps", "2", "--vae-decoder-steps", "2", "--transformer-steps", "2", "--draws", "8"]) == 0
    folder = tmp_path / "pipeline"
    provenance = json.loads((folder / "provenance.json").read_text())
    assert provenance["parameters"]["vae_steps"] == 2 and provenance["parameters"]["transformer_steps"] == 2
    assert set(provenance["data"]) == set(pretrain.DATA_LICENCES)
    assert "character" not in provenance["transformer"]["people"]  # the transformer never sees the character
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {"provenance.json"}
    assert written == set(provenance["files_sha256"])
    pipe = loading.load_pipeline("2.3", str(folder), device="cpu")
    assert pipe.transformer.config.num_layers == pretrain.TRANSFORMER_SIZES["num_layers"]
    assert not torch.allclose(pipe.vae.latents_std, torch.ones_like(pipe.vae.latents_std))  # measured, not defaults
    # The decoder-only phase sharpens decoding without moving the latent space the transformer learned.
    from safetensors.torch import load_file

    before, after = (load_file(str(tmp_path / "work" / f"vae_{phase}.safetensors")) for phase in ("finer", "decoder"))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert "character_distance" in provenance["vae"]["history"]["decoder"][-1]

    # An earlier build continued: its transformer and latent space as they are, decoder-only steps
    # more on its VAE (the encoder, which the transformer's latents come from, untouched).
    again = tmp_path / "again"
    assert pretrain.main(["--out", str(again), "--vae-from", str(folder), "--transformer-from", str(folder),
                          "--vae-decoder-steps", "2"]) == 0
    second = json.loads((again / "pipeline" / "provenance.json").read_text())
    assert second["vae"]["taken_from"]["weights_sha256"] == provenance["weights_sha256"]
    assert second["transformer"]["taken_from"]["weights_sha256"] == provenance["weights_sha256"]
    assert second["vae"]["history"]["decoder"] == provenance["vae"]["history"]["decoder"]
    assert "character_distance" in second["vae"]["history"]["decoder_more"][-1]
    first_vae, second_vae = (load_file(str(f / "vae" / "diffusion_pytorch_model.safetensors")) for f in (folder, again / "pipeline"))
    assert all(torch.equal(first_vae[k], second_vae[k]) for k in first_vae if not k.startswith("decoder."))
    assert any(not torch.equal(first_vae[k], second_vae[k]) for k in first_vae if k.startswith("decoder."))
    first_t, second_t = (load_file(str(f / "transformer" / "diffusion_pytorch_model.safetensors")) for f in (folder, again / "pipeline"))
    assert all(torch.equal(first_t[k], second_t[k]) for k in first_t)
    # A transformer next to a VAE trained anew would read latents it never learned: refused.
    with pytest.raises(SystemExit, match="encoder differs"):
        pretrain.main(["--out", str(tmp_path / "mixed"), "--transformer-from", str(folder), "--vae-steps", "2", "--vae-focus-steps", "2",
                       "--vae-fine-steps", "2", "--vae-finer-steps", "2", "--vae-decoder-steps", "2", "--draws", "8", "--seed", "1"])


def test_the_bundled_weights_are_the_ones_their_provenance_names():
    provenance = tiny_base.provenance()
    assert provenance, f"{tiny_base.folder()} has no provenance.json"
    for rel, digest in provenance["files_sha256"].items():
        assert file_sha256(tiny_base.folder() / rel) == digest, rel
    assert provenance["bytes"] < 40e6
    assert "character" not in provenance["transformer"]["people"]


def test_model_source_tiny_pretrained_loads_the_bundled_folder_and_is_refused_for_2_0():
    pipe = loading.load_pipeline("2.3", "tiny-pretrained", device="cpu")
    assert pipe.transformer.dtype == torch.float32  # stored in float16, loaded as asked
    assert versions.detect_version(pipe.transformer.config) == "2.3"
    problems = locate.source_problems("tiny-pretrained", "2.0")
    assert problems and "LTX-2.3" in problems[0].allowed


def _summary(run_dir, metric):
    import pandas as pd

    summary = pd.read_csv(run_dir / "eval" / "summary.csv")
    rows = summary[summary["metric"] == metric]
    return dict(zip(rows["checkpoint"], rows["mean"]))


def test_a_lora_trained_on_the_pretrained_base_makes_the_generated_faces_the_characters(demo_run):
    """The point of the workbench, measured on identity (dlib on the generated frames against the
    reference photo the LoRA never saw), not on the loss: the base draws somebody else, the LoRA's
    last checkpoint draws faces much closer to the character, and prompts without the trigger
    (prior preservation on) stay further from him than prompts with it. Measured here: base 0.33,
    last checkpoint 0.52 (face in every sampled frame), leakage 0.33 (base 0.29); the margins
    asserted are about half of those measured."""
    identity = _summary(demo_run, "identity_similarity")
    found = _summary(demo_run, "face_found_rate")
    leakage = _summary(demo_run, "leakage_identity_similarity")
    checkpoints = sorted(c for c in found if c != "base")
    last = checkpoints[-1]
    print({c: (round(found[c], 2), round(identity.get(c, float("nan")), 3), round(leakage.get(c, float("nan")), 3))
           for c in ["base", *checkpoints]})
    assert found["base"] >= 0.5 and identity["base"] < 0.5  # the base draws faces, and not the character's
    assert found[last] >= 0.5
    assert identity[last] >= identity["base"] + 0.09
    assert leakage[last] < identity[last] - 0.1  # the trigger matters
    best = json.loads((demo_run / "eval" / "best_checkpoint.json").read_text())
    assert best["checkpoint"] is None or best["value"] >= 0.5, best  # never a checkpoint that renders someone else
    if best["checkpoint"] is None:
        assert best["closest"]["lacks"] and best["reason"], best  # and a verdict withheld says why
    assert (demo_run / "train" / "prior.png").is_file()
