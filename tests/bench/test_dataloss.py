"""The data-loss faults of `make bench-faults` (dstorch.bench.dataloss) in small: every
last-*.pt corrupt, a NaN loss, an export into a folder with other files and `make clean`
of folders that are not dstorch's (each of its cases once); nothing of the user's may be
lost, and every trial must end with a clear one-line message."""

from __future__ import annotations

import pytest

from dstorch.bench import dataloss


@pytest.mark.slow
def test_no_fault_kind_loses_data_or_ends_unclear(tmp_path):
    results = dataloss.dataloss_trials(tmp_path, trials=len(dataloss.CLEAN_CASES), seed=3)
    assert [p for outcome in results.values() for p in outcome.problems] == []
    for kind, outcome in results.items():
        assert outcome.trials == 5, kind
        assert outcome.nothing_lost == 5 and outcome.clear == 5, outcome.line(kind)
