"""Caption stage: backends (template on real footage, a tiny real VLM, user files), triggers, every
lint rule both ways, the editor through the manifest, and the export read back."""

from __future__ import annotations

import csv
import json
import shutil
from types import SimpleNamespace

import pytest
import yaml

from ltxbench import errors
from ltxbench.caption import stage as caption
from ltxbench.caption.lint import RULES, LintSettings, TokenCounter, lint_caption, lint_records, token_counter
from ltxbench.caption.template import template_caption
from ltxbench.caption.triggers import trigger_problems, with_trigger
from ltxbench.caption.vlm import VLMCaptioner, VLMNotFoundError, caption_problems
from ltxbench.curate import stage
from ltxbench.errors import ParamsError
from ltxbench.media.frames import sample_indices
from ltxbench.model import tiny
from ltxbench.params import loading, schema
from ltxbench.run import atomic
from ltxbench.run import folder as run_folder

from conftest import DATA, small_params

TRIGGERS = {"obama": "obmx", "biden": "bdnx"}


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    """Two characters on real photos: obama (two clips) and biden (one clip), curated once."""
    tmp = tmp_path_factory.mktemp("caption")
    path = small_params(tmp)
    raw = yaml.safe_load(path.read_text())
    # biden_1 only in biden's folder: in obama's too it would be assigned to biden (the face matches
    # his references) and the second copy rejected as a duplicate
    raw["dataset"]["characters"][0]["media"] = [str(DATA / "obama_2.jpg"), str(DATA / "obama_3.jpg")]
    raw["dataset"]["characters"].append({"name": "biden", "trigger": "bdnx", "references": [str(DATA / "biden_1.jpg")],
                                         "media": [str(DATA / "biden_1.jpg")]})
    path.write_text(yaml.safe_dump(raw))
    run = run_folder.open_run(tmp / "run", path)
    result = stage.curate(run)
    assert sorted(r["id"] for r in result.accepted) == ["biden-biden-1-000", "obama-obama-2-000", "obama-obama-3-000"]
    return run


def _copy(run, tmp_path):
    shutil.copytree(run.dir, tmp_path / "run")
    return run_folder.open_run(tmp_path / "run")


@pytest.fixture(scope="module")
def vlm_folder(tmp_path_factory):
    """The tiny random Qwen2.5-VL saved as a local model folder, loaded back by the real code path."""
    from ltxbench.caption.tiny_vlm import build_tiny_vlm

    folder = tmp_path_factory.mktemp("vlm")
    model, processor = build_tiny_vlm(seed=3)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


# ---------------------------------------------------------------------------------------
# Template backend on real footage
# ---------------------------------------------------------------------------------------


def test_template_captions_carry_own_trigger_once_and_describe_what_varies(curated, tmp_path):
    run = _copy(curated, tmp_path)
    res = caption.caption(run)
    assert res.backend == "template" and res.captioned == 3 and res.errors == []
    for r in res.accepted:
        text = r["caption"]
        assert text.startswith(TRIGGERS[r["character"]] + ", ")
        assert text.count("obmx") + text.count("bdnx") == 1
        assert "still photograph with a slow camera pan" in text
        # the caption says what curate measured for this clip: head angle and expression; a photo has no sound
        scores = r["scores"]
        assert {"front": "facing the camera", "three_quarter": "three-quarter", "profile": "in profile"}[scores["yaw_bin"]] in text
        assert {"neutral": "neutral expression", "smiling": "smiling", "talking": "talking"}[scores["expression"]] in text
        assert not any(word in text for word in ("sound", "silent"))
        assert r["caption_source"] == "template" and isinstance(r["lint"], list)
    assert atomic.read_jsonl(run.path("dataset", "manifest.jsonl")) == res.records
    table = res.table()
    assert list(table.columns) == ["id", "character", "caption", "source", "errors", "warnings", "lint"] and len(table) == 3
    assert set(res.lint_table()["code"]) <= set(RULES)
    assert "tokens of the tiny LTX text encoder" in res.length_unit


