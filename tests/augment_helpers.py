"""Shared helpers for the augmentation tests (tests/test_augment_*.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from dstorch.augment import Augmenter, parse_augmentations

RATE = 16000


def voice(seconds: float = 1.0, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    """A speech-like test clip: harmonics of f0 up to 7 kHz, a syllable envelope, some noise.

    -> [seconds * 16000] float64, peak 0.5
    """
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, int(7000 / f0)))
    envelope = 0.55 - 0.45 * np.cos(2 * np.pi * 3 * t)
    noise = np.random.default_rng(seed).normal(0, 0.05, len(t))
    clip = tone * envelope + noise
    return 0.5 * clip / np.abs(clip).max()


FEATURE_SPECS = {
    "time_mask": "time_mask[n=2,size=60]",
    "time_mask-features": "time_mask[domain=features,n=1:3,size=40~20]",
    "frequency_mask": "frequency_mask[n=2,size=3]",
    "dropout": "dropout[rate=0.2]",
    "add": "add[stddev=2]",
    "multiply": "multiply[stddev=0.2]",
}


def run_audio(spec: str, seed: int = 0, clock: float = 0.5, audio=None) -> np.ndarray:
    augmenter = Augmenter(parse_augmentations([spec]))
    audio = voice() if audio is None else audio
    return augmenter.apply_audio(audio, clock, np.random.default_rng(seed))


def run_features(spec: str, mfcc: np.ndarray, seed: int = 0) -> np.ndarray:
    augmenter = Augmenter(parse_augmentations([spec]))
    return augmenter.apply_features(mfcc, 0.5, np.random.default_rng(seed))


def voice_wav(folder: Path) -> Path:
    """`voice()` written as folder/clip.wav, 16 kHz 16-bit PCM (the tests' `wav` fixture)."""
    path = folder / "clip.wav"
    soundfile.write(path, voice(), RATE, subtype="PCM_16")
    return path
