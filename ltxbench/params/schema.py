"""Typed, strict parameters for a run: one schema per stage, all problems reported at once.

A params file is YAML with one section per concern (``run``, ``model``, ``dataset``, ``curate``,
``caption``, ``train``, ``evaluate``). Unknown keys are refused (papermill itself only warns
about unknown notebook parameters, so the package must refuse them), ranges are declared on
each field, and cross-field rules are checked after the field checks. Every problem found is
reported in one :class:`ParamsError`, each naming the field, the value and what is allowed.

Relative paths in the file are resolved against the folder of the params file, so a recipe
can be run from anywhere; the resolved parameters written to ``RUN_DIR/params.yaml`` hold
absolute paths only.

"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

STAGES: tuple[str, ...] = ("curate", "caption", "train", "evaluate")

# Which parameter sections each stage reads. A stage's fingerprint covers its own sections and
# those of every earlier stage, so changing a curate setting invalidates everything after it,
# while changing an evaluate setting keeps curate, caption and train.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "curate": ("run", "dataset", "curate"),
    "caption": ("caption", "model"),  # lint counts tokens with the model's tokenizer
    "train": ("model", "train"),
    "evaluate": ("evaluate",),
}

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm")


class Strict(BaseModel):
    """Base of every section: unknown keys are errors, values are validated on assignment."""

    # Attribute docstrings become the fields' descriptions (one source of truth, read by tests/test_params.py).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, use_attribute_docstrings=True)


def _is_8k_plus_1(n: int) -> bool:
    return n % 8 == 1


def _check_8k_plus_1(n: int) -> int:
    if not _is_8k_plus_1(n):
        lo = (n - 1) // 8 * 8 + 1
        raise ValueError(f"must be 8k+1 (LTX's VAE compresses time by 8), e.g. {lo} or {lo + 8}")
    return n


def _check_multiple_of_32(n: int) -> int:
    if n % 32:
        raise ValueError(f"must be a multiple of 32 (LTX's VAE compresses space by 32), e.g. {max(32, n // 32 * 32)} or {n // 32 * 32 + 32}")
    return n


def _check_photo(path: Path) -> Path:
    if not path.is_file():
        raise ValueError("file not found")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"must be a photo ({', '.join(IMAGE_SUFFIXES)})")
    return path


def _check_media(path: Path) -> Path:
    if not path.exists():
        raise ValueError("file or folder not found")
    if path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        raise ValueError(f"unsupported file type; videos {', '.join(VIDEO_SUFFIXES)} or photos {', '.join(IMAGE_SUFFIXES)}")
    return path


AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus")  # = voice.AUDIO_SUFFIXES (no torch import here)


def _check_voice(path: Path) -> Path:
    if not path.is_file():
        raise ValueError("file not found")
    if path.suffix.lower() not in AUDIO_SUFFIXES + VIDEO_SUFFIXES:
        raise ValueError(f"unsupported file type; audio {', '.join(AUDIO_SUFFIXES)} or videos {', '.join(VIDEO_SUFFIXES)}")
    return path


Frames8k1 = Annotated[int, AfterValidator(_check_8k_plus_1)]
Side32 = Annotated[int, AfterValidator(_check_multiple_of_32)]
PhotoPath = Annotated[Path, AfterValidator(_check_photo)]
MediaPath = Annotated[Path, AfterValidator(_check_media)]
VoicePath = Annotated[Path, AfterValidator(_check_voice)]


class RunSection(Strict):
    name: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] = "run"
    """Run name; the default run folder is ``runs/<name>``."""
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    """Seed for every random choice of the run (sampling, noise, LoRA init)."""


class ModelSection(Strict):
    version: Literal["2.3", "2.0", "2.5"] = "2.3"
    """LTX-2 version of the base model. 2.3 is the default; 2.0 and 2.5 are accepted (2.5: Gemma-4
    text encoder, bias-free video feed-forward; ``source: tiny`` builds a random 2.5 miniature).
    Text and latent caches are keyed by it, so switching rebuilds them."""

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        # YAML and --set read 2.3 as a number; the version is a label.
        return f"{v:.1f}" if isinstance(v, float) else v
    source: Annotated[str, Field(min_length=1)] = "tiny"
    """``tiny`` (embedded random-weight pipeline, no download), ``tiny-pretrained`` (the embedded
    miniature trained to draw faces: ``ltxbench.model.tiny_base``), a local diffusers-format folder, or a hub id such as ``diffusers/LTX-2.3-Diffusers`` already in the local cache."""
    checkpoint: Path | None = None
    """An official single-file LTX-2 checkpoint (the layout of Lightricks' releases, ltx-core and
    ComfyUI's ``models/diffusion_models/``, e.g. ``ltx-2.3-22b-dev.safetensors``, its ``-fp8``
    variant or the distilled one), bf16 or fp8. Its transformer, text connectors and video VAE
    replace ``source``'s; the text encoder, audio VAE, vocoder and scheduler still come from
    ``source``, which must be the same version. Its keys must all convert (:mod:`ltxbench.model.single_file`); the version
    its keys show must be ``version``. For LTX-2.5, released as one file per component, it is the
    transformer file (``diffusion_models/ltx-2.5-22b-dev-transformer-bf16.safetensors`` or the
    distilled one): its transformer and connector blocks replace ``source``'s, and the connectors'
    input projection, which that release keeps with its Gemma 4 encoder, stays ``source``'s."""
    text_encoder: Path | None = None
    """LTX-2's Gemma 3 text encoder and its tokenizer from a file or folder, in place of
    ``source``'s: ComfyUI's ``models/text_encoders/gemma_3_12B_it.safetensors`` (or its
    ``_fp8_e4m3fn`` variant; the tokenizer is inside it), any Gemma 3 safetensors file with a
    ``tokenizer.model`` beside it, or the ``google/gemma-3-12b-it`` folder
    (:mod:`ltxbench.model.gemma_file`). Its width and depth must be what the text connectors read."""
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    """Weight dtype for the frozen base model."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto`` uses CUDA when present, else the CPU."""
    max_sequence_length: Annotated[int, Field(ge=8, le=4096)] = 1024
    """Text tokens per prompt, the same for training captions and evaluation prompts."""


