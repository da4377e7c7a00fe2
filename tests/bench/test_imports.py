"""The import benchmark on a tiny tree: both runs import every clip; the figures add up."""

from dstorch.bench.imports import measure


def test_measure_times_serial_parallel_and_resumed_imports(tmp_path):
    timing = measure("commonvoice", tmp_path, clips=6, workers=2)
    assert (timing.clips, timing.workers) == (6, 2)
    assert min(timing.serial, timing.parallel, timing.resumed) > 0
    assert len(list((tmp_path / "many" / "clips").glob("*.wav"))) == 6
    lines = timing.lines()
    assert lines[0] == "commonvoice: 6 clips" and "x the baseline" in lines[2]