def test_template_captions_real_video_footage(tmp_path):
    from PIL import Image

    from ltxbench.media import video

    frames = video.read_frames(DATA / "tears_of_steel_10s.mp4", range(130, 147))  # part of a shot with a face in it
    ref = tmp_path / "actor.jpg"  # that actor, as the reference photo
    Image.fromarray(frames[8]).save(ref)
    clip = video.write_mp4(tmp_path / "shot.mp4", frames, fps=24)  # one 17-frame clip of real footage: a quick curate
    path = small_params(tmp_path, curate={"clip_frames": 17})
    raw = yaml.safe_load(path.read_text())
    raw["dataset"]["characters"] = [{"name": "actor", "trigger": "ktrz", "references": [str(ref)],
                                     "media": [str(clip)]}]
    path.write_text(yaml.safe_dump(raw))
    run = run_folder.open_run(tmp_path / "run", path)
    stage.curate(run)
    res = caption.caption(run)
    assert res.accepted and res.errors == []
    for r in res.accepted:
        assert r["source_kind"] == "video" and r["caption"].startswith("ktrz, a ") and r["caption"].count("ktrz") == 1
        assert r["caption"].endswith("video footage, silent")  # this excerpt has no audio track
        assert {"close_up": "close-up", "medium": "medium", "wide": "wide"}[r["scores"]["framing"]] in r["caption"]


def test_template_uses_angle_expression_and_audio_only_when_measured():
    base = {"source_kind": "video", "camera_motion": None, "scores": {"face_height": 0.4, "brightness": 0.7}}
    assert template_caption(base) == "a close-up shot of a person, bright lighting, video footage"
    rich = {**base, "has_audio": True, "scores": {**base["scores"], "yaw_bin": "profile", "expression": "talking"}}
    assert template_caption(rich) == "a close-up shot of a person in profile, talking, bright lighting, video footage, with sound"
    silent = {**base, "scores": {**base["scores"], "yaw_bin": "front", "expression": "smiling", "has_audio": False}}
    assert template_caption(silent) == "a close-up shot of a person facing the camera, smiling, bright lighting, video footage, silent"
    # the fields curate writes now: categorical framing and lighting win over the raw numbers
    current = {"source_kind": "video", "scores": {"face_height": 0.05, "framing": "medium", "brightness": 0.9,
                                                  "lighting": "normal", "yaw_bin": "three_quarter", "audio_present": True}}
    assert template_caption(current) == "a medium shot of a person in three-quarter view, soft lighting, video footage, with sound"
    photo = {"source_kind": "image", "camera_motion": "zoom", "scores": {"framing": "close_up", "audio_present": False}}
    assert template_caption(photo) == "a close-up shot of a person, natural lighting, still photograph with a slow zoom"
    animated = {**current, "scores": {**current["scores"], "style": "stylised"}}  # curate's style cue names the look
    assert template_caption(animated) == "a medium shot of a person in three-quarter view, soft lighting, animation, with sound"


# ---------------------------------------------------------------------------------------
# Triggers
# ---------------------------------------------------------------------------------------


def test_trigger_insertion_is_idempotent_and_never_duplicates():
    for text in ("a wide shot", "obmx walks", "a wide shot.", "Obmx smiles at the camera", "", "a shot of obmx, obmx"):
        for position in ("start", "end"):
            once = with_trigger(text, "obmx", position)
            assert with_trigger(once, "obmx", position) == once
            assert once.count("obmx") >= 1 and "Obmx" not in once
    assert with_trigger("a wide shot", "obmx", "start") == "obmx, a wide shot"
    assert with_trigger("a wide shot.", "obmx", "end") == "a wide shot, obmx"
    assert with_trigger("obmx walks", "obmx", "start") == "obmx walks"
    assert with_trigger("Obmx smiles", "obmx", "start") == "obmx smiles"  # case variant fixed, not doubled
    assert with_trigger("obmx2 walks", "obmx", "start") == "obmx, obmx2 walks"  # obmx2 is another word


def test_trigger_validation_refuses_words_substrings_and_case_twins(curated, tmp_path):
    chars = lambda *ts: [SimpleNamespace(trigger=t) for t in ts]  # noqa: E731
    assert trigger_problems(chars("obmx", "bdnx")) == []
    found = {(p.field, p.value): p.allowed for p in trigger_problems(chars("smile", "john", "obm", "obmx", "Bdnx", "bdnx", "zq,"))}
    assert "English word" in found[("dataset.characters.0.trigger", "smile")]
    assert "common name" in found[("dataset.characters.1.trigger", "john")]
    assert "inside another character's trigger 'obmx'" in found[("dataset.characters.2.trigger", "obm")]
    assert "only in case" in found[("dataset.characters.4.trigger", "Bdnx")]
    assert "letter or digit" in found[("dataset.characters.6.trigger", "zq,")]
    run = _copy(curated, tmp_path)
    run.params.dataset.characters[0].trigger = "walking"
    with pytest.raises(errors.ParamsError, match="ordinary English word"):
        caption.caption(run)


