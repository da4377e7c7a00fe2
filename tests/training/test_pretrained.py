"""Starting from a pretrained model: the first forward pass is the source's, shared
alphabet rows survive, --drop_source_layers re-initialises exactly N layers, bad sources
are one-line errors, and a stopped fine-tuning run resumes exactly."""

import subprocess
import sys

import pytest
import torch
from conftest import ENGLISH, random_model
from http_helpers import http_server
from training_helpers import CLIPS, make_config

from dstorch.alphabet import Alphabet
from dstorch.export import export_model
from dstorch.export.import_graph import load_graph_model
from dstorch.training import checkpoint as ckpt
from dstorch.training.data import collate
from dstorch.training.loop import setup, train
from dstorch.training.pretrained import LAYERS, PretrainedError, dropped_layers, load
from dstorch.training.stop import GracefulStop

N_HIDDEN = 32


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A random model with its own input normalisation, exported: {"pb", "pbmm", "model"}."""
    model = random_model(len(ENGLISH) + 1, seed=11, n_hidden=N_HIDDEN)
    generator = torch.Generator().manual_seed(3)
    mean, std = torch.randn(26, generator=generator) * 5, torch.rand(26, generator=generator) + 2
    model.set_normalization(mean, std)
    folder = tmp_path_factory.mktemp("source")
    pb, pbmm = export_model(model, Alphabet(ENGLISH), folder, "source")
    return {"pb": pb, "pbmm": pbmm, "model": model}


def layer_params(model, layer: str) -> list[torch.Tensor]:
    return [p.detach().clone() for n, p in model.named_parameters() if n.startswith(layer + ".")]


def test_pbmm_start_gives_the_source_first_forward_pass(tmp_path, source):
    s = setup(make_config(tmp_path, initialize_from_frozen_model=str(source["pbmm"])))
    assert s.model.n_hidden == N_HIDDEN and s.state.started_from == str(source["pbmm"])
    # The input normalisation is the training data's again (layer_1 rescaled to match).
    assert not torch.allclose(s.model.input_std, torch.ones(26))
    inputs = collate(s.train_set, s.cache).inputs
    with torch.no_grad():
        ours = s.model.eval()(inputs)[0]
        graph = load_graph_model(source["pbmm"]).model(inputs)[0]
        original = source["model"](inputs)[0]
    torch.testing.assert_close(ours, graph, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours, original, rtol=1e-4, atol=1e-4)


def test_source_size_wins_over_n_hidden(tmp_path, source, capsys):
    s = setup(make_config(tmp_path, n_hidden=128, initialize_from_frozen_model=str(source["pb"])))
    assert s.model.n_hidden == N_HIDDEN
    assert "N_HIDDEN=128 ignored: the pretrained model has n_hidden 32" in capsys.readouterr().out


def test_other_alphabet_keeps_the_shared_rows(tmp_path, source):
    # Another order, no apostrophe, two new characters.
    labels = [" "] + [chr(c) for c in range(ord("z"), ord("a") - 1, -1)] + ["é", "ß"]
    (tmp_path / "alphabet.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    config = make_config(
        tmp_path,
        alphabet_config_path=str(tmp_path / "alphabet.txt"),
        initialize_from_frozen_model=str(source["pbmm"]),
    )
    out = setup(config).model.layer_6
    src = load_graph_model(source["pbmm"]).model.layer_6
    for i, label in enumerate(labels):
        if label in ENGLISH:
            j = ENGLISH.index(label)
            torch.testing.assert_close(out.weight[i], src.weight[j], rtol=0, atol=1e-6)
            torch.testing.assert_close(out.bias[i], src.bias[j], rtol=0, atol=1e-6)
        else:  # a fresh row: Glorot weights, zero bias
            assert not any(torch.allclose(out.weight[i], row) for row in src.weight)
            assert out.bias[i] == 0
    torch.testing.assert_close(out.weight[-1], src.weight[-1], rtol=0, atol=1e-6)  # blank


@pytest.mark.parametrize("drop", [1, 3, 5])
def test_drop_source_layers_reinitialises_exactly_n_layers(tmp_path, source, drop):
    spec = str(source["pbmm"])
    kept = setup(make_config(tmp_path / "keep", initialize_from_frozen_model=spec)).model
    model = setup(
        make_config(tmp_path / "drop", initialize_from_frozen_model=spec, drop_source_layers=drop)
    ).model
    same = [
        layer
        for layer in LAYERS
        if all(
            torch.equal(a, b)
            for a, b in zip(layer_params(model, layer), layer_params(kept, layer), strict=True)
        )
    ]
    assert set(LAYERS) - set(same) == set(dropped_layers(drop))
    assert len(same) == len(LAYERS) - drop
    assert dropped_layers(1) == ("layer_6",) and dropped_layers(3)[-1] == "lstm"


def test_bad_sources_are_one_line_errors(tmp_path, source, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    garbage = tmp_path / "broken.pbmm"
    garbage.write_bytes(b"\x00not a graph" * 100)
    with pytest.raises(PretrainedError, match="broken.pbmm cannot be used.*DeepSpeech 0.7-0.9"):
        load(str(garbage))
    with pytest.raises(PretrainedError, match="no such file"):
        load(str(tmp_path / "missing.pbmm"))
    with pytest.raises(PretrainedError, match="does not match PRETRAINED_SHA256"):
        load(str(source["pb"]), "ab" * 32)
    data = source["pbmm"].read_bytes()
    with http_server({"/m.pbmm": data}) as served:
        with pytest.raises(PretrainedError, match="HTTP 404"):
            load(f"{served.url}/other.pbmm")
        assert load(f"{served.url}/m.pbmm").model.n_hidden == N_HIDDEN  # downloaded
    # Through the trainer's CLI: exit 2 and one line, no traceback.
    result = subprocess.run(
        [sys.executable, "-m", "dstorch", "train", "--train_files", str(CLIPS / "clips.csv")]
        + ["--alphabet_config_path", str(CLIPS / "alphabet.txt"), "--device", "cpu"]
        + ["--load_frozen_graph", str(garbage)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "cannot be used" in result.stderr


class StopAfter(GracefulStop):
    """A stop request after `checks` looks at the flag: a stop mid-epoch, deterministic."""

    def __init__(self, checks: int):
        super().__init__()
        self.left = checks

    @property
    def requested(self) -> bool:
        self.left -= 1
        return self.left < 0

    @requested.setter
    def requested(self, value: bool) -> None:
        pass


def test_resume_after_a_stop_during_fine_tuning_is_exact(tmp_path, source):
    copy = tmp_path / "copy.pbmm"
    copy.write_bytes(source["pbmm"].read_bytes())
    settings = dict(initialize_from_frozen_model=str(copy), epochs=2, n_hidden=64)
    straight = train(make_config(tmp_path / "a", **settings))
    stopped = train(make_config(tmp_path / "b", **settings), stop=StopAfter(13))
    assert stopped.stopped and 0 < stopped.state.step < straight.state.step
    copy.unlink()  # a resumed run never reads the source again
    resumed = train(make_config(tmp_path / "b", **settings))
    assert resumed.state.started_from == str(copy)
    a, b = (ckpt.load_latest(tmp_path / x / "ck") for x in "ab")
    assert a["state"] == b["state"]
    for key, tensor in a["model"].items():
        torch.testing.assert_close(tensor, b["model"][key], rtol=0, atol=1e-6)
