"""Value ranges and the augmentation base class, with DeepSpeech 0.9.3's `--augment` semantics.

A parameter value is one of
  `<value>`                  a constant,
  `<value>~<r>`              uniformly random in [value - r, value + r] per application,
  `<start>:<end>`            moving linearly from start to end as the training clock runs 0 -> 1,
  `<start>:<end>~<r>`        both: a moving centre with a random radius.
Integer parameters only ever take rounded integer values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from dstorch.errors import DstorchError

AUDIO = "audio"  # float samples [N] in [-1, 1] at 16 kHz
FEATURES = "features"  # MFCC frames [T, 26] before context windows


class AugmentError(DstorchError, ValueError):
    """An unusable `--augment` spec or an augmentation that cannot run; one-line message."""


@dataclass(frozen=True)
class ValueRange:
    """A parsed `<start>:<end>~<r>` value; start/end/r are ints for integer parameters."""

    start: float
    end: float
    r: float

    @property
    def is_int(self) -> bool:
        return isinstance(self.start, int)

    def bounds(self) -> tuple[float, float]:
        """The smallest and largest value `pick` can ever return."""
        low, high = min(self.start, self.end) - self.r, max(self.start, self.end) + self.r
        return (round(low), round(high)) if self.is_int else (low, high)


def _number(text: str, kind: type) -> float:
    try:
        value = kind(text.strip())
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):  # nan would slip through every limit check
        what = "an integer" if kind is int else "a finite number"
        raise ValueError(f"{text.strip()!r} is not {what}")
    return value


def parse_range(text: str, kind: type = float) -> ValueRange:
    """Parse `<value>`, `<value>~<r>`, `<start>:<end>` or `<start>:<end>~<r>` (kind int/float).

    Raises ValueError (without the spec; the caller adds it) on bad syntax or a negative r.
    """
    parts = text.split("~")
    if len(parts) > 2:
        raise ValueError(f"{text!r} has more than one '~'")
    r = _number(parts[1], kind) if len(parts) == 2 else kind(0)
    if r < 0:
        raise ValueError(f"{text!r} has a negative radius")
    ends = parts[0].split(":")
    if len(ends) > 2:
        raise ValueError(f"{text!r} has more than one ':'")
    start = _number(ends[0], kind)
    end = _number(ends[1], kind) if len(ends) == 2 else start
    return ValueRange(start, end, r)


def pick(value: ValueRange, clock: float, rng: np.random.Generator) -> float:
    """One value for training clock `clock` in [0, 1] (clamped), as DeepSpeech picks it.

    Always draws once from `rng`, even when r == 0, so the random stream of the augmentations
    that follow does not depend on which ranges happen to be constant.
    """
    clock = min(1.0, max(0.0, float(clock)))
    centre = value.start + clock * (value.end - value.start)
    drawn = rng.uniform(centre - value.r, centre + value.r)
    return int(round(drawn)) if value.is_int else float(drawn)


@dataclass(frozen=True)
class Param:
    """One key an augmentation accepts.

    kind: "int" / "float" (ranges), "number" (one plain float), "str", or "choice".
    default: text as a user would write it; None means the key is required.
    low/high: limits every value the range can produce must respect, or with `clamp`, the
        limits picked values are clamped to (DeepSpeech's own examples, e.g. n=1:3~2, reach
        below 0 for counts and sizes, meaning "none").
    """

    kind: str
    default: str | None
    low: float | None = None
    high: float | None = None
    clamp: bool = False
    choices: tuple[str, ...] = ()
    doc: str = ""

    def describe(self, key: str) -> str:
        if self.kind == "choice":
            return f"{key}={'|'.join(self.choices)}"
        if self.kind == "number":
            return f"{key}=<float>"
        return f"{key}=<{self.kind}{'-range' if self.kind in ('int', 'float') else ''}>"


class Augmentation:
    """Base class. Subclasses set NAME, DOMAIN, PARAMS and implement `apply`.

    `values` holds the parsed parameters (ValueRange, float or str per Param.kind);
    `p` is the probability that one sample gets this augmentation.
    """

    NAME: ClassVar[str] = ""
    DOMAIN: ClassVar[str] = AUDIO
    PARAMS: ClassVar[dict[str, Param]] = {}
    DOC: ClassVar[str] = ""
    # False for one that changes the clip's duration: two views of a clip (--consistency_weight)
    # share its draw, so that their frames line up.
    KEEPS_LENGTH: ClassVar[bool] = True

    def __init__(self, spec: str, p: float, values: dict[str, object]):
        self.spec = spec
        self.p = p
        self.values = values

    @property
    def domain(self) -> str:
        """AUDIO or FEATURES; may depend on a `domain=` parameter."""
        return self.DOMAIN

    def pick(self, key: str, clock: float, rng: np.random.Generator) -> float:
        value, param = pick(self.values[key], clock, rng), self.PARAMS[key]
        if param.clamp and param.low is not None:
            value = max(value, type(value)(param.low))
        if param.clamp and param.high is not None:
            value = min(value, type(value)(param.high))
        return value

    def check(self) -> None:
        """Checks beyond single values (files exist, a codec is installed): AugmentError."""

    def apply(self, data: np.ndarray, clock: float, rng: np.random.Generator) -> np.ndarray:
        """Audio: float64 [N] -> [N']; features: float32 [T, 26] -> [T', 26]."""
        raise NotImplementedError

    def error(self, message: str) -> AugmentError:
        return AugmentError(f"--augment {self.spec!r}: {message}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec!r} p={self.p}>"
