"""Audio conversion: other formats to 16 kHz mono 16-bit WAV, via soundfile, sox or pydub."""

from __future__ import annotations

import shutil
import subprocess
import wave

import pytest
from pipeline_helpers import name, project, run, splits, tone

from dstorch.prepare import convert as convert_mod


def test_converts_other_formats_and_says_so(tmp_path):
    root = project(tmp_path, speakers=2)
    folder = root / "original/en"
    tone(folder / name("cd", "1", 1, "flac"), rate=44100, channels=2, subtype="PCM_24", seed=50)
    tone(folder / name("cd", "2", 1, "ogg"), rate=8000, subtype="VORBIS", seed=51)
    tone(folder / name("cd", "3", 1), rate=22050, subtype="FLOAT", seed=52)
    messages: list[str] = []
    result = run(root, messages)
    assert result.tally.converted == 3
    converted = [m for m in messages if "converted from" in m]
    assert len(converted) == 3 and "44100 Hz stereo 24-bit FLAC" in " ".join(converted)
    for ext in ("flac", "ogg"):
        out = root / "data/en" / name("cd", "1" if ext == "flac" else "2", 1)
        with wave.open(str(out)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            assert abs(w.getnframes() - 16000) < 200  # 1 s in, 1 s out


@pytest.mark.skipif(not shutil.which("sox"), reason="needs sox")
def test_sox_reads_what_libsndfile_cannot(tmp_path):
    root = project(tmp_path, speakers=2)
    src = root / "original/en" / name("gh", "1", 1, "cvsd")
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", str(src), "synth", "1", "sine", "300"], check=True
    )
    messages: list[str] = []
    run(root, messages)
    assert any("via sox" in m for m in messages)
    assert splits(root)[src.relative_to(root).as_posix()]


def test_pydub_is_the_last_resort(tmp_path, monkeypatch):
    pytest.importorskip("pydub")

    def fail(src, dst):
        raise RuntimeError("unavailable")

    monkeypatch.setattr(convert_mod, "_with_soundfile", fail)
    monkeypatch.setattr(convert_mod, "_with_sox", fail)
    src = tone(tmp_path / "in.wav", rate=44100, channels=2, seed=3)
    result = convert_mod.convert(src, tmp_path / "out.wav")
    assert result.converted and "pydub" in result.was
    assert abs(result.samples - 16000) < 10
