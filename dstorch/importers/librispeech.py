"""LibriSpeech: `<split>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac` next to
`<speaker>-<chapter>.trans.txt` ("<utterance id> <TRANSCRIPT>" a line).

Why: the standard English read-speech corpus (DeepSpeech's `import_librivox.py`, the Deep
Speech 2 recipes). `source` is one split folder (train-clean-100) or a folder holding
several (the archive's LibriSpeech/); each split becomes its own CSV.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dstorch.importers.base import ROLES, CorpusError, Importer, Reject, Row, need_folder

TRANSCRIPTS = "*.trans.txt"


class LibriSpeech(Importer):
    name = "librispeech"
    about = "LibriSpeech split folder(s): <split>/<speaker>/<chapter>/*.flac + *.trans.txt"

    def rows(self, source: Path) -> Iterator[Row | Reject]:
        need_folder(source, "LibriSpeech")
        lists = sorted(source.rglob(TRANSCRIPTS))
        if not lists:
            raise CorpusError(
                f"{source}: no {TRANSCRIPTS} files; give an extracted LibriSpeech split "
                "folder (e.g. LibriSpeech/train-clean-100) or the folder above the splits"
            )
        for listing in lists:
            parts = listing.relative_to(source).parts
            # <split>/<speaker>/<chapter>/x.trans.txt; a split folder given itself has no
            # <split> part, so it is named after the folder
            split = parts[-4] if len(parts) >= 4 else source.name
            yield from self._read(listing, split)

    def _read(self, listing: Path, split: str) -> Iterator[Row | Reject]:
        text = listing.read_text(encoding="utf-8", errors="replace")
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            utterance, _, transcript = line.strip().partition(" ")
            if not transcript.strip():
                where = f"{listing.name}:{line_no}"
                yield Reject(split, where, "bad_row", "no transcript after the utterance id")
                continue
            audio = listing.parent / f"{utterance}.flac"
            yield Row(split, audio, transcript, f"{split}/{utterance}")

    def roles(self, splits: list[str]) -> dict[str, list[str]]:
        """train-clean-100, train-other-500... train; dev-* tune; test-* test."""
        return {role: [s for s in splits if s.startswith(role)] for role in ROLES}
