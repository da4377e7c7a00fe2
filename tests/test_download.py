"""Downloads into the cache: resume with Range after a cut, checksums, clear offline errors.
Against a local server only."""

import hashlib
import socket

import pytest
from http_helpers import http_server

from dstorch.download import DownloadError, cache_dir, cached_path, download, fetch_model

DATA = bytes(range(256)) * 4096  # 1 MiB, so the cut lands mid-file


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "dstorch"


def test_cache_is_under_xdg_cache_home(cache):
    assert cache_dir() == cache
    assert cached_path("https://example.org/a/m%20x.pbmm?dl=1") == cache / "m x.pbmm"


def test_cut_download_resumes_with_range_and_checks_sha256(cache):
    sha = hashlib.sha256(DATA).hexdigest()
    with http_server({"/m.pbmm": DATA}, cut_after=300_000) as served:
        url = f"{served.url}/m.pbmm"
        with pytest.raises(DownloadError, match="ended early.*run again to resume"):
            download(url, sha)
        assert not (cache / "m.pbmm").exists()  # only a complete file gets the final name
        assert (cache / "m.pbmm.part").stat().st_size == 300_000
        path = download(url, sha.upper())
        assert served.ranges == [None, "bytes=300000-"]
    assert path == cache / "m.pbmm" and path.read_bytes() == DATA
    assert not (cache / "m.pbmm.part").exists()
    assert download(url, sha) == path  # cached: the (stopped) server is not asked again


def test_bad_checksum_is_one_line_error(cache):
    with http_server({"/m.pb": DATA}) as served:
        with pytest.raises(DownloadError, match="does not match PRETRAINED_SHA256") as e:
            download(f"{served.url}/m.pb", "0" * 64)
    assert "\n" not in str(e.value) and str(cache / "m.pb") in str(e.value)


def test_missing_file_names_the_http_status():
    with http_server({}) as served:
        with pytest.raises(DownloadError, match="HTTP 404"):
            download(f"{served.url}/nothing.pbmm")


def test_offline_says_where_to_put_the_file(cache):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError) as e:
        download(f"http://127.0.0.1:{port}/deepspeech-0.9.3-models.pbmm")
    message = str(e.value)
    assert "\n" not in message
    assert f"put it at {cache / 'deepspeech-0.9.3-models.pbmm'}" in message


def test_fetch_model_takes_a_path_or_a_url(tmp_path, cache):
    local = tmp_path / "m.pbmm"
    local.write_bytes(DATA)
    sha = hashlib.sha256(DATA).hexdigest()
    assert fetch_model(str(local), sha) == local  # a path is used where it is
    with pytest.raises(DownloadError, match="does not match PRETRAINED_SHA256"):
        fetch_model(str(local), "0" * 64)
    with pytest.raises(DownloadError, match="missing.pbmm: no such file; give a .pbmm"):
        fetch_model(str(tmp_path / "missing.pbmm"))
    assert fetch_model(str(tmp_path)) == tmp_path  # a checkpoint folder, unhashed
    with http_server({"/u.pbmm": DATA}) as served:
        assert fetch_model(f"{served.url}/u.pbmm", sha) == cache / "u.pbmm"
