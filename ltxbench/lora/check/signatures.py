"""Which LTX-2 version a LoRA was trained on, with the evidence and how sure that is.

Evidence, strongest first:

* **metadata**: ltxbench provenance (``base_model_version``), written at training time;
* **modules**: a target that exists in only some versions (2.3's gated attention
  ``to_gate_logits`` and ``prompt_adaln``; 2.0's ``caption_projection`` and ``text_proj_in``;
  connector blocks 2-7, which 2.0's two-layer connectors lack);
* **shapes**: a target present in every version with different shapes: ``time_embed.linear``
  (9 modulation parameters from 2.3 on, 6 in 2.0; checked as an out/in ratio so that it also
  holds for reduced-width models), connector widths (3840 in 2.0, 4096 / 2048 from 2.3 on);
* **hints**: third-party metadata (kohya ``ss_base_model_version``, ``modelspec.architecture``)
  naming a version explicitly.

Attention and feed-forward layers have the same names and shapes in every version, so a LoRA
that targets only them is reported as *not provable from keys* — never guessed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping

from ltxbench.lora.check import names
from ltxbench.lora.check.formats import Pair
from ltxbench.model import versions as model_versions
from ltxbench.model.architecture import KNOWN_VERSIONS, UNKNOWN_SHAPES, version_table

# Modules whose out/in ratio is the number of modulation parameters (6 in 2.0, 9 from 2.3).
_RATIO_MODULES = frozenset({"time_embed.linear", "audio_time_embed.linear"})
_HINT_KEYS = ("ss_base_model_version", "modelspec.architecture", "base_model", "base_model_version", "ss_sd_model_name",
              "model_version")


@dataclass
class VersionFinding:
    version: str | None
    """The verdict when it is a single version (None: not provable, conflicting or several)."""
    candidates: tuple[str, ...]
    """Versions the keys allow (all known versions when they do not discriminate)."""
    confidence: str
    """``certain`` (metadata and keys agree), ``strong`` (keys), ``declared`` (ltxbench metadata,
    keys do not discriminate), ``hint`` (third-party metadata only), ``conflict`` or ``none``."""
    evidence: list[str] = field(default_factory=list)
    declared: str | None = None
    hint: str | None = None
    keys_provable: bool = False
    key_conflict: bool = False
    fits: tuple[str, ...] = ()
    """Versions whose full-size architecture holds every pair with the same shape."""

    @property
    def allowed(self) -> tuple[str, ...] | None:
        """Versions the LoRA may be used with, or None when the evidence does not restrict them."""
        if self.confidence == "certain":
            return (self.declared,) if self.declared else self.candidates
        if self.confidence == "strong" or (self.confidence == "conflict" and self.keys_provable):
            return self.candidates
        if self.confidence == "declared":
            return (self.declared,) if self.declared else None
        if self.key_conflict:
            return ()
        return None

    def describe(self) -> str:
        if self.key_conflict:
            return "conflicting: the keys mix modules of different LTX-2 versions"
        if self.version:
            return f"LTX-{self.version} ({self.confidence})"
        if self.keys_provable:
            return " or ".join(f"LTX-{v}" for v in self.candidates) + f" ({self.confidence})"
        return "version not provable from keys"


def _tabulated(version: str, target: names.Target) -> bool:
    return target not in UNKNOWN_SHAPES.get(version, ())


def _ratio(shape: tuple[int, ...]) -> float:
    return shape[0] / shape[1]


def _allowed_by(pair: Pair) -> tuple[set[str], str]:
    """Versions compatible with one pair, and the kind of evidence (``shape``/``module``/``ratio``)."""
    target = pair.target
    present = {v for v in KNOWN_VERSIONS if target in version_table(v) or not _tabulated(v, target)}
    same_shape = {v for v in present if not _tabulated(v, target) or version_table(v)[target] == pair.shape}
    if same_shape and any(_tabulated(v, target) for v in same_shape):
        # a full-size LoRA: exact shapes decide; say "module" when presence alone already does
        return same_shape, "module" if same_shape == present else "shape"
    if target[0] == names.TRANSFORMER and target[1] in _RATIO_MODULES:
        ratio = pair.shape[0] / pair.shape[1]
        by_ratio = {v for v in present if _ratio(version_table(v)[target]) == ratio}
        return by_ratio, "ratio"
    return present, "module"


def _metadata_hint(metadata: Mapping[str, str]) -> str | None:
    for key in _HINT_KEYS:
        value = metadata.get(key, "").lower()
        if "ltx" not in value:
            continue
        if re.search(r"2[._]3|22b", value):
            return "2.3"
        if re.search(r"2[._]5", value):
            return "2.5"
        if re.search(r"2[._]0|19b", value):
            return "2.0"
    return None


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + " x ".join(str(d) for d in shape) + "]"


def infer_version(pairs: Mapping[names.Target, Pair], metadata: Mapping[str, str]) -> VersionFinding:
    everything = set(KNOWN_VERSIONS)
    groups: dict[tuple[str, str, frozenset[str]], list[Pair]] = defaultdict(list)
    candidates = set(everything)
    nowhere = 0
    audio = False
    for pair in pairs.values():
        allowed, kind = _allowed_by(pair)
        audio = audio or names.group_of(pair.target) in ("audio", "audio_video")
        if not allowed:
            nowhere += 1
            continue
        candidates &= allowed
        key = (names.display((pair.target[0], names.pattern(pair.target[1]))), kind, frozenset(allowed))
        groups[key].append(pair)
    evidence: list[str] = []
    common = 0
    for (module, kind, fits_in), members in sorted(groups.items()):
        if fits_in == everything:
            common += len(members)
            continue
        versions = ", ".join(sorted(fits_in)) or "none"
        count = f" (x{len(members)})" if len(members) > 1 else ""
        if kind == "shape":
            others = {v: version_table(v).get(members[0].target) for v in sorted(everything - fits_in)}
            other = "; ".join(f"{v}: {_shape_text(s) if s else 'absent'}" for v, s in others.items())
            evidence.append(f"shape: {module}{count} {_shape_text(members[0].shape)} matches only {versions} ({other})")
        elif kind == "ratio":
            r = members[0].shape[0] / members[0].shape[1]
            evidence.append(f"shape: {module}{count} out/in = {r:g} modulation parameters, as in {versions} only")
        else:
            evidence.append(f"module: {module}{count} exists only in {versions}")
    if common:
        evidence.append(f"{common} targets exist identically in every known version ({', '.join(KNOWN_VERSIONS)}): "
                        "not discriminating")
    if nowhere:
        evidence.append(f"{nowhere} targets exist in no known LTX-2 version (see coverage)")
    if audio:
        evidence.append("audio targets present: an LTX-2 audio-video LoRA (not LTX-Video 0.9)")

    fits = tuple(v for v in KNOWN_VERSIONS if pairs and all(
        not _tabulated(v, p.target) or version_table(v).get(p.target) == p.shape for p in pairs.values()))
    key_conflict = bool(groups) and not candidates
    provable = not key_conflict and candidates != everything and bool(groups)
    declared = metadata.get("base_model_version")
    declared = declared if declared in model_versions.VERSIONS else None
    hint = _metadata_hint(metadata)
    if declared:
        evidence.insert(0, f"metadata: base_model_version={declared} (ltxbench provenance)")
    elif hint:
        evidence.insert(0, f"hint: third-party metadata names LTX-{hint}")

    finding = VersionFinding(None, tuple(sorted(candidates)), "none", evidence, declared, hint, provable, key_conflict, fits)
    if key_conflict:
        finding.confidence = "conflict"
    elif declared and provable:
        finding.confidence = "certain" if declared in candidates else "conflict"
        finding.version = declared if declared in candidates else None
        if declared not in candidates:
            evidence.append(f"conflict: metadata says {declared}, the keys only fit {', '.join(sorted(candidates))}")
    elif provable:
        finding.confidence = "strong"
    elif declared:
        finding.confidence, finding.version = "declared", declared
    elif hint:
        finding.confidence, finding.version = "hint", hint
    if finding.version is None and provable and len(candidates) == 1 and finding.confidence != "conflict":
        finding.version = next(iter(candidates))
    return finding
