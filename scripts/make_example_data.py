#!/usr/bin/env python3
"""Regenerate the example data set: commands.csv and original/en/*.wav (needs espeak-ng, sox).

Usage: python scripts/make_example_data.py [--root DIR] [--voices N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from dstorch.pipeline.example_data import VOICES, make_example_data  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--voices", type=int, default=len(VOICES))
    args = parser.parse_args(argv)
    try:
        files = make_example_data(Path(args.root), voices=args.voices)
    except (RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {len(files)} recordings to {Path(args.root, 'original', 'en')} "
        f"and {Path(args.root, 'commands.csv')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
