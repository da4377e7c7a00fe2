"""`--augment` spec parsing: defaults, domains, one-line errors, splitting, help text."""

from __future__ import annotations

import re

import pytest

from dstorch.augment import (
    AugmentError,
    ValueRange,
    help_text,
    parse_augmentation,
    parse_augmentations,
    split_specs,
)
from dstorch.augment.params import AUDIO, FEATURES


def test_parse_specs_with_defaults_and_ranges():
    reverb, volume, gaps, codec = parse_augmentations(
        ["reverb", " volume[ dbfs = -10:-40 ] ", "gaps[p=0.05,n=1:3~2,size=10:100]", "codec[]"]
    )
    assert reverb.p == 1.0 and reverb.values["delay"] == ValueRange(20.0, 20.0, 0.0)
    assert volume.values["dbfs"] == ValueRange(-10.0, -40.0, 0.0)
    assert gaps.p == 0.05 and gaps.values["n"] == ValueRange(1, 3, 2)
    assert codec.values["bitrate"] == ValueRange(3200, 3200, 0)
    assert parse_augmentations(None) == []


def test_domains():
    assert parse_augmentation("time_mask").domain == FEATURES
    assert parse_augmentation("time_mask[domain=spectrogram]").domain == FEATURES
    assert parse_augmentation("time_mask[domain=signal]").domain == AUDIO
    assert parse_augmentation("add").domain == FEATURES
    assert parse_augmentation("pitch").domain == AUDIO


@pytest.mark.parametrize(
    "spec, says",
    [
        ("Reverb", "bad syntax"),
        ("reverb[delay=1", "bad syntax"),
        ("foo[p=1]", "valid: overlay, reverb"),
        ("warp[nt=2]", "not supported"),
        ("reverb[x=1]", "valid: reverb[p=<float>,delay=<float-range>,decay=<float-range>]"),
        ("reverb[delay]", "not key=value"),
        ("reverb[delay=1,delay=2]", "given twice"),
        ("reverb[delay=abc]", "<start>:<end>~<r>"),
        ("reverb[delay=1:2:3]", "more than one ':'"),
        ("reverb[delay=5~-1]", "negative radius"),
        ("reverb[p=1.5]", "[0, 1]"),
        ("reverb[p=0.1~0.1]", "one plain number"),
        ("gaps[n=1.5]", "integer"),
        ("tempo[factor=1~1]", "can reach 0..2"),
        ("resample[rate=100]", "[1000, 192000]"),
        ("time_mask[domain=time]", "signal|spectrogram|features"),
        ("overlay[snr=3]", "source= is required"),
        ("overlay[source=/no/such/dir]", "not found"),
        ("overlay[source=noise.sdb]", "SDB"),
    ],
)
def test_bad_specs_raise_one_line_errors(spec, says):
    with pytest.raises(AugmentError) as info:
        parse_augmentation(spec)
    message = str(info.value)
    assert "\n" not in message and repr(spec) in message and says in message
    assert isinstance(info.value, ValueError)


def test_split_specs_for_one_line_settings():
    text = " reverb[p=0.1, delay=50~30]  volume;overlay[source=/n, snr=3] "
    assert split_specs(text) == [
        "reverb[p=0.1, delay=50~30]",
        "volume",
        "overlay[source=/n, snr=3]",
    ]
    assert split_specs("") == []


def test_help_text_lists_every_augmentation():
    text = help_text()
    for name in ["overlay", "reverb", "gaps", "resample", "codec", "volume", "pitch", "tempo"]:
        assert re.search(rf"^{name}\[p=<float>", text, re.M)
