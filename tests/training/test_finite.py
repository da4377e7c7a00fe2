"""A loss or weights that stopped being finite: one line naming the cause and the key to
lower (dstorch.training.finite); the end-to-end run is in test_loop.py."""

from __future__ import annotations

import pytest
import torch

from dstorch.config import TrainConfig
from dstorch.training.checkpoint import TrainState
from dstorch.training.finite import TrainingDiverged, check_finite, check_weights


def test_a_finite_loss_passes_and_nan_names_the_key_to_lower():
    state = TrainState(epoch=2, learning_rate=0.5)
    check_finite(3.0, "dev loss", TrainConfig(), state)
    with pytest.raises(TrainingDiverged) as error:
        check_finite(float("inf"), "dev loss", TrainConfig(), state)
    assert str(error.value).startswith("training diverged: the dev loss became inf in epoch 3")
    assert "LEARNING_RATE=0.5; lower LEARNING_RATE" in str(error.value)
    tuning = TrainConfig(initialize_from_frozen_model="base.pbmm")
    with pytest.raises(TrainingDiverged, match="lower FINE_TUNE_LEARNING_RATE"):
        check_finite(float("nan"), "training loss", tuning, state)


def test_weights_that_are_no_longer_finite_are_refused():
    model = torch.nn.Linear(2, 2)
    check_weights(model, TrainConfig(), TrainState())
    with torch.no_grad():
        model.bias[1] = float("nan")
    with pytest.raises(TrainingDiverged, match="the weights became nan"):
        check_weights(model, TrainConfig(), TrainState())
