"""LTX-2's Gemma 3 text encoder from the files researchers keep (``model.text_encoder``).

ComfyUI users keep it as one file in ``ComfyUI/models/text_encoders/``
(``gemma_3_12B_it.safetensors``, or ``gemma_3_12B_it_fp8_e4m3fn.safetensors``); Hugging Face users
as the ``google/gemma-3-12b-it`` folder (``config.json``, safetensors shards, ``tokenizer.model``).
Both load here into transformers' Gemma 3 classes, without a diffusers folder.

A file's keys come in one of three spellings, all read:

* ``language_model.model.*``, ``vision_tower.*``, ``multi_modal_projector.*``: Google's release
  shards (what ltx-core's ``GEMMA_LLM_KEY_OPS`` reads);
* ``model.language_model.*`` (and ``model.vision_tower.*`` ...): transformers >= 4.52 saves;
* ``model.layers.*``, ``model.embed_tokens.*``, ``model.norm.*``: the text model alone, as
  ComfyUI's ``Gemma3_12B`` names it, with its tokenizer inside the file as the ``spiece_model``
  tensor (the SentencePiece model's bytes).

LTX-2 reads the language model's hidden states only (ltx-core's feature extractor and diffusers'
``LTX2Pipeline`` alike), so a file loads as ``Gemma3ForCausalLM``: the vision tower and projector
keys, and a ``lm_head`` tied to the embeddings, are set aside by name and counted in the log. Any
other key is an error listing it. fp8 files are dequantized as :mod:`ltxbench.model.single_file` does
(plain fp8 casts upcast; per-tensor ``weight_scale`` folded in).

The architecture comes from a ``config`` in the file's metadata, else a ``config.json`` beside the
file, else LTX-2's own encoder (:data:`GEMMA3_12B_TEXT`, the Gemma 3 12B text config ltx-core
builds its encoder from); a file of another shape is refused with the shapes named.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ltxbench.errors import Problem
from ltxbench.model import single_file
from ltxbench.model.single_file import CheckpointFormatError, CheckpointKeyError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# The text tower of LTX-2's encoder (Gemma 3 12B it), in transformers' legacy field names: equal
# to ltx-core's GEMMA3_CONFIG_FOR_LTX.text_config (tests/test_gemma_file.py compares them).
GEMMA3_12B_TEXT: dict[str, Any] = {
    "attention_bias": False, "attention_dropout": 0.0, "attn_logit_softcapping": None,
    "cache_implementation": "hybrid", "final_logit_softcapping": None, "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 3840, "initializer_range": 0.02,
    "intermediate_size": 15360, "max_position_embeddings": 131072, "model_type": "gemma3_text",
    "num_attention_heads": 16, "num_hidden_layers": 48, "num_key_value_heads": 8,
    "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
    "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "rope_theta": 1000000,
    "sliding_window": 1024, "sliding_window_pattern": 6, "torch_dtype": "float32", "use_cache": True,
    "vocab_size": 262208,
}
TOKENIZER_KEY = "spiece_model"
"""ComfyUI's name for the tokenizer it stores inside the Gemma file (SentencePiece model bytes)."""
COMFYUI_FOLDER = "ComfyUI/models/text_encoders/"
_TEXT_ROOTS = ("layers.", "embed_tokens.", "norm.")
# file prefix -> the prefix of Gemma3ForCausalLM's parameter names
_LANGUAGE_PREFIXES = {"language_model.model.": "model.", "model.language_model.": "model."}
_SET_ASIDE_PREFIXES = ("vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector.")
_TIED_HEADS = ("lm_head.weight", "language_model.lm_head.weight")
_SCALES = (single_file.WEIGHT_SCALE, single_file.INPUT_SCALE)


@dataclass(frozen=True)
class GemmaFile:
    """What a Gemma file's header says, read without loading a tensor."""

    path: Path
    names: dict[str, str]
    """File key -> ``Gemma3ForCausalLM`` parameter name, for the language model's tensors (an fp8
    scale maps to its weight's name with the scale's suffix)."""
    set_aside: tuple[str, ...]
    """Vision tower, projector and tied-head keys: LTX-2 reads no image and no logits."""
    has_tokenizer: bool
    config: dict[str, Any] | None
    """The text config from the file's metadata or a ``config.json`` beside it; None: LTX-2's own."""


