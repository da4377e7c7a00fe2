"""The scorer stage's rejection tuning and gate calibration, on dev positives (dev.csv)
and dev negatives (speech that is no command, DEV_NEGATIVES).

A device acts only on a transcript that is exactly a command (dstorch.rejection). With
garbage words (LM_GARBAGE beside the corpus) the command-strict scorer gains an
out-of-grammar path (dstorch.lm.arpa) whose escape cost is tuned here: first alpha/beta
for the scorer without the path, with all of LM_TUNE_TRIALS (tune.search on the decodes of
every dev clip), then each escape of ESCAPES at that alpha/beta (the scorer rebuilt per
escape; build_binary is fast on these small ARPAs).

Why in that order: the path seldom earns its place. On the confusable example it never
did (docs/acting-on-commands.md): the acoustic model spells a near-miss as the command,
and the garbage words' unscored partial spellings crowd the client's 500-prefix beam, so
commands fall out of it. Sharing the trials among the escapes left the scorer that wins
with a fifth of the alpha/beta search.

Objective: fewest wrong commands per positive + false accepts per negative, among the
points whose right commands are within RIGHT_SLACK of the best point's: a wrong action is
the worst outcome and saying nothing to a non-command is the point, but a scorer that
rejects everything would win on errors alone. Ties: more right commands, then the earlier
escape of ESCAPES (no path first: the garbage path must earn its place), then alpha/beta
nearest the space's start.

Then the gate (dstorch.rejection.calibrate) is calibrated on the decoder's top
GATE_CANDIDATES candidates of the same clips with the chosen scorer, and of the dev
commands in the --dev_snrs rooms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from dstorch.decoder import beam_search
from dstorch.decoder.base import STEP_SECONDS
from dstorch.lm.scorer import Scorer
from dstorch.rejection import (
    GATE_CANDIDATES,
    RIGHT_LOSS,
    RIGHT_LOSS_POSITIVES_ONLY,
    Candidate,
    Gate,
    Heard,
    Tally,
    calibrate,
    gated_tally,
)
from dstorch.training.evaluate import Output

# Escape costs (log10) tried for the out-of-grammar path; None: no path. Leaving a command
# costs escape + log10(1 / garbage words) (about -3.5 for the usual few thousand words),
# a command word ~0 to -1 and command word salad -10: -4 is nearly as strict as no
# path, +2 lets a garbage word in at about the price of a doubtful command word.
ESCAPES: tuple[float | None, ...] = (None, -4.0, -2.0, 0.0, 2.0)
RIGHT_SLACK = 0.02  # right commands the rejection may cost, of the positives


@dataclass(frozen=True)
class DevSet:
    """The acoustic model's outputs on the dev clips, and the command sentences; `in_rooms`:
    on the dev positives in the --dev_snrs rooms, right commands the gate must keep too."""

    positives: list[Output]
    negatives: list[Output]
    commands: frozenset[str]
    in_rooms: list[Output] = field(default_factory=list)

    def expected(self) -> list[tuple[Output, str | None]]:
        return [(o, o.sample.transcript) for o in self.positives] + [
            (o, None) for o in self.negatives
        ]


@dataclass(frozen=True)
class Point:
    """One tried setting and its dev outcomes; `distance`: alpha/beta from the start."""

    escape: float | None
    alpha: float
    beta: float
    tally: Tally
    distance: float


def dev_tally(dev: DevSet, labels: list[str], scorer: Scorer, beam_width: int) -> Tally:
    """The outcomes of the top candidate of every dev clip with `scorer` as it is set."""
    pairs = [
        (beam_search(o.log_probs, labels, beam_width, scorer)[0].text, expected)
        for o, expected in dev.expected()
    ]
    return Tally.of(pairs, dev.commands)


def choose(points: Sequence[Point]) -> Point:
    """The best point by the module's objective (see its docstring)."""
    best_right = max(p.tally.right_share for p in points)
    feasible = [p for p in points if p.tally.right_share >= best_right - RIGHT_SLACK - 1e-9]
    return min(
        feasible,
        key=lambda p: (
            p.tally.error_share,
            -p.tally.right_share,
            ESCAPES.index(p.escape) if p.escape in ESCAPES else len(ESCAPES),
            p.distance,
        ),
    )


