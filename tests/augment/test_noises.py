"""Generated noises: shape, level, colour, determinism; mixing at an SNR."""

from __future__ import annotations

import numpy as np
import pytest
from augment_helpers import RATE, voice

from dstorch.augment import noises

pytestmark = pytest.mark.usefixtures("bank_cache_in_tmp")


def band_power(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
def test_colours_have_shape_unit_level_and_a_seed(kind):
    make = lambda seed: noises.coloured(RATE, noises.COLOURS[kind], np.random.default_rng(seed))  # noqa: E731
    x = make(1)
    assert x.shape == (RATE,) and np.sqrt(np.mean(x**2)) == pytest.approx(1.0)
    assert np.array_equal(x, make(1)) and not np.array_equal(x, make(2))


def test_colours_fall_with_frequency_as_named():
    """Power in the octave 2-4 kHz relative to 200-400 Hz: white ~10 dB more (10x the
    bins), pink about equal, brown ~20 dB less."""
    rng = np.random.default_rng(0)
    ratios = {
        kind: 10 * np.log10(band_power(x, 2000, 4000) / band_power(x, 200, 400))
        for kind, x in ((k, noises.coloured(4 * RATE, e, rng)) for k, e in noises.COLOURS.items())
    }
    assert ratios["white"] == pytest.approx(10, abs=1)
    assert ratios["pink"] == pytest.approx(0, abs=1)
    assert ratios["brown"] == pytest.approx(-10, abs=1.5)


def test_hum_is_mains_harmonics():
    x = noises.hum(2 * RATE, np.random.default_rng(4))
    assert x.shape == (2 * RATE,) and np.sqrt(np.mean(x**2)) == pytest.approx(1.0)
    low = band_power(x, 45, 1010)
    assert low / band_power(x, 0, RATE / 2) > 0.9  # almost everything below 1 kHz
    assert np.array_equal(x, noises.hum(2 * RATE, np.random.default_rng(4)))


def test_babble_sums_talkers_from_the_stream():
    stream = np.concatenate([voice(0.5, f0) for f0 in (100, 150, 200, 250)])
    x = noises.babble(RATE, np.random.default_rng(0), stream, talkers=3)
    assert x.shape == (RATE,) and np.sqrt(np.mean(x**2)) == pytest.approx(1.0)
    assert np.array_equal(x, noises.babble(RATE, np.random.default_rng(0), stream, 3))


@pytest.mark.parametrize("snr", [20.0, 10.0, 5.0, 0.0])
def test_mix_lands_at_the_requested_snr(snr):
    speech = 0.1 * voice(1.0)  # quiet: the mix does not need scaling down
    noise = noises.coloured(len(speech), 1.0, np.random.default_rng(0))
    mixed = noises.mix_at_snr(speech, noise, snr)
    assert mixed.shape == speech.shape
    assert noises.snr_db(speech, mixed - speech) == pytest.approx(snr, abs=0.5)


def test_a_mix_that_would_clip_is_scaled_as_a_whole():
    speech = 1.9 * voice(1.0)  # peak 0.95: speech + noise at 0 dB goes past full scale
    noise = noises.coloured(len(speech), 0.0, np.random.default_rng(1))
    loud, quiet = noises.mix_at_snr(speech, noise, 0), noises.mix_at_snr(speech / 19, noise, 0)
    assert np.max(np.abs(loud)) == pytest.approx(1.0)
    assert np.allclose(loud / np.max(np.abs(loud)), quiet / np.max(np.abs(quiet)))


def test_mix_keeps_silence_silent():
    silence = np.zeros(RATE)
    assert np.array_equal(noises.mix_at_snr(silence, np.ones(RATE), 10), silence)


def test_snr_can_be_measured_on_the_speech_of_a_padded_clip():
    rng = np.random.default_rng(4)
    speech = np.concatenate([np.zeros(RATE), 0.05 * rng.standard_normal(RATE), np.zeros(RATE)])
    where = np.arange(3 * RATE) // RATE == 1
    noise = rng.standard_normal(3 * RATE)
    mixed = noises.mix_at_snr(speech, noise, 10, where=where)
    assert noises.snr_db(speech[where], (mixed - speech)[where]) == pytest.approx(10, abs=0.5)
    whole = noises.mix_at_snr(speech, noise, 10)
    assert noises.snr_db(speech[where], (whole - speech)[where]) > 13  # the padding counted too


def test_babble_stream_renders_synthetic_voices_once(tmp_path):
    """The stream is real espeak-ng speech, cached under DATA_DIR/augment and reused."""
    stream = noises.babble_stream("espeak-ng:en-us", seed=3)
    assert 10 * RATE < len(stream) and np.sqrt(np.mean(stream**2)) > 0.5
    cached = list((tmp_path / "augment").glob("babble-*.npz"))
    assert len(cached) == 1
    assert np.array_equal(stream, noises.babble_stream("espeak-ng:en-us", seed=3))


def test_nothing_said_is_a_seeded_clip_at_a_drawn_length_and_level():
    from dstorch.augment.noises import SILENCE_DBFS, nothing_said

    for kind in ("silence", "pink", "hum"):
        one = nothing_said(kind, np.random.default_rng(3), (1.0, 2.0), (-30.0, -20.0))
        again = nothing_said(kind, np.random.default_rng(3), (1.0, 2.0), (-30.0, -20.0))
        assert np.array_equal(one, again) and 16000 <= len(one) <= 32000
        rms_db = 20 * np.log10(np.sqrt(np.mean(one**2)))
        low, high = (SILENCE_DBFS, SILENCE_DBFS) if kind == "silence" else (-30.0, -20.0)
        assert low - 0.01 <= rms_db <= high + 0.01
    with pytest.raises(ValueError, match="babble needs a stream"):
        nothing_said("babble", np.random.default_rng(0), (1.0, 2.0), (-30.0, -20.0))
