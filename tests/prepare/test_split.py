"""Splits: deterministic and seeded, held-out speakers, few takes, proportional allocation."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline_helpers import COMMANDS, SPEAKERS, name, project, read_rows, run, splits, tone

from dstorch.prepare.registry import Entry
from dstorch.prepare.split import SPLITS, allocate, assign_splits, voice_group


def test_split_is_deterministic_and_seeded(tmp_path):
    first, second = project(tmp_path / "a"), project(tmp_path / "b")
    run(first), run(second)
    strip = lambda d: {Path(k).name: v for k, v in d.items()}  # noqa: E731
    assert strip(splits(first)) == strip(splits(second))
    other = project(tmp_path / "c", speakers=6)
    run(other)
    seeds = [strip(splits(other))]
    for seed in (1, 2, 3):
        shutil.rmtree(other / "data")
        run(other, split_seed=seed)
        seeds.append(strip(splits(other)))
    assert len({tuple(sorted(s.items())) for s in seeds}) > 1


def test_holdout_speakers_only_in_test(tmp_path):
    root = project(tmp_path, speakers=5)
    run(root, holdout_speakers=f"{SPEAKERS[4]}, ")  # a naming nobody: test_prepare.py
    for source, split in splits(root).items():
        assert (split == "test") if SPEAKERS[4] in source else True
    train = {r["transcript"] for r in read_rows(root / "data/train.csv")}
    assert train == set(COMMANDS.values())


def test_few_takes_stay_in_train_and_are_reported(tmp_path):
    root = project(tmp_path, speakers=2)  # 2 takes per command
    with open(root / "commands.csv", "a", encoding="utf-8") as f:
        f.write("5,open the door\n")
    tone(root / "original/en" / name(SPEAKERS[0], "5", 1), seed=80)
    messages: list[str] = []
    result = run(root, messages)
    assert "command 5 has 1 take: train only" in messages
    per_command: dict[str, list[str]] = {}
    for entry in result.entries:
        per_command.setdefault(entry.id, []).append(entry.split)
    assert all("train" in s for s in per_command.values())
    # Two speakers: the one who alone says command 5 trains, the other is the unseen test
    # voice; one take per command leaves nothing for a dev set, and that is said.
    by_speaker = {(e.speaker, e.split) for e in result.entries}
    assert by_speaker == {(SPEAKERS[0], "train"), (SPEAKERS[1], "test")}
    assert any(m.startswith("dev.csv is empty") for m in messages)


def test_allocate_is_proportional_and_capped():
    sizes = {str(c): 10 for c in range(6)}
    counts = allocate(sizes, 0.15, {c: 9 for c in sizes}, seed=1)
    assert sum(counts.values()) == 9 and set(counts.values()) == {1, 2}
    assert allocate({"a": 1, "b": 1}, 0.5, {"a": 0, "b": 0}, 1) == {"a": 0, "b": 0}


# --- Voices: whole speakers and synthetic voices are held out -----------------------------


def entry(speaker: str, command: str, take: int = 1, engine: str = "") -> Entry:
    folder = f"data/synthetic/en/{engine}" if engine else "original/en"
    source = f"{folder}/{speaker}_{command}_{take}.wav"
    return Entry(source, sha256=source, id=command, speaker=speaker, status="ok", engine=engine)


def recordings(speakers: list[str], commands: str = "1234", takes: int = 2) -> list[Entry]:
    return [entry(s, c, t) for s in speakers for c in commands for t in range(1, takes + 1)]


def voices_in(entries: list[Entry], split: str) -> set[str]:
    return {voice_group(e) for e in entries if e.split == split}


def test_dev_and_test_hold_whole_unseen_speakers():
    entries = recordings([f"s{i}" for i in range(8)])
    notes = assign_splits(entries, 0.15, 0.15, seed=3)
    train, dev, test = (voices_in(entries, s) for s in SPLITS)
    assert dev and test and not (train & dev) and not (train & test) and not (dev & test)
    assert {e.id for e in entries if e.split == "train"} == set("1234")
    assert notes == [
        f"voices kept out of training: {len(dev)} in dev, {len(test)} in test "
        "(whole speakers or synthetic voices)"
    ]
    # Stable: a new take of a dev speaker joins dev; a new speaker is placed whole.
    speaker = sorted(dev)[0]
    more = [entry(speaker, "1", 9), entry("s8", "1"), entry("s8", "2")]
    assign_splits(entries + more, 0.15, 0.15, seed=3)
    assert more[0].split == "dev" and more[1].split == more[2].split


def test_one_speaker_falls_back_to_per_take_split_and_says_so():
    entries = recordings(["alice"], takes=5)
    notes = assign_splits(entries, 0.15, 0.15, seed=1)
    assert {e.split for e in entries} == set(SPLITS)
    assert any("one speaker" in n and "no synthetic voices" in n for n in notes)


def test_one_speaker_with_synthetic_voices_gets_an_unseen_voice_dev_set():
    recorded = recordings(["alice"], takes=5)
    synthetic = [
        entry(voice, c, engine=engine)
        for engine, voices in (("espeak-ng", ["espeak-ng:en-us+f3", "espeak-ng:en-gb+m1"]),)
        + (("flite", ["flite:slt", "flite:kal", "flite:awb"]),)
        for voice in voices
        for c in "1234"
    ]
    notes = assign_splits(recorded + synthetic, 0.15, 0.15, seed=2)
    assert "dev" not in {e.split for e in recorded}  # the user's takes: train and test
    assert "test" not in {e.split for e in synthetic}  # test measures the recordings
    for engine in ("espeak-ng", "flite"):
        mine = [e for e in synthetic if e.engine == engine]
        dev, train = voices_in(mine, "dev"), voices_in(mine, "train")
        assert dev and train and not dev & train  # whole voices, each engine still trains
    assert any("dev holds whole synthetic voices" in n for n in notes)


def test_synthetic_voices_stay_in_train_when_speakers_give_an_unseen_dev_set():
    recorded = recordings([f"s{i}" for i in range(6)])
    synthetic = [entry(f"flite:{v}", c, engine="flite") for v in ("slt", "kal") for c in "12"]
    assign_splits(recorded + synthetic, 0.15, 0.15, seed=2)
    assert {e.split for e in synthetic} == {"train"}
    assert voices_in(recorded, "dev") - voices_in(recorded, "train")


def test_a_command_only_one_voice_says_keeps_that_voice_in_train():
    entries = recordings(["a", "b", "c", "d"]) + [entry("e", "5"), entry("e", "5", 2)]
    for seed in range(6):
        for e in entries:
            e.split = ""
        assign_splits(entries, 0.3, 0.3, seed=seed)
        assert {e.split for e in entries if e.speaker == "e"} == {"train"}
        assert voices_in(entries, "test") and not voices_in(entries, "test") & voices_in(
            entries, "train"
        )


def test_holdout_speakers_can_name_a_synthetic_engine_or_voice():
    recorded = recordings([f"s{i}" for i in range(4)])
    synthetic = [
        entry(voice, c, engine=voice.split(":")[0])
        for voice in ("festival:kal_diphone", "festival:ked_diphone", "flite:slt", "flite:kal")
        for c in "12"
    ]
    assign_splits(recorded + synthetic, 0.15, 0.15, seed=1, holdout={"festival", "flite:kal"})
    held = {e.speaker for e in synthetic if e.split == "test"}
    assert held == {"festival:kal_diphone", "festival:ked_diphone", "flite:kal"}
    assert {e.split for e in synthetic if e.speaker == "flite:slt"} == {"train"}


def test_an_engine_with_few_voices_holds_out_variants_not_half_its_takes():
    # espeak-ng speaks Spanish with two voices: holding one out whole would halve training.
    variants = [f"espeak-ng:{base}+v{i}" for base in ("es", "es-419") for i in range(12)]
    synthetic = [entry(v, c, engine="espeak-ng") for v in variants for c in "1234"]
    recorded = recordings(["alice"], takes=5)
    notes = assign_splits(recorded + synthetic, 0.15, 0.15, seed=4)
    dev = {e.speaker for e in synthetic if e.split == "dev"}
    train = {e.speaker for e in synthetic if e.split == "train"}
    assert dev and not dev & train  # whole variants: timbres training never heard
    assert {e.speaker.split("+")[0] for e in synthetic if e.split == "train"} == {
        "espeak-ng:es",
        "espeak-ng:es-419",
    }
    assert 0.1 <= len(dev) / len(variants) <= 0.25
    assert any("espeak-ng has 2 voices" in n and "variants" in n for n in notes)
    assert not any("have takes in train and in dev" in n for n in notes)


def test_an_engine_with_enough_voices_still_holds_out_whole_voices():
    bases = [f"espeak-ng:en-{b}" for b in ("us", "gb", "sc", "029", "nyc")]
    synthetic = [
        entry(f"{b}+v{i}", c, engine="espeak-ng") for b in bases for i in range(3) for c in "12"
    ]
    assign_splits(recordings(["alice"], takes=5) + synthetic, 0.15, 0.15, seed=4)
    dev, train = voices_in(synthetic, "dev"), voices_in(synthetic, "train")
    assert dev and not dev & train
