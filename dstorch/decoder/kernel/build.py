"""Compile the decoder's C kernel (ctc_kernel.c) into a shared library: an install step.

`make dependencies` runs it for a checkout (into build/ctc_kernel, `CHECKOUT_DIR`), the
trainer image's builder stage for the container (Dockerfile.template); runs only load the
result (dstorch.decoder.native), so no run needs a compiler. The library is named by the
machine and a hash of sources and flags (`library_name`), so a library built from other
sources is never loaded: after an edit or a pull, the loader asks for this step again.

Standard library only, and runnable by path (``python3 dstorch/decoder/kernel/build.py
[FOLDER]``): the builder stage has a compiler and Python but none of dstorch's packages.
Idempotent: a library already there is kept.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent
SOURCE = SOURCE_DIR / "ctc_kernel.c"
HEADERS = [SOURCE_DIR / "ctc_pool.h"]  # included by SOURCE: part of the hash
# No -march=native / -ffast-math: results must not depend on the machine; no FMA either.
CFLAGS = ["-O2", "-ffp-contract=off", "-fPIC", "-shared"]
# Where `make dependencies` puts the library of a source checkout (beside build/kenlm):
# <checkout>/dstorch/decoder/kernel -> <checkout>/build/ctc_kernel. (.parent, not
# .parents[2]: copied elsewhere, as in the image's builder stage, it must still import.)
CHECKOUT_DIR = SOURCE_DIR.parent.parent.parent / "build" / "ctc_kernel"
COMPILE_SECONDS = 120


def library_name() -> str:
    """The library's file name: machine and a hash of sources and flags."""
    code = b"".join(path.read_bytes() for path in [SOURCE, *HEADERS])
    digest = hashlib.sha256(code + " ".join(CFLAGS).encode()).hexdigest()[:16]
    return f"ctc_kernel-{platform.machine()}-{digest}.so"


def build(folder: Path) -> Path:
    """The library in folder, compiled there with ``$CC`` (else ``cc``) if missing.

    The folder is made mode 0755 and the library 0755: readable by everyone, writable by
    the owner alone, as the loader demands. The compiler writes a temp file in the folder
    that replaces the target only once complete (parallel builds may race here).
    """
    folder = Path(folder)
    folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    target = folder / library_name()
    if target.exists():
        return target
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        cmd = [os.environ.get("CC", "cc"), *CFLAGS, "-o", tmp, str(SOURCE), "-lm"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=COMPILE_SECONDS)
        os.chmod(tmp, 0o755)  # not the umask's: a group-writable library is refused
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def main(argv: list[str]) -> int:
    """``build.py [FOLDER]`` (default: CHECKOUT_DIR); prints the library's path."""
    if len(argv) > 1:
        print(f"usage: {Path(__file__).name} [FOLDER]", file=sys.stderr)
        return 2
    try:
        path = build(Path(argv[0]) if argv else CHECKOUT_DIR)
    except FileNotFoundError as e:  # no compiler
        print(f"error: cannot compile the decoder kernel: {e}; install build-essential",
              file=sys.stderr)  # fmt: skip
        return 1
    except subprocess.CalledProcessError as e:
        print(f"error: compiling the decoder kernel failed:\n{e.stderr.decode()}", file=sys.stderr)
        return 1
    print(f"Decoder kernel: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
