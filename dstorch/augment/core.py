"""Applying augmentations reproducibly: per-sample random streams, the training clock,
and train-time features for (epoch, pass, sample).

Every random choice for one augmented copy of a sample comes from
`rng_for(seed, epoch, sample_index, pass_index)`, so a run resumed mid-epoch redoes exactly
the augmentation the uninterrupted run would have done, whatever was computed before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dstorch.augment.params import AUDIO, FEATURES, Augmentation
from dstorch.features import PCM_SCALE, audio_features, context_windows
from dstorch.wav import read_wav

# Separates this stream from other users of the same seed (batch order, dropout, init).
STREAM_TAG = 0xA06


def rng_for(
    seed: int, epoch: int, sample_index: int, pass_index: int = 0, view: int = 0
) -> np.random.Generator:
    """The generator for one augmented copy of one sample.

    seed: the run's random seed; epoch: 0-based; sample_index: position of the sample in the
    training set (stable CSV order); pass_index: 0 .. augmentations_per_epoch - 1; view: 0,
    or 1 for the second view of the copy (--consistency_weight), whose own draws come from
    this stream.
    """
    words = [
        STREAM_TAG,
        seed & 0xFFFFFFFF,
        seed >> 32 & 0xFFFFFFFF,
        epoch,
        pass_index,
        sample_index,
    ]
    # View 0 keeps the words it always had, so runs without views augment as before.
    return np.random.default_rng(np.random.SeedSequence(words + [view] if view else words))


def clock_for(epoch: int, epochs: int, position: int, per_epoch: int) -> float:
    """Training clock in [0, 1]: 0 at the start of training, 1 at its end.

    As in DeepSpeech it advances within an epoch too: `position` of `per_epoch` steps
    (batches or samples) done. Depends on counters only, so it is resume-exact.
    """
    done = epoch + position / max(per_epoch, 1)
    return min(1.0, max(0.0, done / max(epochs, 1)))


def _child(rng: np.random.Generator) -> np.random.Generator:
    """An independent generator for one augmentation. The parent gives exactly one draw per
    augmentation whether or not it applies, so later augmentations' streams don't shift."""
    return np.random.default_rng(int(rng.integers(0, 2**63)))


class Draws:
    """Where one augmented copy's random choices come from: the copy's stream, and for a
    second view of it (--consistency_weight) a stream of its own. Both give exactly one draw
    per augmentation, so the streams stay in step whatever applies."""

    def __init__(self, copy: np.random.Generator, view: np.random.Generator | None = None):
        self.copy = copy
        self.view = view

    def child(self, augmentation: Augmentation) -> np.random.Generator:
        """The generator for `augmentation`: a view redraws everything but what changes the
        duration (tempo), so its frames line up with the first view's."""
        shared = _child(self.copy)
        own = _child(self.view) if self.view is not None else shared
        return own if augmentation.KEEPS_LENGTH else shared


class Augmenter:
    """Applies parsed augmentations in their given order, each with probability p."""

    def __init__(self, augmentations: list[Augmentation], seed: int = 0):
        self.augmentations = list(augmentations)
        self.seed = seed
        self.audio = [a for a in self.augmentations if a.domain == AUDIO]
        self.features = [a for a in self.augmentations if a.domain == FEATURES]

    @property
    def has_audio(self) -> bool:
        return bool(self.audio)

    @property
    def has_features(self) -> bool:
        return bool(self.features)

    def __bool__(self) -> bool:
        return bool(self.augmentations)

    def rng(self, epoch: int, sample_index: int, pass_index: int = 0, view: int = 0) -> Draws:
        """The draws of one copy; a second view shares the copy's stream for augmentations
        that change the duration and draws the others from its own."""
        own = rng_for(self.seed, epoch, sample_index, pass_index, view) if view else None
        return Draws(rng_for(self.seed, epoch, sample_index, pass_index), own)

    @staticmethod
    def _run(chain: list[Augmentation], data, clock: float, rng: np.random.Generator | Draws):
        draws = rng if isinstance(rng, Draws) else Draws(rng)
        for augmentation in chain:
            sub = draws.child(augmentation)
            if sub.random() < augmentation.p:
                data = augmentation.apply(data, clock, sub)
        return data

    def apply_audio(
        self, samples: np.ndarray, clock: float, rng: np.random.Generator | Draws
    ) -> np.ndarray:
        """samples: [N] float in [-1, 1] at 16 kHz -> [N'] float32 (N' != N only for tempo)."""
        out = self._run(self.audio, np.asarray(samples, dtype=np.float64), clock, rng)
        return np.clip(out, -1.0, 1.0).astype(np.float32)

    def apply_features(
        self, mfcc: np.ndarray, clock: float, rng: np.random.Generator | Draws
    ) -> np.ndarray:
        """mfcc: [T, 26] float -> [T, 26] float32. Call after apply_audio with the same rng."""
        return self._run(self.features, np.asarray(mfcc, dtype=np.float32), clock, rng).astype(
            np.float32
        )


def quantize(samples: np.ndarray) -> np.ndarray:
    """Float samples -> int16 as the client would receive them. [N] -> [N] int16"""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


class AugmentedFeatures:
    """Train-time features with augmentation: the counterpart of data.FeatureCache.

    Caches what does not change (the clip's audio, its plain MFCCs); the augmented result is
    recomputed for every (epoch, pass), so each pass sees fresh augmentation.
    """

    def __init__(self, augmenter: Augmenter):
        self.augmenter = augmenter
        self._audio: dict[Path, np.ndarray] = {}
        self._mfcc: dict[Path, np.ndarray] = {}

    def _plain_audio(self, wav: Path) -> np.ndarray:
        if wav not in self._audio:
            self._audio[wav] = read_wav(wav)
        return self._audio[wav]

    def mfcc(self, wav: Path, clock: float, rng: np.random.Generator | Draws) -> np.ndarray:
        """Augmented MFCC frames of one clip. -> [T', 26] float32"""
        if self.augmenter.has_audio:
            samples = self._plain_audio(wav).astype(np.float64) * PCM_SCALE
            # Quantise like the client's int16 input so training sees reachable features.
            mfcc = audio_features(quantize(self.augmenter.apply_audio(samples, clock, rng)))
        else:
            if wav not in self._mfcc:
                self._mfcc[wav] = audio_features(self._plain_audio(wav))
            mfcc = self._mfcc[wav]
        return (
            self.augmenter.apply_features(mfcc, clock, rng) if self.augmenter.has_features else mfcc
        )

    def __call__(
        self,
        wav: Path,
        epoch: int,
        sample_index: int,
        pass_index: int,
        clock: float,
        view: int = 0,
    ) -> np.ndarray:
        """-> [T', CONTEXT_FRAMES, N_MFCC] float32, deterministic in all arguments."""
        draws = self.augmenter.rng(epoch, sample_index, pass_index, view)
        return context_windows(self.mfcc(Path(wav), clock, draws))
