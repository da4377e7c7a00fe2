"""Signal-processing helpers: the Opus codec round trip on every available backend."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from augment_helpers import voice

from dstorch.augment import dsp


@pytest.mark.parametrize("backend", ["soundfile", "opus-tools"])
def test_codec_backends(backend, monkeypatch):
    if backend == "opus-tools" and not (shutil.which("opusenc") and shutil.which("opusdec")):
        pytest.skip("opus-tools not installed")
    if backend == "soundfile" and dsp.opus_backend() != "soundfile":
        pytest.skip("libsndfile without Ogg/Opus")
    clip = voice()
    good = dsp.opus_roundtrip(clip, 64000, backend)
    bad = dsp.opus_roundtrip(clip, 6000, backend)
    assert len(good) == len(bad) == len(clip)
    error = lambda x: float(np.mean((x - clip) ** 2))  # noqa: E731
    assert error(good) < error(bad)
    assert np.corrcoef(good, clip)[0, 1] > 0.9
