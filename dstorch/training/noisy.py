"""The test set in a real room: each clip through a simulated room with noise at 20, 10 and
5 dB SNR, decoded as the clean test set is (report.json's "noisy" section).

Rooms and babble come from the evaluation banks (augment.environment.EVAL_SEED), never the
ones training draws from. It runs at the end of every training job, so it stays cheap: at
most MAX_SAMPLES test clips, one acoustic forward per clip and condition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from dstorch.augment import AugmentedFeatures, Augmenter, parse_augmentations
from dstorch.augment.environment import EVAL_SEED, condition_name, condition_specs
from dstorch.training.evaluate import NoisyFigures, forward_all

if TYPE_CHECKING:
    import torch

    from dstorch.model import DeepSpeech
    from dstorch.training.data import Sample

SNRS = (20.0, 10.0, 5.0)
MAX_SAMPLES = 100  # evenly spread over the test set when it is larger


def spread(samples: list[Sample], limit: int = MAX_SAMPLES) -> list[Sample]:
    """At most `limit` samples, evenly spaced over the list (all when it is shorter)."""
    if len(samples) <= limit:
        return list(samples)
    return [samples[int(i)] for i in np.linspace(0, len(samples) - 1, limit)]


def noisy_figures(
    model: DeepSpeech,
    samples: list[Sample],
    decoders: dict[str, Callable[[np.ndarray], str]],
    batch_size: int,
    device: torch.device,
) -> list[NoisyFigures]:
    """Per SNR, which samples each decoder (log_probs [T, C] -> text) gets exactly."""
    chosen = spread(samples)
    index = {id(s): i for i, s in enumerate(chosen)}
    out = []
    for snr in SNRS:
        augmenter = Augmenter(parse_augmentations(condition_specs(snr)), EVAL_SEED)
        features = AugmentedFeatures(augmenter)
        # Clip i gets the same room and noise in every run: epoch 0, pass 0, clock 0.
        outputs = forward_all(
            model,
            chosen,
            lambda s, f=features: f(s.wav, 0, index[id(s)], 0, 0.0),
            batch_size,
            device,
            desc=f"Test, {condition_name(snr)}",
        )
        exact = {
            name: {str(o.sample.wav): decode(o.log_probs) == o.sample.transcript for o in outputs}
            for name, decode in decoders.items()
        }
        out.append(NoisyFigures(condition_name(snr), snr, exact))
    return out
