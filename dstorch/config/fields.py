"""The machinery behind configuration fields: `key()` declares a field with its help text
and allowed values (a Range, Text or Choice check); `convert`, `validate` and `describe`
read that metadata back, so checks, --help and the README table all come from one place.
"""

from __future__ import annotations

import functools
import math
import re
import types
import typing
from dataclasses import MISSING, Field, dataclass, field, fields

from dstorch.errors import DstorchError

TRUE_WORDS = {"1", "yes", "true", "on", "y"}
FALSE_WORDS = {"0", "no", "false", "off", "n", ""}


class ConfigError(DstorchError, ValueError):
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
# At most 100 characters: names become file names (MODEL_NAME.tflite, temp names around
# them) and a file system refuses more than 255 bytes, at export, after the whole training.
NAME = Text(
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", "a name of letters, digits, '.', '_' or '-' (at most 100)"
)
# Widths beyond 8192 (DeepSpeech's release: 2048) need over 12 GB for the weights and
# their optimizer state alone; 300000 failed in the job with an allocation error.
WIDTH = Range(1, 8192)
PATH = Text(r"\S(.*\S)?", "a path (not empty)")
DEVICE = Text(r"auto|cpu|cuda(:\d+)?|mps", "auto, cpu, cuda, cuda:N or mps")
OPTIONAL_PATH = Text(r"(\S(.*\S)?)?", "a path, or empty")
SHA256 = Text(r"([0-9a-fA-F]{64})?", "64 hex digits (SHA-256), or empty")
IMAGE = Text(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*", "a Docker image name such as repo/name:tag")
GPUS = Text(r"all|[1-9][0-9]*", "all, or a number of processes >= 1")
SNRS = Text(r"(-?\d+(\.\d+)?(,-?\d+(\.\d+)?)*)?", "comma-separated numbers (dB), or empty")
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


def field_type(cls: type, f: Field) -> type:
    hint = _type_hints(cls)[f.name]
    if isinstance(hint, types.UnionType):  # `str | None` style hints: use the concrete type
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    return hint


def describe(cls: type, f: Field) -> str:
    """The values field `f` allows, in words (for errors, --help and the README)."""
    kind = field_type(cls, f)
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
    kind = field_type(cls, f)
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
