"""The evaluate stage's tidy CSV files: their columns and one atomic writer (shared by the stage,
the cross-base comparison and the IC-LoRA comparison, which write files of the same kinds)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ltxbench.run import atomic

# strength is appended, not inserted: readers of the earlier columns by position keep working
METRIC_FIELDS = ("checkpoint", "step", "prompt_id", "seed", "metric", "value", "strength")
SUMMARY_FIELDS = ("checkpoint", "step", "metric", "n", "mean", "ci_low", "ci_high", "strength")
BLEED_FIELDS = ("checkpoint", "step", "prompt_id", "seed", "target", "character", "similarity")


def write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, Any]]) -> Path:
    """``rows`` under a ``fields`` header, written atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return atomic.atomic_write_text(path, buf.getvalue())
