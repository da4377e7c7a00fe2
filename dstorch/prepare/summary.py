"""The summary table printed at the end of prepare: what was done, the problems per code
and the files per split."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from dstorch.datafiles import SPLITS
from dstorch.prepare.problems import PROBLEMS


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
    for split in SPLITS:
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