class CharacterSection(Strict):
    name: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
    """Character name used in ids and reports."""
    trigger: Annotated[str, Field(min_length=2, max_length=32, pattern=r"^\S+$")]
    """The unique word that binds this character's identity in captions and prompts."""
    references: Annotated[list[PhotoPath], Field(min_length=1)]
    """Reference photos of the character (jpg/png/webp); identity is measured against them."""
    media: Annotated[list[MediaPath], Field(min_length=1)]
    """Raw material: video files, photos, or folders holding them."""
    voices: list[VoicePath] = []
    """Recordings of the character's own voice (audio files, or videos of them speaking), a few
    seconds of speech each. Empty: no voice is checked. With them, curate scores every clip with
    speech against them (``scores.voice_similarity``; ``wrong_voice`` when someone else speaks) and
    evaluate scores the generated sound (:mod:`ltxbench.voice`)."""


class DatasetSection(Strict):
    characters: Annotated[list[CharacterSection], Field(min_length=1)]
    """One entry per character (at least one)."""


class CurateSection(Strict):
    fps: Literal[24, 25] = 24
    """Frame rate clips are resampled to."""
    clip_frames: Annotated[Frames8k1, Field(ge=9, le=257)] = 121
    """Frames per clip; must be 8k+1 (LTX's VAE compresses time by 8)."""
    resolution: Annotated[Side32, Field(ge=32, le=2048)] = 512
    """Short side of every clip in pixels (multiple of 32). Smaller sources are rejected, never upscaled."""
    min_source_fps: Annotated[float, Field(gt=0.0, le=240.0)] = 12.0
    """Slowest video frame rate (decord's average) that is cut into clips; a slower source is one
    record rejected as ``low_frame_rate``: at ``fps`` 24 a 1 fps source would make clips of two
    source frames, each shown 24 times."""
    face_samples: Annotated[int, Field(ge=1, le=64)] = 4
    """Frames sampled evenly across each clip for face scoring."""
    identity_threshold: Annotated[float, Field(gt=0.0, le=2.0)] = 0.6
    """Largest dlib embedding distance to the nearest reference photo that still counts as the
    character (dlib's own same-person threshold is 0.6). Used with ``face_embedder: dlib``."""
    face_embedder: Literal["dlib", "arcface"] = "dlib"
    """Identity embedding: ``dlib`` (shipped, offline, 128-D, Euclidean distance) or ``arcface``
    (512-D, cosine distance, from ONNX weights the user supplies in ``arcface_model``). Faces are
    detected and aligned by dlib either way."""
    arcface_model: Annotated[Path | None, Field(validate_default=True)] = None
    """An insightface-style ArcFace recognition model (``.onnx``, input 1x3x112x112, e.g.
    ``w600k_r50.onnx`` of the ``buffalo_l`` pack); required when ``face_embedder`` is ``arcface``.
    Never downloaded. A relative path is relative to the params file."""
    arcface_threshold: Annotated[float, Field(gt=0.0, le=2.0)] = 0.6
    """Largest ArcFace cosine distance (1 - cosine similarity) to the nearest reference photo that
    still counts as the character, with ``face_embedder: arcface``. 0.6 (cosine similarity >= 0.4)
    is a common starting point for insightface's models, not a value measured here: calibrate it on
    your own photos (distances between photos of one person vs. of different people)."""
    min_face_height: Annotated[float, Field(ge=0.0, le=1.0)] = 0.08
    """Smallest face height, as a fraction of frame height, that is scored as a face."""
    min_face_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    """Share of sampled frames that must show the character for a clip to be accepted."""
    cut_threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.35
    """Colour-histogram distance between consecutive frames above which a cut is declared."""
    shot_detector: Literal["transnetv2", "content"] = "content"
    """Shot-cut detector: ``content`` (colour-layout histograms, uses ``cut_threshold``) or ``transnetv2``
    (a trained network, also sees dissolves); ``content`` found every cut of the test footage at a small
    fraction of TransNetV2's CPU time (docs/shots.md)."""
    image_motion: Literal["pan", "zoom"] = "pan"
    """How a photo becomes a clip: a slow pan across it or a slow zoom into it."""
    image_motion_amount: Annotated[float, Field(ge=0.0, le=0.5)] = 0.08
    """How far the pan or zoom travels, as a fraction of the frame."""
    yaw_front_max_deg: Annotated[float, Field(gt=0.0, le=90.0)] = 25.0
    """Head yaw (absolute degrees) below which a face is ``front``; the test photos measure 2-20 degrees."""
    yaw_profile_min_deg: Annotated[float, Field(gt=0.0, le=90.0)] = 60.0
    """Head yaw (absolute degrees) from which a face is ``profile``; between the two: ``three_quarter``."""
    style_flat_min: Annotated[float, Field(ge=0.0, le=1.0)] = 0.35
    """Share of smooth pixels from which a clip may be ``stylised`` animation (``scores.style``,
    :mod:`ltxbench.curate.scores.style`): live action measures 0.07-0.20, the bundled animation 0.46-0.76."""
    style_noise_max: Annotated[float, Field(ge=0.0, le=255.0)] = 0.22
    """Grain on those smooth pixels (grey levels) up to which a clip is ``stylised``: animation
    0.09-0.17, live action 0.28-0.68, photos 0.52-0.96. A mix of both styles is a coverage gap."""
    smile_min: Annotated[float, Field(ge=-1.0, le=2.0)] = 0.25
    """``scores.smile`` from which a face counts as smiling (a broad smile measures ~0.38, relaxed mouths 0.06-0.12)."""
    expression_frames: Annotated[int, Field(ge=0, le=32)] = 8
    """Consecutive clip frames around the clip's middle whose mouth opening gives ``mouth_motion`` (0: off)."""
    talk_min_motion: Annotated[float, Field(ge=0.0, le=1.0)] = 0.03
    """``scores.mouth_motion`` (std of the mouth opening per eye distance) from which a face counts as talking."""
    dark_below: Annotated[float, Field(ge=0.0, le=1.0)] = 0.3
    """Mean luma below which a clip's lighting is ``dark``."""
    bright_above: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    """Mean luma above which a clip's lighting is ``bright``."""
    close_up_min: Annotated[float, Field(ge=0.0, le=1.0)] = 0.3
    """Face height / frame height from which a clip is a ``close_up``."""
    medium_min: Annotated[float, Field(ge=0.0, le=1.0)] = 0.12
    """Face height / frame height from which a clip is ``medium`` (below: ``wide``)."""
    min_sharpness: Annotated[float, Field(ge=0.0)] = 1.0
    """Smallest ``scores.sharpness`` (Laplacian variance / intensity variance of the face) a clip may have; below: ``blurry``."""
    max_blockiness: Annotated[float, Field(ge=1.0)] = 2.0
    """Largest ``scores.blockiness`` (8x8 grid gradient ratio, ~1 clean) a clip may have; above: ``compressed``."""
    duplicate_distance: Annotated[int, Field(ge=0, le=64)] = 6
    """Largest Hamming distance (of 64 bits) between two clips' ``dup_key`` that makes them near-duplicates."""
    head_crops: bool = False
    """Also make a head-crop clip (``<id>-head``, square around the face) from every accepted clip with a face."""
    head_crop_scale: Annotated[float, Field(ge=1.0, le=4.0)] = 2.0
    """Side of a head crop as a multiple of the face box height."""
    workers: Annotated[int, Field(ge=0, le=64)] = 0
    """Processes that score clips in parallel (dlib is single-threaded); 0: auto, min(2, CPU count);
    1: in the calling process. The manifest is identical for any value."""
    voice_backend: Literal["resemblyzer", "wavlm"] = "resemblyzer"
    """Speaker embedding for the characters' ``voices``: ``resemblyzer`` (shipped in its wheel,
    offline, 256-D) or ``wavlm`` (a WavLM x-vector model folder the user supplies in ``voice_model``)."""
    voice_model: Path | None = None
    """The WavLM x-vector folder (e.g. a download of microsoft/wavlm-base-plus-sv) for ``voice_backend:
    wavlm``; never downloaded. A relative path is relative to the params file."""
    voice_threshold: Annotated[float, Field(gt=-1.0, lt=1.0)] | None = None
    """Same-speaker cosine threshold (0.5 on the voice_similarity scale); None: the backend's
    (resemblyzer 0.78, measured on LibriSpeech; wavlm 0.86, its model card's example)."""
    min_voice_similarity: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    """Clips whose speech scores below this ``voice_similarity`` to the character's voices are
    rejected as ``wrong_voice`` (0.5: the backend's same-speaker threshold)."""

    @field_validator("arcface_model")
    @classmethod
    def _arcface_model(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        # Checked here (face_embedder is declared first, so it is in info.data) to fail before any model loads.
        if v is None:
            if info.data.get("face_embedder") == "arcface":
                raise ValueError("required when curate.face_embedder is arcface: the path of your ArcFace .onnx weights")
            return v
        if not v.is_file():
            raise ValueError("file not found (ArcFace weights are never downloaded: supply the .onnx file)")
        if v.suffix.lower() != ".onnx":
            raise ValueError("must be an .onnx file")
        return v


class CaptionVLMSection(Strict):
    """``caption.vlm``: the vision-language model of ``caption.backend: vlm``."""

    model: Annotated[str, Field(min_length=1)] = "Qwen/Qwen2.5-VL-3B-Instruct"
    """A transformers image-text-to-text model with a chat template (Qwen2.5-VL / Qwen3-VL class):
    a hub id already in the local Hugging Face cache, a local folder, or ``tiny`` (a random-weight
    Qwen2.5-VL built in code, no download). Nothing is downloaded at run time."""
    frames: Annotated[int, Field(ge=1, le=32)] = 4
    """Frames sampled evenly across each clip (first and last included) and shown to the model in order."""
    max_side: Annotated[int, Field(ge=28, le=2048)] = 448
    """Frames are shrunk so their long side is at most this many pixels (sets the visual tokens per frame)."""
    max_new_tokens: Annotated[int, Field(ge=8, le=1024)] = 120
    """Longest caption the model may write, in its own tokens."""
    system_prompt: Annotated[str, Field(min_length=1)] = (
        "You write training captions for a video model that learns one person's identity from the pixels. "
        "Describe the clip in one or two plain sentences: the scene and setting, what the person is doing, "
        "their facial expression, the camera (framing, angle, movement) and the lighting. "
        "Call them only 'the person'. Never describe fixed physical features: no eye colour, hair colour, "
        "face shape, skin, age, ethnicity or body build, and never name anyone. "
        "No lists, no preamble, no quotation marks."
    )
    """System prompt: asks for scene, action, expression, camera and lighting; forbids fixed facial features."""
    prompt: Annotated[str, Field(min_length=1)] = "These are {frames} frames of one video clip, in order. Write its caption."
    """User message after the frames; ``{frames}`` is replaced by the number of frames."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """``auto`` uses CUDA when present."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """``auto`` is bfloat16 on CUDA and float32 on the CPU."""


class CaptionLintSection(Strict):
    """``caption.lint``: thresholds and levels of the caption lint (docs/captions.md)."""

    min_tokens: Annotated[int, Field(ge=0, le=4096)] = 5
    """Captions shorter than this (text-encoder tokens, or words without a tokenizer) get ``too_short``."""
    max_tokens: Annotated[int, Field(ge=1, le=8192)] = 256
    """Captions longer than this get ``too_long``."""
    face_words: list[Annotated[str, Field(min_length=1)]] | None = None
    """Fixed facial-feature phrases to flag (``face_words``); ``null`` is the built-in list of docs/captions.md."""
    face_words_extra: list[Annotated[str, Field(min_length=1)]] = []
    """Phrases flagged in addition to ``face_words``."""
    duplicate_similarity: Annotated[float, Field(gt=0.0, le=1.0)] = 0.9
    """Word overlap (Jaccard, triggers left out) from which two captions are near-duplicates."""
    min_consistency: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    """A caption whose mean word overlap with its character's other captions is below this gets ``inconsistent_wording``."""
    levels: dict[str, Literal["error", "warning", "off"]] = {}
    """Per rule code, a level that replaces the default (``error``, ``warning`` or ``off``)."""


class CaptionSection(Strict):
    backend: Literal["template", "vlm", "user"] = "template"
    """``template`` writes each caption from the curate scores with no model; ``vlm`` asks a
    vision-language model (``caption.vlm``); ``user`` reads ``caption.user_file`` or sidecar .txt files."""
    trigger_position: Literal["start", "end"] = "start"
    """Where the trigger word is placed when a caption lacks it."""
    insert_trigger: bool = True
    """Insert the trigger into captions that lack it (once; never duplicated). Off: only lint it."""
    user_file: Path | None = None
    """``backend: user``: a CSV, JSONL or JSON file of captions keyed by clip id or file name;
    ``null`` reads only sidecar .txt files."""
    batch_size: Annotated[int, Field(ge=1, le=256)] = 4
    """Clips captioned per batch (one VLM forward pass)."""
    force: bool = False
    """Recaption every clip. Otherwise clips whose caption came from the editor, or from the same
    VLM, are kept (resumable); template and user captions are cheap and always rewritten."""
    allow_lint_errors: bool = False
    """Let the train stage and the export run despite lint errors (warnings never block)."""
    vlm: CaptionVLMSection = Field(default_factory=CaptionVLMSection)
    """Settings of the vision-language captioner (``caption.backend: vlm``)."""
    lint: CaptionLintSection = Field(default_factory=CaptionLintSection)
    """Caption lint rules and their levels."""

    @field_validator("user_file")
    @classmethod
    def _user_file(cls, v: Path | None) -> Path | None:
        if v is not None:
            if not v.is_file():
                raise ValueError("file not found")
            if v.suffix.lower() not in (".csv", ".jsonl", ".json"):
                raise ValueError("must be a .csv, .jsonl or .json file")
        return v


class TrainStageSection(Strict):
    """One stage of a staged recipe: its own data filter, steps, lr and loss weights; every stage
    continues the same LoRA."""

    name: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
    """Stage name (in train/metrics.csv and the checkpoint metadata)."""
    steps: Annotated[int, Field(ge=1, le=1_000_000)]
    """Steps of this stage."""
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    """Learning rate of this stage; ``train.learning_rate`` when unset."""
    source_kinds: Annotated[list[Literal["video", "image"]], Field(min_length=1)] = ["video", "image"]
    """Which clips this stage trains on, by source kind."""
    crop: Literal["full", "head"] = "full"
    """``head`` trains on square crops around the face (from curate's face box), ``full`` on whole frames."""
    still: bool = False
    """Train on single frames (the clip's middle frame) instead of the whole clip."""
    video_loss_weight: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    """Weight of the video loss in this stage (0 trains on audio only)."""
    audio_loss_weight: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    """Weight of the audio loss; clips without usable audio contribute video loss only."""

    @field_validator("audio_loss_weight")
    @classmethod
    def _audio_needs_motion(cls, value: float, info: Any) -> float:
        # a still is one frame (1/24 s): there is no sound to pair with it
        if value > 0 and info.data.get("still"):
            raise ValueError("a still stage cannot train audio (one frame has no sound); set still: false or audio_loss_weight: 0")
        return value


class PriorPreservationSection(Strict):
    """Trigger-free videos of the base model trained on beside the character (:mod:`ltxbench.train.prior`)."""

    samples: Annotated[int, Field(ge=0, le=10_000)] = 0
    """How many videos the base model renders, before training, from the training captions with the
    trigger removed (at the clips' sizes, with the evaluate stage's sampler settings). 0: off."""
    loss_weight: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0
    """Weight of a prior video's loss beside each character clip's in every step."""
    subject: str = ""
    """What replaces the trigger in the prior prompts ("" removes it; e.g. "a man")."""


class ReferenceSection(Strict):
    """IC-LoRA (reference-conditioned) training: every step also shows the transformer a clean
    reference image of the clip's character, as ``diffusers.LTX2InContextPipeline`` does at inference
    (:mod:`ltxbench.model.reference`, :mod:`ltxbench.train.reference`)."""

    source: Literal["photos", "clip"] = "photos"
    """Where each step's reference image comes from: ``photos``, one of the character's
    ``dataset.characters[].references`` (drawn per step); ``clip``, the middle frame of another
    accepted clip of the same character (never the clip being trained on). ``photos`` is the
    default because at inference the reference is a photo of the person, so training sees the
    same kind of input it will get."""
    downscale_factor: Annotated[int, Field(ge=1, le=4)] = 1
    """The reference is encoded at the target size divided by this (the pipeline's
    ``reference_downscale_factor``; its RoPE coordinates are scaled back up by it). 2 quarters the
    reference tokens. Every training clip's sides must be multiples of 32 x this factor."""


class TrainSection(Strict):
    steps: Annotated[int, Field(ge=1, le=1_000_000)] = 2000
    """Optimiser steps (ignored when ``train.stages`` is given: each stage has its own)."""
    checkpoint_every: Annotated[int, Field(ge=1)] = 250
    """Save a LoRA checkpoint (and the state to resume from) every N steps, and at the last step."""
    keep_last: Annotated[int, Field(ge=0)] = 0
    """Keep only the newest N checkpoints (0 keeps all); the evaluation's best is always kept."""
    resume: bool = True
    """Resume from the newest training state when one exists with the same parameters and data."""
    rank: Annotated[int, Field(ge=1, le=512)] = 32
    """LoRA rank."""
    alpha: Annotated[float, Field(gt=0)] = 32.0
    """LoRA alpha (folded into the saved weights)."""
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    """LoRA dropout."""
    targets: Literal["text_cross_attention", "video_attention", "all_attention", "all_attention_ff"] = "video_attention"
    """Which transformer modules get LoRA adapters (presets)."""
    learning_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 1e-4
    """AdamW learning rate (a stage may set its own)."""
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """After warm-up: keep the rate, or decay it linearly or along a cosine to 0 at the last step."""
    warmup_steps: Annotated[int, Field(ge=0)] = 0
    """Linear warm-up steps at the start of each stage."""
    optimizer: Literal["adamw", "adamw8bit"] = "adamw"
    """``adamw8bit`` (bitsandbytes) needs a CUDA GPU."""
    weight_decay: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """AdamW weight decay."""
    max_grad_norm: Annotated[float, Field(gt=0.0)] = 1.0
    """Gradient clipping: the largest global gradient norm."""
    mixed_precision: Literal["no", "bf16"] = "no"
    """``bf16`` runs the forward pass under bfloat16 autocast (LoRA weights stay float32)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, about a third more time."""
    batch_size: Annotated[int, Field(ge=1, le=64)] = 1
    """Clips per step (accumulated one by one, so clips of different sizes mix)."""
    min_clips: Annotated[int, Field(ge=1)] = 1
    """Refuse to train on fewer accepted clips than this."""
    character_weights: dict[str, Annotated[float, Field(gt=0.0)]] = {}
    """Sampling weight per character name (default 1 each): a priority character gets more steps."""
    source_kind_weights: dict[Literal["video", "image"], Annotated[float, Field(ge=0.0)]] = {"video": 1.0, "image": 1.0}
    """Sampling weight per source kind, multiplied with the character weight."""
    video_loss_weight: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    """Weight of the video flow-matching loss."""
    audio_loss_weight: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    """Audio is off by default; switch it on per stage in a staged recipe."""
    base_quantization: Literal["none", "int8", "fp8"] = "none"
    """Store the frozen transformer's base weights in 8 bits (optimum-quanto); LoRA stays float32.
    On a CPU ``fp8`` is emulated (correct, slow)."""
    distributed: Literal["ddp", "fsdp"] = "ddp"
    """Multi-process strategy under ``accelerate launch``/``torchrun``: ``ddp`` replicates the model,
    ``fsdp`` shards the base weights across processes (FSDP2)."""

    @field_validator("distributed")
    @classmethod
    def _fsdp_without_quantization(cls, value: str, info: Any) -> str:
        if value == "fsdp" and info.data.get("base_quantization", "none") != "none":
            raise ValueError("fsdp shards float weights; ltxbench does not combine it with train.base_quantization "
                             "(quanto's 8-bit tensors are not sharded by FSDP2): use one or the other")
        return value
    prior_preservation: PriorPreservationSection = PriorPreservationSection()
    """Keep prompts without the trigger rendering what the base renders (less leakage); off by default."""
    stages: list[TrainStageSection] = []
    """A staged recipe (e.g. head crops, full frames, video, video with audio). Empty: one stage
    from the fields above."""
    reference: ReferenceSection | None = None
    """IC-LoRA: train on [noisy clip ; clean reference image of its character] (the "Face" recipe,
    params/face_ic_lora.yaml); the LoRA then needs a reference at inference. None: an ordinary
    text-to-video LoRA."""


class PromptSection(Strict):
    id: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
    """Prompt id (unique): names the sample videos and the rows of eval/metrics.csv."""
    text: Annotated[str, Field(min_length=1)]
    """Prompt text; ``{trigger}`` is replaced by the character's trigger word."""


def _default_prompts() -> list[PromptSection]:
    return [
        PromptSection(id="talking", text="{trigger} talking to the camera in a bright office, medium close-up"),
        PromptSection(id="walking", text="{trigger} walking along a city street at dusk, tracking shot"),
        PromptSection(id="outdoors", text="{trigger} smiling outdoors in a park, wind in the trees, wide shot"),
    ]


class StackedLoRASection(Strict):
    path: Path
    """A LoRA file (safetensors) loaded beside the character LoRA: a style LoRA, a helper LoRA."""
    strength: Annotated[float, Field(gt=0.0, le=2.0)] = 1.0
    """Its adapter weight (ComfyUI's ``strength_model``); helper LoRAs are often used at 0.2-0.4."""


class OtherBaseSection(Strict):
    """One more base model ``evaluate.bases`` runs the same LoRA files through (see there)."""

    name: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
    """Its label in eval/bases.csv, eval/bases.png and samples/bases/<name>/ (not ``model``: that
    names the run's own ``model``)."""
    version: Literal["2.3", "2.0", "2.5"]
    """Its LTX-2 version, as ``model.version``."""

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, v: Any) -> Any:
        return f"{v:.1f}" if isinstance(v, float) else v
    source: Annotated[str, Field(min_length=1)] = "tiny"
    """Where its weights are, as ``model.source``."""
    checkpoint: Path | None = None
    """An official single-file checkpoint, as ``model.checkpoint``."""
    text_encoder: Path | None = None
    """A text encoder file or folder, as ``model.text_encoder``."""

    @field_validator("name")
    @classmethod
    def _not_the_run_model(cls, v: str) -> str:
        if v == OWN_BASE:
            raise ValueError(f"{OWN_BASE!r} names the run's own model section; choose another name")
        return v


