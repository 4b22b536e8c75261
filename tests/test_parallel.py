"""ltxbench.parallel: ordered results, errors that name their item, and curate's records
identical for one process and two (real footage, real dlib models)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from ltxbench import curate, faces, parallel, params

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
    cfg = params.CurateSection(clip_frames=49, resolution=256, expression_frames=4, face_samples=2)
    analyzer = faces.FaceAnalyzer(shape68=True)
    refs = {"obama": faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer=analyzer)}
    sources = [curate.Source("obama", DATA / "tears_of_steel_10s.mp4", "tos"),
               curate.Source("obama", DATA / "obama_2.jpg", "obama-2"),
               curate.Source("obama", DATA / "biden_1.jpg", "biden-1"),
               curate.Source("obama", tmp_path / "missing.mp4", "missing")]
    serial = curate.score_sources(_Run(tmp_path / "serial"), sources, cfg, analyzer, refs, workers=1)
    both = curate.score_sources(_Run(tmp_path / "parallel"), sources, cfg, analyzer, refs, workers=2)
    assert both == serial
    assert [r["id"] for r in serial][-3:] == ["obama-obama-2-000", "obama-biden-1-000", "obama-missing-000"]
    assert serial[-1]["reasons"] == ["unreadable"]
    assert any(r["scores"].get("face_rate") for r in serial if r["source_kind"] == "video")  # tos faces scored
