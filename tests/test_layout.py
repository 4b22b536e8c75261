"""The package's shape: no import cycles (function-level imports included), stage code never
imports the widgets, and parameter validation reaches domain code only through its preflight."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ltxbench"
STAGES = ("curate", "caption", "train", "evaluate")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, dict[str, int]]:
    """Every module of ltxbench -> the ltxbench modules it imports (at any depth of the file), with a line."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, {})
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:  # relative: resolve against this module's package
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module.split(".")[0] != "ltxbench":
                    continue
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.split(".")[0] == "ltxbench"]
            for target in targets:
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target != name:
                    edges.setdefault(target, node.lineno)
    return graph


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_and_relative_imports(tmp_path):
    # The checker must not pass for want of looking: it reads imports inside functions too.
    graph = import_graph()
    assert "ltxbench.model.loading" in graph["ltxbench.params.preflight"] or \
        any(m.startswith("ltxbench.model") for m in graph["ltxbench.params.preflight"])
    assert graph and all(isinstance(v, dict) for v in graph.values())
    assert _cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    cycles = _cycles(import_graph())
    graph = import_graph()
    shown = ["; ".join(f"{a} -> {b} (line {graph[a][b]})" for a in c for b in graph[a] if b in c) for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(shown)


def test_stage_code_never_imports_the_widgets():
    graph = import_graph()
    lower = [m for m in graph if not m.startswith(("ltxbench.ui", "ltxbench.cli", "ltxbench.pipeline")) and m != "ltxbench"]
    offenders = {m: sorted(t for t in graph[m] if t.startswith("ltxbench.ui")) for m in lower}
    assert not {m: t for m, t in offenders.items() if t}


def test_the_schema_imports_no_domain_code():
    # params.schema and the error types are what every layer reads: they import nothing of the
    # domain (models, media, stages), so validation stays light and cannot close a cycle.
    graph = import_graph()
    assert set(graph["ltxbench.errors"]) == set()
    assert set(graph["ltxbench.params.schema"]) <= {"ltxbench.errors"}
    allowed_from_loading = {"ltxbench.errors", "ltxbench.params.schema", "ltxbench.params.preflight"}
    assert set(graph["ltxbench.params.loading"]) <= allowed_from_loading


def test_each_stage_is_one_subpackage_with_its_entry_point():
    import importlib

    for stage in STAGES:
        package = importlib.import_module(f"ltxbench.{stage}")
        assert (PACKAGE / stage / "__init__.py").is_file()
        assert callable(getattr(package, stage)), stage
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__.py", "cli.py", "compare.py", "errors.py", "faces.py", "pipeline.py", "voice.py"], flat


def _shape(path: str) -> str:
    """A contract path with its variable parts as ``*`` (``<id>``, ``{id}``, ``NNNNNN``), for comparing."""
    out = []
    for segment in path.strip("/").split("/"):
        if any(mark in segment for mark in ("<", "{", "NNNNNN")):
            stem, dot, ext = segment.rpartition(".")
            segment = f"*.{ext}" if dot and "<" not in ext and "{" not in ext else "*"
        out.append(segment)
    return "/".join(out)


def test_every_run_folder_path_of_the_contract_has_a_name():
    # runs/README.md is the contract; ltxbench.run.layout names each of its paths once.
    from ltxbench.run import layout

    readme = (PACKAGE.parent / "runs" / "README.md").read_text(encoding="utf-8")
    block = readme.split("```", 2)[1]
    documented = set()
    for line in block.splitlines()[2:]:
        first = line.strip().split("  ")[0].strip()
        if not first:
            continue
        head, *more = [p.strip() for p in first.split(",")]
        documented.add(_shape(head))
        folder = head.rsplit("/", 1)[0]
        documented.update(_shape(f"{folder}/{m}") for m in more)
    named = {_shape(v) for k, v in vars(layout).items() if k.isupper() and isinstance(v, str) and "." in v.rsplit("/", 1)[-1]}
    assert documented - named == set(), "paths in runs/README.md without a name in ltxbench.run.layout"
    assert named - documented == set(), "names in ltxbench.run.layout that runs/README.md does not document"
    assert layout.name_in(layout.EVAL, layout.BEST_CHECKPOINT) == "best_checkpoint.json"
