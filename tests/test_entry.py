"""How entry points end (dstorch.entry): a user error (DstorchError) is one line and exit 2;
anything else is a bug: its traceback, then one line asking to report it with the command."""

from __future__ import annotations

import asyncio
import errno
import subprocess
import sys

import pytest
from conftest import ROOT

from dstorch.cli import main
from dstorch.errors import DstorchError, UsageError
from dstorch.runner import preflight

CONFIG = str(ROOT / "configuration.env")


def _fail_with(monkeypatch, error: BaseException) -> None:
    """`dstorch config` raises `error` from inside (where it checks AUGMENT)."""

    def fail(config):
        raise error

    monkeypatch.setattr(preflight, "check_augment", fail)


def test_a_user_error_is_one_line_and_exit_2():
    done = subprocess.run(
        [sys.executable, "-m", "dstorch", "train"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert (
        done.stderr == "error: --train_files is required; give one or more comma-separated CSVs\n"
    )


@pytest.mark.parametrize("error", [ZeroDivisionError("division by zero"), ValueError("oops")])
def test_a_bug_shows_its_traceback_and_asks_to_report_it(monkeypatch, capsys, error):
    """A ValueError too: before DstorchError, the CLI took any ValueError for bad input."""
    _fail_with(monkeypatch, error)
    assert main(["config", "--config", CONFIG]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and f"{type(error).__name__}: " in err
    last = err.splitlines()[-1]
    assert "bug" in last and "report it" in last and not last.startswith("error:")
    assert last.endswith(f"the command that failed: dstorch config --config {CONFIG}")


def test_a_user_error_from_deep_inside_is_one_line(monkeypatch, capsys):
    _fail_with(monkeypatch, UsageError("AUGMENT: bad; fix it"))
    assert main(["config", "--config", CONFIG]) == 2
    assert capsys.readouterr().err == "error: AUGMENT: bad; fix it\n"


def test_dstorch_debug_shows_the_traceback_of_a_user_error(monkeypatch):
    _fail_with(monkeypatch, UsageError("AUGMENT: bad; fix it"))
    monkeypatch.setenv("DSTORCH_DEBUG", "1")
    with pytest.raises(DstorchError, match="AUGMENT: bad"):
        main(["config", "--config", CONFIG])


def test_a_full_disk_is_one_line_not_a_bug(monkeypatch, capsys):
    _fail_with(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "data/x.csv"))
    assert main(["config", "--config", CONFIG]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write data/x.csv: no space left on the device")
    assert err.count("\n") == 1


def test_ctrl_c_exits_130_without_a_traceback(monkeypatch, capsys):
    _fail_with(monkeypatch, KeyboardInterrupt())
    assert main(["config", "--config", CONFIG]) == 130
    assert capsys.readouterr().err == ""


def _asgi_get(app, path: str) -> tuple[int, bytes]:
    """One GET through an ASGI app, without a server: -> (status, body)."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_bug_in_the_studio_is_a_500_and_reported_on_its_terminal(capsys):
    from dstorch.studio.app import BugReport

    async def broken(scope, receive, send):
        raise ZeroDivisionError("division by zero")

    status, body = _asgi_get(BugReport(broken), "/api/state")
    assert status == 500 and b"internal error (ZeroDivisionError)" in body
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1].endswith("make studio, then GET /api/state")
