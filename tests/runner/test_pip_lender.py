"""The host's pip configuration lent to the image build through localhost
(dstorch.runner.pip_lender): what is served, to whom, and for how long."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import pytest

from dstorch.runner.pip_lender import (
    TOKEN_FILE,
    PipLender,
    helper_token,
    host_pip_options,
    lend_pip_config,
)

TOKEN = "t" * 43  # as helper_token() makes them


def test_pip_configuration_is_lent_through_localhost(tmp_path):
    # A file:// simple index whose pages link to ../../files/, like a local mirror.
    (tmp_path / "mirror" / "simple" / "demo").mkdir(parents=True)
    (tmp_path / "mirror" / "files").mkdir()
    (tmp_path / "mirror" / "files" / "demo-1.0.tar.gz").write_bytes(b"package")
    (tmp_path / "mirror" / "simple" / "demo" / "index.html").write_text(
        '<a href="../../files/demo-1.0.tar.gz">demo</a>'
    )
    (tmp_path / "secret.txt").write_text("not lent")
    cert = tmp_path / "ca.pem"
    cert.write_text("CERT")
    fake_pip = tmp_path / "fakepython"
    fake_pip.write_text(
        "#!/bin/sh\ncat <<'EOF'\n"
        f"global.extra-index-url='file://{tmp_path}/mirror/simple'\n"
        f"global.cert='{cert}'\n:env:.timeout='60'\nglobal.user='x'\nEOF\n"
    )
    fake_pip.chmod(0o755)
    options = host_pip_options(str(fake_pip))
    assert options == {
        "extra-index-url": f"file://{tmp_path}/mirror/simple",
        "cert": str(cert),
        "timeout": "60",
    }
    with PipLender(options, 0, TOKEN) as lender:
        conf = urllib.request.urlopen(f"{lender.url}/pip.conf").read().decode()
        index = next(
            line.split(" = ")[1] for line in conf.splitlines() if line.startswith("extra-index-url")
        )
        assert index.startswith(lender.url) and "cert = /tmp/dstorch-pip/ca.pem" in conf
        assert urllib.request.urlopen(f"{lender.url}/ca.pem").read() == b"CERT"
        page = urllib.request.urlopen(f"{index}demo/").read().decode()
        assert "../../files/demo-1.0.tar.gz" in page
        wheel = urllib.request.urlopen(f"{index}demo/../../files/demo-1.0.tar.gz").read()
        assert wheel == b"package"
        with pytest.raises(urllib.error.HTTPError):  # outside what was lent
            urllib.request.urlopen(f"{lender.url}/f{tmp_path}/secret.txt")


def test_pip_helper_answers_only_the_build_and_only_during_it(tmp_path, monkeypatch):
    """pip.conf (with an index password) was served to any local client during a build."""
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://user:s3cret@pypi.example/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with lend_pip_config() as helper:
        port = urllib.parse.urlsplit(helper).port
        assert "s3cret" in urllib.request.urlopen(f"{helper}/pip.conf").read().decode()
        for path in ("/pip.conf", "/wrong-token/pip.conf", f"/f{tmp_path}/", "/"):
            for method in ("GET", "HEAD"):
                request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(request)
                assert refused.value.code == 404
    with pytest.raises(urllib.error.URLError):  # the build is over: nothing listens
        urllib.request.urlopen(f"{helper}/pip.conf", timeout=5)
    token = tmp_path / "cache" / "dstorch" / TOKEN_FILE
    assert token.stat().st_mode & 0o777 == 0o600 and token.read_text().strip() in helper


def test_helper_token_is_stable_private_and_replaced_when_readable(tmp_path):
    first = helper_token(tmp_path)
    assert helper_token(tmp_path) == first and len(first) >= 32  # the pip layer stays cached
    (tmp_path / TOKEN_FILE).chmod(0o644)  # others could read it: a new one
    assert helper_token(tmp_path) != first
    assert (tmp_path / TOKEN_FILE).stat().st_mode & 0o777 == 0o600


def test_pip_lender_serves_no_listing_and_no_other_file(tmp_path):
    """A file:// index in a home folder: the build may read package files and index
    pages, never a listing of the folder or a file such as ~/.ssh/id_rsa."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    (home / "notes.txt").write_text("private")
    (home / "wheels").mkdir()
    (home / "wheels" / "demo-1.0-py3-none-any.whl").write_bytes(b"wheel")
    (home / "wheels" / "README").write_text("not a package")
    (home / "simple" / "demo").mkdir(parents=True)
    (home / "simple" / "demo" / "index.html").write_text('<a href="../../wheels/x.whl">x</a>')
    options = {"extra-index-url": f"file://{home}/simple", "find-links": f"{home}/wheels"}
    with PipLender(options, 0, TOKEN) as lender:
        base = f"{lender.url}/f{home.resolve()}"

        def get(path: str) -> str:
            return urllib.request.urlopen(base + path).read().decode()

        assert "../../wheels/x.whl" in get("/simple/demo/")  # the index page
        assert get("/wheels/demo-1.0-py3-none-any.whl") == "wheel"
        listing = get("/wheels/")  # what pip reads for find-links
        assert "demo-1.0-py3-none-any.whl" in listing and "README" not in listing
        assert ".ssh" not in get("/") and "notes.txt" not in get("/")
        for secret in ("/.ssh/id_rsa", "/notes.txt", "/wheels/README"):
            with pytest.raises(urllib.error.HTTPError):
                get(secret)
