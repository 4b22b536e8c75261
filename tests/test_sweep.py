"""Sweeps: every combination validated up front, runs through the real papermill pipeline on a
process pool and on a local Ray instance, failures recorded and retried, Ctrl-C, and the
comparison notebook executed on the sweep folder the tests produced."""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import yaml

from ltxbench import compare, sweep
from ltxbench.ui import compare as compare_ui
from ltxbench.media import video
from ltxbench.params import schema as P

from conftest import DATA, REPO, small_params

COMPARE_NB = REPO / "notebooks" / "05_compare.ipynb"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ltxbench")
    sweep.add_sweep_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["sweep", *argv])


def _write_sweep(folder: Path, **fields) -> Path:
    path = folder / f"{fields['name']}.yaml"
    path.write_text(yaml.safe_dump(fields, sort_keys=False))
    return path


def _sweep_json(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "sweep.json").read_text())


def _conflicting_captions(folder: Path) -> Path:
    """A user caption table that gives one photo two different captions: valid as a file (so the
    run passes validation), refused by the caption stage when it reads the rows."""
    path = folder / "captions.csv"
    path.write_text("file_name,caption\nobama_2.jpg,obmx smiling\nobama_2.jpg,obmx frowning\n")
    return path


# ---------------------------------------------------------------------------------------
# Sweep files: ids and validation, nothing runs
# ---------------------------------------------------------------------------------------


def test_run_ids_are_readable_deterministic_unique_and_filesystem_safe():
    entries = [(None, {"train.rank": 8, "train.learning_rate": 0.001}),
               (None, {"train.rank": 8, "train.learning_rate": 1e-4}),
               (None, {"train.targets": "all_attention_ff"}),
               (None, {"evaluate.seeds": [0, 1, 2]}),
               (None, {"train.learning_rate": 2.5e-4}),
               (None, {"model.source": "a b"}), (None, {"model.source": "a-b"}),  # alike once made filesystem-safe
               ("mine", {"train.alpha": 0.5}),
               (None, {})]
    ids = sweep.assign_ids(entries)
    assert ids[:5] == ["rank-8_lr-1e-3", "rank-8_lr-1e-4", "targets-all_attention_ff", "seeds-0-1-2", "lr-2.5e-4"]
    assert ids[5] != ids[6] and ids[5].startswith("source-a-b-") and ids[6].startswith("source-a-b-")  # hash only here
    assert ids[7:] == ["mine", "base"]
    assert sweep.assign_ids(entries) == ids  # deterministic
    long = sweep.readable_id({f"train.k{i}": "x" * 30 for i in range(5)})
    for run_id in ids + [long]:
        assert len(run_id) <= 80 and P.RunSection(name=run_id).name == run_id  # a valid run.name, safe as a folder


def test_shipped_sweep_files_validate(tmp_path):
    files = sorted((REPO / "params" / "sweeps").glob("*.yaml"))
    assert REPO / "params" / "sweeps" / "demo_rank_lr.yaml" in files
    for path in files:
        loaded = sweep.load_sweep(path, sweep_dir=tmp_path / path.stem)
        assert loaded.base == (REPO / "params" / "demo.yaml").resolve()  # relative to the sweep file's folder
        assert loaded.runs
    demo = sweep.load_sweep(REPO / "params" / "sweeps" / "demo_rank_lr.yaml", sweep_dir=tmp_path / "d")
    assert [r.id for r in demo.runs] == ["rank-4_lr-1e-4", "rank-4_lr-1e-3", "rank-8_lr-1e-4", "rank-8_lr-1e-3"]
    assert demo.keys == ("train.rank", "train.learning_rate")


def test_a_sweep_with_a_bad_key_is_refused_before_any_run_starts(tmp_path, capsys):
    base = small_params(tmp_path)
    path = _write_sweep(tmp_path, name="bad", base=base.name, stages=["curate"],
                        grid={"train.rank": [4, 0], "train.rankk": [8]}, runs=[{"curate.fps": 30}])
    sweep_dir = tmp_path / "out"
    assert sweep.run_sweep_cli(_args(str(path), "--sweep-dir", str(sweep_dir))) == 2
    err = capsys.readouterr().err
    assert "nothing was run" in err
    assert "train.rankk" in err and "unknown key" in err and "set by the sweep's grid" in err
    assert "train.rank = 0" in err and "rank-0_rankk-8" in err  # the bad value, and the run it affects
    assert "curate.fps = 30" in err and "runs.0" in err
    assert not sweep_dir.exists()


