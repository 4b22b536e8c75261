"""The install: the lock agrees with pyproject, and the wheel works outside a clone.

These use the uv that ``make`` installs into ``.tools/`` (or one on PATH) and its package cache;
nothing is mocked: a real wheel is built, installed into a fresh virtual environment with the
lock's versions, and its ``ltxbench demo`` is run from a folder that is not the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from ltxbench import pipeline

REPO = Path(__file__).resolve().parent.parent


def _uv() -> str:
    local = REPO / ".tools" / "bin" / "uv"
    found = str(local) if local.is_file() else shutil.which("uv")
    if not found:
        pytest.skip("uv not found (make installs it into .tools/); these tests check the lock and the wheel")
    return found


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


UV_ENV = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_NO_CONFIG": "1"}


def test_lock_agrees_with_pyproject():
    _run([_uv(), "lock", "--check", "--offline"], REPO, UV_ENV)


def test_the_pip_pins_are_the_lock():
    """requirements.lock.txt (environment.yml's pins) is uv.lock exported with the Makefile's flags."""
    make = (REPO / "Makefile").read_text()
    flags = make.split("EXPORT_FLAGS := ", 1)[1].splitlines()[0].split()
    exported = _run([_uv(), "export", *flags], REPO, UV_ENV).stdout
    assert exported == (REPO / "requirements.lock.txt").read_text(), "requirements.lock.txt is stale: run make lock"


def test_a_dependency_missing_from_the_lock_is_caught(tmp_path):
    # The same check must fail when pyproject and the lock disagree: a copy with one more dependency.
    for name in ("pyproject.toml", "uv.lock", "setup.py", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)
    text = (tmp_path / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace('"numpy>=1.26",', '"numpy>=1.26",\n    "zipp>=3",'))
    done = subprocess.run([_uv(), "lock", "--check"], cwd=tmp_path, env=UV_ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "needs to be updated" in done.stderr, done.stderr


def _demo_media(params_text: str) -> list[str]:
    spec = yaml.safe_load(params_text)
    out = []
    for character in spec["dataset"]["characters"]:
        out += list(character.get("references", [])) + list(character.get("media", []))
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([_uv(), "build", "--wheel", "--out-dir", str(out), str(REPO)], REPO, UV_ENV)
    (found,) = out.glob("ltxbench-*.whl")
    return found


def test_the_wheel_carries_notebooks_params_and_the_demo_media(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    bundle = "ltxbench/_bundled/"
    for notebook in [*pipeline.NOTEBOOKS.values(), "05_compare.ipynb"]:
        assert f"{bundle}notebooks/{notebook}" in names
    for params in sorted((REPO / "params").rglob("*.yaml")):
        assert f"{bundle}{params.relative_to(REPO)}" in names
    demo = zipfile.ZipFile(wheel).read(f"{bundle}params/demo.yaml").decode()
    media = _demo_media(demo)
    assert media
    for rel in media:  # paths in demo.yaml are relative to its folder: the same layout inside the wheel
        inside = os.path.normpath(f"{bundle}params/{rel}")
        assert inside in names, f"demo.yaml names {rel}, not in the wheel"
    assert f"{bundle}tests/data/ATTRIBUTION.md" in names  # the media travel with their licences
    from ltxbench.model import tiny_base  # the demo's base: every file of the pretrained tiny pipeline
    for rel in [*tiny_base.provenance()["files_sha256"], "provenance.json"]:
        assert f"ltxbench/model/tiny_base/weights/{rel}" in names, rel
    assert not [n for n in names if ".ipynb_checkpoints" in n or n.endswith(".pyc")]


def test_the_installed_wheel_runs_the_demo_from_any_folder(wheel, tmp_path):
    """A non-editable install into a fresh venv, run from a folder that is not the clone."""
    uv = _uv()
    venv = tmp_path / "venv"
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path, UV_ENV)
    pins = tmp_path / "pins.txt"
    _run([uv, "export", "--frozen", "--quiet", "--no-emit-project", "--no-hashes", "--extra", "dev",
          "--output-file", str(pins)], REPO, UV_ENV)
    _run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
          "-r", str(pins), str(wheel)], tmp_path, UV_ENV)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    where = _run([str(venv / "bin" / "python"), "-c", "import ltxbench, ltxbench.util.bundled as b; "
                  "print(ltxbench.__file__); print(b.bundle_root())"], elsewhere, env).stdout.split()
    assert str(venv) in where[0] and str(venv) in where[1]  # the installed copy, not the clone

    run_dir = tmp_path / "try"
    done = _run([str(venv / "bin" / "ltxbench"), "demo", "--run-dir", str(run_dir), "--stages", "curate,caption",
                 "--quiet", "--set", "curate.workers=1"], elsewhere, env, timeout=900)
    assert f"run folder: {run_dir}" in done.stdout
    manifest = [json.loads(line) for line in (run_dir / "dataset" / "manifest.jsonl").read_text().splitlines()]
    accepted = [m for m in manifest if m["status"] == "accepted"]
    assert accepted and all("obmx" in m["caption"] for m in accepted)
    assert (run_dir / "notebooks" / "01_curate.ipynb").is_file() and (run_dir / "notebooks" / "02_caption.ipynb").is_file()
    assert not list(elsewhere.iterdir())  # nothing written into the working folder
