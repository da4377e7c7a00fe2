"""Epoch time of the default run (`make bench`; the example on a fresh clone): the trainer
making each batch itself, against batches made ahead in a worker; ratios from this run.

    python scripts/bench_epochs.py [--epochs 3] [--keep FOLDER]
"""

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dstorch.bench.epochs import bench_epochs, format_epochs  # noqa: E402
from dstorch.entry import command_line, run_guarded  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed each way")
    parser.add_argument("--keep", type=Path, help="prepare and train in this folder, kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dstorch-bench-epochs-") as scratch:
        folder = args.keep or Path(scratch)
        print(f"preparing the example in {folder} (every default), then training", flush=True)
        for line in format_epochs(bench_epochs(ROOT, folder, args.epochs)):
            print(line, flush=True)


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
