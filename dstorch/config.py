"""Typed configuration.

`configuration.env` is the one source of the pipeline's values: PipelineConfig has no
defaults, so a key missing from the file is an error that names it. Only `DSTORCH_<KEY>`
environment variables override the file (`make KEY=value` sets them); a plain `LANGUAGE`
or `PATH` in the environment never does. Each field carries its help text and its allowed
range in `metadata`; the trainer's `--flags`, the validation and the README table are all
generated from it. Trainer flags (TrainConfig) keep DeepSpeech.py 0.9.3's names and defaults.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import os
import re
import types
import typing
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path

from dotenv import dotenv_values

TRUE_WORDS = {"1", "yes", "true", "on", "y"}
FALSE_WORDS = {"0", "no", "false", "off", "n", ""}
# LM_MODE values. commands: a strict scorer that only lets the client answer a sentence of
# the LM corpus (or a prefix of one); open: KenLM's lmplz, free word sequences; auto:
# commands when LM_TEXT is empty (the corpus is then the closed command set), else open.
LM_AUTO, LM_COMMANDS, LM_OPEN = "auto", "commands", "open"
LM_MODES = (LM_AUTO, LM_COMMANDS, LM_OPEN)
# `make KEY=value` exports DSTORCH_KEY (see the Makefile); nothing else overrides the file.
ENV_PREFIX = "DSTORCH_"
# The local runner keeps each model's pid, log and checkpoints in RUNS_DIR/<MODEL_NAME>.
RUNS_DIR = "runs"
# NOISE_DIR as an augmentation: one of its recordings under half the training clips, its
# peak 4-20 dB below the clip's (DeepSpeech's overlay semantics).
NOISE_OVERLAY = "overlay[p=0.5,source={},snr=12~8]"
LM_CORPUS = "lm_corpus.txt"  # in the data dir: prepare writes it, the scorer stage reads it
REGISTRY_FILE = "registry.csv"  # in DATA_DIR: every recording and take, with its split


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the key and the fix."""


def parse_bool(key: str, text: str) -> bool:
    word = str(text).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{key}='{text}' is not a yes/no value; use yes or no")


