"""`preview`: listenable WAVs of augmented samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
from augment_helpers import RATE, voice_wav
from conftest import ROOT

from dstorch.augment import AugmentError, cache, inaudible, preview
from dstorch.cli import main


@pytest.fixture()
def wav(tmp_path) -> Path:
    return voice_wav(tmp_path)


def test_preview_writes_listenable_wavs(wav, tmp_path):
    specs = ["reverb[delay=50~30]", "volume[dbfs=-10:-40]", "add[stddev=2]"]
    paths = preview(specs, wav, tmp_path / "out", n=3, clock=1.0, seed=1)
    assert [p.name for p in paths] == [
        "clip.original.wav", "clip.aug0.wav", "clip.aug1.wav", "clip.aug2.wav",
    ]  # fmt: skip
    for path in paths:
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (RATE, 1, "PCM_16")
    aug0, _ = soundfile.read(paths[1])
    assert 20 * np.log10(np.abs(aug0).max()) + 3.0103 == pytest.approx(-40, abs=0.1)
    assert inaudible(specs) == ["add[stddev=2]"]


def test_preview_needs_an_audible_augmentation(wav, tmp_path):
    with pytest.raises(AugmentError, match="nothing to listen to"):
        preview(["add"], wav, tmp_path)


def test_preview_of_a_noisy_room(wav, tmp_path):
    cache.use_data_dir(tmp_path / "data")
    try:
        specs = ["room[rooms=2]", "noise[kind=pink|hum,snr=10]"]
        paths = preview(specs, wav, tmp_path / "out", n=2, seed=1)
    finally:
        cache.use_data_dir(None)
    original, _ = soundfile.read(paths[0])
    for path in paths[1:]:
        noisy, _ = soundfile.read(path)
        assert noisy.shape == original.shape and not np.allclose(noisy, original, atol=0.01)
    assert list((tmp_path / "data" / "augment").glob("rooms-*.npz"))


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda p: p.write_text("not audio\n"), "not readable as audio"),
        (lambda p: None, "no such file"),
    ],
)
def test_make_preview_of_a_text_or_missing_file_is_one_line(
    tmp_path, monkeypatch, capsys, make, said
):
    """`make preview AUDIO=notes.txt` raised LibsndfileError with a traceback."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "notes.txt"
    make(target)
    args = ["preview", str(target), "--augment", "volume[dbfs=-20]", "--out_dir", "out"]
    assert main([*args, "--config", str(ROOT / "configuration.env")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {target}: {said}") and err.count("\n") == 1, err