# ---------------------------------------------------------------------------------------
# Lint: every rule trips on one caption and not on another
# ---------------------------------------------------------------------------------------

TINY_TOKENS = TokenCounter(tiny.build_tiny_tokenizer(), "tiny")
CASES = [  # code, caption that trips it, caption that does not, settings, counter
    ("empty_caption", "  ", "obmx walks along a beach", {}, None),
    ("missing_trigger", "Obmx walks along a beach", "obmx walks along a beach", {}, None),
    ("foreign_trigger", "obmx walks with bdnx on a beach", "obmx walks with a friend on a beach", {}, None),
    ("multiple_triggers", "obmx walks, obmx waves at a crowd", "obmx walks and waves at a crowd", {}, None),
    ("face_words", "obmx, a man with Blue-Eyed gaze and a square jaw", "obmx, a man looking at the camera", {}, None),
    ("too_short", "obmx walks", "obmx walks along a sunny beach", {"min_tokens": 5}, None),
    ("too_long", "obmx " + "walks along the beach " * 20, "obmx walks along the beach", {"max_tokens": 40}, None),
    ("truncated", "obmx, a caption that runs past sixteen bytes", "obmx walks", {"max_sequence_length": 16}, TINY_TOKENS),
    ("trigger_truncated", "a caption that runs past sixteen bytes, obmx", "obmx, a caption that runs past sixteen bytes",
     {"max_sequence_length": 16}, TINY_TOKENS),
    ("control_characters", "obmx walks\nalong a\u200b beach", "obmx walks along a beach", {}, None),
    ("invalid_utf8", "obmx walks along a \ufffd beach", "obmx walks along a beach café", {}, None),
]


@pytest.mark.parametrize("code, bad, good, settings, counter", CASES, ids=[c[0] for c in CASES])
def test_each_caption_rule_trips_on_one_caption_and_not_another(code, bad, good, settings, counter):
    lint = lambda text: lint_caption(text, "obmx", ["bdnx"], settings=LintSettings(**settings), counter=counter)  # noqa: E731
    found = lint(bad)
    assert code in {x["code"] for x in found}
    assert {x["level"] for x in found if x["code"] == code} == {RULES[code][0]}
    assert code not in {x["code"] for x in lint(good)}


def _rec(i, char, text):
    return {"id": f"{char}-{i:03d}", "character": char, "status": "accepted", "caption": text}


def test_dataset_rules_near_duplicate_and_inconsistent_wording():
    settings, counter = LintSettings(), TokenCounter()
    recs = [_rec(0, "obama", "obmx, a close-up of a person, soft lighting"),
            _rec(1, "obama", "obmx, a close-up of a person, soft lighting."),
            _rec(2, "obama", "obmx, a wide shot of a person walking on a beach at dusk"),
            _rec(3, "biden", "bdnx, a close-up of a person, soft lighting")]  # same words, other character: fine
    codes = {r["id"]: {x["code"] for x in r["lint"]} for r in lint_records(recs, TRIGGERS, settings, counter)}
    assert "near_duplicate" in codes["obama-000"] and "near_duplicate" in codes["obama-001"]
    assert "near_duplicate" not in codes["obama-002"] and "near_duplicate" not in codes["biden-003"]
    assert not any("inconsistent_wording" in c for c in codes.values())
    recs[2]["caption"] = "Cinematic: OBMX-style subject; dramatic chiaroscuro ambience evoking noir, obmx"
    codes = {r["id"]: {x["code"] for x in r["lint"]} for r in lint_records(recs, TRIGGERS, settings, counter)}
    assert "inconsistent_wording" in codes["obama-002"] and "inconsistent_wording" not in codes["obama-000"]
    recs[2]["caption"] = "obmx, a close-up of a person, soft lighting " + "and more words " * 12
    codes = {r["id"]: {x["code"] for x in r["lint"]} for r in lint_records(recs, TRIGGERS, settings, counter)}
    assert "inconsistent_wording" in codes["obama-002"]


