"""The `noise` and `room` augmentations and the evaluation conditions."""

from __future__ import annotations

import numpy as np
import pytest
from augment_helpers import voice

from dstorch.augment import Augmenter, AugmentError, help_text, noises, parse_augmentation, rng_for
from dstorch.augment.environment import DEV_SEED, condition_specs, warm_for_training
from dstorch.augment.parse import parse_augmentations

pytestmark = pytest.mark.usefixtures("bank_cache_in_tmp")


def test_noise_spec_lands_at_its_snr_and_repeats_with_the_seed():
    aug = parse_augmentation("noise[kind=pink|white|hum,snr=12]")
    clip = voice(1.0)
    out = aug.apply(clip, 0.0, np.random.default_rng(3))
    residual = out - clip
    assert 10 * np.log10(np.mean(clip**2) / np.mean(residual**2)) == pytest.approx(12, abs=0.5)
    assert np.array_equal(out, aug.apply(clip, 0.0, np.random.default_rng(3)))


def test_a_kind_named_twice_is_drawn_twice_as_often():
    aug = parse_augmentation("noise[kind=pink|pink|white,snr=12]")
    drawn, make = [], aug.noise
    aug.noise = lambda kind, *args: drawn.append(kind) or make(kind, *args)
    for seed in range(300):
        aug.apply(voice(0.1), 0.0, np.random.default_rng(seed))
    assert drawn.count("pink") / len(drawn) == pytest.approx(2 / 3, abs=0.1)


def test_room_spec_keeps_length():
    aug = parse_augmentation("room[rooms=2,rt60=0.4~0.1,distance=1]")
    clip = voice(0.5)
    out = aug.apply(clip, 0.0, np.random.default_rng(0))
    assert out.shape == clip.shape and not np.allclose(out, clip)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("noise[kind=pink|rain]", "kind 'rain' is unknown; use white|pink|brown|hum|babble"),
        ("noise[snr=200]", "snr=200 is outside"),
        ("room[rt60=0.01]", "rt60=0.01 is outside"),
        ("noise[kind=babble,voices=no-such-tts]", "babble needs 'no-such-tts' installed"),
    ],
)
def test_bad_specs_say_what_is_valid(spec, message):
    with pytest.raises(AugmentError, match=message.replace("|", r"\|")):
        parse_augmentation(spec)


def test_help_text_lists_noise_and_room():
    assert "noise[p=<float>,kind=<str>" in help_text() and "\nroom[p=<float>" in help_text()


def test_conditions_use_other_banks_than_the_defaults():
    specs = condition_specs(10)
    assert specs[0].startswith("room[seed=") and "snr=10" in specs[1]
    augmenter = Augmenter(parse_augmentations(condition_specs(None)))
    assert [a.NAME for a in augmenter.augmentations] == ["room"]
    assert all(int(a.values["seed"].start) != 0 for a in augmenter.augmentations)


def test_babble_noise_through_the_augmenter():
    augmenter = Augmenter(parse_augmentations(["noise[kind=babble,snr=5,voices=espeak-ng:en-us]"]))
    clip = voice(1.0)
    out = augmenter.apply_audio(clip, 0.0, rng_for(0, 0, 0))
    assert out.shape == clip.shape and not np.allclose(out, clip, atol=1e-3)


def test_warm_for_training_makes_the_dev_and_test_banks_too(tmp_path):
    warmed = warm_for_training("volume[p=0.5] room[p=0.5]", tmp_path / "data")
    assert warmed == ["room[p=0.5]", *condition_specs(10.0), *condition_specs(10.0, DEV_SEED)]
    banks = sorted(p.name.split("-")[0] for p in (tmp_path / "data" / "augment").iterdir())
    # Training's rooms (seed 0); the test's and the dev set's rooms and babble.
    assert banks == ["babble", "babble", "rooms", "rooms", "rooms"]


def test_a_seed_range_draws_babble_from_several_streams(monkeypatch):
    """seed=1~1: streams 0, 1 and 2 (each made by warm()); a constant seed: one stream."""
    aug = parse_augmentation("noise[kind=babble,snr=10,talkers=1,seed=1~1]")
    assert list(aug.seeds()) == [0, 1, 2]
    aug.warm()
    used, make = [], noises.babble_stream
    monkeypatch.setattr(noises, "babble_stream", lambda v, seed: used.append(seed) or make(v, seed))
    for seed in range(40):
        aug.apply(voice(0.2), 0.0, np.random.default_rng(seed))
    assert set(used) == {0, 1, 2}
    one = parse_augmentation("noise[kind=babble,snr=10,talkers=1]")
    assert list(one.seeds()) == [0]
