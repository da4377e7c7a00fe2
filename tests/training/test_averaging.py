"""The weight average (--ema_decay): its arithmetic, and that training measures, saves,
resumes and exports it."""

import pytest
import torch
from training_helpers import make_config

from dstorch.training import checkpoint as ckpt
from dstorch.training.averaging import WARMUP, WeightAverage, averaged_weights
from dstorch.training.data import FeatureCache, read_csvs
from dstorch.training.loop import dev_loss, train


def one_weight(value: float) -> torch.nn.Module:
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(value)
    return model


def test_update_follows_the_decay_after_the_warmup():
    model = one_weight(0.0)
    average = WeightAverage(model, decay=0.5)
    expected = 0.0
    for n, value in enumerate([4.0, 8.0, 2.0], start=1):
        model.weight.data.fill_(value)
        average.update(model)
        decay = min(0.5, (1 + n) / (WARMUP + n))
        expected = decay * expected + (1 - decay) * value
        assert average.shadow["weight"].item() == pytest.approx(expected)


def test_applied_swaps_the_average_in_and_back_out():
    model = one_weight(1.0)
    average = WeightAverage(model, decay=0.9)
    model.weight.data.fill_(5.0)
    with average.applied(model):
        assert model.weight.item() == 1.0
    assert model.weight.item() == 5.0


def test_state_dict_round_trips():
    model = one_weight(3.0)
    average = WeightAverage(model, decay=0.9)
    average.update(one_weight(7.0))
    copy = WeightAverage(one_weight(0.0), decay=0.9)
    copy.load_state_dict(average.state_dict())
    assert copy.updates == 1
    assert torch.equal(copy.shadow["weight"], average.shadow["weight"])


def test_averaged_weights_prefers_the_average():
    raw = {"a": torch.zeros(1), "b": torch.ones(1)}
    assert averaged_weights({"model": raw}) == raw
    mixed = averaged_weights({"model": raw, "ema": {"weights": {"a": torch.full((1,), 2.0)}}})
    assert mixed["a"].item() == 2.0 and mixed["b"] is raw["b"]


def test_dev_loss_best_and_export_use_the_average(tmp_path):
    config = make_config(tmp_path, epochs=2, ema_decay=0.9, learning_rate=0.003)
    result = train(config)
    payload = ckpt.load_latest(tmp_path / "ck")
    assert payload["ema"]["updates"] == result.state.step
    model, alphabet, _ = ckpt.load_for_inference(tmp_path / "ck" / "best.pt")
    best = ckpt.read(tmp_path / "ck" / "best.pt")
    for name, tensor in best["ema"]["weights"].items():
        assert torch.equal(model.state_dict()[name], tensor)
    assert any(not torch.equal(t, best["model"][k]) for k, t in best["ema"]["weights"].items())
    last, _, _ = ckpt.load_for_inference(payload["path"])
    samples = read_csvs(config.dev_files, alphabet)
    loss = dev_loss(last, samples, FeatureCache(), config, torch.device("cpu"))
    assert loss == pytest.approx(result.state.history[-1]["dev_loss"], rel=1e-5)
