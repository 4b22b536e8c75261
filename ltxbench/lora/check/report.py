"""The result of a LoRA check: facts per section, the verdict, and two renderings.

Verdicts (``CheckReport.verdict``) and exit codes:

* ``compatible`` (exit 0): sound file, every key maps to a module of the base with the same
  shape, the version evidence does not contradict the base, the LoRA changes something;
* ``refused`` / ``corrupt`` (exit 1): not safetensors, truncated, inconsistent header, NaN/inf;
* ``incompatible`` (exit 1): unmappable keys, modules missing from the base, shape mismatches,
  or a version other than the base's;
* ``inert`` (exit 1): every module's ΔW is (numerically) zero.

``reasons`` say why a verdict is not ``compatible``; ``warnings`` never change the exit code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ltxbench.lora.check import names
from ltxbench.lora.check.effect import ModuleEffect, scale_text, summarize
from ltxbench.lora.check.signatures import VersionFinding
from ltxbench.lora.check.traps import LoaderOutcome

FAILING = ("refused", "corrupt", "incompatible", "inert")


@dataclass
class CheckReport:
    path: str
    base_label: str | None = None
    base_kind: str | None = None
    base_version: str | None = None
    base_evidence: list[str] = field(default_factory=list)
    verdict: str = "compatible"
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    integrity: dict[str, Any] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)
    styles: dict[str, int] = field(default_factory=dict)
    unmapped: dict[str, str] = field(default_factory=dict)
    loader: LoaderOutcome | None = None
    version: VersionFinding | None = None
    coverage: dict[str, Any] = field(default_factory=dict)
    effects: list[ModuleEffect] = field(default_factory=list)
    version_reasons: list[str] = field(default_factory=list)
    """The reasons that are about the version alone (made for another LTX-2 version; everything
    else fits): a cross-version evaluation measures exactly these, so it may go on with a warning."""

    @property
    def ok(self) -> bool:
        return self.verdict == "compatible"

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def fail(self, verdict: str, reason: str, *, version_only: bool = False) -> None:
        """Record a reason; the verdict keeps the most serious kind seen (order of FAILING).
        ``version_only``: the reason is that the LoRA was made for another version (see ``version_reasons``)."""
        self.reasons.append(reason)
        if version_only:
            self.version_reasons.append(reason)
        if self.verdict == "compatible" or FAILING.index(verdict) < FAILING.index(self.verdict):
            self.verdict = verdict

    # -- machine-readable ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        version: dict[str, Any] | None = None
        if self.version:
            version = {**asdict(self.version), "verdict": self.version.describe(), "allowed": self.version.allowed}
        return {
            "file": self.path,
            "ok": self.ok,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "base": {"label": self.base_label, "kind": self.base_kind, "version": self.base_version,
                     "evidence": list(self.base_evidence)},
            "integrity": dict(self.integrity),
            "format": {"keys": sum(self.formats.values()), "formats": dict(self.formats), "suffixes": dict(self.styles)},
            "unmapped": dict(self.unmapped),
            "diffusers_as_is": asdict(self.loader) if self.loader else None,
            "version": version,
            "coverage": dict(self.coverage),
            "effect": {
                "groups": summarize(self.effects),
                "modules": [{
                    "module": names.display(e.target), "group": e.group, "rank": e.rank, "alpha": e.alpha,
                    "scale": e.scale, "scale_source": e.scale_source, "delta_norm": e.delta_norm,
                    "base_norm": e.base_norm, "relative": e.relative, "relative_estimated": e.estimated,
                    "inert": e.inert, "outsized": e.outsized,
                } for e in self.effects],
            },
        }

    # -- human-readable ----------------------------------------------------------------

    def __str__(self) -> str:
        lines = [f"LoRA      {self.path}"]
        if self.base_label:
            lines.append(f"base      {self.base_label} [{self.base_kind}; version {self.base_version or 'unknown'}]")
        else:
            lines.append("base      none given: checked against every known full-size LTX-2 architecture")
        lines.append(f"verdict   {self.verdict.upper()} (exit {self.exit_code})")
        lines += _section("integrity", _integrity_lines(self))
        if self.formats:
            lines += _section("format", self._format_lines())
        if self.version:
            lines += _section("version", self._version_lines())
        if self.coverage:
            lines += _section("coverage", self._coverage_lines())
        if self.effects:
            lines += _section("effect", self._effect_lines())
        lines += _section("reasons", [f"- {r}" for r in self.reasons] or ["(none)"])
        if self.warnings:
            lines += _section("warnings", [f"- {w}" for w in self.warnings])
        return "\n".join(lines)

    def _format_lines(self) -> list[str]:
        fmts = ", ".join(f"{k}: {v}" for k, v in sorted(self.formats.items(), key=lambda kv: -kv[1]))
        styles = ", ".join(f"{k}: {v}" for k, v in sorted(self.styles.items(), key=lambda kv: -kv[1]))
        out = [f"{sum(self.formats.values())} keys by format: {fmts}", f"by suffix: {styles}"]
        if self.loader:
            out.append(f"diffusers 0.42.1 as is: {self.loader.summary()}")
        carried = self.coverage.get("matched", len(self.effects))
        out.append(f"convert_for_diffusers: {carried} modules carried over, {len(self.unmapped)} keys unmapped"
                   + (" (plus the modules that do not fit the base, see coverage)" if carried < len(self.effects) else ""))
        for key, why in list(self.unmapped.items())[:8]:
            out.append(f"  unmapped {key}: {why}")
        if len(self.unmapped) > 8:
            out.append(f"  ... {len(self.unmapped) - 8} more (--json lists all)")
        return out

    def _version_lines(self) -> list[str]:
        v = self.version
        assert v is not None
        out = [f"LoRA: {v.describe()}"]
        out += [f"  - {e}" for e in v.evidence]
        if self.base_label:
            out.append(f"base: LTX-{self.base_version or '?'} ({'; '.join(self.base_evidence)})")
        elif v.fits:
            out.append(f"shapes fit the full-size architecture of: {', '.join(v.fits)}")
        return out

    def _coverage_lines(self) -> list[str]:
        c = self.coverage
        out = [f"{c['matched']}/{c['pairs']} adapted modules exist in {c['against']} with the same shape"]
        for item in c.get("missing", [])[:6]:
            out.append(f"  missing  {item}")
        for item in c.get("shape_mismatches", [])[:6]:
            out.append(f"  shape    {item['module']}: LoRA {item['lora']} vs base {item['base']}")
        hidden = len(c.get("missing", [])) + len(c.get("shape_mismatches", [])) - 12
        if hidden > 0:
            out.append(f"  ... {hidden} more (--json lists all)")
        return out

    def _effect_lines(self) -> list[str]:
        estimated = any(e.estimated for e in self.effects)
        basis = ("relative to sqrt(out_features): an estimate, no base weights" if estimated
                 else "relative to the base weight")
        out = [f"strength: {scale_text(self.effects)}", f"ΔW = scale * B @ A, Frobenius norm; {basis}",
               f"{'group':<16}{'modules':>8}{'rank':>8}{'alpha':>9}{'|ΔW| med':>11}{'max':>9}{'rel med':>10}{'max':>9}"]
        for group, s in summarize(self.effects).items():
            alphas = ",".join(f"{a:g}" for a in s["alphas"]) or "-"
            ranks = ",".join(str(r) for r in s["ranks"])
            out.append(f"{names.GROUP_TITLES[group]:<16}{s['modules']:>8}{ranks:>8}{alphas:>9}"
                       f"{s['delta_norm_median']:>11.3g}{s['delta_norm_max']:>9.3g}"
                       f"{s['relative_median']:>10.3g}{s['relative_max']:>9.3g}")
        flagged = [e for e in self.effects if e.inert or e.outsized]
        if len(flagged) == len(self.effects) and len(flagged) > 6:  # the summary row already says it
            kinds = sorted({"inert" if e.inert else "outsized" for e in flagged})
            out.append(f"  all {len(flagged)} modules flagged {' / '.join(kinds)} (--json lists them)")
            flagged = []
        for e in flagged[:6]:
            flag = "inert" if e.inert else "outsized"
            out.append(f"  {flag:<9}{names.display(e.target)} (|ΔW| {e.delta_norm:.3g}, rel {e.relative:.3g})")
        if len(flagged) > 6:
            out.append(f"  ... {len(flagged) - 6} more flagged modules (--json lists all)")
        return out


def _integrity_lines(report: CheckReport) -> list[str]:
    i = report.integrity
    if not i:
        return []
    if i.get("status") == "ok":
        return [f"ok: {i['tensors']} tensors, {i['bytes']} bytes; header offsets tile the file exactly; all values finite"]
    return [f"{i.get('status')}:"] + [f"  {p}" for p in i.get("problems", [])]


def _section(title: str, body: list[str]) -> list[str]:
    if not body:
        return []
    return [f"{title:<10}{body[0]}"] + [f"{'':<10}{line}" for line in body[1:]]
