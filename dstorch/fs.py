"""The one atomic write, and the one-line form of a full disk or a refused permission.

Every state, checkpoint, CSV and model file is written through `atomic_write` /
`atomic_target`: a unique temp file in the target's folder (so two writers never share
one, and the final rename stays on one file system), fsync, then `os.replace`. Readers
therefore see the old file or the new one, never half of one; a temp file never outlives
an error. A crash (SIGKILL, power loss) can still leave a temp file: they all match
`TEMP_GLOB`, and `remove_stale_temps` clears them where a lock says nobody writes.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from dstorch.errors import DstorchError

TEMP_PREFIX = ".dstorch-tmp-"
# The source checkout (for an editable install; in site-packages it has no pyproject.toml):
# where build/ keeps KenLM and the compiled decoder kernel.
SOURCE_ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = "job.lock"  # in a checkpoint dir: held by the one job that writes there
PREPARE_LOCK = ".dstorch-prepare.lock"  # in the data dir, while prepare writes there
LOCK_FD_ENV = "DSTORCH_LOCK_FD"  # a lock the runner took and handed to the job it started
LOCK_TRIES = 5  # about half a second of retries before "already running"
TEMP_GLOB = f"{TEMP_PREFIX}*"
# The OSErrors a user fixes outside the program: free space, fix permissions, remount.
STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device; free some space and retry",
    errno.EDQUOT: "disk quota exceeded; free some space and retry",
    errno.EACCES: "permission denied; fix the permissions of the file or its folder",
    errno.EPERM: "operation not permitted; fix the permissions of the file or its folder",
    errno.EROFS: "read-only file system; write somewhere writable",
}


class StorageError(DstorchError, ValueError):
    """A write failed for a reason the user fixes (disk full, permissions): one line."""


def storage_error(error: OSError, path: str | Path | None = None) -> StorageError | None:
    """The one-line StorageError for a full disk or refused permission, else None."""
    reason = STORAGE_ERRNOS.get(error.errno)
    if reason is None:
        return None
    where = path if path is not None else (error.filename or "a file")
    return StorageError(f"cannot write {where}: {reason}")


# Bytes of the target's name kept in a temp name: with the prefix, mkstemp's 8 random
# characters and the suffix it stays under the 255 bytes a file name may have, however
# long the target's name (a 228-character recording once aborted prepare here).
TEMP_NAME_BYTES = 160


def _temp_path(path: Path) -> tuple[int, Path]:
    # The suffix keeps the file type for tools (sox picks the format from it).
    name = path.name.encode()[:TEMP_NAME_BYTES].decode(errors="ignore")
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMP_PREFIX}{name}.", suffix=".tmp" + path.suffix[:16]
    )
    return fd, Path(tmp)


@contextmanager
def atomic_target(path: str | Path, mode: int | None = 0o644) -> Iterator[Path]:
    """Yield a unique temp path next to `path`; it replaces `path` only if the block
    succeeds (fsynced first). The temp file is removed on any error.

    For writers that need a file name (sox, ffmpeg, zipfile); see atomic_write for bytes.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _temp_path(path)
        os.close(fd)
    except OSError as e:
        raise storage_error(e, path) or e from None
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except OSError as e:
        raise storage_error(e, path) or e from None
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, data: bytes | str | Callable[[BinaryIO], None]) -> Path:
    """Write `data` (bytes, text as UTF-8, or a function given the open binary file) to
    `path` atomically; -> path. StorageError (one line naming the file) on a full disk or
    a refused permission."""
    path = Path(path)
    with atomic_target(path) as tmp:
        with open(tmp, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def remove_stale_temps(directory: str | Path, recursive: bool = False) -> list[Path]:
    """Delete temp files a killed writer left in `directory` (and below it when
    `recursive`); call it holding the folder's lock."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = directory.rglob(TEMP_GLOB) if recursive else directory.glob(TEMP_GLOB)
    removed = [p for p in found if p.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (audio and wheels can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_digest(paths: list[str | Path]) -> str:
    """sha256 over the contents of `paths` in order (missing ones count as empty): tells
    whether a run's data changed since it finished."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
        except OSError:
            digest.update(b"-")
    return digest.hexdigest()


class AlreadyRunning(DstorchError, ValueError):
    """Another job holds the run's lock; the message names its pid."""


def lock_holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "?"
    except OSError:
        return "?"


def take_lock(directory: str | Path, name: str = LOCK_FILE) -> int:
    """Lock `<directory>/<name>` for this process (and children that inherit the fd);
    -> the open fd. The kernel drops the lock when the last holder exits, even on SIGKILL,
    so a crashed run never leaves a stale lock. AlreadyRunning when another holds it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / name, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise storage_error(e, directory / name) or e from None
    for attempt in range(LOCK_TRIES):  # a holder may be exiting, or a probe in progress
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            time.sleep(0.05 * (attempt + 1))
    os.close(fd)
    pid = lock_holder(directory / name)
    raise AlreadyRunning(f"already running (pid {pid}) in {directory}")


def lock_busy(directory: str | Path, name: str = LOCK_FILE) -> bool:
    """Whether a live process holds `<directory>/<name>`: exactly as long as the job has
    not exited (the kernel releases the lock with the holder's last file descriptor)."""
    try:
        fd = os.open(Path(directory) / name, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also releases the probe's own shared lock


def write_lock_pid(fd: int, pid: int) -> None:
    """Name the holder in the lock file (what a second `make run` reports)."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{pid}\n".encode(), 0)


def _is_file(fd: int, path: Path) -> bool:
    """Whether descriptor `fd` of this process is open on `path`."""
    try:
        opened, named = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (opened.st_dev, opened.st_ino) == (named.st_dev, named.st_ino)


@contextmanager
def run_lock(directory: str | Path) -> Iterator[None]:
    """Hold the run lock of `directory` for the block: the runner's inherited one when
    DSTORCH_LOCK_FD names it, else a fresh one."""
    inherited = os.environ.pop(LOCK_FD_ENV, None)
    if inherited and not _is_file(int(inherited), Path(directory) / LOCK_FILE):
        # Started by torchrun, which the runner gave the lock: torchrun holds it for the
        # whole run, but its workers do not inherit the descriptor (it closes them).
        if lock_busy(directory):
            yield
            return
        inherited = None
    fd = int(inherited) if inherited else take_lock(directory)
    if inherited:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # already ours: a no-op check
    write_lock_pid(fd, os.getpid())
    try:
        yield
    finally:
        os.close(fd)
