"""A small trainer configuration over the test clips, for the training tests."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
from conftest import FIXTURES_DIR

from dstorch.config import TrainConfig
from dstorch.datafiles import ALPHABET_FILE

CLIPS = FIXTURES_DIR / "clips"


def make_config(tmp_path: Path, **overrides) -> TrainConfig:
    """Two quick epochs of a 32-wide model on the CPU over the test clips (train and dev),
    its checkpoints in `tmp_path`/ck; `overrides` (field names) change any flag."""
    values = dict(
        train_files=str(CLIPS / "clips.csv"),
        dev_files=str(CLIPS / "clips.csv"),
        alphabet_config_path=str(CLIPS / ALPHABET_FILE),
        checkpoint_dir=str(tmp_path / "ck"),
        n_hidden=32,
        epochs=2,
        train_batch_size=1,
        dev_batch_size=4,
        random_seed=7,
        device="cpu",
    )
    return TrainConfig(**{**values, **overrides})


def write_wav(path: Path, pcm: np.ndarray, rate=16000, channels=1, width=2) -> Path:
    """`pcm` as a WAV file in any format (rate, channels, sample width in bytes)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path
