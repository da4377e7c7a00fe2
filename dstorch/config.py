"""Typed configuration.

`configuration.env` is the one source of truth. Values in the environment (which is where
`make KEY=value` puts them) override the file. Training flags use DeepSpeech.py's names.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from dotenv import dotenv_values

TRUE_WORDS = {"1", "yes", "true", "on", "y"}
FALSE_WORDS = {"0", "no", "false", "off", "n", ""}
# LM_MODE values. commands: a strict scorer that only lets the client answer a sentence of
# the LM corpus (or a prefix of one); open: KenLM's lmplz, free word sequences; auto:
# commands when LM_TEXT is empty (the corpus is then the closed command set), else open.
LM_AUTO, LM_COMMANDS, LM_OPEN = "auto", "commands", "open"
LM_MODES = (LM_AUTO, LM_COMMANDS, LM_OPEN)


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key and the fix."""


def parse_bool(key: str, text: str) -> bool:
    word = str(text).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{key}={text!r} is not a yes/no value; use yes or no")


def _field_type(cls: type, field: dataclasses.Field) -> type:
    hint = typing.get_type_hints(cls)[field.name]
    if isinstance(hint, types.UnionType):  # `str | None` style hints: use the concrete type
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    return hint


def convert(cls: type, key: str, value: str) -> object:
    """Convert the text `value` to the type of dataclass field `key` of `cls`."""
    field = next(f for f in fields(cls) if f.name == key)
    kind = _field_type(cls, field)
    if kind is bool:
        return parse_bool(key.upper(), value)
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{key.upper()}={value!r} is not a valid {kind.__name__}") from None


def from_mapping(cls: type, values: dict[str, str]):
    """Build dataclass `cls` from a mapping of UPPER_CASE keys (missing keys keep defaults)."""
    kwargs = {}
    for field in fields(cls):
        key = field.name.upper()
        if key in values and values[key] is not None:
            kwargs[field.name] = convert(cls, field.name, values[key])
    return cls(**kwargs)


def load_env(path: str | Path = "configuration.env", environ: dict | None = None) -> dict:
    """Read `path` and let the environment override every key it defines."""
    environ = os.environ if environ is None else environ
    path = Path(path)
    values = {k: v for k, v in dotenv_values(path).items()} if path.exists() else {}
    for key in list(values) + [k for k in PipelineConfig.keys() if k not in values]:
        if key in environ:
            values[key] = environ[key]
    return values


@dataclass
class TrainingFlags:
    """DeepSpeech.py flags that configuration.env sets too (same names, DeepSpeech's
    defaults); both TrainConfig and PipelineConfig carry them."""

    train_batch_size: int = 1
    dev_batch_size: int = 1
    test_batch_size: int = 1
    learning_rate: float = 0.001
    dropout_rate: float = 0.05
    n_hidden: int = 2048
    relu_clip: float = 20.0
    early_stop: bool = False
    es_epochs: int = 25
    es_min_delta: float = 0.05
    reduce_lr_on_plateau: bool = False
    plateau_epochs: int = 10
    plateau_reduction: float = 0.1
    checkpoint_secs: int = 600
    max_to_keep: int = 5
    export_beam_width: int = 500
    random_seed: int = 4568
    automatic_mixed_precision: bool = False
    augmentations_per_epoch: int = 1


@dataclass
class TrainConfig(TrainingFlags):
    """Trainer flags, named and defaulted as in DeepSpeech.py 0.9.3."""

    train_files: str = ""
    dev_files: str = ""
    test_files: str = ""
    epochs: int = 75
    checkpoint_dir: str = "checkpoints"
    load_checkpoint_dir: str = ""
    save_checkpoint_dir: str = ""
    load_checkpoint: bool = True
    alphabet_config_path: str = "alphabet.txt"
    export_dir: str = ""
    export_file_name: str = "output_graph"
    n_steps: int = 16
    augment: list[str] = dataclasses.field(default_factory=list)
    summary_dir: str = ""
    test_output_file: str = ""
    device: str = "auto"

    @property
    def load_dir(self) -> str:
        return self.load_checkpoint_dir or self.checkpoint_dir

    @property
    def save_dir(self) -> str:
        return self.save_checkpoint_dir or self.checkpoint_dir

    def geometry(self) -> dict:
        """The settings a checkpoint's tensors depend on."""
        return {"n_hidden": self.n_hidden}


