"""Fixtures of the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import random_model
from training_helpers import CLIPS

from dstorch.alphabet import Alphabet
from dstorch.config import TrainConfig
from dstorch.datafiles import ALPHABET_FILE, LM_CORPUS, REPORT_JSON
from dstorch.training import checkpoint as ckpt


@pytest.fixture
def checkpointed(tmp_path: Path) -> TrainConfig:
    """A saved (untrained) model over the fixture clips' alphabet, with a corpus beside it."""
    alphabet = Alphabet.from_file(CLIPS / ALPHABET_FILE)
    data = tmp_path / "data"
    data.mkdir()
    (data / LM_CORPUS).write_text("go\nno\nyes\nstop\ngo stop\n")
    (data / ALPHABET_FILE).write_bytes((CLIPS / ALPHABET_FILE).read_bytes())
    config = TrainConfig(
        dev_files=str(CLIPS / "clips.csv"),
        test_files=str(CLIPS / "clips.csv"),
        alphabet_config_path=str(data / ALPHABET_FILE),
        checkpoint_dir=str(tmp_path / "ck"),
        export_dir=str(tmp_path / "model"),
        export_file_name="m",
        test_output_file=str(tmp_path / "model" / REPORT_JSON),
        n_hidden=32,
        export_beam_width=16,
        device="cpu",
    )
    model = random_model(len(alphabet) + 1, seed=5, n_hidden=32)
    optimizer = torch.optim.Adam(model.parameters())
    ckpt.save(config.save_dir, config, alphabet, model, optimizer, ckpt.TrainState(), best=True)
    return config
