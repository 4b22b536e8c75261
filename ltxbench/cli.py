"""Command line: ``ltxbench run``, ``ltxbench demo``, ``ltxbench plan``, ``ltxbench check-lora``, ``ltxbench sweep``.

Exit codes: 0 success, 1 a stage failed (its error is printed, run.json records it) / the disk
refused a write (one line: nothing written is lost) / the LoRA is incompatible / some sweep runs failed, 2 bad usage or invalid parameters (nothing ran),
130 a sweep interrupted by Ctrl-C (sweep.json is consistent).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from ltxbench import errors, pipeline
from ltxbench import sweep as sweep_cmd  # light: imports no ray or papermill
from ltxbench.lora.check.cli import add_check_lora_parser, run_check_lora
from ltxbench.params import loading
from ltxbench.run import folder, lock
from ltxbench.util.bundled import BundleMissing, bundled_path


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltxbench", description="Train and judge character LoRAs on LTX Video 2.3.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the stage notebooks for a params file")
    run.add_argument("params", type=Path, help="params YAML (see params/README.md)")
    _add_run_options(run)

    demo = sub.add_parser("demo", help="the embedded default: tiny LTX-2.3, bundled footage, no download, no GPU")
    _add_run_options(demo)
    plan = sub.add_parser("plan", help="before launch: steps, checkpoints, peak memory and time per GPU class (loads nothing)")
    plan.add_argument("params", type=Path, help="params YAML (see params/README.md)")
    plan.add_argument("--run-dir", type=Path, default=None,
                      help="run folder whose curated clips and training timings to use (default: runs/<run.name> when it exists)")
    plan.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                      help="override a parameter, e.g. --set train.steps=1500 (repeatable)")
    add_check_lora_parser(sub)
    sweep_cmd.add_sweep_parser(sub)
    return parser


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", type=Path, default=None, help="run folder (default: runs/<run.name>)")
    p.add_argument("--stages", default=None, help="comma-separated subset of curate,caption,train,evaluate")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                   help="override a parameter, e.g. --set train.steps=10 (repeatable)")
    p.add_argument("--force", action="store_true", help="redo the selected stages even when completed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "check-lora":
        return run_check_lora(args)
    if args.command == "sweep":
        return sweep_cmd.run_sweep_cli(args)
    if args.command == "plan":
        return _plan(args)
    try:
        params_path = bundled_path("params", "demo.yaml") if args.command == "demo" else args.params
        stages = pipeline.parse_stages(args.stages)
        result = pipeline.run_pipeline(params_path, run_dir=args.run_dir, stages=stages,
                                       overrides=args.overrides, force=args.force, quiet=args.quiet)
    except errors.ParamsError as exc:
        print(f"ltxbench: invalid parameters, nothing was run.\n{exc}", file=sys.stderr)
        return 2
    except (BundleMissing, lock.FolderBusy, folder.RunRecordError) as exc:
        print(f"ltxbench: {exc}; nothing was run", file=sys.stderr)
        return 2
    except pipeline.StageFailed as exc:
        refused = refused_write_in(exc.error)
        if refused:
            print(f"ltxbench: stage '{exc.stage}' could not write: {refused}. {WRITES_ARE_SAFE} "
                  f"(executed notebook: {exc.notebook})", file=sys.stderr)
            return 1
        print(f"ltxbench: {exc}", file=sys.stderr)
        print(f"\nCompleted stages are kept; fix the problem and run the same command again to resume at '{exc.stage}'.", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno not in REFUSED_WRITES:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(f"ltxbench: could not write{where}: {exc.strerror}. {WRITES_ARE_SAFE}", file=sys.stderr)
        return 1
    _print_summary(result)
    return 0


# Errors where the disk, not ltxbench, refused a write: one line, not a traceback, since nothing
# is lost (every file is written beside its target and renamed into place, source media are read only).
REFUSED_WRITES = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EFBIG, errno.EACCES})
WRITES_ARE_SAFE = ("Nothing already written was changed (files are replaced whole or not at all) and the source "
                   "media were only read; free space or choose a writable --run-dir, then run the same command to resume")


def refused_write_in(error: str) -> str | None:
    """The first line of a stage's error that is one of :data:`REFUSED_WRITES` (``[Errno 28] No
    space left on device: 'runs/x/...'``), or None."""
    for line in error.splitlines():
        for code in REFUSED_WRITES:
            if f"[Errno {code}] {os.strerror(code)}" in line:
                return line[line.index("[Errno"):].strip()
    return None


def _plan(args: argparse.Namespace) -> int:
    from ltxbench.train.plan import make_plan

    try:
        # planning comes before the machine that has the weights: they are not required here
        params = loading.load(args.params, args.overrides, check_weights=False)
    except errors.ParamsError as exc:
        print(f"ltxbench: invalid parameters, nothing was planned.\n{exc}", file=sys.stderr)
        return 2
    run_dir = args.run_dir
    if run_dir is None:
        default = pipeline.default_run_dir(params)
        run_dir = default if default.is_dir() else None
    print(make_plan(params, run_dir).as_text())
    return 0


def _print_summary(result: pipeline.PipelineResult) -> None:
    run_dir = result.run_dir
    print(f"\n[ltxbench] run folder: {run_dir}")
    print(f"[ltxbench] status: {result.state.get('status')} (ran: {', '.join(result.ran) or 'nothing'}; "
          f"skipped: {', '.join(result.skipped) or 'nothing'})")
    figures = sorted(run_dir.glob("*/*.png"))
    for fig in figures:
        print(f"[ltxbench] figure: {fig}")
    notebooks = sorted((run_dir / "notebooks").glob("*.ipynb"))
    if notebooks:
        print(f"[ltxbench] executed notebooks: {run_dir / 'notebooks'}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
