"""The base of every error the user fixes, at the bottom of the import graph.

A DstorchError is bad input or a bad setting: its message is one line that names the file
or key and the fix, and every entry point prints it as `error: ...` (dstorch.entry). Any
other exception that reaches an entry point is a bug: its traceback shows.

Most subclasses keep ValueError (or RuntimeError) as a second base, the type they had
before this base existed, so code that catches those still does.
"""

from __future__ import annotations


class DstorchError(Exception):
    """A problem the user fixes; the message is one line naming the file or key and the fix."""


class UsageError(DstorchError, ValueError):
    """A command line that cannot work (a missing option, a missing input file)."""
