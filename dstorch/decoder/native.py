"""The beam search's time steps in C (kernel/ctc_kernel.c), loaded with ctypes: production.

Why it exists: speed. A step of the reference is hundreds of Python operations per
prefix; the kernel runs whole chunks of steps in one call with the same float32
arithmetic and tie-breaking, so `KernelBeamSearch` gives bit-identical candidates to the
reference (tests/decoder/test_parity.py) at the official client's speed.

The library is compiled at install time (kernel/build.py: `make dependencies`, the
trainer image's builder stage), never here: a run needs no compiler. `library` loads it
from the first of (`kernel_dirs`) that has it: $DSTORCH_KERNEL_DIR (the image's), then
build/ctc_kernel of a source checkout; missing (or built from other sources), it is a
one-line `KernelNotBuiltError` naming the fix. A library is loaded only from a folder and
file that nobody but their owner, the current user or root, may write (`check_owned`).
KenLM stays in Python: the kernel calls back for n-grams it has not scored yet, and keeps
their scores in a cache that lives on the Scorer (one per labels / alpha / hot words), so
later searches with the same settings do not ask KenLM again.
"""

from __future__ import annotations

import ctypes
import functools
import os
import stat
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
from dstorch.decoder.kernel.build import CHECKOUT_DIR, library_name
from dstorch.errors import DstorchError
from dstorch.fs import SOURCE_ROOT

KERNEL_DIR_ENV = "DSTORCH_KERNEL_DIR"  # a folder that holds the built library (the image's)
BUILD_FIX = "run `make dependencies` (for the trainer image: `make build`)"
MIN_COLLECT = 1 << 16  # pool entries before the first garbage collection
_ERRORS = {-1: "out of memory", -2: "LM callback failed"}

_LM_FN = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_int32), ctypes.c_int32, ctypes.POINTER(ctypes.c_float)
)
_P = ctypes.c_void_p


class UnsafeLibraryError(OSError):
    """A kernel folder or library that someone other than its owner could replace."""


class KernelNotBuiltError(DstorchError, ValueError):
    """No loadable kernel library for these sources: one line naming the fix."""


def kernel_dirs() -> list[Path]:
    """Where the built kernel may be, first choice first."""
    dirs = [Path(os.environ[KERNEL_DIR_ENV])] if os.environ.get(KERNEL_DIR_ENV) else []
    if (SOURCE_ROOT / "pyproject.toml").is_file():  # a source checkout, not site-packages
        dirs.append(CHECKOUT_DIR)
    return dirs


def check_owned(path: Path, *, folder: bool) -> None:
    """UnsafeLibraryError unless path (not a symlink, for a file) belongs to the current
    user or to root (who can replace any file anyway: the image's library) and is
    writable by nobody else."""
    info = path.stat() if folder else path.lstat()
    kind = stat.S_ISDIR if folder else stat.S_ISREG
    if not kind(info.st_mode):
        raise UnsafeLibraryError(f"{path}: not a {'folder' if folder else 'regular file'}")
    if info.st_uid not in (os.geteuid(), 0):
        raise UnsafeLibraryError(f"{path}: owned by uid {info.st_uid}, not you or root; refused")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeLibraryError(f"{path}: writable by group or others; refused")


def load_from(folder: Path) -> ctypes.CDLL:
    """The kernel library for these sources in folder: FileNotFoundError where there is
    none, UnsafeLibraryError unless folder and library pass `check_owned`."""
    path = folder / library_name()
    if not path.exists():
        raise FileNotFoundError(f"no {path}")
    check_owned(folder, folder=True)
    check_owned(path, folder=False)
    return _declare(ctypes.CDLL(str(path)))


@functools.cache
def library() -> ctypes.CDLL:
    """The kernel library, loaded once; KernelNotBuiltError (not cached: a later call
    finds a library built meanwhile) where no folder of `kernel_dirs` has a usable one."""
    errors = []
    for folder in kernel_dirs():
        try:
            return load_from(folder)
        except OSError as exc:
            errors.append(str(exc))
    why = "; ".join(errors) or f"no source checkout and no ${KERNEL_DIR_ENV}"
    raise KernelNotBuiltError(
        f"the decoder's C kernel is not built for this code ({why}); {BUILD_FIX}"
    )


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


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


class TermCache:
    """The kernel's LM term cache (n-gram -> alpha * LM terms); one search at a time."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib, self.ptr = lib, lib.dk_cache_new()
        if not self.ptr:
            raise MemoryError("decoder kernel: out of memory")

    def __del__(self) -> None:
        if getattr(self, "ptr", None):
            self.lib.dk_cache_free(self.ptr)
            self.ptr = None

    def __len__(self) -> int:
        return self.lib.dk_cache_size(self.ptr)


def _callback(search: KernelBeamSearch):
    """The C callback for search, holding it weakly: no reference cycle, so the kernel's
    memory is freed as soon as the search is dropped."""
    ref = weakref.ref(search)

    def call(labels, n, out) -> int:
        me = ref()
        return 1 if me is None else me._lm_callback(labels, n, out)

    return _LM_FN(call)


class KernelBeamSearch(BeamSearchBase):
    """The reference's results with the time steps in C (not for UTF-8 scorers): ``next``
    per chunk of probabilities [T, C], ``decode`` for the best candidates."""

    def __init__(self, *args, min_collect: int = MIN_COLLECT, **kwargs):
        self._lib = library()  # first: without it, nothing below matters
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
        self._d = self._lib.dk_new(self.beam_width, self.blank, self.space, has_lm, order,
                                   self.beta, *ptrs, self.root_state, self._callback,
                                   min_collect)  # fmt: skip
        if not self._d:
            raise MemoryError("decoder kernel: out of memory")

    def __del__(self) -> None:
        if getattr(self, "_d", None):
            self._lib.dk_free(self._d)
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
                err = self._lib.dk_run(self._d, cache, self.time + first, len(rows), cidx.shape[1],
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
        cache = self._caches.pop() if self._caches else TermCache(self._lib)
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
            n = self._lib.dk_final(self._d, cache, _ptr(scores), _ptr(chars))
        self._check(n)
        scores, chars = scores[:n], chars[:n]
        rows = best_first(scores, chars, num_results)
        return [
            self._candidate(self._chain(0, int(r)), self._chain(1, int(r)), scores[r]) for r in rows
        ]

    def _chain(self, pool: int, row: int) -> list[int]:
        out = np.empty(256, np.int32)
        n = self._lib.dk_chain(self._d, pool, row, _ptr(out), len(out))
        if n > len(out):
            out = np.empty(n, np.int32)
            self._lib.dk_chain(self._d, pool, row, _ptr(out), n)
        return out[:n].tolist()

    def pool_sizes(self) -> tuple[int, int]:
        """Entries in the label and the timestep pool (memory stays bounded on streams)."""
        return self._lib.dk_pool_size(self._d, 0), self._lib.dk_pool_size(self._d, 1)
