"""Import throughput: files per second of `dstorch import` on a generated corpus tree,
one worker (in process, the baseline) against a process pool, measured in the same run;
and a rerun of the finished import (every clip already converted: what resuming costs).

The trees are dstorch.bench.corpora's: LibriSpeech as 16 kHz FLAC (decode only) and
Common Voice as 48 kHz MP3 (decode and resample to 16 kHz), `clips` files each.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from dstorch.bench.corpora import commonvoice_tree, librispeech_tree
from dstorch.importers import importer
from dstorch.importers.run import import_corpus


@dataclass
class Timing:
    corpus: str
    clips: int
    workers: int
    serial: float  # seconds with one worker
    parallel: float  # seconds with `workers`
    resumed: float  # seconds of a rerun with everything converted

    def lines(self) -> list[str]:
        rate = lambda s: self.clips / s  # noqa: E731
        return [
            f"{self.corpus}: {self.clips} clips",
            f"  1 worker:    {rate(self.serial):7.1f} files/s  (baseline)",
            f"  {self.workers} workers:   {rate(self.parallel):7.1f} files/s  "
            f"({self.serial / self.parallel:.2f}x the baseline)",
            f"  resumed:     {rate(self.resumed):7.1f} files/s  "
            f"({self.serial / self.resumed:.1f}x the baseline; nothing left to convert)",
        ]


def build_tree(corpus: str, root: Path, clips: int) -> Path:
    """A `corpus` tree of `clips` files under root; -> the folder to import."""
    if corpus == "librispeech":
        librispeech_tree(root / "LibriSpeech", {"train-clean-100": clips})
        return root / "LibriSpeech"
    commonvoice_tree(root / "cv" / "en", {"train": list(range(clips))})
    return root / "cv" / "en"


def _timed(corpus: str, source: Path, out: Path, workers: int) -> float:
    start = time.perf_counter()
    summary = import_corpus(importer(corpus), source, out, workers=workers)
    elapsed = time.perf_counter() - start
    if sum(summary.clips.values()) == 0 or summary.rejects:
        raise RuntimeError(f"{corpus}: the benchmark import rejected clips: {summary.rejects}")
    return elapsed


def measure(corpus: str, work: Path, clips: int, workers: int | None = None) -> Timing:
    workers = workers or os.cpu_count() or 1
    source = build_tree(corpus, work / "src", clips)
    serial = _timed(corpus, source, work / "one", 1)
    parallel = _timed(corpus, source, work / "many", workers)
    resumed = _timed(corpus, source, work / "many", workers)
    return Timing(corpus, clips, workers, serial, parallel, resumed)
