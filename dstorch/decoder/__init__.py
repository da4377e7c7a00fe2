"""CTC beam search exactly as DeepSpeech 0.9.3's client decodes, and command grammars.

One interface (base.BeamSearchBase: ``next(probs)`` per chunk, ``decode(n)``), three
implementations with bit-identical results:

- reference.ReferenceBeamSearch: pure Python, the test oracle; also UTF-8 scorers.
- arrays.ArrayBeamSearch: numpy, the fallback where no C compiler exists.
- kernel.KernelBeamSearch: compiled C, production.

make_search picks the fastest that applies; beam_search decodes one utterance with it.
commands.CommandGrammar constrains a transcript to a fixed list of sentences.
"""

from __future__ import annotations

import numpy as np

from dstorch.decoder import kernel
from dstorch.decoder.arrays import ArrayBeamSearch
from dstorch.decoder.base import (
    CUTOFF_PROB,
    CUTOFF_TOP_N,
    BeamSearchBase,
    Candidate,
    DecodeError,
    WordTiming,
    word_timings,
)
from dstorch.decoder.reference import ReferenceBeamSearch
from dstorch.lm.scorer import Scorer

__all__ = [
    "BeamSearchBase",
    "Candidate",
    "DecodeError",
    "WordTiming",
    "beam_search",
    "make_search",
    "word_timings",
]


def make_search(
    labels: list[str],
    beam_width: int,
    scorer: Scorer | None = None,
    hot_words: dict[str, float] | None = None,
    cutoff_prob: float = CUTOFF_PROB,
    cutoff_top_n: int = CUTOFF_TOP_N,
) -> BeamSearchBase:
    """The fastest exact decoder: the C kernel (kernel.BACKEND == "c"), else the array
    search; the reference for UTF-8 ("bytes output") scorers."""
    args = (labels, beam_width, scorer, hot_words, cutoff_prob, cutoff_top_n)
    if scorer is not None and scorer.utf8:
        return ReferenceBeamSearch(*args)
    if kernel.BACKEND == "c":
        return kernel.KernelBeamSearch(*args)
    return ArrayBeamSearch(*args)


def beam_search(
    log_probs: np.ndarray,
    labels: list[str],
    beam_width: int,
    scorer: Scorer | None = None,
    hot_words: dict[str, float] | None = None,
    num_results: int = 1,
    cutoff_prob: float = CUTOFF_PROB,
    cutoff_top_n: int = CUTOFF_TOP_N,
) -> list[Candidate]:
    """Decode log_probs [T, C] (natural log softmax, blank = C - 1 = len(labels)).

    Returns up to ``num_results`` candidates, best first (confidence = decoder score).
    For probabilities (what the client feeds its decoder) or streaming, use make_search.
    """
    search = make_search(labels, beam_width, scorer, hot_words, cutoff_prob, cutoff_top_n)
    search.next(np.exp(np.asarray(log_probs, dtype=np.float64)))
    return search.decode(num_results)
