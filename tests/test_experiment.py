"""The generalisation experiment's data: held-out speakers are test-only."""

import csv
import shutil
from pathlib import Path

from dstorch.experiment import Outcome, format_outcomes, prepare_holdout, speakers

ROOT = Path(__file__).resolve().parent.parent


def test_held_out_speakers_never_reach_training(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    shutil.copytree(ROOT / "original", root / "original")
    shutil.copy(ROOT / "commands.csv", root)
    shutil.copy(ROOT / "configuration.env", root)
    _, data = prepare_holdout(root, tmp_path / "out", holdout=3, environ={})
    every = speakers(data / "registry.csv")
    held = set(every[-3:])
    with open(data / "registry.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["split"] for r in rows if r["speaker"] in held} == {"test"}
    assert {r["speaker"] for r in rows if r["split"] == "test"} == held
    assert len(every) == 10


def test_outcome_table_reports_the_difference():
    table = format_outcomes(
        [
            Outcome("no-augmentation", 0.25, 0.8, 0.5, 10.0),
            Outcome("augmentation", 0.5, 0.4, 0.2, 5.0),
        ]
    )
    assert "25.0%" in table and "50.0%" in table and "+25.0 points" in table
