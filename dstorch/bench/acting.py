"""What a device would do with the bench's clips: acting on the official client's answer
with the project scorer, without and with the confidence gate (`<MODEL_NAME>.gate.json`).

Exact transcripts (dstorch.bench.experiment) say how often a command is heard; a device
needs more: a wrong command is a wrong action, and any command heard in speech that was
no command (dstorch.bench.negatives) is a false accept. Each clip is decoded once, with
the gate's candidates (sttWithMetadata), and judged both ways: the top candidate as it is,
and what the gate lets through.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dstorch.augment.dsp import SAMPLE_RATE
from dstorch.inference.official import OfficialModel
from dstorch.inference.transcribe import read_audio
from dstorch.outcomes import GATED, NEGATIVE_KINDS, NO_GATE, Judged, tally
from dstorch.rejection import Candidate, Gate, Tally, gate_path, normalise

PROJECT = "project"  # key of the project scorer (the job's, LM_MODE) in the bench's files
CONFUSIONS_SHOWN = 3  # per row: the commands most often taken for another


@dataclass
class Acting:
    """One trained model, condition and gate setting: outcomes on the unseen voices'
    commands and the negatives (`unseen`), and on the seen voices' commands (`seen`)."""

    holdout: str
    variant: str
    condition: str
    scorer: str  # the project scorer's LM mode
    gate: str  # NO_GATE or GATED
    unseen: Tally
    seen: Tally
    seed: int = 0


def answers(
    model: OfficialModel, clips: list, commands: set[str], gate: Gate | None
) -> dict[str, list[Judged]]:
    """{NO_GATE: [...], GATED: [...] (with a gate)} for clips [(wav, transcript, speaker)];
    a clip whose transcript is no command is a negative."""
    wanted = gate.num_results if gate else 1
    out: dict[str, list[Judged]] = {NO_GATE: []} | ({GATED: []} if gate else {})
    for wav, text, _ in clips:
        pcm = read_audio(wav)
        seconds = len(pcm) / SAMPLE_RATE
        found = model.stt_with_metadata(pcm, wanted)
        candidates = [Candidate(t.text, t.confidence) for t in found]
        expected = normalise(text) if normalise(text) in commands else None
        top = normalise(candidates[0].text) if candidates else ""
        out[NO_GATE].append(Judged(expected, top, seconds, said=text))
        if gate:
            out[GATED].append(Judged(expected, gate.command(candidates, seconds), seconds, text))
    return out


def judge_acting(
    files: dict[str, Path | None], unseen: list, seen: list, negatives: list, commands: list[str]
) -> dict[str, tuple[Tally, Tally]]:
    """{gate setting: (unseen voices + negatives, seen voices)} through the official client
    with the project scorer; {} when it could not be built."""
    scorer = files.get(PROJECT)
    if scorer is None:
        return {}
    gate_file = gate_path(files["model"])
    gate = Gate.load(gate_file) if gate_file.is_file() else None
    known = {normalise(c) for c in commands}
    with OfficialModel(files["model"]) as model:
        model.enable_scorer(scorer)
        heard = answers(model, unseen + negatives, known, gate)
        seen_heard = answers(model, seen, known, gate)
    return {name: (tally(heard[name], known), tally(seen_heard[name], known)) for name in heard}


def _outcomes(t: Tally) -> str:
    if not t.positives:
        return "n/a"
    shares = (t.share(t.right), t.share(t.wrong), t.share(t.rejected))
    return " / ".join(f"{s:.0%}" for s in shares) + f" ({t.positives} clips)"


def _false_accepts(t: Tally) -> str:
    if not t.negatives:
        return "n/a"
    kinds = ", ".join(
        f"{kind} {t.by_kind[kind][0]}/{t.by_kind[kind][1]}"
        for kind in NEGATIVE_KINDS
        if kind in t.by_kind
    )
    return f"{t.false_accept_share:.0%} ({t.false_accepts} of {t.negatives}: {kinds})"


def _confusions(unseen: Tally, seen: Tally) -> str:
    pairs = (unseen.confusion + seen.confusion).most_common(CONFUSIONS_SHOWN)
    return "; ".join(f"{said} → {taken} ×{n}" for (said, taken), n in pairs) or "none"


def format_acting(rows: list[Acting], header: bool = True) -> str:
    """One row per model, condition and gate: right / wrong / rejected on unseen and seen
    voices' commands, false accepts on the negatives (share, per hour), worst confusions."""
    lines = []
    if header:
        lines += [
            "| held-out engine | training | condition | scorer | gate | unseen voices right "
            "/ wrong / rejected | seen voices right / wrong / rejected | false accepts "
            "| false accepts per hour | commands taken for others |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    for r in rows:
        per_hour = r.unseen.false_accepts_per_hour
        lines.append(
            f"| {r.holdout} | {r.variant} | {r.condition} | {r.scorer} | {r.gate} "
            f"| {_outcomes(r.unseen)} | {_outcomes(r.seen)} | {_false_accepts(r.unseen)} "
            f"| {'n/a' if per_hour is None else f'{per_hour:.0f}'} "
            f"| {_confusions(r.unseen, r.seen)} |"
        )
    return "\n".join(lines)


def _spread(values: list[float | None], fmt: str = "{:.0%}") -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "n/a"
    mean = fmt.format(float(np.mean(known)))
    return f"{mean} ({fmt.format(min(known))}-{fmt.format(max(known))})"


def format_acting_summary(rows: list[Acting]) -> str:
    """Per (held-out engine, training, condition, scorer, gate): the mean over the seeds,
    with the lowest and highest, of the unseen voices' right and wrong shares and the
    false accepts."""
    groups: dict[tuple, list[Acting]] = {}
    for r in rows:
        groups.setdefault((r.holdout, r.variant, r.condition, r.scorer, r.gate), []).append(r)
    lines = [
        "| held-out engine | training | condition | scorer | gate | unseen right, mean "
        "(lowest-highest) | unseen wrong | seen right | false accepts | false accepts per "
        "hour | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, group in groups.items():
        unseen = [g.unseen for g in group]
        lines.append(
            "| "
            + " | ".join(key)
            + f" | {_spread([t.share(t.right) for t in unseen])}"
            + f" | {_spread([t.share(t.wrong) for t in unseen])}"
            + f" | {_spread([g.seen.share(g.seen.right) for g in group])}"
            + f" | {_spread([t.false_accept_share for t in unseen])}"
            + f" | {_spread([t.false_accepts_per_hour for t in unseen], '{:.0f}')}"
            + f" | {len(group)} |"
        )
    return "\n".join(lines)