def test_sweep_file_structure_problems_are_named(tmp_path):
    base = small_params(tmp_path)
    cases = [
        ({"grid": {"train.rank": [4]}, "stagez": ["curate"]}, "stagez"),
        ({"grid": {"run.name": ["x"]}}, "grid.run.name"),
        ({"grid": {"rank": [4]}}, "grid.rank"),
        ({}, "no runs"),
        ({"grid": {"train.rank": []}}, "grid.train.rank"),
        ({"runs": [{"train.rank": 4}, {"train.rank": 4}]}, "the same parameters as runs.0"),
        ({"runs": [{"id": "a", "set": {"train.rank": 4}}, {"id": "a", "set": {"train.rank": 5}}]}, "unique"),
    ]
    for fields, expected in cases:
        path = _write_sweep(tmp_path, name="s", base=base.name, **fields)
        with pytest.raises(sweep.SweepError) as info:
            sweep.load_sweep(path, sweep_dir=tmp_path / "out")
        assert expected in str(info.value), (fields, str(info.value))


# ---------------------------------------------------------------------------------------
# A four-run sweep on the local process pool: three complete, one fails for real
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def four_runs(tmp_path_factory):
    """curate+caption of the tiny default: a 2-value grid and two listed runs, the last of which
    reads a user caption table that captions one photo twice, so its caption stage raises."""
    folder = tmp_path_factory.mktemp("sweep4")
    base = small_params(folder)
    conflicting = _conflicting_captions(folder)
    path = _write_sweep(folder, name="four", base=base.name, stages=["curate", "caption"],
                        grid={"curate.image_motion": ["pan", "zoom"]},
                        runs=[{"curate.image_motion_amount": 0.12},
                              {"id": "conflicting-captions", "set": {"caption.backend": "user", "caption.user_file": str(conflicting)}}])
    sweep_dir = folder / "runs" / "four"
    # Two GPU slots as CUDA_VISIBLE_DEVICES announces them: each run is given one of its own (this
    # machine has no GPU, so torch in the stage kernels still finds none and runs on the CPU).
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = "0,1"
    try:
        code = sweep.run_sweep_cli(_args(str(path), "--jobs", "4", "--sweep-dir", str(sweep_dir)))
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES")
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before
    return {"path": path, "base": base, "dir": sweep_dir, "code": code}


def test_a_failing_run_is_recorded_and_does_not_stop_the_others(four_runs):
    assert four_runs["code"] == 1
    state = _sweep_json(four_runs["dir"])
    runs = state["runs"]
    assert list(runs) == ["image_motion-pan", "image_motion-zoom", "image_motion_amount-0.12", "conflicting-captions"]
    assert state["status"] == "failed" and state["counts"]["completed"] == 3 and state["counts"]["failed"] == 1
    failed = runs["conflicting-captions"]
    assert failed["failed_stage"] == "caption" and "two different captions" in failed["error"] and "captions.csv" in failed["error"]
    assert failed["attempts"] == 1 and failed["ended"] and "--set" in failed["command"]
    for run_id, rec in runs.items():
        run_dir = four_runs["dir"] / run_id
        assert rec["run_dir"] == str(run_dir) and rec["started"] and rec["duration_s"] > 0
        run_json = json.loads((run_dir / "run.json").read_text())
        assert run_json["sweep"]["name"] == "four" and run_json["sweep"]["run_id"] == run_id  # the sweep context
        assert run_json["sweep"]["overrides"] == rec["overrides"]
        assert yaml.safe_load((run_dir / "params.yaml").read_text())["run"]["name"] == run_id
        if run_id != "conflicting-captions":
            assert rec["status"] == "completed" and rec["error"] is None
            assert [run_json["stages"][s]["status"] for s in ("curate", "caption")] == ["completed", "completed"]
    stages = json.loads((four_runs["dir"] / "conflicting-captions" / "run.json").read_text())["stages"]
    assert (stages["curate"]["status"], stages["caption"]["status"]) == ("completed", "failed")
    zoom = yaml.safe_load((four_runs["dir"] / "image_motion-zoom" / "params.yaml").read_text())
    assert zoom["curate"]["image_motion"] == "zoom"


