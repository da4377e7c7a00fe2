"""`python -m dstorch.prepare [--root DIR] [--config FILE]`: prepare data/ for training."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dstorch.config import ConfigError, PipelineConfig
from dstorch.prepare import PrepareError, prepare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dstorch.prepare", description=__doc__)
    parser.add_argument("--root", default=".", help="project folder (original/, commands.csv)")
    parser.add_argument("--config", default=None, help="default: <root>/configuration.env")
    args = parser.parse_args(argv)
    root = Path(args.root)
    try:
        config = PipelineConfig.load(args.config or root / "configuration.env", root=root)
        prepare(config, root)
    except (PrepareError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions: say which file, not a traceback
        print(f"error: {e.filename or ''}: {e.strerror or e}; fix and run again", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run again to continue (finished files are kept)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
