"""Checkpoints: what is kept (MAX_TO_KEEP), and that loading never runs code."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from conftest import FIXTURES_DIR

from dstorch.alphabet import Alphabet
from dstorch.config import TrainConfig
from dstorch.model import DeepSpeech
from dstorch.training import checkpoint as ckpt

CLIPS = FIXTURES_DIR / "clips"


def save_steps(tmp_path: Path, max_to_keep: int, steps: range) -> list[str]:
    alphabet = Alphabet.from_file(CLIPS / "alphabet.txt")
    config = TrainConfig(checkpoint_dir=str(tmp_path), n_hidden=8, max_to_keep=max_to_keep)
    model = DeepSpeech(len(alphabet) + 1, n_hidden=8)
    optimizer = torch.optim.Adam(model.parameters())
    for step in steps:
        written = ckpt.save(
            tmp_path, config, alphabet, model, optimizer, ckpt.TrainState(step=step)
        )
        assert written.exists(), "the checkpoint just written was pruned"
    return [p.name for p in ckpt.last_checkpoints(tmp_path)]


def test_max_to_keep_zero_keeps_every_checkpoint(tmp_path):
    # DeepSpeech's semantics: 0 keeps all (it used to delete all, the new one included).
    assert len(save_steps(tmp_path, 0, range(1, 5))) == 4


def test_max_to_keep_prunes_the_oldest(tmp_path):
    assert save_steps(tmp_path, 2, range(1, 5)) == ["last-000000004.pt", "last-000000003.pt"]


def test_a_step_saved_again_is_never_pruned(tmp_path):
    # A stop right after a periodic save writes the same step again; it must survive.
    assert save_steps(tmp_path, 1, [3, 3]) == ["last-000000003.pt"]


class Planted:
    """A pickle that runs code when unpickled (what a crafted `--model x.pt` could do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def test_loading_never_unpickles_objects(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "model": Planted(marker)}, path, pickle_protocol=2)
    with pytest.raises(ckpt.CheckpointError, match="refusing to load"):
        ckpt.load_for_inference(path)
    assert not marker.exists()
    assert pickle.loads(pickle.dumps(Planted(marker))) is not None and marker.exists()


def test_saved_checkpoints_load_with_weights_only_and_restore_rng(tmp_path):
    save_steps(tmp_path, 1, [1])
    payload = torch.load(ckpt.last_checkpoints(tmp_path)[0], weights_only=True)
    ckpt.restore_rng(payload["rng"])
    model, alphabet, config = ckpt.load_for_inference(tmp_path)
    assert config.n_hidden == 8 and len(alphabet) + 1 == model.layer_6.out_features
