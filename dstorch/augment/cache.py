"""Banks of generated audio (room impulse responses, babble), cached in <data>/augment.

A bank is deterministic in its recipe (what it is, its seed and parameters), so the cache
only saves time: a deleted or damaged file is made again with the same contents. Files are
<cache_dir()>/<name>-<digest of the recipe>.npz, written atomically. `dstorch prepare`
makes the banks AUGMENT needs (`warm`), so that a trainer without speech synthesizers or
with a read-only data folder (the Docker runner) finds them there.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dstorch.datafiles import BANKS_DIR
from dstorch.fs import atomic_write

DATA_DIR_ENV = "DSTORCH_DATA_DIR"  # the pipeline's DATA_DIR (make DATA_DIR=...)
_loaded: dict[Path, dict[str, np.ndarray]] = {}  # one read per process and file
_data_dir: Path | None = None  # set by use_data_dir: the folder of the training CSVs


def use_data_dir(folder: str | Path | None) -> None:
    """Keep banks in <folder>/augment from now on (None: back to the default)."""
    global _data_dir
    _data_dir = None if folder is None else Path(folder)


def cache_dir() -> Path:
    """<data folder>/augment: use_data_dir's, else $DSTORCH_DATA_DIR's, else data/."""
    return (_data_dir or Path(os.environ.get(DATA_DIR_ENV) or "data")) / BANKS_DIR


def path_for(name: str, recipe: str) -> Path:
    return cache_dir() / f"{name}-{hashlib.sha256(recipe.encode()).hexdigest()[:12]}.npz"


def bank(
    name: str, recipe: str, make: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays `make()` returns for `recipe`, from the cache when there, else made and
    stored (kept in memory only when the folder is read-only). `recipe` must hold
    everything the arrays depend on."""
    path = path_for(name, recipe)
    if path in _loaded:
        return _loaded[path]
    try:
        with np.load(path) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        arrays = make()
        try:
            atomic_write(path, lambda f: np.savez(f, **arrays))
        except OSError:  # a read-only data volume: this process still has them
            pass
    _loaded[path] = arrays
    return arrays
