"""`dstorch import <corpus> <path>`: public corpora as DeepSpeech CSVs of 16 kHz WAVs.

One module per corpus layout (an Importer subclass: where the clips and transcripts are);
`run` converts, normalises, checks and writes the CSVs the same way for all of them. Only
the layouts are imported here (no torch, scipy): every `dstorch` command lists them.
"""

from __future__ import annotations

from dstorch.importers.base import CorpusError, Importer
from dstorch.importers.commonvoice import CommonVoice
from dstorch.importers.folder import Folder
from dstorch.importers.ldc93s1 import Ldc93s1
from dstorch.importers.librispeech import LibriSpeech

IMPORTERS: dict[str, type[Importer]] = {
    cls.name: cls for cls in (CommonVoice, LibriSpeech, Ldc93s1, Folder)
}

__all__ = ["IMPORTERS", "CorpusError", "Importer", "importer"]


def importer(name: str) -> Importer:
    """The importer called `name`; CorpusError listing the known ones otherwise."""
    if name not in IMPORTERS:
        raise CorpusError(f"unknown corpus {name!r}; use one of {', '.join(IMPORTERS)}")
    return IMPORTERS[name]()
