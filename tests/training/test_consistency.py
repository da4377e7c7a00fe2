"""Consistency between two views of a clip (--consistency_weight)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_helpers import make_config

from dstorch.training.consistency import Views, symmetric_kl, with_second_views
from dstorch.training.data import Sample
from dstorch.training.loop import setup, train


def log_probs(seed: int, shape=(2, 5, 4)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).log_softmax(-1)


def test_second_views_follow_their_clips():
    samples = [Sample(Path(f"{i}.wav"), "a", [0], index=i) for i in range(3)]
    views = with_second_views(samples)
    assert [s.view for s in views] == [0, 0, 0, 1, 1, 1]
    assert [s.index for s in views] == [0, 1, 2, 0, 1, 2]


def test_symmetric_kl_is_zero_for_equal_views_and_counts_only_real_frames():
    same = log_probs(0)
    lengths = torch.tensor([5, 3, 5, 3])
    assert torch.allclose(symmetric_kl(torch.cat([same, same]), lengths), torch.zeros(2))
    other = torch.cat([same, log_probs(1)])
    full = symmetric_kl(other, lengths)
    assert (full > 0).all()
    # Frames past a clip's length change nothing.
    padded = other.clone()
    padded[[1, 3], 3:] = log_probs(2)[:2, :2]
    assert torch.allclose(symmetric_kl(padded, lengths), full)


def test_each_view_is_pulled_towards_the_other_not_the_reverse():
    """The target of each KL direction is detached (CR-CTC): the gradient of view 0's
    outputs comes only from KL(sg(p1) || p0)."""
    first, second = log_probs(0, (1, 4, 3)), log_probs(1, (1, 4, 3))
    x = torch.cat([first, second]).requires_grad_(True)
    symmetric_kl(x, torch.tensor([4, 4])).sum().backward()
    target, q = second.exp(), first.exp()
    # d/d(log q) of 0.5 * sum p (log p - log q), through log_softmax's free logits: 0.5 (q - p)
    expected = 0.5 * (-target)
    assert torch.allclose(x.grad[0], expected, atol=1e-6)
    assert torch.isfinite(x.grad).all() and q.shape == target.shape


def test_views_train_each_clip_once_without_weight_and_twice_with_it():
    clips = [Sample(Path(f"{i}.wav"), "a", [0], index=i) for i in range(2)]
    ctc, lengths = torch.tensor([2.0, 4.0]), torch.tensor([5, 5])
    assert Views(0.0).samples(clips) == clips
    assert Views(0.0).losses(ctc, log_probs(0), lengths) == (ctc, ctc)
    assert len(Views(0.5).samples(clips)) == 4
    pairs = torch.tensor([2.0, 4.0, 6.0, 8.0])
    both = torch.cat([log_probs(0), log_probs(1)])  # 5 frames each
    lengths = torch.tensor([5, 5, 5, 5])
    mean, objective = Views(0.5).losses(pairs, both, lengths)
    assert torch.equal(mean, torch.tensor([4.0, 6.0])) and (objective > mean).all()
    torch.testing.assert_close(objective, mean + 0.5 * symmetric_kl(both, lengths))


@pytest.mark.parametrize("weight", [0.0, 0.3])
def test_training_with_two_views_reduces_the_loss(tmp_path, weight):
    config = make_config(
        tmp_path,
        epochs=3,
        consistency_weight=weight,
        augment=["volume[p=0.5,dbfs=-30:-10]", "frequency_mask[p=0.5,n=1,size=2]"],
    )
    history = train(config).state.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_without_augmentation_a_clip_is_trained_once(tmp_path):
    """Both views would be the same clip: twice the work for a term that is always 0."""
    augment = ["volume[p=0.5,dbfs=-30:-10]"]
    assert setup(make_config(tmp_path / "a", consistency_weight=0.5, augment=augment)).views.weight
    assert not setup(make_config(tmp_path / "b", consistency_weight=0.5, augment=[])).views.weight