@dataclass(frozen=True)
class Range:
    """Numbers from `low` to `high` (None: unbounded); `*_open` excludes the bound itself."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None:
            return value < self.high if self.high_open else value <= self.high
        return True

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"{'<' if self.high_open else '<='} {self.high:g}"


@dataclass(frozen=True)
class Text:
    """Text matching `regex` in full; `what` describes it to the user."""

    regex: str
    what: str

    def allows(self, value: str) -> bool:
        return re.fullmatch(self.regex, value) is not None

    def __str__(self) -> str:
        return self.what


@dataclass(frozen=True)
class Choice:
    options: tuple[str, ...]

    def allows(self, value: str) -> bool:
        return value in self.options

    def __str__(self) -> str:
        return "one of " + ", ".join(self.options)


SIZE = Range(1)  # batch sizes, widths, epochs
COUNT = Range(0)  # counters and seeds
FRACTION = Range(0, 1, high_open=True)
POSITIVE = Range(0, low_open=True)  # durations, rates
NAME = Text(r"[A-Za-z0-9][A-Za-z0-9._-]*", "a name of letters, digits, '.', '_' or '-'")
PATH = Text(r"\S(.*\S)?", "a path (not empty)")
DEVICE = Text(r"auto|cpu|cuda(:\d+)?|mps", "auto, cpu, cuda, cuda:N or mps")
OPTIONAL_PATH = Text(r"(\S(.*\S)?)?", "a path, or empty")
SHA256 = Text(r"([0-9a-fA-F]{64})?", "64 hex digits (SHA-256), or empty")
IMAGE = Text(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*", "a Docker image name such as repo/name:tag")
GPUS = Text(r"all|[1-9][0-9]*", "all, or a number of processes >= 1")
HOST = Text(r"[A-Za-z0-9][A-Za-z0-9.:_-]*", "a host name or IP address")

Check = Range | Text | Choice


def key(help: str, check: Check | None = None, default: object = MISSING) -> Field:
    """A configuration field: its help text and allowed values live in its metadata."""
    metadata = {"help": help, "check": check}
    if isinstance(default, list):
        return field(default_factory=list, metadata=metadata)
    return field(default=default, metadata=metadata)


@functools.cache
def _type_hints(cls: type) -> dict[str, type]:
    # once per class: resolving them per field made every `dstorch` command 0.16 s slower
    return typing.get_type_hints(cls)


def _field_type(cls: type, f: Field) -> type:
    hint = _type_hints(cls)[f.name]
    if isinstance(hint, types.UnionType):  # `str | None` style hints: use the concrete type
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    return hint


def describe(cls: type, f: Field) -> str:
    """The values field `f` allows, in words (for errors, --help and the README)."""
    kind = _field_type(cls, f)
    check = f.metadata.get("check")
    if kind is bool:
        return "yes or no"
    noun = {int: "an integer", float: "a number"}.get(kind, "")
    if isinstance(check, Range):
        return f"{noun} {check}".strip()
    return str(check) if check else noun or "any text"


def convert(cls: type, key: str, value: str) -> object:
    """Convert the text `value` to the type of dataclass field `key` of `cls`."""
    f = next(f for f in fields(cls) if f.name == key)
    kind = _field_type(cls, f)
    if kind is bool:
        return parse_bool(key.upper(), value)
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{key.upper()}='{value}' is not valid; use {describe(cls, f)}") from None


def validate(config: object) -> None:
    """Raise ConfigError naming the first field whose value its metadata does not allow."""
    cls = type(config)
    for f in fields(config):
        check, value = f.metadata.get("check"), getattr(config, f.name)
        if check is not None and not isinstance(value, (bool, list)) and not check.allows(value):
            shown = f"'{value}'" if isinstance(value, str) else value
            problem = "out of range" if isinstance(check, Range) else "not valid"
            raise ConfigError(f"{f.name.upper()}={shown} is {problem}; use {describe(cls, f)}")


def from_mapping(cls: type, values: dict[str, str]):
    """Build dataclass `cls` from a mapping of UPPER_CASE keys (missing keys keep defaults)."""
    kwargs = {}
    for f in fields(cls):
        name = f.name.upper()
        if values.get(name) is not None:
            kwargs[f.name] = convert(cls, f.name, values[name])
    return cls(**kwargs)


def load_env(path: str | Path = "configuration.env", environ: dict | None = None) -> dict:
    """configuration.env's values, each overridden by a DSTORCH_<KEY> environment variable.

    No `${VAR}` interpolation: the environment reaches values only through DSTORCH_*.
    """
    environ = os.environ if environ is None else environ
    path = Path(path)
    values = dict(dotenv_values(path, interpolate=False)) if path.exists() else {}
    for name in PipelineConfig.keys():
        if ENV_PREFIX + name in environ:
            values[name] = environ[ENV_PREFIX + name]
    return values


@dataclass
class TrainingFlags:
    """DeepSpeech.py flags that configuration.env sets too (same names, DeepSpeech's
    defaults); both TrainConfig and PipelineConfig carry them."""

    train_batch_size: int = key("clips in a training batch", SIZE, 1)
    dev_batch_size: int = key("clips in a dev (validation) batch", SIZE, 1)
    test_batch_size: int = key("clips in a test batch", SIZE, 1)
    learning_rate: float = key("learning rate of the Adam optimiser", COUNT, 0.001)
    dropout_rate: float = key("dropout rate of the dense layers", FRACTION, 0.05)
    n_hidden: int = key("width of the hidden layers (the model size)", SIZE, 2048)
    relu_clip: float = key("ReLU clipping value of the dense layers", POSITIVE, 20.0)
    early_stop: bool = key("stop when the dev loss stops improving (ES_EPOCHS)", None, False)
    es_epochs: int = key("epochs without dev-loss improvement before stopping", SIZE, 25)
    es_min_delta: float = key("smallest dev-loss decrease that counts", COUNT, 0.05)
    reduce_lr_on_plateau: bool = key("reduce the learning rate on dev-loss plateaus", None, False)
    plateau_epochs: int = key("epochs without improvement that make a plateau", SIZE, 10)
    plateau_reduction: float = key(
        "factor applied to the learning rate on a plateau", Range(0, 1, True, True), 0.1
    )
    checkpoint_secs: int = key(
        "also save a checkpoint every this many seconds; 0: after every step", COUNT, 600
    )
    max_to_keep: int = key("checkpoints to keep; 0 keeps all (as in DeepSpeech)", COUNT, 5)
    export_beam_width: int = key("beam width stored in the exported model", SIZE, 500)
    export_tflite: bool = key(
        "also export MODEL_NAME.tflite for the deepspeech-tflite client", None, False
    )
    export_onnx: bool = key(
        "also export <name>.onnx: features and LSTM state in, logits and state out", None, False
    )
    random_seed: int = key("seeds everything; resume is exact", COUNT, 4568)
    automatic_mixed_precision: bool = key("bf16 autocast on CUDA", None, False)
    augmentations_per_epoch: int = key("augmented passes over the training set", SIZE, 1)
    drop_source_layers: int = key(
        "top layers of the pretrained model re-initialised (1: the output layer; 5: all "
        "but layer_1)",
        Range(0, 5),
        0,
    )
    bytes_output_mode: bool = key(
        "the model outputs UTF-8 bytes (256 classes), not ALPHABET letters; a UTF-8 scorer",
        None,
        False,
    )

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class TrainConfig(TrainingFlags):
    """Trainer flags, named and defaulted as in DeepSpeech.py 0.9.3."""

    train_files: str = key("comma-separated training CSVs", None, "")
    dev_files: str = key("comma-separated dev CSVs (early stopping, plateaus)", None, "")
    test_files: str = key("comma-separated test CSVs", None, "")
    epochs: int = key("epochs to train in total", SIZE, 75)
    checkpoint_dir: str = key("where checkpoints are loaded from and saved", PATH, "checkpoints")
    load_checkpoint_dir: str = key("load from here instead of --checkpoint_dir", None, "")
    save_checkpoint_dir: str = key("save here instead of --checkpoint_dir", None, "")
    load_checkpoint: bool = key("resume from the newest checkpoint", None, True)
    alphabet_config_path: str = key("the alphabet.txt", PATH, "alphabet.txt")
    export_dir: str = key("write .pb and .pbmm here; empty: no export", None, "")
    export_file_name: str = key("file name of the exported model", NAME, "output_graph")
    n_steps: int = key("time steps per exported inference window", SIZE, 16)
    augment: list[str] = key("an augmentation SPEC (repeatable)", None, [])
    summary_dir: str = key("TensorBoard event files; empty: none", None, "")
    test_output_file: str = key("write the test report (JSON) here", None, "")
    device: str = key("torch device", DEVICE, "auto")
    initialize_from_frozen_model: str = key(
        "start a fresh run from this .pbmm/.pb or dstorch checkpoint (path or URL)", None, ""
    )
    pretrained_sha256: str = key("expected SHA-256 of the pretrained model", SHA256, "")

    @property
    def load_dir(self) -> str:
        return self.load_checkpoint_dir or self.checkpoint_dir

    @property
    def save_dir(self) -> str:
        return self.save_checkpoint_dir or self.checkpoint_dir

    def geometry(self) -> dict:
        """The settings a checkpoint's tensors depend on."""
        return {"n_hidden": self.n_hidden}


