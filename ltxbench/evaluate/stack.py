"""What stacking other LoRAs beside the character LoRA costs (``evaluate.with_loras``).

Every checkpoint (and strength) is generated twice with the same prompts and seeds: alone
(``lora_step_000900``) and with the stack loaded beside it (``lora_step_000900+stack``). The two
videos of one prompt and seed differ only by the stack, so the comparison is paired: per metric,
the mean over pairs of (with stack − alone) and its 95% bootstrap interval
(:func:`ltxbench.evaluate.metrics.stats.bootstrap_ci`). A pair where either video has no value (no face
found) is left out, and ``n`` says how many pairs were compared.

``eval/stack.csv`` holds one row per checkpoint and metric; ``best_checkpoint.json``'s ``stack``
entry says, for the pick (or the closest checkpoint when none is picked), how much identity the
stack costs, in one sentence a researcher can act on.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from ltxbench.evaluate.select import SAME_PERSON
from ltxbench.evaluate.sources import BASE, is_stacked, label_strength, split_label, stack_label, unstacked

STACK_FIELDS = ("checkpoint", "step", "strength", "metric", "n", "alone", "stacked", "change", "ci_low", "ci_high")
COMPARED = ("identity_similarity", "leakage_identity_similarity", "motion_ratio", "clip_score", "voice_similarity")
"""The metrics compared with and without the stack (the ones the pick's rules read)."""


def stack_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per checkpoint label with stacked videos and per metric of :data:`COMPARED`: the paired
    comparison (module docstring), base first, then by step and strength."""
    from ltxbench.evaluate.metrics.stats import bootstrap_ci

    values: dict[tuple[str, str], dict[tuple[str, int], float]] = defaultdict(dict)
    steps: dict[str, int] = {}
    for r in rows:
        if r["metric"] in COMPARED:
            values[(r["checkpoint"], r["metric"])][(r["prompt_id"], int(r["seed"]))] = float(r["value"])
            steps[unstacked(r["checkpoint"])] = int(r["step"])
    out = []
    labels = sorted({unstacked(c) for c, _ in values if is_stacked(c)},
                    key=lambda c: (steps.get(c, 0), c != BASE, split_label(c)[1], c))
    for label in labels:
        for metric in COMPARED:
            alone, stacked = values.get((label, metric), {}), values.get((stack_label(label), metric), {})
            pairs = sorted(set(alone) & set(stacked))
            if not pairs:
                continue
            change, lo, hi = bootstrap_ci([stacked[k] - alone[k] for k in pairs])
            out.append({"checkpoint": label, "step": steps.get(label, 0),
                        "strength": label_strength(label),
                        "metric": metric, "n": len(pairs),
                        "alone": round(sum(alone[k] for k in pairs) / len(pairs), 6),
                        "stacked": round(sum(stacked[k] for k in pairs) / len(pairs), 6),
                        "change": round(change, 6), "ci_low": round(lo, 6), "ci_high": round(hi, 6)})
    return out


def stack_verdict(table: list[dict[str, Any]], best: dict[str, Any], loras: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``stack`` entry of ``best_checkpoint.json``: the stacked files, the label compared (the
    pick's, else the closest checkpoint's, else the last one with stacked videos), identity alone and
    with the stack, the change with its interval, and ``reason``. When no face was found in both
    videos of any pair the cost is not known, and the entry says so instead of inventing one."""
    label = best.get("label") or (best.get("closest") or {}).get("label")
    ident = {r["checkpoint"]: r for r in table if r["metric"] == "identity_similarity"}
    if label not in ident:
        label = next((c for c in reversed(list(ident)) if c != BASE), None)
    out: dict[str, Any] = {"loras": loras, "label": label}
    if label is None:
        return {**out, "identity_alone": None, "identity_stacked": None, "change": None,
                "reason": "not known: no prompt and seed has a face both alone and with the stack, so the stack's "
                          "cost in identity was not measured"}
    r = ident[label]
    files = ", ".join(f"{Path(item['path']).name} at {item['strength']:g}" for item in loras) or "the stacked LoRAs"
    cost = -r["change"]
    if r["ci_low"] <= 0 <= r["ci_high"]:
        verdict = "no change the videos can show (the interval includes 0)"
    elif cost > 0:
        share = f", {cost / r['alone']:.0%} of it" if r["alone"] > 0 else ""
        verdict = f"the stack costs {cost:.3f} identity{share}"
    else:
        verdict = f"the stack raises identity by {-cost:.3f}"
    if r["alone"] >= SAME_PERSON > r["stacked"]:
        verdict += (f", and with it the faces fall below dlib's same-person line {SAME_PERSON}: beside this stack the "
                    f"LoRA no longer renders the character (a lower stack strength, or the character LoRA higher)")
    reason = (f"{label} with {files}: identity {r['stacked']:.3f} against {r['alone']:.3f} alone (change "
              f"{r['change']:+.3f}, 95% CI {r['ci_low']:+.3f}..{r['ci_high']:+.3f}, n={r['n']} prompt × seed pairs): {verdict}")
    motion = next((x for x in table if x["checkpoint"] == label and x["metric"] == "motion_ratio"), None)
    if motion is not None:
        reason += f"; motion ratio {motion['stacked']:.2f} against {motion['alone']:.2f} alone"
    return {**out, "identity_alone": r["alone"], "identity_stacked": r["stacked"], "change": r["change"],
            "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"], "reason": reason}
