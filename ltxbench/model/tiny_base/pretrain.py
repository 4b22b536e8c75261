"""Pretrain the tiny base: ``python -m ltxbench.model.tiny_base.pretrain --out DIR``.

Three steps, each resumable from what it wrote in ``DIR/work``:

1. **VAE** (``--vae-steps``, then ``--vae-focus-steps``): the tiny LTX-2.3 video VAE
   (``AutoencoderKLLTX2Video``, the random tiny pipeline's configuration) learns to reconstruct
   128 px head crops, single frames and 9-frame clips, with an L1 loss weighted towards the face
   and an L1 loss on image gradients (edges: what dlib's landmarks need); first over the whole
   augmentation range, then on crops near curate's own (:data:`VAE_PHASES`). It sees the demo character's two *training*
   photos as well as the other people: a real VAE reconstructs any face, and a tiny one trained on
   three other people cannot, so without them no LoRA could ever show the character however well
   it learned. The VAE only encodes and decodes; what the base *generates* comes from the
   transformer, which never sees the character.
2. **Transformer** (``--transformer-steps``): all weights of a 256-wide, 4-block LTX-2.3
   transformer trained with the train stage's flow-matching loss (σ sampler, velocity target,
   forward pass) on the normalised latents of the *other* people only, each with a caption that
   says who is shown, so the base draws faces and reads its prompt but does not know the character.
   The text encoder and connectors keep the tiny pipeline's seeded random weights (frozen, as in
   LoRA training). The audio->video attention's output projections are zero and frozen: this base
   has no sound to learn from, so its video must not depend on the audio stream (see
   ``tests/test_agreement.py``).
An earlier build can be continued instead of rebuilt: ``--vae-from DIR`` starts from its VAE and
runs only more decoder-only steps (``--vae-decoder-steps``, phase ``decoder_more``), and
``--transformer-from DIR`` takes its transformer, connectors and latent statistics as they are
(valid because decoder-only steps leave the encoder, and so the latents, unchanged); provenance
records what was taken from where.

3. **Assemble**: the pipeline with the trained VAE (its per-channel latent statistics measured on
   the training clips) and transformer, saved as a diffusers folder in float16 with
   ``provenance.json`` (this script's parameters, data and licences, seed, git commit, hashes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ltxbench.model.tiny_base import faces_data
from ltxbench.train.data import file_sha256

DATA_DIR = Path(__file__).resolve().parents[3] / "tests" / "data"
TRANSFORMER_SIZES = {"num_layers": 4, "num_attention_heads": 8, "attention_head_dim": 32,
                     "audio_num_attention_heads": 8, "audio_attention_head_dim": 8}
MAX_SEQUENCE_LENGTH = 192  # the demo's model.max_sequence_length


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------------------
# 1. VAE
# ---------------------------------------------------------------------------------------


def _face_weight(size: int) -> Any:
    """Pixel weights ``[1, 1, 1, size, size]``: 1 at the border, 3 over the face (a Gaussian on the
    crop's centre, where head crops put the face)."""
    import torch

    axis = torch.linspace(-1.0, 1.0, size)
    g = torch.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * 0.35 ** 2))
    return (1.0 + 2.0 * g).view(1, 1, 1, size, size)


def reconstruction_loss(pred: Any, target: Any, weight: Any) -> Any:
    """Face-weighted L1 on pixels plus L1 on horizontal and vertical differences."""
    l1 = ((pred - target).abs() * weight).mean()
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    edges = (dx(pred) - dx(target)).abs().mean() + (dy(pred) - dy(target)).abs().mean()
    return l1 + 0.5 * edges


def _batch(items: list, rng: np.random.Generator, count: int, frames: int, spread: float = 1.0) -> Any:
    import torch

    picks = rng.integers(0, len(items), size=count)
    return torch.from_numpy(np.stack([items[i].draw(rng, frames=frames, spread=spread) for i in picks]))