def test_levels_can_be_changed_or_switched_off_and_lengths_say_their_unit(tmp_path):
    settings = LintSettings(levels={"face_words": "error", "too_short": "off"})
    found = lint_caption("obmx freckles", "obmx", [], settings=settings)
    assert [(x["code"], x["level"]) for x in found] == [("face_words", "error")]
    assert token_counter("tiny").count("obmx") == 4  # byte-level: one token per byte
    tiny.build_tiny_tokenizer().save_pretrained(tmp_path / "ltx" / "tokenizer")  # a diffusers folder's tokenizer/
    folder = token_counter(str(tmp_path / "ltx"))
    assert folder.unit == "tokens" and folder.count("obmx walks") == 10 and folder.sequence_length("obmx") == 5
    words = token_counter("/nonexistent/ltx-folder")
    assert words.unit == "words" and "no tokenizer could be loaded" in words.note and words.count("obmx walks") == 2
    assert "only 2 words" in lint_caption("obmx walks", "obmx", [], counter=words)[0]["message"]


# ---------------------------------------------------------------------------------------
# User captions
# ---------------------------------------------------------------------------------------


def test_user_captions_from_csv_sidecars_and_jsonl(curated, tmp_path):
    run = _copy(curated, tmp_path)
    table = tmp_path / "captions.csv"
    table.write_text("id,caption\nobama-obama-2-000,obmx talks at a podium under warm stage lights\n", encoding="utf-8")
    run.path("dataset", "clips", "obama-obama-3-000.txt").write_bytes(b"obmx waves from a car\xff window\n")
    run.params.caption.backend, run.params.caption.user_file = "user", table
    by_id = {r["id"]: r for r in caption.caption(run).accepted}
    assert by_id["obama-obama-2-000"]["caption"] == "obmx talks at a podium under warm stage lights"
    assert by_id["obama-obama-2-000"]["caption_source"] == f"user:{table}"
    assert by_id["obama-obama-3-000"]["caption"] == "obmx waves from a car\ufffd window"
    assert "invalid_utf8" in {x["code"] for x in by_id["obama-obama-3-000"]["lint"]}
    assert by_id["biden-biden-1-000"]["caption"] is None
    assert [x["code"] for x in by_id["biden-biden-1-000"]["lint"]] == ["empty_caption"]

    jsonl = tmp_path / "captions.jsonl"
    jsonl.write_text(json.dumps({"media_path": "biden-biden-1-000.mp4", "caption": "a person at a lectern"}) + "\n")
    run.params.caption.user_file = jsonl
    by_id = {r["id"]: r for r in caption.caption(run).accepted}
    assert by_id["biden-biden-1-000"]["caption"] == "bdnx, a person at a lectern"  # trigger inserted


# ---------------------------------------------------------------------------------------
# VLM backend: a tiny random Qwen2.5-VL through the real transformers code path
# ---------------------------------------------------------------------------------------


def test_vlm_receives_system_prompt_sampled_frames_and_batches(curated, vlm_folder):
    from ltxbench.media import video

    cfg = schema.CaptionVLMSection(model=str(vlm_folder), frames=3, max_new_tokens=8, system_prompt="SYSTEM: describe scene, never eyes")
    captioner = VLMCaptioner.from_settings(cfg)
    forwards, visual = [], []
    captioner.model.register_forward_pre_hook(lambda m, a, kw: forwards.append(kw["input_ids"].clone()), with_kwargs=True)
    captioner.model.model.visual.register_forward_pre_hook(lambda m, a, kw: visual.append((a[0].clone(), kw["grid_thw"].clone())), with_kwargs=True)
    records = [r for r in atomic.read_jsonl(curated.path("dataset", "manifest.jsonl")) if r["status"] == "accepted"]
    clips = [(r, curated.path("dataset", r["media"])) for r in records]
    assert sample_indices(9, 3) == [0, 4, 8] and sample_indices(9, 1) == [0] and sample_indices(3, 8) == [0, 1, 2]

    texts = captioner.caption(clips[:2]) + captioner.caption(clips[2:])
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert [g.shape[0] for _, g in visual] == [6, 3]  # batch of 2 clips x 3 frames, then 1 x 3
    prompts = [f for f in forwards if f.shape[1] > 1]  # the prompt passes, not the one-token decoding steps
    assert [p.shape[0] for p in prompts] == [2, 1]
    tok = captioner.processor.tokenizer
    first = tok.decode(prompts[0][1], skip_special_tokens=False)
    assert "SYSTEM: describe scene, never eyes" in first and "These are 3 frames of one video clip" in first
    assert first.count("<|vision_start|>") == 3
    frames = video.read_frames(clips[2][1], [0, 4, 8])  # the sampled frames are what reaches the vision tower
    expected = captioner.inputs([list(frames)])["pixel_values"]
    assert visual[1][0].shape == expected.shape and bool((visual[1][0] == expected).all())


