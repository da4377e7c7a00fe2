"""Counting what a device would do over a test: the outcomes of dstorch.rejection per clip,
summed (right, wrong, rejected on commands; false accepts on negatives, per clip and per
hour of negative audio), which command was taken for which, the pairs of commands a
listener could confuse, and the gate's trade-off curve.

The bench (`make bench-generalisation`, official client) and the test report (our
client-parity decoder) both count here, so their figures mean the same.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from dstorch.rejection import (
    FALSE_ACCEPT,
    RIGHT,
    SECONDS_PER_HOUR,
    Candidate,
    Gate,
    Tally,
    normalise,
    outcome,
)
from dstorch.training.evaluate import edit_distance
from dstorch.training.report_schema import ActingReport, ClipCandidates

NO_GATE, GATED = "off", "on"  # acting on the top candidate as it is, or through the gate
PAIR_CHARS = 2  # commands this many letters apart (or one word) are a confusable pair
SILENCE, NEAR_MISS, SPEECH = "silence or noise", "near miss", "other speech"
NEGATIVE_KINDS = (NEAR_MISS, SPEECH, SILENCE)
MAX_CURVE_POINTS = 200  # the trade-off curve in report.json stays small on a big test set


@dataclass(frozen=True)
class Judged:
    """One clip and the device's answer: `expected` the command said (None: a negative,
    `said` its transcript), `answer` the text acted on (None: the gate rejected it)."""

    expected: str | None
    answer: str | None
    seconds: float
    said: str = ""


def candidates_of(clip: ClipCandidates) -> list[Candidate]:
    """A reported clip's candidates, best first (a score that was not finite: -inf)."""
    return [Candidate(t, -math.inf if s is None else s) for t, s in clip.candidates]


def report_gate(report: ActingReport) -> Gate | None:
    """The gate recorded in an acting report, or None."""
    if not report.gate:
        return None
    g = report.gate
    return Gate(g["measure"], g["threshold"], g["num_results"], tuple(g["commands"]))


def judge_clips(clips: Sequence[ClipCandidates], gate: Gate | None = None) -> list[Judged]:
    """What a device does with each reported clip: act on the top candidate, or on what
    `gate` lets through."""
    out = []
    for clip in clips:
        candidates = candidates_of(clip)
        if gate is not None:
            answer = gate.command(candidates, clip.seconds)
        else:
            answer = candidates[0].text if candidates else ""
        expected = None if clip.negative else clip.reference
        out.append(Judged(expected, answer, clip.seconds, said=clip.reference))
    return out


def negative_kind(said: str, commands: Collection[str]) -> str:
    """SILENCE (nothing said), NEAR_MISS (one word from a command) or SPEECH."""
    words = normalise(said).split()
    if not words:
        return SILENCE
    near = any(edit_distance(words, c.split()) <= 1 for c in commands)
    return NEAR_MISS if near else SPEECH


def tally(judged: Iterable[Judged], commands: Collection[str]) -> Tally:
    """Sum the outcomes of `judged` clips against the command sentences."""
    known = {normalise(c) for c in commands}
    out = Tally()
    for clip in judged:
        kind = negative_kind(clip.said, known) if clip.expected is None else ""
        out.add(clip.answer, clip.expected, known, kind=kind, seconds=clip.seconds)
    return out


def to_json(tally: Tally) -> dict:
    """report.json's and the bench's figures of a Tally."""
    return {
        "commands": tally.positives,
        "right": tally.right,
        "wrong": tally.wrong,
        "rejected": tally.rejected,
        "right_share": tally.share(tally.right),
        "wrong_share": tally.share(tally.wrong),
        "rejected_share": tally.share(tally.rejected),
        "negatives": tally.negatives,
        "negative_hours": tally.negative_seconds / SECONDS_PER_HOUR,
        "false_accepts": tally.false_accepts,
        "false_accept_share": tally.false_accept_share,
        "false_accepts_per_hour": tally.false_accepts_per_hour,
        "by_kind": {k: {"false_accepts": v[0], "clips": v[1]} for k, v in tally.by_kind.items()},
        "confusion": [
            {"said": said, "taken": taken, "clips": n}
            for (said, taken), n in sorted(tally.confusion.items(), key=lambda x: -x[1])
        ],
    }


