"""dstorch.features against golden MFCCs from TensorFlow's AudioSpectrogram + Mfcc kernels.

The fixtures come from scripts/make_feature_fixtures.py (needs tensorflow-cpu, outside the
project venv), which also re-implements the client's window buffering independently.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FIXTURES_DIR

from dstorch.features import N_MFCC, STEP, WINDOW, audio_features, frame_count

FIXTURES = FIXTURES_DIR / "features"
CLIPS = ["speech", "noise", "silence", "short"]


@pytest.mark.parametrize("name", CLIPS)
def test_audio_features_match_tensorflow(name: str) -> None:
    golden = np.load(FIXTURES / f"{name}.npz")
    ours = audio_features(golden["pcm"])
    assert ours.shape == golden["mfcc"].shape == (frame_count(len(golden["pcm"])), N_MFCC)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, golden["mfcc"], rtol=0, atol=1e-3)


def test_fixtures_cover_the_edge_cases() -> None:
    lengths = {name: len(np.load(FIXTURES / f"{name}.npz")["pcm"]) for name in CLIPS}
    assert lengths["short"] < WINDOW  # only the zero-padded tail window
    assert (lengths["noise"] - WINDOW) % STEP != 0  # a partial tail
    assert not np.load(FIXTURES / "silence.npz")["pcm"].any()  # the log floor
