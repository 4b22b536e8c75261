"""Sweep files: parsing, run ids and validation of every combination before anything runs.

A sweep file (``params/sweeps/*.yaml``)::

    name: demo_rank_lr            # the sweep folder is runs/<name>/
    base: ../demo.yaml            # relative to this file's folder
    stages: [curate, caption, train, evaluate]   # optional, default all, always run in pipeline order
    set: {train.steps: 20}        # optional: overrides applied to every run
    grid:                         # cartesian product of dotted keys
      train.rank: [4, 8]
      train.learning_rate: [1.0e-4, 1.0e-3]
    runs:                         # and/or an explicit list, each entry one more run
      - {train.targets: all_attention}
      - {id: no-film, set: {dataset.characters.0.media: [...]}}

The runs are the grid combinations followed by the list entries. Each run's overrides are passed
to the same loader as ``ltxbench run --set`` (:func:`ltxbench.params.load`), so a run of a sweep is
exactly ``ltxbench run BASE --set ...``. Every combination is validated against the params schema
here; one bad key or value refuses the whole sweep, naming the field and the runs it affects.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ltxbench import errors
from ltxbench.params import loading, schema

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_ID_LENGTH = 80  # run.name's limit: the run id is the run's name
MAX_VALUE_LABEL = 24

# Short labels for long parameter names, so ids stay readable ("lr-1e-3", not "learning_rate-1e-3").
KEY_ABBREVIATIONS: dict[str, str] = {
    "learning_rate": "lr",
    "weight_decay": "wd",
    "checkpoint_every": "ckpt",
    "max_grad_norm": "gradnorm",
    "warmup_steps": "warmup",
    "num_inference_steps": "infsteps",
    "identity_threshold": "idthresh",
    "max_sequence_length": "seqlen",
}


class SweepError(errors.ParamsError):
    """An invalid sweep file: every problem at once, before anything runs (CLI exit code 2)."""


class _SweepFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    name: Annotated[str, Field(min_length=1, max_length=80, pattern=NAME_PATTERN)]
    base: Annotated[str, Field(min_length=1)]
    description: str = ""
    stages: Annotated[list[Literal["curate", "caption", "train", "evaluate"]], Field(min_length=1)] = \
        ["curate", "caption", "train", "evaluate"]
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set")
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    runs: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class SweepRun:
    """One combination: its id, the overrides that vary, and what the pipeline receives."""

    id: str
    overrides: dict[str, Any]
    """The varying overrides (a grid combination or a list entry), by dotted key."""
    params_overrides: dict[str, Any]
    """Everything passed to :func:`ltxbench.params.load`: ``set``, then ``overrides``, then ``run.name``."""
    params_sha256: str
    run_dir: Path


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: every run's parameters are known to be valid."""

    name: str
    file: Path
    sha256: str
    base: Path
    stages: tuple[str, ...]
    description: str
    fixed: dict[str, Any]
    runs: tuple[SweepRun, ...]
    dir: Path
    keys: tuple[str, ...] = field(default=())
    """Every dotted key that varies across runs, in file order (the comparison table's columns)."""

    def run(self, run_id: str) -> SweepRun:
        return next(r for r in self.runs if r.id == run_id)


# ---------------------------------------------------------------------------------------
# Reading the file
# ---------------------------------------------------------------------------------------


def load_sweep(path: str | Path, sweep_dir: str | Path | None = None) -> Sweep:
    """Read, expand and validate a sweep file. Raises :class:`SweepError` with every problem."""
    path = Path(path).resolve()
    source = str(path)
    raw, blob = _read(path)
    spec = _parse(raw, source)
    base = (path.parent / spec.base).resolve()
    entries = _entries(spec, source)
    ids = assign_ids([(e.get("id"), e["overrides"]) for e in entries])
    folder = Path(sweep_dir).resolve() if sweep_dir else (Path.cwd() / "runs" / spec.name).resolve()
    runs = _validate_runs(base, spec.fixed, entries, ids, folder, source)
    keys = tuple(dict.fromkeys(k for e in entries for k in e["overrides"]))
    stages = tuple(s for s in schema.STAGES if s in spec.stages)
    return Sweep(spec.name, path, hashlib.sha256(blob).hexdigest(), base, stages, spec.description,
                 dict(spec.fixed), tuple(runs), folder, keys)