def test_vlm_stage_inserts_trigger_lints_resumes_and_forces(curated, vlm_folder, tmp_path):
    run = _copy(curated, tmp_path)
    run.params.caption.backend = "vlm"
    run.params.caption.batch_size = 2
    run.params.caption.vlm.model, run.params.caption.vlm.max_new_tokens = str(vlm_folder), 8
    res = caption.caption(run)
    assert res.captioned == 3 and res.kept == 0
    for r in res.accepted:  # gibberish from random weights, but with the trigger, once, and linted
        assert r["caption"].startswith(TRIGGERS[r["character"]] + ", ") and r["caption_source"] == f"vlm:{vlm_folder}"
    stored = atomic.read_jsonl(run.path("dataset", "manifest.jsonl"))
    assert stored == res.records and caption.relint(run, json.loads(json.dumps(stored))) == stored  # lint is current
    again = caption.caption(run)
    assert (again.captioned, again.kept) == (0, 3)
    assert [r["caption"] for r in again.accepted] == [r["caption"] for r in res.accepted]
    assert caption.caption(run, force=True).captioned == 3


def test_absent_vlm_weights_name_what_to_download(curated, tmp_path):
    run = _copy(curated, tmp_path)
    run.params.caption.backend = "vlm"
    run.params.caption.vlm.model = "ltxbench-tests/absent-vlm"
    problems = caption_problems(run.params.caption)
    assert problems and "hf download ltxbench-tests/absent-vlm" in problems[0].allowed
    with pytest.raises(VLMNotFoundError, match="hf download ltxbench-tests/absent-vlm"):
        caption.caption(run)
    assert caption_problems(schema.CaptionSection(backend="vlm", vlm={"model": "tiny"})) == []


# ---------------------------------------------------------------------------------------
# Editor and export
# ---------------------------------------------------------------------------------------


def test_editor_badges_follow_typing_and_save_round_trips_through_the_manifest(curated, tmp_path):
    from ltxbench.ui.caption_editor import CaptionEditor

    run = _copy(curated, tmp_path)
    caption.caption(run)
    editor = CaptionEditor(run, page_size=2)
    assert len(editor.boxes) == 2 and editor.page_label.value == "page 1/2 (3 clips)"
    cid = "obama-obama-2-000"
    editor.boxes[cid].value = "a man with blue eyes at a podium"
    assert "missing_trigger" in editor.badges[cid].value and "face_words" in editor.badges[cid].value
    editor.boxes[cid].value = "obmx speaks at a podium, medium shot, warm stage light"
    assert "missing_trigger" not in editor.badges[cid].value and "near_duplicate" not in editor.badges[cid].value
    editor.save_button.click()
    on_disk = {r["id"]: r for r in atomic.read_jsonl(run.path("dataset", "manifest.jsonl"))}
    assert on_disk[cid]["caption"] == "obmx speaks at a podium, medium shot, warm stage light"
    assert on_disk[cid]["caption_source"] == "editor"
    assert "near_duplicate" not in {x["code"] for x in on_disk["obama-obama-3-000"]["lint"]}
    assert CaptionEditor(run).boxes[cid].value == on_disk[cid]["caption"]  # a fresh editor reads it back
    paths = editor.export_sidecars()
    assert run.path("dataset", "clips", f"{cid}.txt").read_text() == on_disk[cid]["caption"] and len(paths) == 3
    assert on_disk[cid]["caption"] in run.path("dataset", "dataset.csv").read_text()  # the csv is refreshed too
    rerun = {r["id"]: r for r in caption.caption(run).accepted}
    assert rerun[cid]["caption"] == on_disk[cid]["caption"]  # the stage keeps hand edits unless forced


def test_a_hand_written_caption_survives_re_curating_recaptioning_and_export(curated, tmp_path):
    from ltxbench.ui.caption_editor import CaptionEditor

    run = _copy(curated, tmp_path)
    caption.caption(run)
    editor = CaptionEditor(run)
    cid, typed = "obama-obama-2-000", "obmx speaks at a podium, medium shot, warm stage light"
    editor.boxes[cid].value = typed
    editor.save_button.click()  # the widget's real save path
    assert json.loads(run.path("dataset", "caption_edits.json").read_text())[cid]["caption"] == typed
    template_of_other = {r["id"]: r["caption"] for r in atomic.read_jsonl(run.path("dataset", "manifest.jsonl"))}["biden-biden-1-000"]
    stage.curate(run)  # what Run All in 01 does: the manifest is rebuilt from scratch
    after = {r["id"]: r for r in atomic.read_jsonl(run.path("dataset", "manifest.jsonl"))}
    assert after[cid]["caption"] == typed and after[cid]["caption_source"] == "editor"
    assert after["biden-biden-1-000"]["caption"] == template_of_other  # an unchanged clip keeps its caption too
    result = caption.caption(run)
    assert {r["id"]: r["caption"] for r in result.accepted}[cid] == typed and result.kept == 1
    exported = caption.export(run)
    with open(exported.csv_path, newline="", encoding="utf-8") as fh:
        assert typed in {row["caption"] for row in csv.DictReader(fh)}
    # only an explicit force replaces it, and then the stored edit goes too (a later curate must not revive it)
    forced = {r["id"]: r for r in caption.caption(run, force=True).accepted}
    assert forced[cid]["caption"] != typed and forced[cid]["caption_source"] == "template"
    assert cid not in json.loads(run.path("dataset", "caption_edits.json").read_text())


def test_a_stored_edit_whose_clip_is_gone_is_kept_and_reported(curated, tmp_path, caplog):
    from ltxbench.caption import edits as caption_edits

    run = _copy(curated, tmp_path)
    records = atomic.read_jsonl(run.path("dataset", "manifest.jsonl"))
    caption_edits.store(run, {"obama-obama-2-000": "obmx at a desk"}, records)
    edits = json.loads(run.path("dataset", "caption_edits.json").read_text())
    edits["obama-gone-000"] = {**edits["obama-obama-2-000"], "caption": "obmx on a boat"}
    edits["obama-obama-3-000"] = {**edits["obama-obama-2-000"], "caption": "obmx, other cut", "start_frame": 48}
    run.path("dataset", "caption_edits.json").write_text(json.dumps(edits))
    with caplog.at_level("WARNING", logger="ltxbench"):
        stage.curate(run)
    by_id = {r["id"]: r for r in atomic.read_jsonl(run.path("dataset", "manifest.jsonl"))}
    assert by_id["obama-obama-2-000"]["caption"] == "obmx at a desk"
    assert by_id["obama-obama-3-000"].get("caption_source") != "editor"  # a differently cut clip does not get it
    assert "hand-written caption of obama-gone-000 kept in dataset/caption_edits.json, but no such clip now" in caplog.text
    assert "obama-obama-3-000 kept in dataset/caption_edits.json, but the clip is now cut differently" in caplog.text
    assert set(json.loads(run.path("dataset", "caption_edits.json").read_text())) == set(edits)  # nothing dropped
    run.path("dataset", "caption_edits.json").write_text("{not json")
    with pytest.raises(ValueError, match="caption_edits.json: not valid JSON"):
        stage.curate(run)
    assert atomic.read_jsonl(run.path("dataset", "manifest.jsonl"))  # the manifest was not touched


