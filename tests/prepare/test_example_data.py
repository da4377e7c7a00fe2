"""Example data: deterministic synthetic speech (espeak-ng and sox)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
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


def test_sets_are_named_and_the_confusable_one_has_commands_one_word_apart():
    from dstorch.prepare.example_data import COMMANDS, EXAMPLES, example_commands

    assert example_commands("simple") == COMMANDS
    confusable = set(example_commands("confusable").values())
    assert len(confusable) >= 12 and set(EXAMPLES) == {"simple", "confusable"}
    for pair in (("turn on the light", "turn off the light"), ("call mark", "call mike")):
        assert set(pair) <= confusable
    assert {"ok mirror", "hello mirror", "mirror", "volume up", "volume down"} <= confusable
    with pytest.raises(ValueError, match="unknown example 'fancy'; use one of: simple"):
        example_commands("fancy")


@pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox"
)
def test_switching_sets_leaves_no_recordings_of_the_other(tmp_path):
    """make example-data EXAMPLE=confusable, then the simple set again: only the simple
    set's takes remain, and the script takes the confusable files for its own."""
    root = tmp_path / "root"
    script = [sys.executable, str(ROOT / "scripts" / "make_example_data.py"), "--root", str(root)]
    env = {**os.environ, "DSTORCH_EXAMPLE": "confusable"}
    subprocess.run([*script, "--voices", "1"], check=True, capture_output=True, env=env)
    assert "call mike" in (root / "commands.csv").read_text()
    assert len(list((root / "original" / "en").glob("*.wav"))) == 12
    subprocess.run([*script, "--voices", "1", "--example", "simple"], check=True)
    assert len(list((root / "original" / "en").glob("*.wav"))) == 6
    assert "call mike" not in (root / "commands.csv").read_text()
    bad = subprocess.run([*script, "--example", "fancy"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown example 'fancy'" in bad.stderr
