"""``check_lora``: run every check on one LoRA file and decide; ``require_compatible`` for the stages.

Order: integrity (stops on a refused/corrupt file: nothing else can be trusted), key formats,
strength, version evidence, the diffusers-as-is prediction, coverage against the base, effect,
then the verdict (rules in :mod:`.report`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ltxbench.lora.check import names
from ltxbench.lora.check.convert import adapter_metadata_problem, base_problem, flat_lookup_for, pair_scales
from ltxbench.lora.check.effect import ModuleEffect, measure
from ltxbench.lora.check.formats import ParsedKeys, parse_keys
from ltxbench.lora.check.integrity import check_file
from ltxbench.lora.check.report import CheckReport
from ltxbench.lora.check.signatures import VersionFinding, infer_version
from ltxbench.lora.check.traps import predict
from ltxbench.model.architecture import KNOWN_VERSIONS, BaseModel, resolve_base

log = logging.getLogger("ltxbench")


class IncompatibleLoRAError(ValueError):
    """A LoRA does not fit the model it is about to be used with; ``.report`` has every fact."""

    def __init__(self, report: CheckReport, version: str) -> None:
        self.report = report
        reasons = "\n".join(f"  - {r}" for r in report.reasons)
        super().__init__(
            f"{report.path} is {report.verdict} for LTX-{version}:\n{reasons}\n"
            f"Run `ltxbench check-lora {report.path} --base {version}` for the full report; use a LoRA "
            f"trained on LTX-{version}, or a checkpoint from before the problem."
        )


def _coverage(report: CheckReport, parsed: ParsedKeys, base: BaseModel | None, finding: VersionFinding) -> None:
    pairs = list(parsed.pairs.values())
    if base is None:
        report.coverage = {"against": "the full-size architectures", "pairs": len(pairs), "fits": list(finding.fits),
                           "matched": len(pairs) if finding.fits else 0}
        if pairs and not finding.fits:
            report.fail("incompatible", "the adapted shapes fit no released LTX-2 architecture "
                        f"({', '.join(KNOWN_VERSIONS)}); pass --base PATH to check against a specific model")
        return
    missing, mismatched = [], []
    for pair in pairs:
        problem = base_problem(pair, base)
        if problem is None:
            continue
        shape = base.linears.get(pair.target)
        if shape is None:
            missing.append(names.display(pair.target))
        else:
            mismatched.append({"module": names.display(pair.target), "lora": list(pair.shape), "base": list(shape)})
    unchecked = [names.display(p.target) for p in pairs if p.target in base.unknown]
    report.coverage = {"against": base.label, "pairs": len(pairs),
                       "matched": len(pairs) - len(missing) - len(mismatched) - len(unchecked),
                       "missing": missing, "shape_mismatches": mismatched, "unchecked": unchecked}
    if unchecked:
        report.warnings.append(f"{len(unchecked)} adapted modules have no fixed shape in {base.label} and were not "
                               f"checked (e.g. {unchecked[0]})")
    if missing and len(missing) == len(pairs):
        report.fail("incompatible", f"it touches nothing in {base.label}: none of its {len(pairs)} adapted modules exists "
                    f"there (e.g. {missing[0]}); diffusers drops them with at most an 'unexpected keys' warning and "
                    "renders the base model unchanged")
    elif missing:
        report.fail("incompatible", f"{len(missing)} adapted modules do not exist in {base.label} (e.g. {missing[0]}); "
                    "diffusers drops them with at most an 'unexpected keys' warning")
    if mismatched:
        first = mismatched[0]
        report.fail("incompatible", f"{len(mismatched)} shape mismatches with {base.label} (e.g. {first['module']}: "
                    f"LoRA {first['lora']} vs base {first['base']}); diffusers raises 'size mismatch'")


def _version_verdict(report: CheckReport, finding: VersionFinding, base: BaseModel | None) -> None:
    allowed = finding.allowed
    # only the lines that decide (metadata, modules, shapes), not the non-discriminating summary
    why = "; ".join(e for e in finding.evidence if e.startswith(("metadata:", "module:", "shape:", "hint:")))
    if finding.key_conflict:
        report.fail("incompatible", f"the keys mix modules of different LTX-2 versions ({why})")
        return
    target = base.version if base is not None else None
    if target is not None and allowed is not None and target not in allowed:
        silent = ("; its targets have the same shapes in both, so it would load without any error and "
                  "degrade the output" if target in finding.fits or not finding.keys_provable else "")
        reason = (f"the LoRA is for {' or '.join('LTX-' + v for v in allowed)} "
                  f"({finding.confidence}: {why}), the base is LTX-{target}{silent}")
        if target == "2.5" and silent:
            reason += (". Lightricks says a LoRA only works with the model it was trained on, and reports of "
                       "older LoRAs on 2.5 disagree: evaluate it on both bases to know (evaluate.bases)")
        report.fail("incompatible", reason, version_only=True)
    elif base is None and allowed is not None and finding.fits and not set(allowed) & set(finding.fits):
        report.fail("incompatible", f"the LoRA declares LTX-{'/'.join(allowed)} but its shapes fit {', '.join(finding.fits)}")
    if finding.confidence == "conflict" and finding.keys_provable:
        report.warnings.append(f"metadata says LTX-{finding.declared} but the keys only fit "
                               f"{', '.join(finding.candidates)}; the keys were trusted")
    if finding.confidence == "hint" and target and finding.hint != target:
        report.warnings.append(f"third-party metadata names LTX-{finding.hint}, the base is LTX-{target}")
    if finding.confidence in ("none", "hint"):
        against = f"LTX-{target}" if target else "the model you load it into"
        report.warnings.append("version not provable from keys: the targeted modules exist identically in every "
                               f"LTX-2 version and the file carries no ltxbench provenance; make sure it was "
                               f"trained on {against}")


def _effect_verdict(report: CheckReport, effects: list[ModuleEffect], zero_b: bool) -> None:
    if not effects:
        return
    inert = [e for e in effects if e.inert]
    if len(inert) == len(effects):
        report.fail("inert", f"every adapted module's ΔW is ≈ 0 ({len(effects)} modules"
                    + ("; lora_B / up factors are all zeros: an untrained or step-0 checkpoint" if zero_b else "")
                    + "): the LoRA does nothing")
    elif inert:
        report.warnings.append(f"{len(inert)} of {len(effects)} modules are inert (ΔW ≈ 0), e.g. "
                               f"{names.display(inert[0].target)}")
    outsized = [e for e in effects if e.outsized]
    if outsized:
        worst = max(outsized, key=lambda e: e.relative)
        basis = "estimated " if worst.estimated else ""
        report.warnings.append(f"{len(outsized)} modules change their weight by >= 50% ({basis}relative |ΔW|, worst "
                               f"{worst.relative:.2f} at {names.display(worst.target)}): outsized; check alpha and "
                               "the training run")


def check_lora(path: str | Path, base: Any = None) -> CheckReport:
    """Check a LoRA file against ``base`` (a version ``"2.3"``, a path, a pipeline, or None).

    Raises FileNotFoundError when ``path`` is not a file and ValueError/TypeError for an unusable
    ``base`` (usage errors); every finding about the file itself goes into the report.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such LoRA file")
    base_model = resolve_base(base)
    report = CheckReport(str(path))
    if base_model is not None:
        report.base_label, report.base_kind = base_model.label, base_model.kind
        report.base_version, report.base_evidence = base_model.version, list(base_model.version_evidence)

    integrity, tensors = check_file(path)
    report.integrity = {"status": integrity.status, "bytes": integrity.size, "tensors": len(integrity.tensors),
                        "problems": list(integrity.problems), "nonfinite": dict(integrity.nonfinite),
                        "metadata": dict(integrity.metadata)}
    if integrity.status in ("refused", "truncated", "corrupt"):
        report.fail("refused" if integrity.status == "refused" else "corrupt", integrity.problems[0])
        return report
    if integrity.status == "nonfinite":
        report.fail("corrupt", integrity.problems[0])

    parsed = parse_keys(integrity.tensors, flat_lookup_for(base_model))
    report.formats, report.styles = dict(parsed.formats), dict(parsed.styles)
    scales = pair_scales(parsed, tensors, integrity.metadata)
    metadata_problem = adapter_metadata_problem(integrity.metadata)
    if metadata_problem:
        report.warnings.append(metadata_problem)
    finding = infer_version(parsed.pairs, integrity.metadata)
    report.version = finding
    report.loader = predict(list(integrity.tensors), parsed, scales, base_model)
    report.unmapped = dict(parsed.unmapped)
    if not parsed.pairs:
        report.fail("incompatible", f"no LoRA weights recognised among {len(integrity.tensors)} keys "
                    f"(formats: {', '.join(parsed.formats)})")
    if parsed.unmapped:
        key, why = next(iter(parsed.unmapped.items()))
        report.fail("incompatible", f"{len(parsed.unmapped)} keys cannot be mapped to a LoRA of an LTX-2 module "
                    f"(e.g. {key}: {why}); loading would lose them")
    _coverage(report, parsed, base_model, finding)
    _version_verdict(report, finding, base_model)
    report.effects = measure(parsed.pairs, tensors, scales, base_model)
    # tensors reads from the file on each access (integrity.LazyTensors): one B at a time, none kept
    zero_b = all(not bool(pair.factors(tensors)[1].any()) for pair in parsed.pairs.values())
    _effect_verdict(report, report.effects, zero_b)
    if report.loader is not None and report.loader.format_trap and parsed.pairs:
        report.warnings.append(f"diffusers 0.42.1 given this file as is {report.loader.summary()}; load "
                               "ltxbench.lora.check.convert.convert_for_diffusers(path) instead")
    log.info("check-lora %s: %s", path, report.verdict)
    return report