def _every_key_required(cls: type) -> type:
    """Make `cls` a keyword-only dataclass whose fields, the inherited TrainingFlags too,
    have no default: configuration.env is the only place pipeline values come from."""
    annotations = cls.__dict__.get("__annotations__", {})
    for base in cls.__mro__[1:]:
        if not hasattr(base, "__dataclass_fields__"):
            continue
        hints = typing.get_type_hints(base)
        for f in fields(base):
            if f.name not in annotations:
                annotations[f.name] = hints[f.name]
                setattr(cls, f.name, field(metadata=f.metadata))
    cls.__annotations__ = annotations
    return dataclass(kw_only=True)(cls)


@_every_key_required
class PipelineConfig(TrainingFlags):
    """Everything in configuration.env (keys are the upper-cased field names).

    Adding a key: a field here (help + check), its line in configuration.env, and
    `scripts/config_table.py` to regenerate the README table (tests/test_config.py checks).
    """

    language: str = key("column of commands.csv and sub-folder of ORIGINAL_DIR", NAME)
    model_name: str = key("file name of the exported model (MODELS_DIR/MODEL_NAME.pbmm)", NAME)
    original_dir: str = key("your recordings (read only)", PATH)
    commands_csv: str = key("CSV with an id column and a LANGUAGE column of transcripts", PATH)
    data_dir: str = key("generated 16 kHz copies, train/dev/test CSVs, alphabet", PATH)
    models_dir: str = key("where the exported model, scorer and report land", PATH)
    filename_pattern: str = key(
        "regex with groups id (and speaker) for file names; empty: the recipe's convention"
    )
    alphabet: str = key(
        "an alphabet.txt to use; empty builds one from the transcripts", OPTIONAL_PATH
    )
    dev_fraction: float = key("share of each command's clips in the dev set", FRACTION)
    test_fraction: float = key("share of each command's clips in the test set", FRACTION)
    min_duration: float = key("clips shorter than this many seconds are skipped", COUNT)
    max_duration: float = key("clips longer than this many seconds are skipped", POSITIVE)
    split_seed: int = key("seeds the train/dev/test split", COUNT)
    new_data: bool = key("yes: add new or changed recordings to DATA_DIR")
    holdout_speakers: str = key(
        "comma-separated speakers, synthetic voices (flite:slt) or engines kept out of "
        "training (test only)"
    )
    synthetic_voices: str = key(
        "synthetic voices in training: auto (every installed engine), none, or a list of "
        "engines or engine:voice"
    )
    synthetic_takes: int = key("synthetic takes per command, shared by the engines", COUNT)
    runner: str = key("where training runs", Choice(("auto", "local", "docker")))
    gpus: str = key(
        "training processes on this machine (torchrun): 1; N (one per GPU, or N CPU "
        "processes without GPUs); all (one per GPU, one process without GPUs)",
        GPUS,
    )
    nnodes: int = key("machines training together (torchrun --nnodes)", SIZE)
    node_rank: int = key("this machine's rank among NNODES, 0 on the MASTER_ADDR one", COUNT)
    master_addr: str = key("address of the NODE_RANK=0 machine (NNODES > 1)", HOST)
    master_port: int = key("free TCP port on the MASTER_ADDR machine (NNODES > 1)", Range(1, 65535))
    max_epoch: int = key("total epochs (--epochs)", SIZE)
    current_epoch: int = key("last finished epoch, written by make stop (a record)", COUNT)
    load_from_checkpoint: bool = key("no: ignore existing checkpoints and start from scratch")
    augment: str = key("DeepSpeech --augment specs, space-separated; empty: none")
    noise_dir: str = key(
        "a folder of recordings of your room's noise, overlaid on training clips (DeepSpeech's "
        "overlay, NOISE_OVERLAY); empty: none",
        OPTIONAL_PATH,
    )
    lm_text: str = key("extra sentences for the LM, one per line; empty: none", OPTIONAL_PATH)
    lm_mode: str = key(
        "commands: a strict scorer that only answers commands; open: free word sequences; "
        "auto: commands without LM_TEXT",
        Choice(LM_MODES),
    )
    lm_tune_trials: int = key(
        "alpha/beta pairs tried on the dev set; 0 keeps the LM_MODE's starting point", COUNT
    )
    pretrained_model: str = key(
        "start from this DeepSpeech .pbmm/.pb or dstorch checkpoint (path or https URL); "
        "empty: from scratch"
    )
    pretrained_sha256: str = key("expected SHA-256 of PRETRAINED_MODEL; empty: unchecked", SHA256)
    fine_tune_learning_rate: float = key(
        "learning rate used instead of LEARNING_RATE when PRETRAINED_MODEL is set", COUNT
    )
    fine_tune_epochs: int = key(
        "epochs used instead of MAX_EPOCH when PRETRAINED_MODEL is set", SIZE
    )
    pretrain_sentences: int = key("sentences the synthetic voices speak for make pretrain", SIZE)
    pretrain_epochs: int = key("epochs of make pretrain (the base model)", SIZE)
    pretrain_voices: str = key(
        "synthetic voices of make pretrain (SYNTHETIC_VOICES syntax: auto, or engines/voices)"
    )
    base_image: str = key("Docker base image (a pinned CUDA PyTorch image)", IMAGE)
    image_name: str = key("name of the trainer image", IMAGE)
    volume_prefix: str = key("prefix of the Docker volume names", NAME)

    # Checks that involve two keys (MIN_DURATION < MAX_DURATION, DEV_FRACTION + TEST_FRACTION
    # < 1) and FILENAME_PATTERN's groups belong to prepare (dstorch/prepare/prepare.py).

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name.upper() for f in fields(cls)]

    @classmethod
    def load(
        cls,
        path: str | Path = "configuration.env",
        environ: dict | None = None,
        root: str | Path | None = None,
    ) -> PipelineConfig:
        """configuration.env at `path` + DSTORCH_* overrides, validated; folders are checked
        against each other as resolved from `root` (default: the working directory)."""
        values = load_env(path, environ)
        known = set(cls.keys())
        for name, value in values.items():
            if name not in known:
                raise ConfigError(f"{path}: unknown key {name}; check its spelling")
            if value is None:
                raise ConfigError(f"{path}: {name} has no '='; write {name}=<value>")
        missing = [name for name in cls.keys() if name not in values]
        if missing:
            raise ConfigError(
                f"{path} has no {missing[0]}; add a line {missing[0]}=<value> "
                f"({describe(cls, next(f for f in fields(cls) if f.name.upper() == missing[0]))})"
            )
        config = from_mapping(cls, values)
        base = Path.cwd() if root is None else Path(root)
        check_directories(config, base)
        if config.noise_dir and not (base / config.noise_dir).is_dir():
            raise ConfigError(
                f"{path}: NOISE_DIR={config.noise_dir} is not a folder; give a folder of noise "
                "recordings (.wav/.flac/.ogg/.opus) or leave it empty"
            )
        return config

    def run_dir(self, root: Path) -> Path:
        """The local runner's folder for this model (pid, log, checkpoints)."""
        return Path(root) / RUNS_DIR / self.model_name

    @property
    def scorer_mode(self) -> str:
        """LM_MODE with auto resolved: commands or open."""
        if self.lm_mode == LM_AUTO:
            return LM_OPEN if self.lm_text.strip() else LM_COMMANDS
        return self.lm_mode

    @property
    def epochs_key(self) -> str:
        """The key that sets the total epochs: FINE_TUNE_EPOCHS with PRETRAINED_MODEL."""
        return "FINE_TUNE_EPOCHS" if self.pretrained_model else "MAX_EPOCH"

    @property
    def total_epochs(self) -> int:
        return self.fine_tune_epochs if self.pretrained_model else self.max_epoch

    def train_config(self, data_dir: str, checkpoint_dir: str, export_dir: str) -> TrainConfig:
        """The trainer flags for a pipeline run over `data_dir` (train/dev/test CSVs)."""
        from dstorch.augment import split_specs

        values = {f.name: getattr(self, f.name) for f in fields(TrainingFlags)}
        if self.pretrained_model:
            values["learning_rate"] = self.fine_tune_learning_rate
        data = Path(data_dir)
        return TrainConfig(
            **values,
            train_files=str(data / "train.csv"),
            dev_files=str(data / "dev.csv"),
            test_files=str(data / "test.csv"),
            epochs=self.total_epochs,
            initialize_from_frozen_model=self.pretrained_model,
            pretrained_sha256=self.pretrained_sha256,
            augment=split_specs(self.augment)
            + ([NOISE_OVERLAY.format(self.noise_dir)] if self.noise_dir else []),
            checkpoint_dir=checkpoint_dir,
            load_checkpoint=self.load_from_checkpoint,
            alphabet_config_path=str(data / "alphabet.txt"),
            export_dir=export_dir,
            export_file_name=self.model_name,
            summary_dir=str(Path(checkpoint_dir) / "summaries"),
            test_output_file=str(Path(export_dir) / "report.json"),
        )


