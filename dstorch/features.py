"""Audio features exactly as the DeepSpeech 0.9.3 client computes them.

The client runs TensorFlow's `AudioSpectrogram` + `Mfcc` ops inside the exported graph, one
512-sample window at a time, so training must see the very same numbers. This is a NumPy
port of those kernels (float64 inside, like TF) plus the client's streaming framing.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
WINDOW_MS = 32
STEP_MS = 20
WINDOW = SAMPLE_RATE * WINDOW_MS // 1000  # 512 samples
STEP = SAMPLE_RATE * STEP_MS // 1000  # 320 samples
N_FFT = 1 << (WINDOW - 1).bit_length()  # TF pads the window to the next power of two
N_BINS = N_FFT // 2 + 1  # 257
N_MFCC = 26
N_MEL = 40
LOWER_HZ = 20.0
UPPER_HZ = 8000.0
LOG_FLOOR = 1e-12
N_CONTEXT = 9
CONTEXT_FRAMES = 2 * N_CONTEXT + 1  # 19 frames per time step
N_INPUT = CONTEXT_FRAMES * N_MFCC  # 494 values per time step
PCM_SCALE = 1.0 / 32768.0  # the client's int16 -> float scaling


def _mel(hz: np.ndarray | float) -> np.ndarray | float:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def _hann_periodic() -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WINDOW) / WINDOW)


def _filterbank() -> np.ndarray:
    """TF's MfccMelFilterbank as a dense [N_BINS, N_MEL] matrix (HTK-style, DC excluded)."""
    mel_low, mel_high = _mel(LOWER_HZ), _mel(UPPER_HZ)
    spacing = (mel_high - mel_low) / (N_MEL + 1)
    centers = mel_low + spacing * np.arange(1, N_MEL + 2)
    hz_per_bin = 0.5 * SAMPLE_RATE / (N_BINS - 1)
    start = int(1.5 + LOWER_HZ / hz_per_bin)
    end = int(UPPER_HZ / hz_per_bin)
    bank = np.zeros((N_BINS, N_MEL))
    for i in range(start, end + 1):
        mel = _mel(i * hz_per_bin)
        channel = int(np.searchsorted(centers[:N_MEL], mel, side="left")) - 1
        if channel >= 0:
            weight = (centers[channel + 1] - mel) / (centers[channel + 1] - centers[channel])
            bank[i, channel] += weight
        else:
            weight = (centers[0] - mel) / (centers[0] - mel_low)
        if channel + 1 < N_MEL:
            bank[i, channel + 1] += 1.0 - weight
    return bank


def _dct() -> np.ndarray:
    """TF's MfccDct as a [N_MEL, N_MFCC] matrix."""
    j = np.arange(N_MEL)[:, None] + 0.5
    i = np.arange(N_MFCC)[None, :]
    return np.cos(np.pi / N_MEL * j * i) * np.sqrt(2.0 / N_MEL)


HANN = _hann_periodic()
FILTERBANK = _filterbank()
DCT = _dct()


def mfcc_windows(windows: np.ndarray) -> np.ndarray:
    """MFCCs of complete analysis windows.

    windows: [n, WINDOW] float samples in [-1, 1]  ->  [n, N_MFCC] float32
    """
    spectrum = np.fft.rfft(windows.astype(np.float64) * HANN, n=N_FFT)
    power = spectrum.real**2 + spectrum.imag**2
    power = power.astype(np.float32).astype(np.float64)  # AudioSpectrogram emits float32
    mel = np.sqrt(power) @ FILTERBANK
    return (np.log(np.maximum(mel, LOG_FLOOR)) @ DCT).astype(np.float32)


def frame_count(n_samples: int) -> int:
    """Frames the client computes for a clip: every full window plus one zero-padded tail."""
    full = 0 if n_samples < WINDOW else 1 + (n_samples - WINDOW) // STEP
    return full + 1


def stream_windows(samples: np.ndarray) -> np.ndarray:
    """Cut audio into the windows the client feeds to `input_samples`.

    The client slides a 512-sample window by 320 samples while a full window is buffered,
    then, at the end of the stream, zero-pads whatever is left (possibly nothing) to one
    last window. samples: [N] -> [frame_count(N), WINDOW]
    """
    n = len(samples)
    count = frame_count(n)
    padded = np.zeros((count - 1) * STEP + WINDOW, dtype=np.float64)
    padded[:n] = samples
    starts = np.arange(count) * STEP
    return padded[starts[:, None] + np.arange(WINDOW)[None, :]]


def audio_features(pcm: np.ndarray) -> np.ndarray:
    """MFCC frames of a clip as the client sees it.

    pcm: [N] int16 (or float already in [-1, 1])  ->  [frame_count(N), N_MFCC] float32
    """
    samples = pcm.astype(np.float64) * PCM_SCALE if pcm.dtype == np.int16 else pcm
    return mfcc_windows(stream_windows(samples))


def context_windows(features: np.ndarray) -> np.ndarray:
    """Stack each frame with N_CONTEXT zero-padded neighbours on both sides.

    features: [T, N_MFCC] -> [T, CONTEXT_FRAMES, N_MFCC]; position 0 is the oldest frame.
    """
    t = len(features)
    padded = np.zeros((t + 2 * N_CONTEXT, N_MFCC), dtype=features.dtype)
    padded[N_CONTEXT : N_CONTEXT + t] = features
    index = np.arange(t)[:, None] + np.arange(CONTEXT_FRAMES)[None, :]
    return padded[index]