def _read(path: Path) -> tuple[Any, bytes]:
    import yaml

    if not path.is_file():
        raise SweepError([errors.Problem("sweep file", str(path), "file not found")], str(path))
    blob = path.read_bytes()
    try:
        return yaml.safe_load(blob), blob
    except yaml.YAMLError as exc:
        raise SweepError([errors.Problem("sweep file", str(path), f"not valid YAML: {exc}")], str(path)) from None


def _parse(raw: Any, source: str) -> _SweepFile:
    if not isinstance(raw, dict):
        raise SweepError([errors.Problem("<root>", raw, "a mapping with name, base, and grid and/or runs")], source)
    try:
        spec = _SweepFile.model_validate(raw)
    except ValidationError as err:
        raise SweepError([_problem_from_pydantic(e) for e in err.errors()], source) from None
    problems = _structure_problems(spec)
    if problems:
        raise SweepError(problems, source)
    return spec


def _problem_from_pydantic(e: Any) -> errors.Problem:
    loc = ".".join(str(p) for p in e["loc"])
    if e["type"] == "extra_forbidden":
        return errors.Problem(loc, e.get("input"), "unknown key; allowed: name, base, description, stages, set, grid, runs")
    if e["type"] == "missing":
        return errors.Problem(loc, "<missing>", "required")
    return errors.Problem(loc, e.get("input"), e["msg"].removeprefix("Value error, "))


def _structure_problems(spec: _SweepFile) -> list[errors.Problem]:
    problems: list[errors.Problem] = []
    for where, mapping in (("set", spec.fixed), ("grid", spec.grid)):
        problems += [p for key in mapping for p in _key_problems(f"{where}.{key}", key)]
    explicit: list[str] = []
    for i, entry in enumerate(spec.runs):
        run_id, overrides, named = _entry_parts(entry)
        if not isinstance(overrides, dict):
            problems.append(errors.Problem(f"runs.{i}.set", overrides, "a mapping of dotted keys to values"))
            continue
        if named and "id" in entry:
            if not isinstance(run_id, str) or not re.match(NAME_PATTERN, run_id) or len(run_id) > MAX_ID_LENGTH:
                problems.append(errors.Problem(f"runs.{i}.id", run_id, f"letters, digits, '._-', starting with a letter or digit, at most {MAX_ID_LENGTH}"))
            else:
                explicit.append(run_id)
        problems += [p for key in overrides for p in _key_problems(f"runs.{i}.{key}", key)]
    if not spec.grid and not spec.runs:
        problems.append(errors.Problem("grid", None, "the sweep has no runs: give a grid and/or a list of runs"))
    for dup in sorted({i for i in explicit if explicit.count(i) > 1}):
        problems.append(errors.Problem("runs.id", dup, "run ids must be unique"))
    return problems


def _entry_parts(entry: dict[str, Any]) -> tuple[Any, Any, bool]:
    """``(explicit id, overrides, named form)`` of a list entry: ``{id: ..., set: {...}}`` or a plain
    mapping of dotted keys (a dotted key always has a dot, so ``id``/``set`` cannot be one)."""
    if "set" in entry and set(entry) <= {"id", "set"}:
        return entry.get("id"), entry["set"], True
    return None, entry, False


def _key_problems(where: str, key: Any) -> list[errors.Problem]:
    if not isinstance(key, str) or "." not in key or any(not part for part in key.split(".")):
        return [errors.Problem(where, key, "a dotted parameter key such as train.rank (see params/README.md)")]
    if key == "run.name":
        return [errors.Problem(where, key, "set by the sweep: each run is named by its run id")]
    return []