def require_compatible(path: str | Path, version: str, *, base: Any = None, allow_inert: bool = False,
                       cross_version: bool = False) -> CheckReport:
    """Check ``path`` against LTX-``version`` (or ``base``: a path or pipeline of that version) and
    raise :class:`IncompatibleLoRAError` listing the reasons unless it fits.

    For ``train`` (resuming from a checkpoint; pass ``allow_inert=True`` there only if a step-0
    checkpoint is a legitimate resume point) and ``evaluate`` (before scoring). Warnings are
    logged; the report is returned.

    ``cross_version=True`` (``evaluate.bases``: a LoRA measured on another version's base on
    purpose): when the only reasons are that the LoRA was made for another version, they become
    warnings and the report is returned (its verdict still says ``incompatible``). A LoRA that
    touches nothing in the base, does not fit its shapes, is corrupt or inert is refused as ever.
    """
    report = check_lora(path, base if base is not None else version)
    if base is not None and report.base_version not in (None, version):
        report.fail("incompatible", f"the base given is LTX-{report.base_version}, but LTX-{version} was asked for")
    measured_anyway = cross_version and bool(report.reasons) and set(report.reasons) <= set(report.version_reasons)
    if measured_anyway:
        report.warnings.extend(f"cross-version evaluation: {r}" for r in report.reasons)
    for warning in report.warnings:
        log.warning("%s: %s", path, warning)
    if report.ok or (allow_inert and report.verdict == "inert") or measured_anyway:  # inert is the least serious verdict
        return report
    raise IncompatibleLoRAError(report, version)
