"""dstorch.wav: the 16 kHz mono 16-bit PCM WAV check and reader."""

import numpy as np
import pytest
from training_helpers import write_wav

from dstorch.alphabet import DataError
from dstorch.wav import is_target_format, read_wav


def test_reads_the_target_format_as_int16(tmp_path):
    pcm = np.arange(-800, 800, dtype=np.int16)
    wav = write_wav(tmp_path / "ok.wav", pcm)
    assert is_target_format(wav)
    samples = read_wav(wav)
    assert samples.dtype == np.int16 and np.array_equal(samples, pcm)


def test_wrong_wav_format_is_rejected_with_fix(tmp_path):
    pcm = np.zeros(800, np.int16)
    with pytest.raises(DataError, match="8000 Hz.*16000 Hz mono 16-bit"):
        read_wav(write_wav(tmp_path / "a.wav", pcm, rate=8000))
    with pytest.raises(DataError, match="2 channel"):
        read_wav(write_wav(tmp_path / "b.wav", np.zeros(1600, np.int16), channels=2))
    (tmp_path / "c.wav").write_bytes(b"RIFFjunk")
    with pytest.raises(DataError, match="c.wav"):
        read_wav(tmp_path / "c.wav")
    with pytest.raises(DataError, match="not found"):
        read_wav(tmp_path / "missing.wav")


def test_is_target_format_is_false_for_anything_else(tmp_path):
    assert not is_target_format(write_wav(tmp_path / "a.wav", np.zeros(800, np.int16), rate=8000))
    assert not is_target_format(write_wav(tmp_path / "b.wav", np.zeros(8, np.int16), width=1))
    (tmp_path / "c.wav").write_bytes(b"RIFFjunk")
    assert not is_target_format(tmp_path / "c.wav")
    assert not is_target_format(tmp_path / "missing.wav")
    assert not is_target_format(tmp_path)  # a folder: an OSError, not a crash
