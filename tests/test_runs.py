"""Run-folder bookkeeping: params.yaml, run.json, atomic writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ltxbench.params import loading, schema
from ltxbench.run import atomic, folder


def test_init_run_dir_writes_resolved_params_and_provenance(tmp_path, params_file):
    params = loading.load(params_file)
    run_dir = tmp_path / "run"
    state = folder.init_run_dir(run_dir, params)
    assert loading.load(run_dir / "params.yaml") == params  # the resolved file round-trips
    on_disk = json.loads((run_dir / "run.json").read_text())
    assert on_disk == state
    assert on_disk["params_sha256"] == params.sha256()
    assert on_disk["seeds"] == {"run": 1, "evaluate": [0]}
    assert on_disk["packages"]["torch"] and on_disk["packages"]["diffusers"]
    assert set(on_disk["stages"]) == set(schema.STAGES)
    assert on_disk["status"] == "pending"
    assert "commit" in on_disk["git"]


def test_stage_updates_and_overall_status(tmp_path, params_file):
    run_dir = tmp_path / "run"
    folder.init_run_dir(run_dir, loading.load(params_file))
    folder.update_stage(run_dir, "curate", status="completed")
    assert folder.read_run_json(run_dir)["status"] == "partial"
    folder.update_stage(run_dir, "caption", status="failed", error="boom")
    assert folder.read_run_json(run_dir)["status"] == "failed"
    for stage in schema.STAGES:
        folder.update_stage(run_dir, stage, status="completed")
    assert folder.read_run_json(run_dir)["status"] == "complete"


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.json"
    atomic.atomic_write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        atomic.atomic_write_bytes(target, "not bytes")  # the write fails half way
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_path_removes_the_temp_file_on_error(tmp_path):
    target = tmp_path / "video.mp4"
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("encoder died")
    assert list(tmp_path.iterdir()) == []


def test_jsonl_round_trip_and_clear_error(tmp_path):
    path = tmp_path / "m.jsonl"
    atomic.write_jsonl(path, [{"id": "a"}, {"id": "b"}])
    assert atomic.read_jsonl(path) == [{"id": "a"}, {"id": "b"}]
    path.write_text('{"id": "a"}\n{broken\n')
    with pytest.raises(ValueError, match="m.jsonl:2"):
        atomic.read_jsonl(path)


def test_open_run_needs_params(tmp_path, params_file):
    with pytest.raises(FileNotFoundError, match="params_file"):
        folder.open_run(tmp_path / "empty")
    run = folder.open_run(tmp_path / "new", params_file)
    assert (tmp_path / "new" / "params.yaml").is_file()
    again = folder.open_run(tmp_path / "new")  # params.yaml is now the source of truth
    assert again.params == run.params


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_written_atomically_get_the_mode_the_umask_gives_a_plain_open(tmp_path, umask):
    """mkstemp makes its file 0600; what lands under the real name must be what open() would make."""
    import numpy as np

    from ltxbench.media import video

    old = os.umask(umask)
    try:
        text = atomic.atomic_write_text(tmp_path / "a.json", "{}")
        with atomic.atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"x")
        clip = video.write_mp4(tmp_path / "c.mp4", np.zeros((9, 32, 32, 3), dtype=np.uint8), fps=24)
        with open(tmp_path / "plain.txt", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == expected  # the reference: a plain open()
    for path in (text, tmp_path / "b.bin", clip):
        assert stat.S_IMODE(Path(path).stat().st_mode) == expected, path
