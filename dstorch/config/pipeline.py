"""PipelineConfig: everything in configuration.env, loaded with its DSTORCH_* overrides and
checked; it hands the trainer its TrainConfig."""

from __future__ import annotations

import itertools
import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path

from dstorch.config.envfile import read_env_file
from dstorch.config.fields import (
    COUNT,
    FRACTION,
    GPUS,
    HOST,
    IMAGE,
    NAME,
    OPTIONAL_PATH,
    PATH,
    POSITIVE,
    SHA256,
    SIZE,
    Choice,
    ConfigError,
    Range,
    describe,
    from_mapping,
    key,
)
from dstorch.config.training import TrainConfig, TrainingFlags
from dstorch.datafiles import (
    ALPHABET_FILE,
    DEV_CSV,
    DEV_NEGATIVES,
    REPORT_JSON,
    SPEECH_TRAIN,
    TEST_CSV,
    TEST_NEGATIVES,
    TRAIN_CSV,
)

# LM_MODE values. commands: a strict scorer that only lets the client answer a sentence of
# the LM corpus (or a prefix of one); open: KenLM's lmplz, free word sequences; auto:
# commands when LM_TEXT is empty (the corpus is then the closed command set), else open.
LM_AUTO, LM_COMMANDS, LM_OPEN = "auto", "commands", "open"
LM_MODES = (LM_AUTO, LM_COMMANDS, LM_OPEN)
# The project's settings, in its folder; `make KEY=value` exports DSTORCH_KEY (see the
# Makefile); nothing else overrides the file.
ENV_FILE = "configuration.env"
ENV_PREFIX = "DSTORCH_"
# The local runner keeps each model's pid, log and checkpoints in RUNS_DIR/<MODEL_NAME>.
RUNS_DIR = "runs"
SUMMARIES_DIR = "summaries"  # in the checkpoint dir: TensorBoard's (--summary_dir)
# NOISE_DIR as an augmentation: one of its recordings under half the training clips, its
# peak 4-20 dB below the clip's (DeepSpeech's overlay semantics).
NOISE_OVERLAY = "overlay[p=0.5,source={},snr=12~8]"
# The project's own files (in the working directory and where the package lives): no folder
# that prepare writes into or clean deletes may hold one.
SOURCE_NAMES = ("dstorch", "scripts", "tests", "docker", ".git", "Makefile", "pyproject.toml")


