"""Banks of generated audio (room impulse responses, babble), cached under the data folder.

A bank is deterministic in its recipe (what it is, its seed and parameters), so the cache
only saves time: a deleted or damaged file is made again with the same contents. Files are
<cache_dir()>/<name>-<digest of the recipe>.npz, written atomically.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dstorch.fs import atomic_write

DATA_DIR_ENV = "DSTORCH_DATA_DIR"  # the pipeline's DATA_DIR override (make DATA_DIR=...)
CACHE_FOLDER = "augment"
_loaded: dict[Path, dict[str, np.ndarray]] = {}  # one read per process and file


def cache_dir() -> Path:
    """<DATA_DIR>/augment: the data folder of the pipeline (default `data`)."""
    return Path(os.environ.get(DATA_DIR_ENV) or "data") / CACHE_FOLDER


def bank(
    name: str, recipe: str, make: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays `make()` returns for `recipe`, from the cache when there, else made and
    stored. `recipe` must hold everything the arrays depend on."""
    digest = hashlib.sha256(recipe.encode()).hexdigest()[:12]
    path = cache_dir() / f"{name}-{digest}.npz"
    if path in _loaded:
        return _loaded[path]
    try:
        with np.load(path) as stored:
            arrays = {key: stored[key] for key in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        arrays = make()
        atomic_write(path, lambda f: np.savez(f, **arrays))
    _loaded[path] = arrays
    return arrays