@dataclass
class PipelineConfig(TrainingFlags):
    """Everything in configuration.env (keys are the upper-cased field names)."""

    language: str = "en"
    model_name: str = "commands"
    original_dir: str = "original"
    commands_csv: str = "commands.csv"
    data_dir: str = "data"
    models_dir: str = "models"
    filename_pattern: str = ""
    alphabet: str = ""
    dev_fraction: float = 0.15
    test_fraction: float = 0.15
    min_duration: float = 0.1
    max_duration: float = 20.0
    split_seed: int = 4568
    new_data: bool = False
    holdout_speakers: str = ""
    synthetic_voices: str = "auto"
    synthetic_takes: int = 20
    runner: str = "auto"
    max_epoch: int = 40
    current_epoch: int = 0
    load_from_checkpoint: bool = True
    lm_text: str = ""
    lm_mode: str = LM_AUTO
    lm_tune_trials: int = 30
    augment: str = ""
    base_image: str = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    image_name: str = "dstorch-trainer"
    volume_prefix: str = "dstorch"

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name.upper() for f in fields(cls)]

    @classmethod
    def load(cls, path: str | Path = "configuration.env", environ: dict | None = None):
        config = from_mapping(cls, load_env(path, environ))
        if config.runner not in ("auto", "local", "docker"):
            raise ConfigError(f"RUNNER={config.runner!r}; use auto, local or docker")
        if config.lm_mode not in LM_MODES:
            raise ConfigError(f"LM_MODE={config.lm_mode!r}; use {', '.join(LM_MODES)}")
        return config

    @property
    def scorer_mode(self) -> str:
        """LM_MODE with auto resolved: commands or open."""
        if self.lm_mode == LM_AUTO:
            return LM_OPEN if self.lm_text.strip() else LM_COMMANDS
        return self.lm_mode

    def train_config(self, data_dir: str, checkpoint_dir: str, export_dir: str) -> TrainConfig:
        """The trainer flags for a pipeline run over `data_dir` (train/dev/test CSVs)."""
        from dstorch.augment import split_specs

        values = {f.name: getattr(self, f.name) for f in fields(TrainingFlags)}
        data = Path(data_dir)
        return TrainConfig(
            **values,
            train_files=str(data / "train.csv"),
            dev_files=str(data / "dev.csv"),
            test_files=str(data / "test.csv"),
            epochs=self.max_epoch,
            augment=split_specs(self.augment),
            checkpoint_dir=checkpoint_dir,
            load_checkpoint=self.load_from_checkpoint,
            alphabet_config_path=str(data / "alphabet.txt"),
            export_dir=export_dir,
            export_file_name=self.model_name,
            summary_dir=str(Path(checkpoint_dir) / "summaries"),
            test_output_file=str(Path(export_dir) / "report.json"),
        )


def add_arguments(parser: argparse.ArgumentParser, cls: type = TrainConfig) -> None:
    """Add one `--flag` per dataclass field, typed and defaulted from the dataclass."""
    for field in fields(cls):
        kind = _field_type(cls, field)
        if typing.get_origin(kind) is list:  # repeatable, like DeepSpeech's --augment
            parser.add_argument(f"--{field.name}", action="append", default=[])
        elif kind is bool:
            parser.add_argument(
                f"--{field.name}",
                type=lambda v, k=field.name: parse_bool(k, v),
                nargs="?",
                const=True,
                default=field.default,
            )
        else:
            parser.add_argument(f"--{field.name}", type=kind, default=field.default)


def from_namespace(args: argparse.Namespace, cls: type = TrainConfig):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})
