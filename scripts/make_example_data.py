#!/usr/bin/env python3
"""Regenerate the example data set: commands.csv and original/en/*.wav (needs espeak-ng, sox).

Refuses to write over recordings or a commands.csv that are not the shipped example (files
git does not track, or tracked files that were changed) unless given --force (or
`make example-data FORCE=yes`).

--example picks the command set (dstorch/prepare/example_data.py EXAMPLES): "simple", the
shipped one, or "confusable" (`make example-data EXAMPLE=confusable`).

Usage: python scripts/make_example_data.py [--root DIR] [--voices N] [--example NAME] [--force]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from dstorch.config import ENV_PREFIX, parse_bool  # noqa: E402
from dstorch.datafiles import COMMANDS_CSV, ORIGINAL_DIR  # noqa: E402
from dstorch.entry import command_line, run_guarded  # noqa: E402
from dstorch.prepare.example_data import (  # noqa: E402
    EXAMPLES,
    SIMPLE,
    VOICES,
    ExampleError,
    example_commands,
    is_example,
    make_example_data,
)


def users_files(root: Path, language: str = "en") -> list[str]:
    """Files the generator would overwrite or mix with that are not the shipped example:
    untracked or modified in git, or every existing file where `root` is not a checkout;
    either way, never a file an example set writes."""
    targets = [p for p in (root / COMMANDS_CSV, root / ORIGINAL_DIR / language) if p.exists()]
    if not targets:
        return []
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", *map(str, targets)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if status.returncode == 0:
        # Another example set's files (`EXAMPLE=confusable` before) are the generator's own:
        # an untracked take of an example voice, or a commands.csv of an example set.
        changed = [(line[:2], line[3:]) for line in status.stdout.splitlines()]
        return [
            name
            for state, name in changed
            if not (is_example(root / name) and (state == "??" or name == COMMANDS_CSV))
        ]
    folder = root / ORIGINAL_DIR / language
    files = sorted(folder.rglob("*")) if folder.is_dir() else []
    return [str(p) for p in [root / COMMANDS_CSV, *files] if p.is_file() and not is_example(p)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--voices", type=int, default=len(VOICES))
    parser.add_argument("--force", action="store_true", help="write over your own files too")
    parser.add_argument(
        "--example",
        default=os.environ.get(ENV_PREFIX + "EXAMPLE") or SIMPLE,  # make example-data EXAMPLE=
        help=f"the command set: {', '.join(EXAMPLES)}",
    )
    args = parser.parse_args(argv)
    return run_guarded(lambda: write(args), command_line(argv))


def write(args: argparse.Namespace) -> None:
    root = Path(args.root)
    commands = example_commands(args.example)
    force = args.force or parse_bool("FORCE", os.environ.get(ENV_PREFIX + "FORCE", "no"))
    mine = [] if force else users_files(root)
    if mine:
        more = f" and {len(mine) - 1} more" if len(mine) > 1 else ""
        raise ExampleError(
            f"{mine[0]}{more} are your own (not the shipped example); "
            "move them away or run `make example-data FORCE=yes` to overwrite"
        )
    files = make_example_data(root, commands, voices=args.voices)
    print(
        f"wrote {len(files)} recordings to {Path(root, ORIGINAL_DIR, 'en')} "
        f"and {Path(root, COMMANDS_CSV)} (example {args.example!r})"
    )


if __name__ == "__main__":
    sys.exit(main())