def test_local_runs_get_one_gpu_each_and_no_more_than_there_are_gpus(four_runs):
    runs = _sweep_json(four_runs["dir"])["runs"]
    assert {r["gpu"] for r in runs.values()} == {"0", "1"}  # --jobs 4 was capped at the 2 GPUs
    spans = sorted((r["started"], r["ended"], r["gpu"]) for r in runs.values())
    for (s1, e1, g1), (s2, e2, g2) in zip(spans, spans[1:]):
        if s2 < e1:  # ran at the same time: never on the same GPU
            assert g1 != g2
    header = (four_runs["dir"] / "image_motion-pan" / "worker.log").read_text().splitlines()[0]
    assert f"gpu {runs['image_motion-pan']['gpu']}" in header


def test_rerun_skips_completed_runs_and_retry_failed_retries_only_the_failed_one(four_runs, capsys):
    sweep_dir, path = four_runs["dir"], four_runs["path"]
    completed = ["image_motion-pan", "image_motion-zoom", "image_motion_amount-0.12"]
    before = {r: (sweep_dir / r / "run.json").read_bytes() for r in completed}

    assert sweep.run_sweep_cli(_args(str(path), "--jobs", "2", "--sweep-dir", str(sweep_dir))) == 1
    assert "0 to run, 3 already completed, 1 failed kept" in capsys.readouterr().out
    assert _sweep_json(sweep_dir)["runs"]["conflicting-captions"]["attempts"] == 1

    assert sweep.run_sweep_cli(_args(str(path), "--jobs", "2", "--sweep-dir", str(sweep_dir), "--retry-failed")) == 1
    out = capsys.readouterr().out
    assert "1 to run, 3 already completed" in out and "conflicting-captions: running (attempt 2)" in out
    runs = _sweep_json(sweep_dir)["runs"]
    assert runs["conflicting-captions"]["attempts"] == 2 and runs["conflicting-captions"]["status"] == "failed"
    for r in completed:
        assert runs[r]["attempts"] == 1 and runs[r]["status"] == "completed"
        assert (sweep_dir / r / "run.json").read_bytes() == before[r]  # never touched again


def test_a_completed_run_is_never_overwritten_by_changed_parameters(four_runs, capsys):
    sweep_dir = four_runs["dir"]
    raw = yaml.safe_load(four_runs["base"].read_text())
    raw["curate"]["face_samples"] = 3  # the same run ids would now mean other parameters
    changed = four_runs["path"].parent / "changed"
    changed.mkdir(exist_ok=True)
    (changed / "params.yaml").write_text(yaml.safe_dump(raw))
    spec = yaml.safe_load(four_runs["path"].read_text())
    path = _write_sweep(changed, **spec)
    before = (sweep_dir / "image_motion-pan" / "run.json").read_bytes()
    assert sweep.run_sweep_cli(_args(str(path), "--sweep-dir", str(sweep_dir))) == 2
    err = capsys.readouterr().err
    assert "completed with other parameters" in err and "image_motion-pan" in err
    assert (sweep_dir / "image_motion-pan" / "run.json").read_bytes() == before


