"""The fault harness (dstorch.bench.faults) in small: SIGKILL the trainer at 5 seeded random
points and resume each, kill prepare and the scorer stage and rerun; nothing may be lost
beyond the last checkpoint, nothing left corrupt, and every result bit-identical to an
uninterrupted run. `make bench-faults` runs the same with 20 trainer trials."""

from __future__ import annotations

import pytest

from dstorch.bench import faults


@pytest.mark.slow
def test_trainer_survives_sigkill_anywhere(tmp_path):
    figures = faults.trainer_trials(tmp_path, trials=5, seed=1)
    assert figures.problems == []
    assert figures.trials == 5 and figures.identical == 5 and figures.corrupt == 0
    assert figures.killed >= 1, "no kill landed before the end: nothing was tested"


@pytest.mark.slow
def test_prepare_and_scorer_stage_survive_sigkill(tmp_path):
    from dstorch.lm.scorer import ScorerError, find_kenlm_bin

    prepare = faults.prepare_trials(tmp_path, trials=1, seed=2)
    assert prepare.problems == [] and prepare.identical == 1
    try:
        find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))
    scorer = faults.scorer_trials(tmp_path, trials=1, seed=2)
    assert scorer.problems == [] and scorer.killed == 1 and scorer.identical == 1