def read_gemma_file(path: str | Path) -> GemmaFile:
    """The header of a Gemma text-encoder file: every key sorted into a family, or an error."""
    p, keys, meta = single_file.read_header(path, "text encoder")
    names: dict[str, str] = {}
    set_aside: list[str] = []
    unknown: list[str] = []
    for key in keys:
        if key == TOKENIZER_KEY:
            continue
        if key in _TIED_HEADS or key.startswith(_SET_ASIDE_PREFIXES):
            set_aside.append(key)
            continue
        name = _language_name(key)
        (unknown.append(key) if name is None else names.__setitem__(key, name))
    if unknown:
        raise CheckpointKeyError(single_file.key_listing(
            f"{p.name}: {len(unknown)} key(s) that are not Gemma 3's (language_model.model.*, "
            "model.language_model.*, model.layers.*, vision_tower.*, multi_modal_projector.*)", unknown))
    if not names:
        raise CheckpointFormatError(f"{p.name} holds no Gemma 3 language-model weights")
    return GemmaFile(p, names, tuple(set_aside), TOKENIZER_KEY in keys, _file_config(p, meta))


def _language_name(key: str) -> str | None:
    for prefix, target in _LANGUAGE_PREFIXES.items():
        if key.startswith(prefix):
            return target + key[len(prefix):]
    if key.startswith("model.") and key[len("model."):].startswith(_TEXT_ROOTS):
        return key
    return None


