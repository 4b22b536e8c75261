"""Params files in and out: YAML, ``--set`` overrides, relative paths, pydantic errors turned into :class:`Problem` lists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ltxbench.errors import ParamsError, Problem
from ltxbench.params.preflight import cross_field_problems
from ltxbench.params.schema import RunParams

_MISSING = object()


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    for key in loc:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return data


def _problems_from_validation(err: ValidationError, raw: Any, prefix: tuple[str, ...] = ()) -> list[Problem]:
    problems = []
    for e in err.errors():
        inner = tuple(e["loc"])
        loc = prefix + inner
        field = ".".join(str(p) for p in loc)
        value = e.get("input", _value_at(raw, inner))
        if e["type"] == "extra_forbidden":
            parent = _model_at(loc[:-1])
            known = ", ".join(sorted(parent.model_fields)) if parent else "see params/README.md"
            allowed = f"unknown key; allowed keys here: {known}"
        elif e["type"] == "missing":
            value = "<missing>"
            allowed = "required"
        else:
            allowed = e["msg"].removeprefix("Value error, ")
        problems.append(Problem(field, value, allowed))
    return problems


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema class that owns a location, to list its allowed keys."""
    model: type[BaseModel] = RunParams
    for key in loc:
        if isinstance(key, int):
            continue
        field = model.model_fields.get(str(key))
        if field is None:
            return None
        ann = field.annotation
        inner = _find_model(ann)
        if inner is None:
            return None
        model = inner
    return model


def _find_model(ann: Any) -> type[BaseModel] | None:
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in getattr(ann, "__args__", ()) or ():
        found = _find_model(arg)
        if found is not None:
            return found
    for meta in getattr(ann, "__metadata__", ()) or ():
        found = _find_model(meta)
        if found is not None:
            return found
    origin = getattr(ann, "__origin__", None)
    if origin is not None and origin is not ann:
        return _find_model(origin) if isinstance(origin, type) else None
    return None


# ---------------------------------------------------------------------------------------
# Loading, overriding, resolving
# ---------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[str, Any]:
    """``'train.steps=10'`` -> ``('train.steps', 10)``; the value is parsed as YAML."""
    if "=" not in text:
        raise ParamsError([Problem("--set", text, "expected dotted.key=value, e.g. train.steps=10")], "--set")
    key, _, value = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ParamsError([Problem("--set", text, "expected dotted.key=value, e.g. train.steps=10")], "--set")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as exc:
        raise ParamsError([Problem(key, value, f"not valid YAML: {exc}")], "--set") from exc
    return key, parsed


