"""Loading an LTX-2 pipeline (diffusers folder, hub cache, tiny, official single file) and checking it is the version asked for.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for annotations; never imported at run time here
    import torch
    from diffusers import LTX2Pipeline

from ltxbench.errors import ModelNotFoundError, VersionMismatchError
from ltxbench.model import video_decoder
from ltxbench.model.devices import resolve_device, resolve_dtype
from ltxbench.model.locate import download_hint, folder_version, locate
from ltxbench.model.tiny import build_tiny_pipeline
from ltxbench.model.versions import detect_version, version_spec

log = logging.getLogger("ltxbench")



# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def check_pipeline_version(pipe: LTX2Pipeline, version: str, source: str = "the pipeline") -> None:
    """Raise :class:`VersionMismatchError` unless the loaded transformer and connectors carry
    ``version``'s config flags (e.g. a 2.0 folder given with ``model.version: 2.3``)."""
    spec = version_spec(version)
    wrong = [
        f"{name}.{key}={config.get(key)!r}"
        for name, config, flags in (
            ("transformer", pipe.transformer.config, spec.transformer_flags),
            ("connectors", pipe.connectors.config, spec.connector_flags),
        )
        for key, expected in flags.items()
        if config.get(key) != expected
    ]
    if not wrong:
        return
    found = detect_version(pipe.transformer.config)
    if found:
        advice = f"set model.version: {found!r}, or point model.source at LTX-{version} weights"
        what = f"LTX-{found}"
    else:
        advice = f"point model.source at LTX-{version} weights"
        what = "not a recognised LTX-2 version"
    raise VersionMismatchError(
        f"{source} is {what}, but model.version is {version!r} (differs in {', '.join(wrong)}); {advice}"
    )


def load_pipeline(version: str, source: str, dtype: str = "float32", device: str = "auto",
                  checkpoint: str | Path | None = None, text_encoder: str | Path | None = None) -> LTX2Pipeline:
    """The LTX-2 pipeline of ``version`` from ``source``, checked and moved to ``device``.

    ``source``: ``"tiny"`` (:func:`build_tiny_pipeline`, seed 0), ``"tiny-pretrained"`` (the
    embedded pretrained miniature, :mod:`ltxbench.model.tiny_base`, loaded as a folder), a local diffusers-format folder
    (``model_index.json``), or a hub id already in the local Hugging Face cache. Both real paths
    use ``LTX2Pipeline.from_pretrained(..., local_files_only=True)``: nothing is downloaded.
    Missing or incomplete weights raise :class:`ModelNotFoundError` saying what to download and
    where; weights of another version raise :class:`VersionMismatchError`.

    ``checkpoint``: an official single-file checkpoint whose transformer, text connectors and video VAE
    replace ``source``'s (:func:`replace_from_checkpoint`); for LTX-2.5, the split release's transformer
    file, whose connector blocks replace ``source``'s while their input projection stays ``source``'s. ``text_encoder``: a Gemma 3 file or
    folder whose encoder and tokenizer replace ``source``'s (:mod:`ltxbench.model.gemma_file`).
    """
    spec = version_spec(version)
    if text_encoder is not None and spec.text_encoder_class != "Gemma3ForConditionalGeneration":
        # gemma_file builds Gemma 3 classes only
        raise VersionMismatchError(
            f"model.text_encoder={str(text_encoder)!r} is read as LTX-2.0/2.3's Gemma 3 encoder, but LTX-{version} "
            f"uses an LTX fine-tune of Gemma 4 ({spec.text_encoder_class}); leave model.text_encoder unset and use "
            f"the {version} folder's own text_encoder/")
    torch_dtype = resolve_dtype(dtype)
    target = resolve_device(device)
    # the file's problems name the file (not model.source), before a byte of weights is read
    opened = _open_checkpoint(checkpoint, version)
    located = locate(source, version)
    if located.missing:
        raise ModelNotFoundError(f"LTX-{version} weights not available at model.source={source!r}: {located.missing}")
    text_parts = _text_parts(text_encoder, torch_dtype)  # 24 GB at full size: only once the source is there
    if located.kind == "tiny":
        pipe = build_tiny_pipeline(version, seed=0, dtype=torch_dtype)
        pipe.register_modules(**text_parts)
    else:
        from diffusers import LTX2Pipeline

        # A local folder is loaded by path; a hub id by name, so diffusers resolves the snapshot.
        location = str(located.folder) if located.kind == "local" else source
        found = folder_version(located.folder) if located.folder else None
        if found is not None and found != version:  # fail before reading gigabytes
            raise VersionMismatchError(
                f"{source} is LTX-{found} (transformer/config.json), but model.version is {version!r}; "
                f"set model.version: {found!r}, or point model.source at LTX-{version} weights"
            )

        def incomplete(exc: OSError) -> ModelNotFoundError:  # missing shards or configs in the folder or cache
            return ModelNotFoundError(
                f"LTX-{version} weights at {location!r} are incomplete ({exc}); "
                + download_hint(version, location if located.kind == "local" else None))

        log.info("loading LTX-%s from %s as %s", version, location, dtype)
        replaced: dict[str, Any] = dict(text_parts)  # the folder's own encoder is then never read
        if opened is not None:  # never read source's transformer only to throw it away (38 GB)
            from transformers import AutoConfig

            if text_parts:
                text = text_parts["text_encoder"].config
            else:
                try:
                    text = AutoConfig.from_pretrained(location, subfolder="text_encoder", local_files_only=True)
                except OSError as exc:
                    raise incomplete(exc) from exc
            projection = None
            if not _has_projection(opened):  # LTX-2.5's split transformer file: it stays with the encoder
                from diffusers.pipelines.ltx2 import LTX2TextConnectors

                try:
                    own = LTX2TextConnectors.from_pretrained(location, subfolder="connectors", local_files_only=True)
                except OSError as exc:
                    raise incomplete(exc) from exc
                projection = _projection(own)
            replaced.update(_checkpoint_modules(opened, version, text.get_text_config(), torch_dtype, projection))
        try:
            pipe = LTX2Pipeline.from_pretrained(location, dtype=torch_dtype, local_files_only=True, **replaced)
        except OSError as exc:
            raise incomplete(exc) from exc
        check_pipeline_version(pipe, version, source)
        if located.folder is not None:  # LTX-2.5's diffusion decoder, when the folder carries one
            video_decoder.attach(pipe, video_decoder.from_folder(located.folder, torch_dtype))
    if opened is not None:
        replace_from_checkpoint(pipe, version, opened, torch_dtype, modules_done=located.kind != "tiny")
    check_text_widths(pipe, str(text_encoder or source))
    # one bar per denoising loop is noise in a run's record (32 of them in an evaluation notebook):
    # the stages show their own bars, one per video
    pipe.set_progress_bar_config(disable=True)
    return video_decoder.move(pipe, target)