def _entries(spec: _SweepFile, source: str) -> list[dict[str, Any]]:
    """The grid's cartesian product (last key fastest), then the list entries; duplicates refused."""
    entries: list[dict[str, Any]] = []
    keys = list(spec.grid)
    # product() of no lists is one empty combination: a sweep without a grid has only its list.
    for values in itertools.product(*(spec.grid[k] for k in keys)) if keys else ():
        entries.append({"id": None, "overrides": dict(zip(keys, values)), "from": "grid"})
    for i, entry in enumerate(spec.runs):
        run_id, overrides, _ = _entry_parts(entry)
        entries.append({"id": run_id, "overrides": dict(overrides), "from": f"runs.{i}"})
    seen: dict[str, str] = {}
    problems = []
    for e in entries:
        canon = _canonical({**spec.fixed, **e["overrides"]})
        if canon in seen:
            problems.append(errors.Problem(e["from"], e["overrides"], f"the same parameters as {seen[canon]}: each run must differ"))
        seen.setdefault(canon, e["from"])
    if problems:
        raise SweepError(problems, source)
    return entries


# ---------------------------------------------------------------------------------------
# Run ids
# ---------------------------------------------------------------------------------------


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def short_hash(obj: Any, n: int = 6) -> str:
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()[:n]


def key_label(key: str, all_keys: list[str] | tuple[str, ...] = ()) -> str:
    """``train.learning_rate`` -> ``lr``; the whole dotted key when another key of the sweep would
    get the same label (``curate.resolution`` and ``evaluate.resolution``, two characters' triggers)."""
    def short(k: str) -> str:
        named = [p for p in k.split(".") if not p.isdigit()] or [k]  # list indices say little
        return KEY_ABBREVIATIONS.get(named[-1], named[-1])

    clash = any(short(other) == short(key) and other != key for other in all_keys)
    label = key if clash else short(key)
    return _safe(label)


def value_label(value: Any) -> str:
    """A short, filesystem-safe label of an override value: ``1e-3``, ``all_attention``, ``true``."""
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = _float_label(value)
    elif isinstance(value, str):
        text = Path(value).name if "/" in value else value
    elif isinstance(value, list) and len(value) <= 4 and all(isinstance(v, (int, float, str, bool)) for v in value):
        text = "-".join(value_label(v) for v in value) or "empty"
    else:
        return "h" + short_hash(value)
    text = _safe(text) or "empty"
    if len(text) > MAX_VALUE_LABEL:
        text = text[: MAX_VALUE_LABEL - 7] + "-" + short_hash(value)
    return text


def _float_label(x: float) -> str:
    if not math.isfinite(x):
        return str(x)
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    dec = repr(x)
    mantissa, _, exponent = f"{x:.6e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    sci = f"{mantissa}e{int(exponent)}"
    dec = _normalise_exponent(dec)
    return dec if len(dec) <= len(sci) else sci


def _normalise_exponent(text: str) -> str:
    return re.sub(r"e([+-]?)0*(\d)", lambda m: "e" + ("-" if m.group(1) == "-" else "") + m.group(2), text)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)


def readable_id(overrides: dict[str, Any], all_keys: list[str] | tuple[str, ...] = ()) -> str:
    """``{"train.rank": 8, "train.learning_rate": 0.001}`` -> ``rank-8_lr-1e-3``; ``base`` when empty."""
    if not overrides:
        return "base"
    text = "_".join(f"{key_label(k, all_keys)}-{value_label(v)}" for k, v in overrides.items())
    text = text.lstrip("._-") or "run"
    if len(text) > MAX_ID_LENGTH:
        text = text[: MAX_ID_LENGTH - 7].rstrip("._-") + "-" + short_hash(overrides)
    return text


