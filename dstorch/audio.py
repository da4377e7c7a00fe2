"""The one audio format the client and our models take: 16 kHz mono 16-bit PCM WAV.

Torch- and scipy-free, so that transcribing a WAV that is already in this format needs
neither (converting anything else is dstorch.prepare.audio's job).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from dstorch.features import SAMPLE_RATE


def is_target_format(path: Path) -> bool:
    """Plain PCM WAV at 16 kHz mono 16-bit: what the client and our reader accept as is."""
    try:
        with wave.open(str(path), "rb") as w:  # rejects WAVE_FORMAT_EXTENSIBLE and floats
            return (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SAMPLE_RATE, 1, 2)
    except (wave.Error, EOFError, OSError):
        return False


def read_wav(path: Path) -> np.ndarray:
    """int16 samples [N] of a WAV in the target format."""
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)
