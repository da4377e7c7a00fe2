"""Act only on what was said: what an answer means for a device, and the confidence gate
exported beside the model.

A device acts on a transcript that is exactly a command. Anything else (a prefix of a
command, word salad, an everyday sentence, nothing) is a rejection: the user says it again.
So every answer falls in one of four outcomes:
- RIGHT: the command that was said;
- WRONG: another command (a wrong action, the worst);
- REJECTED: no command;
- FALSE_ACCEPT: a command, when what was said is no command (a negative).

The gate (`<MODEL_NAME>.gate.json`, written by the scorer stage) turns a confident-looking
but doubtful command into a rejection, from the candidates the client's
`sttWithMetadata` returns. Its threshold is calibrated on dev positives and negatives.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dstorch.errors import DstorchError
from dstorch.fs import atomic_write

RIGHT, WRONG, REJECTED, FALSE_ACCEPT = "right", "wrong", "rejected", "false accept"
OUTCOMES = (RIGHT, WRONG, REJECTED, FALSE_ACCEPT)
GATE_SUFFIX = ".gate.json"  # <MODEL_NAME>.gate.json beside <MODEL_NAME>.pbmm
GATE_VERSION = 1
# The top candidate's confidence per character of its text, per second of audio, or its lead
# over the best other candidate. A CTC score is roughly a sum over the characters emitted, so
# a command that explains only part of what was said ("mirror" heard in "hello mirror")
# scores low per character, while per second the longer clip hides it.
PER_CHARACTER, PER_SECOND, MARGIN = "confidence_per_character", "confidence_per_second", "margin"
MEASURES = (PER_CHARACTER, PER_SECOND, MARGIN)  # a gate file may name any of them
# What the scorer stage calibrates; the others stay for gate files of earlier versions. A
# choice among measures made on a dev set of a dozen commands went wrong for unseen voices
# (docs/acting-on-commands.md): per second chosen on two confusable seeds of three lost 9 and
# 12 right commands of 72, and the margin, chosen on the shipped example by one dev clip, lost
# 10 of 26 (per character: 1). The margin's scale is each command's nearest rival's ("stop"
# leads "shop" by about 5, "turn on the light" its rivals by 9 to 14), so a threshold set on
# a few dev clips cuts the short commands.
CALIBRATED = (PER_CHARACTER,)
GATE_CANDIDATES = 5  # candidates the gate asks for (the margin's rivals), as the probe did
# Share of the right dev commands the gate may turn into rejections: with negatives, and
# with dev positives only (then it removes only the least confident, and wrong commands).
RIGHT_LOSS = 0.02
RIGHT_LOSS_POSITIVES_ONLY = 0.01
SECONDS_PER_HOUR = 3600.0
# With no dev score below the threshold, it sits half a gap below the lowest: GAP_BELOW in a
# confidence per second (and a margin), the same per character at a speaking rate of
# SPOKEN_CHARACTERS_PER_SECOND ("turn on the light", 17 characters, takes about 1.1 s).
GAP_BELOW = 2.0
SPOKEN_CHARACTERS_PER_SECOND = 15.0


class GateError(DstorchError, ValueError):
    """A gate file that cannot be used; the message names it and the fix."""


def normalise(text: str) -> str:
    return " ".join(text.split())


def outcome(answer: str | None, expected: str | None, commands: Collection[str]) -> str:
    """The outcome of `answer` (None: the gate rejected it) when `expected` was said
    (None: a negative, no command was said), against the command sentences."""
    text = normalise(answer) if answer is not None else None
    if text is None or text not in commands:
        return REJECTED
    if expected is None:
        return FALSE_ACCEPT
    return RIGHT if text == normalise(expected) else WRONG


@dataclass(frozen=True)
class Candidate:
    """One of the decoder's candidates: its text and log score (the client's confidence)."""

    text: str
    confidence: float


@dataclass(frozen=True)
class Gate:
    """Accept the top candidate as a command only when `measure` reaches `threshold`.

    measure: one of MEASURES. num_results: candidates to ask the client for (the margin
    needs more than one). commands: the sentences a device acts on.
    """

    measure: str
    threshold: float
    num_results: int
    commands: tuple[str, ...]

    def score(self, candidates: Sequence[Candidate], seconds: float) -> float:
        """The measure for `candidates` (best first) of a clip `seconds` long."""
        if not candidates:
            return -math.inf
        top = candidates[0]
        if self.measure == PER_CHARACTER:
            return top.confidence / max(len(normalise(top.text)), 1)
        if self.measure == PER_SECOND:
            return top.confidence / max(seconds, 1e-3)
        others = [c.confidence for c in candidates[1:] if normalise(c.text) != normalise(top.text)]
        return top.confidence - max(others) if others else math.inf

    def command(self, candidates: Sequence[Candidate], seconds: float) -> str | None:
        """The command to act on, or None (rejected)."""
        if not candidates or normalise(candidates[0].text) not in self.commands:
            return None
        return (
            normalise(candidates[0].text)
            if self.score(candidates, seconds) >= self.threshold
            else None
        )

    def save(self, path: Path) -> None:
        data = {"version": GATE_VERSION, **asdict(self), "commands": list(self.commands)}
        atomic_write(path, json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Gate:
        """Read a gate file; a broken one is a GateError naming the file and the fix."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("version") != GATE_VERSION or data["measure"] not in MEASURES:
                raise ValueError("unknown version or measure")
            return cls(
                data["measure"],
                float(data["threshold"]),
                int(data["num_results"]),
                tuple(normalise(c) for c in data["commands"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise GateError(
                f"{path}: not a usable gate file ({e}); export the model again"
            ) from None


@dataclass
class Tally:
    """Outcomes summed over a set of answers: commands said (right/wrong/rejected) and
    negatives (false accepts of `negatives` clips, `negative_seconds` long, also by kind:
    kind -> [false accepts, clips]), with the confusion {(said, taken): clips} of the wrong
    answers. The scorer stage optimises it; the bench and the report print it."""

    right: int = 0
    wrong: int = 0
    rejected: int = 0
    negatives: int = 0
    false_accepts: int = 0
    negative_seconds: float = 0.0
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    confusion: Counter = field(default_factory=Counter)

    def add(
        self, answer: str | None, expected: str | None, commands: Collection[str], **negative
    ) -> str:
        """Count one answer (as `outcome` takes it); `negative`: kind= and seconds= of a
        negative. -> its outcome."""
        result = outcome(answer, expected, commands)
        if expected is None:
            kind = self.by_kind.setdefault(negative.get("kind", ""), [0, 0])
            kind[1] += 1
            self.negatives += 1
            self.negative_seconds += negative.get("seconds", 0.0)
            self.false_accepts += result == FALSE_ACCEPT
            kind[0] += result == FALSE_ACCEPT
        elif result == WRONG:
            self.wrong += 1
            self.confusion[(normalise(expected), normalise(answer or ""))] += 1
        else:
            self.right += result == RIGHT
            self.rejected += result == REJECTED
        return result

    @classmethod
    def of(cls, pairs: Iterable[tuple[str | None, str | None]], commands: Collection[str]):
        """pairs: (answer, expected) as `outcome` takes them."""
        tally = cls()
        for answer, expected in pairs:
            tally.add(answer, expected, commands)
        return tally

    @property
    def positives(self) -> int:
        """Clips where a command was said."""
        return self.right + self.wrong + self.rejected

    def share(self, count: int) -> float | None:
        """`count` over the command clips; None when there were none."""
        return count / self.positives if self.positives else None

    @property
    def right_share(self) -> float:
        return self.right / max(self.positives, 1)

    @property
    def false_accept_share(self) -> float | None:
        return self.false_accepts / self.negatives if self.negatives else None

    @property
    def false_accepts_per_hour(self) -> float | None:
        """False accepts per hour of negative audio: what a device left listening does."""
        if self.negative_seconds <= 0:
            return None
        return self.false_accepts * SECONDS_PER_HOUR / self.negative_seconds

    @property
    def error_share(self) -> float:
        """Wrong commands per positive plus false accepts per negative: each set weighs
        the same whatever its size."""
        return self.wrong / max(self.positives, 1) + self.false_accepts / max(self.negatives, 1)

    def as_dict(self) -> dict[str, int]:
        """The counts keyed right, wrong, rejected, false_accept (report.json)."""
        return {
            "right": self.right,
            "wrong": self.wrong,
            "rejected": self.rejected,
            "false_accept": self.false_accepts,
        }

    def line(self) -> str:
        return (
            f"{self.right}/{self.positives} right, {self.wrong} wrong, {self.rejected} "
            f"rejected, {self.false_accepts}/{self.negatives} false accepts"
        )


@dataclass(frozen=True)
class Heard:
    """One dev clip as the gate sees it: the decoder's candidates (best first), the clip's
    length and what was said (None: a negative)."""

    candidates: tuple[Candidate, ...]
    seconds: float
    expected: str | None


def gated_tally(gate: Gate, heard: Sequence[Heard]) -> Tally:
    """The outcomes of `heard` when the device acts only on what `gate` accepts."""
    pairs = [(gate.command(h.candidates, h.seconds), h.expected) for h in heard]
    return Tally.of(pairs, gate.commands)


def gap_below(measure: str) -> float:
    """GAP_BELOW in `measure`'s units."""
    return GAP_BELOW / SPOKEN_CHARACTERS_PER_SECOND if measure == PER_CHARACTER else GAP_BELOW


def lowest_kept(right: Sequence[float], share: float) -> float:
    """The score below which `share` of right commands fall: the lower of the empirical
    quantile of `right` and that of a normal fit to it. Why the fit: a dozen dev clips have
    no 2% tail, so their quantile is their lowest score, and a threshold just under the dev
    voice's commands cut a third of an unseen voice's (docs/acting-on-commands.md)."""
    empirical = sorted(right)[math.floor(share * len(right))]
    finite = [s for s in right if math.isfinite(s)]  # a margin with no rival is +inf
    spread = statistics.stdev(finite) if len(finite) >= 2 else 0.0
    if spread == 0:
        return empirical
    return min(empirical, statistics.NormalDist(statistics.mean(finite), spread).inv_cdf(share))


def _threshold(right: list[float], bad: list[float], max_loss: float, gap: float) -> float:
    """The lowest threshold that rejects every `bad` score below what a gate keeping all
    but `max_loss` of the right commands may reject (`lowest_kept`), halfway between the
    highest bad one so rejected and the next score above it. No such bad score: a little
    below every right one (nothing to gain from losing a right command)."""
    keep = lowest_kept(right, max_loss)
    caught = [s for s in bad if s < keep]
    if not caught:
        lowest = min(right)
        return lowest - gap / 2 if math.isfinite(lowest) else 0.0
    top = max(caught)
    above = min(s for s in right + bad if s > top)
    return (top + above) / 2 if math.isfinite(above) else top + gap / 2


def calibrate(
    heard: Sequence[Heard],
    commands: Collection[str],
    max_right_loss: float = RIGHT_LOSS,
    num_results: int = GATE_CANDIDATES,
    measures: Sequence[str] = CALIBRATED,
) -> Gate | None:
    """The gate that turns the most wrong commands and false accepts of `heard` into
    rejections while losing at most `max_right_loss` of its right commands: for each
    measure the threshold that loss allows, then the measure that removes the most (ties:
    fewer right lost, then the order of `measures`). None: no right command to calibrate on."""
    commands = tuple(sorted({normalise(c) for c in commands}))
    best: tuple | None = None
    for rank, measure in enumerate(measures):
        probe = Gate(measure, -math.inf, num_results, commands)
        scored = [
            (
                outcome(h.candidates[0].text if h.candidates else None, h.expected, commands),
                probe.score(h.candidates, h.seconds),
            )
            for h in heard
        ]
        right = [s for o, s in scored if o == RIGHT]
        if not right:
            return None
        bad = [s for o, s in scored if o in (WRONG, FALSE_ACCEPT)]
        threshold = _threshold(right, bad, max_right_loss, gap_below(measure))
        gate = Gate(measure, threshold, num_results, commands)
        removed = sum(s < gate.threshold for s in bad)
        lost = sum(s < gate.threshold for s in right)
        key = (-removed, lost, rank)
        if best is None or key < best[0]:
            best = (key, gate)
    return best[1] if best else None


def gate_path(model: Path) -> Path:
    """The gate file beside an exported model (x.pbmm -> x.gate.json)."""
    return Path(model).parent / (Path(model).stem + GATE_SUFFIX)
