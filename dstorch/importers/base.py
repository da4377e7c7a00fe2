"""What every corpus importer provides: the rows of its layout, and which CSV trains.

An importer only reads a corpus's layout (list files, transcripts, audio paths); converting,
normalising, checking and writing the DeepSpeech CSVs is the same for every corpus and lives
in dstorch.importers.run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from dstorch.errors import DstorchError

ROLES = ("train", "dev", "test")  # the trainer's --train_files, --dev_files, --test_files


class CorpusError(DstorchError, ValueError):
    """A source that cannot be imported at all; the message names the file and the fix."""


@dataclass(frozen=True)
class Row:
    """One clip as the corpus lists it."""

    split: str  # the CSV it goes to (<split>.csv)
    audio: Path  # the source audio file (any format libsndfile, sox or ffmpeg reads)
    transcript: str  # as the corpus writes it; normalised later
    name: str  # path of the converted WAV under clips/, without suffix; unique per corpus


@dataclass(frozen=True)
class Reject:
    """A row that cannot be used; reported in rejects.csv, never fatal."""

    split: str
    source: str  # the audio file or list line it concerns
    code: str  # a key of dstorch.importers.run.REJECTS
    message: str


class Importer:
    """Base class: one corpus layout. Override `rows`; `roles` when split names differ."""

    name: ClassVar[str] = ""
    about: ClassVar[str] = ""  # one line for `dstorch import --help`

    def rows(self, source: Path) -> Iterator[Row | Reject]:
        """Every clip under `source` in a stable order; Reject for unusable list lines.
        CorpusError when `source` is not this layout at all."""
        raise NotImplementedError

    def roles(self, splits: list[str]) -> dict[str, list[str]]:
        """Which split CSVs train, tune (dev) and test: {role: [split, ...]} (default: the
        splits named train, dev and test)."""
        return {role: [s for s in splits if s == role] for role in ROLES}


def need_folder(source: Path, what: str) -> None:
    if not source.is_dir():
        raise CorpusError(f"{source}: no such folder; give the extracted {what} folder")
