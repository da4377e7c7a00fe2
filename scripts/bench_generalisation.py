"""`make bench-generalisation`: accuracy on voices never heard in training, with and without
augmentation, from one run. Settings come from configuration.env (and make overrides)."""

import argparse
import os
from pathlib import Path

from dstorch.config import PipelineConfig
from dstorch.experiment import generalisation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, default=Path("build/generalisation"))
    parser.add_argument("--holdout", type=int, default=3, help="speakers kept out of training")
    parser.add_argument("--augment", default=None, help="specs; default: AUGMENT")
    args = parser.parse_args()
    config = PipelineConfig.load(args.root / "configuration.env")
    augment = args.augment or config.augment
    if not augment:
        raise SystemExit("error: AUGMENT is empty; set it (make AUGMENT=...) or pass --augment")
    generalisation(args.root, args.out, args.holdout, augment, dict(os.environ))


if __name__ == "__main__":
    main()
