"""Check a LoRA file against an LTX-2 base model before anything is generated (issue 6).

Public API::

    check_lora(path, base=None) -> CheckReport        # base: "2.0" | "2.3" | "2.5" | path | pipeline
    require_compatible(path, version, *, base=None, allow_inert=False) -> CheckReport
                                                      # raises IncompatibleLoRAError
    convert_for_diffusers(path_or_state, base=None) -> (state_dict, unmapped_keys)
    add_check_lora_parser(subparsers); run_check_lora(args) -> int   # the CLI

Importing this package imports neither torch nor diffusers; the checks do, when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "CheckReport",
    "IncompatibleLoRAError",
    "add_check_lora_parser",
    "check_lora",
    "convert_for_diffusers",
    "require_compatible",
    "run_check_lora",
]

if TYPE_CHECKING:
    from ltxbench.lora.check.check import IncompatibleLoRAError, check_lora, require_compatible
    from ltxbench.lora.check.cli import add_check_lora_parser, run_check_lora
    from ltxbench.lora.check.convert import convert_for_diffusers
    from ltxbench.lora.check.report import CheckReport

_WHERE = {
    "CheckReport": "report",
    "IncompatibleLoRAError": "check",
    "check_lora": "check",
    "require_compatible": "check",
    "convert_for_diffusers": "convert",
    "add_check_lora_parser": "cli",
    "run_check_lora": "cli",
}


def __getattr__(name: str) -> Any:
    # Lazy: `ltxbench --help` and params validation should not pay for torch/diffusers imports.
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_WHERE[name]}", __name__), name)
