"""Which DATA_DIR dstorch may write into and `make clean` may empty: the folders it made.

`prepare` marks DATA_DIR with MARKER when it starts on a new or empty folder (or on one an
earlier dstorch prepared: it holds our registry.csv), and refuses a folder that already
holds other files. `make clean` empties only a marked folder, and only of what prepare
writes there: the CSVs, alphabet, LM corpus and registry, the WAV copies (in the language
folders), synthetic takes (synthetic/) and speech that is no command (speech/), the
augmentation banks (augment/). Anything
else, and the folder with it, stays and is named.
"""

from __future__ import annotations

from pathlib import Path

from dstorch.datafiles import (
    ALPHABET_FILE,
    BANKS_DIR,
    DEV_NEGATIVES,
    LM_CORPUS,
    LM_GARBAGE,
    REGISTRY_FILE,
    SPEECH_DIR,
    SPEECH_TRAIN,
    SPLIT_CSVS,
    SYNTHETIC_DIR,
    TEST_NEGATIVES,
)
from dstorch.fs import TEMP_PREFIX, atomic_write
from dstorch.prepare.problems import PrepareError
from dstorch.prepare.registry import load_registry

MARKER = ".dstorch-data"
OURS = ".dstorch"  # the marker, prepare's lock and temp files all start so
WRITTEN = (
    *(*SPLIT_CSVS.values(), ALPHABET_FILE, LM_CORPUS, REGISTRY_FILE),
    *(LM_GARBAGE, SPEECH_TRAIN, DEV_NEGATIVES, TEST_NEGATIVES),  # dstorch.prepare.speech
)


def claim(data_dir: Path, key: str = "DATA_DIR") -> None:
    """Mark `data_dir` as dstorch's (creating it), or PrepareError when it holds files
    dstorch did not write."""
    data_dir = Path(data_dir)
    if (data_dir / MARKER).is_file():
        return
    foreign = sorted(p.name for p in _entries(data_dir) if not p.name.startswith(OURS))
    if foreign and not _prepared_before(data_dir):
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise PrepareError(
            f"{key}={data_dir} already holds files dstorch did not write ({shown}); "
            f"prepare writes only into a new or empty folder (make clean empties only "
            f"those): give {key} another folder"
        )
    atomic_write(data_dir / MARKER, "made by dstorch prepare; make clean empties it\n")


def _entries(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() else []


def _prepared_before(data_dir: Path) -> bool:
    """An unmarked DATA_DIR of an older dstorch: our registry.csv is there."""
    try:
        return bool(load_registry(data_dir / REGISTRY_FILE))
    except (OSError, ValueError):
        return False


def is_claimed(data_dir: Path) -> bool:
    """Whether prepare made `data_dir`: marked, or prepared before markers existed."""
    return (Path(data_dir) / MARKER).is_file() or _prepared_before(Path(data_dir))


def empty(data_dir: Path, language: str) -> list[str]:
    """Remove what prepare wrote in a marked `data_dir`, and the folder once nothing else
    is left; -> what was kept (relative paths), [] when the folder is gone."""
    data_dir = Path(data_dir)
    for path in _written(data_dir, language):
        path.unlink(missing_ok=True)
    for folder in sorted((p for p in data_dir.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):  # deepest first: a sub-folder emptied its parent
            folder.rmdir()
    kept = sorted(
        p.relative_to(data_dir).as_posix()
        for p in data_dir.rglob("*")
        if not p.is_dir() and not p.name.startswith(OURS)
    )
    if kept:
        return kept
    for path in _entries(data_dir):  # the marker and prepare's lock
        path.unlink()
    data_dir.rmdir()
    return []


def _written(data_dir: Path, language: str) -> list[Path]:
    """Prepare's files: the top-level ones, WAVs in the folders it converts and renders
    into (LANGUAGE's, every language in the registry, synthetic/), the banks."""
    try:
        registered = load_registry(data_dir / REGISTRY_FILE).values()
    except (OSError, ValueError):
        registered = []
    wav_dirs = {language, SYNTHETIC_DIR, SPEECH_DIR}
    wav_dirs |= {Path(e.wav).parts[0] for e in registered if e.wav}
    files = [data_dir / name for name in WRITTEN]
    for path in data_dir.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        inside = path.relative_to(data_dir).parts
        copy = len(inside) > 1 and inside[0] in wav_dirs and path.suffix == ".wav"
        bank = len(inside) == 2 and inside[0] == BANKS_DIR and path.suffix == ".npz"
        if copy or bank or path.name.startswith(TEMP_PREFIX):
            files.append(path)
    return files
