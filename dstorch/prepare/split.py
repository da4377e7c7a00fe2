"""Stable train/dev/test assignment, by voice where voices are known, and the DeepSpeech CSVs.

Only files without a split yet are assigned; they fill the dev/test quotas so the proportions
hold as data is added. Every command keeps at least one recorded take in train, since the
model cannot learn a command it never hears. Where speakers are known (recordings' speaker
field, synthetic voices), whole voices are held out, so dev and test measure unseen voices.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path

from dstorch.datafiles import SPLIT_CSVS, SPLITS
from dstorch.fs import atomic_write
from dstorch.prepare.registry import Entry
from dstorch.training.data import CSV_HEADER

# An engine with fewer voices than this for the language (espeak-ng: es, es-419) holds out
# variants: a whole voice would be a third or more of its takes.
FEW_VOICES = 4


def seeded_key(seed: int, *parts: str) -> str:
    """A seeded, order-independent sort key: adding files never reshuffles the others."""
    return hashlib.sha256(":".join([str(seed), *parts]).encode()).hexdigest()


def allocate(sizes: dict[str, int], fraction: float, caps: dict[str, int], seed: int) -> dict:
    """Per-command counts near size*fraction summing to round(total*fraction), within caps."""
    total = round(sum(sizes.values()) * fraction)
    if fraction > 0 and total == 0:
        total = 1  # a tiny data set still gets one held-out take where a command can spare it
    counts = {c: min(int(sizes[c] * fraction), caps[c]) for c in sizes}
    # Largest remainder first; ties go to commands with more takes, then a seeded draw.
    order = sorted(
        sizes, key=lambda c: (-(sizes[c] * fraction % 1), -sizes[c], seeded_key(seed, c))
    )
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


def voice_group(entry: Entry, few: Collection[str] = ()) -> str:
    """What dev/test hold out whole: a speaker, or a synthetic voice with all its variants
    (espeak-ng's en-us+f3 and en-us+m1 share en-us's accent and phoneme rules).

    For an engine in `few` (see few_voice_engines) each variant is its own group: with
    espeak-ng's two Spanish voices, holding one out whole would take half the synthetic
    takes from training; a held-out variant is still a timbre training never heard."""
    if entry.engine and entry.engine not in few:
        return entry.speaker.split("+", 1)[0]
    return entry.speaker


def few_voice_engines(entries: Iterable[Entry]) -> set[str]:
    """The engines that speak the language with fewer than FEW_VOICES voices but in
    variants: dev holds out their variants rather than whole voices."""
    bases: dict[str, set[str]] = defaultdict(set)
    full: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        if entry.engine:
            bases[entry.engine].add(voice_group(entry))
            full[entry.engine].add(entry.speaker)
    return {e for e in bases if len(bases[e]) < FEW_VOICES and len(full[e]) > len(bases[e])}


def held_out(entry: Entry, holdout: set[str]) -> bool:
    """HOLDOUT_SPEAKERS names a speaker, a synthetic voice (with or without its variant) or
    a whole engine (`festival`): its takes are test only."""
    names = {entry.speaker, voice_group(entry), entry.engine} - {""}
    return bool(names & holdout)


def unheard_holdouts(entries: list[Entry], holdout: set[str]) -> list[str]:
    """The HOLDOUT_SPEAKERS names that match no speaker, voice or engine of `entries`: a
    typo there silently trains on the voice meant for the test set."""
    known = {n for e in entries for n in (e.speaker, voice_group(e), e.engine)}
    return sorted(holdout - known)


def assign_splits(
    entries: list[Entry],
    dev_fraction: float,
    test_fraction: float,
    seed: int,
    holdout: set[str] = frozenset(),
) -> list[str]:
    """Set `split` on usable entries that have none; return notes for the user.

    Known speakers are split whole, so dev and test measure voices the model never heard:
    recordings by speaker (test first, then dev), and synthetic takes stay in train unless
    the recordings leave dev without an unseen voice; then whole synthetic voices of each
    engine go to dev. Synthetic takes go to test only when HOLDOUT_SPEAKERS names them: the
    test set measures the user's recordings.
    """
    usable = [e for e in entries if e.status == "ok"]
    rest = []
    for entry in usable:
        if held_out(entry, holdout):
            entry.split = entry.split or "test"  # a held-out voice is only ever tested on
        else:
            rest.append(entry)
    recorded = [e for e in rest if not e.engine]
    synthetic = [e for e in rest if e.engine]
    notes: list[str] = []
    named = {e.speaker for e in recorded if e.speaker}
    if len(named) >= 2:
        fresh_train = _hold_out_groups(recorded, dev_fraction, test_fraction, seed)
        by_group = _splits_by_group(recorded).values()
        unseen_dev = any("dev" in s and "train" not in s for s in by_group)
    else:
        fresh_train, unseen_dev = [], False
        held = 0 if synthetic and dev_fraction > 0 else dev_fraction  # dev: synthetic voices
        _per_take(recorded, held, test_fraction, seed)
    need_dev = dev_fraction > 0 and not unseen_dev
    few = few_voice_engines(synthetic)
    for engine in sorted({e.engine for e in synthetic}):
        mine = [e for e in synthetic if e.engine == engine]
        _hold_out_groups(mine, dev_fraction if need_dev else 0.0, 0.0, seed, few)
    if need_dev and not synthetic and fresh_train:  # nothing unseen to spare: today's split
        for entry in fresh_train:
            entry.split = ""
        _per_take([e for e in recorded if e.split in ("", "train")], dev_fraction, 0.0, seed)
    if dev_fraction + test_fraction > 0:
        notes += _voice_notes(recorded, synthetic, len(named), need_dev, few)
    return notes + _split_notes(usable, holdout, dev_fraction + test_fraction > 0)


def _per_take(entries: list[Entry], dev_fraction: float, test_fraction: float, seed: int):
    """Today's split when voices are unknown: stratified by command, take by take."""
    by_command: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_command[entry.id].append(entry)
    sizes = {c: len(es) for c, es in by_command.items()}
    dev = allocate(sizes, dev_fraction, {c: n - 1 for c, n in sizes.items()}, seed)
    test = allocate(sizes, test_fraction, {c: n - 1 - dev[c] for c, n in sizes.items()}, seed)
    for command, group in by_command.items():
        have = {s: sum(e.split == s for e in group) for s in SPLITS}
        fresh = sorted(
            (e for e in group if not e.split), key=lambda e: seeded_key(seed, e.sha256, e.source)
        )
        _fill(fresh, have, dev[command], test[command])


