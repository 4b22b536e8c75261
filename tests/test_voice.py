"""Whose voice: the speaker measure on real speech (nine LibriSpeech utterances of three speakers,
tests/data/speech), the user-supplied WavLM backend on a tiny random model saved like a real one,
and curate on real video with real speech muxed in (nothing mocked: Resemblyzer, silero-vad, PyAV)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import yaml

from ltxbench import voice
from ltxbench.curate import stage
from ltxbench.media import frames as media_frames
from ltxbench.media import video
from ltxbench.run import atomic
from ltxbench.run import folder as run_folder

from conftest import DATA, mux_video, small_params

SPEECH = sorted((DATA / "speech").glob("*.flac"))


def _speaker(path) -> str:
    return path.stem.split("-")[0]


@pytest.fixture(scope="module")
def encoder() -> voice.VoiceEncoder:
    return voice.VoiceEncoder.load()


@pytest.fixture(scope="module")
def utterances() -> dict[str, np.ndarray]:
    return {p.stem: voice.read_mono_16k(p) for p in SPEECH}


def test_the_voice_measure_separates_the_three_speakers(encoder, utterances):
    assert len(SPEECH) == 9 and len({_speaker(p) for p in SPEECH}) == 3
    emb = {name: encoder.embed(mono) for name, mono in utterances.items()}
    same, diff = [], []
    for a, b in itertools.combinations(emb, 2):
        cos = float(emb[a] @ emb[b])
        (same if a.split("-")[0] == b.split("-")[0] else diff).append(cos)
    auc = np.mean([[s > d for d in diff] for s in same])
    assert auc == 1.0  # every same-speaker pair above every different-speaker pair
    # on the documented scale: the same speaker above 0.5, others below (threshold 0.75 between the ranges)
    assert min(encoder.similarity(c) for c in same) > 0.5 > max(encoder.similarity(c) for c in diff)
    assert encoder.similarity(encoder.threshold) == 0.5 and encoder.similarity(1.0) == 1.0


def test_two_voices_in_one_clip_are_found_and_one_voice_is_steady(encoder, utterances):
    one = utterances["1688-142285-0000"]
    two = np.concatenate([one[:6 * voice.RATE], utterances["1998-15444-0000"][:6 * voice.RATE]])
    refs = np.stack([encoder.embed(utterances["1688-142285-0001"])])
    alone = voice.clip_voice(one, refs, encoder)
    mixed = voice.clip_voice(two, refs, encoder)
    assert alone["several_speakers"] is False and mixed["several_speakers"] is True
    assert alone["voice_similarity"] > 0.5 and alone["voice_drift"] < mixed["voice_drift"]
    silence = voice.clip_voice(np.zeros(5 * voice.RATE, np.float32), refs, encoder)
    assert silence == {"voice_similarity": None, "voice_min_window_cosine": None, "voice_drift": None,
                       "several_speakers": None}  # no speech: no voice score, never 0


def test_reference_voices_without_speech_are_named(tmp_path, encoder):
    silent = tmp_path / "silent.wav"
    from ltxbench.media.audio import write_wav

    write_wav(silent, np.zeros((1, 3 * voice.RATE), np.float32), voice.RATE)
    with pytest.raises(voice.NoSpeechError, match=r"silent\.wav: under 1 s of speech"):
        voice.reference_voices([SPEECH[0], silent, DATA / "sintel_10s.mp4"], encoder)
    with pytest.raises(voice.NoSpeechError, match=r"sintel_10s\.mp4: (no audio stream|under 1 s of speech)"):
        voice.reference_voices([DATA / "sintel_10s.mp4"], encoder)


def test_a_wavlm_speaker_model_the_user_supplies_loads_and_its_absence_says_what_to_get(tmp_path, utterances):
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    missing = tmp_path / "nowhere"
    with pytest.raises(voice.VoiceModelMissingError, match="hf download microsoft/wavlm-base-plus-sv"):
        voice.VoiceEncoder.load("wavlm", missing)
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    config = WavLMConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                         conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 4), num_conv_pos_embeddings=16,
                         num_conv_pos_embedding_groups=2, tdnn_dim=(16, 16), tdnn_kernel=(3, 1), tdnn_dilation=(1, 1),
                         xvector_output_dim=12, num_buckets=16, max_bucket_distance=32)
    folder = tmp_path / "wavlm"
    WavLMForXVector(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True,
                             return_attention_mask=True).save_pretrained(folder)
    enc = voice.VoiceEncoder.load("wavlm", folder)
    emb = enc.embed(utterances["2033-164914-0000"])
    assert emb.shape == (12,) and abs(float(np.linalg.norm(emb)) - 1.0) < 1e-5 and enc.threshold == 0.86


def _talking(tmp_path, name, frames, speech):
    return mux_video(tmp_path / f"{name}.mp4", frames, 24, speech, voice.RATE)


def test_curate_rejects_another_persons_voice_and_two_speakers(tmp_path, utterances):
    speech = {k: voice.speech_only(v) for k, v in utterances.items()}  # voiced throughout, like a talking head
    seven = 7 * voice.RATE  # 7-s clips (169 frames at 24 fps): two speakers of 3.5 s each give whole 2-s windows
    face = {n: media_frames.image_to_clip(video.read_image(DATA / n), 128, 128, 192, motion="pan", amount=0.05)
            for n in ("obama_2.jpg", "obama_3.jpg")}
    own = _talking(tmp_path, "own", face["obama_2.jpg"], speech["1688-142285-0000"][:seven])
    other = _talking(tmp_path, "other", face["obama_3.jpg"], speech["1998-15444-0000"][:seven])
    both = _talking(tmp_path, "both", face["obama_2.jpg"][:, :, ::-1].copy(),  # mirrored: not a duplicate of "own"
                    np.concatenate([speech["1688-142285-0000"][seven:seven + seven // 2],
                                    speech["2033-164914-0000"][:seven // 2]]))
    path = small_params(tmp_path, curate={"clip_frames": 169, "resolution": 64})
    raw = yaml.safe_load(path.read_text())
    raw["dataset"]["characters"][0]["media"] = [str(own), str(other), str(both)]
    raw["dataset"]["characters"][0]["voices"] = [str(SPEECH[1])]  # 1688-142285-0001: the character's voice
    path.write_text(yaml.safe_dump(raw))
    run = run_folder.open_run(tmp_path / "run", path)
    records = {r["source"].rsplit("/", 1)[-1]: r for r in stage.curate(run).records}
    assert set(records) == {"own.mp4", "other.mp4", "both.mp4"}
    mine = records["own.mp4"]
    assert mine["status"] == "accepted" and mine["scores"]["voice_similarity"] > 0.5
    assert mine["scores"]["voice_backend"] == "resemblyzer"
    assert "wrong_voice" in records["other.mp4"]["reasons"] and records["other.mp4"]["scores"]["voice_similarity"] < 0.5
    assert any("curate.min_voice_similarity" in d for d in records["other.mp4"]["reason_details"])
    assert "several_speakers" in records["both.mp4"]["reasons"]
    cov = atomic.read_json_object(run.path("dataset", "coverage.json"), "coverage")["characters"]["obama"]
    assert cov["accepted_own_voice"] == 1 and cov["rejected_by_reason"]["wrong_voice"] == 1
    # a reference voice without speech stops curate before any clip is scored, naming the file
    raw["dataset"]["characters"][0]["voices"] = [str(DATA / "sintel_10s.mp4")]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(voice.NoSpeechError, match="sintel_10s.mp4"):
        stage.curate(run_folder.open_run(tmp_path / "run2", path))


def test_evaluate_scores_the_generated_voice_and_an_audio_lora_must_speak_as_the_character(tmp_path, utterances):
    from ltxbench.evaluate import select as eval_select
    from ltxbench.evaluate import stage as evaluate

    speech = {k: voice.speech_only(v)[:5 * voice.RATE] for k, v in utterances.items()}
    face = {n: media_frames.image_to_clip(video.read_image(DATA / n), 128, 128, 120, motion="pan", amount=0.05)
            for n in ("obama_2.jpg", "biden_1.jpg")}
    root = tmp_path / "videos"
    made = {("base", "talk_s0"): ("biden_1.jpg", "2033-164914-0000"),
            ("step_000100", "talk_s0"): ("obama_2.jpg", "1688-142285-0000"),  # the character, in their own voice
            ("step_000100", "talk-notrigger_s0"): ("biden_1.jpg", "2033-164914-0000"),
            ("step_000200", "talk_s0"): ("obama_2.jpg", "1998-15444-0000")}  # the face, somebody else's voice
    for (ckpt, name), (photo, utt) in made.items():
        (root / ckpt).mkdir(parents=True, exist_ok=True)
        video.write_mp4(root / ckpt / f"{name}.mp4", face[photo], 24, audio=(speech[utt], voice.RATE))
    video.write_mp4(root / "step_000200" / "talk-notrigger_s0.mp4", face["biden_1.jpg"], 24)  # no sound: no voice row
    result = evaluate.score_folder(root, [DATA / "obama_1.jpg"], tmp_path / "eval", face_frames=4,
                                   voices=[SPEECH[1]], rules=eval_select.Rules(audio_trained=True))
    rows = {(r["checkpoint"], r["prompt_id"], r["metric"]): float(r["value"])
            for r in __import__("csv").DictReader(open(result.metrics_path))}
    assert rows[("step_000100", "talk", "voice_similarity")] > 0.5 > rows[("step_000200", "talk", "voice_similarity")]
    assert rows[("base", "talk", "voice_similarity")] < 0.5 and rows[("step_000100", "talk", "speech_found_rate")] > 0.8
    assert rows[("step_000100", "talk", "leakage_voice_similarity")] < 0.5
    assert not any(k[0] == "step_000200" and k[2] == "leakage_voice_similarity" for k in rows)  # silent video
    best = result.best
    assert best["checkpoint"] == "step_000100" and any(r.startswith("voice:") for r in best["eliminated"]["step_000200"])
    assert result.figure("voice_curve").stat().st_size > 5000
    # the same folder for a LoRA not trained on sound: the voice does not decide, and says so
    silent = evaluate.score_folder(root, [DATA / "obama_1.jpg"], tmp_path / "eval2", face_frames=4, voices=[SPEECH[1]])
    assert silent.best["rules"]["voice"].startswith("not applied: the LoRA was not trained on sound")
    no_refs = evaluate.score_folder(root, [DATA / "obama_1.jpg"], tmp_path / "eval3", face_frames=4)
    assert any("no character has reference voices" in n for n in no_refs.notes)


def test_with_several_characters_the_voices_get_a_bleed_margin_and_matrix(tmp_path, utterances):
    from ltxbench.evaluate import stage as evaluate

    speech = {k: voice.speech_only(v)[:5 * voice.RATE] for k, v in utterances.items()}
    face = {n: media_frames.image_to_clip(video.read_image(DATA / n), 128, 128, 120, motion="pan", amount=0.05)
            for n in ("obama_2.jpg", "biden_1.jpg")}
    root = tmp_path / "videos"
    for name, photo, utt in (("obama-talk_s0", "obama_2.jpg", "1688-142285-0000"), ("biden-talk_s0", "biden_1.jpg", "1998-15444-0000")):
        (root / "step_000100").mkdir(parents=True, exist_ok=True)
        video.write_mp4(root / "step_000100" / f"{name}.mp4", face[photo], 24, audio=(speech[utt], voice.RATE))
    refs = {"obama": [DATA / "obama_1.jpg"], "biden": [DATA / "biden_1.jpg"]}
    voices = {"obama": [SPEECH[1]], "biden": [DATA / "speech" / "1998-15444-0001.flac"]}
    result = evaluate.score_folder(root, refs, tmp_path / "eval", face_frames=4, voices=voices)
    margins = {r["prompt_id"]: float(r["value"]) for r in __import__("csv").DictReader(open(result.metrics_path))
               if r["metric"] == "voice_bleed_margin"}
    assert margins["obama-talk"] > 0 and margins["biden-talk"] > 0  # each speaks in their own voice, not the other's
    assert result.figure("voice_bleed").stat().st_size > 5000
