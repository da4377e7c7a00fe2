#!/usr/bin/env python3
"""Regenerate the example data set: commands.csv and original/en/*.wav (needs espeak-ng, sox).

Refuses to write over recordings or a commands.csv that are not the shipped example (files
git does not track, or tracked files that were changed) unless given --force (or
`make example-data FORCE=yes`).

Usage: python scripts/make_example_data.py [--root DIR] [--voices N] [--force]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from dstorch.config import ENV_PREFIX, ConfigError, parse_bool  # noqa: E402
from dstorch.prepare.example_data import VOICES, make_example_data  # noqa: E402


def users_files(root: Path, language: str = "en") -> list[str]:
    """Files the generator would overwrite or mix with that are not the shipped example:
    untracked or modified in git, or every existing file where `root` is not a checkout."""
    targets = [p for p in (root / "commands.csv", root / "original" / language) if p.exists()]
    if not targets:
        return []
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", *map(str, targets)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if status.returncode == 0:
        return [line[3:] for line in status.stdout.splitlines()]
    folder = root / "original" / language
    files = sorted(folder.rglob("*")) if folder.is_dir() else []
    return [str(p) for p in [root / "commands.csv", *files] if p.is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--voices", type=int, default=len(VOICES))
    parser.add_argument("--force", action="store_true", help="write over your own files too")
    args = parser.parse_args(argv)
    root = Path(args.root)
    try:
        force = args.force or parse_bool("FORCE", os.environ.get(ENV_PREFIX + "FORCE", "no"))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    mine = [] if force else users_files(root)
    if mine:
        more = f" and {len(mine) - 1} more" if len(mine) > 1 else ""
        print(
            f"error: {mine[0]}{more} are your own (not the shipped example); "
            "move them away or run `make example-data FORCE=yes` to overwrite",
            file=sys.stderr,
        )
        return 2
    try:
        files = make_example_data(root, voices=args.voices)
    except (RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"wrote {len(files)} recordings to {Path(root, 'original', 'en')} "
        f"and {Path(root, 'commands.csv')}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
