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


def test_resume_falls_back_to_best_when_every_last_is_unreadable(tmp_path):
    save_steps(tmp_path, 3, range(1, 4))
    (tmp_path / "last-000000003.pt").replace(tmp_path / ckpt.BEST)  # step 3 is the best
    for path in ckpt.last_checkpoints(tmp_path):
        path.write_bytes(path.read_bytes()[:500])  # each one half-written
    warnings = []
    payload = ckpt.load_resume(tmp_path, warn=warnings.append)
    assert payload["path"] == str(tmp_path / ckpt.BEST) and payload["state"]["step"] == 3
    assert "every last-*.pt is unreadable" in warnings[-1]


def test_resume_refuses_when_no_checkpoint_can_be_read(tmp_path):
    assert ckpt.load_resume(tmp_path) is None  # an empty folder: a fresh start
    save_steps(tmp_path, 2, range(1, 3))
    for path in ckpt.last_checkpoints(tmp_path):
        path.write_bytes(b"garbage")
    (tmp_path / ckpt.BEST).write_bytes(b"garbage")
    with pytest.raises(ckpt.CheckpointError) as error:
        ckpt.load_resume(tmp_path, warn=lambda _: None)
    message = str(error.value)
    assert "last-000000002.pt" in message and "best.pt" in message
    assert "LOAD_FROM_CHECKPOINT=no" in message and "\n" not in message


def test_export_needs_a_finite_best_checkpoint(tmp_path):
    save_steps(tmp_path, 1, [1])  # a last-*.pt only: no epoch ended with a dev loss
    with pytest.raises(ckpt.CheckpointError, match="has no best.pt"):
        ckpt.load_for_inference(tmp_path, finite=True)
    payload = ckpt.read(ckpt.last_checkpoints(tmp_path)[0])
    payload["state"]["best_dev_loss"] = 3.5
    payload["model"]["layer_6.bias"][0] = float("nan")  # what a diverged step leaves
    torch.save(payload, tmp_path / ckpt.BEST)
    with pytest.raises(ckpt.CheckpointError, match="not finite.*nan/inf in layer_6.bias"):
        ckpt.load_for_inference(tmp_path, finite=True)
    ckpt.load_for_inference(tmp_path)  # transcribing it by hand stays possible
