"""The stage pipeline end to end through papermill on the tiny default, failure and resume."""

from __future__ import annotations

import json
import os

import nbformat

from ltxbench import cli, pipeline
from ltxbench.params import loading, schema

from conftest import small_params


def _error_outputs(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]


def test_pipeline_end_to_end_through_papermill(tmp_path, params_file):
    run_dir = tmp_path / "run"
    result = pipeline.run_pipeline(params_file, run_dir=run_dir, quiet=True)
    assert result.ran == list(schema.STAGES)

    state = json.loads((run_dir / "run.json").read_text())
    assert state["status"] == "complete"
    for stage, name in pipeline.NOTEBOOKS.items():
        rec = state["stages"][stage]
        assert rec["status"] == "completed" and rec["started"] and rec["ended"] and rec["duration_s"] >= 0
        nb = run_dir / "notebooks" / name
        assert nb.is_file() and not _error_outputs(nb)
        # the record reads without a kernel: static copies instead of dead widgets, no per-loop bars
        outputs = [o for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs), name
    evaluate_nb = nbformat.read(run_dir / "notebooks" / pipeline.NOTEBOOKS["evaluate"], as_version=4)
    shown = [o.get("data", {}).get("text/html", "") for c in evaluate_nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("Diagnosis of" in h and "<img" in h for h in shown)  # the dashboard's static copy
    assert (run_dir / "eval" / "diagnosis.json").is_file()

    manifest = [json.loads(line) for line in (run_dir / "dataset" / "manifest.jsonl").read_text().splitlines()]
    by_source = {r["source"].rsplit("/", 1)[1]: r for r in manifest}
    assert by_source["obama_2.jpg"]["status"] == "accepted"
    assert by_source["biden_1.jpg"]["status"] == "rejected"
    assert "wrong_identity" in by_source["biden_1.jpg"]["reasons"]
    assert "obmx" in by_source["obama_2.jpg"]["caption"]

    ckpts = sorted(p.name for p in (run_dir / "checkpoints").glob("*.safetensors"))
    assert ckpts == ["lora_step_000002.safetensors", "lora_step_000004.safetensors"]
    metrics = (run_dir / "eval" / "metrics.csv").read_text().splitlines()
    assert metrics[0] == "checkpoint,step,prompt_id,seed,metric,value,strength"
    assert any(line.startswith("base,0,talk,0,face_found_rate,") for line in metrics)
    best = json.loads((run_dir / "eval" / "best_checkpoint.json").read_text())
    # The random tiny model draws no faces: face-found rate 0 and no invented identity score.
    assert best["checkpoint"] is None and "no face" in best["reason"]
    assert not any(",identity_similarity," in line for line in metrics)
    assert (run_dir / "eval" / "identity_curve.png").stat().st_size > 1000
    assert (run_dir / "samples" / "base" / "talk_s0.mp4").is_file()

    # What an interrupted write leaves (an old temporary file) is removed at the next run; a fresh one
    # (a write that may still be going on) and a hidden file of the user's are not.
    import os
    import time

    stale = run_dir / "checkpoints" / ".lora_step_000004.k2j3h4g5.safetensors"
    fresh = run_dir / "eval" / ".metrics.csv.ab12cd34.tmp"
    users = run_dir / ".notes.txt"
    for path in (stale, fresh, users):
        path.write_bytes(b"partial")
    for path in (stale, users):
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    again = pipeline.run_pipeline(params_file, run_dir=run_dir, quiet=True)
    assert again.ran == [] and again.skipped == list(schema.STAGES)
    assert not stale.exists() and fresh.exists() and users.exists()
    assert (run_dir / "checkpoints" / "lora_step_000004.safetensors").is_file()


def test_the_whole_chain_runs_on_the_tiny_25(tmp_path):
    """``model.version: "2.5"`` with the tiny 2.5 (Gemma 4 text encoder, bias-free video FF):
    curate -> caption -> train -> evaluate through papermill with the same code as 2.3; the LoRA
    files record 2.5 and load back into a 2.5 pipeline."""
    from ltxbench.lora import check
    from ltxbench.model import tiny

    params_file = small_params(tmp_path, model={"version": "2.5"})
    run_dir = tmp_path / "run"
    result = pipeline.run_pipeline(params_file, run_dir=run_dir, quiet=True)
    assert result.ran == list(schema.STAGES)
    for name in pipeline.NOTEBOOKS.values():
        assert not _error_outputs(run_dir / "notebooks" / name), name
    lora = run_dir / "checkpoints" / "lora_step_000004.safetensors"
    from safetensors import safe_open

    with safe_open(str(lora), "pt") as fh:
        meta = fh.metadata()
    assert meta["base_model_version"] == "2.5"
    report = check.check_lora(lora, tiny.build_tiny_pipeline("2.5"))
    assert report.ok and report.base_version == "2.5"
    metrics = (run_dir / "eval" / "metrics.csv").read_text().splitlines()
    assert any(line.startswith("base,0,talk,0,face_found_rate,") for line in metrics)
    assert any(line.startswith("lora_step_000004,4,talk,0,") for line in metrics)


def test_failing_stage_is_recorded_and_the_rerun_resumes_after_the_completed_ones(tmp_path, capsys):
    params_file = small_params(tmp_path, train={"min_clips": 5})
    run_dir = tmp_path / "run"
    args = ["run", str(params_file), "--run-dir", str(run_dir), "--stages", "curate,caption,train", "--quiet"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "stage 'train' failed" in err and "TrainingDataError" in err and "train.min_clips is 5" in err

    state = json.loads((run_dir / "run.json").read_text())
    assert state["status"] == "failed"
    assert state["stages"]["curate"]["status"] == "completed"
    assert state["stages"]["caption"]["status"] == "completed"
    assert state["stages"]["train"]["status"] == "failed" and "min_clips" in state["stages"]["train"]["error"]
    curate_ended = state["stages"]["curate"]["ended"]

    assert cli.main(args + ["--set", "train.min_clips=1"]) == 0
    state = json.loads((run_dir / "run.json").read_text())
    assert state["stages"]["curate"]["ended"] == curate_ended  # kept, not redone
    assert state["stages"]["train"]["status"] == "completed"
    assert "skipped" in capsys.readouterr().out

    assert cli.main(args + ["--set", "train.min_clips=1", "--force", "--stages", "caption"]) == 0
    state = json.loads((run_dir / "run.json").read_text())
    assert state["stages"]["curate"]["ended"] == curate_ended
    assert state["stages"]["train"]["status"] == "stale"  # its input was redone


def test_invalid_parameters_exit_2_before_anything_runs(tmp_path, params_file, capsys):
    run_dir = tmp_path / "run"
    code = cli.main(["run", str(params_file), "--run-dir", str(run_dir), "--set", "train.stepz=1", "--set", "curate.fps=30"])
    assert code == 2
    err = capsys.readouterr().err
    assert "train.stepz" in err and "curate.fps" in err and "nothing was run" in err
    assert not run_dir.exists()


def test_unknown_stage_is_refused(params_file, capsys):
    assert cli.main(["run", str(params_file), "--stages", "curate,polish"]) == 2
    assert "--stages" in capsys.readouterr().err


def test_a_later_stage_alone_needs_its_inputs(tmp_path, params_file, capsys):
    code = cli.main(["run", str(params_file), "--run-dir", str(tmp_path / "r"), "--stages", "train"])
    assert code == 2
    assert "stage 'curate' must complete first" in capsys.readouterr().err


def test_stage_kernels_run_encrypted_so_ipykernel_has_nothing_to_warn_about(tmp_path, capfd):
    """papermill's default kernel manager starts kernels on plain TCP and ipykernel warns on every
    stage; the stage notebooks run under ltxbench.util.kernels.EncryptedKernelManager (CurveZMQ keys)."""
    import papermill as pm

    from ltxbench.util.kernels import EncryptedKernelManager

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    warning = "running over TCP without encryption"

    def execute(**kw):
        out = pm.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="python3",
                                  progress_bar=False, cwd=str(tmp_path), **kw)
        assert out.cells[0].outputs[0]["text"] == "42\n"  # the kernel really ran the cell
        captured = capfd.readouterr()
        return captured.out + captured.err

    assert warning in execute()  # the default: what every stage printed before
    assert warning not in execute(kernel_manager_class=EncryptedKernelManager)


def test_a_second_run_on_a_busy_folder_is_refused_naming_the_holder_and_a_dead_holder_frees_it(tmp_path, params_file, capsys):
    import os
    import platform
    import signal
    import subprocess
    import sys

    from ltxbench.run import lock

    run_dir = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from pathlib import Path; from ltxbench.run import lock\n"
                               "with lock.folder_lock(Path(sys.argv[1]), command='ltxbench run first.yaml'):\n"
                               "    print('held', flush=True); time.sleep(120)\n", str(run_dir)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main(["run", str(params_file), "--run-dir", str(run_dir)]) == 2
        err = capsys.readouterr().err
        assert f"pid {holder.pid} on {platform.node()}" in err and "ltxbench run first.yaml" in err and "nothing was run" in err
        assert sorted(p.name for p in run_dir.iterdir()) == [lock.RUN_LOCK]  # no params.yaml, no run.json
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # a crash: the lock file stays, the lock does not
        holder.wait()
    with lock.folder_lock(run_dir):
        assert json.loads((run_dir / lock.RUN_LOCK).read_text())["pid"] == os.getpid()


def _run_with_file_size_limit(args: list[str], limit_bytes: int) -> "subprocess.CompletedProcess[str]":
    """``ltxbench ARGS`` in a process whose files may not grow past ``limit_bytes``: every larger
    write fails with EFBIG, a refusal by the system as real as a full disk (which a test cannot
    make, and root ignores read-only modes)."""
    import resource
    import signal
    import subprocess
    import sys

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "ltxbench.cli", *args], capture_output=True, text=True,
                          preexec_fn=limit, env={**os.environ, "LTXBENCH_QUIET": "1"}, timeout=600)


