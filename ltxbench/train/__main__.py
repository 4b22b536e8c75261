"""``python -m ltxbench.train PARAMS --run-dir RUN``: the train stage outside a notebook (also under torchrun).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ltxbench import errors
from ltxbench.params import loading
from ltxbench.run import folder
from ltxbench.train import state as TS
from ltxbench.train.data import (
    TrainingDataError,
)
from ltxbench.train.loop import train


def main(argv: list[str] | None = None) -> int:
    """``python -m ltxbench.train PARAMS.yaml [--run-dir DIR] [--force]``: the train stage without papermill."""
    parser = argparse.ArgumentParser(prog="python -m ltxbench.train", description="Run the train stage on a run folder.")
    parser.add_argument("params", type=Path)
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--force", action="store_true", help="start over even when a resumable state exists")
    args = parser.parse_args(argv)
    try:
        params = loading.load(args.params)
    except errors.ParamsError as exc:
        print(exc)
        return 2
    run_dir = args.run_dir or Path("runs") / params.run.name
    run = folder.open_run(run_dir, args.params)
    try:
        result = train(run, force=args.force)
    except (TrainingDataError, TS.ResumeRefused, FloatingPointError) as exc:
        print(f"ltxbench train: {exc}")
        return 1
    print(result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
