"""Bad input, end to end: a folder of broken and odd media through the REAL curate stage, and each
kind of file through ltxbench.media.video directly. Every bad file must give a clear MediaError (or be
readable) and one rejected record with its true reason; nothing else is lost; sources untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ltxbench.curate import stage
from ltxbench.dataset import manifest
from ltxbench.media import frames, video
from ltxbench.run import folder as run_folder

from conftest import DATA, small_params

TOS = DATA / "tears_of_steel_10s.mp4"
NON_UTF8 = b"bad\xff.mp4"  # a name Linux allows but that is not valid UTF-8


def _audio_only(path: Path, container: str, codec: str) -> Path:
    """One second of a 440 Hz tone and no video stream."""
    import av

    rate = 48_000
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate) * 32767).astype(np.int16)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        for k in range(0, rate, 960):
            frame = av.AudioFrame.from_ndarray(tone[None, k:k + 960], format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, k
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _build_bad_folder(folder: Path) -> dict[str, tuple[str, str]]:
    """Writes the bad files; returns {display name: (expected reason code, a word its detail names)}."""
    folder.mkdir()
    (folder / "zero_bytes.mp4").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(TOS.read_bytes()[:200_000])  # its index (moov) is at the end: gone
    (folder / "notes.mp4").write_text("these are my notes, not a video\n")
    good_frame = frames.resize_crop(video.read_frames(TOS, [100])[0], 320, 176)
    video.write_mp4(folder / "one_frame.mp4", good_frame[None], fps=24)
    _audio_only(folder / "audio_only.mkv", "matroska", "aac")
    _audio_only(folder / "audio_only.webm", "webm", "libopus")
    Image.fromarray(np.full((4, 20_000, 3), 128, np.uint8)).save(folder / "ribbon.png")  # 20000x4
    video.write_mp4(folder / "two_pixels.mp4", np.zeros((30, 2, 2, 3), np.uint8), fps=24)
    # ten seconds at 1 fps (a time-lapse or a slide show): at 24 fps every frame would be shown 24 times
    slides = np.stack([frames.resize_crop(f, 320, 176) for f in video.read_frames(TOS, list(range(0, 240, 24)))])
    video.write_mp4(folder / "one_fps.mp4", slides, fps=1)
    fd = os.open(os.fsencode(folder) + b"/" + NON_UTF8, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write((folder / "one_frame.mp4").read_bytes())
    (folder / "dangling.mp4").symlink_to(folder / "moved_away.mp4")  # its target was moved away
    (folder / "loop.jpg").symlink_to("loop.jpg")  # a link to itself
    return {
        "dangling.mp4": ("unreadable", "symbolic link that points to"),
        "loop.jpg": ("unreadable", "loop of links"),
        "zero_bytes.mp4": ("unreadable", "empty"),
        "truncated.mp4": ("unreadable", "Invalid data"),
        "notes.mp4": ("unreadable", "Invalid data"),
        "one_frame.mp4": ("too_short", "frames"),
        "audio_only.mkv": ("unreadable", "no video stream"),
        "audio_only.webm": ("unreadable", "no video stream"),
        "ribbon.png": ("low_resolution", "4"),
        "two_pixels.mp4": ("low_resolution", "2"),
        "one_fps.mp4": ("low_frame_rate", "source is 1 fps, below curate.min_source_fps 12"),
        "bad\\xff.mp4": ("too_short", "frames"),  # readable despite its name: rejected for the true reason
    }


def _hashes(folder: Path) -> dict[bytes, str]:
    return {os.fsencode(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def curated_bad(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("bad_input")
    folder = tmp / "media"
    expected = _build_bad_folder(folder)
    shutil.copy(DATA / "obama_2.jpg", folder / "good_obama.jpg")
    before = _hashes(folder)
    params = small_params(tmp)
    raw = yaml.safe_load(params.read_text())
    raw["dataset"]["characters"][0]["media"] = [str(folder)]
    params.write_text(yaml.safe_dump(raw))
    run = run_folder.open_run(tmp / "run", params)
    result = stage.curate(run)
    return run, result, folder, expected, before


def test_every_bad_file_is_one_rejected_record_with_its_reason(curated_bad):
    _run, result, _folder, expected, _before = curated_bad
    by_name: dict[str, list[dict]] = {}
    for record in result.records:
        by_name.setdefault(record["source"].rsplit("/", 1)[-1], []).append(record)
    assert set(by_name) == set(expected) | {"good_obama.jpg"}
    for name, (code, word) in expected.items():
        records = by_name[name]
        assert len(records) == 1, f"{name}: {len(records)} records"
        rec = records[0]
        assert rec["status"] == rec["auto_status"] == "rejected", name
        assert rec["reasons"] == [code], f"{name}: {rec['reasons']} {rec['reason_details']}"
        assert len(rec["reason_details"]) == 1 and word in rec["reason_details"][0], f"{name}: {rec['reason_details']}"
        assert rec["media"] is None
    # The file with the non-UTF-8 name was read: its frame count is known.
    assert by_name["bad\\xff.mp4"][0]["source_num_frames"] == 1


def test_the_good_photo_is_still_processed(curated_bad):
    run, result, _folder, _expected, _before = curated_bad
    good = [r for r in result.records if r["source"].endswith("good_obama.jpg")]
    assert len(good) == 1 and good[0]["status"] == "accepted", good
    assert good[0]["scores"]["identity_distance"] < 0.6
    assert run.path("dataset", good[0]["media"]).is_file()


def test_sources_unchanged_and_manifest_is_valid_json(curated_bad):
    run, result, folder, _expected, before = curated_bad
    assert _hashes(folder) == before  # same files, same bytes, nothing added next to them
    text = result.manifest_path.read_bytes().decode("utf-8")  # strict: no lone surrogates written
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == len(result.records)
    assert any(line["source"].endswith("bad\\xff.mp4") for line in lines)
    assert manifest.load_manifest(run) == lines


# --- the same files through ltxbench.media.video ----------------------------------------------


@pytest.fixture(scope="module")
def bad_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bad_video") / "media"
    _build_bad_folder(folder)
    return folder


@pytest.mark.parametrize("name, message", [
    ("zero_bytes.mp4", r"zero_bytes\.mp4: the file is empty \(0 bytes\)"),
    ("truncated.mp4", r"truncated\.mp4: Invalid data found .*truncated or corrupt"),
    ("notes.mp4", r"notes\.mp4: Invalid data found"),
    ("audio_only.mkv", r"audio_only\.mkv: it has no video stream \(1 audio stream"),
    ("audio_only.webm", r"audio_only\.webm: it has no video stream"),
])
def test_unreadable_videos_give_one_clear_line(bad_folder: Path, name: str, message: str):
    for call in (video.probe, lambda p: video.read_frames(p, [0])):
        with pytest.raises(video.MediaError, match=message) as info:
            call(bad_folder / name)
        assert "\n" not in str(info.value) and "/github/workspace" not in str(info.value)


def test_odd_but_readable_files(bad_folder: Path):
    one = video.probe(bad_folder / "one_frame.mp4")
    assert (one.num_frames, one.width, one.height) == (1, 320, 176)
    assert video.read_frames(bad_folder / "one_frame.mp4", [0]).shape == (1, 176, 320, 3)
    assert video.read_image(bad_folder / "ribbon.png").shape == (4, 20_000, 3)
    tiny = video.probe(bad_folder / "two_pixels.mp4")  # probe works, so curate can say "too small"
    assert (tiny.width, tiny.height, tiny.num_frames) == (2, 2, 30)
    with pytest.raises(video.MediaError, match=r"2x2: decord 0\.6 cannot decode some frame sizes this small"):
        video.read_frames(bad_folder / "two_pixels.mp4", [0])
    with pytest.raises(video.MediaError, match="the file is empty"):
        video.read_image(bad_folder / "zero_bytes.mp4")


def test_non_utf8_name_is_readable_and_named_with_escapes(bad_folder: Path, tmp_path: Path):
    odd = Path(os.fsdecode(os.fsencode(bad_folder) + b"/" + NON_UTF8))
    info = video.probe(odd)
    assert info.num_frames == 1 and info.path == odd
    assert video.read_frames(odd, [0]).shape == (1, 176, 320, 3)
    assert video.display_path(odd).endswith("bad\\xff.mp4")
    broken = Path(os.fsdecode(os.fsencode(tmp_path) + b"/broken\xfe.mp4"))
    broken.write_text("not a video")
    with pytest.raises(video.MediaError, match=r"broken\\xfe\.mp4") as err:
        video.probe(broken)
    str(err.value).encode("utf-8")  # printable: no lone surrogate in the message
