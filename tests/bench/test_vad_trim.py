"""make bench-vad's pieces (dstorch.bench.vad_trim) that need no model: padding, the noisy
room, the table."""

from __future__ import annotations

import numpy as np

from dstorch.bench.vad_trim import PAD_SECONDS, Row, format_rows, in_room, pad
from dstorch.vad import SAMPLE_RATE


def test_pad_draws_seeded_padding_and_marks_the_clip():
    clip = np.ones(8000)
    audio, mask = pad(clip, np.random.default_rng(1))
    again, _ = pad(clip, np.random.default_rng(1))
    assert np.array_equal(audio, again) and mask.sum() == len(clip)
    assert np.array_equal(audio[mask], clip) and not audio[~mask].any()
    before, after = int(np.argmax(mask)), int(np.argmax(mask[::-1]))
    low, high = (round(s * SAMPLE_RATE) for s in PAD_SECONDS)
    assert low <= before <= high and low <= after <= high


def test_in_room_noise_is_at_the_snr_of_the_speech():
    rng = np.random.default_rng(2)
    clip = 0.1 * np.sin(np.arange(16000) / 5.0)
    audio, mask = pad(clip, rng)
    noisy = in_room(audio, mask, 10.0, index=0)  # pink noise
    assert noisy.shape == audio.shape
    speech = float(np.sqrt(np.mean(noisy[mask] ** 2)))
    noise = float(np.sqrt(np.mean(noisy[:2000] ** 2)))  # the padding holds only noise
    assert 6 < 20 * np.log10(speech / noise) < 14


def test_table_gives_ratios_to_no_trim():
    rows = [Row("padded: silence", "none", {"off": 0.5, "a=3": 0.75}, 36)]
    text = format_rows(rows)
    assert text.splitlines()[0] == "| condition | scorer | no trim | trim a=3 |"
    assert text.splitlines()[-1] == "| padded: silence | none | 50% (36 clips) | 75% (x1.50) |"