def test_a_write_the_disk_refuses_is_one_line_saying_nothing_was_lost(tmp_path, params_file):
    """Refused at the first file the run writes, then inside a stage (papermill's notebook, over
    200 kB): one line naming the file each time, the stage recorded as failed, the sources intact."""
    source = loading.load(params_file).dataset.characters[0].media[0]
    before = source.read_bytes()
    for limit, refused in ((64, "params.yaml"), (200_000, "01_curate.ipynb")):
        run_dir = tmp_path / f"run{limit}"
        done = _run_with_file_size_limit(["run", str(params_file), "--run-dir", str(run_dir), "--stages", "curate", "--quiet"], limit)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert f"could not write {run_dir}" in lines[0] and refused in lines[0] and "File too large" in lines[0], lines
        assert "Nothing already written was changed" in lines[0]
    state = json.loads((run_dir / "run.json").read_text())
    assert state["stages"]["curate"]["status"] == "failed" and "File too large" in state["stages"]["curate"]["error"]
    assert source.read_bytes() == before  # the sources are only read


def test_refused_write_in_finds_the_errno_line_of_a_stage_error():
    error = ("Traceback (most recent call last):\n  File \"x.py\", line 3\n"
             "OSError: [Errno 28] No space left on device: 'runs/demo/dataset/clips/a.mp4'\n")
    assert cli.refused_write_in(error) == "[Errno 28] No space left on device: 'runs/demo/dataset/clips/a.mp4'"
    assert cli.refused_write_in("ValueError: bad caption") is None


