"""Shared helpers for the runner tests (tests/runner/): projects from the clip
fixtures, small and fast settings, waiting, reading configuration.env back."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from dstorch.config import ENV_FILE, PipelineConfig
from dstorch.datafiles import ALPHABET_FILE, SPLIT_CSVS
from dstorch.runner.base import set_env_value

ROOT = Path(__file__).resolve().parent.parent
CLIPS = Path(__file__).parent / "fixtures" / "clips"
# Small and fast: a few seconds per run on one CPU core.
FAST = {
    "N_HIDDEN": "16",
    "TRAIN_BATCH_SIZE": "2",
    "DEV_BATCH_SIZE": "8",
    "TEST_BATCH_SIZE": "8",
    "EXPORT_BEAM_WIDTH": "10",
    "MAX_EPOCH": "2",
    # The fixture data/ has no speech sets (prepare writes them).
    "GENERAL_SENTENCES": "0",
    "NEAR_MISSES": "0",
}
# What every export holds; commands.scorer joins them where KenLM is available.
EXPORTS = {"commands.pb", "commands.pbmm", "alphabet.txt", "report.json", "report.html"}
REPORT_PLOTS = {"report-loss.png", "report-accuracy.png", "report-confusion.png"}


def clear_config_environment(monkeypatch) -> None:
    """Unset every configuration key (the body of each file's autouse `clean_environment`)."""
    for key in PipelineConfig.keys():
        monkeypatch.delenv(f"DSTORCH_{key}", raising=False)


def make_project(root: Path, **settings: str) -> Path:
    """A project folder: configuration.env (+ settings) and data/ from the clip fixtures."""
    data = root / "data"
    data.mkdir(parents=True)
    for wav in CLIPS.glob("*.wav"):
        shutil.copy(wav, data / wav.name)
    shutil.copy(CLIPS / ALPHABET_FILE, data / ALPHABET_FILE)
    for name in SPLIT_CSVS.values():
        shutil.copy(CLIPS / "clips.csv", data / name)
    shutil.copy(ROOT / ENV_FILE, root / ENV_FILE)
    for key, value in {**FAST, **settings}.items():
        set_env_value(root / ENV_FILE, key, value)
    return root


def load(root: Path) -> PipelineConfig:
    return PipelineConfig.load(root / ENV_FILE)


def wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def env_value(root: Path, key: str) -> str:
    lines = (root / ENV_FILE).read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith(f"{key}="))
