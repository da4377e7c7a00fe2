"""DeepSpeech's waveform augmentations: float64 samples [N] in [-1, 1] at 16 kHz -> [N'].

Defaults and semantics follow DeepSpeech 0.9.3's util/augmentations.py; `pitch` and `tempo`,
which DeepSpeech applies to the spectrogram, work on the signal here (same parameters).
"""

from __future__ import annotations

import csv
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import signal

from dstorch.augment import dsp
from dstorch.augment.params import Augmentation, Param

MS = dsp.SAMPLE_RATE / 1000.0  # samples per millisecond
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus")


class Overlay(Augmentation):
    NAME = "overlay"
    DOC = "layer clips from a folder of audio files or a DeepSpeech CSV onto the sample"
    PARAMS = {
        "source": Param("str", None, doc="folder of audio files or a DeepSpeech CSV"),
        "snr": Param("float", "3.0", doc="dB the sample's peak stays above the overlay's"),
        "layers": Param(
            "int", "1", low=0, clamp=True, high=100, doc="clips stacked on top of each other"
        ),
    }

    def __init__(self, spec: str, p: float, values: dict[str, object]):
        super().__init__(spec, p, values)
        self._clips: list[np.ndarray] | None = None  # loaded on first use, then kept

    def check(self) -> None:
        source = Path(str(self.values["source"]))
        if source.suffix == ".sdb":
            raise self.error("SDB sample databases are not supported; use a folder or a CSV")
        if not source.exists():
            raise self.error(f"source {str(source)!r} not found; give a folder or a CSV")

    def clips(self) -> list[np.ndarray]:
        """The source clips, mono 16 kHz float64, in a stable (sorted / CSV) order."""
        if self._clips is None:
            source = Path(str(self.values["source"]))
            clips = [dsp.load_audio(path) for path in _source_files(source)]
            self._clips = [clip for clip in clips if len(clip)]
            if not self._clips:
                raise self.error(f"source {str(source)!r} holds no non-empty audio files")
        return self._clips

    def _layer(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n samples stitched from consecutive clips, from a random clip and offset. -> [n]"""
        clips = self.clips()
        index = int(rng.integers(len(clips)))
        offset = int(rng.integers(len(clips[index])))
        parts, have = [], 0
        while have < n:
            part = clips[index][offset : offset + n - have]
            parts.append(part)
            have += len(part)
            index, offset = (index + 1) % len(clips), 0  # repeat the source if it runs out
        return np.concatenate(parts) if parts else np.zeros(0)

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        overlay = np.zeros_like(audio)
        for _ in range(self.pick("layers", clock, rng)):
            overlay += self._layer(len(audio), rng)
        snr = self.pick("snr", clock, rng)
        level = dsp.max_dbfs(audio)
        gain = dsp.gain_db_to_ratio(level - dsp.max_dbfs(overlay) - snr)
        return dsp.normalize(audio + overlay * gain, level)


def _source_files(source: Path) -> list[Path]:
    """Audio files of a folder (recursive, sorted) or of a CSV's wav_filename column."""
    if source.is_dir():
        return sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    with open(source, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    files = [Path(row["wav_filename"]) for row in rows if row.get("wav_filename")]
    # Relative paths are relative to the CSV's folder, as in the training CSVs.
    return [p if p.is_absolute() else source.parent / p for p in files]


class Reverb(Augmentation):
    NAME = "reverb"
    DOC = "simplified Schroeder reverberation (five comb filters, no all-pass)"
    PARAMS = {
        "delay": Param("float", "20.0", low=0.0, clamp=True, doc="ms until the first reflection"),
        "decay": Param("float", "10.0", low=0.0, clamp=True, doc="dB lost per reflection"),
    }

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        level = dsp.max_dbfs(audio)
        delay = self.pick("delay", clock, rng)
        decay = dsp.gain_db_to_ratio(-self.pick("decay", clock, rng))
        result = audio.copy()
        primes = [17, 19, 23, 29, 31]  # prime delay ratios keep the combs from reinforcing
        for prime in primes:
            layer = audio.copy()
            # >= 16 samples: tiny delays would mean very many tiny windows (slow) or zero.
            n_delay = max(16, math.floor(delay * (prime / primes[0]) * MS))
            for w in range(len(audio) // n_delay):  # y[n] = x[n] + decay * y[n - n_delay]
                w1, w2 = w * n_delay, (w + 1) * n_delay
                width = min(len(audio) - w2, n_delay)
                layer[w2 : w2 + width] += decay * layer[w1 : w1 + width]
            result += layer
        return dsp.normalize(result, level)


def zero_intervals(audio: np.ndarray, n: int, size_ms, rng: np.random.Generator) -> np.ndarray:
    """Set n random intervals to 0; size_ms() gives each one's duration. [N] -> [N]"""
    out = audio.copy()
    for _ in range(n):
        size = max(1, min(len(out) - 1, int(size_ms() * MS)))
        if len(out) < 2:
            break
        start = int(rng.integers(0, len(out) - size))
        out[start : start + size] = 0.0
    return out


class Gaps(Augmentation):
    NAME = "gaps"
    DOC = "set random time intervals to silence"
    PARAMS = {
        "n": Param("int", "1", low=0, clamp=True, doc="number of intervals"),
        "size": Param("float", "50.0", low=0.0, clamp=True, doc="ms per interval"),
    }

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        n = self.pick("n", clock, rng)
        return zero_intervals(audio, n, lambda: self.pick("size", clock, rng), rng)


class Resample(Augmentation):
    NAME = "resample"
    DOC = "resample to another rate and back (loses the band above rate/2)"
    PARAMS = {"rate": Param("int", "8000", low=1000, high=192000, doc="Hz to resample to")}

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        rate = self.pick("rate", clock, rng)
        # A rate like 9873 Hz shares no factor with 16 kHz and would need a 300k-tap filter;
        # a ratio of integers <= 160 lands within ~0.5% of it (same band limit, 100x faster).
        ratio = Fraction(rate, dsp.SAMPLE_RATE).limit_denominator(160)
        there = signal.resample_poly(audio, ratio.numerator, ratio.denominator)
        back = signal.resample_poly(there, ratio.denominator, ratio.numerator)
        return dsp.fit_length(back, len(audio))


class Codec(Augmentation):
    NAME = "codec"
    DOC = "Opus-encode and decode again"
    PARAMS = {"bitrate": Param("int", "3200", low=500, high=512000, doc="bit/s")}

    def check(self) -> None:
        if dsp.opus_backend() is None:
            raise self.error(
                "no Opus codec: install libsndfile >= 1.0.29 (soundfile) or opus-tools"
            )

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        # libsndfile's Opus range is 6-256 kbit/s; lower/higher rates are clamped there.
        return dsp.opus_roundtrip(audio, self.pick("bitrate", clock, rng))


class Volume(Augmentation):
    NAME = "volume"
    DOC = "level the sample's peak to a target dBFS (3.0103 = full scale)"
    # Above 3.0103 the peak is pushed past full scale and clipped, as in DeepSpeech.
    PARAMS = {"dbfs": Param("float", "3.0103", doc="target peak dBFS")}

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        return dsp.normalize(audio, self.pick("dbfs", clock, rng))


class Pitch(Augmentation):
    NAME = "pitch"
    DOC = "shift pitch by a factor, keeping duration"
    PARAMS = {"pitch": Param("float", "1.075~0.125", low=0.25, high=4.0, doc="1.1 = 10% up")}

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        return dsp.pitch_shift(audio, self.pick("pitch", clock, rng))


class Tempo(Augmentation):
    NAME = "tempo"
    KEEPS_LENGTH = False
    DOC = "change speed by a factor, keeping pitch (length becomes N / factor)"
    PARAMS = {
        "factor": Param("float", "1.1", low=0.25, high=4.0, doc="1.1 = 10% faster"),
        "max_time": Param("number", "-1", doc="ms to cap the result at; <= 0: no cap"),
    }

    def apply(self, audio: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        out = dsp.stretch(audio, self.pick("factor", clock, rng)) if len(audio) else audio
        max_time = float(self.values["max_time"])
        return out[: max(1, int(max_time * MS))] if max_time > 0 else out


WAVEFORM_AUGMENTATIONS: list[type[Augmentation]] = [
    Overlay,
    Reverb,
    Gaps,
    Resample,
    Codec,
    Volume,
    Pitch,
    Tempo,
]
