"""dstorch.inference.official: the ctypes wrapper around the official libdeepspeech.so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dstorch.export import export_model
from dstorch.export.protobuf import decode_graph, encode_graph
from dstorch.inference.official import (
    TF_CLIENT,
    TFLITE_CLIENT,
    ClientError,
    OfficialModel,
    fetch_library,
    library_version,
)


@pytest.fixture(scope="module")
def model(deepspeech_lib: Path, exported: dict[str, Path]):
    with OfficialModel(exported["pbmm"], deepspeech_lib) as client:
        yield client


def test_fetch_library_is_idempotent(deepspeech_lib: Path) -> None:
    before = deepspeech_lib.stat().st_mtime_ns
    assert fetch_library(deepspeech_lib.parent) == deepspeech_lib
    assert deepspeech_lib.stat().st_mtime_ns == before
    assert library_version() == "0.9.3"


def test_metadata_and_beam_width(deepspeech_lib, tmp_path, peaked_model, english) -> None:
    pb, _ = export_model(peaked_model, english, tmp_path, "beam", beam_width=77)
    with OfficialModel(pb, deepspeech_lib) as client:
        assert (client.sample_rate, client.beam_width) == (16000, 77)
        client.set_beam_width(12)
        assert client.beam_width == 12


def test_stream_matches_whole_buffer(model: OfficialModel, parity_clips) -> None:
    pcm = parity_clips["speech"]
    expected = model.stt_with_metadata(pcm, num_results=3)
    cuts = [0, 1, 333, 512, 5000, 5001, 20000, len(pcm)]  # uneven, some empty chunks
    stream = model.stream()
    for start, end in zip(cuts, cuts[1:], strict=False):
        stream.feed(pcm[start:end])
        # The partial transcript depends on the audio so far, not on how it was cut.
        with model.stream() as at_once:
            at_once.feed(pcm[:end])
            assert stream.intermediate_decode() == at_once.intermediate_decode(), end
    assert stream.intermediate_decode(), "no partial transcript of the whole clip"
    assert stream.finish_with_metadata(num_results=3) == expected
    with model.stream() as stream:
        stream.feed(pcm)
        assert stream.finish() == expected[0].text
        with pytest.raises(ClientError, match="already finished"):
            stream.feed(pcm)


def test_metadata_tokens(model: OfficialModel, parity_clips) -> None:
    candidates = model.stt_with_metadata(parity_clips["speech"], num_results=2)
    assert len(candidates) == 2 and candidates[0].confidence >= candidates[1].confidence
    assert candidates[0].tokens, "the loop below must check something"
    for token in candidates[0].tokens:
        assert token.start_time == pytest.approx(token.timestep * 0.02, abs=1e-6)


def test_abandoned_stream_is_freed(model: OfficialModel) -> None:
    stream = model.stream()
    stream.feed(np.zeros(1000, dtype=np.int16))
    stream.free()
    stream.free()  # idempotent
    with pytest.raises(ClientError, match="already finished or freed"):
        stream.feed(np.zeros(1000, dtype=np.int16))  # no use of the library's freed memory


def test_pcm_must_be_int16(model: OfficialModel) -> None:
    with pytest.raises(ValueError, match="int16"):
        model.stt(np.zeros(100, dtype=np.float32))


def test_unreadable_model_raises(deepspeech_lib: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\xff\xff\xff")
    with pytest.raises(ClientError, match=r"proto buffer.*0x3005") as info:
        OfficialModel(junk, deepspeech_lib)
    assert info.value.code == 0x3005
    bad_pbmm = tmp_path / "junk.pbmm"
    bad_pbmm.write_bytes(b"\xff" * 100)
    with pytest.raises(ClientError, match=r"memory mapped.*0x3000"):
        OfficialModel(bad_pbmm, deepspeech_lib)


def test_missing_metadata_is_incompatible(deepspeech_lib, tmp_path, exported) -> None:
    nodes = decode_graph(exported["pb"].read_bytes())
    stripped = tmp_path / "stripped.pb"
    stripped.write_bytes(encode_graph([n for n in nodes if n.name != "metadata_alphabet"]))
    with pytest.raises(ClientError, match=r"Incompatible model.*0x2003"):
        OfficialModel(stripped, deepspeech_lib)


def test_scorer_errors(model: OfficialModel, tmp_path: Path) -> None:
    junk = tmp_path / "junk.scorer"
    junk.write_bytes(b"not a scorer" * 100)
    with pytest.raises(ClientError, match="0x2002"):
        model.enable_scorer(junk)
    with pytest.raises(ClientError, match=r"not enabled.*0x2004"):
        model.add_hot_word("hello", 5.0)
    with pytest.raises(ClientError, match="0x2004"):
        model.set_scorer_alpha_beta(0.9, 1.2)


def test_closed_model_raises(deepspeech_lib: Path, exported) -> None:
    client = OfficialModel(exported["pb"], deepspeech_lib)
    client.close()
    client.close()
    with pytest.raises(ClientError, match="closed"):
        client.stt(np.zeros(10, dtype=np.int16))


@pytest.mark.parametrize("client", [TF_CLIENT, TFLITE_CLIENT], ids=["tf", "tflite"])
@pytest.mark.parametrize("planted", ["wheel", "cached library"])
def test_an_unpinned_wheel_or_library_is_refused(tmp_path, monkeypatch, planted, client) -> None:
    """An index serving another deepspeech(-tflite)-0.9.3 wheel, or a library planted in
    the cache, must not become the judge of our exports."""
    import zipfile

    links = tmp_path / "links"
    links.mkdir()
    project = client.requirement.split("==")[0]
    dist = project.replace("-", "_")
    wheel = links / f"{dist}-0.9.3-cp39-cp39-manylinux1_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("deepspeech/lib/libdeepspeech.so", b"not the real library")
        info = f"{dist}-0.9.3.dist-info/"
        z.writestr(info + "METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: 0.9.3\n")
        z.writestr(info + "WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n")
        z.writestr(info + "RECORD", "")
    cache = tmp_path / "cache"
    if planted == "cached library":
        cache.mkdir()
        (cache / "libdeepspeech.so").write_bytes(b"planted")
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip finds only our wheel
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    with pytest.raises(RuntimeError, match="not the pinned"):
        fetch_library(cache, client)
    assert not (cache / "libdeepspeech.so").exists() or planted == "cached library"


def test_tflite_library_is_fetched_and_lives_beside_the_tf_one(
    deepspeech_lib: Path, deepspeech_tflite_lib: Path
) -> None:
    before = deepspeech_tflite_lib.stat().st_mtime_ns
    assert fetch_library(deepspeech_tflite_lib.parent, TFLITE_CLIENT) == deepspeech_tflite_lib
    assert deepspeech_tflite_lib.stat().st_mtime_ns == before
    assert deepspeech_tflite_lib != deepspeech_lib
    assert library_version(deepspeech_tflite_lib) == library_version(deepspeech_lib) == "0.9.3"
