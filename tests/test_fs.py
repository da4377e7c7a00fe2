"""dstorch.fs: the one atomic write, its one-line storage errors and the run lock."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from conftest import ROOT
from fault_helpers import on_full_disk, python, without_write_permission

from dstorch.fs import (
    TEMP_GLOB,
    AlreadyRunning,
    StorageError,
    atomic_target,
    atomic_write,
    lock_busy,
    remove_stale_temps,
    take_lock,
)


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "state.json"
    atomic_write(target, "one")
    atomic_write(target, b"two")
    atomic_write(target, lambda f: f.write(b"three"))
    assert target.read_text() == "three"
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_temp_files_are_unique_and_removed_on_error(tmp_path):
    target = tmp_path / "clip.wav"
    atomic_write(target, b"old")
    # Two writers of one file at once (two jobs, parallel make) must not share a temp file.
    with atomic_target(target) as first, atomic_target(target) as second:
        assert first != second and first.suffix == second.suffix == ".wav"
        first.write_bytes(b"a")
        second.write_bytes(b"b")
    assert target.read_bytes() == b"a"  # the outer block finished last
    with pytest.raises(RuntimeError):
        with atomic_target(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"a"
    assert list(tmp_path.glob(TEMP_GLOB)) == []


def test_a_name_of_255_bytes_can_be_written_atomically(tmp_path):
    """The temp name once held the whole target name: ENAMETOOLONG past 228 characters."""
    target = tmp_path / ("\u00e9" * 100 + "x" * 51 + ".wav")  # 255 bytes in UTF-8
    atomic_write(target, b"data")
    assert target.read_bytes() == b"data" and os.listdir(tmp_path) == [target.name]


def test_stale_temps_are_removed(tmp_path):
    (tmp_path / ".dstorch-tmp-best.pt.x1.tmp.pt").write_bytes(b"killed mid-write")
    (tmp_path / "best.pt").write_bytes(b"kept")
    assert [p.name for p in remove_stale_temps(tmp_path)] == [".dstorch-tmp-best.pt.x1.tmp.pt"]
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


WRITE_BIG = """
import sys
from pathlib import Path
from dstorch.fs import StorageError, atomic_write
target = Path(sys.argv[1]) / "model.pbmm"
atomic_write(target, b"small")
try:
    atomic_write(target, b"x" * 200_000)
except StorageError as e:
    print("ERROR", e)
print("KEPT", target.read_bytes() == b"small")
print("LEFT", sorted(p.name for p in target.parent.iterdir()))
"""


def test_full_disk_is_a_one_line_error_and_leaves_no_temp(tmp_path):
    disk = tmp_path / "disk"
    result = on_full_disk(disk, 64, [*python(WRITE_BIG), str(disk)])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ERROR cannot write {disk}/model.pbmm: no space left on the device; " + (
        "free some space and retry"
    )
    assert lines[1:] == ["KEPT True", "LEFT ['model.pbmm']"]


def test_permission_denied_is_a_one_line_error(tmp_path):
    folder = tmp_path / "locked"
    code = (
        "import sys\nfrom dstorch.fs import StorageError, atomic_write\n"
        "try:\n    atomic_write(sys.argv[1] + '/report.json', '{}')\n"
        "except StorageError as e:\n    print(e)\n"
    )
    result = without_write_permission(folder, [*python(code), str(folder)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"cannot write {folder}/report.json: permission denied; "
        "fix the permissions of the file or its folder"
    )
    assert list(folder.iterdir()) == []


def test_storage_error_is_a_value_error():
    # The CLI prints ValueErrors as one line; StorageError must be one.
    assert issubclass(StorageError, ValueError) and issubclass(AlreadyRunning, ValueError)


HOLD = "import sys, time\nfrom dstorch.fs import take_lock, write_lock_pid\nimport os\n" + (
    "fd = take_lock(sys.argv[1]); write_lock_pid(fd, os.getpid()); print('held', flush=True)\n"
    "time.sleep(600)\n"
)


def test_lock_names_the_holder_and_dies_with_it(tmp_path):
    holder = subprocess.Popen(
        [*python(HOLD), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning, match=rf"^already running \(pid {holder.pid}\)"):
            take_lock(tmp_path)
        assert lock_busy(tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)  # a crash: the kernel drops the lock
        holder.wait()
    assert not lock_busy(tmp_path)
    os.close(take_lock(tmp_path))  # reaped: the lock is free again
