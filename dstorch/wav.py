"""The one audio format the client and our models take: 16 kHz mono 16-bit PCM WAV.

Torch- and scipy-free, so that transcribing a WAV that is already in this format needs
neither (converting anything else is dstorch.prepare.convert's job).
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from dstorch.alphabet import DataError
from dstorch.features import SAMPLE_RATE

TARGET_FORMAT = (SAMPLE_RATE, 1, 2)  # (Hz, channels, bytes per sample)
# sox's output options for TARGET_FORMAT, signed PCM (before the output file name)
SOX_TARGET = (
    "-r",
    str(TARGET_FORMAT[0]),
    "-c",
    str(TARGET_FORMAT[1]),
    "-b",
    str(8 * TARGET_FORMAT[2]),
    "-e",
    "signed-integer",
)


def _open_wav(path: Path, header_only: bool) -> tuple[tuple[int, int, int], bytes]:
    """((Hz, channels, bytes per sample), PCM bytes, b"" if header_only); DataError when
    the file is missing or no readable WAV (wave rejects WAVE_FORMAT_EXTENSIBLE, floats)."""
    try:
        with wave.open(str(path), "rb") as w:
            fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            return fmt, b"" if header_only else w.readframes(w.getnframes())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the CSV paths") from None
    except (wave.Error, EOFError) as e:
        raise DataError(f"{path}: not a readable WAV ({e}); convert it to 16-bit PCM") from None


def is_target_format(path: Path) -> bool:
    """Plain PCM WAV at 16 kHz mono 16-bit: what the client and read_wav accept as is."""
    try:
        return _open_wav(path, header_only=True)[0] == TARGET_FORMAT
    except (DataError, OSError):
        return False


def check_wav(path: str | Path, header_only: bool = True) -> bytes:
    """DataError (naming the file and the fix) unless `path` is 16 kHz mono 16-bit PCM;
    -> its PCM bytes, or b"" when header_only."""
    (rate, channels, width), raw = _open_wav(Path(path), header_only)
    if (rate, channels, width) != TARGET_FORMAT:
        raise DataError(
            f"{path}: {rate} Hz, {channels} channel(s), {8 * width}-bit; DeepSpeech needs "
            f"{SAMPLE_RATE} Hz mono 16-bit (fix: sox in.wav -r {SAMPLE_RATE} -c 1 -b 16 out.wav)"
        )
    return raw


def read_wav(path: str | Path) -> np.ndarray:
    """int16 samples [N] of a 16 kHz mono 16-bit PCM WAV; DataError for any other file."""
    return np.frombuffer(check_wav(path, header_only=False), dtype="<i2").astype(np.int16)
