"""ltxbench.curate.shots: both detectors on real footage (TransNetV2's real weights, on the CPU)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from ltxbench.curate import shots
from ltxbench.media import frames as media_frames
from ltxbench.media import video

DATA = Path(__file__).resolve().parent / "data"
TOS = DATA / "tears_of_steel_10s.mp4"  # hard cuts at 21, 65, 185


@pytest.fixture(scope="module")
def two_cuts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frames 16-65 of Tears of Steel (cuts at source frames 21 and 65, so 5 and 49 here), at
    320x180: 50 frames are one TransNetV2 window, which keeps its CPU time to seconds."""
    frames = np.stack([media_frames.resize_crop(f, 320, 180) for f in video.read_frames(TOS, range(16, 66))])
    return video.write_mp4(tmp_path_factory.mktemp("shots") / "two_cuts.mp4", frames, fps=24)


def test_transnetv2_finds_the_cuts(two_cuts: Path):
    probs = shots.transnetv2_probabilities(two_cuts)
    assert probs.shape == (50,) and probs.dtype == np.float32
    # The network marks the last frame of the outgoing shot; everything else stays low.
    assert probs[4] > 0.8 and probs[48] > 0.8
    assert np.delete(probs, [4, 48]).max() < 0.2
    assert shots.detect_cuts(two_cuts, detector="transnetv2") == [5, 49]


def test_loading_transnetv2_leaves_global_state_alone():
    import torch

    shots._model = None  # force a fresh build: its constructor seeds everything with 42
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    expected = (random.random(), np.random.random(), torch.rand(1).item())
    random.seed(123)
    np.random.seed(123)
    torch.manual_seed(123)
    shots._transnet()
    assert (random.random(), np.random.random(), torch.rand(1).item()) == expected
    assert torch.are_deterministic_algorithms_enabled() is False


def test_content_detector_is_video_detect_cuts():
    assert shots.DEFAULT_DETECTOR == "content"
    assert shots.detect_cuts(TOS) == shots.content_cuts(TOS) == [21, 65, 185]
    assert shots.detect_cuts(TOS, detector="content", threshold=0.9) == shots.content_cuts(TOS, threshold=0.9)


def test_cuts_from_probabilities():
    p = np.zeros(20, np.float32)
    p[4] = 0.9  # a hard cut: new shot at 5
    p[9:13] = [0.6, 0.7, 0.95, 0.55]  # a dissolve: split after its peak
    p[19] = 0.99  # the last frame: no frame after it to start a shot
    assert shots.cuts_from_probabilities(p) == [5, 12]
    assert shots.cuts_from_probabilities(p, threshold=0.92) == [12]
    assert shots.cuts_from_probabilities(np.zeros(0, np.float32)) == []
    with pytest.raises(ValueError, match="threshold"):
        shots.cuts_from_probabilities(p, threshold=1.0)


@pytest.mark.parametrize("n", [1, 49, 50, 51, 100, 101, 176])
def test_windows_predict_every_frame_once(n: int):
    frames = [np.full((27, 48, 3), i % 256, np.uint8) for i in range(n)]
    windows = list(shots._windows(iter(frames)))
    assert all(w.shape == (100, 27, 48, 3) for w in windows)
    middles = np.concatenate([w[25:75, 0, 0, 0] for w in windows])[:n]
    np.testing.assert_array_equal(middles, np.arange(n) % 256)  # each frame predicted in order
    assert len(windows) == -(-n // 50)
    np.testing.assert_array_equal(windows[0][:25, 0, 0, 0], 0)  # padded with the first frame


def test_errors(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown shot detector 'magic'"):
        shots.detect_cuts(TOS, detector="magic")  # type: ignore[arg-type]
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    for detector in shots.DETECTORS:
        with pytest.raises(video.MediaError, match="notes.mp4"):
            shots.detect_cuts(text, detector=detector)
