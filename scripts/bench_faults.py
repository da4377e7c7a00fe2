"""`make bench-faults`: SIGKILL the trainer (20 trials), prepare and the scorer stage at
random seeded points, rerun each to the end, and print what survived; then the data-loss
faults (dstorch/bench/dataloss.py): every last-*.pt corrupt, a NaN loss, an export into a
folder with other files, `make clean` of a folder that is not dstorch's.

Usage: python scripts/bench_faults.py [--trials 20] [--dataloss_trials 5] [--seed 0] [--keep DIR]
Exit status 1 when any trial lost work or data, left a corrupt or temp file, ended with
weights that differ from the uninterrupted run, or without a clear message.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dstorch.bench.dataloss import dataloss_trials  # noqa: E402
from dstorch.bench.faults import prepare_trials, scorer_trials, trainer_trials  # noqa: E402
from dstorch.entry import command_line, run_guarded  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trainer kills")
    parser.add_argument("--stage_trials", type=int, default=3, help="prepare/scorer kills")
    parser.add_argument("--dataloss_trials", type=int, default=5, help="per data-loss fault")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dstorch-faults-") as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        results = {
            "trainer": trainer_trials(work, args.trials, args.seed),
            "prepare": prepare_trials(work, args.stage_trials, args.seed),
            "scorer stage": scorer_trials(work, args.stage_trials, args.seed),
            **dataloss_trials(work, args.dataloss_trials, args.seed),
        }
    for kind, figures in results.items():
        print(figures.line(kind))
    problems = [p for figures in results.values() for p in figures.problems]
    for problem in problems:
        print(f"  problem: {problem}")
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
