"""``ltxbench sweep SWEEP.yaml``: the command line of the sweep runner.

Exit codes: 0 every run completed; 1 some run failed (or was left failed without
``--retry-failed``); 2 the sweep was refused before anything ran (invalid sweep file or
combination, a completed run that would be overwritten, the sweep already running, Ray
unreachable); 130 interrupted (Ctrl-C), with sweep.json consistent.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

from ltxbench.sweep.executors import ExecutorUnavailable
from ltxbench.sweep.runner import run_sweep
from ltxbench.sweep.spec import SweepError
from ltxbench.sweep.state import SweepBusy


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sweep`` command to an argparse subparsers object (``ltxbench``'s)."""
    p = subparsers.add_parser(
        "sweep", help="run every combination of a sweep file, each as its own run (see docs/sweeps.md)",
        description="Run every combination of a sweep file (params/sweeps/*.yaml) through the stage pipeline, "
                    "each into runs/<sweep>/<run id>/, with its status in runs/<sweep>/sweep.json. "
                    "Running it again skips completed runs.")
    p.add_argument("sweep", type=Path, help="sweep YAML (see params/sweeps/README.md)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: each run a Ray task")
    p.add_argument("--jobs", type=_positive_int, default=None,
                   help="runs at a time (local default: one per GPU, else 1; ray default: the cluster's GPUs, else CPUs)")
    p.add_argument("--address", default=None, help="Ray cluster address for ray.init (with --executor ray)")
    p.add_argument("--retry-failed", action="store_true", help="also run again the runs that failed before")
    p.add_argument("--sweep-dir", type=Path, default=None, help="sweep folder (default: runs/<sweep name>)")
    p.add_argument("--dry-run", action="store_true", help="validate and list what would run; start nothing")
    return p


def run_sweep_cli(args: argparse.Namespace) -> int:
    """Run the parsed ``sweep`` command; returns the exit code."""
    if args.address and args.executor != "ray":
        print("ltxbench sweep: --address is for --executor ray; nothing was run.", file=sys.stderr)
        return 2
    try:
        with _sigterm_as_interrupt():
            result = run_sweep(args.sweep, executor=args.executor, jobs=args.jobs, address=args.address,
                               retry_failed=args.retry_failed, sweep_dir=args.sweep_dir, dry_run=args.dry_run)
    except SweepError as exc:
        print(f"ltxbench sweep: invalid sweep, nothing was run.\n{exc}", file=sys.stderr)
        return 2
    except (SweepBusy, ExecutorUnavailable) as exc:
        print(f"ltxbench sweep: {exc}; nothing was run.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ltxbench sweep: interrupted; sweep.json records the runs in flight as interrupted. "
              "Run the same command to resume.", file=sys.stderr)
        return 130
    return 0 if result.dry_run else result.exit_code


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A batch system's SIGTERM (job cancelled, time limit) stops the sweep like Ctrl-C does, so
    sweep.json ends consistent and the runs in flight are told to stop."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """``python -m ltxbench.sweep SWEEP.yaml [...]`` (the same as ``ltxbench sweep``)."""
    parser = argparse.ArgumentParser(prog="ltxbench")
    add_sweep_parser(parser.add_subparsers(dest="command", required=True))
    return run_sweep_cli(parser.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)]))
