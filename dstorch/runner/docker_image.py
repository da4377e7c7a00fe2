"""Building the trainer image: render Dockerfile.template, pack a minimal build context,
and lend the host's pip configuration to `pip install` inside the build.

The context is assembled here rather than sent as the whole checkout: data/, runs/ and
.venv/ can be gigabytes, and a fixed file list keeps the layer cache stable.
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
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

from dstorch.config import PipelineConfig
from dstorch.fs import atomic_target
from dstorch.runner.base import RunnerError

TEMPLATE = "Dockerfile.template"
DOCKERFILE = "Dockerfile"
REQUIREMENTS = "requirements-docker.txt"
KERNEL_SOURCES = "dstorch/decoder/kernel"  # the C kernel's sources and its build.py
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


def render_dockerfile(config: PipelineConfig, root: Path, uid: int, gid: int) -> str:
    """Dockerfile.template with its {{NAME}} placeholders filled in."""
    template = Path(root) / TEMPLATE
    if not template.exists():
        raise RunnerError(f"{TEMPLATE} is missing from {root}; restore it from git")
    values = {
        "BASE_IMAGE": config.base_image,
        "IMAGE_NAME": config.image_name,  # labels every stage: what `make clean` removes
        "UID": str(uid),
        "GID": str(gid),
    }
    text = re.sub(
        r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), m.group(0)), template.read_text()
    )
    unknown = sorted(set(re.findall(r"\{\{(\w+)\}\}", text)))
    if unknown:
        raise RunnerError(
            f"{TEMPLATE} uses unknown placeholders {unknown}; known: {sorted(values)}"
        )
    return "# Generated from Dockerfile.template by dstorch; edit the template.\n" + text


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    # Fixed owner and time: only content and mode decide whether a layer is rebuilt.
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def context_files(root: Path) -> dict[str, Path]:
    """Archive name -> file for everything the image needs, and nothing else."""
    root = Path(root)
    files = {
        f"deps/{REQUIREMENTS}": root / REQUIREMENTS,
        "deps/constraints.txt": root / "constraints.txt",  # the venv's versions
        "deps/pip_install.sh": root / "docker" / "pip_install.sh",
        "deps/pip_config.sh": root / "docker" / "pip_config.sh",
        # The builder stage compiles lmplz/build_binary with the same script as `make
        # dependencies`, and the `kenlm` wheel.
        "deps/kenlm_stage.sh": root / "docker" / "kenlm_stage.sh",
        "deps/build_kenlm.sh": root / "scripts" / "build_kenlm.sh",
        "app/docker/entrypoint.sh": root / "docker" / "entrypoint.sh",
    }
    # The builder stage compiles the decoder kernel with the same build.py as `make
    # dependencies`. It never sees app/: only an edit of the kernel rebuilds it.
    kernel = root / KERNEL_SOURCES
    for path in [*sorted(kernel.glob("*.[ch]")), kernel / "build.py"]:
        files[f"deps/ctc_kernel/{path.name}"] = path
    for path in sorted((root / "dstorch").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"app/{path.relative_to(root).as_posix()}"] = path
    missing = [str(p.relative_to(root)) for p in files.values() if not p.exists()]
    if missing:
        raise RunnerError(f"missing from the checkout: {', '.join(missing)}; restore them from git")
    return files


def build_context(root: Path, dockerfile: str) -> tempfile.SpooledTemporaryFile:
    """The build context as an uncompressed tar, rewound and ready to send."""
    buffer = tempfile.SpooledTemporaryFile(max_size=32 << 20)
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, DOCKERFILE, dockerfile.encode())
        for name, path in context_files(root).items():
            _add(tar, name, path.read_bytes(), 0o755 if name.endswith(".sh") else 0o644)
    buffer.seek(0)
    return buffer


# --- the host's pip configuration, lent to the build ------------------------------------


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


def build_image(client, config: PipelineConfig, root: Path, uid: int, gid: int) -> str:
    """Render the Dockerfile, build IMAGE_NAME from it and return the image id."""
    import docker.errors  # the local runner never needs the Docker SDK

    dockerfile = render_dockerfile(config, root, uid, gid)
    (Path(root) / DOCKERFILE).write_text(dockerfile)
    print(f"docker runner: building {config.image_name} from {config.base_image}")
    image_id = None
    with lend_pip_config() as helper, build_context(root, dockerfile) as context:
        try:
            for chunk in client.api.build(
                fileobj=context,
                custom_context=True,
                tag=config.image_name,
                rm=True,
                forcerm=True,
                network_mode="host",
                buildargs={"PIP_HELPER": helper},
                decode=True,
            ):
                if "stream" in chunk:
                    sys.stdout.write(chunk["stream"])
                    sys.stdout.flush()
                if "error" in chunk:
                    raise build_error(config, chunk["error"].strip().splitlines()[0])
                image_id = chunk.get("aux", {}).get("ID", image_id)
        except docker.errors.APIError as e:
            raise build_error(config, str(e.explanation or e)) from None
    return image_id or client.images.get(config.image_name).id


def build_error(config: PipelineConfig, reason: str) -> RunnerError:
    """One line with the likely fix: an unreachable base image is the common case."""
    hint = ""
    if "registry" in reason or "pull access denied" in reason or "not found" in reason:
        hint = (
            f"; BASE_IMAGE={config.base_image} could not be pulled: check network access to"
            " its registry, or build a local base image (scripts/make_base_image.sh "
            "dstorch-base:latest) and set BASE_IMAGE=dstorch-base:latest, or use RUNNER=local"
        )
    return RunnerError(f"docker build of {config.image_name} failed: {reason}{hint}")
