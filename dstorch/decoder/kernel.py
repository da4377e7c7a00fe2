"""The beam search's time steps in C (kernel/ctc_kernel.c), loaded with ctypes: production.

Why it exists: speed. The array search spends ~150 numpy calls per time step; the kernel
runs whole chunks of steps in one call with the same float32 arithmetic and
tie-breaking, so `KernelBeamSearch` gives bit-identical candidates to the reference
(tests/decoder/test_parity.py) at the official client's speed.

The kernel is compiled on first use with the system C compiler (``$CC``, else ``cc``),
named by a hash of its sources and flags so edits rebuild it, into the first usable of
(`kernel_dirs`): $DSTORCH_KERNEL_DIR, build/ctc_kernel of a source checkout, the
virtual environment, $XDG_CACHE_HOME/dstorch (~/.cache/dstorch). Never a shared
temporary folder: a library is loaded only from a folder and file that the current user
owns and that nobody else may write (`check_owned`). Without a compiler, or with
DSTORCH_DECODER=python, ``BACKEND`` is "python" and make_search uses the array search.
KenLM stays in Python: the kernel calls back for n-grams it has not scored yet, and keeps
their scores in a cache that lives on the Scorer (one per labels / alpha / hot words), so
later searches with the same settings do not ask KenLM again.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import stat
import subprocess
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dstorch.decoder.base import (
    ArcLists,
    BeamSearchBase,
    Candidate,
    DecodeError,
    best_first,
    check_probs,
    pruned_rows,
)
from dstorch.fs import SOURCE_ROOT, atomic_target

SOURCE_DIR = Path(__file__).with_name("kernel")
SOURCE = SOURCE_DIR / "ctc_kernel.c"
HEADERS = [SOURCE_DIR / "ctc_pool.h"]  # included by SOURCE: part of the hash
# No -march=native / -ffast-math: results must not depend on the machine; no FMA either.
CFLAGS = ["-O2", "-ffp-contract=off", "-fPIC", "-shared"]
MIN_COLLECT = 1 << 16  # pool entries before the first garbage collection
_ERRORS = {-1: "out of memory", -2: "LM callback failed"}

_LM_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.POINTER(ctypes.c_float)
)
_P = ctypes.c_void_p


class UnsafeLibraryError(OSError):
    """A kernel folder or library that someone other than the current user could replace."""


def kernel_dirs() -> list[Path]:
    """Where the compiled kernel may live, first choice first; all user-owned places."""
    dirs = [Path(os.environ["DSTORCH_KERNEL_DIR"])] if os.environ.get("DSTORCH_KERNEL_DIR") else []
    if (SOURCE_ROOT / "pyproject.toml").is_file():  # a source checkout, not site-packages
        dirs.append(SOURCE_ROOT / "build" / "ctc_kernel")
    if sys.prefix != sys.base_prefix:  # a virtual environment
        dirs.append(Path(sys.prefix) / "share" / "dstorch" / "ctc_kernel")
    try:
        xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:  # no HOME and no passwd entry (a container's arbitrary uid)
        return dirs
    return dirs + [Path(xdg) / "dstorch"]


def check_owned(path: Path, *, folder: bool) -> None:
    """UnsafeLibraryError unless path (not a symlink, for a file) belongs to the current
    user and is writable by nobody else."""
    info = path.stat() if folder else path.lstat()
    kind = stat.S_ISDIR if folder else stat.S_ISREG
    if not kind(info.st_mode):
        raise UnsafeLibraryError(f"{path}: not a {'folder' if folder else 'regular file'}")
    if info.st_uid != os.geteuid():
        raise UnsafeLibraryError(f"{path}: owned by uid {info.st_uid}, not by you; refused")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeLibraryError(f"{path}: writable by group or others; refused")


def _private_dir(folder: Path) -> None:
    """Create folder (mode 0700) or take write access from group/others on one of ours."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.stat()
    if info.st_uid == os.geteuid() and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        folder.chmod(stat.S_IMODE(info.st_mode) & ~(stat.S_IWGRP | stat.S_IWOTH))
    check_owned(folder, folder=True)


