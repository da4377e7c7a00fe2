"""Stable, stratified train/dev/test assignment and the DeepSpeech CSVs.

Only files without a split yet are assigned; they fill each command's dev/test quota so the
proportions hold as data is added. Every command keeps at least one take in train, since
the model cannot learn a command it never hears.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from pathlib import Path

from dstorch.data import CSV_HEADER, atomic_write_text
from dstorch.pipeline.registry import Entry

SPLITS = ("train", "dev", "test")


def _draw(seed: int, *parts: str) -> str:
    """A seeded, order-independent sort key: adding files never reshuffles the others."""
    return hashlib.sha256(":".join([str(seed), *parts]).encode()).hexdigest()


def allocate(sizes: dict[str, int], fraction: float, caps: dict[str, int], seed: int) -> dict:
    """Per-command counts near size*fraction summing to round(total*fraction), within caps."""
    total = round(sum(sizes.values()) * fraction)
    if fraction > 0 and total == 0:
        total = 1  # a tiny data set still gets one held-out take where a command can spare it
    counts = {c: min(int(sizes[c] * fraction), caps[c]) for c in sizes}
    # Largest remainder first; ties go to commands with more takes, then a seeded draw.
    order = sorted(sizes, key=lambda c: (-(sizes[c] * fraction % 1), -sizes[c], _draw(seed, c)))
    remaining = total - sum(counts.values())
    while remaining > 0 and any(counts[c] < caps[c] for c in order):
        for c in order:
            if remaining > 0 and counts[c] < caps[c]:
                counts[c] += 1
                remaining -= 1
    return counts


def _fill(fresh: list[Entry], have: dict[str, int], dev: int, test: int) -> None:
    """Give `fresh` (in draw order) what is missing of the dev/test quota; the rest: train."""
    n_dev = min(max(dev - have["dev"], 0), len(fresh))
    n_test = min(max(test - have["test"], 0), len(fresh) - n_dev)
    if fresh and have["train"] == 0 and n_dev + n_test == len(fresh):  # keep one for train
        if n_test:
            n_test -= 1
        else:
            n_dev -= 1
    for i, entry in enumerate(fresh):
        entry.split = "dev" if i < n_dev else "test" if i < n_dev + n_test else "train"


def assign_splits(
    entries: list[Entry],
    dev_fraction: float,
    test_fraction: float,
    seed: int,
    holdout: set[str] = frozenset(),
) -> list[str]:
    """Set `split` on usable entries that have none; return notes for the user."""
    usable = [e for e in entries if e.status == "ok"]
    by_command: dict[str, list[Entry]] = defaultdict(list)
    for entry in usable:
        if entry.speaker in holdout:
            entry.split = entry.split or "test"  # a held-out voice is only ever tested on
        else:
            by_command[entry.id].append(entry)
    sizes = {c: len(es) for c, es in by_command.items()}
    dev = allocate(sizes, dev_fraction, {c: n - 1 for c, n in sizes.items()}, seed)
    test = allocate(sizes, test_fraction, {c: n - 1 - dev[c] for c, n in sizes.items()}, seed)
    for command, group in by_command.items():
        have = {s: sum(e.split == s for e in group) for s in SPLITS}
        fresh = sorted(
            (e for e in group if not e.split), key=lambda e: _draw(seed, e.sha256, e.source)
        )
        _fill(fresh, have, dev[command], test[command])
    return _split_notes(usable, holdout, dev_fraction + test_fraction > 0)


def _split_notes(usable: list[Entry], holdout: set[str], holding_out: bool) -> list[str]:
    per_command: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SPLITS, 0))
    for entry in usable:
        per_command[entry.id][entry.split] += 1
    notes = []
    for command in sorted(per_command, key=_natural):
        counts = per_command[command]
        takes = sum(counts.values())
        if counts["train"] == 0:
            notes.append(
                f"command {command}: no take in train (all {takes} are held out); "
                "record more takes, or remove its speakers from HOLDOUT_SPEAKERS"
            )
        elif holding_out and counts["train"] == takes:
            notes.append(f"command {command} has {takes} take{'s' * (takes > 1)}: train only")
    stuck = sorted({e.speaker for e in usable if e.speaker in holdout and e.split != "test"})
    if stuck:
        notes.append(
            f"held-out speakers {', '.join(stuck)} already have takes in train/dev "
            "(splits are stable; delete data/registry.csv to re-split everything)"
        )
    return notes


def _natural(text: str) -> tuple:
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def write_csvs(data_dir: Path, entries: list[Entry], transcripts: dict[str, str]) -> dict:
    """Write data/{train,dev,test}.csv (sorted by file size, paths relative to data/)."""
    rows: dict[str, list[tuple[int, str, str]]] = {s: [] for s in SPLITS}
    for entry in entries:
        if entry.status == "ok" and entry.split in rows:
            size = (data_dir / entry.wav).stat().st_size
            rows[entry.split].append((size, entry.wav, transcripts[entry.id]))
    paths = {}
    for split, items in rows.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows((wav, size, text) for size, wav, text in sorted(items))
        paths[split] = data_dir / f"{split}.csv"
        atomic_write_text(paths[split], buffer.getvalue())
    return paths
