"""Alphabets, DeepSpeech CSVs, audio loading and length-bucketed batches."""

from __future__ import annotations

import csv
import random
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from dstorch.bytes_mode import BYTE_LABELS, bytes_text, encode_bytes, is_byte_labels, label_bytes
from dstorch.features import CONTEXT_FRAMES, N_MFCC, SAMPLE_RATE, audio_features, context_windows
from dstorch.fs import atomic_write

CSV_HEADER = ["wav_filename", "wav_filesize", "transcript"]


class DataError(ValueError):
    """Input data that cannot be used; the message names the file and the fix."""


class AlphabetError(DataError):
    pass


class Alphabet:
    """Ordered output labels; the CTC blank is the extra class after the last label."""

    def __init__(self, labels: list[str]):
        if len(set(labels)) != len(labels):
            raise AlphabetError(f"alphabet has duplicate labels: {labels}")
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Alphabet) and self.labels == other.labels

    @property
    def blank(self) -> int:
        return len(self.labels)

    @staticmethod
    def of(labels: list[str]) -> Alphabet:
        """The alphabet of saved labels (a checkpoint's): a BytesAlphabet for byte labels."""
        return BytesAlphabet() if is_byte_labels(labels) else Alphabet(labels)

    @classmethod
    def from_file(cls, path: str | Path) -> Alphabet:
        """Read DeepSpeech's alphabet.txt: one label per line, `#` comments, `\\#` is `#`."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            raise AlphabetError(f"{path}: alphabet file not found; check the path") from None
        except UnicodeDecodeError:
            raise AlphabetError(f"{path}: not UTF-8; save the alphabet as UTF-8") from None
        labels = []
        for line in lines:
            line = line.rstrip("\r")
            if line.startswith("#") or line == "":
                continue
            labels.append("#" if line == "\\#" else line)
        if not labels:
            raise AlphabetError(f"{path}: alphabet is empty; list one character per line")
        return cls(labels)

    def save(self, path: str | Path) -> None:
        lines = ["# Each line is one label; a line with one space is the space label."]
        lines += ["\\#" if label == "#" else label for label in self.labels]
        atomic_write(Path(path), "\n".join(lines) + "\n")

    def missing(self, text: str) -> list[str]:
        return sorted({ch for ch in text if ch not in self.index})

    def encode(self, text: str, source: str = "transcript") -> list[int]:
        missing = self.missing(text)
        if missing:
            shown = " ".join(repr(ch) for ch in missing)
            raise AlphabetError(
                f"{source}: characters {shown} are not in the alphabet; "
                "add them to alphabet.txt or remove them from the transcript"
            )
        return [self.index[ch] for ch in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.labels[i] for i in ids if i < len(self.labels))

    def serialize(self) -> bytes:
        """The client's binary alphabet: u16 count, then (u16 index, u16 length, utf-8)."""
        out = [struct.pack("<H", len(self.labels))]
        for i, label in enumerate(self.labels):
            raw = label.encode("utf-8")
            out.append(struct.pack("<HH", i, len(raw)) + raw)
        return b"".join(out)


class BytesAlphabet(Alphabet):
    """--bytes_output_mode's alphabet (UTF8Alphabet): label i is UTF-8 byte i + 1, blank
    255. Why a subclass: encoding, decoding and the serialized labels are byte-wise, and
    every transcript can be encoded (dstorch.bytes_mode)."""

    def __init__(self) -> None:
        super().__init__(BYTE_LABELS)

    def missing(self, text: str) -> list[str]:
        return ["\0"] if "\0" in text else []

    def encode(self, text: str, source: str = "transcript") -> list[int]:
        labels = encode_bytes(text)
        if labels is None:
            raise AlphabetError(f"{source}: a NUL character cannot be spelt in bytes; remove it")
        return labels

    def decode(self, ids: list[int]) -> str:
        return bytes_text(label_bytes(i for i in ids if i < len(self.labels)))

    def save(self, path: str | Path) -> None:
        raise AlphabetError(f"{path}: a bytes output mode model has no alphabet.txt")

    def serialize(self) -> bytes:
        """UTF8Alphabet::Serialize: every label is its one raw byte (not UTF-8 encoded)."""
        out = [struct.pack("<H", len(self.labels))]
        out += [struct.pack("<HHB", i, 1, i + 1) for i in range(len(self.labels))]
        return b"".join(out)


def load_alphabet(alphabet_config_path: str | Path, bytes_output_mode: bool) -> Alphabet:
    """The trainer's alphabet: bytes (the file is then ignored, as in DeepSpeech) or the file."""
    return BytesAlphabet() if bytes_output_mode else Alphabet.from_file(alphabet_config_path)


def _open_wav(path: Path, header_only: bool) -> tuple[tuple[int, int, int], bytes]:
    try:
        with wave.open(str(path), "rb") as w:
            fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            return fmt, b"" if header_only else w.readframes(w.getnframes())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the CSV paths") from None
    except (wave.Error, EOFError) as e:
        raise DataError(f"{path}: not a readable WAV ({e}); convert it to 16-bit PCM") from None


def check_wav(path: str | Path, header_only: bool = True) -> bytes:
    """Validate that `path` is 16 kHz mono 16-bit PCM; returns the PCM bytes if read."""
    (rate, channels, width), raw = _open_wav(Path(path), header_only)
    if (rate, channels, width) != (SAMPLE_RATE, 1, 2):
        raise DataError(
            f"{path}: {rate} Hz, {channels} channel(s), {8 * width}-bit; DeepSpeech needs "
            f"16000 Hz mono 16-bit (fix: sox in.wav -r 16000 -c 1 -b 16 out.wav)"
        )
    return raw


def read_wav(path: str | Path) -> np.ndarray:
    """Read a 16 kHz mono 16-bit PCM WAV.  -> [N] int16"""
    return np.frombuffer(check_wav(path, header_only=False), dtype="<i2").astype(np.int16)


@dataclass(frozen=True)
class Sample:
    wav: Path
    transcript: str
    labels: list[int]
    index: int = 0  # position in its CSV list: seeds this sample's augmentation
    pass_index: int = 0  # which of --augmentations_per_epoch copies this is


def read_csv(path: str | Path, alphabet: Alphabet, allow_empty: bool = False) -> list[Sample]:
    """Read a DeepSpeech CSV; relative wav paths are relative to the CSV's folder.

    `allow_empty` accepts a header-only CSV (a dev or test split with no clips).
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
        if not labels:
            raise DataError(f"{path}:{line}: empty transcript; give every clip its text")
        samples.append(Sample(wav, text, labels, index=len(samples)))
    return samples


def read_csvs(paths: str, alphabet: Alphabet, allow_empty: bool = False) -> list[Sample]:
    """Comma-separated CSV list, as DeepSpeech's --train_files accepts."""
    files = [p.strip() for p in paths.split(",") if p.strip()]
    samples = [s for p in files for s in read_csv(p, alphabet, allow_empty)]
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
