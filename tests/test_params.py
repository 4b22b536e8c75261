"""The params schema: strict keys, ranges, all problems at once, overrides, shipped files."""

from __future__ import annotations

import re

import pytest
import yaml

from ltxbench import errors
from ltxbench.params import loading, schema

from conftest import DATA, REPO


def test_every_shipped_params_file_validates():
    files = sorted((REPO / "params").glob("*.yaml"))
    assert {"demo.yaml", "single_character.yaml", "multi_character.yaml", "staged.yaml"} <= {f.name for f in files}
    for path in files:
        try:
            params = loading.load(path)
        except errors.ParamsError as exc:
            # Real-model recipes name a hub id that is only in a user's cache: everything else must be valid.
            assert {p.field for p in exc.problems} == {"model.source"}, str(exc)
            params = loading.load(path, ["model.source=tiny"])
        assert params.run.name


def test_relative_paths_resolve_against_the_params_file():
    params = loading.load(REPO / "params" / "demo.yaml")
    for ref in params.dataset.characters[0].references:
        assert ref.is_absolute() and ref.is_file()


def test_evaluate_videos_from_resolves_against_the_params_file():
    params = loading.load(REPO / "params" / "demo.yaml", ["evaluate.videos_from=comfy_out"])
    assert params.evaluate.videos_from == (REPO / "params" / "comfy_out").resolve()


def test_unknown_keys_and_bad_values_are_all_reported_at_once(params_file):
    with pytest.raises(errors.ParamsError) as info:
        loading.load(params_file, ["train.stepz=3", "curate.clip_frames=16", "evaluate.width=100",
                             "model.version=2.1", "bogus.key=1", "train.rank=0", "curate.min_source_fps=0"])
    fields = {p.field for p in info.value.problems}
    assert {"train.stepz", "curate.clip_frames", "evaluate.width", "model.version", "bogus",
            "curate.min_source_fps"} <= fields
    text = str(info.value)
    assert "unknown key" in text and "8k+1" in text and "multiple of 32" in text
    assert "16" in text and "100" in text  # each problem names the value


def test_cross_field_rules(params_file):
    with pytest.raises(errors.ParamsError) as info:
        loading.load(params_file, ["train.checkpoint_every=10", "evaluate.seeds=[1, 1]"])
    fields = {p.field for p in info.value.problems}
    assert fields == {"train.checkpoint_every", "evaluate.seeds"}


def test_missing_media_and_wrong_file_types_are_refused(tmp_path, params_file):
    bad = tmp_path / "notes.txt"
    bad.write_text("x")
    with pytest.raises(errors.ParamsError) as info:
        loading.load(params_file, {"dataset.characters.0.media": [str(tmp_path / "missing.mp4"), str(bad)],
                             "dataset.characters.0.references": [str(bad)]})
    msgs = [str(p) for p in info.value.problems]
    assert any("not found" in m for m in msgs)
    assert any("unsupported file type" in m for m in msgs)
    assert any("must be a photo" in m for m in msgs)


def test_missing_dataset_section_is_required(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"run": {"name": "x"}}))
    with pytest.raises(errors.ParamsError, match="dataset"):
        loading.load(path)


def test_override_parsing():
    assert loading.parse_override("train.steps=10") == ("train.steps", 10)
    assert loading.parse_override("evaluate.seeds=[1, 2]") == ("evaluate.seeds", [1, 2])
    assert loading.parse_override("model.version=2.0")[1] == 2.0
    with pytest.raises(errors.ParamsError, match="dotted.key=value"):
        loading.parse_override("train.steps")


def test_version_given_as_a_number_is_read_as_a_label(params_file):
    assert loading.load(params_file, ["model.version=2.0"]).model.version == "2.0"


def test_non_mapping_file_is_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(errors.ParamsError, match="mapping"):
        loading.load(path)


def test_missing_file_and_broken_yaml(tmp_path):
    with pytest.raises(errors.ParamsError, match="not found"):
        loading.load(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("run: {name: [\n")
    with pytest.raises(errors.ParamsError, match="not valid YAML"):
        loading.load(broken)


def test_stage_fingerprints_cover_earlier_stages_only(params_file):
    a = loading.load(params_file)
    b = loading.load(params_file, ["evaluate.seeds=[5]"])
    c = loading.load(params_file, ["curate.face_samples=3"])
    assert a.stage_fingerprint("train") == b.stage_fingerprint("train")
    assert a.stage_fingerprint("evaluate") != b.stage_fingerprint("evaluate")
    assert all(a.stage_fingerprint(s) != c.stage_fingerprint(s) for s in schema.STAGES)
    assert a.sha256() != b.sha256()


def test_local_model_source_without_weights_is_refused_before_loading(params_file, tmp_path):
    with pytest.raises(errors.ParamsError) as info:
        loading.load(params_file, {"model.source": str(tmp_path / "no-such-model")})
    assert any(p.field == "model.source" for p in info.value.problems)


def _schema_fields(cls, prefix="", in_list=False):
    """Every field of the schema at every depth: (dotted path, field, whether it sits in a list item)."""
    import typing

    for name, field in cls.model_fields.items():
        path = f"{prefix}{name}"
        yield path, field, in_list
        sub = loading._find_model(field.annotation)
        if sub is not None:
            listed = typing.get_origin(field.annotation) in (list, tuple)
            yield from _schema_fields(sub, path + ".", listed)


def test_every_schema_field_has_a_description_and_a_row_in_params_readme():
    # One source of truth: each field's attribute docstring is its pydantic description (what
    # `--help`-like tools and model_json_schema() show), and params/README.md has a row for it.
    doc = (REPO / "params" / "README.md").read_text()
    sections = {s.split("\n", 1)[0].strip(): s for s in doc.split("\n## ")[1:]}
    fields = list(_schema_fields(schema.RunParams))
    assert len(fields) > 150  # every depth: sections, nested sections, items of lists
    undescribed = [path for path, field, _ in fields if not (field.description or "").strip()]
    assert not undescribed, f"fields without a description in the schema: {undescribed}"
    missing = []
    for path, _, in_list in fields:
        top, *rest = path.split(".")
        if not rest:
            assert top in sections, f"params/README.md has no section for {top}"
            continue
        own_section = sections[top]
        # a row names the dotted path; an item of a list (a character, a stage, a prompt, a
        # stacked LoRA) is named by its field in the table or the row of its list
        leaf = rest[-1]
        rows = {n for line in own_section.splitlines() if line.startswith("| ")
                for n in re.findall(r"`([^`]+)`", line.split("|")[1])}  # the names in each row's first cell
        inline = [w.strip() for i in re.findall(r"\{([a-z_, ]+)\}", own_section) for w in i.split(",")]  # `{id, text}`
        named = path in rows or (in_list and (leaf in rows or leaf in inline)) or f"`{path}` is a list" in own_section
        if not named:
            missing.append(path)
    assert not missing, f"undocumented parameters: {missing}"
    described = schema.RunParams.model_json_schema()["$defs"]["TrainSection"]["properties"]["rank"]["description"]
    assert described == schema.TrainSection.model_fields["rank"].description


def test_bad_overrides_and_files_are_named_problems_all_at_once(tmp_path):
    demo = REPO / "params" / "demo.yaml"
    with pytest.raises(errors.ParamsError) as caught:
        loading.load(demo, ["evaluate.seeds.9=1", "run.seed.x=1", "evaluate.seeds.a=1", "bad", "train.steps=[1"])
    text = str(caught.value)
    assert "5 problem(s) in --set" in text
    assert "index 9 is out of range (the list has 4 item(s); 4 appends)" in text
    assert "cannot set a key inside a int" in text and "'a' is not a list index" in text
    assert "expected dotted.key=value" in text and "not valid YAML" in text
    assert loading.load(demo, ["evaluate.seeds.4=7"]).evaluate.seeds == [0, 1, 2, 3, 7]  # one past the end appends

    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("run:\n  name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(errors.ParamsError, match="not UTF-8 text"):
        loading.load(latin)


def test_a_run_json_that_is_not_a_run_record_is_a_clear_error(tmp_path, capsys):
    from ltxbench import cli

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text("[1, 2]")
    assert cli.main(["run", str(REPO / "params" / "demo.yaml"), "--run-dir", str(run_dir)]) == 2
    assert "is JSON but not a run record" in capsys.readouterr().err


def test_a_reference_that_is_not_a_photo_or_shows_no_face_is_refused_before_anything_is_written(tmp_path, capsys):
    """A text file named .jpg and a real photo without a face (a plain gradient) are refused at
    validation, each naming its field; no run folder is created."""
    import numpy as np
    from PIL import Image

    from ltxbench import cli

    from conftest import small_params  # noqa: I001

    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a photo")
    faceless = tmp_path / "wall.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 200, dtype=np.uint8)[None, :, None], (150, 1, 3))).save(faceless)
    params = small_params(tmp_path, dataset={"characters": [{
        "name": "obama", "trigger": "obmx", "references": [str(DATA / "obama_1.jpg"), str(fake), str(faceless)],
        "media": [str(DATA / "obama_2.jpg")]}]})
    with pytest.raises(errors.ParamsError) as err:
        loading.load(params)
    fields = {p.field: p.allowed for p in err.value.problems}
    assert set(fields) == {"dataset.characters.0.references.1", "dataset.characters.0.references.2"}
    assert "not a readable photo" in fields["dataset.characters.0.references.1"]
    assert "no face found" in fields["dataset.characters.0.references.2"]
    run_dir = tmp_path / "run"
    assert cli.main(["run", str(params), "--run-dir", str(run_dir)]) == 2
    assert "references.2" in capsys.readouterr().err and not run_dir.exists()
