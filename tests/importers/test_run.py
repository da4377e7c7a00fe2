"""The import engine: resumable, parallel = serial, limits, never writes into the source."""

import csv
import os

import pytest
from importer_helpers import librispeech_tree

from dstorch.importers import CorpusError, importer
from dstorch.importers.run import import_corpus


@pytest.fixture
def source(tmp_path):
    librispeech_tree(tmp_path / "src", {"train-clean-100": 4, "dev-clean": 2})
    return tmp_path / "src"


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_parallel_equals_serial(source, tmp_path):
    import_corpus(importer("librispeech"), source, tmp_path / "one", workers=1)
    import_corpus(importer("librispeech"), source, tmp_path / "two", workers=2)
    one, two = _snapshot(tmp_path / "one"), _snapshot(tmp_path / "two")
    one.pop(next(k for k in one if k.name == "import.json"))
    two.pop(next(k for k in two if k.name == "import.json"))
    assert one == two


def test_rerun_skips_converted_clips_and_redoes_changed_ones(source, tmp_path):
    out = tmp_path / "out"
    first = import_corpus(importer("librispeech"), source, out, workers=1)
    assert (first.converted, first.reused) == (6, 0)
    before = _snapshot(out)
    # an interrupted run: one clip never written; a source newer than its copy
    (out / "clips" / "dev-clean" / "101-2001-0001.wav").unlink()
    changed = next(source.rglob("100-2000-0000.flac"))
    os.utime(changed, (changed.stat().st_mtime + 10,) * 2)
    again = import_corpus(importer("librispeech"), source, out, workers=1)
    assert (again.converted, again.reused) == (2, 4)
    assert _snapshot(out) == before


def test_limit_is_per_split(source, tmp_path):
    summary = import_corpus(importer("librispeech"), source, tmp_path / "out", limit=1)
    assert dict(summary.clips) == {"train-clean-100": 1, "dev-clean": 1}


@pytest.mark.parametrize("where", ["inside", "same", "above"])
def test_output_overlapping_the_source_is_refused_before_writing(source, where):
    out = {"inside": source / "out", "same": source, "above": source.parent}[where]
    before = _snapshot(source)
    with pytest.raises(CorpusError, match="never written to"):
        import_corpus(importer("librispeech"), source, out)
    assert _snapshot(source) == before


def test_clip_too_short_for_its_transcript_and_max_duration(source, tmp_path):
    listing = next(source.rglob("100-2000.trans.txt"))
    lines = listing.read_text().splitlines()
    lines[0] = lines[0].split()[0] + " " + "A VERY LONG TRANSCRIPT " * 20  # 1.3 s of audio
    listing.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    summary = import_corpus(importer("librispeech"), source, out, max_duration=1.5)
    assert summary.rejects["transcript_too_long"] == 1 and summary.rejects["too_long"] >= 1
    with open(out / "rejects.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["problem"] for r in rows} == {"transcript_too_long", "too_long"}
    assert all(r["source"].endswith(".flac") for r in rows)
