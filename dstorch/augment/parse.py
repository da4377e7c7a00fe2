"""`--augment name[key=value,...]` parsing, with one-line errors that say what is valid."""

from __future__ import annotations

import math
import re

from dstorch.augment.environment import ENVIRONMENT_AUGMENTATIONS
from dstorch.augment.params import Augmentation, AugmentError, Param, parse_range
from dstorch.augment.presets import expand
from dstorch.augment.spectral import FEATURE_AUGMENTATIONS
from dstorch.augment.voice import VOICE_AUGMENTATIONS
from dstorch.augment.waveform import WAVEFORM_AUGMENTATIONS

REGISTRY: dict[str, type[Augmentation]] = {
    cls.NAME: cls
    for cls in WAVEFORM_AUGMENTATIONS
    + ENVIRONMENT_AUGMENTATIONS
    + VOICE_AUGMENTATIONS
    + FEATURE_AUGMENTATIONS
}
# DeepSpeech augmentations dstorch deliberately lacks, with what to use instead.
NOT_IMPLEMENTED = {"warp": "use time_mask / frequency_mask / tempo instead"}
SPEC = re.compile(r"^(?P<name>[a-z_]+)(\[(?P<params>.*)\])?$", re.DOTALL)
P_PARAM = Param("number", "1.0", low=0.0, high=1.0, doc="probability a sample gets it")


def describe(cls: type[Augmentation]) -> str:
    """`name[p=<float>,key=<float-range>,...]` as the docs write it."""
    params = {"p": P_PARAM, **cls.PARAMS}
    return f"{cls.NAME}[{','.join(param.describe(k) for k, param in params.items())}]"


def help_text() -> str:
    """One line per augmentation: syntax, what it does, defaults (for --help and docs)."""
    lines = []
    for cls in REGISTRY.values():
        defaults = ", ".join(f"{k}={p.default}" for k, p in cls.PARAMS.items() if p.default)
        lines.append(
            f"{describe(cls)}: {cls.DOC}" + (f" (defaults {defaults})" if defaults else "")
        )
    return "\n".join(lines)


def _split(spec: str) -> tuple[str, dict[str, str]]:
    """`name[k=v,...]` -> (name, {k: v}); raises AugmentError on bad syntax."""
    match = SPEC.match(spec.strip())
    if not match:
        raise AugmentError(
            f"--augment {spec!r}: bad syntax; use name[key=value,...], e.g. reverb[p=0.1,delay=20]"
        )
    pairs: dict[str, str] = {}
    text = match.group("params") or ""
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key or not value:
            raise AugmentError(f"--augment {spec!r}: {item!r} is not key=value")
        if key in pairs:
            raise AugmentError(f"--augment {spec!r}: {key!r} given twice")
        pairs[key] = value
    return match.group("name"), pairs


def _lookup(spec: str, name: str) -> type[Augmentation]:
    if name in REGISTRY:
        return REGISTRY[name]
    if name in NOT_IMPLEMENTED:
        raise AugmentError(f"--augment {spec!r}: {name} is not supported; {NOT_IMPLEMENTED[name]}")
    valid = ", ".join(REGISTRY)
    raise AugmentError(f"--augment {spec!r}: unknown augmentation {name!r}; valid: {valid}")


def _convert(spec: str, key: str, param: Param, text: str) -> object:
    """Parse one value and check every value it can produce against the param's limits."""
    try:
        if param.kind in ("int", "float"):
            value = parse_range(text, int if param.kind == "int" else float)
            low, high = value.bounds()
        elif param.kind == "number":
            value = low = high = float(text)
            if not math.isfinite(value):
                raise ValueError(f"{text!r} is not finite")
        else:
            value, low, high = text, None, None
    except ValueError as e:
        form = "<value>, <value>~<r>, <start>:<end> or <start>:<end>~<r>"
        kind = "an integer" if param.kind == "int" else "a float"
        form = "one plain number" if param.kind == "number" else f"{kind} range: {form}"
        raise AugmentError(
            f"--augment {spec!r}: {key}={text} is invalid ({e}); use {form}"
        ) from None
    if param.kind == "choice" and value not in param.choices:
        choices = "|".join(param.choices)
        raise AugmentError(f"--augment {spec!r}: {key}={text} is not valid; use {choices}")
    if param.clamp:
        return value
    if (param.low is not None and low < param.low) or (
        param.high is not None and high > param.high
    ):
        low_text = "-inf" if param.low is None else f"{param.low:g}"
        limits = f"[{low_text}, {'inf' if param.high is None else f'{param.high:g}'}]"
        reach = f"is outside {limits}" if low == high else f"can reach {low:g}..{high:g}"
        raise AugmentError(f"--augment {spec!r}: {key}={text} {reach}; keep values in {limits}")
    return value


def parse_augmentation(spec: str) -> Augmentation:
    """One `--augment` value -> an Augmentation; AugmentError names the problem and the fix."""
    name, pairs = _split(spec)
    cls = _lookup(spec, name)
    params = {"p": P_PARAM, **cls.PARAMS}
    unknown = [key for key in pairs if key not in params]
    if unknown:
        raise AugmentError(
            f"--augment {spec!r}: unknown key {unknown[0]!r} for {name}; valid: {describe(cls)}"
        )
    values = {}
    for key, param in params.items():
        if key not in pairs and param.default is None:
            raise AugmentError(f"--augment {spec!r}: {key}= is required; {describe(cls)}")
        values[key] = _convert(spec, key, param, pairs.get(key, param.default))
    augmentation = cls(spec.strip(), values.pop("p"), values)
    augmentation.check()
    return augmentation


def split_specs(text: str) -> list[str]:
    """The specs of a one-line list (an env value like AUGMENT), split on whitespace or `;`
    outside brackets: "reverb[p=0.1, delay=50] volume" -> ["reverb[p=0.1, delay=50]", "volume"];
    a preset's name (`default`, dstorch.augment.presets) becomes its specs.
    """
    specs, current, depth = [], "", 0
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if depth <= 0 and (ch.isspace() or ch == ";"):
            specs.append(current)
            current, depth = "", 0
        else:
            current += ch
    return expand([spec for spec in specs + [current] if spec])


def parse_augmentations(specs: list[str] | None) -> list[Augmentation]:
    """All `--augment` values, in the order given (which is the order they are applied in);
    a preset's name stands for its specs here too (`--augment default`)."""
    return [parse_augmentation(spec) for spec in expand(list(specs or []))]
