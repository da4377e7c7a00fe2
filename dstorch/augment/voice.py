"""Augmentations for differences between voices: vocal tract length, spectral tilt, EQ.

A model trained on a few voices learns their formant positions and timbre. These make each
training copy sound like a slightly different speaker or microphone:

- `vtlp`: vocal-tract-length perturbation. Moves the spectral envelope (the formants) along
  the frequency axis by a factor alpha, keeping pitch and duration (unlike `pitch`, which moves
  harmonics and formants together). The warp is piecewise linear as in Jaitly & Hinton (2013):
  f -> alpha * f up to a knee, then linear up to the Nyquist frequency.
- `tilt`: a spectral slope in dB per octave around a pivot frequency (breathy vs. pressed
  voices, a dull vs. a bright microphone).
- `eq`: random peaking bands (bumps and dips in dB), like room and microphone colouring.

All work on float64 samples [N] at 16 kHz and keep N and the peak level.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from dstorch.augment import dsp
from dstorch.augment.params import Augmentation, Param

NYQUIST = dsp.SAMPLE_RATE / 2
# STFT for vtlp: 32 ms frames (as the features), 75% overlap so a Hann window reconstructs.
N_FFT, HOP = 512, 128
# Cepstral coefficients kept for the envelope: 24 samples = 1.5 ms quefrency, below the pitch
# period of any voice under ~600 Hz, so the envelope holds formants but not harmonics.
LIFTER = 24
MAX_GAIN_DB = 30.0  # vtlp gain limit: a formant moved onto a deep valley must not explode it
EQ_BAND_HZ = (150.0, 7000.0)  # where eq centres its bands (speech energy)


def warp_source_hz(freqs: np.ndarray, alpha: float, fhi: float) -> np.ndarray:
    """For output frequencies, the input frequency the VTLP warp maps onto them. [F] -> [F]

    The forward warp is f -> alpha * f below the knee f0 = fhi * min(alpha, 1) / alpha and
    linear from (f0, alpha * f0) to (Nyquist, Nyquist) above it; this is its inverse.
    """
    knee = fhi * min(alpha, 1.0) / alpha
    knee_out = alpha * knee
    slope = (NYQUIST - knee) / (NYQUIST - knee_out)
    return np.where(freqs <= knee_out, freqs / alpha, knee + (freqs - knee_out) * slope)


def log_envelope(magnitude: np.ndarray) -> np.ndarray:
    """Cepstrally smoothed log magnitude per frame. [F, T] -> [F, T] (F = N_FFT // 2 + 1)"""
    cepstrum = np.fft.irfft(np.log(magnitude + 1e-9), n=N_FFT, axis=0)
    cepstrum[LIFTER : N_FFT - LIFTER + 1] = 0.0
    return np.fft.rfft(cepstrum, axis=0).real


def shift_formants(audio: np.ndarray, alpha: float, fhi: float) -> np.ndarray:
    """Warp the spectral envelope of [N] samples by alpha (> 1: formants up). [N] -> [N]

    Each STFT frame is multiplied by warped envelope / envelope, so harmonics (pitch) and
    phases stay where they were and only the formants move.
    """
    if len(audio) < N_FFT or alpha == 1.0:
        return audio
    _, _, spec = signal.stft(audio, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann")
    envelope = log_envelope(np.abs(spec))
    freqs = np.linspace(0.0, NYQUIST, N_FFT // 2 + 1)
    bins = warp_source_hz(freqs, alpha, fhi) * (N_FFT / dsp.SAMPLE_RATE)
    low = np.clip(np.floor(bins).astype(int), 0, N_FFT // 2 - 1)
    frac = (bins - low)[:, None]
    warped = envelope[low] * (1.0 - frac) + envelope[low + 1] * frac
    limit = MAX_GAIN_DB / 20.0 * np.log(10.0)
    gain = np.exp(np.clip(warped - envelope, -limit, limit))
    _, out = signal.istft(spec * gain, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann")
    return dsp.fit_length(out, len(audio))


def apply_gain_db(audio: np.ndarray, gain_db: np.ndarray) -> np.ndarray:
    """Filter [N] samples by a zero-phase gain curve, in dB on the rfft grid [F] of an FFT of
    2 * (F - 1) samples (see `fft_size`). [N] -> [N]"""
    size = 2 * (len(gain_db) - 1)
    spectrum = np.fft.rfft(audio, n=size) * np.power(10.0, gain_db / 20.0)
    return np.fft.irfft(spectrum, n=size)[: len(audio)]


def fft_size(n: int) -> int:
    """FFT length for filtering n samples: padded so the (short, smooth) filter response
    wrapping around the end lands in padding, rounded up to a fast size."""
    return int(sp_fft.next_fast_len(n + 2048, real=True))


def octaves(freqs: np.ndarray, reference: float) -> np.ndarray:
    """log2(f / reference), with f floored at 50 Hz so DC gets a finite gain. [F] -> [F]"""
    return np.log2(np.maximum(freqs, 50.0) / reference)


def _keep_level(out: np.ndarray, audio: np.ndarray) -> np.ndarray:
    return dsp.normalize(out, dsp.max_dbfs(audio)) if np.any(out) else out


class Vtlp(Augmentation):
    NAME = "vtlp"
    DOC = "vocal-tract-length perturbation: move formants by a factor, keep pitch and length"
    PARAMS = {
        "alpha": Param("float", "1.0~0.1", low=0.5, high=2.0, doc="1.1 = formants 10% up"),
        "fhi": Param("float", "4800", low=1000, high=7900, doc="Hz where the warp bends"),
    }

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        alpha, fhi = self.pick("alpha", clock, rng), self.pick("fhi", clock, rng)
        return _keep_level(shift_formants(audio, alpha, fhi), audio)


class Tilt(Augmentation):
    NAME = "tilt"
    DOC = "spectral slope: dB per octave above (and minus below) a pivot frequency"
    PARAMS = {
        "db": Param("float", "0~2", low=-12, high=12, doc="dB per octave; > 0 brighter"),
        "pivot": Param("float", "1000", low=100, high=7900, doc="Hz left unchanged"),
    }

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        db, pivot = self.pick("db", clock, rng), self.pick("pivot", clock, rng)
        if not len(audio):
            return audio
        size = fft_size(len(audio))
        freqs = np.fft.rfftfreq(size, 1.0 / dsp.SAMPLE_RATE)
        return _keep_level(apply_gain_db(audio, db * octaves(freqs, pivot)), audio)


class Eq(Augmentation):
    NAME = "eq"
    DOC = "random peaking EQ: n bands at random frequencies (150-7000 Hz), gain dB each"
    PARAMS = {
        "n": Param("int", "3", low=0, clamp=True, high=20, doc="number of bands"),
        "gain": Param("float", "0~6", low=-40, high=40, doc="dB per band, > 0 boosts"),
        "width": Param("float", "1~0.5", low=0.05, clamp=True, doc="octaves at half gain"),
    }

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        size = fft_size(len(audio))
        freqs = np.fft.rfftfreq(size, 1.0 / dsp.SAMPLE_RATE)
        gain_db = np.zeros_like(freqs)
        low, high = np.log2(EQ_BAND_HZ)
        for _ in range(self.pick("n", clock, rng)):
            centre = 2.0 ** rng.uniform(low, high)
            gain = self.pick("gain", clock, rng)
            sigma = self.pick("width", clock, rng) / 2.3548  # FWHM -> standard deviation
            gain_db += gain * np.exp(-0.5 * (octaves(freqs, centre) / sigma) ** 2)
        if not len(audio) or not np.any(gain_db):
            return audio
        return _keep_level(apply_gain_db(audio, gain_db), audio)


VOICE_AUGMENTATIONS: list[type[Augmentation]] = [Vtlp, Tilt, Eq]
