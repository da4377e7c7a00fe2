"""configuration.env is the source of truth; the environment overrides it."""

from pathlib import Path

import pytest

from dstorch.config import ConfigError, PipelineConfig

ROOT = Path(__file__).parent.parent


def test_shipped_configuration_has_every_key():
    from dotenv import dotenv_values

    assert set(dotenv_values(ROOT / "configuration.env")) == set(PipelineConfig.keys())


def test_environment_overrides_file(tmp_path):
    env = tmp_path / "c.env"
    env.write_text("MAX_EPOCH=3\nEARLY_STOP=no\nN_HIDDEN=64\n")
    config = PipelineConfig.load(env, environ={"MAX_EPOCH": "7", "EARLY_STOP": "yes"})
    assert (config.max_epoch, config.early_stop, config.n_hidden) == (7, True, 64)
    train = config.train_config("d", "c", "m")
    assert train.epochs == 7 and train.train_files.endswith("train.csv")


def test_bad_values_are_named(tmp_path):
    env = tmp_path / "c.env"
    env.write_text("MAX_EPOCH=many\n")
    with pytest.raises(ConfigError, match="MAX_EPOCH='many'"):
        PipelineConfig.load(env, environ={})
    env.write_text("RUNNER=cloud\n")
    with pytest.raises(ConfigError, match="auto, local or docker"):
        PipelineConfig.load(env, environ={})


@pytest.mark.parametrize(
    ("mode", "lm_text", "resolved"),
    [
        ("auto", "", "commands"),  # commands.csv alone is a closed set: strict scorer
        ("auto", "extra.txt", "open"),  # free text asks for word sequences beyond it
        ("commands", "extra.txt", "commands"),
        ("open", "", "open"),
    ],
)
def test_lm_mode_selection(tmp_path, mode, lm_text, resolved):
    env = tmp_path / "c.env"
    env.write_text(f"LM_MODE={mode}\nLM_TEXT={lm_text}\n")
    assert PipelineConfig.load(env, environ={}).scorer_mode == resolved
    assert PipelineConfig().scorer_mode == "commands"  # the shipped default


def test_unknown_lm_mode_is_named(tmp_path):
    env = tmp_path / "c.env"
    env.write_text("LM_MODE=strict\n")
    with pytest.raises(ConfigError, match="LM_MODE='strict'; use auto, commands, open"):
        PipelineConfig.load(env, environ={})
