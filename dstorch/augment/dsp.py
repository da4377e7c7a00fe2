"""Signal helpers for the audio augmentations: levels, resampling, time-stretching, Opus.

Levels follow DeepSpeech's util/audio.py: "dBFS" is peak-based with the +3.0103 dB sine
offset, so normalising to 3.0103 dBFS puts the peak at exactly +-1.0.
"""

from __future__ import annotations

import functools
import io
import math
import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile
from scipy import signal

from dstorch.features import SAMPLE_RATE

# libsndfile maps its compression level linearly onto this Opus bitrate range (per channel).
SNDFILE_OPUS_BITRATES = (6000, 256000)


def rms_to_dbfs(rms: float) -> float:
    return 20.0 * math.log10(max(1e-16, rms)) + 3.0103


def max_dbfs(audio: np.ndarray) -> float:
    """Peak level in dBFS of [N] samples (-317 dBFS for silence, never -inf)."""
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    return rms_to_dbfs(peak)


def gain_db_to_ratio(gain_db: float) -> float:
    return math.pow(10.0, gain_db / 20.0)


def normalize(audio: np.ndarray, dbfs: float = 3.0103) -> np.ndarray:
    """Scale [N] samples to peak level `dbfs` and clip to [-1, 1]."""
    return np.clip(audio * gain_db_to_ratio(dbfs - max_dbfs(audio)), -1.0, 1.0)


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad [M] samples to exactly [n]."""
    if len(audio) >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - len(audio), dtype=audio.dtype)])


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited polyphase resampling. [N] -> [ceil(N * rate_out / rate_in)]"""
    if rate_in == rate_out or len(audio) == 0:
        return audio
    g = math.gcd(rate_in, rate_out)
    return signal.resample_poly(audio, rate_out // g, rate_in // g)


def stretch(audio: np.ndarray, speed: float, frame: int = 512) -> np.ndarray:
    """WSOLA time-scale modification: change duration, keep pitch. [N] -> [round(N / speed)]

    Overlap-adds Hann-windowed frames at a fixed output hop, taking each input frame near its
    nominal position at `speed` times that hop, shifted by up to +-frame/4 to where it best
    continues the previous frame (cross-correlation); that alignment avoids the phasing
    artefacts of plain overlap-add. 32 ms frames suit speech pitch periods.
    """
    n_out = int(round(len(audio) / speed))
    hop, tol = frame // 2, frame // 4
    n_frames = n_out // hop + 2
    padded = np.zeros(tol + int(math.ceil(n_frames * hop * speed)) + 2 * frame + 2 * tol)
    padded[tol : tol + len(audio)] = audio
    window = signal.windows.hann(frame, sym=False)
    out = np.zeros(n_frames * hop + frame)
    norm = np.zeros_like(out)
    shift = 0
    for k in range(n_frames):
        start = tol + int(round(k * hop * speed)) + shift
        out[k * hop : k * hop + frame] += padded[start : start + frame] * window
        norm[k * hop : k * hop + frame] += window
        natural = padded[start + hop : start + hop + frame]  # what would follow seamlessly
        nominal = tol + int(round((k + 1) * hop * speed))
        region = padded[nominal - tol : nominal + tol + frame]
        shift = _best_lag(region, natural) - tol
    # Output sample j belongs to input sample j * speed; the first half frame only has one
    # (rising) window, so divide by the summed windows where they are not ~0.
    out = np.where(norm > 1e-3, out / np.maximum(norm, 1e-3), 0.0)
    return out[:n_out]


def _best_lag(region: np.ndarray, frame: np.ndarray) -> int:
    """The lag in [0, len(region) - len(frame)] where `frame` correlates best with `region`:
    searched on every second sample (a quarter of the work; speech alignment lives below
    4 kHz), then refined one sample either side at full rate. numpy's correlate: scipy's
    spent longer choosing a method than correlating."""
    coarse = 2 * int(np.argmax(np.correlate(region[::2], frame[::2], mode="valid")))
    low, high = max(coarse - 1, 0), min(coarse + 1, len(region) - len(frame))
    near = region[low : high + len(frame)]
    return low + int(np.argmax(np.correlate(near, frame, mode="valid")))


def pitch_shift(audio: np.ndarray, factor: float) -> np.ndarray:
    """Raise pitch by `factor` (1.1 = 10% higher), keep duration. [N] -> [N]

    Stretch to N * factor samples, then play them back factor times faster by resampling.
    The factor is rounded to a ratio of small integers (error < 0.03%) so that the polyphase
    resampler stays cheap; FFT resampling would wrap the clip's end onto its start.
    """
    if len(audio) == 0:
        return audio
    ratio = Fraction(factor).limit_denominator(64)
    longer = stretch(audio, ratio.denominator / ratio.numerator)
    back = signal.resample_poly(longer, ratio.denominator, ratio.numerator)
    return fit_length(back, len(audio))


@functools.cache
def opus_backend() -> str | None:
    """'soundfile' (libsndfile with Ogg/Opus), 'opus-tools' (opusenc + opusdec) or None."""
    try:
        if "OPUS" in soundfile.available_subtypes("OGG"):
            return "soundfile"
    except Exception:  # an old libsndfile without Ogg at all
        pass
    if shutil.which("opusenc") and shutil.which("opusdec"):
        return "opus-tools"
    return None


def opus_roundtrip(audio: np.ndarray, bitrate: int, backend: str | None = None) -> np.ndarray:
    """Encode [N] samples to Opus at `bitrate` bit/s and decode them again. [N] -> [N]"""
    backend = backend or opus_backend()
    if len(audio) == 0:  # an empty Ogg stream does not read back
        return audio
    samples = np.clip(audio, -1.0, 1.0).astype(np.float32)
    if backend == "soundfile":
        low, high = SNDFILE_OPUS_BITRATES
        # libsndfile: bitrate = (1 - level) * 250000 + 6000, so invert that mapping.
        level = 1.0 - (min(max(bitrate, low), high) - low) / (high - low)
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, SAMPLE_RATE, format="OGG", subtype="OPUS",
                        compression_level=level)  # fmt: skip
        buffer.seek(0)
        decoded, _ = soundfile.read(buffer, dtype="float64")
    elif backend == "opus-tools":
        decoded = _opus_tools_roundtrip(samples, bitrate)
    else:
        raise RuntimeError("no Opus codec: need libsndfile with Ogg/Opus or opusenc/opusdec")
    return fit_length(decoded, len(audio))


def _opus_tools_roundtrip(samples: np.ndarray, bitrate: int) -> np.ndarray:
    with tempfile.TemporaryDirectory(prefix="dstorch-codec-") as tmp:
        wav_in, opus, wav_out = Path(tmp, "in.wav"), Path(tmp, "x.opus"), Path(tmp, "out.wav")
        soundfile.write(wav_in, samples, SAMPLE_RATE, subtype="FLOAT")
        kbps = f"{min(max(bitrate, 500), 512000) / 1000:.3f}"
        run = functools.partial(subprocess.run, check=True, capture_output=True)
        run(["opusenc", "--quiet", "--bitrate", kbps, str(wav_in), str(opus)])
        run(["opusdec", "--quiet", "--float", "--rate", str(SAMPLE_RATE), str(opus), str(wav_out)])
        decoded, _ = soundfile.read(wav_out, dtype="float64", always_2d=True)
    return decoded[:, 0]


def load_audio(path: str | Path) -> np.ndarray:
    """Any file soundfile reads, as mono float64 [N] at 16 kHz (channels averaged)."""
    data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    return resample(data.mean(axis=1), rate, SAMPLE_RATE)
