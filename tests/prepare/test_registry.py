"""The registry across runs: unchanged files skipped, splits kept, changes and removals."""

from __future__ import annotations

from pathlib import Path

from pipeline_helpers import (
    COMMANDS,
    SPEAKERS,
    name,
    project,
    read_rows,
    run,
    snapshot,
    splits,
    tone,
)


def test_rerun_keeps_splits_and_skips_unchanged(tmp_path):
    root = project(tmp_path)
    run(root)
    before, wav_times = splits(root), snapshot(root / "data" / "en")
    result = run(root, new_data=True)
    assert splits(root) == before
    assert result.tally.unchanged == 20 and result.tally.copied == 0
    assert snapshot(root / "data" / "en") == wav_times  # not rewritten


def test_new_data_adds_files_and_keeps_existing_splits(tmp_path):
    root = project(tmp_path)
    run(root)
    before = splits(root)
    for command in COMMANDS:
        tone(root / "original/en" / name(SPEAKERS[5], command, 1), seed=100 + int(command))
    messages: list[str] = []
    result = run(root, messages)  # NEW_DATA=no: data/ stays as it is
    assert splits(root) == before and any("NEW_DATA=yes" in m for m in messages)
    result = run(root, new_data=True)
    after = splits(root)
    assert {k: after[k] for k in before} == before and len(after) == 24
    assert result.tally.unchanged == 20 and result.tally.copied == 4
    assert sum(r["transcript"] == "stop" for r in read_rows(root / "data/train.csv")) >= 1


def test_changed_file_keeps_split_removed_file_is_dropped(tmp_path):
    root = project(tmp_path)
    run(root)
    before = splits(root)
    changed, removed = sorted(before)[:2]
    tone(root / changed, seconds=1.2, seed=999)
    (root / removed).unlink()
    messages: list[str] = []
    result = run(root, messages, new_data=True)
    after = splits(root)
    assert after[changed] == before[changed] and removed not in after
    assert result.tally.copied == 1 and any("dropped" in m for m in messages)
    assert not (root / "data" / "en" / Path(removed).name).exists()


def test_wav_replaced_by_flac_of_the_same_name(tmp_path):
    root = project(tmp_path, speakers=2)
    run(root)
    old = root / "original/en" / name(SPEAKERS[0], "1", 1)
    old.unlink()
    tone(old.with_suffix(".flac"), seed=123)
    run(root, new_data=True)
    assert splits(root)[old.with_suffix(".flac").relative_to(root).as_posix()]
    assert (root / "data/en" / old.name).exists()
