"""The report's acting figures, from report.json's "acting" section: what a device does
with the test commands and the negatives (right, wrong, rejected; false accepts per clip
and per hour), with and without the gate; the gate's trade-off curve; and the confusable
pairs of commands with how often each was taken for the other.

Plain data (JSON-ready), computed by dstorch.outcomes so the bench and the page agree.
"""

from __future__ import annotations

import math

from dstorch.outcomes import (
    GATED,
    NO_GATE,
    candidates_of,
    confusable_pairs,
    judge_clips,
    pair_rows,
    point_at,
    report_gate,
    scored,
    tally,
    to_json,
    tradeoff,
)
from dstorch.rejection import PER_CHARACTER, Gate
from dstorch.report.page import pct
from dstorch.training.report_schema import EvaluationReport

CURVE_MEASURE = PER_CHARACTER  # without a gate file


def acting_analysis(report: EvaluationReport) -> dict | None:
    """Outcomes per gate setting, the trade-off curve and the confusable pairs; None
    when the test had no negatives (no "acting" section)."""
    acting = report.acting
    if acting is None:
        return None
    gate = report_gate(acting)
    settings = {NO_GATE: None} | ({GATED: gate} if gate else {})
    judged = {name: judge_clips(acting.clips, g) for name, g in settings.items()}
    pairs = confusable_pairs(acting.commands)
    return {
        "decoder": acting.decoder,
        "gate": acting.gate,
        "deployed": GATED if gate else NO_GATE,  # what the device acts on: through the gate
        "outcomes": {name: to_json(tally(j, acting.commands)) for name, j in judged.items()},
        "tradeoff": curve(report, gate),
        "pairs": {name: pair_rows(pairs, j) for name, j in judged.items()},
    }


def curve(report: EvaluationReport, gate: Gate | None) -> dict:
    """The trade-off as the threshold of the gate's measure (CURVE_MEASURE without a
    gate) moves; `threshold` and `gate_point` are the exported gate's, None without one."""
    acting = report.acting
    measure = gate or Gate(CURVE_MEASURE, -math.inf, 1, tuple(acting.commands))
    clips = [
        scored(None if c.negative else c.reference, candidates_of(c), c.seconds, measure)
        for c in acting.clips
    ]
    return {
        "measure": measure.measure,
        "threshold": gate.threshold if gate else None,
        "gate_point": point_at(clips, gate.threshold) if gate else None,
        "points": tradeoff(clips),
    }


def acting_summary(acting: dict) -> str:
    """One line for `make report`: what the device does, false accepts included."""
    t = acting["outcomes"][acting["deployed"]]
    shares = ", ".join(
        f"{name} {pct(t[f'{name}_share'])}" for name in ("right", "wrong", "rejected")
    )
    gate = "with the gate" if acting["deployed"] == GATED else "no gate"
    accepts = f"false accepts {pct(t['false_accept_share'])} of {t['negatives']} negatives"
    if t["false_accepts_per_hour"] is not None:
        accepts += f" ({t['false_accepts_per_hour']:.0f} per hour)"
    return f"acting ({gate}): {shares} of {t['commands']} commands; {accepts}"
