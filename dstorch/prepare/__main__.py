"""`python -m dstorch.prepare [--root DIR] [--config FILE]`: prepare data/ for training."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dstorch.config import PipelineConfig
from dstorch.entry import command_line, run_guarded
from dstorch.prepare import prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dstorch.prepare", description=__doc__)
    parser.add_argument("--root", default=".", help="project folder (original/, commands.csv)")
    parser.add_argument("--config", default=None, help="default: <root>/configuration.env")
    args = parser.parse_args(argv)
    root = Path(args.root)

    def run() -> None:
        config = PipelineConfig.load(args.config or root / "configuration.env", root=root)
        prepare(config, root)

    return run_guarded(
        run,
        command_line(argv, "python -m dstorch.prepare"),
        user_exit=1,  # this entry point has always said 1
        interrupted="interrupted; run again to continue (finished files are kept)",
    )


if __name__ == "__main__":
    sys.exit(main())
