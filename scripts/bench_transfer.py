"""`make bench-transfer`: does a base model built by `make pretrain` help when only a few
takes per command exist? Fine-tuned vs from scratch on the same takes, judged by the
official DeepSpeech client on the voices of a synthesizer engine never used in training
(dstorch/bench/transfer.py). CPU-sized by default; `make KEY=value` overrides any key.
"""

import argparse
import os
import sys
from pathlib import Path

from dstorch.bench.transfer import format_results, transfer_run
from dstorch.config import ENV_PREFIX
from dstorch.entry import command_line, run_guarded
from dstorch.inference.official import fetch_library, load_library

# A base model that a 2-core CPU builds in about 8 minutes (docs/experiments.md).
CPU_SIZE = {"PRETRAIN_SENTENCES": "800", "PRETRAIN_EPOCHS": "12", "N_HIDDEN": "128"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, default=Path("build/transfer"))
    parser.add_argument("--holdout", default="festival", help="engine never used in training")
    parser.add_argument("--takes", type=int, default=3, help="recordings per command")
    parser.add_argument("--clips", type=int, default=6, help="held-out takes per command")
    args = parser.parse_args()
    load_library(fetch_library(args.root / "build" / "deepspeech-0.9.3"))
    overrides = {ENV_PREFIX + k: v for k, v in CPU_SIZE.items()}
    overrides.update({k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)})
    results = transfer_run(args.root, args.out, args.holdout, args.takes, overrides, args.clips)
    print(format_results(results))


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
