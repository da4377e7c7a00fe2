"""Simulated rooms: impulse responses, the cached bank, reverberation."""

from __future__ import annotations

import numpy as np
import pytest
from augment_helpers import voice

from dstorch.augment import cache, dsp, rooms

pytestmark = pytest.mark.usefixtures("bank_cache_in_tmp")


def decay_time(rir: np.ndarray) -> float:
    """Seconds for the Schroeder energy decay to fall from -5 to -25 dB, times 3 (T20)."""
    energy = np.cumsum(rir[::-1] ** 2)[::-1]
    db = 10 * np.log10(energy / energy[0] + 1e-20)
    t5, t25 = np.argmax(db < -5), np.argmax(db < -25)
    return 3 * (t25 - t5) / dsp.SAMPLE_RATE


def test_rir_starts_with_the_direct_path_and_decays_as_asked():
    short = rooms.simulate(0.25, 1.0, np.random.default_rng(0))
    long = rooms.simulate(0.8, 2.5, np.random.default_rng(0))
    for rir in (short, long):
        assert rir.ndim == 1 and np.argmax(np.abs(rir)) == rooms.PRE_DELAY
        assert np.max(np.abs(rir)) == pytest.approx(1.0)
    assert decay_time(short) < 0.5 < decay_time(long)
    assert decay_time(long) == pytest.approx(0.8, rel=0.35)


def test_bank_is_deterministic_and_cached(tmp_path):
    bank = rooms.room_bank(3, (0.2, 0.6), (0.5, 2.0), seed=5)
    files = list((tmp_path / "augment").glob("rooms-*.npz"))
    assert len(bank) == 3 and len(files) == 1
    cache._loaded.clear()  # read it back from the file
    again = rooms.room_bank(3, (0.2, 0.6), (0.5, 2.0), seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(bank, again, strict=True))
    other = rooms.room_bank(3, (0.2, 0.6), (0.5, 2.0), seed=6)
    assert not np.array_equal(bank[0][:1000], other[0][:1000])


def test_damaged_cache_is_made_again(tmp_path):
    bank = rooms.room_bank(1, (0.3, 0.3), (1.0, 1.0), seed=1)
    path = next((tmp_path / "augment").glob("rooms-*.npz"))
    path.write_bytes(b"not a zip")
    cache._loaded.clear()
    assert np.array_equal(rooms.room_bank(1, (0.3, 0.3), (1.0, 1.0), seed=1)[0], bank[0])


def test_reverberate_keeps_length_and_peak_and_smears():
    clip = voice(1.0)
    wet = rooms.reverberate(clip, rooms.simulate(0.7, 2.0, np.random.default_rng(2)))
    assert wet.shape == clip.shape
    assert dsp.max_dbfs(wet) == pytest.approx(dsp.max_dbfs(clip), abs=1e-6)
    assert np.corrcoef(wet, clip)[0, 1] < 0.9
