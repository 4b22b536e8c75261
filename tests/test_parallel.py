"""ltxbench.util.parallel: ordered results, errors that name their item, and curate's records
identical for one process and two (real footage, real dlib models)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from ltxbench import faces
from ltxbench.curate import stage
from ltxbench.params import schema
from ltxbench.util import parallel

from conftest import DATA


def _square_or_fail(bad: int, x: int) -> int:
    if x == bad:
        raise ValueError(f"cannot take {x}")
    return x * x


def test_resolve_workers():
    assert parallel.resolve_workers(0) == min(2, __import__("os").cpu_count() or 1)
    assert parallel.resolve_workers(3) == 3
    with pytest.raises(ValueError, match="workers must be >= 0"):
        parallel.resolve_workers(-1)


@pytest.mark.parametrize("workers", [1, 2])
def test_map_ordered_keeps_order_and_names_the_failing_item(workers):
    assert parallel.map_ordered(functools.partial(_square_or_fail, -1), range(7), workers) == [x * x for x in range(7)]
    with pytest.raises(parallel.WorkerError, match="failed on item-5: ValueError: cannot take 5") as info:
        parallel.map_ordered(functools.partial(_square_or_fail, 5), range(7), workers, desc="squares",
                             label=lambda x: f"item-{x}")
    assert info.value.item == "item-5"
    assert isinstance(info.value.__cause__, ValueError)
    assert "_square_or_fail" in str(info.value)  # the worker's traceback travels with it


class _Run:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)


def test_curate_records_identical_in_parallel(tmp_path):
    cfg = schema.CurateSection(clip_frames=49, resolution=256, expression_frames=4, face_samples=2)
    analyzer = faces.FaceAnalyzer(shape68=True)
    refs = {"obama": faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer=analyzer)}
    sources = [stage.Source("obama", DATA / "tears_of_steel_10s.mp4", "tos"),
               stage.Source("obama", DATA / "obama_2.jpg", "obama-2"),
               stage.Source("obama", DATA / "biden_1.jpg", "biden-1"),
               stage.Source("obama", tmp_path / "missing.mp4", "missing")]
    serial = stage.score_sources(_Run(tmp_path / "serial"), sources, cfg, analyzer, refs, workers=1)
    both = stage.score_sources(_Run(tmp_path / "parallel"), sources, cfg, analyzer, refs, workers=2)
    assert both == serial
    assert [r["id"] for r in serial][-3:] == ["obama-obama-2-000", "obama-biden-1-000", "obama-missing-000"]
    assert serial[-1]["reasons"] == ["unreadable"]
    assert any(r["scores"].get("face_rate") for r in serial if r["source_kind"] == "video")  # tos faces scored


def test_workers_die_with_a_parent_killed_by_sigkill(tmp_path):
    """kill -9 of the parent runs no cleanup: without PR_SET_PDEATHSIG the workers live on,
    parented to PID 1, holding their models' memory."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import os, time\n"
        "from ltxbench.util.parallel import WorkerPool\n"
        "def pid_then_wait(x):\n"
        # one write() per line: print() writes the number and the newline separately, so two
        # workers sharing the pipe could interleave them into "123456\n" and "\n"
        "    os.write(1, f'{os.getpid()}\\n'.encode())\n"
        "    time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    with WorkerPool(2) as pool:\n"
        "        pool.map(pid_then_wait, [1, 2], desc='wait')\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "LTXBENCH_QUIET": "1"})
    workers = [int(parent.stdout.readline()) for _ in range(2)]
    assert all(os.path.exists(f"/proc/{pid}") for pid in workers)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers), "workers outlived their killed parent"


def _alive(pid: int) -> bool:
    """Running (a zombie awaiting its reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
