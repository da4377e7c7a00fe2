"""`make bench-generalisation`: accuracy on voices never heard in training, with and without
augmentation, from one run. Settings come from configuration.env (and make overrides)."""

import argparse
import os
from pathlib import Path

from dstorch.config import PipelineConfig
from dstorch.experiment import generalisation

DEFAULT_AUGMENT = (
    "volume[p=0.5,dbfs=-35:-15] pitch[p=0.5,pitch=1~0.15] tempo[p=0.5,factor=1~0.15] "
    "reverb[p=0.3,delay=40~30,decay=10~5] frequency_mask[p=0.5,n=2,size=2] "
    "time_mask[p=0.5,n=2,size=4]"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, default=Path("build/generalisation"))
    parser.add_argument("--holdout", type=int, default=3, help="speakers kept out of training")
    parser.add_argument("--augment", default=None, help="specs; default: AUGMENT or a preset")
    args = parser.parse_args()
    config = PipelineConfig.load(args.root / "configuration.env")
    augment = args.augment or config.augment or DEFAULT_AUGMENT
    generalisation(args.root, args.out, args.holdout, augment, dict(os.environ))


if __name__ == "__main__":
    main()
