#!/usr/bin/env python3
"""Write the README's configuration table from PipelineConfig's field metadata (help text
and allowed values), in configuration.env's order. tests/test_config.py fails when the
README and the fields diverge; run this after adding or changing a key.

Usage: python scripts/config_table.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout

from dotenv import dotenv_values  # noqa: E402

from dstorch.config import ENV_FILE, PipelineConfig, describe  # noqa: E402
from dstorch.entry import command_line, run_guarded  # noqa: E402

README = ROOT / "README.md"
BEGIN, END = "<!-- config-table: scripts/config_table.py -->", "<!-- /config-table -->"


def markdown_table(order: list[str]) -> str:
    """Key, meaning and allowed values of every PipelineConfig field, in `order` (the keys
    of configuration.env), unlisted keys last."""
    rank = {name: i for i, name in enumerate(order)}
    rows = sorted(fields(PipelineConfig), key=lambda f: rank.get(f.name.upper(), len(rank)))
    lines = ["| key | meaning | allowed |", "|---|---|---|"]
    for f in rows:
        help_text, allowed = f.metadata["help"], describe(PipelineConfig, f)
        lines.append(f"| `{f.name.upper()}` | {help_text} | {allowed} |")
    return "\n".join(lines)


def rendered(readme: str) -> str:
    """`readme` with the text between the markers replaced by the generated table."""
    order = list(dotenv_values(ROOT / ENV_FILE, interpolate=False))
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{markdown_table(order=order)}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    new = rendered(text)
    if args.check:
        return 0 if new == text else 1
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
