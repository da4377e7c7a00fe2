"""dstorch.decoder.native (+ kernel/build.py): the C search's memory, LM callback and
cache, and where its library comes from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ENGLISH, ROOT
from decoder_helpers import HOT, SCORER, C, random_probs, run, spelled

from dstorch.decoder import DecodeError, make_search, native
from dstorch.decoder.kernel import build
from dstorch.decoder.native import KernelBeamSearch
from dstorch.decoder.reference import ReferenceBeamSearch
from dstorch.errors import DstorchError


def test_pools_are_collected_without_changing_results() -> None:
    probs = np.random.default_rng(9).dirichlet(np.full(C, 0.2), size=400).astype(np.float32)
    whole = KernelBeamSearch(ENGLISH, 32)
    small = KernelBeamSearch(ENGLISH, 32, min_collect=200)
    assert run(small, probs) == run(whole, probs)
    for kept, grown in zip(small.pool_sizes(), whole.pool_sizes(), strict=True):
        assert kept < grown / 5  # memory bounded by what live prefixes point to


def test_lm_errors_surface_from_next(monkeypatch) -> None:
    from dstorch.lm.scorer import Scorer

    search = KernelBeamSearch(ENGLISH, 16, Scorer(SCORER))  # a cold cache

    def broken(ngram):
        raise RuntimeError("kenlm exploded")

    monkeypatch.setattr(search, "lm_terms", broken)
    with pytest.raises(RuntimeError, match="kenlm exploded"):
        search.next(spelled("stop the music"))


def test_lm_cache_is_shared_by_later_searches(monkeypatch) -> None:
    """A second search with the same settings asks KenLM nothing and finds the same
    candidates; other alpha or hot words get a cache of their own."""
    from dstorch.lm.scorer import Scorer

    sc, probs, calls = Scorer(SCORER), random_probs(3, steps=200), []
    first = run(KernelBeamSearch(ENGLISH, 64, sc), probs)
    (cache,) = sc.decoder_caches.values()
    assert len(cache) == 1 and len(cache[0]) > 0
    original = KernelBeamSearch.lm_terms

    def counted(self, ngram):
        calls.append(ngram)
        return original(self, ngram)

    monkeypatch.setattr(KernelBeamSearch, "lm_terms", counted)
    assert run(KernelBeamSearch(ENGLISH, 64, sc), probs) == first
    assert calls == []
    for alpha, hot in [(sc.alpha, HOT), (0.5, None)]:
        sc.alpha = alpha
        ref = run(KernelBeamSearch(ENGLISH, 64, Scorer(SCORER, alpha), hot), probs)
        assert run(KernelBeamSearch(ENGLISH, 64, sc, hot), probs) == ref
    assert len(sc.decoder_caches) == 3 and calls


def test_make_search_uses_the_kernel_and_the_reference_for_utf8(scorer) -> None:
    from dstorch.lm.scorer import Scorer

    assert type(make_search(ENGLISH, 8)) is KernelBeamSearch
    assert type(make_search(ENGLISH, 8, scorer)) is KernelBeamSearch
    utf8 = Scorer(SCORER.with_name("bytes.scorer"))  # the kernel has no UTF-8 mode
    assert type(make_search([chr(i + 1) for i in range(255)], 8, utf8)) is ReferenceBeamSearch
    with pytest.raises(DecodeError, match="UTF-8"):
        KernelBeamSearch([chr(i + 1) for i in range(255)], 8, utf8)


def test_a_missing_kernel_is_one_line_naming_the_fix(tmp_path: Path, monkeypatch) -> None:
    """No compiling at run time and no slow fallback: a search without a library built
    for these sources says to run `make dependencies`; one built meanwhile is found."""
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))  # never called
    monkeypatch.setattr(native, "kernel_dirs", lambda: [tmp_path / "k"])
    native.library.cache_clear()
    try:
        with pytest.raises(native.KernelNotBuiltError) as error:
            make_search(ENGLISH, 8)
        message = str(error.value)
        assert "\n" not in message and "make dependencies" in message
        assert str(tmp_path / "k" / build.library_name()) in message
        assert issubclass(native.KernelNotBuiltError, DstorchError)  # the CLI's one line
        monkeypatch.delenv("CC")
        build.build(tmp_path / "k")
        assert type(make_search(ENGLISH, 8)) is KernelBeamSearch
    finally:
        native.library.cache_clear()  # the next test loads the real one again


def test_kernel_dirs_are_the_images_then_the_checkouts(monkeypatch) -> None:
    monkeypatch.delenv(native.KERNEL_DIR_ENV, raising=False)
    assert native.kernel_dirs() == [build.CHECKOUT_DIR]
    assert build.CHECKOUT_DIR == ROOT / "build" / "ctc_kernel"
    monkeypatch.setenv(native.KERNEL_DIR_ENV, "/opt/ctc_kernel")
    assert native.kernel_dirs() == [Path("/opt/ctc_kernel"), build.CHECKOUT_DIR]


def test_library_lives_in_a_private_place_not_tmp() -> None:
    """No candidate folder is a shared temp folder, and the loaded library is a file in a
    folder that nobody but its owner may write."""
    shared = Path(tempfile.gettempdir()).resolve()
    for folder in native.kernel_dirs():
        assert shared not in [folder.resolve(), *folder.resolve().parents], folder
    path = Path(native.library()._name)
    assert shared not in path.resolve().parents, path
    native.check_owned(path.parent, folder=True)
    native.check_owned(path, folder=False)


def test_unsafe_libraries_are_refused(tmp_path: Path, monkeypatch) -> None:
    """A library or folder others may write, or that belongs to someone else (not you,
    not root), is never loaded; a fresh build lands in a folder only we can write."""
    folder = tmp_path / "kernel"
    lib = build.build(folder)
    assert lib == folder / build.library_name()
    assert not folder.stat().st_mode & 0o022 and not lib.stat().st_mode & 0o022
    native.load_from(folder)
    lib.chmod(0o777)  # world-writable: anyone could have swapped the code
    with pytest.raises(native.UnsafeLibraryError, match="writable by group or others"):
        native.load_from(folder)
    lib.chmod(0o755)
    lib.rename(folder / "elsewhere.so")
    lib.symlink_to(folder / "elsewhere.so")  # a link may point anywhere
    with pytest.raises(native.UnsafeLibraryError, match="not a regular file"):
        native.load_from(folder)
    lib.unlink()
    (folder / "elsewhere.so").rename(lib)
    if os.geteuid() == 0:  # root's files are trusted by everyone (the image's library)
        monkeypatch.setattr(os, "geteuid", lambda: 4242)
        native.load_from(folder)
        monkeypatch.undo()
        os.chown(lib, 4243, -1)  # a third user's
    else:
        someone_else = os.geteuid() + 1
        monkeypatch.setattr(os, "geteuid", lambda: someone_else)  # ours now look foreign
    with pytest.raises(native.UnsafeLibraryError, match="not you or root"):
        native.load_from(folder)


def test_edits_rebuild_the_library(tmp_path: Path, monkeypatch) -> None:
    """The library is named by a hash of sources, headers and flags: an edit builds anew."""
    first = build.library_name()
    header = tmp_path / "ctc_pool.h"
    header.write_bytes(build.HEADERS[0].read_bytes())
    monkeypatch.setattr(build, "HEADERS", [header])
    assert build.library_name() == first
    header.write_bytes(header.read_bytes() + b"/* edited */\n")
    assert build.library_name() != first
    monkeypatch.undo()
    folder = tmp_path / "k"
    build.build(folder)
    monkeypatch.setattr(build, "CFLAGS", [*build.CFLAGS, "-DDSTORCH_REBUILD_TEST"])
    build.build(folder)
    names = sorted(p.name for p in folder.glob("*.so"))
    assert names == sorted([first, build.library_name()]) and first != build.library_name()


def test_build_script_runs_by_path_without_the_package(tmp_path: Path) -> None:
    """What `make dependencies` and the image's builder stage run: build.py copied alone
    beside the sources, with no dstorch to import; a second run keeps the library."""
    for source in [build.SOURCE, *build.HEADERS, Path(build.__file__)]:
        shutil.copy(source, tmp_path / source.name)
    command = [sys.executable, "-I", str(tmp_path / "build.py"), str(tmp_path / "out")]
    first = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (lib,) = (tmp_path / "out").glob("*.so")
    assert lib.name == build.library_name() and str(lib) in first.stdout
    mtime = lib.stat().st_mtime_ns
    assert subprocess.run(command, capture_output=True, cwd=tmp_path).returncode == 0
    assert lib.stat().st_mtime_ns == mtime
    broken = subprocess.run(command[:-1] + [str(tmp_path / "x")], capture_output=True,
                            text=True, env={**os.environ, "CC": "/nonexistent/cc"})  # fmt: skip
    assert broken.returncode == 1 and "install build-essential" in broken.stderr
