"""Fixtures of the decoder tests."""

from __future__ import annotations

import pytest
from decoder_helpers import SCORER


@pytest.fixture(scope="module")
def scorer():
    """The commands fixture scorer (a fresh one per module: tests change alpha/beta)."""
    pytest.importorskip("kenlm")
    from dstorch.lm.scorer import Scorer

    return Scorer(SCORER)
