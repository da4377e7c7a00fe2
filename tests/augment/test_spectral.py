"""Feature-domain augmentations (masks, dropout, noise): the contract and the masks' fill."""

from __future__ import annotations

import numpy as np
import pytest
from augment_helpers import FEATURE_SPECS, run_features, voice

from dstorch.features import audio_features


@pytest.fixture(scope="module")
def mfcc() -> np.ndarray:
    return audio_features(voice())


@pytest.mark.parametrize("name", list(FEATURE_SPECS))
def test_feature_augmentation_contract(name, mfcc):
    spec = FEATURE_SPECS[name]
    out = run_features(spec, mfcc)
    assert out.shape == mfcc.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, run_features(spec, mfcc))
    assert not np.array_equal(out, run_features(spec, mfcc, seed=1))
    assert not np.allclose(out, mfcc)
    np.testing.assert_array_equal(run_features(spec.replace("[", "[p=0,"), mfcc), mfcc)
    np.testing.assert_array_equal(mfcc, audio_features(voice()))  # input left untouched


def test_feature_masks_fill_with_the_coefficient_mean(mfcc):
    out = run_features("frequency_mask[n=1,size=4]", mfcc)
    changed = np.where(np.any(out != mfcc, axis=0))[0]
    assert 1 <= len(changed) <= 4
    np.testing.assert_allclose(
        out[:, changed], np.broadcast_to(mfcc.mean(0)[changed], (len(out), len(changed)))
    )
    masked = run_features("time_mask[n=1,size=100]", mfcc)
    rows = np.where(np.any(masked != mfcc, axis=1))[0]
    assert len(rows) == 5  # 100 ms of 20 ms frames
