"""`make bench-import`: files per second of `dstorch import` on generated 1,000-clip
LibriSpeech (FLAC) and Common Voice (MP3) trees, 1 worker vs a process pool, same run.

Usage: python scripts/bench_import.py [--clips 1000] [--workers N] [--corpus NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

# One thread per worker process: the pool is the parallelism being measured.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dstorch.bench.imports import measure  # noqa: E402
from dstorch.entry import command_line, run_guarded  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000)
    parser.add_argument("--workers", type=int, help="pool size (default: CPU count)")
    parser.add_argument(
        "--corpus", action="append", choices=["librispeech", "commonvoice"], default=[]
    )
    args = parser.parse_args()
    for corpus in args.corpus or ["librispeech", "commonvoice"]:
        with tempfile.TemporaryDirectory(prefix="dstorch-bench-import-") as tmp:
            timing = measure(corpus, Path(tmp), args.clips, args.workers)
        print("\n".join(timing.lines()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
