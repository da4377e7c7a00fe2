"""The Train page's reading of a job log (dstorch.studio.training.progress) and of the run's
state."""

import json

from dstorch.studio.training import progress

LOG = (
    "Epoch 1/80:   0%|  | 0/26 [00:00<?, ?batch/s]\rEpoch 1/80: 100%|##| 26/26 [00:04, loss=34.3]"
    "\rEpoch 1/80: 100%|##| 26/26 [00:04<00:00, loss=34.321]\n"
    "Epoch 1: dev loss 33.4160 (best 33.4160)\n"
    "Epoch 2/80: 100%|##| 26/26 [00:04<00:00, loss=30.5]\n"
    "Epoch 2: dev loss 31.0000 (best 31.0000)\n"
    "Scorer: gate confidence_per_second >= -1.4 (m.gate.json): dev 60/60 right, 0 wrong\n"
    "Test with the scorer: WER 0.000, CER 0.000, 100% exact\n"
)


def test_epochs_losses_and_accuracy_lines_from_a_log_with_progress_bars():
    found = progress(LOG)
    assert found["epochs"] == [
        {"epoch": 1, "train_loss": 34.321, "dev_loss": 33.416},
        {"epoch": 2, "train_loss": 30.5, "dev_loss": 31.0},
    ]
    assert [line.split(":")[0] for line in found["accuracy"]] == ["Scorer", "Test with the scorer"]


def test_the_train_page_gets_the_run_state_as_plain_json(tmp_path, monkeypatch):
    """What the page reads of state.json: the same JSON as when the state was a dict."""
    from runner_helpers import clear_config_environment, make_project

    from dstorch.runner.state import STATE_FILE
    from dstorch.studio.training import Trainer

    clear_config_environment(monkeypatch)
    root = make_project(tmp_path, RUNNER="local")
    checkpoints = root / "runs" / "commands" / "checkpoints"
    checkpoints.mkdir(parents=True)
    old = {"state": "stopped", "phase": "training", "epoch": 3, "max_epoch": 5}
    (checkpoints / STATE_FILE).write_text(json.dumps(old))
    page = json.loads(json.dumps(Trainer(root, root / "configuration.env").snapshot()))
    assert {k: page[k] for k in ("epoch", "max_epoch", "phase")} == {
        "epoch": 3,
        "max_epoch": 5,
        "phase": "training",
    }
    assert page["status"] == "stopped (local), epoch 3/5, best dev loss n/a"
