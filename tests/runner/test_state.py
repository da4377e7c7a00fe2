"""state.json (dstorch.runner.state): the typed record round-trips, an earlier dstorch's
file reads, and a write is atomic."""

from __future__ import annotations

import json
import os

import pytest

from dstorch.fs import TEMP_GLOB
from dstorch.runner.state import (
    STATE_FILE,
    RunPhase,
    RunState,
    RunStatus,
    parse_state,
    read_state,
    write_state,
)

# What the job wrote before RunState (a finished run), plus a key no version knows.
OLD_FILE = """{
  "state": "finished",
  "phase": "done",
  "data": "9f2c",
  "max_epoch": 2,
  "pid": 4242,
  "error": null,
  "best_dev_loss": 31.5,
  "updated": "2024-05-01T10:00:00+00:00",
  "alphabet": "ab12",
  "epoch": 2,
  "started_from": "scratch",
  "scorer": "/runs/model/commands.scorer",
  "unseen_accuracy": 0.875,
  "seen_accuracy": null,
  "from_the_future": {"kept": [1, 2]}
}
"""


def test_a_state_round_trips_through_the_file(tmp_path):
    state = RunState(
        RunStatus.FAILED,
        RunPhase.SCORER,
        epoch=3,
        max_epoch=5,
        best_dev_loss=12.25,
        started_from="base.pbmm",
        data="d1",
        alphabet="a1",
        pid=17,
        error="DataError: bad",
        scorer="error: no lmplz",
        unseen_accuracy=0.5,
        seen_accuracy=1.0,
    )
    write_state(tmp_path, state)
    assert state.updated is not None  # stamped by the write
    assert read_state(tmp_path) == state
    record = json.loads((tmp_path / STATE_FILE).read_text())
    assert record["state"] == "failed" and record["phase"] == "scorer" and "status" not in record


def test_words_compare_print_and_serialise_as_plain_strings():
    assert RunStatus.STOPPED == "stopped" and f"{RunPhase.TEST}" == str(RunPhase.TEST) == "test"
    assert json.dumps([RunStatus.FINISHED]) == '["finished"]'
    assert [s for s in RunStatus if s.ended_well] == [RunStatus.STOPPED, RunStatus.FINISHED]


def test_a_file_of_an_earlier_version_reads_and_keeps_unknown_keys(tmp_path):
    (tmp_path / STATE_FILE).write_text(OLD_FILE)
    state = read_state(tmp_path)
    assert (state.status, state.phase, state.epoch) == (RunStatus.FINISHED, RunPhase.DONE, 2)
    assert state.best_dev_loss == 31.5 and state.seen_accuracy is None
    assert state.others == {"from_the_future": {"kept": [1, 2]}}
    state.status, state.phase = RunStatus.RUNNING, RunPhase.SETUP  # a new run resumes
    write_state(tmp_path, state)
    record = json.loads((tmp_path / STATE_FILE).read_text())
    assert set(json.loads(OLD_FILE)) <= set(record)  # every key it had, the same names
    assert record["from_the_future"] == {"kept": [1, 2]} and record["state"] == "running"


def test_missing_keys_and_words_or_values_it_does_not_know_read_as_none():
    state = parse_state('{"state": "paused", "phase": 3, "epoch": "three", "pid": true}')
    assert state == RunState()  # no figures known, nothing crashes
    assert parse_state('{"state": "stopped"}') == RunState(RunStatus.STOPPED)
    assert parse_state('{"best_dev_loss": Infinity}').best_dev_loss is None
    assert parse_state('{"epoch": 2, "best_dev_loss": 3}') == RunState(epoch=2, best_dev_loss=3.0)


@pytest.mark.parametrize("text", [None, "", "{", "[1, 2]", '"running"'])
def test_no_state_or_an_unreadable_one_is_none(tmp_path, text):
    if text is not None:
        (tmp_path / STATE_FILE).write_text(text)
    assert read_state(tmp_path) is None


def test_an_infinite_best_loss_is_written_as_null(tmp_path):
    """TrainState's best dev loss is inf until the first epoch; JSON has no inf."""
    write_state(tmp_path, RunState(RunStatus.RUNNING, best_dev_loss=float("inf")))
    assert json.loads((tmp_path / STATE_FILE).read_text())["best_dev_loss"] is None


def test_a_write_is_atomic(tmp_path, monkeypatch):
    """A write that fails before its rename leaves the previous state whole, no temp file."""
    write_state(tmp_path, RunState(RunStatus.RUNNING, RunPhase.TRAINING, epoch=1))
    before = (tmp_path / STATE_FILE).read_text()

    def refused(*args):
        raise OSError("the rename failed")

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(OSError, match="the rename failed"):
        write_state(tmp_path, RunState(RunStatus.RUNNING, RunPhase.TRAINING, epoch=2))
    monkeypatch.undo()
    assert (tmp_path / STATE_FILE).read_text() == before
    assert read_state(tmp_path).epoch == 1 and list(tmp_path.glob(TEMP_GLOB)) == []
