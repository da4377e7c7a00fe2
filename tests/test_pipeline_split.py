"""Splits: deterministic and seeded, held-out speakers, few takes, proportional allocation."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline_helpers import COMMANDS, SPEAKERS, name, project, read_rows, run, splits, tone

from dstorch.pipeline.split import allocate


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
    run(root, holdout_speakers=f"{SPEAKERS[4]}, nobody")
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
