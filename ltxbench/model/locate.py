"""Where the weights of an LTX-2 base are: a local folder, the Hugging Face cache, or the tiny pipeline (no torch needed).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ltxbench.errors import Problem

from ltxbench.model.versions import VERSIONS, detect_version

# ---------------------------------------------------------------------------------------
# Where the weights are (no torch needed)
# ---------------------------------------------------------------------------------------

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class _Located:
    """Where ``model.source`` points: ``kind`` is tiny, local or hub; ``folder`` the diffusers
    folder when it exists; ``missing`` says what is absent (None when the weights are there)."""

    kind: str
    folder: Path | None
    missing: str | None


def _is_local(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or Path(source).expanduser().is_dir()


def _hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def download_hint(version: str, local_dir: str | None = None) -> str:
    hub_id = VERSIONS[version].hub_id if version in VERSIONS else None
    hub_id = hub_id or "<diffusers-format LTX-2 repository>"
    target = local_dir or "/path/to/ltx-folder"
    return (
        f"download the diffusers-format LTX-{version} weights first, either to a folder:\n"
        f"    hf download {hub_id} --local-dir {target}\n"
        f"  and set model.source: {target}\n"
        f"  or into the Hugging Face cache ({_hub_cache_dir()}; HF_HOME or HF_HUB_CACHE move it):\n"
        f"    hf download {hub_id}\n"
        f"  and set model.source: {hub_id}\n"
        f"  (the command is `huggingface-cli download` on huggingface_hub < 1.0); "
        f"model.source: tiny runs the embedded random-weight pipeline without any download"
    )


def _cached_hub_folder(hub_id: str) -> Path | None:
    """The local snapshot folder of ``hub_id`` if its model_index.json is in the HF cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(hub_id, "model_index.json")
    except Exception:  # malformed ids raise validation errors: treat as not cached
        return None
    return Path(found).parent if isinstance(found, str) else None


TINY_PRETRAINED = "tiny-pretrained"
"""``model.source`` of the embedded pretrained tiny base (:mod:`ltxbench.model.tiny_base`)."""


def is_tiny(source: str) -> bool:
    """One of the embedded miniatures (random ``tiny`` or ``tiny-pretrained``), whose text
    connectors carry :data:`TINY_REGISTERS` registers."""
    return source in ("tiny", TINY_PRETRAINED)


def locate(source: str, version: str) -> _Located:
    if source == "tiny":
        return _Located("tiny", None, None)
    if source == TINY_PRETRAINED:
        from ltxbench.model import tiny_base

        if version != "2.3":
            return _Located("local", None, f"the pretrained tiny base is LTX-2.3; set model.version: '2.3' "
                                           f"(or model.source: tiny for a random LTX-{version} miniature)")
        if not (tiny_base.folder() / "model_index.json").is_file():
            return _Located("local", None, f"{tiny_base.folder()} holds no pipeline: build it with "
                                           f"`python -m ltxbench.model.tiny_base.pretrain --out DIR` and copy DIR/pipeline there")
        return _Located("local", tiny_base.folder(), None)
    if _is_local(source):
        folder = Path(source).expanduser()
        if not folder.is_dir():
            return _Located("local", None, "folder not found; " + download_hint(version, source))
        if not (folder / "model_index.json").is_file():
            return _Located(
                "local",
                None,
                "folder has no model_index.json, so it is not a diffusers-format pipeline; "
                + download_hint(version, source),
            )
        return _Located("local", folder, None)
    if not _HUB_ID.match(source):
        return _Located("hub", None, "expected 'tiny', 'tiny-pretrained', a local folder (/..., ./...) or a hub id owner/name")
    folder = _cached_hub_folder(source)
    if folder is None:
        return _Located(
            "hub",
            None,
            f"not in the local Hugging Face cache ({_hub_cache_dir()}) and nothing is downloaded at run "
            f"time; run `hf download {source}` first (or use a local folder, or 'tiny')",
        )
    return _Located("hub", folder, None)


def folder_version(folder: Path) -> str | None:
    """Version read from ``transformer/config.json`` without loading anything; None if unknown."""
    try:
        config = json.loads((folder / "transformer" / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return detect_version(config)


def source_problems(source: str, version: str) -> list[Problem]:
    """Problems with ``model.source`` found before anything is loaded (imports no torch).

    ``tiny`` is always fine. A local path (starting with ``/``, ``.`` or ``~``, or an existing
    folder) must hold a diffusers-format pipeline (``model_index.json``); anything else is read
    as a hub id, which must already be in the local Hugging Face cache since nothing is
    downloaded at run time. When ``transformer/config.json`` is readable, the version it
    describes must be ``version``.
    """
    located = locate(source, version)
    if located.missing:
        return [Problem("model.source", source, located.missing)]
    if located.folder is not None:
        found = folder_version(located.folder)
        if found is not None and found != version:
            return [
                Problem(
                    "model.source",
                    source,
                    f"holds LTX-{found} weights (transformer/config.json) but model.version is {version!r}",
                )
            ]
    return []