def confusable_pairs(commands: Collection[str], chars: int = PAIR_CHARS) -> list[tuple[str, str]]:
    """Pairs of commands one word apart (a word changed, added or dropped: "mirror" / "ok
    mirror") or within `chars` letters, sorted."""
    ordered = sorted({normalise(c) for c in commands})
    return [
        (a, b)
        for i, a in enumerate(ordered)
        for b in ordered[i + 1 :]
        if edit_distance(a.split(), b.split()) <= 1 or edit_distance(a, b) <= chars
    ]


def pair_rows(pairs: Sequence[tuple[str, str]], judged: Iterable[Judged]) -> list[dict]:
    """Per pair (a, b): a's clips, how many were taken for b, and the same the other way."""
    clips: Counter = Counter()
    taken: Counter = Counter()
    for clip in judged:
        if clip.expected is not None:
            said = normalise(clip.expected)
            clips[said] += 1
            taken[(said, normalise(clip.answer or ""))] += 1
    return [
        {
            "a": a,
            "b": b,
            "a_clips": clips[a],
            "a_as_b": taken[(a, b)],
            "b_clips": clips[b],
            "b_as_a": taken[(b, a)],
        }
        for a, b in pairs
    ]


@dataclass(frozen=True)
class Scored:
    """One clip for the trade-off curve: its top candidate's gate score, and whether
    acting on that candidate is right (a command said), a false accept (a negative) or
    neither (no command, or the wrong one)."""

    score: float
    right: bool
    false_accept: bool
    negative: bool


def scored(
    expected: str | None, candidates: Sequence[Candidate], seconds: float, gate: Gate
) -> Scored:
    """Score a clip's candidates (best first) with the gate's measure."""
    top = normalise(candidates[0].text) if candidates else None
    result = outcome(top, expected, gate.commands)
    return Scored(
        gate.score(candidates, seconds), result == RIGHT, result == FALSE_ACCEPT, expected is None
    )


def point_at(clips: Sequence[Scored], threshold: float) -> dict:
    """The shares a gate at `threshold` leaves: command clips answered right, negatives
    accepted (None: no clips of that kind)."""
    positives = sum(not c.negative for c in clips)
    negatives = sum(c.negative for c in clips)
    kept = [c for c in clips if (c.right or c.false_accept) and c.score >= threshold]
    right, accepted = sum(c.right for c in kept), sum(c.false_accept for c in kept)
    return {
        "threshold": threshold if math.isfinite(threshold) else None,
        "right_share": right / positives if positives else None,
        "false_accept_share": accepted / negatives if negatives else None,
    }


def tradeoff(clips: Sequence[Scored]) -> list[dict]:
    """As the gate's threshold rises through the scores: the share of command clips still
    answered right, and of negatives still accepted. The first point (threshold None) is
    no gate at all: everything the scorer says is acted on. A clip scoring +inf (a margin
    with no other candidate) passes every threshold."""
    acted = [c for c in clips if c.right or c.false_accept]
    thresholds = sorted({c.score for c in acted if math.isfinite(c.score)})
    if len(thresholds) > MAX_CURVE_POINTS:  # evenly spaced ranks keep the curve's shape
        step = len(thresholds) / MAX_CURVE_POINTS
        thresholds = [thresholds[int(i * step)] for i in range(MAX_CURVE_POINTS)]
    points: list[dict] = []
    for threshold in [-math.inf, *thresholds]:
        point = point_at(clips, threshold)
        figures = ("right_share", "false_accept_share")
        if not points or any(points[-1][k] != point[k] for k in figures):
            points.append(point)  # a threshold that changes nothing is no point on the curve
    return points