def vae_face_check(vae: Any, clip: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Reconstruct the held-out reference photo's head crop: faces dlib finds among its frames and
    their mean distance to the photo's own embedding (below 0.6: dlib's same person)."""
    import torch

    from ltxbench import faces

    analyzer = faces.FaceAnalyzer(upsample=1)
    with torch.no_grad():
        out = vae.decode(vae.encode(torch.from_numpy(clip)[None]).latent_dist.mode(), None, return_dict=False)[0][0]
    frames = ((out.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 3, 0).numpy()
    found = [analyzer.largest(np.ascontiguousarray(f)) for f in frames]
    dists = [float(np.linalg.norm(f.embedding - reference)) for f in found if f is not None]
    return {"face_found": sum(f is not None for f in found) / len(found),
            "distance": float(np.mean(dists)) if dists else float("nan"),
            "pixel_l1": float((out - torch.from_numpy(clip)).abs().mean())}


VAE_PHASES = (("broad", 1.0), ("focus", 0.15), ("fine", 0.05), ("finer", 0.02), ("decoder", 0.02))
DECODER_ONLY = frozenset({"decoder"})
"""Phases that train the decoder alone: the encoder, and with it the latent space the transformer
learned, stays as it is, so sharper decoding needs no transformer retraining."""
"""The VAE's phases, each with its own warm-up and cosine schedule: broad augmentation (every
crop, shift, mirror and exposure of the training range), then crops ever nearer curate's own (2.0
face heights, centred), where a VAE this small spends its little capacity on what the demo decodes.
Measured (2 cores): after the broad phase (2400 steps, 17 min) reconstructions are blurs in which
dlib finds no face; 800 focus steps later it finds one in 9/9 and 8/9 frames of the character's
two photos (distance 0.66-0.72 to the reference photo), after 1200 fine steps in 9/9 and 6/9
(0.59-0.63; Biden's photo 0.67-0.68), the loss still falling. With that VAE a LoRA's faces came
out at 0.586 (similarity 0.51), exactly the reconstruction's distance: the decoder, not the
LoRA, was the ceiling, hence the decoder-only phase (its history logs the character's
reconstruction distance, ``character_distance``): 1500 steps took it from 0.60 to 0.56, and 1500
more on the bundled build (``--vae-from``, phase ``decoder_more``, 4 min) to 0.55, the LoRA's faces
then at similarity 0.52 against that ceiling's 0.54."""


def train_vae(work: Path, items: list, steps: dict[str, int], seed: int, lr: float = 1e-3) -> Any:
    """The VAE after each phase of :data:`VAE_PHASES` for ``steps[phase]`` steps, each phase
    continuing the previous one and saved as ``work/vae_<phase>.safetensors`` (a phase found there
    is not trained again)."""
    from safetensors.torch import load_file

    from ltxbench.model import tiny

    vae = tiny._tiny_video_vae("2.3")
    for index, (phase, spread) in enumerate(VAE_PHASES):
        out = work / f"vae_{phase}.safetensors"
        if out.exists():
            vae.load_state_dict(load_file(out))
            _log(f"VAE {phase}: trained weights found in {out}")
            continue
        _train_vae_phase(vae, items, steps[phase], seed + index, lr, spread, phase, work, decoder_only=phase in DECODER_ONLY)
    return vae.eval()


def character_crops(items: list) -> list[np.ndarray]:
    """The character's training photos as centred 128 px clips ``[3, F, H, W]`` in [-1, 1], as curate crops them."""
    rng = np.random.default_rng(0)
    return [item.draw(rng, faces_data.FRAMES, faces_data.SIZE, spread=0.0) for item in items if item.person == "character"]


def character_distance(vae: Any, crops: list[np.ndarray], reference: np.ndarray) -> float:
    """Mean distance to the held-out reference of the faces in the reconstructions of the
    character's training crops: the closest any LoRA's decoded faces can come."""
    checks = [vae_face_check(vae, crop, reference) for crop in crops]
    found = [c["distance"] for c in checks if not math.isnan(c["distance"])]
    return float(np.mean(found)) if found else float("nan")


def _train_vae_phase(vae: Any, items: list, steps: int, seed: int, lr: float, spread: float, phase: str,
                     work: Path, decoder_only: bool = False) -> None:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    held_clip, held_ref = faces_data.held_out_clip(DATA_DIR)
    crops = character_crops(items)
    weight = _face_weight(faces_data.SIZE)
    vae.encoder.requires_grad_(not decoder_only)
    trained = [p for p in vae.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=lr, weight_decay=0.0)
    vae.train()
    history: list[dict[str, float]] = []
    losses: list[float] = []
    for step in range(1, steps + 1):
        warm = min(1.0, step / 50)
        for group in optimizer.param_groups:
            group["lr"] = lr * warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        # mostly single frames (cheap: they train the spatial code, which every latent frame uses),
        # every fourth step 9-frame clips (the temporal code)
        if step % 4 == 0:
            x = _batch(items, rng, 2, faces_data.FRAMES, spread)
        else:
            x = _batch(items, rng, 8, 1, spread)
        with torch.set_grad_enabled(not decoder_only):
            z = vae.encode(x).latent_dist.mode()
        y = vae.decode(z, None, return_dict=False)[0]
        loss = reconstruction_loss(y, x, weight) + 1e-4 * z.square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 200 == 0 or step == steps:
            vae.eval()
            check = vae_face_check(vae, held_clip, held_ref)
            mine = character_distance(vae, crops, held_ref)
            vae.train()
            history.append({"step": step, "loss": float(np.mean(losses[-100:])), **check, "character_distance": mine})
            _log(f"VAE {phase} step {step}/{steps}: loss {history[-1]['loss']:.4f}; held-out photo: face in "
                 f"{check['face_found']:.0%} of frames, distance {check['distance']:.3f}, L1 {check['pixel_l1']:.3f}; "
                 f"character's crops reconstructed at distance {mine:.3f}")
    vae.eval()
    vae.encoder.requires_grad_(True)
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, str(work / f"vae_{phase}.safetensors"))
    (work / f"vae_{phase}_history.json").write_text(json.dumps(history, indent=1))


