"""Clips in a real room, the same every time: the test set through a simulated room with
noise at 20, 10 and 5 dB SNR, decoded as the clean test set is (report.json's "noisy"
section); and the dev set in the rooms --dev_snrs asks for.

Test rooms and babble come from the evaluation banks (augment.environment.EVAL_SEED), the dev
set's from DEV_SEED's: neither is a bank training draws from, and choosing best.pt never
sees the rooms the model is judged in. The noisy test runs at the end of every training
job, so it stays cheap: at most MAX_SAMPLES test clips, one acoustic forward per clip and
condition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from dstorch.augment import AugmentedFeatures, Augmenter, parse_augmentations
from dstorch.augment.environment import DEV_SEED, EVAL_SEED, condition_name, condition_specs
from dstorch.features import context_windows
from dstorch.training.evaluate import forward_all
from dstorch.training.report_schema import NoisyFigures

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


def in_condition(samples: list[Sample], snr: float, seed: int = EVAL_SEED) -> Callable:
    """Features of `samples` in a room with noise at `snr` dB from bank `seed`: sample i of
    the list gets draw i, the same in every run and call (MFCCs computed once, then kept).
    -> features(sample) -> [T, CONTEXT_FRAMES, N_MFCC] float32"""
    augmenter = Augmenter(parse_augmentations(condition_specs(snr, seed)), seed)
    augmented = AugmentedFeatures(augmenter)
    index = {id(s): i for i, s in enumerate(samples)}
    kept: dict[int, np.ndarray] = {}

    def features(sample: Sample) -> np.ndarray:
        key = id(sample)
        if key not in kept:
            # Epoch 0, pass 0, clock 0: the same draw whenever it is asked for. The MFCCs
            # [T, N_MFCC] are kept: 19 times smaller than the windows.
            kept[key] = augmented.mfcc(sample.wav, 0.0, augmenter.rng(0, index[key]))
        return context_windows(kept[key])

    return features


def dev_conditions(samples: list[Sample], snrs: list[float]) -> list[Callable]:
    """The dev set in a room with noise at each of `snrs` dB, from the dev bank."""
    return [in_condition(samples, snr, DEV_SEED) for snr in snrs]


def noisy_figures(
    model: DeepSpeech,
    samples: list[Sample],
    decoders: dict[str, Callable[[np.ndarray], str]],
    batch_size: int,
    device: torch.device,
) -> list[NoisyFigures]:
    """Per SNR, which samples each decoder (log_probs [T, C] -> text) gets exactly."""
    chosen = spread(samples)
    out = []
    for snr in SNRS:
        features = in_condition(chosen, snr)
        desc = f"Test, {condition_name(snr)}"
        outputs = forward_all(model, chosen, features, batch_size, device, desc=desc)
        exact = {
            name: {str(o.sample.wav): decode(o.log_probs) == o.sample.transcript for o in outputs}
            for name, decode in decoders.items()
        }
        out.append(NoisyFigures(condition_name(snr), snr, exact))
    return out