def test_the_compare_notebook_executes_on_the_sweep_folder(four_runs, tmp_path):
    import papermill as pm

    out = tmp_path / "05_compare.ipynb"
    pm.execute_notebook(str(COMPARE_NB), str(out), parameters={"sweep_dir": str(four_runs["dir"])},
                        kernel_name="python3", cwd=str(COMPARE_NB.parent), progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "conflicting-captions" in html and "two different captions" in html and "—" in html  # no identity, no eval: dashes
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the identity chart
    assert sum("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs) == 2
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # identity chart, best runs side by side


# ---------------------------------------------------------------------------------------
# Ray: a local instance started by the test, loopback only
# ---------------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_ray_head(temp: Path) -> tuple[subprocess.Popen, str, str]:
    """``ray start --head --block`` on loopback; returns the process, its address and its log."""
    port = _free_port()
    log = temp / f"head-{port}.log"
    with open(log, "w") as fh:
        head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
                                 f"--port={port}", "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false",
                                 "--disable-usage-stats", "--include-log-monitor=false", f"--temp-dir={temp}", "--block"], stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while "Ray runtime started" not in log.read_text() and head.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    return head, f"127.0.0.1:{port}", log.read_text()


def _stop(head: subprocess.Popen) -> None:
    head.send_signal(signal.SIGTERM)  # --block stops the processes it started
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()


@pytest.fixture
def ray_head(monkeypatch):
    """A local Ray instance with 2 CPUs bound to 127.0.0.1, stopped by its pid at the end."""
    # Ray resolves 127.0.0.1 to the machine's address unless its single-machine mode is on.
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    # The raylet waits a short fixed time for its Python agents; on a busy 2-core machine their
    # imports alone can take longer, and the raylet then aborts. Give them two minutes.
    monkeypatch.setenv("RAY_agent_register_timeout_ms", "120000")
    if "ray" in sys.modules:  # imported before the variable was set: apply the same setting
        from ray._private import ray_constants

        monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths have a length limit
    # Ray keeps a cluster auth token in ~/.ray/auth_token; one left by an earlier Ray session on this
    # machine would not match this head's. A home of its own keeps the test independent of that.
    (temp / "home").mkdir()
    monkeypatch.setenv("HOME", str(temp / "home"))
    head = None
    try:
        # Ray gives its raylet a fixed 30 s to register; on a loaded 2-core machine that can pass: one more try.
        for _ in range(2):
            head, address, log = _start_ray_head(temp)
            if "Ray runtime started" in log:
                break
            _stop(head)
        assert "Ray runtime started" in log, log[-3000:]
        assert "Local node IP: 127.0.0.1" in log
        yield address
    finally:
        if head is not None:
            _stop(head)
        shutil.rmtree(temp, ignore_errors=True)


def test_ray_executor_runs_each_combination_as_a_ray_task(ray_head, tmp_path):
    base = small_params(tmp_path)
    path = _write_sweep(tmp_path, name="onray", base=base.name, stages=["curate"],
                        grid={"curate.image_motion": ["pan", "zoom"]})
    sweep_dir = tmp_path / "runs" / "onray"
    code = sweep.run_sweep_cli(_args(str(path), "--executor", "ray", "--address", ray_head, "--sweep-dir", str(sweep_dir)))
    state = _sweep_json(sweep_dir)
    assert code == 0, state
    assert state["executor"] == "ray" and state["address"] == ray_head and state["status"] == "completed"
    for run_id in ("image_motion-pan", "image_motion-zoom"):
        rec = state["runs"][run_id]
        assert rec["status"] == "completed" and rec["pid"] != os.getpid()  # ran in a Ray worker
        run_json = json.loads((sweep_dir / run_id / "run.json").read_text())
        assert run_json["stages"]["curate"]["status"] == "completed" and run_json["sweep"]["run_id"] == run_id
        assert (sweep_dir / run_id / "dataset" / "manifest.jsonl").is_file()


# ---------------------------------------------------------------------------------------
# Ctrl-C
# ---------------------------------------------------------------------------------------


def _stage_statuses(sweep_dir: Path) -> list[str]:
    return [rec.get("status") for path in sweep_dir.glob("*/run.json")
            for rec in json.loads(path.read_text()).get("stages", {}).values()]


def test_ctrl_c_leaves_a_consistent_sweep_json(tmp_path):
    base = small_params(tmp_path)
    path = _write_sweep(tmp_path, name="stopped", base=base.name, stages=["curate"],
                        grid={"curate.image_motion": ["pan", "zoom"], "curate.face_samples": [1, 2]})
    sweep_dir = tmp_path / "runs" / "stopped"
    # SIGINT as at a terminal: under `make test &` in a script the shell starts pytest, and so this
    # child, with SIGINT ignored, and Python then installs no Ctrl-C handler at all
    proc = subprocess.Popen([sys.executable, "-m", "ltxbench.sweep", str(path), "--jobs", "2", "--sweep-dir", str(sweep_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 90
        while "running" not in _stage_statuses(sweep_dir) and time.time() < deadline:  # a stage notebook is executing
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out
    state = _sweep_json(sweep_dir)  # valid JSON
    statuses = [r["status"] for r in state["runs"].values()]
    assert state["status"] == "interrupted" and statuses.count("interrupted") == 2 and statuses.count("pending") == 2
    assert all("interrupted" in r["error"] for r in state["runs"].values() if r["status"] == "interrupted")
    assert "run the same command to resume" in out
    # The workers were stopped too: the stage that was executing is recorded as failed, none is left running.
    assert "running" not in _stage_statuses(sweep_dir) and "failed" in _stage_statuses(sweep_dir)


# ---------------------------------------------------------------------------------------
# The comparison: figures when present, "—" when absent, real frames
# ---------------------------------------------------------------------------------------


def _fake_sweep_folder(root: Path) -> Path:
    """A sweep folder as a sweep with the evaluate stage leaves it: one run with every figure and a
    grid image, one evaluated without a face (samples only), one never evaluated."""
    from PIL import Image

    sweep_dir = root / "cmp"
    runs = {"rank-4": {"train.rank": 4}, "rank-8": {"train.rank": 8}, "rank-16": {"train.rank": 16}}
    state = {"sweep": "cmp", "keys": ["train.rank"], "order": list(runs), "status": "completed", "stages": list(P.STAGES),
             "runs": {r: {"status": "completed", "overrides": ov, "run_dir": str(sweep_dir / r), "duration_s": 12.5, "in_sweep": True}
                      for r, ov in runs.items()}}
    for r in runs:
        (sweep_dir / r / "eval").mkdir(parents=True)
        (sweep_dir / r / "params.yaml").write_text(yaml.safe_dump({"train": {"rank": runs[r]["train.rank"]}}))
    (sweep_dir / "sweep.json").write_text(json.dumps(state))

    good = sweep_dir / "rank-4"
    (good / "eval" / "summary.csv").write_text(
        "checkpoint,step,metric,n,mean,ci_low,ci_high\n"
        "base,0,identity_similarity,2,0.3,0.25,0.35\n"
        "lora_step_000002,2,identity_similarity,2,0.55,0.5,0.6\n"
        "lora_step_000004,4,identity_similarity,2,0.71,0.66,0.76\n"
        "lora_step_000004,4,leakage_identity_similarity,2,0.21,0.2,0.22\n"
        "lora_step_000004,4,motion_ratio,2,0.93,0.9,0.96\n")
    (good / "eval" / "best_checkpoint.json").write_text(json.dumps({"checkpoint": "lora_step_000004", "step": 4, "value": 0.71}))
    (good / "train").mkdir()
    (good / "train" / "summary.json").write_text(json.dumps({"seconds": 42.5}))
    Image.fromarray(video.read_image(DATA / "obama_1.jpg")).save(good / "eval" / "grid_lora_step_000004.png")

    faceless = sweep_dir / "rank-8"
    (faceless / "eval" / "summary.csv").write_text(
        "checkpoint,step,metric,n,mean,ci_low,ci_high\nlora_step_000004,4,face_found_rate,1,0.0,0.0,0.0\n")
    (faceless / "eval" / "best_checkpoint.json").write_text(json.dumps(
        {"checkpoint": None, "step": None, "value": None, "reason": "no face ... The embedded tiny model has random weights"}))
    (faceless / "samples" / "lora_step_000004").mkdir(parents=True)
    shutil.copy(DATA / "sintel_10s.mp4", faceless / "samples" / "lora_step_000004" / "talk_s0.mp4")
    return sweep_dir


def test_compare_shows_figures_when_present_and_dashes_when_absent(tmp_path):
    sweep_dir = _fake_sweep_folder(tmp_path)
    table = compare.runs_table(sweep_dir).set_index("run")
    assert table.index.tolist() == ["rank-4", "rank-8", "rank-16"]  # best identity first
    good = table.loc["rank-4"]
    assert (good["best_identity"], good["best_step"], good["leakage"], good["motion_ratio"], good["train_seconds"]) == (0.71, 4, 0.21, 0.93, 42.5)
    assert good["figures_at"] == "lora_step_000004" and good["train.rank"] == 4
    for run_id in ("rank-8", "rank-16"):
        assert table.loc[run_id, ["best_identity", "best_step", "leakage", "motion_ratio", "train_seconds"]].isna().all()
    assert table.loc["rank-8", "figures_at"] == "lora_step_000004"  # figures looked up at the last checkpoint
    html = compare.table_view(compare.runs_table(sweep_dir)).to_html()
    assert "0.710" in html and "—" in html
    assert compare.sort_runs(compare.runs_table(sweep_dir), "train.rank")["run"].tolist() == ["rank-4", "rank-8", "rank-16"]

    chart = compare.identity_curves(sweep_dir)
    assert chart.data.startswith(b"\x89PNG") and chart.note.startswith("1 run(s) drawn")
    assert "rank-8: no face found" in chart.note and "tiny" in chart.note and "rank-16: not evaluated" in chart.note


def test_compare_identity_chart_says_so_when_no_run_has_identity(tmp_path):
    sweep_dir = _fake_sweep_folder(tmp_path)
    shutil.rmtree(sweep_dir / "rank-4" / "eval")
    chart = compare.identity_curves(sweep_dir)
    assert chart.note.startswith("0 run(s) drawn")
    assert any(t.startswith("No identity score in any run of this sweep") for t in chart.texts)


def test_side_by_side_shows_the_grid_else_real_labelled_frames(tmp_path):
    sweep_dir = _fake_sweep_folder(tmp_path)
    view = compare.open_sweep(sweep_dir)
    grid = compare.run_panel("rank-4", view.run_dir("rank-4"))
    assert grid.kind == "grid" and "eval/grid_lora_step_000004.png" in grid.title
    assert grid.image.shape == video.read_image(DATA / "obama_1.jpg").shape

    frames = compare.run_panel("rank-8", view.run_dir("rank-8"))
    assert frames.kind == "frames" and "last checkpoint" in frames.title and frames.row_labels == ["talk_s0"]
    mp4 = sweep_dir / "rank-8" / "samples" / "lora_step_000004" / "talk_s0.mp4"
    last = video.probe(mp4).num_frames - 1
    assert frames.col_labels == [f"frame {i}" for i in np.linspace(0, last, 4).round().astype(int)]
    first = video.read_frames(mp4, [0])[0]
    assert np.array_equal(frames.image[: first.shape[0], : first.shape[1]], first)  # real decoded pixels

    assert compare.run_panel("rank-16", view.run_dir("rank-16")).kind == "none"
    png = compare.checkpoint_panels(view, ["rank-4", "rank-8", "rank-16"])
    assert png.data.startswith(b"\x89PNG") and png.note == "rank-4: grid, rank-8: frames, rank-16: none"
    selector = compare_ui.checkpoint_selector(view)
    assert list(selector.children[1].value) == ["rank-4", "rank-8"]  # best identity, then completed
    assert selector.children[2].outputs  # rendered kernel-side, no frontend needed


def test_compare_notebook_is_thin_and_stored_without_outputs():
    nb = nbformat.read(COMPARE_NB, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names: dict[str, object] = {}
    exec(compile(tagged[0].source, "parameters", "exec"), {}, names)
    assert names == {"sweep_dir": "../runs/demo_rank_lr"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            logic = [n for n in ast.walk(ast.parse(cell.source))
                     if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.If, ast.Lambda))]
            assert not logic, cell.source


def test_importing_the_sweep_and_compare_modules_starts_nothing():
    code = ("import sys, ltxbench.sweep, ltxbench.compare; "
            "print(sorted(m for m in ('ray', 'papermill', 'ipywidgets', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