def parse_overrides(texts: list[str]) -> tuple[dict[str, Any], list[Problem]]:
    """Every ``--set`` that parses, and a problem for each one that does not (all, not the first)."""
    parsed: dict[str, Any] = {}
    problems: list[Problem] = []
    for text in texts:
        try:
            key, value = parse_override(text)
        except ParamsError as exc:
            problems.extend(exc.problems)
            continue
        parsed[key] = value
    return parsed, problems


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (copied). Integer parts index lists (an index one past
    the end appends). Every override that cannot be applied is a :class:`Problem`, all at once."""
    data = json.loads(json.dumps(raw))
    problems: list[Problem] = []
    for dotted, value in overrides.items():
        problem = _apply_override(data, dotted, value)
        if problem:
            problems.append(Problem(dotted, value, problem))
    if problems:
        raise ParamsError(problems, "--set")
    return data


def _list_index(node: list[Any], part: str, appendable: bool) -> int | str:
    """The index ``part`` names in ``node``, or why it names none."""
    try:
        index = int(part)
    except ValueError:
        return f"'{part}' is not a list index (the list has {len(node)} item(s): use 0 to {len(node) - 1})"
    limit = len(node) + (1 if appendable else 0)
    if not 0 <= index < limit:
        return f"index {index} is out of range (the list has {len(node)} item(s){'; ' + str(len(node)) + ' appends' if appendable else ''})"
    return index


def _apply_override(data: dict[str, Any], dotted: str, value: Any) -> str | None:
    parts = dotted.split(".")
    node: Any = data
    for part in parts[:-1]:
        if isinstance(node, list):
            index = _list_index(node, part, appendable=False)
            if isinstance(index, str):
                return index
            node = node[index]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            return f"cannot set a key inside a {type(node).__name__}"
    last = parts[-1]
    if isinstance(node, list):
        index = _list_index(node, last, appendable=True)
        if isinstance(index, str):
            return index
        if index == len(node):
            node.append(value)
        else:
            node[index] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        return f"cannot set a key inside a {type(node).__name__}"
    return None


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for ch in (raw.get("dataset") or {}).get("characters") or []:
        if not isinstance(ch, dict):
            continue
        for key in ("references", "media"):
            items = ch.get(key)
            if isinstance(items, list):
                ch[key] = [str((base / str(item)).resolve()) if not Path(str(item)).is_absolute() else str(item) for item in items]
    for ch in (raw.get("dataset") or {}).get("characters") or []:
        if isinstance(ch, dict) and isinstance(ch.get("voices"), list):
            ch["voices"] = [str((base / str(v)).resolve()) if not Path(str(v)).is_absolute() else str(v) for v in ch["voices"]]
    stacked = (raw.get("evaluate") or {}).get("with_loras") if isinstance(raw.get("evaluate"), dict) else None
    for item in stacked if isinstance(stacked, list) else []:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            expanded = Path(item["path"]).expanduser()
            item["path"] = str(expanded if expanded.is_absolute() else (base / expanded).resolve())
    for section, key in (("caption", "user_file"), ("evaluate", "videos_from"), ("curate", "arcface_model"),
                         ("evaluate", "arcface_model"), ("curate", "voice_model")):
        values = raw.get(section)
        if isinstance(values, dict) and isinstance(values.get(key), str) and not Path(values[key]).is_absolute():
            values[key] = str((base / values[key]).resolve())
    others = (raw.get("evaluate") or {}).get("bases") if isinstance(raw.get("evaluate"), dict) else None
    for model in [raw.get("model") or {}, *(others if isinstance(others, list) else [])]:  # evaluate.bases: models too
        if not isinstance(model, dict):
            continue
        for key in ("checkpoint", "text_encoder"):
            value = model.get(key)
            if isinstance(value, str):  # "~/models/..." is the user's home, not a folder named "~"
                expanded = Path(value).expanduser()
                model[key] = str(expanded if expanded.is_absolute() else (base / expanded).resolve())
        src = model.get("source")
        if isinstance(src, str) and (src.startswith(".") or src.startswith("/")):
            model["source"] = str((base / src).resolve())


def validate(raw: Any, source: str = "parameters", base_dir: Path | None = None, check_weights: bool = True) -> RunParams:
    """Validate a raw mapping. Raises :class:`ParamsError` listing every problem at once.
    ``check_weights=False``: do not require the model's and captioner's weights on this machine
    (planning a run before the machine that has them)."""
    if not isinstance(raw, dict):
        raise ParamsError([Problem("<root>", raw, "a mapping of sections (run, model, dataset, ...)")], source)
    raw = json.loads(json.dumps(raw, default=str))
    if base_dir is not None:
        _resolve_paths(raw, base_dir)
    problems: list[Problem] = []
    sections: dict[str, BaseModel] = {}
    # Each section on its own first, so the problems of every section are reported together.
    for name, field in RunParams.model_fields.items():
        section_cls = _find_model(field.annotation)
        if name not in raw:
            if field.is_required():
                problems.append(Problem(name, "<missing>", "required section"))
            continue
        try:
            sections[name] = section_cls.model_validate(raw[name])
        except ValidationError as err:
            for prob in _problems_from_validation(err, raw[name], prefix=(name,)):
                problems.append(prob)
    for name in raw:
        if name not in RunParams.model_fields:
            problems.append(Problem(name, raw[name], f"unknown section; allowed: {', '.join(RunParams.model_fields)}"))
    problems.extend(cross_field_problems(sections, check_weights))
    if problems:
        raise ParamsError(problems, source)
    return RunParams.model_validate(raw)


def read_yaml(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ParamsError([Problem("params file", str(path), "file not found")], str(path))
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ParamsError([Problem("params file", str(path), f"not UTF-8 text (byte {exc.start}: {exc.reason}); "
                                   "save it as UTF-8")], str(path)) from None
    except yaml.YAMLError as exc:
        raise ParamsError([Problem("params file", str(path), f"not valid YAML: {exc}")], str(path)) from None


def load(path: str | Path, overrides: dict[str, Any] | list[str] | None = None, check_weights: bool = True) -> RunParams:
    """Load a params YAML, apply ``--set`` style overrides, resolve paths, validate (see :func:`validate`)."""
    path = Path(path)
    raw = read_yaml(path)
    problems: list[Problem] = []
    if isinstance(overrides, list):
        overrides, problems = parse_overrides(overrides)
    if overrides:
        if not isinstance(raw, dict):
            raw = {}
        try:
            raw = apply_overrides(raw, overrides)
        except ParamsError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ParamsError(problems, "--set")
    return validate(raw, source=str(path), base_dir=path.resolve().parent, check_weights=check_weights)


def dump_yaml(params: RunParams) -> str:
    return yaml.safe_dump(params.to_dict(), sort_keys=False, allow_unicode=True)
