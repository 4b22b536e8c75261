"""The dashboards in a real browser: JupyterLab on 127.0.0.1, driven by Playwright through the
system Chromium (Debian's ``chromium``; Playwright's own browser download cannot work offline).

A small run is made by the real pipeline (tiny model), its stage notebooks are opened and run in
the browser, and one real interaction per widget is checked on disk: a curation toggle lands in
``dataset/overrides.json``; a caption typed and saved lands in the manifest and survives running
01 again; the evaluate slider changes the grid the page shows. Screenshots go to the test's temp
folder. Without Chromium the tests skip and say so; CI installs it (``.ci/run``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ltxbench import cli
from ltxbench.run import atomic

from conftest import REPO, small_params

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).is_file()), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (apt-get install chromium): browser tests skipped")
TIMEOUT_MS = 120_000
SHOWN = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on screen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory):
    """A folder laid out as the notebooks expect (notebooks/ beside runs/notebook), holding a run
    the pipeline completed."""
    root = tmp_path_factory.mktemp("lab")
    params = small_params(root)
    assert cli.main(["run", str(params), "--run-dir", str(root / "runs" / "notebook"), "--quiet"]) == 0
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    shutil.copytree(REPO / "params", root / "params")
    return root


@pytest.fixture(scope="module")
def lab(lab_root):
    """A JupyterLab server on 127.0.0.1 for ``lab_root``, stopped after the module."""
    port, token = _free_port(), "ltxbench-test"
    settings = lab_root / ".lab-settings"
    # every cell in the DOM (JupyterLab 4 renders only the visible ones by default), and no news pop-up
    for name, value in (("@jupyterlab/notebook-extension/tracker.jupyterlab-settings", {"windowingMode": "none"}),
                        ("@jupyterlab/apputils-extension/notification.jupyterlab-settings", {"fetchNews": "false"})):
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(lab_root / ".jupyter"), "JUPYTER_RUNTIME_DIR": str(lab_root / ".runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    env.pop("LTXBENCH_RECORD", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--ServerApp.port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={lab_root}",
         "--ServerApp.open_browser=False", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(lab_root / "lab.log", "w"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"JupyterLab did not start: {(lab_root / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _open_and_run_all(browser, lab, notebook: str, shot: Path):
    """Open ``notebooks/<notebook>`` in JupyterLab, Run All, wait until the kernel is idle again."""
    url, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{url}/lab/tree/notebooks/{notebook}?reset&token={token}")  # reset: no tabs of earlier pages
    page.wait_for_selector(f"{SHOWN} .jp-Cell", state="visible")
    page.wait_for_timeout(1000)
    dialog = page.locator(".jp-Dialog button", has_text="Select")
    if dialog.count():  # "Select Kernel" for a notebook opened the first time
        dialog.first.click()
    page.wait_for_selector(".jp-StatusBar-TextItem:has-text('Idle')", state="attached")
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    # done when every code cell has an execution count and none is queued or running ([*])
    page.wait_for_function(r"""() => {
        const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
            .map(p => p.textContent);
        return prompts.length > 0 && prompts.every(t => /\[\d+\]/.test(t));
    }""", timeout=TIMEOUT_MS * 3)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
    page.screenshot(path=str(shot), full_page=True)
    tracebacks = [e for e in errors if "Traceback" in e or "Error" in e.split("\n")[0]]
    assert not tracebacks, tracebacks
    return page


def test_the_curation_grid_toggle_writes_overrides_json(browser, lab, lab_root, tmp_path):
    page = _open_and_run_all(browser, lab, "01_curate.ipynb", tmp_path / "01_curate.png")
    run_dir = lab_root / "runs" / "notebook"
    accepted = next(r["id"] for r in atomic.read_jsonl(run_dir / "dataset" / "manifest.jsonl") if r["status"] == "accepted")
    card = page.locator(".widget-vbox", has=page.locator(f"text={accepted}")).last
    card.locator(".widget-toggle-button", has_text="rejected").first.click()
    deadline = time.time() + 30
    path = run_dir / "dataset" / "overrides.json"
    while not (path.is_file() and json.loads(path.read_text()).get(accepted, {}).get("status") == "rejected"):
        assert time.time() < deadline, "the toggle in the browser did not reach overrides.json"
        time.sleep(0.5)
    page.screenshot(path=str(tmp_path / "01_after_toggle.png"), full_page=True)
    card.locator(".widget-toggle-button", has_text="accepted").first.click()  # put it back for the next tests
    while json.loads(path.read_text()).get(accepted, {}).get("status") != "accepted":
        assert time.time() < deadline + 30
        time.sleep(0.5)
    page.close()


def test_a_caption_typed_and_saved_in_the_editor_survives_running_01_again(browser, lab, lab_root, tmp_path):
    page = _open_and_run_all(browser, lab, "02_caption.ipynb", tmp_path / "02_caption.png")
    box = page.locator(".widget-textarea textarea").first
    typed = "obmx waves from a balcony, medium shot, warm light"
    box.fill(typed)
    page.locator("button", has_text="Save to manifest").first.click()
    run_dir = lab_root / "runs" / "notebook"

    def saved() -> bool:
        return any(r.get("caption") == typed and r.get("caption_source") == "editor"
                   for r in atomic.read_jsonl(run_dir / "dataset" / "manifest.jsonl"))

    deadline = time.time() + 30
    while not saved():
        assert time.time() < deadline, "the Save button in the browser did not write the manifest"
        time.sleep(0.5)
    page.screenshot(path=str(tmp_path / "02_after_save.png"), full_page=True)
    page.close()
    _open_and_run_all(browser, lab, "01_curate.ipynb", tmp_path / "01_again.png").close()
    assert saved(), "running 01 again lost the caption typed in the editor"


def test_the_evaluate_slider_changes_the_grid_the_page_shows(browser, lab, lab_root, tmp_path):
    page = _open_and_run_all(browser, lab, "04_evaluate.ipynb", tmp_path / "04_evaluate.png")
    track = page.locator(f"{SHOWN} .widget-hslider .noUi-base").first
    readout = page.locator(f"{SHOWN} .widget-hslider .widget-readout").first
    grids = page.locator(f"{SHOWN} .widget-image")

    def shown() -> list[str]:
        return [grids.nth(i).get_attribute("src") or "" for i in range(grids.count())]

    before, label = shown(), readout.inner_text()
    box = track.bounding_box()
    track.click(position={"x": 2, "y": box["height"] / 2})  # the first checkpoint (it opens on the last: none is best)
    deadline = time.time() + 30
    while shown() == before:
        assert time.time() < deadline, "moving the slider did not change any image on the page"
        time.sleep(0.5)
    assert readout.inner_text() != label and readout.inner_text() == "lora_step_000002"
    page.screenshot(path=str(tmp_path / "04_after_slider.png"), full_page=True)
    page.close()
