"""Augmenter, rng streams, the clock, and train-time augmented features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from augment_helpers import voice, voice_wav

from dstorch.augment import (
    AugmentedFeatures,
    Augmenter,
    clock_for,
    parse_augmentations,
    rng_for,
)
from dstorch.features import CONTEXT_FRAMES, N_MFCC
from dstorch.training.data import FeatureCache


def test_augmenter_splits_domains_and_keeps_order():
    augmenter = Augmenter(parse_augmentations(["add", "reverb", "time_mask", "gaps"]), seed=3)
    assert augmenter.has_audio and augmenter.has_features
    assert [a.NAME for a in augmenter.audio] == ["reverb", "gaps"]
    assert [a.NAME for a in augmenter.features] == ["add", "time_mask"]
    empty = Augmenter([])
    assert not empty and not empty.has_audio and not empty.has_features


def test_rng_for_is_reproducible_and_distinct():
    draw = lambda *key: rng_for(*key).integers(1 << 62)  # noqa: E731
    assert draw(4568, 2, 7, 1) == draw(4568, 2, 7, 1)
    keys = [(4568, 2, 7, 1), (4568, 2, 7, 0), (4568, 2, 6, 1), (4568, 1, 7, 1), (1, 2, 7, 1)]
    assert len({draw(*key) for key in keys}) == len(keys)
    assert draw(-5, 0, 0, 0) != draw(5, 0, 0, 0)


def test_probability_decisions_do_not_shift_later_streams():
    """Whether an earlier augmentation fires must not change what a later one does."""
    clip = voice()
    with_p0 = Augmenter(parse_augmentations(["reverb[p=0]", "gaps[n=2,size=100]"]))
    without = Augmenter(parse_augmentations(["volume[p=0]", "gaps[n=2,size=100]"]))
    a = with_p0.apply_audio(clip, 0.0, rng_for(0, 0, 0))
    b = without.apply_audio(clip, 0.0, rng_for(0, 0, 0))
    np.testing.assert_array_equal(a, b)


def test_probability_is_respected():
    augmenter = Augmenter(parse_augmentations(["gaps[p=0.3,n=1,size=100]"]))
    clip = voice(0.2)
    hits = sum(
        not np.array_equal(
            augmenter.apply_audio(clip, 0.0, rng_for(0, 0, i)), clip.astype(np.float32)
        )
        for i in range(400)
    )
    assert 80 < hits < 160


def test_clock_for():
    assert clock_for(0, 10, 0, 5) == 0.0
    assert clock_for(5, 10, 0, 5) == 0.5
    assert clock_for(9, 10, 5, 5) == 1.0
    assert clock_for(2, 4, 1, 2) == pytest.approx(0.625)
    assert clock_for(12, 10, 0, 5) == 1.0


@pytest.fixture()
def wav(tmp_path) -> Path:
    return voice_wav(tmp_path)


def test_augmented_features_shapes_and_reproducibility(wav):
    augmenter = Augmenter(parse_augmentations(["tempo[factor=0.8:1.25]", "add[stddev=1]"]), 9)
    train = AugmentedFeatures(augmenter)
    first = train(wav, epoch=1, sample_index=3, pass_index=0, clock=0.5)
    assert first.shape[1:] == (CONTEXT_FRAMES, N_MFCC) and first.dtype == np.float32
    again = AugmentedFeatures(augmenter)(wav, epoch=1, sample_index=3, pass_index=0, clock=0.5)
    np.testing.assert_array_equal(first, again)  # a resumed run recomputes the same thing
    other_pass = train(wav, epoch=1, sample_index=3, pass_index=1, clock=0.5)
    assert not np.array_equal(first[: len(other_pass)], other_pass[: len(first)])


def test_augmented_features_without_augmentations_match_the_cache(wav):
    plain = AugmentedFeatures(Augmenter([]))(wav, 0, 0, 0, 0.0)
    np.testing.assert_array_equal(plain, FeatureCache()(wav))


def test_feature_only_augmentation_reuses_plain_mfcc(wav):
    train = AugmentedFeatures(Augmenter(parse_augmentations(["frequency_mask"])))
    out = train(wav, 0, 0, 0, 0.0)
    assert out.shape == FeatureCache()(wav).shape and len(train._mfcc) == 1


def test_a_second_view_shares_the_tempo_and_redraws_the_rest(wav):
    """--consistency_weight: the views of a copy line up frame by frame (tempo drawn once)
    but differ in what keeps the duration; view 0 is the copy as it always was."""
    specs = ["tempo[factor=1~0.3]", "add[stddev=1]"]
    train = AugmentedFeatures(Augmenter(parse_augmentations(specs), 9))
    lengths, differ = set(), []
    for index in range(6):
        first = train(wav, epoch=1, sample_index=index, pass_index=0, clock=0.5)
        second = train(wav, epoch=1, sample_index=index, pass_index=0, clock=0.5, view=1)
        assert first.shape == second.shape
        lengths.add(len(first))
        differ.append(not np.array_equal(first, second))
    assert len(lengths) > 1 and all(differ)  # tempo did vary, and the noise always differs
    plain = Augmenter(parse_augmentations(specs), 9)
    rng = rng_for(9, 1, 0, 0)
    assert plain.rng(1, 0, 0).copy.integers(1 << 62) == rng.integers(1 << 62)
