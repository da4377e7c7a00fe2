"""CTC beam search exactly as DeepSpeech 0.9.3's client decodes, and command grammars.

One interface (base.BeamSearchBase: ``next(probs)`` per chunk, ``decode(n)``), two
implementations with bit-identical results:

- reference.ReferenceBeamSearch: Python, the test oracle; also UTF-8 scorers.
- native.KernelBeamSearch: the C kernel (kernel/ctc_kernel.c, compiled by
  `make dependencies`), production.

make_search picks the one that applies; beam_search decodes one utterance with it.
commands.CommandGrammar constrains a transcript to a fixed list of sentences.
"""

from __future__ import annotations

import numpy as np

from dstorch.decoder.base import (
    CUTOFF_PROB,
    CUTOFF_TOP_N,
    BeamSearchBase,
    Candidate,
    DecodeError,
    WordTiming,
    word_timings,
)
from dstorch.decoder.native import KernelBeamSearch
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
    """The C kernel's search; the reference for UTF-8 ("bytes output") scorers, which the
    kernel does not handle. native.KernelNotBuiltError where the kernel is not built."""
    args = (labels, beam_width, scorer, hot_words, cutoff_prob, cutoff_top_n)
    if scorer is not None and scorer.utf8:
        return ReferenceBeamSearch(*args)
    return KernelBeamSearch(*args)


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