def test_export_reads_back_as_the_ltx_trainer_dataset(curated, tmp_path):
    run = _copy(curated, tmp_path)
    caption.caption(run)
    records = atomic.read_jsonl(run.path("dataset", "manifest.jsonl"))
    bad = next(r for r in records if r["id"] == "biden-biden-1-000")
    bad["caption"], bad["caption_source"] = "a person at a lectern", "editor"  # no trigger: a lint error
    caption.relint(run, records)
    atomic.write_jsonl(run.path("dataset", "manifest.jsonl"), records)

    result = caption.export(run)
    assert result.clips == 2 and [i for i, _ in result.skipped] == ["biden-biden-1-000"]
    with open(result.csv_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    jsonl = [json.loads(line) for line in result.jsonl_path.read_text().splitlines()]
    assert rows == jsonl and set(rows[0]) == {"caption", "media_path"}
    by_id = {r["id"]: r for r in records}
    for row in rows:
        media = result.csv_path.parent / row["media_path"]
        assert media.is_file() and media.with_suffix(".txt").read_text() == row["caption"]
        assert by_id[media.stem]["caption"] == row["caption"]

    run.params.caption.allow_lint_errors = True
    elsewhere = caption.export(run, tmp_path / "elsewhere")
    assert elsewhere.clips == 3 and (tmp_path / "elsewhere" / "clips" / "biden-biden-1-000.mp4").is_file()


def test_caption_params_are_strict_and_documented_defaults_hold(tmp_path):
    cfg = schema.CaptionSection()
    assert cfg.backend == "template" and not cfg.allow_lint_errors and cfg.vlm.model == "Qwen/Qwen2.5-VL-3B-Instruct"
    prompt = cfg.vlm.system_prompt.lower()
    assert all(w in prompt for w in ("scene", "doing", "expression", "camera", "lighting", "never describe fixed", "eye colour"))
    with pytest.raises(ParamsError, match="caption.lint.levels = .*unknown lint code"):
        loading.load(small_params(tmp_path, caption={"lint": {"levels": {"bogus": "off"}}}))
    with pytest.raises(Exception, match="file not found"):
        schema.CaptionSection(backend="user", user_file=tmp_path / "missing.csv")
    params = loading.load(small_params(tmp_path, caption={"backend": "vlm", "vlm": {"model": "tiny"}, "lint": {"levels": {"face_words": "error"}}}))
    assert params.caption.lint.levels == {"face_words": "error"}


def test_every_template_caption_of_the_demo_fits_its_text_length():
    """The demo must not warn about itself: the longest caption the template can write for the demo's
    characters (every framing, angle, expression, lighting and camera it knows) fits
    model.max_sequence_length in the tiny encoder's tokens, special tokens included."""
    import itertools
    from pathlib import Path

    from ltxbench.caption import lint, template, triggers

    demo = loading.load(Path(__file__).resolve().parent.parent / "params" / "demo.yaml")
    counter = lint.token_counter(demo.model.source)
    choices = itertools.product(["close_up", "medium", "wide"], [*template._YAW, None], [*template._EXPRESSION, None],
                                list(template._LIGHTING), [("image", "pan"), ("image", "zoom"), ("video", None)],
                                [True, False, None])
    lengths = []
    for framing, yaw, expression, lighting, (kind, motion), audio in choices:
        record = {"source_kind": kind, "camera_motion": motion,
                  "scores": {"framing": framing, "yaw_bin": yaw, "expression": expression, "lighting": lighting,
                             "audio_present": audio}}
        for character in demo.dataset.characters:
            text = triggers.with_trigger(template.template_caption(record), character.trigger, demo.caption.trigger_position)
            lengths.append(counter.sequence_length(text))
    assert max(lengths) <= demo.model.max_sequence_length, (max(lengths), demo.model.max_sequence_length)
    assert max(lengths) > 128  # the old demo setting would have cut them: this test can fail


def test_typing_a_duplicate_caption_flags_the_other_row_before_saving(curated, tmp_path):
    from ltxbench.ui.caption_editor import CaptionEditor

    run = _copy(curated, tmp_path)
    caption.caption(run)
    editor = CaptionEditor(run, page_size=3)
    a, b = "obama-obama-2-000", "obama-obama-3-000"
    editor.boxes[a].value = "obmx speaks at a podium in a blue suit, medium shot"
    editor.boxes[b].value = "obmx speaks at a podium in a blue suit, medium shot"
    assert "near_duplicate" in editor.badges[a].value  # the row typed into earlier is refreshed too, no Save needed
    editor.boxes[b].value = "obmx laughs on a beach at sunset, wide shot"
    assert "near_duplicate" not in editor.badges[a].value
