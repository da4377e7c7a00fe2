"""A folder of audio files, each with its transcript in a `.txt` of the same name
(`a/b/clip7.wav` + `a/b/clip7.txt`).

Why: how most small private corpora are kept. Files under top-level `train/`, `dev/` or
`test/` folders go to those CSVs; everything else to `all.csv`, which trains.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from dstorch.importers.base import ROLES, CorpusError, Importer, Reject, Row, need_folder

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aiff", ".aif"}
ALL = "all"


class Folder(Importer):
    name = "folder"
    about = "any folder of audio files with a same-named .txt transcript each"

    def rows(self, source: Path) -> Iterator[Row | Reject]:
        need_folder(source, "corpus")
        files = sorted(
            p
            for p in source.rglob("*")
            if p.suffix.lower() in AUDIO_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(source).parts)
        )
        if not files:
            raise CorpusError(f"{source}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
        for audio in files:
            rel = audio.relative_to(source)
            split = rel.parts[0] if len(rel.parts) > 1 and rel.parts[0] in ROLES else ALL
            listing = audio.with_suffix(".txt")
            try:
                text = listing.read_text(encoding="utf-8")
            except FileNotFoundError:
                yield Reject(split, str(rel), "no_transcript", f"no {listing.name} next to it")
                continue
            except UnicodeDecodeError:
                yield Reject(split, str(rel), "bad_row", f"{listing.name} is not UTF-8")
                continue
            yield Row(split, audio, " ".join(text.split()), str(rel.with_suffix("")))

    def roles(self, splits: list[str]) -> dict[str, list[str]]:
        named = super().roles(splits)
        named["train"] += [s for s in splits if s == ALL]
        return named
