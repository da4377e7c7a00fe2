"""Problems found while preparing data, and the summary table printed at the end."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from dstorch.errors import DstorchError


class PrepareError(DstorchError, ValueError):
    """A problem that stops data preparation; the one-line message names the file and fix."""


class FileProblem(Exception):
    """A per-file problem: the file is skipped and reported, the run goes on."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


# Summary-table wording per problem code (the per-file lines carry the specifics).
PROBLEMS = {
    "unreadable": "not readable as audio: re-export as WAV or remove it",
    "empty": "no audio samples: re-record or remove it",
    "silent": "digital silence only: check the microphone, re-record",
    "no_speech": "near-silence only: check the microphone, re-record",
    "truncated": "shorter than its header says: copy or export it again",
    "name_too_long": "file name too long for its copy: shorten it",
    "too_short": "shorter than MIN_DURATION: re-record or lower MIN_DURATION",
    "too_long": "longer than MAX_DURATION: trim it or raise MAX_DURATION",
    "transcript_too_long": "clip too short for its transcript: re-record it slower",
    "no_id": "no id in the file name: rename it or set FILENAME_PATTERN",
    "unknown_id": "id not in commands.csv: add a row for it",
    "empty_transcript": "empty transcript in commands.csv: fill it in",
    "bad_chars": "transcript characters outside the alphabet: fix either",
    "duplicate_audio": "same content as another file: remove one copy",
    "synth_failed": "a speech synthesizer failed: see its line above",
}


@dataclass
class Tally:
    """Counts for the summary: problems per code, files per split, and notices."""

    problems: Counter = field(default_factory=Counter)
    splits: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)
    commands: dict[str, set] = field(default_factory=dict)
    synthetic: Counter = field(default_factory=Counter)  # synthetic takes per split
    voices: dict[str, Counter] = field(default_factory=dict)  # command -> engine -> takes
    converted: int = 0
    copied: int = 0
    unchanged: int = 0
    rendered: int = 0  # synthetic takes rendered in this run

    def add_sample(self, split: str, command: str, seconds: float, engine: str = "") -> None:
        self.splits[split] += 1
        self.seconds[split] += seconds
        self.commands.setdefault(split, set()).add(command)
        if engine:
            self.synthetic[split] += 1
            self.voices.setdefault(command, Counter())[engine] += 1


def format_summary(tally: Tally) -> str:
    """The end-of-run table: what was done, problems per kind and files per split."""
    lines = [
        f"Audio: {tally.converted} converted, {tally.copied} copied as is, "
        f"{tally.unchanged} unchanged (skipped), {tally.rendered} synthetic takes rendered",
    ]
    if tally.problems:
        lines += ["", f"{'Problem':<20} {'Files':>5}  Fix"]
        for code, count in sorted(tally.problems.items()):
            lines.append(f"{code:<20} {count:>5}  {PROBLEMS.get(code, '')}")
    lines += ["", f"{'Split':<6} {'Files':>5} {'Synthetic':>9} {'Commands':>8} {'Seconds':>8}"]
    for split in ("train", "dev", "test"):
        lines.append(
            f"{split:<6} {tally.splits[split]:>5} {tally.synthetic[split]:>9} "
            f"{len(tally.commands.get(split, ())):>8} {tally.seconds[split]:>8.1f}"
        )
    return "\n".join(lines + _voice_table(tally.voices))


def _voice_table(voices: dict[str, Counter]) -> list[str]:
    """Synthetic takes per command and engine (the command ids in natural order)."""
    if not voices:
        return []
    engines = sorted({e for counts in voices.values() for e in counts})
    lines = ["", f"{'Command':<8} {'Synthetic':>9} " + " ".join(f"{e:>10}" for e in engines)]
    for command in sorted(voices, key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c)):
        counts = voices[command]
        cells = " ".join(f"{counts[e]:>10}" for e in engines)
        lines.append(f"{command:<8} {sum(counts.values()):>9} {cells}")
    return lines