def _file_config(path: Path, meta: dict[str, str]) -> dict[str, Any] | None:
    """The text config a file carries (metadata ``config``) or has beside it (``config.json``)."""
    if "config" in meta:
        source, text = f"{path.name}'s metadata 'config'", meta["config"]
    elif (path.parent / "config.json").is_file():
        source, text = str(path.parent / "config.json"), (path.parent / "config.json").read_text(encoding="utf-8")
    else:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CheckpointFormatError(f"{source} is not JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise CheckpointFormatError(f"{source} is not a JSON object")
    config = config.get("text_config", config)  # a full Gemma3Config holds the text tower's inside
    if not isinstance(config, dict):
        raise CheckpointFormatError(f"{source}: 'text_config' is not a JSON object")
    return config


# ---------------------------------------------------------------------------------------
# Checks before anything loads
# ---------------------------------------------------------------------------------------


def text_encoder_problems(path: str | Path) -> list[Problem]:
    """Problems with ``model.text_encoder`` found from headers and file names alone."""
    field = "model.text_encoder"
    p = Path(path).expanduser()
    if p.is_dir():
        missing = [name for name in ("config.json",) if not (p / name).is_file()]
        if not any(p.glob("*.safetensors")):
            missing.append("*.safetensors")
        if not _tokenizer_files(p):
            missing.append("tokenizer.json or tokenizer.model")
        return [Problem(field, str(path), f"a Gemma 3 folder (google/gemma-3-12b-it) needs {', '.join(missing)}")] \
            if missing else []
    try:
        found = read_gemma_file(p)
        tokenizer_source(found)
    except FileNotFoundError as exc:
        return [Problem(field, str(path), f"not found ({exc}); ComfyUI keeps it in {COMFYUI_FOLDER} as "
                                          "gemma_3_12B_it.safetensors (or gemma_3_12B_it_fp8_e4m3fn.safetensors)")]
    except (CheckpointFormatError, CheckpointKeyError) as exc:
        return [Problem(field, str(path), str(exc))]
    return []


def _tokenizer_files(folder: Path) -> list[Path]:
    return [folder / n for n in ("tokenizer.json", "tokenizer.model") if (folder / n).is_file()]


def tokenizer_source(found: GemmaFile) -> str:
    """Where the file's tokenizer comes from: ``"file"`` (ComfyUI's ``spiece_model``) or the folder
    beside it; an error naming the files expected when there is none."""
    if found.has_tokenizer:
        return "file"
    if _tokenizer_files(found.path.parent):
        return str(found.path.parent)
    raise FileNotFoundError(
        f"{found.path.name} has no tokenizer inside (ComfyUI's Gemma files carry it as '{TOKENIZER_KEY}') and "
        f"{found.path.parent} has no tokenizer.json or tokenizer.model beside it; copy google/gemma-3-12b-it's "
        f"tokenizer.model next to the file")


# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------


def load_text_encoder(path: str | Path, dtype: "torch.dtype | None" = None) -> Any:
    """The text encoder of ``model.text_encoder``: a folder through transformers, a file as
    ``Gemma3ForCausalLM`` with every language-model parameter taken from it."""
    p = Path(path).expanduser()
    if p.is_dir():
        from transformers import Gemma3ForConditionalGeneration

        return Gemma3ForConditionalGeneration.from_pretrained(str(p), dtype=dtype, local_files_only=True).eval()
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    found = read_gemma_file(p)
    if found.set_aside:
        log.info("%s: %d vision / tied-head tensors not read (LTX-2 encodes text only)", p.name, len(found.set_aside))
    tensors = single_file.read_tensors(p, found.names, dtype)  # fp8 dequantized, scales dropped
    state = {found.names[key]: value for key, value in tensors.items()}
    state.setdefault("lm_head.weight", state.get("model.embed_tokens.weight"))  # Gemma ties them
    config = found.config if found.config is not None else GEMMA3_12B_TEXT
    embeddings = state.get("model.embed_tokens.weight")
    twelve_b = (GEMMA3_12B_TEXT["vocab_size"], GEMMA3_12B_TEXT["hidden_size"])
    if found.config is None and embeddings is not None and tuple(embeddings.shape) != twelve_b:
        raise CheckpointFormatError(
            f"{p.name}: embeddings of shape {tuple(embeddings.shape)}, not LTX-2's Gemma 3 12B's {twelve_b}, and no "
            f"config in the file or beside it (config.json) to say what model it is; put its config.json beside it")
    try:
        text_config = Gemma3TextConfig(**{k: v for k, v in config.items() if k not in ("architectures", "model_type")})
    except (TypeError, ValueError) as exc:
        raise CheckpointFormatError(f"{p.name}: its config does not describe a Gemma 3 text model ({exc})") from exc
    where = "its config" if found.config is not None else "LTX-2's Gemma 3 12B (no config in or beside the file)"
    model = single_file.build_module(Gemma3ForCausalLM, {"config": text_config}, state, "text encoder",
                                     f"{p.name} (shapes from {where})")
    model.tie_weights()
    return model


def load_tokenizer(path: str | Path) -> Any:
    """The tokenizer of ``model.text_encoder``: a folder's, the ``spiece_model`` inside a ComfyUI
    file, or the ``tokenizer.json`` / ``tokenizer.model`` beside a file. Pads on the left and puts
    ``<bos>`` first, as Gemma's own tokenizer and ComfyUI's do."""
    p = Path(path).expanduser()
    if p.is_dir():
        return _tokenizer_from_folder(p)
    where = tokenizer_source(read_gemma_file(p))
    if where != "file":
        return _tokenizer_from_folder(Path(where))
    from safetensors import safe_open

    with safe_open(str(p), framework="pt") as f:
        data = f.get_tensor(TOKENIZER_KEY).numpy().tobytes()
    with tempfile.TemporaryDirectory() as folder:  # transformers reads a SentencePiece model from a file
        (Path(folder) / "tokenizer.model").write_bytes(data)
        try:
            return _tokenizer_from_folder(Path(folder))
        except Exception as exc:  # a damaged proto: name the file, not a temporary path
            raise CheckpointFormatError(f"{p.name}: its '{TOKENIZER_KEY}' is not a SentencePiece model ({exc})") from exc


def _tokenizer_from_folder(folder: Path) -> Any:
    """A Hugging Face tokenizer folder as its config says; a bare ``tokenizer.model`` as Gemma's."""
    from transformers import AutoTokenizer, GemmaTokenizer

    if (folder / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True, padding_side="left")
    return GemmaTokenizer.from_pretrained(str(folder), local_files_only=True, add_bos_token=True, padding_side="left")
