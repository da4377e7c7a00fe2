"""dstorch.decoder.arrays (+ beam_state, prefix_pool): the numpy fallback search."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ENGLISH
from decoder_helpers import SCORER, C

from dstorch.decoder import DecodeError, beam_state, prefix_pool
from dstorch.decoder.arrays import ArrayBeamSearch


def test_pools_are_collected_without_changing_results(monkeypatch) -> None:
    probs = np.random.default_rng(9).dirichlet(np.full(C, 0.2), size=400).astype(np.float32)
    whole = ArrayBeamSearch(ENGLISH, 32)
    whole.next(probs)
    monkeypatch.setattr(prefix_pool, "_MIN_COLLECT", 200)
    small = ArrayBeamSearch(ENGLISH, 32)
    small.next(probs)
    assert small.decode(3) == whole.decode(3)
    for pool in ("tokens", "steps"):  # memory bounded by what live prefixes point to
        assert getattr(small, pool).size < getattr(whole, pool).size / 5


def test_pool_chains_and_parent_rows() -> None:
    pool = prefix_pool.Pool()
    a = pool.add(np.array([5, 6]), np.array([-1, -1]))
    b = pool.add(np.array([7]), a[1:])
    assert pool.chain(int(b[0])) == [6, 7] and pool.chain(-1) == []
    keys = np.array([10, 20, 30])
    pkeys = np.array([1, 10, 99])  # parent of row 1 is row 0; the others are not here
    assert beam_state.parent_rows(keys, pkeys).tolist() == [-1, 0, -1]


def test_utf8_scorers_are_refused() -> None:
    pytest.importorskip("kenlm")
    from dstorch.lm.scorer import Scorer

    utf8 = Scorer(SCORER.with_name("bytes.scorer"))
    with pytest.raises(DecodeError, match="UTF-8"):
        ArrayBeamSearch([chr(i + 1) for i in range(255)], 8, utf8)
