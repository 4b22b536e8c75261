"""Shared fixtures: real media from tests/data and a small params file built on it."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    return small_params(tmp_path)
