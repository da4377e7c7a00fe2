"""CTC prefix beam search as DeepSpeech 0.9.3's client runs it.

Mirrors native_client/ctcdecode (ctc_beam_search_decoder.cpp, path_trie.cpp,
scorer.cpp): blank last, top-``cutoff_top_n`` pruning per step, no expansion until
P(blank) < 0.999, LM + beta at word ends restricted to the scorer's vocabulary trie,
min-cutoff pruning with a scorer, hot words, a final LM score for the last word.
Per step the (prefix x class) extensions are numpy arrays; per-prefix work is Python.
Scores are float32 in the client's operation order (prefixes often tie exactly in
float32; float64 would prune differently). Known difference: extensions scoring
-inf are dropped instead of occupying beam slots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dstorch.scorer import Scorer, child_units, completes_codepoint, unit_words

CUTOFF_TOP_N = 40
CUTOFF_PROB = 1.0
START_BLANK_PROB = 0.999  # expansion starts at the first step with P(blank) below this
STEP_SECONDS = 0.02  # 320 samples at 16 kHz
_FLT_MIN = float(np.finfo(np.float32).tiny)
NEG_INF = -math.inf


class DecodeError(ValueError):
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
    """Words with start/duration exactly as the native client's JSON output builds them."""
    words, word, start = [], "", 0.0
    times = candidate.start_times
    for i, label in enumerate(candidate.tokens):
        text = labels[label]
        if text != " ":
            if not word:
                start = times[i]
            word += text
        if text == " " or i == len(candidate.tokens) - 1:
            duration = float(np.float32(times[i]) - np.float32(start))  # float in client.cc
            words.append(WordTiming(word, start, max(duration, 0.0)))
            word, start = "", 0.0
    return words