# ---------------------------------------------------------------------------------------
# 2. Transformer
# ---------------------------------------------------------------------------------------

# What the captions say besides who is shown: the vocabulary of the demo's prompts and of the
# caption stage's templates, so the base has read these words with every person.
SHOTS = ("a close-up", "a medium close-up", "a head and shoulders shot", "a portrait")
ACTIONS = ("facing the camera", "talking to the camera", "looking to the side", "with a neutral expression",
           "walking along a city street", "in a bright office", "at dusk", "outdoors")
LIGHT = ("soft lighting", "low-key lighting", "daylight", "warm light")


def caption(description: str, rng: np.random.Generator) -> str:
    """``"<shot> of <description>, <action>, <light>"`` with the parts drawn at random."""
    shot = SHOTS[rng.integers(len(SHOTS))]
    action = ACTIONS[rng.integers(len(ACTIONS))]
    light = LIGHT[rng.integers(len(LIGHT))]
    return f"{shot} of {description}, {action}, {light}"


def silence_audio_to_video(transformer: Any) -> list[Any]:
    """Zero the audio->video attention's output projections (the video stream then ignores the
    audio) and return the parameters that stay trainable."""
    import torch

    frozen = set()
    with torch.no_grad():
        for block in transformer.transformer_blocks:
            out = block.audio_to_video_attn.to_out[0]
            out.weight.zero_()
            out.bias.zero_()
            frozen |= {id(out.weight), id(out.bias)}
    trainable = []
    for p in transformer.parameters():
        p.requires_grad_(id(p) not in frozen)
        if id(p) not in frozen:
            trainable.append(p)
    return trainable


