"""A run's state: `<checkpoint_dir>/state.json`, one typed record (RunState).

The job alone writes it (rank 0, holding the run lock), atomically; the runners (`make
status`, `log`, `run`, `export`), the studio and the fault benches read it. The file's keys
are RunState's field names, with `status` stored as "state". Any earlier dstorch's file
stays readable: a missing key reads as None, a value of the wrong type or an unknown word
as None, and a key this version does not know is kept and written back as it was.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import typing
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from dstorch.fs import atomic_write

STATE_FILE = "state.json"  # in a checkpoint dir


class _Word(str, Enum):
    """A word of state.json: compares, prints and serialises as its value ("running").
    (enum.StrEnum does this from Python 3.11; the project supports 3.10.)"""

    def __str__(self) -> str:
        return self.value


class RunStatus(_Word):
    """What the job says about its run (state.json's "state")."""

    RUNNING = "running"  # or killed hard: the runners check whether a process is behind it
    STOPPED = "stopped"  # by a signal (make stop); make run resumes from its phase
    FINISHED = "finished"
    FAILED = "failed"  # RunState.error says why, RunState.phase where

    @property
    def ended_well(self) -> bool:
        """Finished, or stopped on request: the commands that waited for it succeed."""
        return self in (RunStatus.FINISHED, RunStatus.STOPPED)


class RunPhase(_Word):
    """Where a run is, stopped or failed (state.json's "phase"), in the order a run goes."""

    SETUP = "setup"  # data, model, the checkpoint to resume
    TRAINING = "training"
    SCORER = "scorer"  # the .scorer built and its alpha/beta tuned
    TEST = "test"
    EXPORT = "export"
    DONE = "done"  # finished


# The JSON key of a field where it differs from the field's name.
KEYS = {"status": "state"}


@dataclass
class RunState:
    """state.json. None: not known (yet), or not in an earlier version's file."""

    status: RunStatus | None = None
    phase: RunPhase | None = None
    epoch: int | None = None  # the last finished epoch
    max_epoch: int | None = None  # the run's --epochs
    best_dev_loss: float | None = None  # None until a finite dev loss
    started_from: str | None = None  # the pretrained model training started from, or scratch
    data: str | None = None  # digest of the CSVs and alphabet it trained on (fs.files_digest)
    alphabet: str | None = None  # digest of the alphabet.txt the checkpoints learnt
    pid: int | None = None  # the job's process (rank 0)
    error: str | None = None  # one line, when failed
    scorer: str | None = None  # the .scorer built, or "error: <why>"
    unseen_accuracy: float | None = None  # test accuracy on voices never heard in training
    seen_accuracy: float | None = None  # ... and on voices heard in training
    updated: str | None = None  # UTC time of the last write, ISO 8601
    others: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> RunState:
        """From state.json's object; tolerant of missing, mistyped and unknown keys."""
        kinds = _field_kinds()
        known = {KEYS.get(name, name): name for name in kinds}
        state = cls(others={k: v for k, v in record.items() if k not in known})
        for key, name in known.items():
            setattr(state, name, _typed(kinds[name], record.get(key)))
        return state

    def to_json(self) -> dict[str, Any]:
        """state.json's object: every field (null when not known), then the unknown keys."""
        record = {KEYS.get(name, name): getattr(self, name) for name in _field_kinds()}
        if record["best_dev_loss"] is not None and not math.isfinite(record["best_dev_loss"]):
            record["best_dev_loss"] = None  # JSON has no inf: before the first finite loss
        for key in ("state", "phase"):
            record[key] = record[key].value if record[key] is not None else None
        return {**record, **{k: v for k, v in self.others.items() if k not in record}}


@functools.cache
def _field_kinds() -> dict[str, type]:
    """RunState's fields but `others`, each with the type its value has when known."""
    hints = typing.get_type_hints(RunState)
    return {
        f.name: next(a for a in typing.get_args(hints[f.name]) if a is not type(None))
        for f in fields(RunState)
        if f.name != "others"
    }


def _typed(kind: type, value: Any) -> Any:
    """`value` as a field of type `kind`, or None when it is not one (a word this version
    does not know, a hand-edited file)."""
    if value is None or isinstance(value, bool):
        return None
    if issubclass(kind, Enum):
        try:
            return kind(value)
        except (ValueError, TypeError):
            return None
    if kind is float and isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    return value if isinstance(value, kind) else None


def parse_state(text: str | bytes | None) -> RunState | None:
    """state.json's content as a RunState, or None when empty or not a JSON object."""
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    return RunState.from_json(record) if isinstance(record, dict) else None


def read_state(checkpoint_dir: str | Path) -> RunState | None:
    """The run's state, or None when the file is absent or unreadable."""
    try:
        return parse_state((Path(checkpoint_dir) / STATE_FILE).read_bytes())
    except OSError:
        return None


def write_state(checkpoint_dir: str | Path, state: RunState) -> None:
    """Stamp `state.updated` and replace state.json atomically (readers see the old file
    or the new one, never half of one)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    state.updated = now.isoformat(timespec="seconds")
    text = json.dumps(state.to_json(), indent=2) + "\n"
    atomic_write(Path(checkpoint_dir) / STATE_FILE, text)
