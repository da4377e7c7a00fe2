"""Installing a model's files into MODELS_DIR beside whatever else lives there.

MODELS_DIR is shared: the base model of `make pretrain` (models/base-en/), another
model's files, a user's notes. An install therefore touches only the files this model
owns: the ones it brings (`<MODEL_NAME>.pb`, `.pbmm`, `.scorer`, `.tflite`, `.onnx`, `.gate.json`,
alphabet.txt, the report files), the ones its previous install listed, and files named
`<MODEL_NAME>.<model suffix>`. Every new file is written to a temp file first; only when
all are complete are they renamed in, then owned files the new set lacks (a `.tflite`
after EXPORT_TFLITE=no, a scorer that failed this time) are removed, so no stale file
sits beside a new model. `<MODEL_NAME>.manifest.json` is written last: a set whose
install was cut short no longer matches it (`mismatched`), and the next install repairs it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

from dstorch.fs import atomic_target, atomic_write, file_sha256
from dstorch.rejection import GATE_SUFFIX

# The gate belongs to the model it was calibrated for: a stale one must not outlive it.
MODEL_SUFFIXES = (".pb", ".pbmm", ".scorer", ".tflite", ".onnx", GATE_SUFFIX)
MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(models_dir: Path, model_name: str) -> Path:
    return Path(models_dir) / f"{model_name}{MANIFEST_SUFFIX}"


def read_manifest(models_dir: Path, model_name: str) -> dict[str, dict]:
    """{file name: {"bytes", "mtime_ns", "sha256"}} of the last complete install, or {}."""
    try:
        files = json.loads(manifest_path(models_dir, model_name).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {n: f for n, f in files.items() if isinstance(f, dict) and _plain(n)}


def _plain(name: str) -> bool:
    """A bare file name (no folder, no '..'): nothing from a manifest or archive reaches
    outside MODELS_DIR."""
    return bool(name) and Path(name).name == name and name not in (".", "..")


def owned(models_dir: Path, model_name: str) -> set[str]:
    """The names an install of `model_name` may replace or remove."""
    named = {f"{model_name}{suffix}" for suffix in MODEL_SUFFIXES}
    return set(read_manifest(models_dir, model_name)) | named


def install(
    models_dir: Path, model_name: str, files: dict[str, Callable[[Path], None]]
) -> list[Path]:
    """Write `files` ({name: write(target path)}) into `models_dir` as described above;
    -> the installed paths. On any error no file of the new set is in place."""
    models_dir = Path(models_dir)
    bad = [n for n in files if not _plain(n) or n.endswith(MANIFEST_SUFFIX)]
    if bad:
        raise ValueError(f"refusing to install {bad[0]!r} into {models_dir}: not a model file")
    stale = owned(models_dir, model_name) - set(files)
    # One temp file per name, renamed in only once every write succeeded (ExitStack: an
    # error in any write reaches every target, which then removes its temp file).
    with contextlib.ExitStack() as stack:
        for name, write in files.items():
            write(stack.enter_context(atomic_target(models_dir / name)))
    for name in sorted(stale):
        path = models_dir / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
    record = {name: _facts(models_dir / name) for name in sorted(files)}
    atomic_write(
        manifest_path(models_dir, model_name),
        json.dumps({"model": model_name, "files": record}, indent=1) + "\n",
    )
    return [models_dir / name for name in files]


def _facts(path: Path) -> dict:
    stat = path.stat()
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": file_sha256(path)}


def mismatched(models_dir: Path, model_name: str) -> list[str]:
    """Files of the last install that changed or went missing since (size and time, no
    hashing: cheap enough for every `transcribe`); [] without a manifest."""
    changed = []
    for name, facts in read_manifest(models_dir, model_name).items():
        try:
            stat = (Path(models_dir) / name).stat()
        except OSError:
            changed.append(name)
            continue
        if (stat.st_size, stat.st_mtime_ns) != (facts.get("bytes"), facts.get("mtime_ns")):
            changed.append(name)
    return changed


def uninstall(models_dir: Path, model_name: str) -> list[Path]:
    """Remove what installs of `model_name` put in `models_dir` (and its manifest);
    -> the removed paths. Other files stay."""
    models_dir = Path(models_dir)
    removed = []
    for name in [*sorted(owned(models_dir, model_name)), f"{model_name}{MANIFEST_SUFFIX}"]:
        path = models_dir / name
        if path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(path)
    return removed
