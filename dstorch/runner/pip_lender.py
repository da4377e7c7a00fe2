"""The host's pip configuration, lent to `pip install` inside the image build: a small
HTTP server on 127.0.0.1 serves a rewritten pip.conf, the CA file and the host's local
package folders, for the build's RUN steps (host network, but no host paths) to fetch.
"""

from __future__ import annotations

import ast
import contextlib
import hmac
import html
import http.server
import io
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from dstorch.fs import atomic_target

# pip options worth lending to the build, and which of them name places to fetch from.
PIP_OPTIONS = (
    "index-url",
    "extra-index-url",
    "find-links",
    "cert",
    "trusted-host",
    "timeout",
    "default-timeout",
    "retries",
)
LOCATION_OPTIONS = ("index-url", "extra-index-url", "find-links")
# Later sections win: pip's own precedence (environment over files, install over global).
PIP_SECTIONS = ("global", "download", "install", ":env:")


def host_pip_options(python: str = sys.executable) -> dict[str, str]:
    """pip's effective settings on this machine (`pip config list`: files + environment)."""
    try:
        out = subprocess.run(
            [python, "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        name, sep, value = line.partition("=")
        section, _, option = name.strip().rpartition(".")
        if sep and option in PIP_OPTIONS and section in PIP_SECTIONS:
            found.setdefault(section, {})[option] = _unrepr(value.strip())
    options: dict[str, str] = {}
    for section in PIP_SECTIONS:
        options.update(found.get(section, {}))
    return options


def _unrepr(text: str) -> str:
    """`pip config list` prints values as Python reprs ('a\\nb' for two lines)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip("'\"")
    return value if isinstance(value, str) else text


# What the lender serves from a local index or find-links folder: pip's own files only.
PACKAGE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")
INDEX_PAGES = ("index.html", "index.htm")


def lendable(path: Path) -> bool:
    """A package archive or a simple-index page: the only files lent to a build."""
    name = path.name.lower()
    return path.is_file() and (name.endswith(PACKAGE_SUFFIXES) or name in INDEX_PAGES)


def _local_path(location: str) -> Path | None:
    """The directory or file a pip location names on this machine; None for remote URLs."""
    parsed = urlparse(location)
    if parsed.scheme in ("http", "https"):
        return None
    path = Path(unquote(parsed.path) if parsed.scheme == "file" else location)
    return path if path.is_absolute() else None


TOKEN_FILE = "pip-helper-token"  # in the user's cache folder, readable by the user alone


def helper_token(folder: Path | None = None) -> str:
    """The secret that the helper's every URL starts with: random, made once per user
    (mode 0600), and stable, since the PIP_HELPER build argument is part of the pip
    layer's cache key (a new token per build would reinstall every package)."""
    from dstorch.download import cache_dir

    path = (folder or cache_dir()) / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except OSError:
        token = ""
    if re.fullmatch(r"[A-Za-z0-9_-]{32,}", token) and path.stat().st_mode & 0o077 == 0:
        return token
    token = secrets.token_urlsafe(32)
    with atomic_target(path, mode=0o600) as tmp:
        tmp.write_text(token + "\n")
    return token


class PipLender:
    """Serves a rewritten pip.conf, the CA file and the host's local package folders on
    127.0.0.1 while a build runs: the build's RUN steps use the host network, but cannot
    see host paths such as file:// indexes or find-links folders.

    Any local process can connect to 127.0.0.1, and pip.conf may hold index credentials:
    every URL starts with the secret `token` (a 404 without it), which only the build
    gets, in its PIP_HELPER argument."""

    def __init__(self, options: dict[str, str], port: int, token: str):
        self.options = options
        self.token = token
        self.allowed: list[Path] = []
        self.files: dict[str, bytes] = {}
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{token}"
        self.files["/pip.conf"] = self._pip_conf().encode()

    def _serve_path(self, location: str, option: str) -> str | None:
        path = _local_path(location)
        if path is None:
            return location
        if not path.exists():
            return None  # pip on the host ignores it too
        # Simple indexes link to files beside them (../../files/x.whl): lend the parent.
        root = path.parent if option != "find-links" or path.is_file() else path
        self.allowed.append(root.resolve())
        slash = "/" if path.is_dir() else ""
        return f"{self.url}/f{quote(str(path.resolve()))}{slash}"

    def _pip_conf(self) -> str:
        lines = ["[global]"]
        for option, value in self.options.items():
            if option in LOCATION_OPTIONS:
                urls = [self._serve_path(v, option) for v in value.split()]
                value = " ".join(u for u in urls if u)
            elif option == "cert":
                cert = Path(value)
                if not cert.is_file():
                    continue
                self.files["/ca.pem"] = cert.read_bytes()
                value = "/tmp/dstorch-pip/ca.pem"
            if value:
                lines.append(f"{option} = {value}")
        return "\n".join(lines) + "\n"

    def _handler(self) -> type:
        lender = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def translate_path(self, path: str) -> str:
                path = unquote(path.split("?", 1)[0].split("#", 1)[0])
                if not path.startswith("/f/"):
                    return "/nonexistent"  # send_head() answers 404
                target = Path(path[2:]).resolve()
                ok = any(target == r or r in target.parents for r in lender.allowed)
                # Only what pip reads: index pages, package files and folders (whose
                # listing shows package files only); never any other file.
                ok = ok and (target.is_dir() or lendable(target))
                return str(target) if ok else "/nonexistent"

            def list_directory(self, path: str):
                """A find-links page: the folder's package files, nothing else."""
                names = sorted(p.name for p in Path(path).iterdir() if lendable(p))
                links = "".join(f'<a href="{quote(n)}">{html.escape(n)}</a>\n' for n in names)
                body = f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                return io.BytesIO(body)

            def authorised(self) -> bool:
                """Strip the token from the path; False (after a 404) without it."""
                head, _, rest = self.path.partition("/")[2].partition("/")
                if not hmac.compare_digest(head.encode(), lender.token.encode()):
                    self.send_error(404)
                    return False
                self.path = "/" + rest
                return True

            def do_HEAD(self) -> None:  # noqa: N802 (http.server's naming)
                if self.authorised():
                    super().do_HEAD()

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if not self.authorised():
                    return
                data = lender.files.get(self.path)
                if data is None:
                    return super().do_GET()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass  # the build output is what the user reads

        return Handler

    def __enter__(self) -> PipLender:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def stable_port() -> int:
    """The same port for every build by this user: the PIP_HELPER build argument is part
    of the layer cache key, so a new port would redo the pip layer."""
    return 30000 + os.getuid() % 20000


@contextlib.contextmanager
def lend_pip_config() -> Iterator[str]:
    """Yield the helper URL (the build argument PIP_HELPER) while serving it; the server
    stops when the block ends (the build is over)."""
    options, token = host_pip_options(), helper_token()
    try:
        lender = PipLender(options, stable_port(), token)
    except OSError:  # the usual port is taken: any free one (only costs the pip cache)
        lender = PipLender(options, 0, token)
    with lender:
        yield lender.url