def _hold_out_groups(
    entries: list[Entry],
    dev_fraction: float,
    test_fraction: float,
    seed: int,
    few: Collection[str] = (),
) -> list[Entry]:
    """Split whole voice groups (test first, then dev); -> the fresh takes put in train.

    A group with a split keeps it (new takes follow it). A new group leaves train only
    while another group stays there, every command it says keeps a train take elsewhere,
    and it is at most half the takes; it is held out while its split is below its quota.
    """
    groups: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[voice_group(entry, few) or f"take:{entry.source}"].append(entry)  # unknown: alone
    new = []
    for name, takes in groups.items():
        known = Counter(e.split for e in takes if e.split)
        if known:
            for entry in takes:
                entry.split = entry.split or known.most_common(1)[0][0]
        else:
            new.append(name)
    have = Counter(e.split for e in entries)
    cover = Counter(e.id for e in entries if e.split in ("", "train"))
    in_train = sum(any(e.split in ("", "train") for e in groups[g]) for g in groups)
    quota = {
        s: _quota(len(entries), f) for s, f in (("test", test_fraction), ("dev", dev_fraction))
    }
    fresh_train = []
    for name in sorted(new, key=lambda g: seeded_key(seed, "voice", g)):
        takes, says = groups[name], Counter(e.id for e in groups[name])
        free = in_train > 1 and 2 * len(takes) <= len(entries)
        free = free and all(cover[c] > n for c, n in says.items())
        split = next(
            (
                s
                for s in ("test", "dev")
                if free and quota[s] and (not have[s] or have[s] + len(takes) / 2 < quota[s])
            ),
            "train",
        )
        if split != "train":
            in_train -= 1
            cover -= says
        else:
            fresh_train += takes
        for entry in takes:
            entry.split = split
        have[split] += len(takes)
    return fresh_train


def _quota(total: int, fraction: float) -> int:
    return max(round(total * fraction), 1) if fraction > 0 else 0


def _voice_notes(
    recorded: list, synthetic: list, speakers: int, need_dev: bool, few: Collection[str]
) -> list[str]:
    """A line or two on how dev and test relate to the voices in train."""
    notes = []
    if speakers < 2:
        who = "one speaker" if speakers else "no speaker names"
        if synthetic:
            notes.append(
                f"recordings have {who}: dev holds whole synthetic voices not in train, "
                "test holds takes of voices heard in training"
            )
        else:
            notes.append(
                f"recordings have {who} and there are no synthetic voices: dev and test hold "
                "takes of voices heard in training (name speakers with FILENAME_PATTERN)"
            )
    elif need_dev and not synthetic:
        notes.append(
            f"{speakers} speakers: test holds an unseen one, dev holds takes of voices heard "
            "in training (more speakers or SYNTHETIC_VOICES give an unseen-voice dev set)"
        )
    if need_dev:
        for engine in sorted(few):
            n = len({voice_group(e) for e in synthetic if e.engine == engine})
            notes.append(
                f"{engine} has {n} voice{'s' * (n > 1)} for this language: dev holds out "
                "whole variants of them (timbres), so training keeps every voice"
            )
    by_group = _splits_by_group(recorded + synthetic, few)
    unseen = {s: sum(1 for g, ss in by_group.items() if g and ss == {s}) for s in ("dev", "test")}
    if any(unseen.values()):
        notes.append(
            f"voices kept out of training: {unseen['dev']} in dev, {unseen['test']} in test "
            "(whole speakers or synthetic voices)"
        )
    # A per-take dev set (no unseen voice to spare) mixes train and dev on purpose.
    apart = {"test"} if need_dev and not synthetic else {"dev", "test"}
    mixed = [g for g, splits in by_group.items() if g and "train" in splits and splits & apart]
    if mixed and speakers >= 2:
        notes.append(
            f"{len(mixed)} voices have takes in train and in dev/test (split before voices "
            "were kept apart; splits are stable): delete data/registry.csv to re-split"
        )
    return notes


def _splits_by_group(entries: list[Entry], few: Collection[str] = ()) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        out[voice_group(entry, few)].add(entry.split)
    return out


def _split_notes(usable: list[Entry], holdout: set[str], holding_out: bool) -> list[str]:
    per_command: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SPLITS, 0))
    for entry in usable:
        if not entry.engine:  # recorded takes: synthetic ones never make a command learnable
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
    stuck = sorted({e.speaker for e in usable if held_out(e, holdout) and e.split != "test"})
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
        paths[split] = data_dir / SPLIT_CSVS[split]
        atomic_write(paths[split], buffer.getvalue())
    return paths
