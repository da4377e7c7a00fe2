"""configuration.env is the one source of pipeline values; only DSTORCH_* overrides it;
every value is range-checked; folders may not overlap; help text lives on the fields."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from config_helpers import shipped_config
from conftest import ROOT
from dotenv import dotenv_values

from dstorch.augment import split_specs
from dstorch.cli import build_parser, main
from dstorch.config import ConfigError, PipelineConfig, TrainConfig

SHIPPED = (ROOT / "configuration.env").read_text()


def write_env(tmp_path: Path, **changes: str | None) -> Path:
    """The shipped configuration.env with KEY=value lines changed (None: line removed)."""
    lines = []
    for line in SHIPPED.splitlines():
        name = line.split("=", 1)[0]
        if "=" in line and not line.startswith("#") and name in changes:
            if changes[name] is not None:
                lines.append(f"{name}={changes[name]}")
        else:
            lines.append(line)
    path = tmp_path / "configuration.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def load(path: Path, **environ: str) -> PipelineConfig:
    return PipelineConfig.load(path, environ=environ, root=path.parent)


def test_shipped_configuration_has_every_key():
    assert set(dotenv_values(ROOT / "configuration.env")) == set(PipelineConfig.keys())


def test_pipeline_fields_have_no_defaults_of_their_own():
    """Deleting N_HIDDEN from the file once silently gave a 2048-unit model."""
    for f in dataclasses.fields(PipelineConfig):
        assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        assert f.metadata["help"], f.name
    with pytest.raises(TypeError):
        PipelineConfig()


def test_a_missing_key_is_an_error_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"has no N_HIDDEN; add a line N_HIDDEN=<value>"):
        load(write_env(tmp_path, N_HIDDEN=None))
    with pytest.raises(ConfigError, match="unknown key MAX_EPOCHS"):
        load(write_env(tmp_path, MAX_EPOCH="3 \nMAX_EPOCHS=4"))


def test_only_dstorch_variables_override_the_file(tmp_path):
    path = write_env(tmp_path, MAX_EPOCH="3", EARLY_STOP="no")
    hijack = {"LANGUAGE": "en_US:en", "LANG": "de_DE.UTF-8", "PATH": "/x", "MAX_EPOCH": "9"}
    config = load(path, **hijack, DSTORCH_MAX_EPOCH="7", DSTORCH_EARLY_STOP="yes")
    assert (config.language, config.max_epoch, config.early_stop) == ("en", 7, True)
    train = config.train_config("d", "c", "m")
    assert train.epochs == 7 and train.train_files.endswith("train.csv")


def test_values_are_not_interpolated_from_the_environment(tmp_path):
    path = write_env(tmp_path, HOLDOUT_SPEAKERS="${HOME}")
    assert load(path, HOME="/root").holdout_speakers == "${HOME}"


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("TRAIN_BATCH_SIZE", "0", "an integer >= 1"),
        ("N_HIDDEN", "-5", "an integer in [1, 8192]"),
        ("MAX_EPOCH", "many", "an integer >= 1"),
        ("DEV_FRACTION", "1", "a number in [0, 1)"),
        ("DROPOUT_RATE", "-0.1", "a number in [0, 1)"),
        ("MIN_DURATION", "-1", "a number >= 0"),
        ("MAX_DURATION", "0", "a number > 0"),
        ("LEARNING_RATE", "nan", "a number >= 0"),
        ("RELU_CLIP", "0", "a number > 0"),
        ("CHECKPOINT_SECS", "-1", "an integer >= 0"),
        ("MAX_TO_KEEP", "-1", "an integer >= 0"),
        ("PLATEAU_REDUCTION", "1", "a number in (0, 1)"),
        ("EARLY_STOP", "maybe", "yes or no"),
        ("RUNNER", "cloud", "one of auto, local, docker"),
        ("LANGUAGE", "en_US:en", "a name of letters"),
        ("DATA_DIR", "", "a path (not empty)"),
        ("IMAGE_NAME", "bad image", "a Docker image name"),
    ],
)
def test_bad_values_name_key_value_and_range(tmp_path, key, value, allowed):
    with pytest.raises(ConfigError) as error:
        load(write_env(tmp_path, **{key: value}))
    message = str(error.value)
    assert message.startswith(f"{key}=") and value in message.split(" is ")[0]
    assert allowed in message
    assert "\n" not in message


def test_max_to_keep_zero_means_keep_all_and_is_allowed(tmp_path):
    assert load(write_env(tmp_path, MAX_TO_KEEP="0")).max_to_keep == 0


@pytest.mark.parametrize(
    ("changes", "pair"),
    [
        ({"DATA_DIR": "original"}, "ORIGINAL_DIR=original and DATA_DIR=original"),
        ({"DATA_DIR": "original/en/data"}, "ORIGINAL_DIR=original and DATA_DIR="),
        ({"ORIGINAL_DIR": "data/recordings"}, "ORIGINAL_DIR=data/recordings and DATA_DIR=data"),
        ({"MODELS_DIR": "runs/commands/out"}, "MODELS_DIR=runs/commands/out and the run folder"),
        ({"DATA_DIR": "."}, "ORIGINAL_DIR=original and DATA_DIR=."),
    ],
)
def test_overlapping_folders_are_refused_both_ways(tmp_path, changes, pair):
    with pytest.raises(ConfigError, match="overlap") as error:
        load(write_env(tmp_path, **changes))
    assert str(error.value).startswith(pair)


def test_overlap_through_a_symlink_is_refused(tmp_path):
    (tmp_path / "original").mkdir()
    (tmp_path / "elsewhere").symlink_to(tmp_path / "original")
    with pytest.raises(ConfigError, match="overlap"):
        load(write_env(tmp_path, DATA_DIR="elsewhere"))
    assert load(write_env(tmp_path, DATA_DIR="data-elsewhere")).data_dir == "data-elsewhere"


def test_trainer_flags_keep_deepspeech_defaults_with_help():
    """DeepSpeech.py 0.9.3's defaults, not configuration.env's; --help explains each flag."""
    config = TrainConfig()
    assert (config.n_hidden, config.epochs, config.train_batch_size, config.max_to_keep) == (
        2048,
        75,
        1,
        5,
    )
    assert (config.learning_rate, config.early_stop, config.es_epochs) == (0.001, False, 25)
    train = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    text = train.format_help()
    for f in dataclasses.fields(TrainConfig):
        action = next(a for a in train._actions if a.dest == f.name)
        assert action.help.startswith(f.metadata["help"]), f.name
    assert "default: 2048" in text and "DeepSpeech.py 0.9.3" in text


def test_trainer_flag_out_of_range_is_one_line(capsys):
    assert main(["train", "--train_files", "x.csv", "--train_batch_size", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: TRAIN_BATCH_SIZE=0 is out of range; use an integer >= 1"


def test_readme_table_matches_the_fields():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config_table.py"), "--check"], cwd=ROOT
    )
    assert result.returncode == 0, "README table is stale: run scripts/config_table.py"


def test_readme_table_lists_every_key_with_its_help():
    readme = (ROOT / "README.md").read_text()
    for f in dataclasses.fields(PipelineConfig):
        assert f"| `{f.name.upper()}` | {f.metadata['help']} |" in readme


def tracked(*patterns: str) -> dict[str, str]:
    names = subprocess.run(
        ["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return {name: (ROOT / name).read_text() for name in names if (ROOT / name).is_file()}


def test_one_place_for_the_torch_pin_and_the_augment_default():
    files = tracked("*.py", "*.sh", "*.toml", "*.txt", "Makefile", "Dockerfile*", ".ci/*")
    pin = re.compile(r"(?<![a-z])torch==\d+\.\d+")
    assert [name for name, text in files.items() if pin.search(text)] == ["pyproject.toml"]
    pieces = split_specs(shipped_config().augment)
    copies = [n for n, text in files.items() if sum(p in text for p in pieces) > len(pieces) // 2]
    assert copies == ["dstorch/augment/presets.py"], "copy of AUGMENT; import its preset"


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
    assert load(write_env(tmp_path, LM_MODE=mode, LM_TEXT=lm_text)).scorer_mode == resolved
    assert shipped_config().scorer_mode == "commands"  # the shipped default


def test_unknown_lm_mode_is_named(tmp_path):
    with pytest.raises(ConfigError, match="LM_MODE='strict'.*auto, commands, open"):
        load(write_env(tmp_path, LM_MODE="strict"))


def test_a_deleted_file_is_named_missing_not_a_missing_key(tmp_path):
    with pytest.raises(ConfigError, match=r"configuration.env: not found; restore it"):
        load(tmp_path / "configuration.env")
    # A job given every key through DSTORCH_* needs no file.
    every = {f"DSTORCH_{k}": v for k, v in dotenv_values(ROOT / "configuration.env").items()}
    assert load(tmp_path / "configuration.env", **every).language == "en"


def test_invalid_utf8_names_the_file_and_line(tmp_path):
    path = write_env(tmp_path)
    path.write_bytes(path.read_bytes() + b"HOLDOUT_SPEAKERS=caf\xe9\n")
    line = path.read_bytes().count(b"\n")
    with pytest.raises(ConfigError, match=rf"{path}: not UTF-8 \(byte 0xe9 on line {line}\)"):
        load(path)


def test_an_unclosed_quote_is_an_error_not_a_dropped_value(tmp_path, capsys):
    path = write_env(tmp_path, AUGMENT='"volume[p=0.5]')
    with pytest.raises(ConfigError, match=r"configuration.env:\d+: cannot parse `AUGMENT="):
        load(path)
    assert main(["config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "close the quote" in err and err.count("\n") == 1


def test_a_key_set_twice_is_an_error_naming_both_lines(tmp_path):
    path = write_env(tmp_path)
    path.write_text(path.read_text() + "MAX_EPOCH=5\n")
    first = next(
        i
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if line.startswith("MAX_EPOCH=")
    )
    last = path.read_text().count("\n")
    with pytest.raises(ConfigError, match=rf"MAX_EPOCH is set on lines {first} and {last}"):
        load(path)


@pytest.mark.parametrize(
    ("key", "value", "allowed", "largest"),
    [
        ("MODEL_NAME", "m" * 245, "(at most 100)", "m" * 100),  # crashed at export
        ("N_HIDDEN", "300000", "an integer in [1, 8192]", "8192"),  # crashed in the job
    ],
)
def test_sizes_that_fail_late_are_refused_at_load(tmp_path, key, value, allowed, largest):
    with pytest.raises(ConfigError, match=re.escape(allowed)) as error:
        load(write_env(tmp_path, **{key: value}))
    assert str(error.value).startswith(f"{key}=")
    assert load(write_env(tmp_path, **{key: largest}))


@pytest.mark.parametrize(
    ("changes", "start"),
    [
        ({"DATA_DIR": "scripts"}, "DATA_DIR=scripts holds the project's scripts"),
        ({"MODELS_DIR": str(ROOT / "dstorch")}, f"MODELS_DIR={ROOT}/dstorch holds the project's"),
        ({"COMMANDS_CSV": "data/commands.csv"}, "DATA_DIR=data holds COMMANDS_CSV"),
        ({"NOISE_DIR": "data/noise"}, "DATA_DIR=data holds NOISE_DIR"),
        ({"ALPHABET": "models/alphabet.txt"}, "MODELS_DIR=models holds ALPHABET"),
        ({"LM_TEXT": "data"}, "DATA_DIR=data holds LM_TEXT"),
    ],
)
def test_folders_clean_deletes_may_not_hold_sources_or_inputs(tmp_path, changes, start):
    (tmp_path / "scripts").mkdir()
    (tmp_path / "data" / "noise").mkdir(parents=True)
    with pytest.raises(ConfigError) as error:
        PipelineConfig.load(write_env(tmp_path, **changes), environ={}, root=tmp_path)
    message = str(error.value)
    assert message.startswith(start) and "make clean would delete it" in message
    assert "\n" not in message


def test_speech_sets_join_the_trainer_flags_only_when_on():
    from config_helpers import shipped_config

    off = shipped_config(general_sentences=0, near_misses=0).train_config("d", "c", "e")
    assert off.train_files == "d/train.csv" and not off.dev_negative_files
    assert not off.speech_files
    on = shipped_config(general_sentences=5, near_misses=0, speech_per_epoch=0.5)
    on = on.train_config("d", "c", "e")
    assert (on.train_files, on.speech_files) == ("d/train.csv", "d/speech/train.csv")
    assert on.speech_per_epoch == 0.5 and "d/speech/train.csv" in on.data_files()
    assert (on.dev_negative_files, on.test_negative_files) == (
        "d/speech/dev_negatives.csv",
        "d/speech/test_negatives.csv",
    )
