"""An exponential moving average of the model's weights (Polyak averaging, `--ema_decay`).

Why: trained on a few hundred clips, the weights swing from one step to the next, and so
does what the model does with a voice it never heard. The average of the recent steps sits
in a flatter place: it varies less from seed to seed and from epoch to epoch, and the dev
loss that picks best.pt is measured on it. Training itself goes on with the raw weights;
the dev loss, best.pt, the test report and every export use the average.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

WARMUP = 10  # early on the average follows closely: decay (1 + n) / (WARMUP + n) after n updates


class WeightAverage:
    """A shadow copy of the floating-point tensors of a model's state dict."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = {
            name: tensor.detach().clone()
            for name, tensor in model.state_dict().items()
            if tensor.is_floating_point()
        }

    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current weights in; call after every optimizer step."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (WARMUP + self.updates))
        with torch.no_grad():
            for name, tensor in model.state_dict().items():
                if name in self.shadow:
                    self.shadow[name].lerp_(tensor.to(self.shadow[name].dtype), 1.0 - decay)

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        """The model holds the averaged weights inside the block, its own ones after."""
        raw = {name: model.state_dict()[name].clone() for name in self.shadow}
        model.load_state_dict(self.shadow, strict=False)
        try:
            yield
        finally:
            model.load_state_dict(raw, strict=False)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "weights": self.shadow}

    def load_state_dict(self, state: dict) -> None:
        self.updates = int(state["updates"])
        for name, tensor in state["weights"].items():
            self.shadow[name].copy_(tensor)


def averaged_weights(payload: dict) -> dict:
    """The weights a checkpoint payload's model is used with: the average when training
    kept one, else the raw ones."""
    weights = dict(payload["model"])
    weights.update(payload.get("ema", {}).get("weights", {}))
    return weights
