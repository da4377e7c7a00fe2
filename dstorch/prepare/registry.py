"""data/registry.csv: one row per recording ever seen, so splits survive re-runs.

A file keeps the split it was first given for as long as its path stays in the registry,
even when it is re-recorded or temporarily skipped: moving a take between train and test
later would leak test data into training.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from dstorch.fs import atomic_target, atomic_write, file_sha256
from dstorch.prepare.problems import PrepareError

__all__ = ["Entry", "atomic_target", "file_sha256", "load_registry", "save_registry"]


@dataclass
class Entry:
    source: str  # path relative to the project root, with forward slashes
    sha256: str = ""
    bytes: int = 0  # size and mtime let unchanged files skip re-hashing
    mtime_ns: int = 0
    id: str = ""
    speaker: str = ""
    split: str = ""  # the split once assigned (kept while the file is skipped)
    wav: str = ""  # output path relative to the data folder
    duration: float = 0.0
    status: str = ""  # "ok", "removed" or a problem code
    note: str = ""
    engine: str = ""  # the speech synthesizer of a synthetic take; "" for a recording
    trim: str = ""  # "vad": the copy in data/ was cut to its speech (VAD_TRIM=yes)


FIELDS = [f.name for f in fields(Entry)]
# Columns added after the first release: registries written before them still load.
OPTIONAL = {"engine", "trim"}


def load_registry(path: Path) -> dict[str, Entry]:
    """Read data/registry.csv into {source: Entry}; no file gives an empty registry."""
    if not path.exists():
        return {}
    try:
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        entries = [_entry(row) for row in rows]
    except (UnicodeDecodeError, KeyError, ValueError, TypeError) as e:
        raise PrepareError(
            f"{path}: unreadable registry ({type(e).__name__}: {e}); restore it, or delete "
            "it to rebuild (every file then gets a new split)"
        ) from None
    return {e.source: e for e in entries}


def _entry(row: dict) -> Entry:
    if None in row or not set(FIELDS) - OPTIONAL <= set(row) <= set(FIELDS):
        raise ValueError(f"columns must be {','.join(FIELDS)}")
    values = {**dict.fromkeys(OPTIONAL, ""), **row}
    for name in ("bytes", "mtime_ns"):
        values[name] = int(values[name] or 0)
    values["duration"] = float(values["duration"] or 0)
    return Entry(**values)


def save_registry(path: Path, entries: dict[str, Entry]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for source in sorted(entries):
        row = asdict(entries[source])
        row["duration"] = f"{row['duration']:.3f}"
        writer.writerow(row)
    atomic_write(path, buffer.getvalue())


def source_key(path: Path, root: Path) -> str:
    """Registry key: the path relative to the project root where possible (portable)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()
