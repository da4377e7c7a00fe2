"""commands.csv in the studio: read as a table, edited, validated as prepare validates it,
written atomically with the previous version kept beside it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from dstorch.fs import atomic_write
from dstorch.prepare.problems import PrepareError
from dstorch.prepare.sources import normalise_id, read_commands, read_table
from dstorch.studio import StudioError

# An id is one `_`-separated field of a recording's name (shapes_<speaker>_..._<id>_<take>):
# no `_`, no path separator, nothing a file system treats specially.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,31}")
LANGUAGE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,15}")
PREVIOUS_SUFFIX = ".previous"  # commands.csv.previous: the version before the last save


def load(path: Path) -> dict:
    """{"columns": ["id", "en", ...], "rows": [{"id": "1", "en": "stop", ...}]}; an absent
    file is an empty table with an `id` column."""
    if not path.exists():
        return {"columns": ["id"], "rows": []}
    try:
        rows = read_table(path)
    except PrepareError as e:
        raise StudioError(str(e)) from None
    columns = rows[0]
    width = len(columns)  # a short row has empty cells; a long one's extra cells go
    table = [dict(zip(columns, (row + [""] * width)[:width], strict=True)) for row in rows[1:]]
    return {"columns": columns, "rows": table}


def _check(columns: list, rows: list) -> None:
    if not isinstance(columns, list) or [c for c in columns if not isinstance(c, str)]:
        raise StudioError("commands: columns must be a list of names")
    if not columns or columns[0] != "id":
        raise StudioError("commands: the first column must be `id`")
    for name in columns[1:]:
        if not LANGUAGE_PATTERN.fullmatch(name):
            raise StudioError(f"commands: column {name!r} is no language name; use e.g. en, de")
    if len(set(columns)) != len(columns):
        raise StudioError("commands: a language column appears twice; keep one")
    seen = set()
    for row in rows:
        key = str(row.get("id", "")).strip() if isinstance(row, dict) else ""
        if not ID_PATTERN.fullmatch(key):
            raise StudioError(
                f"commands: id {key!r} must be letters, digits or '-' (no '_', '/' or spaces)"
            )
        if normalise_id(key) in seen:
            raise StudioError(f"commands: id {key} is on two rows; keep one row per id")
        seen.add(normalise_id(key))
        for name in columns[1:]:
            if "\n" in str(row.get(name, "")) or "\r" in str(row.get(name, "")):
                raise StudioError(f"commands: id {key}, {name}: one line per command")


def render(columns: list[str], rows: list[dict]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([str(row.get(c, "")).strip() for c in columns])
    return out.getvalue()


def save(path: Path, columns: list, rows: list) -> Path:
    """Check, write `path` atomically, keep the old one as <path>.previous; -> path."""
    _check(columns, rows)
    text = render(columns, rows)
    probe = path.with_name(f".{path.name}.check")
    try:  # prepare's own reading, on every language column, before anything is replaced
        atomic_write(probe, text)
        for language in columns[1:]:
            read_commands(probe, language)
    except PrepareError as e:
        raise StudioError(str(e).replace(str(probe), path.name)) from None
    finally:
        probe.unlink(missing_ok=True)
    if path.exists():
        previous = path.with_name(path.name + PREVIOUS_SUFFIX)
        atomic_write(previous, lambda f: shutil.copyfileobj(path.open("rb"), f))
    return atomic_write(path, text)


def sentences(path: Path, language: str) -> dict[str, str]:
    """{id: command} of the `language` column ({} when it has none)."""
    if not path.exists():
        return {}
    try:
        commands, _ = read_commands(path, language)
    except PrepareError:
        return {}
    return {key: text for key, text in commands.items() if text}