OWN_BASE = "model"
"""The label of the run's own ``model`` in the cross-base comparison (eval/bases.csv)."""


class EvaluateSection(Strict):
    prompts: Annotated[list[PromptSection], Field(min_length=1)] = Field(default_factory=_default_prompts)
    """Fixed prompts, ``{id, text}``; ``{trigger}`` in a text is replaced by the character's trigger."""
    seeds: Annotated[list[Annotated[int, Field(ge=0, le=2**31 - 1)]], Field(min_length=1)] = [0, 1]
    """Fixed seeds; every prompt x seed runs through every checkpoint."""
    strengths: Annotated[list[Annotated[float, Field(gt=0.0, le=2.0)]], Field(min_length=1, max_length=8)] = [1.0]
    """LoRA strengths (the adapter weight, ComfyUI's ``strength_model``) to generate every
    checkpoint at, with the same prompts and seeds; the best pick names a checkpoint and a strength.
    Videos at a strength other than 1.0 go to ``samples/<checkpoint>@<strength>/``."""
    with_loras: Annotated[list[StackedLoRASection], Field(max_length=4)] = []
    """Other LoRA files (``path``, ``strength``) stacked beside the character LoRA for a second set
    of samples (``samples/<checkpoint>+stack/``, the base model with the stack alone in
    ``base+stack/``): every checkpoint and strength again, with the same prompts and seeds. Each
    file is checked by the LoRA checker before any video is generated (refused: an error);
    eval/stack.csv and the pick say how
    much identity the stack costs. The pick itself is made without the stack."""
    bases: Annotated[list[OtherBaseSection], Field(max_length=4)] = []
    """Other base models (``name``, ``version``, ``source``, ``checkpoint``, ``text_encoder``; dtype,
    device and sequence length are ``model``'s) to run every checkpoint through as well, with the
    same prompts, seeds and sampler, each beside its own output without LoRA: "does this 2.3 LoRA
    still work on 2.5?" answered with the curve. A LoRA made for another version is generated
    anyway, with the checker's warning (measuring that is the point); one that touches nothing in a
    base, or does not fit it, is skipped for that base before anything is generated. Videos go to
    ``samples/bases/<name>/``; ``eval/bases.csv``, ``eval/bases.json`` and ``eval/bases.png`` put the
    bases side by side. The pick (best_checkpoint.json) is made on ``model`` alone."""
    include_base: bool = True
    """Also generate with the base model without LoRA, for comparison."""
    width: Annotated[Side32, Field(ge=32, le=2048)] = 768
    """Video width in pixels."""
    height: Annotated[Side32, Field(ge=32, le=2048)] = 512
    """Video height in pixels."""
    num_frames: Annotated[Frames8k1, Field(ge=9, le=257)] = 121
    """Frames per video (8k+1)."""
    frame_rate: Annotated[float, Field(gt=0, le=60)] = 24.0
    """Frame rate of the generated videos."""
    num_inference_steps: Annotated[int, Field(ge=2, le=200)] = 40
    """Denoising steps; at least 2 (LTX-2's scheduler stretches its sigmas to a terminal value and
    divides by zero with a single step)."""
    guidance_scale: Annotated[float, Field(ge=0.0, le=30.0)] = 4.0
    """Classifier-free guidance (1.0 switches it off)."""
    stg_scale: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    """Spatio-temporal guidance strength (0 switches it off)."""
    stg_blocks: list[Annotated[int, Field(ge=0)]] = [28]
    """Transformer blocks perturbed for spatio-temporal guidance (LTX-2.3 recommends [28])."""
    modality_scale: Annotated[float, Field(ge=0.0, le=10.0)] = 3.0
    """Audio<->video modality guidance (1.0 switches it off)."""
    guidance_rescale: Annotated[float, Field(ge=0.0, le=1.0)] = 0.7
    """Guidance rescale, for video and audio."""
    audio_guidance_scale: Annotated[float, Field(ge=0.0, le=30.0)] = 7.0
    """Classifier-free guidance for the audio stream (LTX-2.3 suggests 7; 1.0 switches it off).
    STG, modality scale and rescale use the video values for audio too."""
    negative_prompt: str = "worst quality, inconsistent motion, blurry, jittery, distorted"
    """Negative prompt of the sampler."""
    face_frames: Annotated[int, Field(ge=1, le=256)] = 16
    """Frames sampled evenly from each generated video for identity scoring."""
    face_upsample: Annotated[int, Field(ge=0, le=2)] | None = None
    """dlib face detection scale for the generated videos (``FaceAnalyzer(upsample=...)``); null: per
    video, 0 (the frame as it is) when its shorter side is >= 512 px, else 1. Measured at 768x512
    (benchmarks/bench_eval_scoring.py): upsample 0 finds the same faces (from ~60 px tall; 1 finds 50 px) with the
    same identity values as 1 at ~0.56x the scoring time; smaller videos have faces below dlib's
    ~80 px HOG window and need 1."""
    workers: Annotated[int, Field(ge=0, le=64)] = 0
    """Processes that score videos (decode, faces, motion) in parallel; 0: auto, ``min(2, CPU cores)``;
    1: in the calling process. Results are the same for any value."""
    leakage: bool = True
    """Also generate every prompt with the trigger removed (``{trigger}`` -> ``neutral_subject``),
    through the base model and each checkpoint: a LoRA whose face appears without its trigger leaks."""
    neutral_subject: Annotated[str, Field(min_length=1, max_length=80)] = "a person"
    """What replaces ``{trigger}`` in the leakage prompts (and in the text CLIP scores against)."""
    videos_from: Path | None = None
    """Score a folder of videos made elsewhere (``<folder>/<checkpoint>/<prompt_id>_s<seed>.mp4``,
    ``base`` for the model without LoRA) instead of generating: no model is loaded."""
    reference_clips: list[Annotated[str, Field(min_length=1)]] = []
    """Ids of clips held out of training (rejected, e.g. by an override in the curation grid) whose
    faces extend the character's reference photos. An accepted clip is refused: train uses it."""
    reference_clip_frames: Annotated[int, Field(ge=1, le=64)] = 4
    """Frames sampled from each reference clip (and each training clip for the copy check)."""
    leakage_tolerance: Annotated[float, Field(ge=0.0, le=1.0)] = 0.05
    """Best-checkpoint rule: mean leakage identity similarity may exceed the base model's by at most this."""
    min_motion_ratio: Annotated[float, Field(ge=0.0, le=10.0)] = 0.8
    """Best-checkpoint rule: mean motion relative to the base model on the same prompt and seed must
    reach this (below: stiffer than base)."""
    clip_tolerance: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02
    """Best-checkpoint rule: mean CLIP score may fall below the base model's by at most this (when measured)."""
    clip_score: bool = True
    """Measure prompt adherence (``clip_score``, open_clip) when its weights are on this machine;
    without them the rest runs and one warning says what to download."""
    clip_model: Annotated[str, Field(min_length=1)] = "ViT-B-32"
    """open_clip architecture for ``clip_score``."""
    clip_pretrained: Annotated[str, Field(min_length=1)] = "laion2b_s34b_b79k"
    """open_clip weights: a tag looked up in the local Hugging Face cache, or a weights file path
    (never downloaded during evaluation)."""
    arcface_model: Path | None = None
    """ArcFace recognition weights (``.onnx``, e.g. insightface's ``w600k_r50.onnx``) the user
    supplies; when set, every video also gets ``facesim_arc``, comparable to the published
    FaceSim-Arc protocol. None: not measured (no ArcFace weights ship with ltxbench)."""

    @field_validator("bases")
    @classmethod
    def _distinct_bases(cls, v: list[OtherBaseSection]) -> list[OtherBaseSection]:
        names = [b.name for b in v]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"base names must differ: {', '.join(repeated)} repeated")
        return v

    @model_validator(mode="after")
    def _bases_need_generation(self) -> "EvaluateSection":
        if self.bases and self.videos_from is not None:
            raise ValueError("evaluate.bases generates videos on other bases; evaluate.videos_from scores videos made "
                             "elsewhere and generates nothing: set one of them")
        return self

    @field_validator("arcface_model")
    @classmethod
    def _arcface_file(cls, v: Path | None) -> Path | None:
        # Checked before any model loads; weights are never downloaded.
        if v is not None and not v.is_file():
            raise ValueError("file not found (ArcFace weights are never downloaded: supply the .onnx file)")
        if v is not None and v.suffix.lower() != ".onnx":
            raise ValueError("must be an .onnx file")
        return v


