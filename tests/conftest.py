"""Shared fixtures: real media from tests/data and a small params file built on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parent.parent


def small_params(tmp_path: Path, **sections) -> Path:
    """A params file smaller than the demo (photos only, few steps), written into tmp_path."""
    raw = {
        "run": {"name": "small", "seed": 1},
        "model": {"version": "2.3", "source": "tiny", "max_sequence_length": 32},
        "dataset": {"characters": [{
            "name": "obama", "trigger": "obmx",
            "references": [str(DATA / "obama_1.jpg")],
            "media": [str(DATA / "obama_2.jpg"), str(DATA / "biden_1.jpg")],
        }]},
        "curate": {"fps": 24, "clip_frames": 9, "resolution": 64, "face_samples": 2},
        "train": {"steps": 4, "checkpoint_every": 2, "rank": 4, "alpha": 4, "learning_rate": 1e-3},
        "evaluate": {"prompts": [{"id": "talk", "text": "{trigger} talking to the camera"}], "seeds": [0],
                     "width": 64, "height": 64, "num_frames": 9, "num_inference_steps": 2, "guidance_scale": 1.0,
                     "stg_scale": 0.0, "stg_blocks": [], "modality_scale": 1.0, "guidance_rescale": 0.0, "audio_guidance_scale": 1.0,
                     "face_frames": 4},
    }
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def curated_photos_run(tmp: Path, **curate_cfg) -> Path:
    """The real curate stage on the Obama and Biden photos plus a corrupt mp4 (accepted, wrong
    identity, unreadable: one clip of each decision); returns the run folder."""
    from ltxbench.curate import stage
    from ltxbench.run import folder

    corrupt = tmp / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    params = small_params(tmp, curate=curate_cfg) if curate_cfg else small_params(tmp)
    raw = yaml.safe_load(params.read_text())
    raw["dataset"]["characters"][0]["media"] = [str(DATA / "obama_2.jpg"), str(DATA / "biden_1.jpg"), str(corrupt)]
    params.write_text(yaml.safe_dump(raw))
    run = folder.open_run(tmp / "run", params)
    stage.curate(run)
    return run.dir


def random_lora(pipe, path: Path, version: str, seed: int = 0, scale: float = 0.1, modules: list[str] | None = None) -> Path:
    """A real LoRA file for ``pipe``'s first block's video attention (or ``modules``; random A and B
    of ``scale``), with provenance naming ``version``."""
    import torch

    from ltxbench.lora import files as lora

    g = torch.Generator().manual_seed(seed)
    state = {}
    wanted = modules or [f"transformer_blocks.0.attn1.{proj}" for proj in ("to_q", "to_k", "to_v", "to_out.0")]
    for name, module in pipe.transformer.named_modules():
        if name in wanted:
            out_f, in_f = module.weight.shape
            state[f"{name}.lora_A.weight"] = torch.randn(4, in_f, generator=g) * scale
            state[f"{name}.lora_B.weight"] = torch.randn(out_f, 4, generator=g) * scale
    prov = lora.Provenance(base_version=version, base_source="tiny", rank=4, alpha=4.0, targets="video_attention",
                           triggers={"obama": "obmx"}, step=lora.checkpoint_step(path) if Path(path).stem.startswith("lora_step_") else 0,
                           stage="train",
                           dataset_sha256="d" * 64, params_sha256="p" * 64)
    return lora.save_lora(path, state, prov)


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    return small_params(tmp_path)


def mux_video(path: Path, frames: np.ndarray, fps: int, samples: np.ndarray | None, rate: int,
         container: str = "mp4", acodec: str = "aac", audio_start_s: float = 0.0) -> Path:
    """A video file with ``frames`` (H.264) and, when given, mono ``samples`` as its audio track,
    starting ``audio_start_s`` into the video."""
    import av

    with av.open(str(path), "w", format=container) as out:
        v = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        a = None
        if samples is not None:
            a = out.add_stream(acodec, rate=rate, layout="mono")
        for f in frames:
            for packet in v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in v.encode(None):
            out.mux(packet)
        if a is not None:
            pcm = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
            step = 1024
            for k in range(0, pcm.size, step):
                frame = av.AudioFrame.from_ndarray(pcm[None, k:k + step], format="s16", layout="mono")
                frame.sample_rate, frame.pts = rate, k + int(round(audio_start_s * rate))
                for packet in a.encode(frame):
                    out.mux(packet)
            for packet in a.encode(None):
                out.mux(packet)
    return path


# -- a variable-frame-rate video whose frames say which they are ---------------------------------

VFR_SIDE, VFR_BITS, VFR_BLOCK = 256, 6, 32  # 6 bits: up to 64 frames; 32-px blocks survive a 4x downscale


def write_vfr_mp4(path: Path, times: list[float]) -> Path:
    """An H.264 mp4 (lossless) whose frame ``i`` is shown at ``times[i]`` seconds: irregular
    presentation timestamps, as phones and screen recorders write. Each frame is mid grey with its
    index in binary along the top edge (white block = 1, black = 0, least significant bit first):
    :func:`vfr_frame_index` reads it back from any frame of the file scaled to any square size. The
    blocks change too little of the picture for a shot detector to see cuts."""
    from fractions import Fraction

    import av

    assert len(times) <= 2 ** VFR_BITS
    tick = Fraction(1, 4800)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=48, options={"crf": "0", "preset": "ultrafast"})
        stream.width = stream.height = VFR_SIDE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = stream.time_base = tick
        for i, t in enumerate(times):
            img = np.full((VFR_SIDE, VFR_SIDE, 3), 128, np.uint8)
            for bit in range(VFR_BITS):
                img[:VFR_BLOCK, bit * VFR_BLOCK:(bit + 1) * VFR_BLOCK] = 255 if (i >> bit) & 1 else 0
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = int(round(t / tick)), tick
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def vfr_frame_index(frame) -> int:
    """The source frame index a frame of :func:`write_vfr_mp4` shows (``[H,W,3]``, square, any size)."""
    scale = frame.shape[1] / VFR_SIDE
    y = int(VFR_BLOCK * scale / 2)
    return sum(1 << bit for bit in range(VFR_BITS)
               if frame[y, int((bit + 0.5) * VFR_BLOCK * scale)].mean() > 128)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """``ltxbench demo`` as a user runs it: curate, caption, train and evaluate through papermill.
    One run for the session: tests that change it work on a copy."""
    from ltxbench import cli

    run_dir = tmp_path_factory.mktemp("demo") / "demo"
    assert cli.main(["demo", "--run-dir", str(run_dir), "--quiet"]) == 0
    return run_dir
