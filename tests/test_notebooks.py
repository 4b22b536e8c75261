"""Stage notebooks: thin, stored without outputs, parameters cell valid against the schema."""

from __future__ import annotations

import ast

import nbformat
import pytest

from ltxbench import pipeline
from ltxbench.params import loading as P

from conftest import REPO

NOTEBOOKS = [REPO / "notebooks" / name for name in pipeline.NOTEBOOKS.values()]
COMPARE = REPO / "notebooks" / "05_compare.ipynb"  # not a stage: parameterised by the sweep folder


def test_every_notebook_in_the_folder_is_checked():
    assert sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")) == sorted(p.name for p in [*NOTEBOOKS, COMPARE])


@pytest.mark.parametrize("path", [*NOTEBOOKS, COMPARE], ids=lambda p: p.name)
def test_notebook_is_thin_and_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert cell.outputs == [] and cell.execution_count is None, "notebooks are stored without outputs"
        tree = ast.parse(cell.source)
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.If))]
        assert not defs, f"logic in a notebook cell of {path.name}: {cell.source!r}"
        bound = {alias.asname or alias.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                 for alias in n.names} | {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign)
                                          for t in n.targets if isinstance(t, ast.Name)}
        assert "display" not in bound, f"{path.name} shadows IPython's display(): {cell.source!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_validates_against_the_schema(path):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names: dict[str, object] = {}
    exec(compile(cell.source, path.name, "exec"), {}, names)  # literals only
    assert set(names) == set(pipeline.NOTEBOOK_PARAMETERS)
    params = P.load((path.parent / names["params_file"]).resolve())
    assert params.run.name


def test_the_compare_notebook_takes_a_sweep_folder():
    nb = nbformat.read(COMPARE, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names: dict[str, object] = {}
    exec(compile(cell.source, COMPARE.name, "exec"), {}, names)  # literals only
    assert set(names) == {"sweep_dir"} and isinstance(names["sweep_dir"], str)