def check_directories(config: PipelineConfig, root: Path) -> None:
    """Refuse folders that overlap (one inside or equal to another, symlinks resolved):
    prepare would otherwise overwrite recordings, and clean would delete them."""
    named = {
        "ORIGINAL_DIR": config.original_dir,
        "DATA_DIR": config.data_dir,
        "MODELS_DIR": config.models_dir,
        "the run folder": str(Path(RUNS_DIR, config.model_name)),
    }
    resolved = {name: (root / value).resolve() for name, value in named.items()}
    for (a, path_a), (b, path_b) in itertools.combinations(resolved.items(), 2):
        if path_a == path_b or path_a in path_b.parents or path_b in path_a.parents:
            raise ConfigError(
                f"{a}={named[a]} and {b}={named[b]} overlap ({path_a} vs {path_b}); "
                "give each its own folder"
            )


def add_arguments(parser: argparse.ArgumentParser, cls: type = TrainConfig) -> None:
    """Add one `--flag` per dataclass field: typed, defaulted and explained by the field."""
    for f in fields(cls):
        kind = _field_type(cls, f)
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        text = f"{f.metadata.get('help', '')} ({describe(cls, f)}; default: {default!r})"
        text = text.replace("%", "%%")  # argparse formats help with %
        if typing.get_origin(kind) is list:  # repeatable, like DeepSpeech's --augment
            parser.add_argument(f"--{f.name}", action="append", default=[], help=text)
        elif kind is bool:
            parser.add_argument(
                f"--{f.name}",
                type=lambda v, k=f.name: parse_bool(k, v),
                nargs="?",
                const=True,
                default=default,
                help=text,
            )
        else:
            parser.add_argument(f"--{f.name}", type=kind, default=default, help=text)


def from_namespace(args: argparse.Namespace, cls: type = TrainConfig):
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})
