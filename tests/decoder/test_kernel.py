"""dstorch.decoder.kernel: the C search's memory, LM callback and cache, and where its
library comes from."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ENGLISH
from decoder_helpers import HOT, SCORER, C, needs_kernel, random_probs, run, spelled

from dstorch.decoder import kernel, make_search
from dstorch.decoder.arrays import ArrayBeamSearch
from dstorch.decoder.reference import ReferenceBeamSearch


@needs_kernel
def test_pools_are_collected_without_changing_results() -> None:
    probs = np.random.default_rng(9).dirichlet(np.full(C, 0.2), size=400).astype(np.float32)
    whole = kernel.KernelBeamSearch(ENGLISH, 32)
    small = kernel.KernelBeamSearch(ENGLISH, 32, min_collect=200)
    assert run(small, probs) == run(whole, probs)
    for kept, grown in zip(small.pool_sizes(), whole.pool_sizes(), strict=True):
        assert kept < grown / 5  # memory bounded by what live prefixes point to


@needs_kernel
def test_lm_errors_surface_from_next(monkeypatch) -> None:
    from dstorch.lm.scorer import Scorer

    search = kernel.KernelBeamSearch(ENGLISH, 16, Scorer(SCORER))  # a cold cache

    def broken(ngram):
        raise RuntimeError("kenlm exploded")

    monkeypatch.setattr(search, "lm_terms", broken)
    with pytest.raises(RuntimeError, match="kenlm exploded"):
        search.next(spelled("stop the music"))


@needs_kernel
def test_lm_cache_is_shared_by_later_searches(monkeypatch) -> None:
    """A second search with the same settings asks KenLM nothing and finds the same
    candidates; other alpha or hot words get a cache of their own."""
    from dstorch.lm.scorer import Scorer

    sc, probs, calls = Scorer(SCORER), random_probs(3, steps=200), []
    first = run(kernel.KernelBeamSearch(ENGLISH, 64, sc), probs)
    (cache,) = sc.decoder_caches.values()
    assert len(cache) == 1 and len(cache[0]) > 0
    original = kernel.KernelBeamSearch.lm_terms

    def counted(self, ngram):
        calls.append(ngram)
        return original(self, ngram)

    monkeypatch.setattr(kernel.KernelBeamSearch, "lm_terms", counted)
    assert run(kernel.KernelBeamSearch(ENGLISH, 64, sc), probs) == first
    assert calls == []
    for alpha, hot in [(sc.alpha, HOT), (0.5, None)]:
        sc.alpha = alpha
        ref = run(kernel.KernelBeamSearch(ENGLISH, 64, Scorer(SCORER, alpha), hot), probs)
        assert run(kernel.KernelBeamSearch(ENGLISH, 64, sc, hot), probs) == ref
    assert len(sc.decoder_caches) == 3 and calls


def test_backend_choice_and_fallback(tmp_path: Path, monkeypatch, scorer) -> None:
    """make_search uses the kernel when it built; without a compiler (or when told to) the
    flag says "python" and the array search is used; UTF-8 scorers get the reference."""
    expected = ArrayBeamSearch if kernel.BACKEND == "python" else kernel.KernelBeamSearch
    assert type(make_search(ENGLISH, 8, scorer)) is expected
    monkeypatch.setattr(kernel, "kernel_dirs", lambda: [tmp_path / "k"])
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    lib, why = kernel._load()
    assert lib is None and "no-such-compiler" in why
    code = "from dstorch.decoder import kernel, make_search; " \
           "print(kernel.BACKEND, type(make_search([' ', 'a'], 4)).__name__)"  # fmt: skip
    env = dict(os.environ, DSTORCH_DECODER="python")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["python", "ArrayBeamSearch"], out.stderr
    from dstorch.lm.scorer import Scorer

    utf8 = Scorer(SCORER.with_name("bytes.scorer"))  # no UTF-8 mode in the fast searches
    assert type(make_search([chr(i + 1) for i in range(255)], 8, utf8)) is ReferenceBeamSearch


def test_library_lives_in_a_private_place_not_tmp() -> None:
    """No candidate folder is a shared temp folder, and the loaded library (where one
    was built) is a file of ours in a folder of ours that nobody else may write."""
    shared = Path(tempfile.gettempdir()).resolve()
    for folder in kernel.kernel_dirs():
        assert shared not in [folder.resolve(), *folder.resolve().parents], folder
    if kernel.BACKEND == "c":
        path = Path(kernel.LIB._name)
        assert shared not in path.resolve().parents, path
        kernel.check_owned(path.parent, folder=True)
        kernel.check_owned(path, folder=False)


@needs_kernel
def test_unsafe_libraries_are_refused(tmp_path: Path, monkeypatch) -> None:
    """A library or folder others may write, or that belongs to someone else, is never
    loaded; a fresh build lands in a folder only we can write."""
    folder = tmp_path / "kernel"
    kernel.load_from(folder)  # compiles it there
    lib = folder / kernel.library_name()
    assert oct(folder.stat().st_mode & 0o777) == "0o700" and not lib.stat().st_mode & 0o022
    lib.chmod(0o777)  # world-writable: anyone could have swapped the code
    with pytest.raises(kernel.UnsafeLibraryError, match="writable by group or others"):
        kernel.load_from(folder)
    lib.chmod(0o755)
    kernel.load_from(folder)
    lib.rename(folder / "elsewhere.so")
    lib.symlink_to(folder / "elsewhere.so")  # a link may point anywhere
    with pytest.raises(kernel.UnsafeLibraryError, match="not a regular file"):
        kernel.load_from(folder)
    lib.unlink()
    (folder / "elsewhere.so").rename(lib)
    someone_else = os.geteuid() + 1
    monkeypatch.setattr(os, "geteuid", lambda: someone_else)  # the files now look foreign
    with pytest.raises(kernel.UnsafeLibraryError, match="not by you"):
        kernel.load_from(folder)
    monkeypatch.setattr(kernel, "kernel_dirs", lambda: [folder])
    lib_or_none, why = kernel._load()
    assert lib_or_none is None and "refused" in why


@needs_kernel
def test_edits_rebuild_the_library(tmp_path: Path, monkeypatch) -> None:
    """The library is named by a hash of sources, headers and flags: an edit builds anew."""
    first = kernel.library_name()
    header = tmp_path / "ctc_pool.h"
    header.write_bytes(kernel.HEADERS[0].read_bytes())
    monkeypatch.setattr(kernel, "HEADERS", [header])
    assert kernel.library_name() == first
    header.write_bytes(header.read_bytes() + b"/* edited */\n")
    assert kernel.library_name() != first
    monkeypatch.undo()
    folder = tmp_path / "k"
    kernel.load_from(folder)
    monkeypatch.setattr(kernel, "CFLAGS", [*kernel.CFLAGS, "-DDSTORCH_REBUILD_TEST"])
    kernel.load_from(folder)
    names = sorted(p.name for p in folder.glob("*.so"))
    assert names == sorted([first, kernel.library_name()]) and first != kernel.library_name()