class RunParams(Strict):
    """All parameters of a run. See params/README.md for every field."""

    run: RunSection = Field(default_factory=RunSection)
    """Run name and seed."""
    model: ModelSection = Field(default_factory=ModelSection)
    """The base model: version, where its weights are, dtype and device."""
    dataset: DatasetSection
    """The characters: names, triggers, reference photos, media and voices."""
    curate: CurateSection = Field(default_factory=CurateSection)
    """How raw media become scored, accepted or rejected clips."""
    caption: CaptionSection = Field(default_factory=CaptionSection)
    """How clips are captioned and linted."""
    train: TrainSection = Field(default_factory=TrainSection)
    """The LoRA and how it is trained."""
    evaluate: EvaluateSection = Field(default_factory=EvaluateSection)
    """The fixed prompts and seeds, the sampler, and the rules that pick the best checkpoint."""

    # -- derived views -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def sha256(self) -> str:
        return _sha256_of(self.to_dict())

    def stage_fingerprint(self, stage: str) -> str:
        """Hash of the sections ``stage`` and every earlier stage read (for safe resume)."""
        data = self.to_dict()
        upto = STAGES[: STAGES.index(stage) + 1]
        covered = {sec: data[sec] for st in upto for sec in STAGE_SECTIONS[st]}
        return _sha256_of(covered)

    def seeds(self) -> dict[str, Any]:
        return {"run": self.run.seed, "evaluate": list(self.evaluate.seeds)}


def _sha256_of(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()
