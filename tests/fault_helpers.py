"""Real storage faults for tests: a tiny tmpfs that fills up (ENOSPC) and a folder the
process may not write (EACCES), both through Linux user namespaces (`unshare`), so they
work unprivileged and as root (where chmod alone would not stop a write)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _unshare(args: list[str]) -> list[str]:
    if not shutil.which("unshare"):
        pytest.fail("unshare (util-linux) is needed for the storage fault tests")
    return ["unshare", *args]


def python_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def on_full_disk(folder: Path, size_kb: int, argv: list[str], **kwargs):
    """Run argv with `folder` replaced by an empty tmpfs of `size_kb` KiB (visible only to
    that process); -> CompletedProcess (text)."""
    folder.mkdir(parents=True, exist_ok=True)
    mount = f'mount -t tmpfs -o size={size_kb}k tmpfs "$0" && exec "$@"'
    command = _unshare(["-Urm", "sh", "-c", mount, str(folder), *argv])
    kwargs.setdefault("env", python_env())
    return subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)


def without_write_permission(folder: Path, argv: list[str], **kwargs):
    """Run argv where `folder` (made read-only) refuses writes with EACCES, also as root:
    in a new user namespace root's override capabilities do not reach our files."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    kwargs.setdefault("env", python_env())
    try:
        return subprocess.run(
            _unshare(["-U", *argv]), capture_output=True, text=True, timeout=600, **kwargs
        )
    finally:
        folder.chmod(0o755)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def dstorch(*args: str) -> list[str]:
    return [sys.executable, "-m", "dstorch", *args]


_INSPECT = """
import json, os, subprocess, sys
folder, argv = sys.argv[1], sys.argv[2:]
result = subprocess.run(argv, capture_output=True, text=True)
state = os.path.join(folder, "state.json")
print(json.dumps({
    "rc": result.returncode,
    "stderr": result.stderr,
    "state": json.load(open(state)) if os.path.exists(state) else None,
    "files": sorted(os.listdir(folder)),
}))
"""


def inspect_on_full_disk(folder: Path, size_kb: int, argv: list[str]) -> dict:
    """Run argv with `folder` a full-able tmpfs, then look at it from inside the mount:
    {"rc", "stderr", "state" (folder/state.json parsed, or None), "files"}."""
    import json

    result = on_full_disk(folder, size_kb, [*python(_INSPECT), str(folder), *argv])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
