"""CSVs, WAV validation and batching."""

import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES_DIR

from dstorch.alphabet import Alphabet, AlphabetError
from dstorch.training.data import (
    DataError,
    FeatureCache,
    bucketed_batches,
    collate,
    read_csv,
    read_wav,
)

FIXTURES = FIXTURES_DIR / "clips"


def write_wav(path: Path, pcm: np.ndarray, rate=16000, channels=1, width=2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def test_transcript_outside_alphabet_names_file_and_characters(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("wav_filename,wav_filesize,transcript\nclip.wav,10,héllo!\n")
    with pytest.raises(AlphabetError) as e:
        read_csv(csv, Alphabet.from_file(FIXTURES / "alphabet.txt"))
    assert "clip.wav" in str(e.value) and "'é'" in str(e.value) and "'!'" in str(e.value)


def test_empty_and_missing_csv(tmp_path):
    alphabet = Alphabet.from_file(FIXTURES / "alphabet.txt")
    empty = tmp_path / "empty.csv"
    empty.write_text("wav_filename,wav_filesize,transcript\n")
    with pytest.raises(DataError, match="no samples"):
        read_csv(empty, alphabet)
    with pytest.raises(DataError, match="not found"):
        read_csv(tmp_path / "nope.csv", alphabet)


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


def test_batches_group_similar_lengths_and_pad():
    alphabet = Alphabet.from_file(FIXTURES / "alphabet.txt")
    samples = read_csv(FIXTURES / "clips.csv", alphabet)
    batches = bucketed_batches(samples, 3)
    assert [len(b) for b in batches] == [3, 3, 2]
    sizes = [s.wav.stat().st_size for b in batches for s in b]
    assert sizes == sorted(sizes)
    batch = collate(batches[0], FeatureCache())
    assert batch.inputs.shape[0] == 3 and batch.inputs.shape[2:] == (19, 26)
    assert batch.input_lengths.max() == batch.inputs.shape[1]
    assert batch.labels.numel() == batch.label_lengths.sum()