def _compile(target: Path) -> None:
    """cc the source into target, atomically (parallel test workers may race here)."""
    # 0755 after linking: the linker applies the umask, which may allow group writes.
    with atomic_target(target, mode=0o755) as tmp:
        cmd = [os.environ.get("CC", "cc"), *CFLAGS, "-o", str(tmp), str(SOURCE), "-lm"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def library_name() -> str:
    """The library's file name: machine and a hash of sources and flags."""
    code = b"".join(path.read_bytes() for path in [SOURCE, *HEADERS])
    digest = hashlib.sha256(code + " ".join(CFLAGS).encode()).hexdigest()[:16]
    return f"ctc_kernel-{platform.machine()}-{digest}.so"


def load_from(folder: Path) -> ctypes.CDLL:
    """The kernel library in folder, compiled there first if missing; refused
    (UnsafeLibraryError) unless folder and library are the current user's alone."""
    _private_dir(folder)
    path = folder / library_name()
    if not path.exists():
        _compile(path)
    check_owned(path, folder=False)
    return _declare(ctypes.CDLL(str(path)))


def _load() -> tuple[ctypes.CDLL | None, str]:
    """(the kernel library, "") or (None, why not)."""
    if os.environ.get("DSTORCH_DECODER", "").lower() == "python":
        return None, "DSTORCH_DECODER=python"
    errors = []
    for folder in kernel_dirs():
        try:
            return load_from(folder), ""
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(f"{folder}: {getattr(exc, 'stderr', None) or exc}")
    return None, "; ".join(errors)


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    i32, i64 = ctypes.c_int32, ctypes.c_int64
    lib.dk_new.restype = _P
    lib.dk_new.argtypes = [i32, i32, i32, i32, i32, ctypes.c_double, _P, _P, _P, _P, i32,
                           _LM_FN, i64]  # fmt: skip
    lib.dk_run.argtypes = [_P, _P, i32, i32, i32, _P, _P, _P, _P]
    lib.dk_final.argtypes = [_P, _P, _P, _P]
    lib.dk_cache_new.restype = _P
    lib.dk_cache_new.argtypes = []
    lib.dk_cache_free.argtypes = [_P]
    lib.dk_cache_free.restype = None
    lib.dk_cache_size.argtypes = [_P]
    lib.dk_cache_size.restype = i64
    lib.dk_chain.argtypes = [_P, i32, i32, _P, i32]
    lib.dk_chain.restype = i32
    lib.dk_pool_size.argtypes = [_P, i32]
    lib.dk_pool_size.restype = i64
    lib.dk_free.argtypes = [_P]
    lib.dk_free.restype = None
    return lib


LIB, BUILD_ERROR = _load()
BACKEND = "c" if LIB is not None else "python"  # which implementation make_search uses


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


class TermCache:
    """The kernel's LM term cache (n-gram -> alpha * LM terms); one search at a time."""

    def __init__(self):
        self.ptr = LIB.dk_cache_new()
        if not self.ptr:
            raise MemoryError("decoder kernel: out of memory")

    def __del__(self) -> None:
        if getattr(self, "ptr", None):
            LIB.dk_cache_free(self.ptr)
            self.ptr = None

    def __len__(self) -> int:
        return LIB.dk_cache_size(self.ptr)


def _callback(search: KernelBeamSearch):
    """The C callback for search, holding it weakly: no reference cycle, so the kernel's
    memory is freed as soon as the search is dropped."""
    ref = weakref.ref(search)

    def call(labels, n, out) -> int:
        me = ref()
        return 1 if me is None else me._lm_callback(labels, n, out)

    return _LM_FN(call)


class KernelBeamSearch(BeamSearchBase):
    """The reference's results with the time steps in C (needs ``BACKEND == "c"``; not
    for UTF-8 scorers): ``next`` per chunk of probabilities [T, C], ``decode`` for the
    best candidates."""

    def __init__(self, *args, min_collect: int = MIN_COLLECT, **kwargs):
        if LIB is None:
            raise DecodeError(f"the C decoder kernel is unavailable: {BUILD_ERROR}")
        super().__init__(*args, **kwargs)
        if self.utf8:
            raise DecodeError("UTF-8 scorers need the reference search; use make_search")
        self._callback = _callback(self)  # referenced here: C keeps the pointer
        self._error: BaseException | None = None
        self._caches: list[TermCache] = []
        has_lm = self.scorer is not None
        ptrs, order = [None] * 4, 1
        if has_lm:  # kept as attributes: the kernel reads them without a copy
            arcs = ArcLists(self.table, self.blank)
            self._fst = (
                np.ascontiguousarray(self.table, np.int32),
                arcs.start.astype(np.int64),
                arcs.label.astype(np.int32),
                self.finals.astype(np.uint8),
            )
            ptrs, order = [_ptr(a) for a in self._fst], self.scorer.order
            hot = tuple(sorted((w, float(b)) for w, b in self.hot_words.items()))
            key = ("ctc_kernel", tuple(self.labels), self.alpha, hot)
            self._caches = self.scorer.decoder_caches.setdefault(key, [])
        self._d = LIB.dk_new(self.beam_width, self.blank, self.space, has_lm, order, self.beta,
                             *ptrs, self.root_state, self._callback, min_collect)  # fmt: skip
        if not self._d:
            raise MemoryError("decoder kernel: out of memory")

    def __del__(self) -> None:
        if getattr(self, "_d", None):
            LIB.dk_free(self._d)
            self._d = None

    def next(self, probs: np.ndarray) -> None:
        """Advance over probabilities [T, C] (softmax output, C = len(labels) + 1)."""
        probs = check_probs(probs, self.blank + 1)
        first = self._first_expanding(probs)
        rows = probs[first:]
        if len(rows):
            cidx, lp, nk = pruned_rows(rows, self.cutoff_prob, self.cutoff_top_n)
            p_blank = np.ascontiguousarray(rows[:, self.blank])
            with self._cache() as cache:
                err = LIB.dk_run(self._d, cache, self.time + first, len(rows), cidx.shape[1],
                                 _ptr(cidx), _ptr(lp), _ptr(nk), _ptr(p_blank))  # fmt: skip
            self._check(err)
        self.time += len(probs)

    @contextmanager
    def _cache(self) -> Iterator[int | None]:
        """A term cache of the scorer's for this search's settings (None without one),
        taken from its list while the kernel runs: a search in another thread, which
        would find the list empty, makes a cache of its own and adds it."""
        if self.scorer is None:
            yield None
            return
        cache = self._caches.pop() if self._caches else TermCache()
        try:
            yield cache.ptr
        finally:
            self._caches.append(cache)

    def _lm_callback(self, labels, n: int, out) -> int:
        """Kernel -> KenLM: the n-gram spelt by labels [n] (words split at spaces)."""
        try:
            words = [[]]
            for label in labels[:n]:
                if label == self.space:
                    words.append([])
                else:
                    words[-1].append(self.labels[label])
            out[0], out[1] = self.lm_terms(tuple("".join(w) for w in words))
            return 0
        except BaseException as exc:  # an exception cannot cross the C frames: hand it over
            self._error = exc
            return 1

    def _check(self, err: int) -> None:
        if err >= 0:
            return
        exc, self._error = self._error, None
        if exc is not None:
            raise exc
        raise MemoryError(f"decoder kernel: {_ERRORS.get(err, err)}")

    def decode(self, num_results: int = 1) -> list[Candidate]:
        """Best candidates, with the unfinished last word scored (DecoderState::decode)."""
        scores = np.empty(self.beam_width, np.float32)
        chars = np.empty(self.beam_width, np.int32)
        with self._cache() as cache:
            n = LIB.dk_final(self._d, cache, _ptr(scores), _ptr(chars))
        self._check(n)
        scores, chars = scores[:n], chars[:n]
        rows = best_first(scores, chars, num_results)
        return [
            self._candidate(self._chain(0, int(r)), self._chain(1, int(r)), scores[r]) for r in rows
        ]

    def _chain(self, pool: int, row: int) -> list[int]:
        out = np.empty(256, np.int32)
        n = LIB.dk_chain(self._d, pool, row, _ptr(out), len(out))
        if n > len(out):
            out = np.empty(n, np.int32)
            LIB.dk_chain(self._d, pool, row, _ptr(out), n)
        return out[:n].tolist()

    def pool_sizes(self) -> tuple[int, int]:
        """Entries in the label and the timestep pool (memory stays bounded on streams)."""
        return LIB.dk_pool_size(self._d, 0), LIB.dk_pool_size(self._d, 1)
