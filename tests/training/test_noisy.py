"""Clips in a room, the same every time: the noisy test's and --dev_snrs' features, and the
dev loss training records with --dev_snrs."""

import shutil

import numpy as np
import pytest
import torch
from training_helpers import CLIPS, make_config

from dstorch.alphabet import load_alphabet
from dstorch.augment import cache
from dstorch.augment.environment import DEV_SEED
from dstorch.training import checkpoint as ckpt
from dstorch.training.data import FeatureCache, read_csvs
from dstorch.training.loop import dev_loss, train
from dstorch.training.noisy import dev_conditions, in_condition, spread


@pytest.fixture
def clips(tmp_path):
    """The test clips in tmp_path/clips, so that the room and babble banks land there."""
    folder = tmp_path / "clips"
    shutil.copytree(CLIPS, folder)
    cache.use_data_dir(folder)
    yield folder
    cache.use_data_dir(None)


def test_spread_keeps_short_lists_and_spaces_long_ones():
    assert spread([1, 2, 3], limit=5) == [1, 2, 3]
    assert spread(list(range(10)), limit=4) == [0, 3, 6, 9]


def test_in_condition_is_fixed_per_clip_and_bank(clips):
    samples = read_csvs(
        str(clips / "clips.csv"), load_alphabet(str(clips / "alphabet.txt"), False)
    )[:3]
    clean = FeatureCache()
    first = in_condition(samples, 10.0)
    again = in_condition(samples, 10.0)
    dev = in_condition(samples, 10.0, DEV_SEED)
    for s in samples:
        np.testing.assert_array_equal(first(s), again(s))  # the same in every run
        assert first(s).shape == clean(s).shape  # the room keeps the length
        assert not np.allclose(first(s), clean(s))
        assert not np.allclose(first(s), dev(s))  # the dev bank is not the test bank
    # Clips differ in their draws: the features' difference to clean is not one offset.
    gaps = [float(np.abs(first(s) - clean(s)).mean()) for s in samples]
    assert len(set(gaps)) == len(gaps)


def test_dev_snrs_make_the_dev_loss_the_mean_over_clean_and_rooms(clips, tmp_path):
    config = make_config(
        tmp_path,
        train_files=str(clips / "clips.csv"),
        dev_files=str(clips / "clips.csv"),
        dev_snrs="20,5",
    )
    assert config.dev_snr_list() == [20.0, 5.0]
    result = train(config)
    alphabet = load_alphabet(config.alphabet_config_path, False)
    model = ckpt.build_model(config, alphabet)
    model.load_state_dict(ckpt.load_latest(tmp_path / "ck")["model"])
    dev_set = read_csvs(config.dev_files, alphabet)
    features = [FeatureCache(), *dev_conditions(dev_set, [20.0, 5.0])]
    losses = [dev_loss(model, dev_set, f, config, torch.device("cpu")) for f in features]
    assert losses[0] < losses[2]  # noise at 5 dB costs the model
    recorded = result.state.history[-1]["dev_loss"]
    assert recorded == pytest.approx(np.mean(losses), rel=1e-5)
    assert recorded != pytest.approx(losses[0], rel=1e-3)
