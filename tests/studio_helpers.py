"""The studio as a user runs it: `python -m dstorch studio` in a project folder (a copy of
configuration.env with small, fast training settings), reached over HTTP."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from runner_helpers import FAST, ROOT

from dstorch.config import ENV_FILE
from dstorch.datafiles import COMMANDS_CSV
from dstorch.runner.base import set_env_value

URL_LINE = re.compile(r"Studio: (http://\S+/\?token=(\S+))")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(root: Path, commands: dict[str, str], **settings: str) -> Path:
    """root/configuration.env (FAST, local runner, a free studio port) and commands.csv."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ENV_FILE).write_text((ROOT / ENV_FILE).read_text())
    values = {**FAST, "RUNNER": "local", "STUDIO_PORT": str(free_port()), **settings}
    for key, value in values.items():
        set_env_value(root / ENV_FILE, key, value)
    rows = ["id,en"] + [f"{key},{text}" for key, text in commands.items()]
    (root / COMMANDS_CSV).write_text("\n".join(rows) + "\n")
    return root


class Studio:
    """A running `dstorch studio` (stop() ends it)."""

    def __init__(self, root: Path):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        for key in [k for k in env if k.startswith("DSTORCH_")]:
            del env[key]  # only the project's configuration.env counts
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dstorch", "studio"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line = self.process.stdout.readline()
        match = URL_LINE.search(line)
        assert match, f"no URL printed: {line!r}"
        self.url, self.token = match[1], match[2]
        self.base = self.url.split("/?")[0]
        for _ in range(100):  # the URL is printed just before uvicorn listens
            try:
                urllib.request.urlopen(self.base + "/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

    def request(self, path: str, data=None, token: bool = True, headers: dict | None = None):
        """-> (status, JSON body or text)."""
        headers = dict(headers or {})
        if token:
            headers["X-Studio-Token"] = self.token
        if isinstance(data, (dict, list)):
            data = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        method = "POST" if data is not None else "GET"
        req = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
