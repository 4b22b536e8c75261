"""ltxbench.media.audio and ltxbench.media.audio_analysis on real media: the synthesised speech in tests/data, a video muxed from real
footage plus that speech, and generated noise and chords (nothing mocked; silero-vad is real)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from ltxbench.media import audio, audio_analysis
from ltxbench.media import frames as media_frames
from ltxbench.media import video

from conftest import mux_video

DATA = Path(__file__).resolve().parent / "data"
SPEECH = DATA / "speech_en.wav"  # 7.0 s: 0.5 s silence, 6 s of espeak-ng speech, 0.5 s silence
TOS = DATA / "tears_of_steel_10s.mp4"


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    read = audio.read_audio(SPEECH)
    assert read is not None
    samples, rate = read
    assert rate == 16_000 and samples.shape == (1, 111_462)
    return samples[0]


@pytest.fixture(scope="module")
def talking_video(tmp_path_factory: pytest.TempPathFactory, speech: np.ndarray) -> Path:
    frames = np.stack([media_frames.resize_crop(f, 160, 96) for f in video.read_frames(TOS, range(0, 168))])
    return mux_video(tmp_path_factory.mktemp("mux") / "talking.mp4", frames, 24, speech, 16_000)


def test_speech_is_found(speech: np.ndarray):
    scores = audio_analysis.analyze_audio(SPEECH, 0.0, 7.0)
    assert scores["audio_present"] is True
    # 6.0 s of the 7.0 s are spoken; silero leaves out the pauses between phrases.
    assert 0.55 <= scores["speech_ratio"] <= 0.9
    assert -30 < scores["loudness_lufs"] < -12
    assert scores["audio_flag"] is None and scores["audio_usable"] is True
    # The half second of leading silence has no speech and is too quiet to use.
    quiet = audio_analysis.analyze_audio(SPEECH, 0.0, 0.45)
    assert quiet["speech_ratio"] == 0.0 and quiet["loudness_lufs"] is None and quiet["audio_usable"] is False


def test_white_noise_is_flagged(tmp_path: Path):
    rng = np.random.default_rng(0)
    path = audio.write_wav(tmp_path / "noise.wav", rng.normal(0, 0.1, 16_000 * 4), 16_000)
    scores = audio_analysis.analyze_audio(path, 0.0, 4.0)
    assert scores["audio_flag"] == "noise" and scores["audio_usable"] is False
    assert scores["speech_ratio"] < 0.1


def test_chord_is_flagged_as_music(tmp_path: Path):
    t = np.arange(44_100 * 4) / 44_100
    chord = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0))  # C major
    path = audio.write_wav(tmp_path / "chord.wav", np.stack([chord, chord]), 44_100)
    scores = audio_analysis.analyze_audio(path, 0.5, 3.0)
    assert scores["audio_flag"] == "music" and scores["audio_usable"] is False
    assert scores["speech_ratio"] < audio_analysis.MUSIC_MAX_SPEECH


def test_speech_features_are_not_flagged(speech: np.ndarray):
    flatness, tonal = audio_analysis.spectral_features(speech)
    assert np.median(flatness) < audio_analysis.NOISE_FLATNESS / 10
    assert tonal.mean() < audio_analysis.MUSIC_TONAL_SHARE  # glides between syllables break the stability


def test_clipped_audio_is_not_usable(tmp_path: Path, speech: np.ndarray):
    path = audio.write_wav(tmp_path / "hot.wav", np.clip(speech * 8, -1, 1), 16_000)
    scores = audio_analysis.analyze_audio(path, 0.0, 7.0)
    assert scores["speech_ratio"] > 0.5 and scores["audio_usable"] is False


def test_video_without_audio():
    scores = audio_analysis.analyze_audio(TOS, 1.0, 2.0)
    assert scores == {"audio_present": False, "speech_ratio": None, "loudness_lufs": None,
                      "audio_flag": None, "audio_usable": None}
    assert audio.read_audio(TOS, 0.0, 1.0) is None


def test_read_span_from_muxed_video(talking_video: Path, speech: np.ndarray):
    assert video.probe(talking_video).has_audio is True
    read = audio.read_audio(talking_video, 2.0, 1.5)
    assert read is not None
    span, rate = read
    assert rate == 16_000 and span.shape == (1, 24_000)
    # AAC is lossy and the encoder adds priming: find the span in the WAV by cross-correlation.
    # It must sit at 2.0 s to within a few milliseconds and match closely in shape.
    ref = speech[16_000:56_000]
    corr = np.correlate(ref, span[0], mode="valid")
    lag = int(np.argmax(corr)) - 16_000
    assert abs(lag) <= 80  # 5 ms
    aligned = speech[32_000 + lag:32_000 + lag + 24_000]
    assert np.corrcoef(aligned, span[0])[0, 1] > 0.9
    up = audio.read_audio(talking_video, 2.0, 1.5, sample_rate=48_000)
    assert up is not None and up[1] == 48_000 and up[0].shape == (1, 72_000)
    scores = audio_analysis.analyze_audio(talking_video, 1.0, 4.0)
    assert scores["audio_present"] and scores["speech_ratio"] > 0.5 and scores["audio_usable"]
    tail = audio.read_audio(talking_video, 20.0, 1.0)  # past the end of the audio
    assert tail is not None and tail[0].shape[1] == 0
    assert audio_analysis.analyze_audio(talking_video, 20.0, 1.0)["audio_present"] is False


def test_audio_that_starts_late_stays_in_sync(tmp_path: Path, speech: np.ndarray):
    frames = np.zeros((72, 64, 64, 3), np.uint8)
    path = mux_video(tmp_path / "late.mp4", frames, 24, speech[:32_000], 16_000, audio_start_s=1.0)
    read = audio.read_audio(path, 0.5, 2.0)
    assert read is not None and read[0].shape == (1, 32_000)
    span = read[0][0]
    # 0.5 s of padding silence, then the WAV's own first 0.5 s (silent too), then speech at 1.5 s.
    assert np.abs(span[:15_000]).max() < 0.01
    onset = int(np.argmax(np.abs(span) > 0.05))
    wav_onset = int(np.argmax(np.abs(speech) > 0.05))
    assert abs(onset - (8_000 + wav_onset)) <= 160  # 10 ms, AAC's priming and filter delay


def _tone(dbfs: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * 1000 * t)


def test_loudness_matches_the_standard():
    for rate in (48_000, 44_100, 16_000):
        def stereo(*parts: tuple[float, float]) -> np.ndarray:
            mono = np.concatenate([_tone(dbfs, s, rate) for dbfs, s in parts])
            return np.stack([mono, mono])
        # EBU Tech 3341 test cases 1-5: each reads the given level to within +-0.1 LU.
        assert audio_analysis.loudness_lufs(stereo((-23, 20)), rate) == pytest.approx(-23.0, abs=0.1)
        assert audio_analysis.loudness_lufs(stereo((-33, 20)), rate) == pytest.approx(-33.0, abs=0.1)
        assert audio_analysis.loudness_lufs(stereo((-36, 10), (-23, 60), (-36, 10)), rate) == pytest.approx(-23.0, abs=0.1)
        assert audio_analysis.loudness_lufs(stereo((-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)),
                                            rate) == pytest.approx(-23.0, abs=0.1)
        assert audio_analysis.loudness_lufs(stereo((-26, 20), (-20, 20.1), (-26, 20)), rate) == pytest.approx(-23.0, abs=0.1)
        assert audio_analysis.loudness_lufs(_tone(-23, 5, rate)[None], rate) == pytest.approx(-26.0, abs=0.1)  # mono: -3 dB
    rate = 48_000
    # A span shorter than one 400 ms block is measured as one block of its own length.
    assert audio_analysis.loudness_lufs(np.stack([_tone(-23, 0.3, rate)] * 2), rate) == pytest.approx(-23.0, abs=0.1)
    # 5.1 (L R C LFE Ls Rs): the LFE is left out, the surrounds weigh 1.41: 10*log10(3 + 2*1.41) - 3.01 dB above stereo.
    surround = np.stack([_tone(-23, 5, rate)] * 6)
    assert audio_analysis.loudness_lufs(surround, rate) == pytest.approx(-23.0 + 10 * np.log10(5.82 / 2), abs=0.1)
    surround[3] *= 10  # a loud LFE changes nothing
    assert audio_analysis.loudness_lufs(surround, rate) == pytest.approx(-23.0 + 10 * np.log10(5.82 / 2), abs=0.1)
    with pytest.raises(ValueError, match="8 channels"):
        audio_analysis.loudness_lufs(np.zeros((8, rate)), rate)
    # Gating: 10 s of tone then 10 s of near-silence reads as the tone, not 3 dB below it.
    rate = 16_000
    tone = _tone(-23, 10, rate)
    gated = audio_analysis.loudness_lufs(np.concatenate([tone, tone * 1e-4])[None], rate)
    assert gated == pytest.approx(-26.0, abs=0.1)
    assert audio_analysis.loudness_lufs(np.zeros((1, rate)), rate) is None
    assert audio_analysis.loudness_lufs(np.zeros((1, 0)), rate) is None


def test_write_wav_round_trip_and_atomic(tmp_path: Path, speech: np.ndarray):
    target = tmp_path / "out" / "clip.wav"
    stereo = np.stack([speech, -speech])
    assert audio.write_wav(target, stereo, 16_000) == target
    with wave.open(str(target)) as fh:
        assert (fh.getnchannels(), fh.getframerate(), fh.getsampwidth()) == (2, 16_000, 2)
    back, rate = audio.read_audio(target)
    assert rate == 16_000 and back.shape == stereo.shape
    assert np.abs(back - stereo).max() < 1e-4
    with pytest.raises(ValueError, match="NaN"):
        audio.write_wav(target, np.array([0.0, np.nan]), 16_000)
    with pytest.raises(ValueError, match="float"):
        audio.write_wav(target, np.zeros(10, np.int16), 16_000)
    assert sorted(p.name for p in target.parent.iterdir()) == ["clip.wav"]  # old file kept, no temp left


def test_read_audio_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="gone.wav"):
        audio.read_audio(tmp_path / "gone.wav")
    bogus = tmp_path / "bogus.wav"
    bogus.write_text("not audio at all\n")
    with pytest.raises(video.MediaError, match="bogus.wav"):
        audio_analysis.analyze_audio(bogus, 0.0, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        audio.read_audio(SPEECH, -1.0, 1.0)