# (escape) -> a Scorer built with the garbage path at that escape (None: without it)
ScorerAt = Callable[[float | None], Scorer]
# (objective, trials) -> tune.search's trials (score, score, distance, alpha, beta)
Search = Callable[[Callable[[float, float], tuple[float, float]], int], list[tuple]]


def _objective(
    dev: DevSet, labels: list[str], scorer: Scorer, beam_width: int, tallies: dict
) -> Callable[[float, float], tuple[float, float]]:
    """tune.search's objective for `scorer`; records each trial's Tally in `tallies`."""

    def objective(alpha: float, beta: float) -> tuple[float, float]:
        scorer.alpha, scorer.beta = alpha, beta  # as DS_SetScorerAlphaBeta
        tally = tallies[(alpha, beta)] = dev_tally(dev, labels, scorer, beam_width)
        # guides the search's refinement; `choose` applies the constraint afterwards
        return tally.error_share - tally.right_share, tally.error_share

    return objective


def tune_rejection(
    dev: DevSet,
    labels: list[str],
    scorer_at: ScorerAt,
    search: Search,
    beam_width: int,
    trials: int,
) -> tuple[Point, int]:
    """Alpha/beta without the path (`trials`: LM_TUNE_TRIALS), then every escape at the
    best of them; -> (the chosen point, points tried)."""
    scorer = scorer_at(None)
    tallies: dict[tuple[float, float], Tally] = {}
    objective = _objective(dev, labels, scorer, beam_width, tallies)
    points = [
        Point(None, alpha, beta, tallies[(alpha, beta)], distance)
        for _, _, distance, alpha, beta in search(objective, trials)
    ]
    start = choose(points)
    for escape in (e for e in ESCAPES if e is not None):
        scorer = scorer_at(escape)
        scorer.alpha, scorer.beta = start.alpha, start.beta  # as DS_SetScorerAlphaBeta
        tally = dev_tally(dev, labels, scorer, beam_width)
        points.append(Point(escape, start.alpha, start.beta, tally, start.distance))
    return choose(points), len(points)


def hear(
    o: Output, expected: str | None, labels: list[str], scorer: Scorer, beam_width: int
) -> Heard:
    """One dev clip as the gate sees it: the decoder's GATE_CANDIDATES best -> Heard."""
    found = beam_search(o.log_probs, labels, beam_width, scorer, num_results=GATE_CANDIDATES)
    candidates = tuple(Candidate(c.text, c.confidence) for c in found)
    return Heard(candidates, len(o.log_probs) * STEP_SECONDS, expected)


def calibrate_gate(
    dev: DevSet, labels: list[str], scorer: Scorer, beam_width: int
) -> tuple[Gate | None, Tally | None, Tally | None]:
    """The gate for `scorer` as set -> (gate, dev outcomes before it, after it); a gate
    from dev positives alone keeps RIGHT_LOSS_POSITIVES_ONLY's share of the right ones.

    The positives in rooms count among the right commands to keep, the negatives stay
    clean: in rooms they would add false accepts to chase, and the threshold rose on two
    models of four (docs/acting-on-commands.md)."""
    heard = [hear(o, expected, labels, scorer, beam_width) for o, expected in dev.expected()]
    in_rooms = [hear(o, o.sample.transcript, labels, scorer, beam_width) for o in dev.in_rooms]
    loss = RIGHT_LOSS if dev.negatives else RIGHT_LOSS_POSITIVES_ONLY
    gate = calibrate(heard + in_rooms, dev.commands, loss, GATE_CANDIDATES)
    if gate is None:
        return None, None, None
    before = Tally.of(
        [(h.candidates[0].text if h.candidates else None, h.expected) for h in heard],
        gate.commands,
    )
    return gate, before, gated_tally(gate, heard)
