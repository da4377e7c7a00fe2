"""Checks before a job starts: what the detached job would otherwise find only after
`make run` had returned 0 (an AUGMENT spec it cannot parse, an alphabet its checkpoints
were not trained with), said as one line by the command the user typed."""

from __future__ import annotations

from pathlib import Path

from dstorch.config import PipelineConfig
from dstorch.errors import DstorchError
from dstorch.fs import files_digest
from dstorch.runner.state import RunState


class PreflightError(DstorchError, ValueError):
    """A setting or data the job would refuse; the one-line message names the fix."""


def check_augment(config: PipelineConfig) -> None:
    """Parse AUGMENT (and NOISE_DIR's overlay) as the trainer will."""
    from dstorch.augment import AugmentError, parse_augmentations

    specs = config.train_config("data", "checkpoints", "export").augment
    try:
        parse_augmentations(specs)
    except AugmentError as e:
        raise PreflightError(f"AUGMENT: {str(e).removeprefix('--augment ')}") from None


def check_alphabet(config: PipelineConfig, state: RunState | None, alphabet: Path) -> None:
    """Refuse to resume checkpoints trained with another alphabet.txt (a transcript with
    a new letter, then `make rebuild NEW_DATA=yes`): the job fails on them at setup."""
    if not config.load_from_checkpoint or not state or state.alphabet is None:
        return
    if state.alphabet != alphabet_digest(alphabet):
        raise PreflightError(
            f"{alphabet} changed since the checkpoints were trained (a transcript with a new "
            "character?); start fresh with make rebuild NEW_DATA=yes LOAD_FROM_CHECKPOINT=no"
        )


def alphabet_digest(path: str | Path) -> str:
    return files_digest([path])
