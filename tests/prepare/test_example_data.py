"""Example data: deterministic synthetic speech (espeak-ng and sox)."""

from __future__ import annotations

import shutil

import pytest
from pipeline_helpers import run


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox"
)
def test_example_data_is_deterministic_speech(tmp_path):
    from dstorch.prepare.example_data import make_example_data

    commands = {"1": "stop", "2": "play music"}
    first = make_example_data(tmp_path / "a", commands=commands, voices=3)
    second = make_example_data(tmp_path / "b", commands=commands, voices=3)
    assert [p.name for p in first] == [p.name for p in second] and len(first) == 6
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))
    assert len({p.name.split("_")[1] for p in first}) == 3  # one speaker hash per voice
    result = run(tmp_path / "a")
    assert result.tally.splits["train"] >= 2 and not result.tally.problems
