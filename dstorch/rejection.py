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
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from dstorch.fs import atomic_write

RIGHT, WRONG, REJECTED, FALSE_ACCEPT = "right", "wrong", "rejected", "false accept"
OUTCOMES = (RIGHT, WRONG, REJECTED, FALSE_ACCEPT)
GATE_SUFFIX = ".gate.json"  # <MODEL_NAME>.gate.json beside <MODEL_NAME>.pbmm
GATE_VERSION = 1
# top confidence per second of audio, or its lead over the best other candidate
MEASURES = ("confidence_per_second", "margin")


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
        if self.measure == "confidence_per_second":
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
        """Read a gate file; a broken one is a ValueError naming the file and the fix."""
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
            raise ValueError(
                f"{path}: not a usable gate file ({e}); export the model again"
            ) from None


def gate_path(model: Path) -> Path:
    """The gate file beside an exported model (x.pbmm -> x.gate.json)."""
    return Path(model).parent / (Path(model).stem + GATE_SUFFIX)
