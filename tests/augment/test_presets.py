"""AUGMENT presets: `default` is the measured augmentation list, byte for byte, and a preset's
name may stand among specs."""

from __future__ import annotations

import hashlib

from config_helpers import shipped_config

from dstorch.augment import REGISTRY, parse_augmentations, split_specs
from dstorch.augment.presets import DEFAULT, PRESETS, ROOMS
from dstorch.bench.experiment import ROOM_AUGMENT

# sha256 of the one-line AUGMENT that configuration.env held before the preset (commit
# 1c48f5c): the preset must train exactly what that line trained. A hash, not the text,
# so that the specs keep one home (tests/test_config.py looks for copies).
SHIPPED_LINE_SHA256 = "612733d28daf71e8dc8b931223ca6caac48218163c7ae820b5d81b5641c79501"


def test_default_is_the_previous_augment_line_byte_for_byte():
    line = " ".join(split_specs("default"))
    assert hashlib.sha256(line.encode()).hexdigest() == SHIPPED_LINE_SHA256
    assert split_specs(line) == list(DEFAULT)  # the spelled-out line still works


def test_configuration_env_names_the_preset_and_trains_its_specs():
    config = shipped_config()
    assert config.augment == "default"
    assert config.train_config("d", "c", "e").augment == list(DEFAULT)


def test_a_preset_stands_among_specs_in_place():
    assert split_specs("volume[p=1] default;vtlp[p=0.5]") == [
        "volume[p=1]",
        *DEFAULT,
        "vtlp[p=0.5]",
    ]
    assert split_specs("") == [] and split_specs("defaults") == ["defaults"]  # no near-match


def test_presets_parse_and_never_shadow_an_augmentation():
    assert not set(PRESETS) & set(REGISTRY)
    for specs in PRESETS.values():
        assert len(parse_augmentations(list(specs))) == len(specs)


def test_the_room_lever_is_the_preset_s_last_specs():
    assert DEFAULT[-len(ROOMS) :] == ROOMS and ROOM_AUGMENT == " ".join(ROOMS)


def test_a_preset_name_works_as_a_flag_value_too():
    from dstorch.augment.parse import parse_augmentations

    assert [type(a) for a in parse_augmentations(["default"])] == [
        type(a) for a in parse_augmentations(list(DEFAULT))
    ]
