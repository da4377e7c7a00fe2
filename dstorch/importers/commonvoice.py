"""Common Voice: `clips/*.mp3` and the `train.tsv`, `dev.tsv`, `test.tsv`, `validated.tsv`
lists of a release's language folder (`cv-corpus-<version>/<lang>/`).

Why: the largest open multilingual corpus, and what DeepSpeech's `import_cv2.py` reads. The
TSVs have a header (client_id, path, sentence, ...; recent releases add columns) and are
not quoted, so quotes inside sentences are text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from dstorch.importers.base import CorpusError, Importer, Reject, Row, need_folder

LISTS = ("train", "dev", "test", "validated")  # validated.tsv: every clip voted good


class CommonVoice(Importer):
    name = "commonvoice"
    about = "Common Voice language folder: clips/*.mp3 + train/dev/test/validated.tsv"

    def rows(self, source: Path) -> Iterator[Row | Reject]:
        need_folder(source, "Common Voice language (cv-corpus-*/<lang>)")
        lists = [source / f"{name}.tsv" for name in LISTS if (source / f"{name}.tsv").is_file()]
        if not lists:
            raise CorpusError(
                f"{source}: no {', '.join(n + '.tsv' for n in LISTS)}; give the language "
                "folder of an extracted Common Voice release (cv-corpus-*/<lang>)"
            )
        for tsv in lists:
            yield from self._read(tsv, source / "clips")

    def _read(self, tsv: Path, clips: Path) -> Iterator[Row | Reject]:
        split = tsv.stem
        with open(tsv, encoding="utf-8", errors="replace", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if not {"path", "sentence"} <= set(reader.fieldnames or ()):
                raise CorpusError(
                    f"{tsv}: no path and sentence columns (header: {reader.fieldnames}); "
                    "is this a Common Voice TSV?"
                )
            for line, record in enumerate(reader, start=2):
                path, sentence = record.get("path"), record.get("sentence")
                if not path or sentence is None:
                    yield Reject(split, f"{tsv.name}:{line}", "bad_row", "no path or sentence")
                    continue
                audio = clips / path
                yield Row(split, audio, sentence, Path(path).stem)
