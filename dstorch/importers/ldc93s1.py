"""LDC93S1: the one-sentence TIMIT sample DeepSpeech's `bin/run-ldc93s1.sh` overfits,
`LDC93S1.wav` with `LDC93S1.txt` ("0 46797 She had your dark suit in greasy wash water all
year.": first and last sample, then the sentence).

Why: the smallest end-to-end check that importing, training and exporting work. As in
DeepSpeech's recipe, the one clip trains, tunes and tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dstorch.importers.base import ROLES, CorpusError, Importer, Reject, Row

NAME = "LDC93S1"


class Ldc93s1(Importer):
    name = "ldc93s1"
    about = "the LDC93S1 sample: LDC93S1.wav + LDC93S1.txt (a folder or the .wav)"

    def rows(self, source: Path) -> Iterator[Row | Reject]:
        wav = source if source.is_file() else source / f"{NAME}.wav"
        listing = wav.with_suffix(".txt")
        for path in (wav, listing):
            if not path.is_file():
                raise CorpusError(f"{path}: not found; give the folder with {NAME}.wav/.txt")
        fields = listing.read_text(encoding="utf-8", errors="replace").split()
        if len(fields) < 3 or not (fields[0].isdigit() and fields[1].isdigit()):
            yield Reject(self.name, listing.name, "bad_row", "expected '<first> <last> <text>'")
            return
        yield Row(self.name, wav, " ".join(fields[2:]), NAME)

    def roles(self, splits: list[str]) -> dict[str, list[str]]:
        return {role: list(splits) for role in ROLES}
