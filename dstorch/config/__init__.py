"""Typed configuration (this package's modules: fields, training, pipeline, arguments).

`configuration.env` is the one source of the pipeline's values: PipelineConfig has no
defaults, so a key missing from the file is an error that names it. Only `DSTORCH_<KEY>`
environment variables override the file (`make KEY=value` sets them); a plain `LANGUAGE`
or `PATH` in the environment never does. Each field carries its help text and its allowed
range in `metadata`; the trainer's `--flags`, the validation and the README table are all
generated from it. Trainer flags (TrainConfig) keep DeepSpeech.py 0.9.3's names and defaults.
"""

from dstorch.config.arguments import add_arguments, from_namespace
from dstorch.config.fields import (
    COUNT,
    DEVICE,
    FALSE_WORDS,
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
    TRUE_WORDS,
    WIDTH,
    Check,
    Choice,
    ConfigError,
    Range,
    Text,
    convert,
    describe,
    from_mapping,
    key,
    parse_bool,
    validate,
)
from dstorch.config.pipeline import (
    ENV_FILE,
    ENV_PREFIX,
    LM_AUTO,
    LM_COMMANDS,
    LM_MODES,
    LM_OPEN,
    NOISE_OVERLAY,
    RUNS_DIR,
    SUMMARIES_DIR,
    PipelineConfig,
    check_directories,
    load_env,
)
from dstorch.config.training import TrainConfig, TrainingFlags

__all__ = [
    "COUNT",
    "Check",
    "Choice",
    "ConfigError",
    "DEVICE",
    "ENV_FILE",
    "ENV_PREFIX",
    "FALSE_WORDS",
    "FRACTION",
    "GPUS",
    "HOST",
    "IMAGE",
    "LM_AUTO",
    "LM_COMMANDS",
    "LM_MODES",
    "LM_OPEN",
    "NAME",
    "NOISE_OVERLAY",
    "OPTIONAL_PATH",
    "PATH",
    "POSITIVE",
    "PipelineConfig",
    "RUNS_DIR",
    "SUMMARIES_DIR",
    "Range",
    "SHA256",
    "SIZE",
    "TRUE_WORDS",
    "WIDTH",
    "Text",
    "TrainConfig",
    "TrainingFlags",
    "add_arguments",
    "check_directories",
    "convert",
    "describe",
    "from_mapping",
    "from_namespace",
    "key",
    "load_env",
    "parse_bool",
    "validate",
]