def load_env(path: str | Path = ENV_FILE, environ: dict | None = None) -> dict:
    """configuration.env's values, each overridden by a DSTORCH_<KEY> environment variable.

    No `${VAR}` interpolation: the environment reaches values only through DSTORCH_*. No
    file: the environment alone (a job started with every DSTORCH_* key).
    """
    environ = os.environ if environ is None else environ
    path = Path(path)
    values = read_env_file(path) if path.exists() or path.is_symlink() else {}
    for name in PipelineConfig.keys():
        if ENV_PREFIX + name in environ:
            values[name] = environ[ENV_PREFIX + name]
    return values


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
    vad_trim: bool = key(
        "yes: cut silence and noise before and after the speech in DATA_DIR's copies "
        "(webrtcvad, 0.15 s kept; original/ is never changed)"
    )
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
    general_sentences: int = key(
        "everyday sentences of frequent words spoken by the synthetic voices and trained with "
        "their transcripts beside the commands, so the model learns words, not command shapes; "
        "0: none",
        COUNT,
    )
    near_misses: int = key(
        "phrases per command with one word changed (no command), spoken by the synthetic "
        "voices and trained with their transcripts; with GENERAL_SENTENCES, also the "
        "negatives that tune rejection; 0: none",
        COUNT,
    )
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
    augment: str = key(
        "default (the measured preset, dstorch/augment/presets.py) or DeepSpeech --augment "
        "specs, space-separated, a preset's name among them; empty: none"
    )
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
    studio_host: str = key(
        "address make studio listens on; 127.0.0.1: this machine only (0.0.0.0: every "
        "interface, for a browser on another machine)",
        HOST,
    )
    studio_port: int = key("TCP port of make studio", Range(1, 65535))
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
        path: str | Path = ENV_FILE,
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
        if missing and not Path(path).exists():
            raise ConfigError(
                f"{path}: not found; restore it (git checkout {Path(path).name} brings back "
                "the shipped one)"
            )
        if missing:
            raise ConfigError(
                f"{path} has no {missing[0]}; add a line {missing[0]}=<value> "
                f"({describe(cls, next(f for f in fields(cls) if f.name.upper() == missing[0]))})"
            )
        config = from_mapping(cls, values)
        base = Path.cwd() if root is None else Path(root)
        check_directories(config, base)
        check_generated_folders(config, base, Path(path))
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

    @property
    def speech_sets(self) -> bool:
        """Whether prepare writes the speech that is no command (SPEECH_TRAIN, negatives):
        asked for, and synthetic voices to speak it not turned off."""
        wanted = self.general_sentences > 0 or self.near_misses > 0
        return wanted and self.synthetic_voices.strip().lower() not in ("none", "no", "off")

    def speech_flags(self, data: Path) -> dict[str, str]:
        """The trainer flags that add the speech sets (none when they are off)."""
        if not self.speech_sets:
            return {}
        return {
            "speech_files": str(data / SPEECH_TRAIN),
            "dev_negative_files": str(data / DEV_NEGATIVES),
            "test_negative_files": str(data / TEST_NEGATIVES),
        }

    def train_config(self, data_dir: str, checkpoint_dir: str, export_dir: str) -> TrainConfig:
        """The trainer flags for a pipeline run over `data_dir` (train/dev/test CSVs)."""
        from dstorch.augment import split_specs

        values = {f.name: getattr(self, f.name) for f in fields(TrainingFlags)}
        if self.pretrained_model:
            values["learning_rate"] = self.fine_tune_learning_rate
        data = Path(data_dir)
        return TrainConfig(
            **values,
            **{
                "train_files": str(data / TRAIN_CSV),
                "dev_files": str(data / DEV_CSV),
                "test_files": str(data / TEST_CSV),
                **self.speech_flags(data),
            },
            epochs=self.total_epochs,
            initialize_from_frozen_model=self.pretrained_model,
            pretrained_sha256=self.pretrained_sha256,
            augment=split_specs(self.augment)
            + ([NOISE_OVERLAY.format(self.noise_dir)] if self.noise_dir else []),
            checkpoint_dir=checkpoint_dir,
            load_checkpoint=self.load_from_checkpoint,
            alphabet_config_path=str(data / ALPHABET_FILE),
            export_dir=export_dir,
            export_file_name=self.model_name,
            summary_dir=str(Path(checkpoint_dir) / SUMMARIES_DIR),
            test_output_file=str(Path(export_dir) / REPORT_JSON),
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


def check_generated_folders(config: PipelineConfig, root: Path, config_file: Path) -> None:
    """Refuse a DATA_DIR, MODELS_DIR or run folder that is or holds an input (COMMANDS_CSV,
    NOISE_DIR, ALPHABET, LM_TEXT, configuration.env) or a source folder of the project:
    `make clean` deletes what is in those folders."""
    from dstorch.fs import SOURCE_ROOT

    inputs = [
        (key.upper(), getattr(config, key))
        for key in ("commands_csv", "noise_dir", "alphabet", "lm_text")
        if getattr(config, key)
    ]
    inputs.append(("the configuration file", str(config_file)))
    for base in dict.fromkeys((root.resolve(), SOURCE_ROOT)):
        inputs += [
            (f"the project's {n}", str(base / n)) for n in SOURCE_NAMES if (base / n).exists()
        ]
    folders = {
        "DATA_DIR": config.data_dir,
        "MODELS_DIR": config.models_dir,
        "the run folder": str(Path(RUNS_DIR, config.model_name)),
    }
    for folder, value in folders.items():
        path = (root / value).resolve()
        for what, inside in inputs:
            target = (root / inside).resolve()
            if target == path or path in target.parents:
                raise ConfigError(
                    f"{folder}={value} holds {what} ({target}); make clean would delete it: "
                    f"give {folder} a folder of its own"
                )
