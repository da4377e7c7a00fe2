"""CSVs, features and batching (WAV validation: tests/test_wav.py)."""

import numpy as np
import pytest
from conftest import FIXTURES_DIR
from training_helpers import write_wav

from dstorch.alphabet import Alphabet, AlphabetError
from dstorch.training.data import (
    DataError,
    FeatureCache,
    bucketed_batches,
    collate,
    read_csv,
)

FIXTURES = FIXTURES_DIR / "clips"


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


def test_a_silent_row_trains_towards_saying_nothing(tmp_path):
    """An empty transcript (noise in the speech sets) is refused unless `silent`; then it is
    a zero-length CTC target whose loss is finite and falls as blanks win."""
    import torch

    from dstorch.training.data import read_csvs

    wav = write_wav(tmp_path / "noise.wav", np.zeros(8000, np.int16))
    csv = tmp_path / "speech.csv"
    csv.write_text(f"wav_filename,wav_filesize,transcript\n{wav.name},{wav.stat().st_size},\n")
    alphabet = Alphabet.from_file(FIXTURES / "alphabet.txt")
    with pytest.raises(DataError, match="empty transcript"):
        read_csv(csv, alphabet)
    clips = FIXTURES / "clips.csv"
    samples = read_csvs(f"{clips},{csv}", alphabet, silent=True)
    silent = [s for s in samples if not s.transcript]
    assert len(silent) == 1 and silent[0].labels == []
    batch = collate(silent, FeatureCache())
    steps = batch.inputs.shape[1]
    blank = len(alphabet)
    for blank_logit, expected in ((0.0, "high"), (10.0, "low")):
        logits = torch.zeros(steps, 1, len(alphabet) + 1)
        logits[..., blank] = blank_logit
        loss = torch.nn.functional.ctc_loss(
            logits.log_softmax(-1),
            batch.labels,
            batch.input_lengths,
            batch.label_lengths,
            blank=blank,
            reduction="none",
        )
        assert torch.isfinite(loss).all()
        assert (loss.item() > 1.0) == (expected == "high")
