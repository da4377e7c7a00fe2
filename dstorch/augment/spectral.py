"""Feature-domain augmentations on MFCC frames [T, 26] (before context windows).

DeepSpeech 0.9.3 has a spectrogram stage between signal and MFCCs; dstorch computes MFCCs in
one step (features.py), so `domain=spectrogram` means the MFCC frames here (same 20 ms frame
grid, so time masks line up) and `domain=signal` means the audio samples.

Masked values are set to the clip's per-coefficient mean, not 0: the model normalises MFCCs
itself, and a raw 0 is far from neutral (c0 of real speech is around -100 .. +100), while the
mean is what normalisation maps to 0, as SpecAugment's zero is on normalised features.
"""

from __future__ import annotations

import numpy as np

from dstorch.augment.params import AUDIO, FEATURES, Augmentation, Param
from dstorch.augment.waveform import zero_intervals

FRAME_MS = 20.0  # features.STEP_MS: one MFCC frame per 20 ms
DOMAINS = ("signal", "spectrogram", "features")


def _domain_param(default: str) -> Param:
    return Param("choice", default, choices=DOMAINS, doc="signal = audio; else MFCC frames")


class _Domained(Augmentation):
    """An augmentation whose `domain=` key chooses between audio and MFCC frames."""

    @property
    def domain(self) -> str:
        return AUDIO if self.values.get("domain") == "signal" else FEATURES


class TimeMask(_Domained):
    NAME = "time_mask"
    DOC = "mask random time intervals (frames, or samples with domain=signal)"
    PARAMS = {
        "domain": _domain_param("spectrogram"),
        "n": Param("int", "3", low=0, clamp=True, doc="number of masks"),
        "size": Param("float", "10.0", low=0.0, clamp=True, doc="ms per mask"),
    }

    def apply(self, data: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        n = self.pick("n", clock, rng)
        size_ms = lambda: self.pick("size", clock, rng)  # noqa: E731 - one per mask, as DeepSpeech
        if self.domain == AUDIO:
            return zero_intervals(data, n, size_ms, rng)
        out, fill = data.copy(), data.mean(axis=0)
        t = len(out)
        for _ in range(n if t >= 2 else 0):
            size = max(1, min(t - 1, int(size_ms() / FRAME_MS)))
            start = int(rng.integers(0, t - size))
            out[start : start + size] = fill
        return out


class FrequencyMask(Augmentation):
    NAME = "frequency_mask"
    DOMAIN = FEATURES
    DOC = "mask random bands of MFCC coefficients"
    PARAMS = {
        "n": Param("int", "3", low=0, clamp=True, doc="number of masks"),
        "size": Param("int", "2", low=0, clamp=True, doc="coefficients per mask"),
    }

    def apply(self, data: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        out, fill = data.copy(), data.mean(axis=0)
        n_coeff = out.shape[1]
        for _ in range(self.pick("n", clock, rng)):
            size = max(1, min(n_coeff - 1, self.pick("size", clock, rng)))
            start = int(rng.integers(0, n_coeff - size))
            out[:, start : start + size] = fill[start : start + size]
        return out


class Dropout(_Domained):
    NAME = "dropout"
    DOC = "drop random values (MFCC entries -> coefficient mean; samples -> 0)"
    PARAMS = {
        "domain": _domain_param("features"),
        "rate": Param(
            "float", "0.05", low=0.0, clamp=True, high=1.0, doc="fraction of values dropped"
        ),
    }

    def apply(self, data: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        rate = self.pick("rate", clock, rng)
        dropped = rng.random(data.shape) < rate
        fill = 0.0 if self.domain == AUDIO else np.broadcast_to(data.mean(axis=0), data.shape)
        return np.where(dropped, fill, data).astype(data.dtype)


class Add(_Domained):
    NAME = "add"
    DOC = "add gaussian noise N(0, stddev) to every value"
    PARAMS = {
        "domain": _domain_param("features"),
        "stddev": Param("float", "5", low=0.0, clamp=True, doc="noise standard deviation"),
    }

    def apply(self, data: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        stddev = self.pick("stddev", clock, rng)
        out = data + rng.normal(0.0, stddev, size=data.shape)
        return (np.clip(out, -1.0, 1.0) if self.domain == AUDIO else out).astype(data.dtype)


class Multiply(_Domained):
    NAME = "multiply"
    DOC = "multiply every value by gaussian noise N(1, stddev)"
    PARAMS = {
        "domain": _domain_param("features"),
        "stddev": Param("float", "5", low=0.0, clamp=True, doc="noise standard deviation"),
    }

    def apply(self, data: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        stddev = self.pick("stddev", clock, rng)
        out = data * rng.normal(1.0, stddev, size=data.shape)
        return (np.clip(out, -1.0, 1.0) if self.domain == AUDIO else out).astype(data.dtype)


FEATURE_AUGMENTATIONS: list[type[Augmentation]] = [TimeMask, FrequencyMask, Dropout, Add, Multiply]
