"""DeepSpeech CSVs, audio loading and length-bucketed batches (the alphabet: dstorch.alphabet)."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dstorch.alphabet import Alphabet, DataError
from dstorch.features import CONTEXT_FRAMES, N_MFCC, audio_features, context_windows
from dstorch.wav import check_wav, read_wav

CSV_HEADER = ["wav_filename", "wav_filesize", "transcript"]


@dataclass(frozen=True)
class Sample:
    wav: Path
    transcript: str
    labels: list[int]
    index: int = 0  # position in its CSV list: seeds this sample's augmentation
    pass_index: int = 0  # which of --augmentations_per_epoch copies this is
    view: int = 0  # 1: the second view of the copy (--consistency_weight)


def read_csv(
    path: str | Path, alphabet: Alphabet, allow_empty: bool = False, silent: bool = False
) -> list[Sample]:
    """Read a DeepSpeech CSV; relative wav paths are relative to the CSV's folder.

    `allow_empty` accepts a header-only CSV (a dev or test split with no clips); `silent`
    rows with an empty transcript (a negative where nothing was said: noise, silence).
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise DataError(f"{path}: CSV not found; run the data preparation first") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8; save the CSV as UTF-8") from None
    if not rows and allow_empty:
        return []
    if not rows:
        raise DataError(f"{path}: CSV has no samples; add rows {','.join(CSV_HEADER)}")
    if not {"wav_filename", "transcript"} <= set(rows[0]):
        raise DataError(f"{path}: header must be {','.join(CSV_HEADER)}")
    samples = []
    for line, row in enumerate(rows, start=2):
        wav = Path(row["wav_filename"])
        wav = wav if wav.is_absolute() else path.parent / wav
        text = row["transcript"]
        labels = alphabet.encode(text, source=f"{path}:{line} ({wav.name})")
        check_wav(wav)  # fail before training starts, not hours into it
        if not labels and not silent:
            raise DataError(f"{path}:{line}: empty transcript; give every clip its text")
        samples.append(Sample(wav, text, labels, index=len(samples)))
    return samples


def read_csvs(
    paths: str, alphabet: Alphabet, allow_empty: bool = False, silent: bool = False
) -> list[Sample]:
    """Comma-separated CSV list, as DeepSpeech's --train_files accepts. `silent` accepts
    clips with an empty transcript (noise in the negatives: nothing was said)."""
    files = [p.strip() for p in paths.split(",") if p.strip()]
    # One empty CSV of several is fine (speech sets without voices to speak them), as long
    # as the list has samples at all.
    each_may_be_empty = allow_empty or len(files) > 1
    samples = [s for p in files for s in read_csv(p, alphabet, each_may_be_empty, silent)]
    if not samples and not allow_empty and files:
        read_csv(files[0], alphabet, False, silent)  # raises: names the (first) empty file
    return [replace(s, index=i) for i, s in enumerate(samples)]


class FeatureCache:
    """Context-windowed features per clip, computed once (features are deterministic)."""

    def __init__(self):
        self._cache: dict[Path, np.ndarray] = {}

    def __call__(self, item: Sample | Path) -> np.ndarray:
        """A sample's (or a wav's) features -> [T, CONTEXT_FRAMES, N_MFCC] float32"""
        wav = item.wav if isinstance(item, Sample) else item
        if wav not in self._cache:
            self._cache[wav] = context_windows(audio_features(read_wav(wav)))
        return self._cache[wav]


@dataclass
class Batch:
    """inputs [B, T, 19, 26] float32, input_lengths [B], labels [sum(L)], label_lengths [B]."""

    inputs: torch.Tensor
    input_lengths: torch.Tensor
    labels: torch.Tensor
    label_lengths: torch.Tensor
    samples: list[Sample]


def collate(samples: list[Sample], features: Callable[[Sample], np.ndarray]) -> Batch:
    """Pad `features(sample)` ([T, 19, 26] each) of every sample into one batch."""
    feats = [features(s) for s in samples]
    lengths = [len(f) for f in feats]
    inputs = np.zeros((len(feats), max(lengths), CONTEXT_FRAMES, N_MFCC), np.float32)
    for i, f in enumerate(feats):
        inputs[i, : len(f)] = f
    return Batch(
        inputs=torch.from_numpy(inputs),
        input_lengths=torch.tensor(lengths, dtype=torch.long),
        labels=torch.tensor([x for s in samples for x in s.labels], dtype=torch.long),
        label_lengths=torch.tensor([len(s.labels) for s in samples], dtype=torch.long),
        samples=samples,
    )


def bucketed_batches(
    samples: list[Sample], batch_size: int, rng: random.Random | None = None
) -> list[list[Sample]]:
    """Group samples of similar length (little padding); shuffle batch order when rng given."""
    ordered = sorted(samples, key=lambda s: (s.wav.stat().st_size, str(s.wav), s.pass_index))
    batches = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches
