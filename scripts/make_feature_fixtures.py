"""Regenerate tests/fixtures/features/*.npz: golden MFCCs from TensorFlow's own kernels.

A test-time tool only, NOT a dstorch dependency. It needs, in a scratch environment
outside the project venv:

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu numpy
    /tmp/tfvenv/bin/python scripts/make_feature_fixtures.py

plus `espeak-ng` and `sox` on PATH for the speech clip. The DeepSpeech 0.9.3 client
computes features with the same `AudioSpectrogram` and `Mfcc` kernels (its graph runs
them one 512-sample window at a time), so `tf.raw_ops` gives the reference numbers.
The client's buffering is re-implemented here from native_client/deepspeech.cc, on
purpose independently of dstorch.features, so the fixture checks the framing too.

Each .npz holds `pcm` (int16 [N]) and `mfcc` (float32 [frames, 26]).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

WINDOW, STEP, RATE = 512, 320, 16000
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "features"
SPEECH_TEXT = "hello world, this is a test of speech"


def speech_clip() -> np.ndarray:
    """espeak-ng speech resampled with sox to 16 kHz mono 16-bit."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, wav = Path(tmp) / "raw.wav", Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-w", str(raw), SPEECH_TEXT], check=True)
        resample = ["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(wav)]
        subprocess.run(resample, check=True)
        with wave.open(str(wav), "rb") as w:
            return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)


def clips() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20201210)
    return {
        "speech": speech_clip(),
        # 17,777 samples: not a whole number of steps, several context batches.
        "noise": (rng.standard_normal(17777) * 2500).clip(-32768, 32767).astype(np.int16),
        "silence": np.zeros(8000, dtype=np.int16),
        # Shorter than one window: the client only ever runs the zero-padded tail window.
        "short": (rng.standard_normal(300) * 4000).astype(np.int16),
    }


def client_windows(pcm: np.ndarray) -> list[np.ndarray]:
    """The 512-sample float32 windows StreamingState feeds to `input_samples`."""
    buffer, windows = [], []
    scale = np.float32(1.0 / (1 << 15))  # int16 -> float32 exactly as the client does
    for sample in pcm:
        buffer.append(np.float32(sample) * scale)
        if len(buffer) == WINDOW:
            windows.append(np.array(buffer, dtype=np.float32))
            buffer = buffer[STEP:]
    # finalizeStream: whatever is left (possibly nothing) zero-padded to one window.
    tail = np.zeros(WINDOW, dtype=np.float32)
    tail[: len(buffer)] = buffer
    windows.append(tail)
    return windows


def tf_mfcc(windows: list[np.ndarray]) -> np.ndarray:
    """-> [len(windows), 26] float32 via the same ops and attrs as the exported graph."""
    import tensorflow as tf

    out = []
    for window in windows:
        samples = tf.reshape(tf.constant(window), [WINDOW, 1])
        spectrogram = tf.raw_ops.AudioSpectrogram(
            input=samples, window_size=WINDOW, stride=STEP, magnitude_squared=True
        )
        mfcc = tf.raw_ops.Mfcc(
            spectrogram=spectrogram,
            sample_rate=RATE,
            upper_frequency_limit=8000.0,
            lower_frequency_limit=20.0,
            filterbank_channel_count=40,
            dct_coefficient_count=26,
        )
        out.append(tf.reshape(mfcc, [-1, 26]).numpy())
    return np.concatenate(out).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, pcm in clips().items():
        mfcc = tf_mfcc(client_windows(pcm))
        np.savez_compressed(args.out / f"{name}.npz", pcm=pcm, mfcc=mfcc)
        print(f"{name}: {len(pcm)} samples -> mfcc {mfcc.shape}")


if __name__ == "__main__":
    main()
