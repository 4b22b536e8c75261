"""Module names: the original LTX-2 naming (checkpoints, ComfyUI, musubi) and diffusers' naming.

Everything in this package compares modules by their *diffusers* name together with the
pipeline component that owns them: ``("transformer", "transformer_blocks.0.attn1.to_q")`` or
``("connectors", "video_connector.transformer_blocks.0.attn1.to_q")``. A :data:`Target` is that
pair; :func:`to_diffusers` turns any spelling a LoRA file uses into it.

The renames are those of diffusers 0.42.1's ``_convert_non_diffusers_ltx2_lora_to_diffusers``
and its checkpoint converter, plus the text-connector renames that the LoRA loader lacks
(``video_embeddings_connector`` -> ``connectors.video_connector``, ``transformer_1d_blocks`` ->
``transformer_blocks``), applied per path component rather than as substring replacements.
"""

from __future__ import annotations

from typing import Iterable

Target = tuple[str, str]
"""``(component, diffusers module path)``; component is ``transformer`` or ``connectors``."""

TRANSFORMER = "transformer"
CONNECTORS = "connectors"

# First path component, original -> diffusers, for the transformer's top-level modules.
_TOP_LEVEL: dict[str, str] = {
    "patchify_proj": "proj_in",
    "audio_patchify_proj": "audio_proj_in",
    "adaln_single": "time_embed",
    "audio_adaln_single": "audio_time_embed",
    "av_ca_video_scale_shift_adaln_single": "av_cross_attn_video_scale_shift",
    "av_ca_a2v_gate_adaln_single": "av_cross_attn_video_a2v_gate",
    "av_ca_audio_scale_shift_adaln_single": "av_cross_attn_audio_scale_shift",
    "av_ca_v2a_gate_adaln_single": "av_cross_attn_audio_v2a_gate",
    "prompt_adaln_single": "prompt_adaln",
    "audio_prompt_adaln_single": "audio_prompt_adaln",
}
# Any path component, original -> diffusers (parameters and norms; never LoRA targets, but a
# base checkpoint's names go through here too).
_ANY_LEVEL: dict[str, str] = {
    "q_norm": "norm_q",
    "k_norm": "norm_k",
    "scale_shift_table_a2v_ca_video": "video_a2v_cross_attn_scale_shift_table",
    "scale_shift_table_a2v_ca_audio": "audio_a2v_cross_attn_scale_shift_table",
}
# Text connectors: original roots live inside ``diffusion_model`` (blocks) or at the top level
# of a checkpoint (``text_embedding_projection``); diffusers moves them to ``connectors``.
_CONNECTOR_ROOTS: dict[str, str] = {
    "video_embeddings_connector": "video_connector",
    "audio_embeddings_connector": "audio_connector",
}
_PROJECTIONS: dict[str, str] = {  # text_embedding_projection.<x> -> connectors.<y>
    "aggregate_embed": "text_proj_in",  # 2.0: one projection to the text width
    "video_aggregate_embed": "video_text_proj_in",  # 2.3: one per modality
    "audio_aggregate_embed": "audio_text_proj_in",
}
PROJECTION_MODULES = frozenset(_PROJECTIONS.values())
"""The connectors' input projections (diffusers names): what reads the text encoder's hidden states."""
_DIFFUSERS_CONNECTOR_ROOTS = frozenset({"video_connector", "audio_connector", *_PROJECTIONS.values()})

_INVERSE_TOP = {v: k for k, v in _TOP_LEVEL.items()}
_INVERSE_ANY = {v: k for k, v in _ANY_LEVEL.items()}
_INVERSE_ROOTS = {v: k for k, v in _CONNECTOR_ROOTS.items()}
_INVERSE_PROJ = {v: k for k, v in _PROJECTIONS.items()}


def to_diffusers(name: str) -> Target:
    """Any module path (original or diffusers naming, no file prefix) -> :data:`Target`."""
    parts = name.split(".")
    head = parts[0]
    if head == "text_embedding_projection" and len(parts) > 1:
        return CONNECTORS, ".".join([_PROJECTIONS.get(parts[1], parts[1]), *parts[2:]])
    if head in _CONNECTOR_ROOTS or head in _DIFFUSERS_CONNECTOR_ROOTS:
        parts = [_CONNECTOR_ROOTS.get(head, head)] + ["transformer_blocks" if p == "transformer_1d_blocks" else p
                                                      for p in parts[1:]]
        component = CONNECTORS
    else:
        parts[0] = _TOP_LEVEL.get(head, head)
        component = TRANSFORMER
    return component, ".".join(_ANY_LEVEL.get(p, p) for p in parts)


def to_original(target: Target) -> str:
    """The original LTX-2 path of a :data:`Target` (as ComfyUI / musubi / checkpoints spell it).

    Transformer modules are relative to ``diffusion_model``; connector projections come out as
    ``text_embedding_projection.<x>``, connector blocks as ``video_embeddings_connector.<...>``.
    """
    component, module = target
    parts = [_INVERSE_ANY.get(p, p) for p in module.split(".")]
    if component == CONNECTORS:
        if parts[0] in _INVERSE_PROJ:
            return ".".join(["text_embedding_projection", _INVERSE_PROJ[parts[0]], *parts[1:]])
        parts = [_INVERSE_ROOTS.get(parts[0], parts[0])] + ["transformer_1d_blocks" if p == "transformer_blocks" else p
                                                            for p in parts[1:]]
        return ".".join(parts)
    parts[0] = _INVERSE_TOP.get(parts[0], parts[0])
    return ".".join(parts)


def flatten(name: str) -> str:
    """kohya / musubi spelling of a module path: dots become underscores."""
    return name.replace(".", "_")


def flat_lookup(targets: Iterable[Target]) -> dict[str, Target]:
    """Flattened name -> :data:`Target`, for both namings of every target.

    kohya names cannot be split back into a path without knowing the modules (``to_out_0`` vs
    ``to.out.0``), so they are matched against the names of real architectures instead.
    """
    table: dict[str, Target] = {}
    for target in targets:
        table.setdefault(flatten(target[1]), target)
        table.setdefault(flatten(to_original(target)), target)
        if target[0] == CONNECTORS:
            table.setdefault(flatten(f"{CONNECTORS}.{target[1]}"), target)
    return table


def display(target: Target) -> str:
    """``transformer.transformer_blocks.0.attn1.to_q``: the name a diffusers user would look for."""
    return f"{target[0]}.{target[1]}"


def pattern(module: str) -> str:
    """``transformer_blocks.7.attn1.to_q`` -> ``transformer_blocks.*.attn1.to_q`` (to group evidence)."""
    return ".".join("*" if p.isdigit() else p for p in module.split("."))


def group_of(target: Target) -> str:
    """Which stream a module belongs to: ``video``, ``audio``, ``audio_video`` (the cross-modal
    attention and its modulation) or ``text`` (the text connectors)."""
    component, module = target
    if component == CONNECTORS:
        return "text"
    parts = module.split(".")
    if any(p in ("audio_to_video_attn", "video_to_audio_attn") or p.startswith("av_cross_attn") for p in parts):
        return "audio_video"
    if any(p.startswith("audio_") for p in parts):
        return "audio"
    return "video"


GROUP_TITLES: dict[str, str] = {"video": "video", "audio": "audio", "audio_video": "audio<->video", "text": "text connectors"}