def latent_statistics(vae: Any, items: list, rng: np.random.Generator, count: int = 96) -> tuple[Any, Any]:
    """Per-channel mean and standard deviation of the VAE's latents over ``count`` training clips
    (what real checkpoints ship as ``latents_mean`` / ``latents_std``)."""
    import torch

    zs = []
    with torch.no_grad():
        for _ in range(count // 8):
            zs.append(vae.encode(_batch(items, rng, 8, faces_data.FRAMES, TRANSFORMER_SPREAD)).latent_dist.mode())
    z = torch.cat(zs).transpose(0, 1).reshape(128, -1)
    return z.mean(dim=1), z.std(dim=1).clamp(min=1e-3)


TRANSFORMER_SPREAD = 0.15
"""Augmentation of the transformer's clips: the VAE's focus range, the crops it decodes best."""


def training_set(pipe: Any, items: list, rng: np.random.Generator, draws: int, captions_per_person: int
                 ) -> tuple[Any, list[str], dict[str, Any], list[int], list[str]]:
    """Normalised latents of ``draws`` augmented clips per person (the cache's own encoder), and
    ``captions_per_person`` encoded captions per person. Returns (latents ``[N, 128, 2, 4, 4]``,
    person of each latent, text conditioning of all captions, person index of each caption, the
    captions)."""
    import torch

    from ltxbench.model import forward

    people = sorted({item.person for item in items})
    latents, owners = [], []
    for person in people:
        mine = [item for item in items if item.person == person]
        for start in range(0, draws, 8):
            n = min(8, draws - start)
            latents.append(forward.encode_video(pipe, _batch(mine, rng, n, faces_data.FRAMES, TRANSFORMER_SPREAD)))
            owners += [person] * n
    texts, text_owner = [], []
    for index, person in enumerate(people):
        description = next(item.description for item in items if item.person == person)
        for _ in range(captions_per_person):
            texts.append(caption(description, rng))
            text_owner.append(index)
    conds = [forward.encode_prompts(pipe, texts[i:i + 16], max_sequence_length=MAX_SEQUENCE_LENGTH)
             for i in range(0, len(texts), 16)]
    cond = {k: torch.cat([c[k] for c in conds]) for k in conds[0]}
    return torch.cat(latents), owners, cond, text_owner, texts


def train_transformer(work: Path, pipe: Any, items: list, steps: int, seed: int, lr: float = 1e-3,
                      batch: int = 8, draws: int = 160, captions_per_person: int = 24) -> dict[str, Any]:
    """Fit every transformer weight (but the silenced audio->video projections) to the other
    people's clips; returns the training record."""
    import torch
    from safetensors.torch import load_file, save_file

    from ltxbench.model import forward
    from ltxbench.train import schedule

    out = work / "transformer.safetensors"
    if out.exists():
        pipe.transformer.load_state_dict(load_file(out))
        _log(f"transformer: trained weights found in {out}")
        return json.loads((work / "transformer_history.json").read_text())
    others = [item for item in items if item.person != "character"]
    rng = np.random.default_rng(seed + 1)
    latents, owners, cond, text_owner, texts = training_set(pipe, others, rng, draws, captions_per_person)
    people = sorted(set(owners))
    by_person = {p: [i for i, o in enumerate(owners) if o == p] for p in people}
    captions_of = {p: [i for i, o in enumerate(text_owner) if people[o] == p] for p in people}
    _log(f"transformer: {len(latents)} latents of {len(people)} people ({', '.join(people)}), {len(texts)} captions")
    params = silence_audio_to_video(pipe.transformer)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    mu = schedule.token_shift(int(np.prod(latents.shape[2:])), dict(pipe.scheduler.config))
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    pipe.transformer.train()
    losses: list[float] = []
    history: list[dict[str, float]] = []
    for step in range(1, steps + 1):
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(step, steps, lr, 100, "cosine")
        who = [people[i] for i in rng.integers(0, len(people), size=batch)]
        pick = torch.tensor([by_person[p][rng.integers(len(by_person[p]))] for p in who])
        text = torch.tensor([captions_of[p][rng.integers(len(captions_of[p]))] for p in who])
        x0 = latents[pick]
        sigma = torch.tensor([schedule.sample_sigma(generator, mu) for _ in range(batch)])
        noise = torch.randn(x0.shape, generator=generator)
        pred = forward.transformer_forward(pipe, forward.noisy_latents(x0, noise, sigma), None,
                                       {k: v[text] for k, v in cond.items()}, sigma, generator=generator).video
        loss = torch.nn.functional.mse_loss(pred, forward.velocity_target(x0, noise))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % 250 == 0 or step == steps:
            history.append({"step": step, "loss": float(np.mean(losses[-250:]))})
            _log(f"transformer step {step}/{steps}: loss {history[-1]['loss']:.4f}")
    pipe.transformer.eval()
    pipe.transformer.requires_grad_(False)
    save_file({k: v.contiguous() for k, v in pipe.transformer.state_dict().items()}, str(out))
    record = {"history": history, "people": people, "latents": len(latents), "captions": texts}
    (work / "transformer_history.json").write_text(json.dumps(record, indent=1))
    return record


# ---------------------------------------------------------------------------------------
# 3. Assemble
# ---------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def assemble(pipe: Any, target: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Save ``pipe`` in float16 as a diffusers folder at ``target`` (atomically: built beside it and
    renamed) with ``provenance.json``; returns the provenance."""
    import shutil

    import torch

    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for name in ("text_encoder", "connectors", "transformer", "vae", "audio_vae", "vocoder"):
        torch.nn.Module.to(getattr(pipe, name), dtype=torch.float16)
    backend = getattr(pipe.tokenizer, "_tokenizer", None)
    if backend is not None:  # encoding leaves its last padding/truncation in the backend: save the same file either way
        backend.no_padding()
        backend.no_truncation()
    pipe.save_pretrained(staging, safe_serialization=True)
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    hashes = {str(p.relative_to(staging)): file_sha256(p) for p in files}
    weights = hashlib.sha256("".join(f"{k}:{v}\n" for k, v in hashes.items()
                                     if k.endswith(".safetensors")).encode()).hexdigest()
    provenance = {**record, "weights_sha256": weights, "files_sha256": hashes,
                  "bytes": sum(p.stat().st_size for p in files)}
    (staging / "provenance.json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    return provenance


DATA_LICENCES = {
    "biden_1.jpg": "White House photograph, work of the US federal government: public domain (via ageitgey/face_recognition)",
    "obama_2.jpg": "White House photograph: public domain (via ageitgey/face_recognition); VAE only",
    "obama_3.jpg": "White House photograph: public domain (via ageitgey/face_recognition); VAE only",
    "tears_of_steel_10s.mp4": "Tears of Steel (2012), CC-BY 3.0, (c) Blender Foundation, https://mango.blender.org/",
}


def earlier_build(folder: Path) -> tuple[Any, dict[str, Any]]:
    """An earlier build of this script (``folder``: the pipeline folder it wrote) in float32, and
    its provenance."""
    from ltxbench.model import loading

    earlier = _read_json(folder / "provenance.json")
    if not earlier or "vae" not in earlier or "transformer" not in earlier:
        raise SystemExit(f"{folder}: no provenance.json with vae and transformer records (not a folder this script built)")
    _log(f"earlier build {folder} (weights {str(earlier.get('weights_sha256'))[:16]})")
    return loading.load_pipeline("2.3", str(folder), device="cpu"), earlier


def taken_from(folder: Path, earlier: dict[str, Any], part: str) -> dict[str, Any]:
    """``part``'s provenance record from an earlier build, with ``taken_from``: that build's
    folder, script, commit, note and weights hash."""
    record = {k: v for k, v in earlier[part].items() if k != "held_out_reconstruction"}
    record["taken_from"] = {"folder": str(folder), "script": earlier.get("script"), "git_commit": earlier.get("git_commit"),
                            "git_note": earlier.get("git_note"), "weights_sha256": earlier.get("weights_sha256")}
    return record


def check_same_encoder(vae: Any, earlier_vae: Any, folder: Path) -> None:
    """Refuse a transformer whose latent space this VAE's encoder no longer makes: the transformer
    learned the latents of its own build's encoder, which only decoder-only steps leave intact."""
    import torch

    mine, theirs = vae.state_dict(), earlier_vae.state_dict()
    moved = [k for k in theirs if k.startswith("encoder.") and not torch.equal(mine[k].float(), theirs[k].float())]
    if moved:
        raise SystemExit(f"--transformer-from {folder}: this build's VAE encoder differs from that build's ({len(moved)} "
                         f"tensors, e.g. {moved[0]}), so its transformer would read latents it never learned; "
                         f"pass --vae-from with the same build (or one continued from it by decoder-only steps)")


