"""Build hook: the wheel carries the stage notebooks, the params files and the demo media.

They live at the top of the repository (``notebooks/``, ``params/``, ``tests/data/``), where a
researcher working in a clone edits them, and are copied into ``ltxbench/_bundled/`` in the wheel
with the same relative layout, so ``params/demo.yaml``'s ``../tests/data/...`` paths still resolve.
``ltxbench.util.bundled`` finds them in either place. Everything else is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUNDLED = ("notebooks", "params", "tests/data")  # folders copied whole, relative to the repository root
SKIP = {".ipynb_checkpoints", "__pycache__"}


def bundled_files() -> list[Path]:
    files = []
    for folder in BUNDLED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and not SKIP.intersection(path.relative_to(ROOT).parts):
                files.append(path.relative_to(ROOT))
    return files


class BuildPyWithBundle(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "ltxbench" / "_bundled"
        for rel in bundled_files():
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(ROOT / rel), str(dest))


setup(cmdclass={"build_py": BuildPyWithBundle})
