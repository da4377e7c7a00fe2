"""`make bench-generalisation`: accuracy on voices of a synthesizer engine never used in
training, judged by the official DeepSpeech client, with each lever on and off, from one
run. Each held-out engine is rotated in turn. Settings come from configuration.env (and
`make KEY=value`); the levers are described in dstorch/bench/experiment.py. With
`--seeds` every variant is trained once per seed and the table gives the mean and spread.

The example recordings are espeak-ng voices, so on the example data espeak-ng cannot be
held out: the default rotates flite and festival.
"""

import argparse
import os
from pathlib import Path

from dstorch.bench.experiment import VARIANTS, format_outcomes, format_summary, holdout_run
from dstorch.config import ENV_PREFIX
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
    args = parser.parse_args()
    load_library(fetch_library(args.root / "build" / "deepspeech-0.9.3"))
    variants = [v for v in VARIANTS if v.name in args.variants.split(",")]
    overrides = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    overrides.pop(f"{ENV_PREFIX}SEEDS", None)  # the bench's, not a configuration.env key
    seeds = [s for s in args.seeds.split(",") if s] or [None]
    outcomes = []
    for engine in args.holdout.split(","):
        for seed in seeds:
            out = args.out / engine if seed is None else args.out / engine / f"seed-{seed}"
            seeded = overrides if seed is None else {**overrides, f"{ENV_PREFIX}RANDOM_SEED": seed}
            outcomes += holdout_run(args.root, out, engine, variants, seeded, args.clips)
    print(format_outcomes(outcomes) if len(seeds) == 1 else format_summary(outcomes))


if __name__ == "__main__":
    main()
