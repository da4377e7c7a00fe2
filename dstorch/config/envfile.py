"""Reading configuration.env: dotenv syntax, but strict where python-dotenv is lenient.

python-dotenv logs a warning and drops a line it cannot parse (an unclosed quote), lets
the last of two lines for one key win silently, and fails on bytes that are not UTF-8
with a message that does not name the file. Each of those is a setting the user believes
is in effect and is not, so here each is a one-line ConfigError naming the file, the line
and the fix.
"""

from __future__ import annotations

import io
from pathlib import Path

from dotenv.parser import parse_stream

from dstorch.config.fields import ConfigError


def read_env_file(path: Path) -> dict[str, str | None]:
    """{KEY: value} of the dotenv file at `path` (None: a KEY line without '='), in file
    order and uninterpolated; ConfigError for anything dotenv would skip or guess."""
    text = _text(path)
    values: dict[str, str | None] = {}
    lines: dict[str, int] = {}
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            shown = binding.original.string.strip().splitlines()[0][:60]
            raise ConfigError(
                f"{path}:{line}: cannot parse `{shown}`; close the quote or write KEY=value"
            )
        if binding.key is None:
            continue  # a comment or a blank line
        if binding.key in lines:
            raise ConfigError(
                f"{path}: {binding.key} is set on lines {lines[binding.key]} and {line}; "
                "keep one line"
            )
        values[binding.key], lines[binding.key] = binding.value, line
    return values


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror}); check the path") from None
    try:
        return raw.decode("utf-8-sig")  # -sig: a byte-order mark some editors add
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not UTF-8 (byte 0x{raw[e.start]:02x} on line {line}); re-save it as UTF-8"
        ) from None
