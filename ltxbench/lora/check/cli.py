"""``ltxbench check-lora FILE [--base 2.0|2.3|2.5|PATH] [--json]``.

Exit codes: 0 compatible; 1 incompatible, inert, corrupt or refused (the reasons are printed);
2 usage error (no such file, unknown --base). ``ltxbench/cli.py`` wires these two functions in.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ltxbench.model import versions


def add_check_lora_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``check-lora`` sub-command to an ``argparse`` subparsers object."""
    parser = subparsers.add_parser(
        "check-lora",
        help="check a LoRA file against an LTX-2 base model before generating anything",
        description="Integrity, key format, base version, coverage and effect of a LoRA file. Exit 0: "
                    "compatible; 1: incompatible, inert or corrupt (reasons listed); 2: usage error.",
    )
    parser.add_argument("file", type=Path, help="LoRA .safetensors file")
    parser.add_argument("--base", default=None, metavar="2.0|2.3|2.5|PATH",
                        help=f"base model: a version ({', '.join(versions.VERSIONS)}; full-size architecture) or a "
                             "diffusers folder / .safetensors checkpoint (default: every known architecture)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _usage_error(args: argparse.Namespace, message: str) -> int:
    print(f"ltxbench check-lora: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"file": str(args.file), "ok": False, "verdict": "usage-error", "exit_code": 2,
                          "reasons": [message]}, indent=2))
    return 2


def run_check_lora(args: argparse.Namespace) -> int:
    """Run the check for parsed ``args``; prints the report and returns the exit code."""
    from ltxbench.lora.check.check import check_lora
    from ltxbench.model.architecture import resolve_base

    file = Path(args.file).expanduser()
    if not file.is_file():
        return _usage_error(args, f"{file}: no such LoRA file")
    base = args.base
    if base is not None and base not in versions.VERSIONS and not Path(base).expanduser().exists():
        return _usage_error(args, f"--base {base!r} is neither a known version ({', '.join(versions.VERSIONS)}) nor "
                                  "an existing path")
    try:
        resolved = resolve_base(base)
    except (ValueError, OSError) as exc:  # a path that is not an LTX-2 model
        return _usage_error(args, str(exc))
    report = check_lora(file, resolved)
    print(json.dumps(report.to_dict(), indent=2, default=str) if args.json else report)
    return report.exit_code