def test_a_caption_typed_in_the_editor_survives_ltxbench_run_curate_caption_force(tmp_path):
    from ltxbench.run import atomic, folder
    from ltxbench.ui.caption_editor import CaptionEditor

    params_file = small_params(tmp_path)
    run_dir = tmp_path / "run"
    args = ["run", str(params_file), "--run-dir", str(run_dir), "--stages", "curate,caption", "--quiet"]
    assert cli.main(args) == 0
    editor = CaptionEditor(folder.open_run(run_dir))
    clip_id = next(iter(editor.boxes))
    typed = "obmx laughs on a sunny balcony, medium shot"
    editor.boxes[clip_id].value = typed
    editor.save()
    assert cli.main(args + ["--force"]) == 0  # both stages redone through their notebooks
    record = next(r for r in atomic.read_jsonl(run_dir / "dataset" / "manifest.jsonl") if r["id"] == clip_id)
    assert (record["caption"], record["caption_source"]) == (typed, "editor")
    # the notebook's curate cell on this finished run shows the outputs as they are: nothing re-scored
    from ltxbench.curate import stage as curate_stage

    manifest = run_dir / "dataset" / "manifest.jsonl"
    before = manifest.stat().st_mtime_ns
    shown = curate_stage.curate(folder.open_run(run_dir), reuse=True)
    assert manifest.stat().st_mtime_ns == before and shown.coverage["characters"]
    assert next(r for r in shown.records if r["id"] == clip_id)["caption"] == typed
    folder.update_stage(run_dir, "curate", status="running")  # as while the pipeline executes the notebook
    assert not folder.stage_is_current(folder.open_run(run_dir), "curate")