def assign_ids(entries: list[tuple[str | None, dict[str, Any]]]) -> list[str]:
    """Ids for ``(explicit id or None, overrides)`` entries: readable, deterministic and unique.

    A hash of the overrides is appended only to ids that would otherwise collide (values that
    look alike once made filesystem-safe, or truncated ids); explicit ids are kept as written.
    """
    all_keys = list(dict.fromkeys(k for _, ov in entries for k in ov))
    ids = [explicit or readable_id(ov, all_keys) for explicit, ov in entries]
    explicit_ids = {e for e, _ in entries if e}
    clashing = {i for i in ids if ids.count(i) > 1} | explicit_ids
    for i, (explicit, ov) in enumerate(entries):
        if not explicit and ids[i] in clashing:
            suffix = "-" + short_hash(ov)
            ids[i] = ids[i][: MAX_ID_LENGTH - len(suffix)].rstrip("._-") + suffix
    return ids


# ---------------------------------------------------------------------------------------
# Validation of every combination
# ---------------------------------------------------------------------------------------


def _validate_runs(base: Path, fixed: dict[str, Any], entries: list[dict[str, Any]], ids: list[str],
                   folder: Path, source: str) -> list[SweepRun]:
    base_raw = _read_base(base, source)
    found: dict[tuple[str, str], dict[str, list[str]]] = {}  # (field, allowed) -> value -> runs it affects
    runs: list[SweepRun] = []
    for entry, run_id in zip(entries, ids):
        overrides = {**fixed, **entry["overrides"], "run.name": run_id}
        try:
            raw = _apply(base_raw, overrides)
            params = loading.validate(raw, source=f"{source} run {run_id}", base_dir=base.parent)
        except errors.ParamsError as exc:
            for prob in exc.problems:
                key = (prob.field, prob.allowed + _origin(prob.field, fixed, entry))
                found.setdefault(key, {}).setdefault(_shown(prob.value), []).append(run_id)
            continue
        runs.append(SweepRun(run_id, dict(entry["overrides"]), overrides, params.sha256(), folder / run_id))
    if found:
        problems = [errors.Problem(field, _Shown(" | ".join(by_value)), f"{allowed} {_which([r for rs in by_value.values() for r in rs], ids)}")
                    for (field, allowed), by_value in found.items()]
        raise SweepError(problems, source)
    return runs


def _apply(base_raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Apply overrides one key at a time, so one that cannot be applied is named."""
    raw = base_raw
    for key, value in overrides.items():
        try:
            raw = loading.apply_overrides(raw, {key: value})
        except errors.ParamsError:
            raise
        except (IndexError, ValueError, AttributeError, TypeError, KeyError) as exc:
            raise errors.ParamsError([errors.Problem(key, value, f"cannot set this key in the base parameters ({type(exc).__name__}: {exc})")]) from None
    return raw


def _origin(field: str, fixed: dict[str, Any], entry: dict[str, Any]) -> str:
    """Where in the sweep file a problem's field was set, if it was."""
    if field in entry["overrides"]:
        return f"; set by the sweep's {entry['from']}"
    if field in fixed:
        return "; set by the sweep's set"
    return ""


def _read_base(base: Path, source: str) -> dict[str, Any]:
    try:
        raw = loading.read_yaml(base)
    except errors.ParamsError as exc:
        raise SweepError([errors.Problem("base", str(base), f"base params file: {p.allowed}") for p in exc.problems], source) from None
    if not isinstance(raw, dict):
        raise SweepError([errors.Problem("base", str(base), "the base params file must be a mapping of sections")], source)
    return raw


class _Shown(str):
    """A value already rendered with repr, so Problem's own repr does not quote it twice."""

    def __repr__(self) -> str:
        return str(self)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _which(affected: list[str], all_ids: list[str]) -> str:
    affected = list(dict.fromkeys(affected))
    if len(affected) == len(all_ids):
        return f"(all {len(all_ids)} runs)"
    shown = ", ".join(affected[:5]) + (f", ... ({len(affected)} runs)" if len(affected) > 5 else "")
    return f"(runs: {shown})"