def _text_parts(text_encoder: str | Path | None, dtype: torch.dtype) -> dict[str, Any]:
    """``{"text_encoder", "tokenizer"}`` from a Gemma file or folder; ``{}`` without one."""
    if text_encoder is None:
        return {}
    from ltxbench.model import gemma_file

    log.info("loading the text encoder and tokenizer from %s", text_encoder)
    return {"tokenizer": gemma_file.load_tokenizer(text_encoder),
            "text_encoder": gemma_file.load_text_encoder(text_encoder, dtype)}


def check_text_widths(pipe: LTX2Pipeline, source: str) -> None:
    """The text connectors read every hidden state of the encoder: a ValueError naming both shapes
    when the encoder is not the one they were trained on (another Gemma, or the tiny one)."""
    text = pipe.text_encoder.config.get_text_config()
    c = pipe.connectors.config
    theirs = (c.caption_channels, c.text_proj_in_factor)
    ours = (text.hidden_size, text.num_hidden_layers + 1)
    if theirs != ours:
        raise ValueError(f"the text encoder of {source} gives {ours[1]} hidden states of width {ours[0]}, but the "
                         f"text connectors read {theirs[1]} of width {theirs[0]}: use the text encoder made for this "
                         f"model (LTX-2: Gemma 3 12B)")


def _open_checkpoint(checkpoint: Any, version: str) -> Any:
    """``checkpoint`` (a path, or a header already read) as a header checked for ``version``; None stays None."""
    from ltxbench.model import single_file  # the one module that reads official files; it imports this one

    if checkpoint is None or isinstance(checkpoint, single_file.OfficialCheckpoint):
        return checkpoint
    return single_file.open_checkpoint(checkpoint, version)


def _has_projection(opened: Any) -> bool:
    from ltxbench.model import single_file

    return single_file.has_text_projection(opened)


def _projection(connectors: Any) -> dict[str, Any]:
    from ltxbench.model import single_file

    return single_file.text_projection(connectors)


def _checkpoint_modules(opened: Any, version: str, text_config: Any, dtype: torch.dtype,
                        projection: dict[str, Any] | None = None) -> dict[str, Any]:
    """The transformer and text connectors of an official file whose header ``opened`` is.

    The connectors' input projection reads every hidden state of the text encoder, so that
    encoder's width and depth (``text_config``) fix its shape; a checkpoint made for another
    encoder fails here with the shapes named. ``projection``: the one to use when the file has
    none (LTX-2.5's split transformer file), from the connectors beside the text encoder.
    """
    from ltxbench.model import single_file

    log.info("loading the transformer and text connectors of LTX-%s from %s", version, opened.path)
    return {
        "transformer": single_file.load_transformer(opened, version, dtype),
        "connectors": single_file.load_connectors(opened, text_config.hidden_size, text_config.num_hidden_layers,
                                                  dtype, projection),
    }


def replace_from_checkpoint(pipe: LTX2Pipeline, version: str, checkpoint: Any,
                            dtype: torch.dtype | None = None, modules_done: bool = False) -> LTX2Pipeline:
    """Put the transformer, text connectors and (when the file has one) video VAE of an official
    single-file checkpoint (a path, or its :class:`~ltxbench.model.single_file.OfficialCheckpoint`) into
    ``pipe``, in ``dtype`` (default: the transformer's).

    ``modules_done``: the transformer and connectors already came from the file (``load_pipeline``
    passes them to ``from_pretrained``); only the VAE is left.
    """
    from ltxbench.model import single_file

    opened = _open_checkpoint(checkpoint, version)
    if not modules_done:
        projection = None if _has_projection(opened) else _projection(pipe.connectors)
        pipe.register_modules(**_checkpoint_modules(opened, version, pipe.text_encoder.config.get_text_config(),
                                                    dtype or pipe.transformer.dtype, projection))
    if opened.component_keys()["vae"]:  # the file's VAE is the one its transformer was trained with
        log.info("loading the video VAE from %s", opened.path)
        single_file.load_video_vae_into(opened, pipe.vae)
    check_pipeline_version(pipe, version, str(opened.path))
    return pipe