def continue_decoder(vae: Any, work: Path, items: list, steps: int, seed: int) -> dict[str, Any]:
    """``steps`` more decoder-only steps on ``vae`` (the encoder, and so the latent space, frozen),
    saved as ``work/vae_decoder_more.safetensors`` (found there: not trained again); returns
    ``{"decoder_more": history}`` (empty for 0 steps)."""
    from safetensors.torch import load_file

    if steps <= 0:
        return {}
    out = work / "vae_decoder_more.safetensors"
    if out.exists():
        vae.load_state_dict(load_file(out))
        _log(f"VAE decoder_more: trained weights found in {out}")
    else:
        spread = dict(VAE_PHASES)["decoder"]
        vae.decoder.requires_grad_(True)
        _train_vae_phase(vae, items, steps, seed + len(VAE_PHASES), 1e-3, spread, "decoder_more", work, decoder_only=True)
    vae.eval()
    return {"decoder_more": _read_json(work / "vae_decoder_more_history.json")}


def main(argv: list[str] | None = None) -> int:
    import torch

    from ltxbench.model import tiny

    parser = argparse.ArgumentParser(prog="python -m ltxbench.model.tiny_base.pretrain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the pipeline (out/pipeline) and the work files")
    parser.add_argument("--vae-steps", type=int, default=2400, help="VAE steps with broad augmentation")
    parser.add_argument("--vae-focus-steps", type=int, default=800, help="VAE steps on crops near curate's own")
    parser.add_argument("--vae-fine-steps", type=int, default=1200, help="VAE steps on crops nearer still")
    parser.add_argument("--vae-finer-steps", type=int, default=1200, help="VAE steps on crops nearer again")
    parser.add_argument("--vae-decoder-steps", type=int, default=1500, help="decoder-only VAE steps (the encoder frozen)")
    parser.add_argument("--vae-from", type=Path, default=None,
                        help="start from the VAE of an earlier build of this script (its pipeline folder): only the "
                             "decoder-only phase runs, for --vae-decoder-steps more steps (0: that VAE as it is)")
    parser.add_argument("--transformer-from", type=Path, default=None,
                        help="take the transformer, connectors and latent statistics of an earlier build instead of "
                             "training them (valid while the VAE's encoder is that build's: decoder-only steps keep it)")
    parser.add_argument("--transformer-steps", type=int, default=3000)
    parser.add_argument("--draws", type=int, default=160, help="augmented training clips per person for the transformer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    work = args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    items = faces_data.face_items(DATA_DIR)
    _log(f"{len(items)} face clips: " + ", ".join(sorted({f'{i.person}' for i in items})))
    earlier = {folder: earlier_build(folder) for folder in {args.vae_from, args.transformer_from} - {None}}
    if args.vae_from is not None:
        vae = earlier[args.vae_from][0].vae
        vae_history = taken_from(args.vae_from, earlier[args.vae_from][1], "vae")
        vae_history["history"] = {**vae_history.get("history", {}),
                                  **continue_decoder(vae, work, items, args.vae_decoder_steps, args.seed)}
    else:
        vae = train_vae(work, items, {"broad": args.vae_steps, "focus": args.vae_focus_steps, "fine": args.vae_fine_steps,
                                      "finer": args.vae_finer_steps, "decoder": args.vae_decoder_steps}, args.seed)
        vae_history = {"history": {phase: _read_json(work / f"vae_{phase}_history.json") for phase, _ in VAE_PHASES}}
    pipe = tiny.build_tiny_pipeline("2.3", seed=args.seed, transformer_sizes=TRANSFORMER_SIZES)
    pipe.vae.load_state_dict(vae.state_dict())
    if args.transformer_from is not None:
        source, record = earlier[args.transformer_from]
        check_same_encoder(vae, source.vae, args.transformer_from)
        trained = taken_from(args.transformer_from, record, "transformer")
        pipe.transformer.load_state_dict(source.transformer.state_dict())
        pipe.connectors.load_state_dict(source.connectors.state_dict())
        mean, std = source.vae.latents_mean, source.vae.latents_std  # the latent space the transformer learned
    else:
        mean, std = latent_statistics(pipe.vae, items, np.random.default_rng(args.seed + 2))
    with torch.no_grad():
        pipe.vae.latents_mean.copy_(mean)
        pipe.vae.latents_std.copy_(std)
    if args.transformer_from is None:
        trained = train_transformer(work, pipe, items, args.transformer_steps, args.seed, draws=args.draws)
    held_clip, held_ref = faces_data.held_out_clip(DATA_DIR)
    record = {
        "script": "python -m ltxbench.model.tiny_base.pretrain " + " ".join(argv if argv is not None else sys.argv[1:]),
        "git_commit": _git_commit(),
        "seed": args.seed,
        "parameters": {"vae_steps": args.vae_steps, "vae_focus_steps": args.vae_focus_steps, "vae_fine_steps": args.vae_fine_steps, "vae_finer_steps": args.vae_finer_steps,
                       "vae_decoder_steps": args.vae_decoder_steps,
                       "vae_from": str(args.vae_from) if args.vae_from else None,
                       "transformer_from": str(args.transformer_from) if args.transformer_from else None,
                       "transformer_steps": args.transformer_steps, "draws": args.draws,
                       "transformer_sizes": TRANSFORMER_SIZES, "frames": faces_data.FRAMES, "size": faces_data.SIZE,
                       "max_sequence_length": MAX_SEQUENCE_LENGTH},
        "data": {name: {"licence": text, "sha256": file_sha256(DATA_DIR / name)} for name, text in DATA_LICENCES.items()},
        "items": [{"name": i.name, "person": i.person} for i in items],
        "vae": {**vae_history, "held_out_reconstruction": vae_face_check(pipe.vae, held_clip, held_ref)},
        "transformer": trained,
        "libraries": {name: __import__(name).__version__ for name in ("torch", "diffusers", "transformers")},
        "seconds": round(time.time() - started, 1),
    }
    provenance = assemble(pipe, args.out / "pipeline", record)
    _log(f"wrote {args.out / 'pipeline'} ({provenance['bytes'] / 1e6:.1f} MB, weights {provenance['weights_sha256'][:16]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
