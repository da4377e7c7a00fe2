"""A run whose loss or weights stopped being finite (too high a learning rate): stop it
with one line naming the cause and the fix, before anything non-finite is saved."""

from __future__ import annotations

import math

import torch

from dstorch.config import TrainConfig
from dstorch.errors import DstorchError
from dstorch.training.checkpoint import TrainState


class TrainingDiverged(DstorchError, ValueError):
    """The loss became NaN or infinite: the weights are lost, nothing after it is saved."""


def check_finite(loss: float, what: str, config: TrainConfig, state: TrainState) -> None:
    """TrainingDiverged, one line naming the cause and the fix, when `loss` is not finite.
    Called before anything is saved, so every checkpoint on disk keeps finite weights."""
    if math.isfinite(loss):
        return
    key = "FINE_TUNE_LEARNING_RATE" if config.initialize_from_frozen_model else "LEARNING_RATE"
    raise TrainingDiverged(
        f"training diverged: the {what} became {loss} in epoch {state.epoch + 1} with "
        f"{key}={state.learning_rate:g}; lower {key} (--learning_rate) and start over "
        "with LOAD_FROM_CHECKPOINT=no"
    )


def check_weights(model: torch.nn.Module, config: TrainConfig, state: TrainState) -> None:
    """TrainingDiverged when a weight is NaN or infinite: a step's loss can still be finite
    when its update already broke the weights."""
    if not all(p.isfinite().all() for p in model.parameters()):
        check_finite(float("nan"), "weights", config, state)