def log_sum_exp(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Elementwise float32 log(e^x + e^y), -inf meaning "no path" (decoder_utils.h)."""
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    m = np.maximum(x, y)
    with np.errstate(invalid="ignore"):  # -inf - -inf where both are absent
        # expf/logf via float64 + rounding: glibc's are (nearly always) correctly
        # rounded, numpy's float32 SIMD versions are up to ~3 ulp off.
        total = _expf(x - m) + _expf(y - m)
        out = np.log(total.astype(np.float64)).astype(np.float32) + m
    return np.where(x == NEG_INF, y, np.where(y == NEG_INF, x, out))


def _expf(v: np.ndarray) -> np.ndarray:
    return np.exp(v.astype(np.float64)).astype(np.float32)


class _Node:
    """A prefix in the path trie; ``ts`` is a linked list (timestep, parent ts) or None."""

    __slots__ = tuple(
        "parent char children b_prev nb_prev score dstate ts exists ngram units".split()
    )

    def __init__(self, parent: _Node | None, char: int, dstate: int):
        self.parent, self.char, self.dstate = parent, char, dstate
        self.children: dict[int, _Node] = {}
        self.b_prev = self.nb_prev = self.score = NEG_INF
        self.ts: tuple | None = None
        self.exists = True
        self.ngram: tuple[str, ...] | None = None
        self.units: tuple[bytes, ...] = ()  # UTF-8 mode: trailing codepoints (bytes)


def _remove(node: _Node) -> None:
    """PathTrie::remove: mark dead, unlink dead leaves up the tree."""
    node.exists = False
    while node.parent is not None and not node.children and not node.exists:
        parent = node.parent
        del parent.children[node.char]
        node = parent


def pruned_log_probs(
    probs: np.ndarray, cutoff_prob: float, cutoff_top_n: int
) -> tuple[np.ndarray, np.ndarray]:
    """get_pruned_log_probs: probs [C] float64 -> (class ids [K], float32 log probs [K])."""
    idx = np.arange(len(probs))
    if cutoff_prob < 1.0 or cutoff_top_n < len(probs):
        idx = np.argsort(-probs, kind="stable")
        keep = min(cutoff_top_n, len(probs))
        if cutoff_prob < 1.0:
            reached = np.nonzero(np.cumsum(probs[idx]) >= cutoff_prob)[0]
            keep = min(keep, int(reached[0]) + 1 if len(reached) else len(probs))
        idx = idx[:keep]
    # The client computes log in double and stores it in a float.
    return idx, np.log(probs[idx] + _FLT_MIN).astype(np.float32)


def init_search(search, labels, beam_width, scorer, hot_words, cutoff_prob, cutoff_top_n) -> None:
    """Check and store the settings every beam-search implementation shares."""
    if beam_width < 1:
        raise DecodeError(f"beam width must be >= 1, got {beam_width}")
    if hot_words and scorer is None:
        raise DecodeError("hot words need a scorer (DS_ERR_SCORER_NOT_ENABLED); pass scorer=")
    search.labels, search.beam_width, search.scorer = list(labels), beam_width, scorer
    search.hot_words = {w: np.float32(b) for w, b in (hot_words or {}).items()}
    search.cutoff_prob, search.cutoff_top_n = cutoff_prob, cutoff_top_n
    search.blank = len(search.labels)
    search.space = search.labels.index(" ") if " " in search.labels else -1


def check_probs(probs: np.ndarray, n_classes: int) -> np.ndarray:
    """probs as float64 [T, n_classes], or a DecodeError naming the expected shape."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != n_classes:
        shape = f"[T, {n_classes}] (alphabet size + blank), got {list(probs.shape)}"
        raise DecodeError(f"probabilities must be {shape}; check the alphabet")
    return probs


class BeamSearch:
    """Streaming decoder state (DecoderState): ``next`` per chunk of probabilities, then
    ``decode``. labels: the model's alphabet (blank is index len(labels))."""

    def __init__(
        self,
        labels: list[str],
        beam_width: int,
        scorer: Scorer | None = None,
        hot_words: dict[str, float] | None = None,
        cutoff_prob: float = CUTOFF_PROB,
        cutoff_top_n: int = CUTOFF_TOP_N,
    ):
        init_search(self, labels, beam_width, scorer, hot_words, cutoff_prob, cutoff_top_n)
        self.utf8 = bool(scorer and scorer.utf8)
        self.table = self.finals = None
        if scorer is not None:
            # One extra column so the blank's FST label (blank + 1) is a valid "no arc".
            self.table = scorer.file.fst.transition_table(self.blank + 1)
            self.finals = np.isfinite(scorer.file.fst.states["final"])
        self.root = _Node(None, -1, scorer.file.fst.start if scorer is not None else 0)
        self.root.b_prev = self.root.score = 0.0
        self.beam = [self.root]
        self.time = 0
        self.expanding = False

    def next(self, probs: np.ndarray) -> None:
        """Advance over probabilities [T, C] (softmax output, C = len(labels) + 1)."""
        probs = check_probs(probs, self.blank + 1)
        for row in probs:
            if row[self.blank] < START_BLANK_PROB:
                self.expanding = True
            if self.expanding:
                self._step(row)
            self.time += 1

    def _step(self, row: np.ndarray) -> None:
        """One time step over probabilities row [C]; all scores float32 like the client."""
        beam = self.beam
        if self.scorer is not None:  # the client partial_sorts only when a scorer is set
            beam.sort(key=lambda nd: (-nd.score, nd.char))
        cidx, lp = pruned_log_probs(row, self.cutoff_prob, self.cutoff_top_n)
        n = len(beam)
        score = np.fromiter((nd.score for nd in beam), np.float32, n)
        chars = np.fromiter((nd.char for nd in beam), np.int64, n)
        mask = self._mask(score, lp, row)
        kpos = np.full(self.blank + 1, -1)
        kpos[cidx] = np.arange(len(cidx))
        kb = int(kpos[self.blank])
        b_cur = np.full(n, NEG_INF, np.float32)
        if kb >= 0:
            b_cur[mask[:, kb]] = (score + lp[kb])[mask[:, kb]]
        kc = np.where(chars >= 0, kpos[np.maximum(chars, 0)], -1)
        safe_kc = np.maximum(kc, 0)
        nb_prev = np.fromiter((nd.nb_prev for nd in beam), np.float32, n)
        rep_ok = (kc >= 0) & mask[np.arange(n), safe_kc]
        rep = np.where(rep_ok, nb_prev + lp[safe_kc], np.float32(NEG_INF))
        ext, nxt = self._extensions(beam, score, chars, cidx, lp, mask)
        old_ts = [nd.ts for nd in beam]
        self._merge(ext, rep, b_cur, kc, kb, old_ts)
        self._select(ext, nxt, cidx, old_ts)

    def _mask(self, score: np.ndarray, lp: np.ndarray, row: np.ndarray) -> np.ndarray:
        """[N, K] which (prefix, class) pairs the client visits (min-cutoff pruning)."""
        active = (score > NEG_INF)[:, None]
        if self.scorer is not None and len(score) == self.beam_width:
            p_blank = row[self.blank]
            log_blank = math.log(p_blank) if p_blank > 0 else NEG_INF
            beta = self._alpha_beta()[1]  # float + double - double, stored in a float
            min_cutoff = np.float32(float(score[-1]) + log_blank - max(0.0, beta))
            return active & (lp[None, :] + score[:, None] >= min_cutoff)
        return np.repeat(active, len(lp), axis=1)

    def _extensions(self, beam: list[_Node], score, chars, cidx, lp, mask):
        """Scores [N, K] of prefix + class (-inf where absent) and FST next states [N, K]."""
        n = len(beam)
        base = np.repeat(score[:, None], len(cidx), axis=1)
        same = chars[:, None] == cidx[None, :]
        # Repeating the last label only extends paths that ended in a blank.
        b_prev = np.fromiter((nd.b_prev for nd in beam), np.float32, n)
        base[same] = np.broadcast_to(b_prev[:, None], base.shape)[same]
        ext = lp[None, :] + base
        ext[~mask] = NEG_INF
        ext[:, cidx == self.blank] = NEG_INF
        nxt = None
        if self.table is not None:
            dstate = np.fromiter((nd.dstate for nd in beam), np.int64, n)
            nxt = self.table[dstate[:, None], cidx[None, :] + 1]
            ext[nxt < 0] = NEG_INF  # outside the vocabulary trie: no such prefix
        if self.scorer is not None:
            self._add_lm(beam, ext, cidx)
        return ext, nxt

    def _add_lm(self, beam: list[_Node], ext: np.ndarray, cidx: np.ndarray) -> None:
        """Add alpha * (LM + hot boost) + beta where an extension closes a scored unit."""
        if not self.utf8:
            cols = np.nonzero(cidx == self.space)[0]
            if len(cols):
                k = int(cols[0])
                for i in np.nonzero(ext[:, k] > NEG_INF)[0]:
                    ext[i, k] = self._scored(ext[i, k], self._ngram(beam[i]))
            return
        for i, k in zip(*np.nonzero(ext > NEG_INF), strict=True):
            units = child_units(beam[i].units, int(cidx[k]) + 1, self.scorer.order)
            if completes_codepoint(units):
                ext[i, k] = self._scored(ext[i, k], unit_words(units))

    def _alpha_beta(self) -> tuple[float, float]:
        # Scorer::reset_params takes floats, so the client's alpha/beta are float32 values.
        return float(np.float32(self.scorer.alpha)), float(np.float32(self.scorer.beta))

    def _lm(self, ngram: tuple[str, ...]) -> float:
        return self.scorer.log_cond_prob(ngram, len(ngram) < self.scorer.order)

    def _scored(self, log_p: np.float32, ngram: tuple[str, ...]) -> np.float32:
        """log_p + alpha * (LM + hot boost) + beta, rounded where the client rounds."""
        alpha, beta = self._alpha_beta()
        boost = np.float32(0.0)
        for word in ngram:  # every occurrence in the n-gram counts
            if word in self.hot_words:
                boost = np.float32(boost + self.hot_words[word])
        term = np.float32((self._lm(ngram) + float(boost)) * alpha)
        return np.float32(float(np.float32(log_p + term)) + beta)

    def _ngram(self, node: _Node) -> tuple[str, ...]:
        """Scorer::make_ngram (word mode): up to `order` words ending at node, cached."""
        if node.ngram is None:
            if self.utf8:
                node.ngram = unit_words(node.units)
                return node.ngram
            words, cur = [], node
            for _ in range(self.scorer.order):
                if cur is None or cur.char == -1:
                    break
                chars = []
                while cur.char not in (self.space, -1):
                    chars.append(self.labels[cur.char])
                    cur = cur.parent
                words.append("".join(reversed(chars)))
                cur = cur.parent
            node.ngram = tuple(reversed(words))
        return node.ngram

    def _merge(self, ext, rep, b_cur, kc, kb: int, old_ts: list) -> None:
        """Fold repeats, blanks and extensions into prefixes already in the beam.

        Extensions consumed here are set to -inf in ``ext``. Timesteps follow the
        client: the extension wins when it beats what the prefix accumulated before
        it in the client's loop order, unless the later blank path beats the total.
        """
        beam, n = self.beam, len(self.beam)
        row_of = {id(nd): i for i, nd in enumerate(beam)}
        pi = np.fromiter((row_of.get(id(nd.parent), -1) for nd in beam), np.int64, n)
        has = (pi >= 0) & (kc >= 0)
        e = np.full(n, NEG_INF, np.float32)
        e[has] = ext[pi[has], kc[has]]
        ext[pi[has], kc[has]] = NEG_INF
        nb = log_sum_exp(e, rep)
        ext_first = pi < np.arange(n)  # the parent comes first in the prefix loop
        rec = np.where(ext_first, (e > NEG_INF) & ~(e < rep), rep < e)
        rec &= ~((kb > kc) & (nb < b_cur))  # blank is visited after the label
        score = log_sum_exp(b_cur, nb)
        for j in np.nonzero(rec)[0].tolist():
            beam[j].ts = (self.time, old_ts[pi[j]])
        for nd, b, nbv, sc in zip(beam, b_cur.tolist(), nb.tolist(), score.tolist(), strict=True):
            nd.b_prev, nd.nb_prev, nd.score = b, nbv, sc

    def _select(
        self, ext: np.ndarray, nxt: np.ndarray | None, cidx: np.ndarray, old_ts: list
    ) -> None:
        """Keep the best beam_width of (updated prefixes + new extensions)."""
        beam, width, n = self.beam, self.beam_width, len(self.beam)
        flat = ext.ravel()
        cand = np.nonzero(flat > NEG_INF)[0]
        if len(cand) > width:  # below the width-th new one cannot win; ties: lexsort decides
            cand = cand[flat[cand] >= np.partition(flat[cand], len(cand) - width)[-width]]
        rows, cols = np.divmod(cand, len(cidx))
        scores = np.concatenate([np.fromiter((nd.score for nd in beam), np.float32, n), flat[cand]])
        chars = np.concatenate([np.fromiter((nd.char for nd in beam), np.int64, n), cidx[cols]])
        order = np.lexsort((chars, -scores))[:width]  # prefix_compare: score, then label
        kept, new_beam = np.zeros(n, bool), []
        for o in order.tolist():
            if o < n:
                kept[o] = True
                new_beam.append(beam[o])
                continue
            i, k = int(rows[o - n]), int(cols[o - n])
            state = int(nxt[i, k]) if nxt is not None else 0
            node = self._child(beam[i], int(cidx[k]), state, old_ts[i])
            node.nb_prev = node.score = float(ext[i, k])
            new_beam.append(node)
        for j in np.nonzero(~kept)[0].tolist():
            _remove(beam[j])
        self.beam = new_beam

    def _child(self, parent: _Node, char: int, state: int, parent_ts: tuple | None) -> _Node:
        """PathTrie::get_path_trie for a prefix not in the beam (new or revived)."""
        if self.finals is not None and self.finals[state]:
            state = self.root.dstate  # a finished word restarts the trie walk
        node = parent.children.get(char)
        if node is None:
            node = parent.children[char] = _Node(parent, char, state)
            if self.utf8:
                node.units = child_units(parent.units, char + 1, self.scorer.order)
        node.exists, node.b_prev = True, NEG_INF
        node.ts = (self.time, parent_ts)
        return node

    def decode(self, num_results: int = 1) -> list[Candidate]:
        """Best candidates, with the unfinished last word scored (DecoderState::decode)."""
        scores = {id(nd): np.float32(nd.score) for nd in self.beam}
        if self.scorer is not None:
            alpha, beta = self._alpha_beta()
            for nd in self.beam:
                if self.utf8:
                    unscored = not (nd.char != -1 and completes_codepoint(nd.units))
                else:
                    unscored = nd.parent is not None and nd.char != self.space
                if unscored:  # float score = lm * alpha; score += beta; total += score
                    term = np.float32(float(np.float32(self._lm(self._ngram(nd)) * alpha)) + beta)
                    scores[id(nd)] = np.float32(scores[id(nd)] + term)
        ranked = sorted(self.beam, key=lambda nd: (-scores[id(nd)], nd.char))
        return [self._candidate(nd, scores[id(nd)]) for nd in ranked[:num_results]]

    def _candidate(self, node: _Node, score: float) -> Candidate:
        tokens, steps, ts = [], [], node.ts
        while node.parent is not None:
            tokens.append(node.char)
            node = node.parent
        while ts is not None:
            steps.append(ts[0])
            ts = ts[1]
        tokens.reverse()
        steps.reverse()
        if self.utf8:
            text = bytes(t + 1 for t in tokens).decode("utf-8", "replace")
        else:
            text = "".join(self.labels[t] for t in tokens)
        return Candidate(text, float(score), tokens, steps)


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
    For probabilities (what the client feeds its decoder) or streaming, use BeamSearch.
    """
    search = BeamSearch(labels, beam_width, scorer, hot_words, cutoff_prob, cutoff_top_n)
    search.next(np.exp(np.asarray(log_probs, dtype=np.float64)))
    return search.decode(num_results)
