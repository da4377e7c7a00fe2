"""The Train page's reading of a job log (dstorch.studio.training.progress)."""

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
