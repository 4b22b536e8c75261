"""Checks of a params file that need more than its own fields: cross-field rules and what must exist on this machine
(reference photos with a face, model and captioner weights, stacked LoRA files).

The one params module that imports domain code, and only light modules of it (no torch).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel

from ltxbench.caption.lint import RULES
from ltxbench.errors import Problem
from ltxbench.params.schema import (
    CaptionSection,
    CurateSection,
    DatasetSection,
    EvaluateSection,
    ModelSection,
    TrainSection,
)


def reference_photo_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as a reference photo (it does not decode, or dlib finds no face in
    it), or None. Checked at validation so a bad reference is refused before a run folder exists,
    not in curate; cached per file version, since validation runs often (each notebook, each --set)."""
    try:
        stat = path.stat()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return _reference_photo_problem(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=256)
def _reference_photo_problem(path: str, size: int, mtime_ns: int) -> str | None:
    from ltxbench import faces
    from ltxbench.media import video

    try:
        faces.reference_embeddings([path])
    except video.MediaError as exc:
        return f"not a readable photo ({str(exc).split(': ', 1)[-1]})"
    except faces.NoFaceError:
        return "no face found in it: a reference must show the character's face (frontal-ish, at least ~80 px tall)"
    return None


def cross_field_problems(sections: dict[str, BaseModel], check_weights: bool = True) -> list[Problem]:
    """Rules that involve several fields, checked on every section whose own fields are valid
    (so a typo in one section does not hide a problem in another). ``check_weights=False`` leaves
    out whether the model's and the captioner's weights are on this machine (``ltxbench plan``)."""
    problems: list[Problem] = []
    e = sections.get("evaluate")
    if isinstance(e, EvaluateSection):
        ids = [pr.id for pr in e.prompts]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(Problem("evaluate.prompts", dup, "prompt ids must be unique"))
        if len(set(e.seeds)) != len(e.seeds):
            problems.append(Problem("evaluate.seeds", e.seeds, "seeds must be unique"))
        if len(set(e.strengths)) != len(e.strengths):
            problems.append(Problem("evaluate.strengths", e.strengths, "strengths must be unique"))
        stacked = [str(w.path) for w in e.with_loras]
        for i, w in enumerate(e.with_loras):
            if stacked.count(str(w.path)) > 1 and stacked.index(str(w.path)) == i:
                problems.append(Problem(f"evaluate.with_loras.{i}.path", str(w.path), "each stacked LoRA must be listed once"))
            if check_weights and not w.path.is_file():
                problems.append(Problem(f"evaluate.with_loras.{i}.path", str(w.path),
                                        "no such file (a LoRA .safetensors to stack beside the character LoRA)"))
        if e.with_loras and e.videos_from is not None:
            problems.append(Problem("evaluate.with_loras", stacked, "nothing is generated with evaluate.videos_from: put the "
                                    "stacked videos in <folder>/<checkpoint>+stack/ instead"))
    t = sections.get("train")
    if isinstance(t, TrainSection):
        total = sum(st.steps for st in t.stages) if t.stages else t.steps
        if t.checkpoint_every > total:
            problems.append(Problem("train.checkpoint_every", t.checkpoint_every, f"must be at most the total steps ({total})"))
        if t.warmup_steps >= t.steps and t.warmup_steps > 0:
            problems.append(Problem("train.warmup_steps", t.warmup_steps, f"must be below train.steps ({t.steps})"))
        names = [st.name for st in t.stages]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(Problem("train.stages", dup, "stage names must be unique"))
    cur_res = sections.get("curate")
    if isinstance(t, TrainSection) and t.reference is not None and isinstance(cur_res, CurateSection):
        # the reference is encoded at the clip's size / factor, which the VAE needs on its 32-px grid
        grid = 32 * t.reference.downscale_factor
        if cur_res.resolution % grid:
            problems.append(Problem("train.reference.downscale_factor", t.reference.downscale_factor,
                                    f"curate.resolution {cur_res.resolution} must be a multiple of {grid} (32 x the factor): "
                                    f"the reference is encoded at the clip's size / {t.reference.downscale_factor}"))
    d_chars = sections.get("dataset")
    if isinstance(t, TrainSection) and isinstance(d_chars, DatasetSection):
        known = {ch.name for ch in d_chars.characters}
        for name in t.character_weights:
            if name not in known:
                problems.append(Problem(f"train.character_weights.{name}", t.character_weights[name],
                                        f"no such character; characters: {', '.join(sorted(known))}"))
    d = sections.get("dataset")
    if isinstance(d, DatasetSection):
        names = [ch.name for ch in d.characters]
        triggers = [ch.trigger for ch in d.characters]
        for i, ch in enumerate(d.characters):
            if names.count(ch.name) > 1:
                problems.append(Problem(f"dataset.characters.{i}.name", ch.name, "character names must be unique"))
            if triggers.count(ch.trigger) > 1:
                problems.append(Problem(f"dataset.characters.{i}.trigger", ch.trigger, "triggers must be unique per character"))
        from ltxbench.caption.triggers import trigger_problems  # light: no torch

        problems.extend(trigger_problems(d.characters))
        for i, ch in enumerate(d.characters):
            for j, ref in enumerate(ch.references):
                reason = reference_photo_problem(ref)
                if reason:
                    problems.append(Problem(f"dataset.characters.{i}.references.{j}", str(ref), reason))
    cur = sections.get("curate")
    if isinstance(cur, CurateSection) and cur.voice_backend == "wavlm" and check_weights:
        if cur.voice_model is None or not (Path(cur.voice_model) / "config.json").is_file():
            problems.append(Problem("curate.voice_model", str(cur.voice_model),
                                    "voice_backend wavlm needs a WavLM x-vector model folder with config.json (never "
                                    "downloaded; e.g. `hf download microsoft/wavlm-base-plus-sv --local-dir DIR`)"))
    c = sections.get("caption")
    if isinstance(c, CaptionSection):
        unknown = sorted(set(c.lint.levels) - set(RULES))
        if unknown:
            problems.append(Problem("caption.lint.levels", c.lint.levels,
                                    f"unknown lint code(s) {', '.join(unknown)}; known: {', '.join(RULES)}"))
    if isinstance(c, CaptionSection) and check_weights:
        from ltxbench.caption.vlm import caption_problems  # a VLM backend's weights must exist before anything runs

        problems.extend(caption_problems(c))
    m = sections.get("model")
    if isinstance(m, ModelSection):
        problems.extend(_model_problems(m, check_weights))
        if isinstance(e, EvaluateSection):
            own = (m.version, m.source, m.checkpoint, m.text_encoder)
            for i, other in enumerate(e.bases):  # each other base is a model in its own right: checked as one
                if (other.version, other.source, other.checkpoint, other.text_encoder) == own:
                    problems.append(Problem(f"evaluate.bases.{i}", other.name, "is the run's own model (same version, "
                                            "source, checkpoint and text encoder), which is always evaluated: list other bases"))
                as_model = m.model_copy(update={k: getattr(other, k) for k in ("version", "source", "checkpoint", "text_encoder")})
                problems.extend(replace(p, field=p.field.replace("model.", f"evaluate.bases.{i}.", 1))
                                for p in _model_problems(as_model, check_weights))
    return problems


def _model_problems(m: ModelSection, check_weights: bool) -> list[Problem]:
    from ltxbench.model import locate, single_file, tiny, versions  # import no torch: keep validation light

    problems: list[Problem] = []
    # The connectors replace padding with learnable registers: the text length must divide by their count.
    registers = tiny.TINY_REGISTERS if locate.is_tiny(m.source) else versions.version_spec(m.version).connector_registers
    if m.max_sequence_length % registers:
        problems.append(Problem("model.max_sequence_length", m.max_sequence_length,
                                f"must be a multiple of {registers} (the text connectors' register count for this model)"))
    if m.source != "tiny" and check_weights:
        problems.extend(locate.source_problems(m.source, m.version))
    if m.checkpoint is not None and check_weights:
        problems.extend(single_file.checkpoint_problems(m.checkpoint, m.version))
    if m.text_encoder is not None and check_weights:
        from ltxbench.model import gemma_file

        problems.extend(gemma_file.text_encoder_problems(m.text_encoder))
    return problems
