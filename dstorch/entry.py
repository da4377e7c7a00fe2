"""How every entry point ends: `dstorch`, `python -m dstorch.training.launch`, scripts/*.

- a DstorchError (bad input, a bad setting): `error: <its one line>`, exit 2;
- a full disk or a refused permission (dstorch.fs.storage_error): the same;
- Ctrl-C: exit 130, no traceback;
- anything else is a bug: the traceback, then one line asking to report it with the
  command that failed, exit 1.

DSTORCH_DEBUG=1 shows the traceback of a user error too.
"""

from __future__ import annotations

import os
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence

from dstorch.errors import DstorchError
from dstorch.fs import storage_error

EXIT_BUG = 1  # what Python itself exits with for an uncaught exception
EXIT_USER_ERROR = 2  # as argparse does for a bad command line
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
DEBUG_ENV = "DSTORCH_DEBUG"


def command_line(argv: Sequence[str] | None = None, program: str | None = None) -> str:
    """The command as the user would retype it: program (as given; default sys.argv[0])
    and argv (default sys.argv[1:]), quoted for the shell."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([program or shlex.quote(sys.argv[0]), *map(shlex.quote, args)])


def bug_report_line(command: str) -> str:
    return (
        f"This is a bug in dstorch, not a problem with your input: please report it with "
        f"the traceback above and the command that failed: {command}"
    )


def run_guarded(main: Callable[[], int | None], command: str) -> int:
    """main()'s exit status (None: 0), or the status of how it failed (see the module's
    docstring). command: what failed, for the bug report."""
    try:
        return main() or 0
    except DstorchError as e:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - the one place that tells a bug from bad input
        problem = storage_error(e) if isinstance(e, OSError) else None
        if problem is not None and not os.environ.get(DEBUG_ENV):
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_USER_ERROR
        traceback.print_exc()
        print(bug_report_line(command), file=sys.stderr)
        return EXIT_BUG
