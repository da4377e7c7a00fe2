"""The studio's API and its guard, over real HTTP to `python -m dstorch studio`."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from studio_helpers import Studio, make_project

from dstorch.prepare.sources import NameParser

COMMANDS = {"1": "play music", "2": "stop"}


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    root = make_project(tmp_path_factory.mktemp("studio"), COMMANDS)
    server = Studio(root)
    server.root = root
    yield server
    server.stop()


def wav_bytes(seconds: float = 1.0, rate: int = 16000, channels: int = 1) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    out = io.BytesIO()
    sf.write(out, np.repeat(tone[:, None], channels, 1), rate, subtype="PCM_16", format="WAV")
    return out.getvalue()


def test_every_api_call_needs_the_token(studio):
    assert studio.request("/", token=False)[0] == 200  # the page itself holds no data
    assert studio.request("/api/state", token=False)[0] == 403
    assert studio.request(f"/api/state?token={studio.token}", token=False)[0] == 200
    for path, body in (
        ("/api/commands", {"columns": ["id", "en"], "rows": []}),
        ("/api/takes?speaker=eve&id=1", wav_bytes()),
        ("/api/train/start", b""),
        ("/api/train/stop", b""),
        ("/api/try", b""),
    ):
        status, answer = studio.request(path, body, token=False)
        assert status == 403 and "token" in answer["error"], path
        # a token in the query is no good for a write: a header is what no other site sends
        query = f"{'&' if '?' in path else '?'}token={studio.token}"
        assert studio.request(path + query, body, token=False)[0] == 403
    assert (studio.root / "commands.csv").read_text() == "id,en\n1,play music\n2,stop\n"
    assert not (studio.root / "original").exists()


def test_a_foreign_host_name_is_refused(studio):
    status, answer = studio.request("/api/state", headers={"Host": "evil.example:80"})
    assert status == 403 and "host" in answer["error"]


def listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp{,6} writes them) listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_only_loopback_listens_by_default(studio):
    port = int(studio.base.rsplit(":", 1)[1])
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
    try:  # and a connection to this machine's own outside address is refused
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # sends nothing: only picks the address
            address = probe.getsockname()[0]
    except OSError:
        return  # no route out: no other interface to reach it on
    with pytest.raises(OSError), socket.create_connection((address, port), timeout=2):
        pass


def test_takes_are_named_for_the_pattern_and_never_overwrite(studio):
    folder = studio.root / "original" / "en"
    names = []
    for _ in range(3):
        status, answer = studio.request("/api/takes?speaker=eve&id=2", wav_bytes())
        assert status == 200, answer
        names.append(answer["name"])
    assert names == [f"shapes_eve_2_3_000000_2_{n:03d}.wav" for n in (1, 2, 3)]
    assert all(NameParser("")(name[:-4]) == ("2", "eve") for name in names)
    assert studio.request("/api/state")[1]["takes"] == {"2": {"eve": 3}}
    info = sf.info(str(folder / names[0]))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")


@pytest.mark.parametrize(
    "query",
    [
        "speaker=../../x&id=1",
        "speaker=eve&id=../../../etc",
        "speaker=eve&id=1/..",
        "speaker=a_b&id=1",
        "speaker=eve&id=9",  # not a command of commands.csv
        "speaker=&id=1",
    ],
)
def test_a_take_that_would_leave_the_language_folder_is_refused(studio, query):
    status, answer = studio.request(f"/api/takes?{query}", wav_bytes())
    assert status == 400 and answer["error"].count("\n") == 0
    written = (
        list((studio.root / "original").rglob("*")) if (studio.root / "original").exists() else []
    )
    assert all(p.parent.name == "en" or p.name == "en" for p in written)


def test_a_take_in_another_format_is_refused(studio):
    for body in (wav_bytes(rate=44100), wav_bytes(channels=2), wav_bytes(0.1), b"RIFFjunk"):
        status, answer = studio.request("/api/takes?speaker=eve&id=1", body)
        assert status == 400, answer


def test_commands_are_validated_written_atomically_and_the_old_file_kept(studio):
    path, before = studio.root / "commands.csv", (studio.root / "commands.csv").read_text()
    for rows, why in (
        ([{"id": "1", "en": "a"}, {"id": "01", "en": "b"}], "two rows"),
        ([{"id": "a_b", "en": "a"}], "no '_'"),
        ([{"id": "../x", "en": "a"}], "no '_', '/'"),
    ):
        status, answer = studio.request("/api/commands", {"columns": ["id", "en"], "rows": rows})
        assert status == 400 and why in answer["error"], answer
        assert path.read_text() == before
    rows = [
        {"id": "1", "en": "play some music", "de": "musik"},
        {"id": "2", "en": "stop", "de": "halt"},
        {"id": "3", "en": "open the door", "de": "tür auf"},
    ]
    status, answer = studio.request("/api/commands", {"columns": ["id", "en", "de"], "rows": rows})
    assert status == 200, answer
    assert answer["commands"] == {"1": "play some music", "2": "stop", "3": "open the door"}
    assert (
        path.read_text()
        == "id,en,de\n1,play some music,musik\n2,stop,halt\n3,open the door,tür auf\n"
    )
    assert (studio.root / "commands.csv.previous").read_text() == before
    assert studio.request("/api/commands", {"columns": ["id", "en"], "rows": rows[1:]})[0] == 200


def test_report_serves_only_its_own_files(studio):
    status, text = studio.request("/report/")
    assert status == 200 and "No report yet" in text
    assert studio.request("/report/..%2Fconfiguration.env")[0] == 404
    assert studio.request("/report/configuration.env")[0] == 404
