"""ltxbench.media.video, ltxbench.media.frames and ltxbench.curate.shots on the real clips and photos in tests/data (nothing mocked)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from ltxbench.curate import shots
from ltxbench.media import frames as media_frames
from ltxbench.media import video

from conftest import vfr_frame_index, write_vfr_mp4

DATA = Path(__file__).resolve().parent / "data"
TOS = DATA / "tears_of_steel_10s.mp4"
SINTEL = DATA / "sintel_10s.mp4"

# Hard cuts, established by looking at contact sheets of every frame (first frame of each new shot).
# Tears of Steel: robot 0-20 | man on the bridge 21-64 | man with glasses 65-184 | robot close-up that
# strobes (192-204, a hologram flicker inside the shot) and morphs into the woman 185-239.
TOS_CUTS = [21, 65, 185]
# Sintel (a fight in the snow): 0-57 | 58-75 | 76-95 (whip pans 79-82) | 96-117 | 118-139 | 140-175 |
# 176-208 (empty snow until the character jumps into frame at 179) | 209-239.
SINTEL_CUTS = [58, 76, 96, 118, 140, 176, 209]


def assert_cuts_match(found: list[int], truth: list[int], tolerance: int = 1) -> None:
    assert len(found) == len(truth), f"found {found}, expected {truth}"
    for f, t in zip(found, truth):
        assert abs(f - t) <= tolerance, f"found {found}, expected {truth} (+-{tolerance})"


# --- probing and reading ---------------------------------------------------------------


def test_probe_real_video():
    info = video.probe(TOS)
    assert (info.width, info.height, info.num_frames, info.rotation) == (640, 360, 240, 0)
    assert info.fps == pytest.approx(24.0)
    assert info.duration_s == pytest.approx(10.0)
    assert info.has_audio is False
    assert info.path == TOS


def test_read_frames_shape_order_and_duplicates():
    frames = video.read_frames(TOS, [0, 239, 100, 100])
    assert frames.shape == (4, 360, 640, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames[2], frames[3])
    reversed_pair = video.read_frames(TOS, np.array([239, 0]))
    np.testing.assert_array_equal(reversed_pair[0], frames[1])
    np.testing.assert_array_equal(reversed_pair[1], frames[0])
    assert video.read_frames(TOS, []).shape == (0, 360, 640, 3)


def test_read_frames_rejects_bad_indices():
    with pytest.raises(ValueError, match="out of range.*240 frames"):
        video.read_frames(TOS, [0, 240])
    with pytest.raises(ValueError, match="out of range"):
        video.read_frames(TOS, [-1])
    with pytest.raises(ValueError, match="integers"):
        video.read_frames(TOS, [1.5])


def test_unreadable_videos_raise_clear_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        video.probe(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    with pytest.raises(video.MediaError, match="notes.mp4"):
        video.read_frames(text, [0])
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(SINTEL.read_bytes()[:300_000])  # moov atom sits at the end: gone
    with pytest.raises(video.MediaError, match="truncated.mp4"):
        video.probe(truncated)
    with pytest.raises(video.MediaError, match="truncated.mp4"):
        shots.content_cuts(truncated)


def _write_rotated(path: Path, raw: np.ndarray, ccw_degrees: int, codec: str = "libx264") -> None:
    """A tiny video whose stored frames are ``raw`` and whose display matrix says: turn ccw_degrees.
    The container follows the suffix (mp4, mov, mkv, webm)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = raw.shape[1], raw.shape[0], "yuv420p"
        stream.set_display_rotation(ccw_degrees)
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(raw, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize("ccw", [90, 180, 270])
def test_rotation_metadata_is_honoured(tmp_path: Path, ccw: int):
    raw = np.zeros((64, 128, 3), np.uint8)  # stored landscape, bright block top-left
    raw[:32, :48] = 255
    path = tmp_path / f"rot{ccw}.mp4"
    _write_rotated(path, raw, ccw)
    upright = np.rot90(raw, k=ccw // 90)  # what a player shows
    info = video.probe(path)
    assert info.rotation == (360 - ccw) % 360  # clockwise convention of the legacy `rotate` tag
    assert (info.height, info.width) == upright.shape[:2]
    frames = video.read_frames(path, [0, 2])
    assert frames.shape == (2, *upright.shape)
    assert np.abs(frames[0].astype(int) - upright).mean() < 8


@pytest.mark.parametrize("suffix, codec", [(".mov", "libx264"), (".mkv", "libx264"), (".webm", "libvpx-vp9")])
def test_rotation_is_honoured_in_other_containers(tmp_path: Path, suffix: str, codec: str):
    raw = np.zeros((64, 128, 3), np.uint8)
    raw[:32, :48] = 255
    path = tmp_path / f"rot90{suffix}"
    _write_rotated(path, raw, 90, codec)
    upright = np.rot90(raw, k=1)
    info = video.probe(path)
    assert (info.rotation, info.width, info.height, info.num_frames) == (270, 64, 128, 3)
    frames = video.read_frames(path, [0, 2])
    assert frames.shape == (2, 128, 64, 3)
    assert np.abs(frames[0].astype(int) - upright).mean() < 8


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_photo_orientation_in_every_format(tmp_path: Path, suffix: str):
    from PIL import Image

    upright = video.read_image(DATA / "obama_1.jpg")[:400, :300]
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to view"
    path = tmp_path / f"sideways{suffix}"
    Image.fromarray(np.rot90(upright, k=1)).save(path, exif=exif, **({} if suffix == ".png" else {"quality": 95}))
    back = video.read_image(path)
    assert back.shape == upright.shape
    assert np.abs(back.astype(int) - upright).mean() < 3


def test_read_image_applies_exif_orientation(tmp_path: Path):
    from PIL import Image

    upright = video.read_image(DATA / "obama_1.jpg")
    assert upright.dtype == np.uint8 and upright.shape == (1137, 910, 3)
    # Store the photo sideways with EXIF orientation 6 ("turn 90 degrees clockwise to view").
    sideways = Image.fromarray(np.rot90(upright, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    sideways.save(path, quality=95, exif=exif)
    back = video.read_image(path)
    assert back.shape == upright.shape
    assert np.abs(back.astype(int) - upright).mean() < 3


def test_read_image_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        video.read_image(tmp_path / "nope.jpg")
    bogus = tmp_path / "bogus.jpg"
    bogus.write_text("not a jpeg")
    with pytest.raises(video.MediaError, match="bogus.jpg"):
        video.read_image(bogus)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((DATA / "biden_1.jpg").read_bytes()[:5000])
    with pytest.raises(video.MediaError, match="cut.jpg"):
        video.read_image(cut)


# --- frame-rate conversion and buckets --------------------------------------------------


def test_resample_indices_nearest_frame():
    assert media_frames.resample_indices(100, 30, 24, 0, 9) == [0, 1, 3, 4, 5, 6, 8, 9, 10]
    assert media_frames.resample_indices(100, 24, 24, 7, 4) == [7, 8, 9, 10]
    assert media_frames.resample_indices(100, 24, 30, 0, 6) == [0, 1, 2, 2, 3, 4]  # repeats when slowing down
    ntsc = media_frames.resample_indices(1000, 30000 / 1001, 24, 10, 97)
    assert ntsc[0] == 10 and np.all(np.diff(ntsc) >= 1) and np.all(np.diff(ntsc) <= 2)
    assert media_frames.source_span(30000 / 1001, 24, 97) == ntsc[-1] - 10 + 1
    assert media_frames.source_span(30, 24, 9) == 11


def test_resample_indices_errors():
    with pytest.raises(ValueError, match="source has 10 frames"):
        media_frames.resample_indices(10, 30, 24, 5, 9)
    with pytest.raises(ValueError, match="positive"):
        media_frames.resample_indices(10, 0, 24, 0, 1)
    assert media_frames.resample_indices(11, 30, 24, 0, 9)[-1] == 10  # exactly enough


# First second at 12 fps, the next at 48: 60 frames in 2 s, decord's average rate 30 fps.
VFR_TIMES = [i / 12 for i in range(12)] + [1 + i / 48 for i in range(48)]


def test_a_variable_frame_rate_source_is_resampled_by_its_timestamps(tmp_path):
    path = write_vfr_mp4(tmp_path / "vfr.mp4", VFR_TIMES)
    info = video.probe(path)
    assert (info.num_frames, info.fps) == (60, pytest.approx(30.0))
    np.testing.assert_allclose(info.frame_times[:, 0], VFR_TIMES, atol=1e-4)
    assert [vfr_frame_index(f) for f in video.read_frames(path, [0, 11, 12, 59])] == [0, 11, 12, 59]
    # 17 frames at 24 fps from 0.5 s cover 17/24 s: up to 1.1667 s, across the change of rate
    indices = media_frames.resample_indices(info.num_frames, info.fps, 24, 6, 17, info.frame_times)
    shown = [vfr_frame_index(f) for f in video.read_frames(path, indices)]
    assert shown == indices
    for k, i in enumerate(shown):  # each output time gets the source frame nearest to it (a tie: the later)
        t = 0.5 + k / 24
        assert abs(VFR_TIMES[i] - t) <= min(abs(x - t) for x in VFR_TIMES) + 1e-4, (k, i)
    assert VFR_TIMES[shown[-1]] - VFR_TIMES[shown[0]] == pytest.approx(16 / 24, abs=1 / 96)
    # by frame index at the average 30 fps the same clip would end at frame 26: 0.5 .. 1.29 s
    assert media_frames.resample_indices(info.num_frames, info.fps, 24, 6, 17)[-1] == 26
    with pytest.raises(ValueError, match="variable frame rate"):  # 1.79 + 0.71 s: past the end (2 s)
        media_frames.resample_indices(info.num_frames, info.fps, 24, 50, 17, info.frame_times)
    clips = media_frames.shot_clips(info, 24, 9, 0, 60)  # end to end, each 9/24 s
    assert [c[0] for c in clips] == [0, 5, 10, 21, 38]  # at 0, 0.42, 0.83, 1.19, 1.54 s
    for clip in clips:
        assert VFR_TIMES[clip[-1]] - VFR_TIMES[clip[0]] == pytest.approx(8 / 24, abs=1 / 24)


def test_a_constant_rate_source_is_cut_by_frame_index_as_before():
    assert video.probe(TOS).frame_times is None and video.probe(SINTEL).frame_times is None
    info = video.probe(TOS)
    span = media_frames.source_span(24, 24, 25)
    assert media_frames.shot_clips(info, 24, 25, 65, 185) == [media_frames.resample_indices(240, 24, 24, 65 + k * span, 25)
                                                      for k in range(120 // span)]
    ntsc = video.VideoInfo(TOS, 30000 / 1001, 3000, 640, 360, 100.1, False, 0)
    span = media_frames.source_span(ntsc.fps, 24, 97)
    assert media_frames.shot_clips(ntsc, 24, 97, 10, 1000) == [media_frames.resample_indices(3000, ntsc.fps, 24, 10 + k * span, 97)
                                                       for k in range(990 // span)]


def test_bucket_size():
    assert media_frames.bucket_size(1920, 1080, 512) == (896, 512)
    assert media_frames.bucket_size(1080, 1920, 512) == (512, 896)
    assert media_frames.bucket_size(640, 360, 352) == (640, 352)
    assert media_frames.bucket_size(700, 700, 512) == (512, 512)
    assert media_frames.bucket_size(640, 360, 384) is None  # would upscale
    assert media_frames.bucket_size(1015, 704, 704) == (992, 704)  # 1024 would exceed the source
    with pytest.raises(ValueError, match="multiple of 32"):
        media_frames.bucket_size(1920, 1080, 500)


# --- geometry ---------------------------------------------------------------------------


def test_resize_crop():
    frame = video.read_frames(TOS, [100])[0]
    square = media_frames.resize_crop(frame, 360, 360)  # no scaling needed: a pure centre crop
    np.testing.assert_array_equal(square, frame[:, 140:500])
    half = media_frames.resize_crop(frame, 320, 180)
    np.testing.assert_array_equal(half, cv2.resize(frame, (320, 180), interpolation=cv2.INTER_AREA))
    portrait = media_frames.resize_crop(frame, 256, 512)  # upscale to cover 512 tall, crop the sides
    assert portrait.shape == (512, 256, 3) and portrait.flags["C_CONTIGUOUS"]
    with pytest.raises(ValueError, match="uint8"):
        media_frames.resize_crop(frame.astype(np.float32), 64, 64)


def _shift_x(a: np.ndarray, b: np.ndarray) -> float:
    ga = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY).astype(np.float64)
    gb = cv2.cvtColor(b, cv2.COLOR_RGB2GRAY).astype(np.float64)
    (dx, _dy), _ = cv2.phaseCorrelate(ga, gb)
    return dx


def test_image_to_clip_pan_and_zoom():
    photo = video.read_image(DATA / "obama_2.jpg")  # 626x1200 portrait -> landscape clip
    width, height, n, amount = 256, 160, 25, 0.08
    pan = media_frames.image_to_clip(photo, width, height, n, motion="pan", amount=amount)
    zoom = media_frames.image_to_clip(photo, width, height, n, motion="zoom", amount=amount)
    assert pan.shape == zoom.shape == (n, height, width, 3) and pan.dtype == np.uint8
    # Zoom starts on the centred cover crop and ends 1/(1-amount) closer.
    assert np.abs(zoom[0].astype(int) - media_frames.resize_crop(photo, width, height)).mean() < 4
    # The camera pans right by `amount` of the frame width, so content moves left by that much.
    assert _shift_x(pan[0], pan[-1]) == pytest.approx(-amount * width, abs=1.5)
    # Smooth: cosine easing peaks at pi/2 * total / (n - 1) px per frame mid-clip, slower at the ends.
    steps = [abs(_shift_x(pan[k], pan[k + 1])) for k in range(n - 1)]
    assert max(steps) < 1.15 * np.pi / 2 * amount * width / (n - 1)
    assert steps[0] < 0.25 * steps[n // 2] and steps[-1] < 0.25 * steps[n // 2]
    with pytest.raises(ValueError, match="motion"):
        media_frames.image_to_clip(photo, width, height, n, motion="spin")  # type: ignore[arg-type]


# --- shot boundaries --------------------------------------------------------------------


def test_detect_cuts_tears_of_steel():
    cuts = shots.content_cuts(TOS)
    assert_cuts_match(cuts, TOS_CUTS)
    assert not [c for c in cuts if 186 <= c <= 239]  # the strobing hologram is not a cut
    assert shots.shots_from_cuts(cuts, 240) == [(0, 21), (21, 65), (65, 185), (185, 240)]


@pytest.mark.parametrize("threshold", [0.3, 0.35, 0.4])
def test_detect_cuts_sintel_fast_action(threshold: float):
    # Weakest true cut scores 0.41, strongest non-cut 0.36 (frame 180, a body filling the frame);
    # the lone-spike rule, not the threshold, is what rejects the whip pans and that entrance.
    assert_cuts_match(shots.content_cuts(SINTEL, threshold=threshold), SINTEL_CUTS)


def test_detect_cuts_ignores_a_flash(tmp_path: Path):
    # One continuous shot with four frames washed out to white, as by a photographer's flash.
    frames = np.stack([media_frames.resize_crop(f, 320, 180) for f in video.read_frames(TOS, range(100, 140))])
    frames[20:24] = (0.3 * frames[20:24] + 0.7 * 255).astype(np.uint8)
    path = video.write_mp4(tmp_path / "flash.mp4", frames, fps=24)
    assert shots.content_cuts(path) == []
    assert shots.content_cuts(path, flash_window=1) == [20]  # without the "picture comes back" rule


def test_detect_cuts_inside_one_shot_finds_none(tmp_path: Path):
    # Frames 65-184 of Tears of Steel are one shot with motion: written out, no cut may appear.
    shot = np.stack([media_frames.resize_crop(f, 320, 180) for f in video.read_frames(TOS, range(70, 180, 2))])
    path = video.write_mp4(tmp_path / "one_shot.mp4", shot, fps=24)
    assert shots.content_cuts(path) == []


def test_shots_from_cuts():
    assert shots.shots_from_cuts([], 10) == [(0, 10)]
    assert shots.shots_from_cuts([7, 3, 3, 0], 10) == [(0, 3), (3, 7), (7, 10)]
    with pytest.raises(ValueError, match="outside"):
        shots.shots_from_cuts([10], 10)


# --- writing ----------------------------------------------------------------------------


def test_write_mp4_round_trip_with_decord(tmp_path: Path):
    import decord

    frames = np.stack([media_frames.resize_crop(f, 320, 176) for f in video.read_frames(TOS, range(60, 108))])
    target = tmp_path / "out" / "clip.mp4"
    assert video.write_mp4(target, frames, fps=24) == target
    reader = decord.VideoReader(str(target))
    back = reader.get_batch(list(range(len(reader)))).asnumpy()
    assert back.shape == frames.shape
    # Measured: MAE 3.6 at crf 18 on this detailed 320x176 footage. Even crf 0 gives 2.3: 4:2:0
    # chroma plus swscale's decode rounding (about one level darker) are most of it.
    err = back.astype(np.float64) - frames
    assert np.abs(err).mean() < 5.0
    assert 10 * np.log10(255**2 / (err**2).mean()) > 30.0  # PSNR in dB
    info = video.probe(target)
    assert info.fps == pytest.approx(24.0) and info.num_frames == 48
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.mp4"]  # no temp file left
    video.write_mp4(target, frames[:10], fps=25)  # overwrite in place
    assert video.probe(target).num_frames == 10


def test_write_mp4_keeps_saturated_colours(tmp_path: Path):
    # Flat patches of saturated colours: reading this file with the wrong matrix (BT.601) moves
    # them by 7-23 levels (measured); chroma subsampling does not touch the inside of a flat patch.
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255],
                        [255, 0, 255], [128, 128, 128], [230, 180, 140]], np.uint8)
    frame = np.repeat(np.repeat(colours.reshape(2, 4, 3), 64, axis=0), 64, axis=1)  # [128,256,3]
    path = video.write_mp4(tmp_path / "colours.mp4", np.stack([frame] * 4), fps=24)
    back = video.read_frames(path, [2])[0].astype(int)
    centres = back[32::64, 32::64]  # the middle pixel of each patch, [2,4,3]
    assert np.abs(centres.reshape(-1, 3) - colours.astype(int)).max() <= 6


def test_write_mp4_validates_before_writing(tmp_path: Path):
    good = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="even"):
        video.write_mp4(tmp_path / "odd.mp4", np.zeros((2, 15, 16, 3), np.uint8), fps=24)
    with pytest.raises(ValueError, match="uint8"):
        video.write_mp4(tmp_path / "float.mp4", good.astype(np.float32), fps=24)
    with pytest.raises(ValueError, match=r"\[F,H,W,3\]"):
        video.write_mp4(tmp_path / "gray.mp4", good[..., 0], fps=24)
    assert list(tmp_path.iterdir()) == []


def test_write_mp4_keeps_old_file_when_encoding_fails(tmp_path: Path):
    target = tmp_path / "keep.mp4"
    shutil.copy(TOS, target)
    too_wide = np.zeros((1, 2, 40_000, 3), np.uint8)  # passes validation, libx264 refuses it
    with pytest.raises(video.MediaError, match="keep.mp4"):
        video.write_mp4(target, too_wide, fps=24)
    assert target.read_bytes() == TOS.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]  # the temp file is gone
