"""Trainer command lines: one `--flag` per dataclass field, and the dataclass back from the
parsed arguments."""

from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, fields

from dstorch.config.fields import describe, field_type, parse_bool
from dstorch.config.training import TrainConfig


def add_arguments(parser: argparse.ArgumentParser, cls: type = TrainConfig) -> None:
    """Add one `--flag` per dataclass field: typed, defaulted and explained by the field."""
    for f in fields(cls):
        kind = field_type(cls, f)
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
