"""Files that ship with ltxbench: the stage notebooks, the params files and the demo media.

In a clone (or an editable install) they are the repository's own ``notebooks/``, ``params/``
and ``tests/data/``; in an installed wheel the build hook (``setup.py``) has copied them into
``ltxbench/_bundled/`` with the same layout. :func:`bundled_path` answers with whichever exists,
the wheel's copy first, so an installed ltxbench never reads a stray folder next to site-packages.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_COPY = Path(__file__).resolve().parents[1] / "_bundled"
CHECKOUT = Path(__file__).resolve().parents[2]


class BundleMissing(FileNotFoundError):
    """The installed ltxbench has no notebooks/params/media (a broken or partial install)."""


def bundle_root() -> Path:
    """The folder holding ``notebooks/``, ``params/`` and ``tests/data/``."""
    if (PACKAGE_COPY / "notebooks").is_dir():
        return PACKAGE_COPY
    if (CHECKOUT / "notebooks").is_dir() and (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT
    raise BundleMissing(
        f"ltxbench's bundled files (notebooks, params, demo media) are missing: neither {PACKAGE_COPY} "
        f"nor a source checkout at {CHECKOUT} has them. Reinstall ltxbench from its wheel or sdist "
        "(pip install ltxbench-*.whl), or run it from a clone of the repository.")


def bundled_path(*parts: str) -> Path:
    """A bundled file or folder, e.g. ``bundled_path("params", "demo.yaml")``."""
    return bundle_root().joinpath(*parts)
