"""Download a file into the user cache (~/.cache/dstorch) with a progress bar and resume.

The bytes go to `<name>.part` next to the final file; an interrupted download continues
from there with an HTTP Range request (a server that ignores Range sends the whole file
again, which is detected from the status code). Only a complete file, its checksum
checked when one is given, is renamed to its final name, so a file in the cache is never
half of one.
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

from dstorch.errors import DstorchError
from dstorch.fs import file_sha256

CACHE_ENV = "XDG_CACHE_HOME"
CHUNK = 1 << 20
TIMEOUT_S = 30


class DownloadError(DstorchError, ValueError):
    """A download that failed for a reason the user fixes; the message is one line."""


def cache_dir() -> Path:
    """~/.cache/dstorch (or $XDG_CACHE_HOME/dstorch)."""
    base = os.environ.get(CACHE_ENV) or str(Path.home() / ".cache")
    return Path(base) / "dstorch"


def is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https")


def cached_path(url: str, directory: Path | None = None) -> Path:
    """Where `url` lands in the cache: its last path component."""
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    if not name:
        raise DownloadError(f"{url}: the URL names no file; give the URL of the model file")
    return (directory or cache_dir()) / name


def check_sha256(path: Path, expected: str, origin: str) -> None:
    """DownloadError when `path`'s SHA-256 is not `expected` (hex, any case)."""
    actual = file_sha256(path)
    if actual != expected.strip().lower():
        raise DownloadError(
            f"{origin}: SHA-256 {actual} does not match PRETRAINED_SHA256={expected}; "
            "fix the checksum, or delete the file to download it again"
        )


def download(url: str, sha256: str = "", directory: Path | None = None) -> Path:
    """`url` as a file in the cache (downloaded, or resumed, only when not there yet).

    A file already in the cache is used as it is (so a file put there by hand works
    offline); with `sha256` it is checked either way.
    """
    target = cached_path(url, directory)
    if not target.exists():
        _fetch(url, target)
    if sha256:
        check_sha256(target, sha256, str(target))
    return target


def fetch_model(spec: str, sha256: str = "") -> Path:
    """The local file (or checkpoint folder) behind PRETRAINED_MODEL, a path or an http(s)
    URL: downloaded into the cache when a URL; its SHA-256 checked when given."""
    if is_url(spec):
        return download(spec, sha256)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DownloadError(f"{spec}: no such file; give a .pbmm, .pb or dstorch checkpoint")
    if sha256 and path.is_file():
        check_sha256(path, sha256, spec)
    return path


def _fetch(url: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            if response.status != 206:  # the server sent the whole file: start over
                have = 0
            size = response.headers.get("Content-Length")
            total = have + int(size) if size is not None else None
            _copy(response, part, have, total, target.name)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the .part already holds every byte
            os.replace(part, target)
            return
        raise DownloadError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(
            f"cannot download {url} ({reason}); download it yourself and put it at {target}"
            " (a partial download is resumed on the next try)"
        ) from None
    if total is not None and part.stat().st_size != total:
        raise DownloadError(
            f"download of {url} ended early ({part.stat().st_size} of {total} bytes); "
            "run again to resume it"
        )
    os.replace(part, target)


def _copy(response, part: Path, have: int, total: int | None, name: str) -> None:
    with (
        open(part, "ab" if have else "wb") as out,
        tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=name) as bar,
    ):
        while chunk := response.read(CHUNK):
            out.write(chunk)
            bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
