"""make pretrain: sentences from a word list or LM_TEXT, one seeded voice each, and a
base model that PRETRAINED_MODEL accepts (small CPU setting)."""

import os

import pytest
from config_helpers import shipped_config

from dstorch.base_model import base_model_path, pretrain, sentences, word_list
from dstorch.prepare.problems import PrepareError
from dstorch.prepare.synthetic import choose
from dstorch.prepare.synthetic.plan import plan_sentences as plan
from dstorch.training.pretrained import load


def test_sentences_from_the_word_list_use_common_letters_only(tmp_path):
    words = ["alpha", "beta", "gamma's", "delta", "zoë", "x1", "Epsilon", "averyverylongword"]
    (tmp_path / "american-english").write_text("\n".join(words * 3) + "\n")
    config = shipped_config(language="en", lm_text="")
    got = sentences(config, 40, seed=1, dict_dir=tmp_path)
    assert got == sentences(config, 40, seed=1, dict_dir=tmp_path)  # seeded
    used = {w for s in got for w in s.split()}
    assert used <= {"alpha", "beta", "delta", "epsilon", "zoë"} and len(used) >= 4
    assert all(1 <= len(s.split()) <= 3 for s in got)


def test_sentences_from_lm_text(tmp_path):
    text = tmp_path / "lm.txt"
    text.write_text("Turn  ON the light\nplay music\n\nturn on the light\n")
    config = shipped_config(lm_text=str(text))
    assert sorted(sentences(config, 10, seed=3)) == ["play music", "turn on the light"]


def test_no_word_list_names_the_fix(tmp_path):
    with pytest.raises(PrepareError, match="LANGUAGE=xx.*set LM_TEXT"):
        word_list("xx", tmp_path)


def test_plan_gives_each_sentence_one_seeded_voice():
    choices, _ = choose("espeak-ng,flite", "en")
    if not choices:
        pytest.skip("no speech synthesizer installed")
    texts = [f"word {i}" for i in range(30)]
    takes = plan(choices, texts, seed=5)
    assert [t.text for t in takes] == texts and takes == plan(choices, texts, seed=5)
    assert len({t.engine for t in takes}) == len(choices)  # every engine speaks


@pytest.mark.slow
def test_pretrain_exports_a_base_model_that_pretrained_model_accepts(tmp_path, monkeypatch):
    if not choose("espeak-ng", "en")[0]:
        pytest.skip("espeak-ng not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))
    text = tmp_path / "lm.txt"
    text.write_text("".join(f"{w}\n" for w in ("go", "stop", "left", "right", "up", "down")))
    config = shipped_config(
        lm_text=str(text),
        pretrain_sentences=6,
        pretrain_epochs=1,
        pretrain_voices="espeak-ng:en-us",
        n_hidden=16,
        augment="",
        models_dir=str(tmp_path / "models"),
        random_seed=1,
    )
    path = pretrain(config, tmp_path)
    assert path == base_model_path(config) and path.is_file()
    source = load(str(path))
    assert source.model.n_hidden == 16
    assert set(source.labels) == set(" gostplefrihudwn")
    assert (tmp_path / "runs" / "base-en" / "checkpoints" / "best.pt").is_file()
