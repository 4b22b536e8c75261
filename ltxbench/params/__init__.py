"""Typed, strict parameters for a run: one schema per stage, all problems reported at once.

Modules: :mod:`.schema` (the sections and their fields), :mod:`.loading` (YAML, ``--set``, relative paths, errors
as problems) and :mod:`.preflight` (cross-field rules and what must exist on this machine: the one module
here that imports domain code)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltxbench.util.exports import lazy_exports

if TYPE_CHECKING:
    from ltxbench.errors import ParamsError, Problem
    from ltxbench.params.loading import dump_yaml, load, parse_overrides, read_yaml, validate
    from ltxbench.params.schema import STAGE_SECTIONS, STAGES, RunParams

_WHERE = {
    "RunParams": "ltxbench.params.schema",
    "STAGES": "ltxbench.params.schema",
    "STAGE_SECTIONS": "ltxbench.params.schema",
    "load": "ltxbench.params.loading",
    "validate": "ltxbench.params.loading",
    "dump_yaml": "ltxbench.params.loading",
    "read_yaml": "ltxbench.params.loading",
    "parse_overrides": "ltxbench.params.loading",
    "Problem": "ltxbench.errors",
    "ParamsError": "ltxbench.errors",
}
__all__ = ["ParamsError", "Problem", "RunParams", "STAGES", "STAGE_SECTIONS", "dump_yaml", "load", "parse_overrides", "read_yaml", "validate"]
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
