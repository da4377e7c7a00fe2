"""What every CTC beam search here shares: settings, the LM term, hot words, results.

Both implementations (the reference and the C kernel's, native) decode exactly like
DeepSpeech 0.9.3's native_client/ctcdecode; everything they must agree on bit for bit lives
here once: the float32 log-sum-exp, class pruning, the alpha/beta rounding, the hot-word
boost and the order in which the LM term is added to a prefix's score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dstorch.bytes_mode import bytes_text, is_byte_labels, label_bytes
from dstorch.errors import DstorchError
from dstorch.features import STEP_MS
from dstorch.lm.scorer import Scorer

CUTOFF_TOP_N = 40
CUTOFF_PROB = 1.0
START_BLANK_PROB = 0.999  # expansion starts at the first step with P(blank) below this
STEP_SECONDS = STEP_MS / 1000  # a time step of the model: one feature frame
FLT_MIN = float(np.finfo(np.float32).tiny)  # the client adds it before taking logs
NEG_INF = -math.inf


class DecodeError(DstorchError, ValueError):
    """Bad decoder input (shapes, alphabet size, hot words without a scorer)."""


@dataclass
class Candidate:
    """One transcript: ``tokens``/``timesteps`` [n] are label indices and output steps."""

    text: str
    confidence: float
    tokens: list[int]
    timesteps: list[int]

    @property
    def start_times(self) -> list[float]:
        """Start time in seconds of each token (timestep * 20 ms, float32 like the client)."""
        return [float(np.float32(t) * np.float32(STEP_SECONDS)) for t in self.timesteps]


@dataclass
class WordTiming:
    word: str
    start_time: float  # seconds
    duration: float  # seconds, up to the closing space token (client.cc semantics)


def word_timings(candidate: Candidate, labels: list[str]) -> list[WordTiming]:
    """Words with start/duration exactly as the native client's JSON output builds them
    (bytes output mode: a word's bytes are decoded together)."""
    words, word, start = [], [], 0.0
    times = candidate.start_times
    spell = (lambda w: bytes_text(label_bytes(w))) if is_byte_labels(labels) else None
    for i, label in enumerate(candidate.tokens):
        if labels[label] != " ":
            if not word:
                start = times[i]
            word.append(label)
        if labels[label] == " " or i == len(candidate.tokens) - 1:
            duration = float(np.float32(times[i]) - np.float32(start))  # float in client.cc
            text = spell(word) if spell else "".join(labels[w] for w in word)
            words.append(WordTiming(text, start, max(duration, 0.0)))
            word, start = [], 0.0
    return words


def log_sum_exp(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Elementwise float32 log(e^x + e^y) of float32 arrays [n], -inf meaning "no path"
    (decoder_utils.h)."""
    m = np.maximum(x, y)
    with np.errstate(invalid="ignore"):  # -inf - -inf where both are absent
        # expf/logf via float64 + rounding: glibc's are (nearly always) correctly
        # rounded, numpy's float32 SIMD versions are up to ~3 ulp off.
        ex = np.exp((np.stack([x, y]) - m).astype(np.float64)).astype(np.float32)
        out = np.log((ex[0] + ex[1]).astype(np.float64)).astype(np.float32) + m
    return np.where(x == NEG_INF, y, np.where(y == NEG_INF, x, out))


def pruned_log_probs(
    probs: np.ndarray, cutoff_prob: float, cutoff_top_n: int
) -> tuple[np.ndarray, np.ndarray]:
    """get_pruned_log_probs: probs [C] float64 -> (class ids [K], float32 log probs [K])."""
    idx = np.arange(len(probs))
    if not keeps_all(cutoff_prob, cutoff_top_n, len(probs)):
        idx = np.argsort(-probs, kind="stable")
        keep = min(cutoff_top_n, len(probs))
        if cutoff_prob < 1.0:
            reached = np.nonzero(np.cumsum(probs[idx]) >= cutoff_prob)[0]
            keep = min(keep, int(reached[0]) + 1 if len(reached) else len(probs))
        idx = idx[:keep]
    # The client computes log in double and stores it in a float.
    return idx, np.log(probs[idx] + FLT_MIN).astype(np.float32)


def keeps_all(cutoff_prob: float, cutoff_top_n: int, n_classes: int) -> bool:
    """Does pruning keep every class, in natural order? (alphabets up to cutoff_top_n)"""
    return cutoff_prob >= 1.0 and cutoff_top_n >= n_classes


def pruned_rows(
    probs: np.ndarray, cutoff_prob: float, cutoff_top_n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pruned_log_probs of every row of probs [T, C]: classes [T, C] int32, float32 logs
    [T, C], and how many of the C are valid in each row [T] int32."""
    t, c = probs.shape
    if keeps_all(cutoff_prob, cutoff_top_n, c):  # one call for all rows
        cidx = np.ascontiguousarray(np.broadcast_to(np.arange(c, dtype=np.int32), (t, c)))
        return cidx, np.log(probs + FLT_MIN).astype(np.float32), np.full(t, c, np.int32)
    cidx, lp = np.zeros((t, c), np.int32), np.zeros((t, c), np.float32)
    nk = np.zeros(t, np.int32)
    for i, row in enumerate(probs):
        idx, logs = pruned_log_probs(row, cutoff_prob, cutoff_top_n)
        nk[i] = len(idx)
        cidx[i, : len(idx)], lp[i, : len(idx)] = idx, logs
    return cidx, lp, nk


def rounded_alpha_beta(scorer: Scorer) -> tuple[float, float]:
    """Scorer::reset_params takes floats: the client's alpha and beta are float32 values."""
    return float(np.float32(scorer.alpha)), float(np.float32(scorer.beta))


def hot_boost(ngram: Sequence[str], hot_words: dict[str, np.float32]) -> np.float32:
    """The hot-word boost of an n-gram: every occurrence counts, summed in float32."""
    boost = np.float32(0.0)
    for word in ngram:
        if word in hot_words:
            boost = np.float32(boost + hot_words[word])
    return boost


def close_word(score: np.ndarray, term: np.ndarray, beta: float) -> np.ndarray:
    """score + term + beta where a space closes a word: a float32 sum, then + beta in
    double, stored as a float (scores, terms: float32 scalars or arrays [n])."""
    summed = np.asarray(np.float32(score) + np.float32(term), np.float32)
    return (summed.astype(np.float64) + beta).astype(np.float32)


def end_word(score: np.ndarray, term: np.ndarray, beta: float) -> np.ndarray:
    """score + (term + beta) for the unfinished last word (DecoderState::decode:
    ``float score = lm * alpha; score += beta; total += score``)."""
    last = (np.asarray(term, np.float32).astype(np.float64) + beta).astype(np.float32)
    return (np.asarray(score, np.float32) + last).astype(np.float32)


def check_probs(probs: np.ndarray, n_classes: int) -> np.ndarray:
    """probs as float64 [T, n_classes], or a DecodeError naming the expected shape."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != n_classes:
        shape = f"[T, {n_classes}] (alphabet size + blank), got {list(probs.shape)}"
        raise DecodeError(f"probabilities must be {shape}; check the alphabet")
    return probs


class ArcLists:
    """The vocabulary FST's transition table [S, L] as lists of labels per state:
    labels of state s are label[start[s]:start[s + 1]] (class ids, FST label - 1)."""

    def __init__(self, table: np.ndarray, blank: int):
        valid = table >= 0
        valid[:, blank + 1 :] = False  # the blank has no arc
        self.start = np.concatenate([[0], np.cumsum(valid.sum(1))])
        self.label = np.nonzero(valid)[1] - 1  # FST label = class + 1


class BeamSearchBase:
    """Streaming decoder state (DecoderState): ``next`` per chunk of probabilities, then
    ``decode``. labels: the model's alphabet (blank is index len(labels)).

    Holds what all implementations share: the checked settings, the scorer's FST as a
    transition table, the LM term per n-gram (alpha/beta rounding and hot words
    included, cached), the step count, and turning labels into a Candidate.
    """

    def __init__(
        self,
        labels: list[str],
        beam_width: int,
        scorer: Scorer | None = None,
        hot_words: dict[str, float] | None = None,
        cutoff_prob: float = CUTOFF_PROB,
        cutoff_top_n: int = CUTOFF_TOP_N,
    ):
        if beam_width < 1:
            raise DecodeError(f"beam width must be >= 1, got {beam_width}")
        if hot_words and scorer is None:
            raise DecodeError("hot words need a scorer (DS_ERR_SCORER_NOT_ENABLED); pass scorer=")
        self.labels, self.beam_width, self.scorer = list(labels), beam_width, scorer
        self.hot_words = {w: np.float32(b) for w, b in (hot_words or {}).items()}
        self.cutoff_prob, self.cutoff_top_n = cutoff_prob, cutoff_top_n
        self.blank = len(self.labels)
        self.space = self.labels.index(" ") if " " in self.labels else -1
        self.utf8 = bool(scorer and scorer.utf8)
        self.bytes_mode = is_byte_labels(self.labels)
        if scorer is not None and self.utf8 != self.bytes_mode:
            model = "a bytes output mode model" if self.bytes_mode else "an alphabet model"
            kind = "a UTF-8" if self.utf8 else "a word"
            raise DecodeError(
                f"{scorer.file.path} is {kind} scorer but this is {model}, which needs a "
                f"{'word' if self.utf8 else 'UTF-8'} scorer; build the scorer for this model"
            )
        self.alpha = self.beta = 0.0
        self.table = self.finals = None
        self.root_state = 0
        if scorer is not None:
            fst = scorer.file.fst
            self.alpha, self.beta = rounded_alpha_beta(scorer)
            # One extra column so the blank's FST label (blank + 1) is a valid "no arc".
            self.table = fst.transition_table(self.blank + 1)
            self.finals = np.isfinite(fst.states["final"])
            self.root_state = int(fst.start)
        self._lm_cache: dict[tuple[str, ...], tuple[np.float32, np.float32]] = {}
        self.time = 0  # steps consumed, expanding or not
        self.expanding = False

    def _first_expanding(self, probs: np.ndarray) -> int:
        """Row of probs [T, C] where expansion starts (T: none): the client skips steps
        until the first with P(blank) < START_BLANK_PROB, then expands every step."""
        if self.expanding:
            return 0
        hits = np.flatnonzero(probs[:, self.blank] < START_BLANK_PROB)
        self.expanding = bool(len(hits))
        return int(hits[0]) if len(hits) else len(probs)

    def lm_terms(self, ngram: tuple[str, ...]) -> tuple[np.float32, np.float32]:
        """(alpha * (LM + hot boost), added with beta where a space closes the n-gram's
        last word; alpha * LM, added with beta for the unfinished last word), float32."""
        hit = self._lm_cache.get(ngram)
        if hit is None:
            lm = self.scorer.log_cond_prob(ngram, len(ngram) < self.scorer.order)
            boost = hot_boost(ngram, self.hot_words)
            hit = (np.float32((lm + float(boost)) * self.alpha), np.float32(lm * self.alpha))
            self._lm_cache[ngram] = hit
        return hit

    def _candidate(self, tokens: list[int], steps: list[int], score: float) -> Candidate:
        """A Candidate of labels tokens [n] at timesteps steps [n]."""
        if self.bytes_mode:  # UTF8Alphabet: label = byte - 1
            text = bytes_text(label_bytes(tokens))
        else:
            text = "".join(self.labels[t] for t in tokens)
        return Candidate(text, float(score), tokens, steps)


def best_first(scores: np.ndarray, chars: np.ndarray, num_results: int) -> np.ndarray:
    """Rows of the best num_results prefixes by (score desc, last label asc) [n]
    (prefix_compare), from scores [N] float32 and last labels chars [N]."""
    return np.lexsort((chars, -scores))[:num_results]
