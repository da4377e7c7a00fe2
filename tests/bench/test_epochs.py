"""`make bench`'s epoch time: the same training, the trainer making its batches or a worker
making them ahead, timed epoch by epoch."""

from training_helpers import CLIPS, make_config

from dstorch.bench.epochs import format_epochs, time_epochs
from dstorch.training.prefetch import Plan


def test_both_ways_train_the_same_and_are_timed(tmp_path):
    csv = str(CLIPS / "clips.csv")
    views = dict(consistency_weight=0.5, augment=["volume[p=0.5,dbfs=-30:-10]", "add[stddev=1]"])
    config = make_config(tmp_path, train_files=f"{csv},{csv}", train_batch_size=2, **views)
    alone = time_epochs(config, "trainer makes batches", Plan(0, None), epochs=3)
    ahead = time_epochs(config, "made ahead", Plan(1, None), epochs=3)
    assert alone.dev_losses == ahead.dev_losses  # same process and threads: bit for bit
    assert len(alone.epoch_seconds) == len(ahead.epoch_seconds) == 3
    assert all(s > 0 for s in alone.epoch_seconds + ahead.epoch_seconds)
    assert alone.batches == ahead.batches == 8  # 2 x 8 clips, 2 a batch
    first, second = format_epochs([alone, ahead])
    assert "8 batches, trainer makes batches (0 workers" in first and "-> 1.00x" in first
    assert "made ahead (1 workers" in second
    assert f"{alone.seconds / ahead.seconds:.2f}x" in second
