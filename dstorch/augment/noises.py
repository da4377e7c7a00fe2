"""Noises that need nothing from the user: coloured noise, mains hum, and babble.

Every generator takes the number of samples n and a numpy Generator and returns float64 [n]
at 16 kHz with RMS 1 (scaled to an SNR by `mix_at_snr`), the same for the same generator
state. Babble mixes a few talkers, each a stretch of a stream of synthetic voices (the
SYNTHETIC_VOICES engines) speaking sentences that are not commands; the stream is rendered
once per recipe and cached (dstorch.augment.cache).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import scipy.fft

from dstorch.augment import cache, dsp

COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power falls as 1 / f^exponent
KINDS = (*COLOURS, "hum", "babble")
LOWEST_HZ = 20.0  # below this the colours stop rising: sub-audible rumble only eats level
BABBLE_LANGUAGE = "en"
BABBLE_VERSION = 1  # bump when the babble stream's making changes
BABBLE_CLIPS = 64  # sentences kept in a stream (~2 minutes, 8 MB cached)
# Harvard sentences (IEEE 1969, public domain): everyday speech, none a command.
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
)


def unit_rms(x: np.ndarray) -> np.ndarray:
    rms = math.sqrt(float(np.mean(x**2))) if len(x) else 0.0
    return x / rms if rms > 0 else x


def coloured(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise whose power spectrum falls as 1 / f^exponent (0 white, 1 pink, 2 brown).
    -> [n], RMS 1, no DC."""
    if n == 0:
        return np.zeros(0)
    # Shaped at a length the FFT factors well, then cut: at an arbitrary n (a clip's) the
    # FFTs took 8 times as long, and were a sixth of an augmented batch.
    m = scipy.fft.next_fast_len(n, real=True)
    spectrum = np.fft.rfft(rng.standard_normal(m))
    freqs = np.maximum(np.fft.rfftfreq(m, 1.0 / dsp.SAMPLE_RATE), LOWEST_HZ)
    spectrum *= freqs ** (-exponent / 2.0)
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, m)[:n]
    return unit_rms(noise - noise.mean())


def hum(n: int, rng: np.random.Generator) -> np.ndarray:
    """Mains hum: 50 or 60 Hz (+-1%) and its harmonics up to 1 kHz with random, falling
    amplitudes and phases, over a faint white floor (-30 dB). -> [n], RMS 1"""
    base = float(rng.choice([50.0, 60.0])) * rng.uniform(0.99, 1.01)
    fundamental = np.exp(2j * np.pi * base * np.arange(n) / dsp.SAMPLE_RATE)
    harmonic = np.ones(n, complex)
    out = np.zeros(n)
    for k in range(1, int(1000 // base) + 1):
        amplitude = rng.uniform(0.2, 1.0) / k ** rng.uniform(0.5, 1.5)
        harmonic *= fundamental  # e^(i k w t) by products: a sine per harmonic cost more
        out += amplitude * (harmonic * np.exp(1j * rng.uniform(0, 2 * np.pi))).imag
    return unit_rms(unit_rms(out) + 0.03 * rng.standard_normal(n))


def babble_recipe(voices: str, seed: int) -> str:
    return f"{BABBLE_VERSION}|{voices}|{seed}|{'|'.join(SENTENCES)}"


def babble_stream(voices: str, seed: int) -> np.ndarray:
    """The sentences spoken by `voices` (SYNTHETIC_VOICES syntax), in a seeded order, each
    at RMS 1, end to end (at most BABBLE_CLIPS). -> [M] float32, cached under the data folder."""
    make = lambda: {"stream": _render_stream(voices, seed)}  # noqa: E731
    return cache.bank("babble", babble_recipe(voices, seed), make)["stream"]


def _render_stream(voices: str, seed: int) -> np.ndarray:
    from dstorch.prepare.synthetic import render  # late: preparation is heavy to import

    sentences = {f"babble{i:02d}": text for i, text in enumerate(SENTENCES)}
    with tempfile.TemporaryDirectory(prefix="dstorch-babble-") as tmp:
        takes = render(voices, sentences, Path(tmp), BABBLE_LANGUAGE, 1, seed)
        clips = [unit_rms(dsp.load_audio(wav)) for wav, _, _ in takes]
    order = np.random.default_rng(seed).permutation(len(clips))[:BABBLE_CLIPS]
    return np.concatenate([clips[i] for i in order]).astype(np.float32)


def babble(n: int, rng: np.random.Generator, stream: np.ndarray, talkers: int) -> np.ndarray:
    """`talkers` voices at once: stretches of `stream` from random offsets (wrapping), each
    at RMS 1, summed. -> [n], RMS 1"""
    out = np.zeros(n)
    for _ in range(max(1, talkers)):
        start = int(rng.integers(len(stream)))
        idx = (start + np.arange(n)) % len(stream)
        out += unit_rms(stream[idx])
    return unit_rms(out)


SILENCE_DBFS = -70.0  # a microphone's floor: digital zeros would be no real input


def nothing_said(
    kind: str,
    rng: np.random.Generator,
    seconds: tuple[float, float],
    dbfs: tuple[float, float],
    stream: np.ndarray | None = None,
    talkers: int = 1,
) -> np.ndarray:
    """A clip where nothing is said to the device: "silence" (a microphone's floor) or a
    noise of KINDS (babble from `stream`, `talkers` at once), its length drawn from
    `seconds` and its RMS level from `dbfs`. -> float64 [n] at 16 kHz"""
    n = int(rng.uniform(*seconds) * dsp.SAMPLE_RATE)
    if kind == "silence":
        return unit_rms(rng.standard_normal(n)) * dsp.gain_db_to_ratio(SILENCE_DBFS)
    level = float(rng.uniform(*dbfs))
    if kind in COLOURS:
        audio = coloured(n, COLOURS[kind], rng)
    elif kind == "hum":
        audio = hum(n, rng)
    elif kind == "babble" and stream is not None:
        audio = babble(n, rng, stream, talkers)
    else:
        raise ValueError(f"no noise {kind!r} (babble needs a stream); use one of {KINDS}")
    return unit_rms(audio) * dsp.gain_db_to_ratio(level)


def mix_at_snr(
    speech: np.ndarray, noise: np.ndarray, snr_db: float, where: np.ndarray | None = None
) -> np.ndarray:
    """speech + noise scaled so that RMS(speech) / RMS(noise) over the whole clip is snr_db.
    Both [N]; -> [N]. If the sum would clip, all of it is scaled down (the SNR stays).
    `where`: bool [N], the samples the speech level is measured on (a clip padded with
    silence is quieter as a whole than its speech); default all."""
    level = speech if where is None else speech[where]
    speech_rms = math.sqrt(float(np.mean(level**2))) if len(level) else 0.0
    if speech_rms == 0.0:
        return speech.copy()
    mixed = speech + unit_rms(noise) * speech_rms / dsp.gain_db_to_ratio(snr_db)
    peak = float(np.max(np.abs(mixed)))
    return mixed / peak if peak > 1.0 else mixed


def snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    """RMS level of speech over noise in dB, both [N]."""
    return 10.0 * math.log10(float(np.mean(speech**2)) / float(np.mean(noise**2)))
