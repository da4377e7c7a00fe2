"""`make bench-generalisation`: accuracy on voices of a synthesizer engine never used in
training, judged by the official DeepSpeech client, with each lever on and off, from one
run. Each held-out engine is rotated in turn. Settings come from configuration.env (and
`make KEY=value`); the levers are described in dstorch/bench/experiment.py. With
`--seeds` every variant is trained once per seed and the table gives the mean and spread.

The example recordings are espeak-ng voices, so on the example data espeak-ng cannot be
held out: the default rotates flite and festival.

Two tables per run: exact transcripts per scorer, and acting with the project scorer
(right / wrong command / rejected, false accepts on speech that is no command and noise,
without and with the gate). `--example confusable` (`make bench-generalisation
EXAMPLE=confusable`) runs on the example set of commands one word apart instead of the
project's own, in a project folder under --out.
"""

import argparse
import os
import sys
from pathlib import Path

from dstorch.bench.acting import format_acting, format_acting_summary
from dstorch.bench.experiment import (
    VARIANTS,
    Results,
    example_project,
    format_outcomes,
    format_summary,
    holdout_run,
)
from dstorch.config import ENV_PREFIX
from dstorch.entry import command_line, run_guarded
from dstorch.inference.official import fetch_library, load_library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, default=Path("build/generalisation"))
    parser.add_argument("--holdout", default="flite,festival", help="engines to rotate")
    parser.add_argument("--clips", type=int, default=6, help="test takes per command")
    names = [v.name for v in VARIANTS]
    parser.add_argument("--variants", default=",".join(names), help=f"of: {names}")
    parser.add_argument(
        "--seeds",
        default=os.environ.get(f"{ENV_PREFIX}SEEDS", ""),  # `make bench-generalisation SEEDS=1,2`
        help="RANDOM_SEEDs to train each variant with, comma-separated; empty: RANDOM_SEED",
    )
    parser.add_argument(
        "--example",
        default=os.environ.get(f"{ENV_PREFIX}EXAMPLE", ""),  # make ... EXAMPLE=confusable
        help="run on this example command set (simple, confusable) instead of --root's data",
    )
    args = parser.parse_args()
    load_library(fetch_library(args.root / "build" / "deepspeech-0.9.3"))
    variants = [v for v in VARIANTS if v.name in args.variants.split(",")]
    overrides = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    for key in ("SEEDS", "EXAMPLE"):  # the bench's, not configuration.env keys
        overrides.pop(f"{ENV_PREFIX}{key}", None)
    seeds = [s for s in args.seeds.split(",") if s] or [None]
    root = example_project(args.root, args.out, args.example) if args.example else args.root
    base = args.out / args.example if args.example else args.out  # runs of another set apart
    results = Results()
    for engine in args.holdout.split(","):
        for seed in seeds:
            out = base / engine if seed is None else base / engine / f"seed-{seed}"
            seeded = overrides if seed is None else {**overrides, f"{ENV_PREFIX}RANDOM_SEED": seed}
            results += holdout_run(root, out, engine, variants, seeded, args.clips)
    if len(seeds) == 1:
        print(format_outcomes(results.outcomes) + "\n\n" + format_acting(results.acting))
    else:
        print(format_summary(results.outcomes) + "\n\n" + format_acting_summary(results.acting))


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
