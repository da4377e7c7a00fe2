"""Array-based CTC prefix beam search: the results of dstorch.decode.BeamSearch, faster.

decode.BeamSearch keeps one Python object per prefix and scores every (prefix, class)
pair. Here the beam is a few packed numpy arrays (beam_state.Beam) and a step is a fixed
number of array operations over only the pairs that can matter: with a scorer, those
the vocabulary FST allows; without one, those not provably below beam_width others.
The arithmetic is decode.py's, operation for operation (float32 scores in the client's
order), so both give bit-identical candidates (tests/test_transcribe.py checks it).

Prefixes are identified by a 64-bit hash of their label string instead of trie nodes,
which is all the client's trie does: find "prefix + c" among the prefixes. Labels and
timesteps live in two garbage-collected parent-pointer pools (prefix_pool), so memory
stays bounded on long streams. UTF-8 scorers are left to decode.BeamSearch.
"""

from __future__ import annotations

import math

import numpy as np

from dstorch import beam_state as S
from dstorch.beam_state import NEG_INF, ArcLists, Beam
from dstorch.decode import (
    CUTOFF_PROB,
    CUTOFF_TOP_N,
    START_BLANK_PROB,
    BeamSearch,
    Candidate,
    DecodeError,
    check_probs,
    init_search,
    pruned_log_probs,
)
from dstorch.prefix_pool import Pool
from dstorch.scorer import Scorer

_F32_NEG_INF = np.float32(NEG_INF)
_FLT_MIN = float(np.finfo(np.float32).tiny)


class FastBeamSearch:
    """Drop-in replacement for decode.BeamSearch (not for UTF-8 scorers): ``next`` per
    chunk of probabilities [T, C], ``decode`` for the best candidates."""

    def __init__(
        self,
        labels: list[str],
        beam_width: int,
        scorer: Scorer | None = None,
        hot_words: dict[str, float] | None = None,
        cutoff_prob: float = CUTOFF_PROB,
        cutoff_top_n: int = CUTOFF_TOP_N,
    ):
        if scorer is not None and scorer.utf8:
            raise DecodeError("UTF-8 scorers need decode.BeamSearch; use make_search")
        init_search(self, labels, beam_width, scorer, hot_words, cutoff_prob, cutoff_top_n)
        self.table = self.finals = self.arcs = None
        self.root_state = 0
        if scorer is not None:
            fst = scorer.file.fst
            # One extra column so the blank's FST label (blank + 1) is a valid "no arc".
            self.table = fst.transition_table(self.blank + 1)
            self.finals = np.isfinite(fst.states["final"])
            self.arcs = ArcLists(self.table, self.blank)
            self.root_state = int(fst.start)
            # Scorer::reset_params takes floats: the client's alpha/beta are float32 values.
            self.alpha = float(np.float32(scorer.alpha))
            self.beta = float(np.float32(scorer.beta))
        self.label_array = np.array(self.labels + [""], dtype=object)
        self.all_classes = np.arange(self.blank + 1)
        self.beam = Beam.root(self.root_state)
        self.tokens, self.steps = Pool(), Pool()
        self._lm_cache: dict[tuple[str, ...], tuple[np.float32, np.float32]] = {}
        self.time = 0
        self.expanding = False

    def next(self, probs: np.ndarray) -> None:
        """Advance over probabilities [T, C] (softmax output, C = len(labels) + 1)."""
        probs = check_probs(probs, self.blank + 1)
        # Nothing pruned (alphabets up to cutoff_top_n classes): every step's log probs in
        # one call, the values pruned_log_probs gives row by row.
        natural = self.cutoff_prob >= 1.0 and self.cutoff_top_n >= self.blank + 1
        lps = np.log(probs + _FLT_MIN).astype(np.float32) if natural else None
        with np.errstate(invalid="ignore", divide="ignore"):  # -inf - -inf, log(0): masked
            for t, row in enumerate(probs):
                if row[self.blank] < START_BLANK_PROB:
                    self.expanding = True
                if self.expanding:
                    self._step(row, None if lps is None else lps[t])
                    self._collect_garbage()
                self.time += 1

    def _step(self, row: np.ndarray, lp: np.ndarray | None) -> None:
        """One time step over probabilities row [C] (decode.BeamSearch._step); lp [C]:
        their float32 logs when no class is pruned."""
        self._prepare(row, lp)
        beam, n = self.beam, len(self.beam)
        score, rows = beam.f[S.F_SCORE], np.arange(n)
        kb = int(self.class_pos[self.blank])
        b_cur = np.full(n, NEG_INF, np.float32)
        if kb >= 0:
            visit = self._visits(rows, np.full(n, kb))
            b_cur = np.where(visit, score + self.lp[kb], _F32_NEG_INF)
        char = beam.i[S.I_CHAR]
        kc = np.where(char >= 0, self.class_pos[np.maximum(char, 0)], -1)
        safe_kc = np.maximum(kc, 0)
        rep_ok = (kc >= 0) & self._visits(rows, safe_kc)
        rep = np.where(rep_ok, beam.f[S.F_NB] + self.lp[safe_kc], _F32_NEG_INF)
        pi = S.parent_rows(beam.i[S.I_KEY], beam.i[S.I_PKEY])
        e, cand = self._extensions(pi, kc)  # scored before the merge changes the beam
        old_ts = beam.i[S.I_TS].copy()
        self._merge(pi, e, rep, b_cur, kc, kb, old_ts)
        self._select(*cand, old_ts)

    def _prepare(self, row: np.ndarray, lp: np.ndarray | None) -> None:
        """Per-step constants: pruned classes, their float32 log probs, column of each
        class (-1: pruned), the min-cutoff (None: no pruning)."""
        if lp is not None:
            self.cidx = self.class_pos = self.all_classes
            self.lp = lp
        else:
            self.cidx, self.lp = pruned_log_probs(row, self.cutoff_prob, self.cutoff_top_n)
            self.class_pos = np.full(self.blank + 1, -1)
            self.class_pos[self.cidx] = np.arange(len(self.cidx))
        self.cutoff = None
        if self.scorer is None:
            return
        # The client partial_sorts when a scorer is set; _select leaves the beam in that
        # order, so a stable sort would only matter for the first step's single prefix.
        beam = self.beam
        if len(beam) == self.beam_width:
            p_blank = row[self.blank]
            log_blank = math.log(p_blank) if p_blank > 0 else NEG_INF
            last = float(beam.f[S.F_SCORE, -1])  # float + double - double, to float
            self.cutoff = np.float32(last + log_blank - max(0.0, self.beta))

    def _visits(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """bool [m]: does the client visit (prefix rows[m], class cols[m])? (min-cutoff)"""
        score = self.beam.f[S.F_SCORE, rows]
        ok = score > NEG_INF
        if self.cutoff is not None:
            ok &= self.lp[cols] + score >= self.cutoff
        return ok

    def _ext_at(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores [m] of beam[rows] + cidx[cols] (-inf: no such prefix) and FST states [m],
        element for element what decode.BeamSearch._extensions puts in its matrix."""
        f, i, chars = self.beam.f, self.beam.i, self.cidx[cols]
        # Repeating the last label only extends paths that ended in a blank.
        base = np.where(i[S.I_CHAR, rows] == chars, f[S.F_B, rows], f[S.F_SCORE, rows])
        ok = self._visits(rows, cols) & (chars != self.blank)
        nxt = None
        if self.table is not None:
            nxt = self.table[i[S.I_STATE, rows], chars + 1]
            ok &= nxt >= 0  # outside the vocabulary trie: no such prefix
        ext = np.where(ok, self.lp[cols] + base, _F32_NEG_INF)
        if self.scorer is not None:
            at = np.flatnonzero((chars == self.space) & ok)
            if len(at):  # a word is complete: + alpha * (LM + hot boost) + beta
                terms = self._lm_terms(rows[at])[S.F_LM_SPACE]
                summed = (ext[at] + terms).astype(np.float64)  # float32 sum, double + beta
                ext[at] = (summed + self.beta).astype(np.float32)
        return ext, nxt

    def _lm_terms(self, rows: np.ndarray) -> np.ndarray:
        """float32 [5, len(rows)] rows of beam.f with the LM terms filled in."""
        f, o = self.beam.f, self.beam.o
        for r in rows[np.isnan(f[S.F_LM_SPACE, rows])].tolist():
            ngram = o[S.O_HIST, r] + (o[S.O_WORD, r],)
            f[S.F_LM_SPACE, r], f[S.F_LM_END, r] = self._terms_of(ngram)
        return f[:, rows]

    def _terms_of(self, ngram: tuple[str, ...]) -> tuple[np.float32, np.float32]:
        """(alpha * (LM + hot boost), for a space; alpha * LM, for the unfinished end)."""
        hit = self._lm_cache.get(ngram)
        if hit is None:
            lm = self.scorer.log_cond_prob(ngram, len(ngram) < self.scorer.order)
            boost = np.float32(0.0)
            for word in ngram:  # every occurrence in the n-gram counts
                if word in self.hot_words:
                    boost = np.float32(boost + self.hot_words[word])
            hit = (np.float32((lm + float(boost)) * self.alpha), np.float32(lm * self.alpha))
            self._lm_cache[ngram] = hit
        return hit

    def _extensions(self, pi: np.ndarray, kc: np.ndarray):
        """-> (score of parent + last label for each prefix [N], -inf where none; the new
        prefixes that may make the beam: rows [M], cols [M], scores [M], FST states)."""
        n, k = len(self.beam), len(self.cidx)
        has = (pi >= 0) & (kc >= 0)
        if self.arcs is not None:  # the vocabulary allows few labels per prefix
            bound, (rows, cols) = NEG_INF, self.arcs.pairs(self.beam.i[S.I_STATE], self.class_pos)
            vals, nxt = self._ext_at(rows, cols)
            dense = np.full((n, k), NEG_INF, np.float32)
            dense[rows, cols] = vals
            e = np.where(has, dense[pi, kc], _F32_NEG_INF)
        else:
            e = np.full(n, NEG_INF, np.float32)
            if has.any():
                e[has] = self._ext_at(pi[has], kc[has])[0]
            bound = self._lower_bound(pi, kc, has)
            rows, cols = S.staircase(self.beam.f[S.F_SCORE], self._limits(bound))
            vals, nxt = self._ext_at(rows, cols)
        # Extensions into a prefix already in the beam merge there: not new.
        consumed = np.zeros((n, k), bool)
        consumed[pi[has], kc[has]] = True
        keep = (vals > NEG_INF) & (vals >= bound) & ~consumed[rows, cols]
        return e, (rows[keep], cols[keep], vals[keep], None if nxt is None else nxt[keep])

    def _lower_bound(self, pi: np.ndarray, kc: np.ndarray, has: np.ndarray) -> float:
        """A score at least beam_width new extensions reach (-inf: none known): the
        width-th best over all prefixes x the likeliest few classes. Below it, an
        extension has width better ones and cannot make the beam."""
        n, width = len(self.beam), self.beam_width
        if n * len(self.cidx) <= 4 * width:  # small beam: scoring every pair is as cheap
            return NEG_INF
        cols = np.argsort(-self.lp, kind="stable")
        cols = cols[(self.cidx[cols] != self.blank) & (self.cidx[cols] != self.space)]
        cols = cols[: -(-2 * width // n) + 1]
        rows, cols = np.repeat(np.arange(n), len(cols)), np.tile(cols, n)
        vals = self._ext_at(rows, cols)[0]
        merged = np.zeros((n, len(self.cidx)), bool)
        merged[pi[has], kc[has]] = True
        vals[merged[rows, cols]] = NEG_INF
        if np.count_nonzero(vals > NEG_INF) < width:
            return NEG_INF
        return float(np.partition(vals, len(vals) - width)[len(vals) - width])

    def _limits(self, bound: float) -> np.ndarray:
        """float64 [K]: per class, the least prefix score whose extension may reach
        ``bound`` (+inf for the blank, which never extends)."""
        lp = self.lp.astype(np.float64)
        limit = bound - lp
        # Scores are float32 sums of these: keep a margin far above their rounding error.
        limit -= 1e-4 * (1.0 + abs(bound) + np.abs(lp)) if bound > NEG_INF else 0.0
        limit[self.cidx == self.blank] = np.inf
        return limit

    def _merge(self, pi, e, rep, b_cur, kc, kb: int, old_ts: np.ndarray) -> None:
        """Fold repeats, blanks and extensions into prefixes already in the beam
        (decode.BeamSearch._merge): arrays [N] of parent rows, extension, repeat and
        blank scores, label columns."""
        beam, n = self.beam, len(self.beam)
        nb = S.log_sum_exp(e, rep)
        ext_first = pi < np.arange(n)  # the parent comes first in the prefix loop
        rec = np.where(ext_first, (e > NEG_INF) & ~(e < rep), rep < e)
        rec &= ~((kb > kc) & (nb < b_cur))  # blank is visited after the label
        if rec.any():
            times = np.full(np.count_nonzero(rec), self.time)
            beam.i[S.I_TS, rec] = self.steps.add(times, old_ts[pi[rec]])
        beam.f[S.F_SCORE] = S.log_sum_exp(b_cur, nb)
        beam.f[S.F_B], beam.f[S.F_NB] = b_cur, nb

    def _select(self, rows, cols, vals, nxt, old_ts: np.ndarray) -> None:
        """Keep the best beam_width of (updated prefixes + new extensions [M]).

        Ties go by label, then by position: the prefixes in beam order, then the
        extensions in (prefix, class) order, as decode.BeamSearch._select sorts them.
        """
        beam, width, n = self.beam, self.beam_width, len(self.beam)
        scores = np.concatenate([beam.f[S.F_SCORE], vals])
        chars = np.concatenate([beam.i[S.I_CHAR], self.cidx[cols]])
        pos = np.concatenate([np.arange(n), n + rows * len(self.cidx) + cols])
        sel = np.arange(len(scores))
        if len(scores) > width:  # only what ties with or beats the width-th can stay
            kth = np.partition(scores, len(scores) - width)[len(scores) - width]
            sel = np.flatnonzero(scores >= kth)
        order = sel[np.lexsort((pos[sel], chars[sel], -scores[sel]))][:width]
        is_new = order >= n
        picked = order[is_new] - n
        state = None if nxt is None else nxt[picked]
        new = self._children(rows[picked], chars[order[is_new]], vals[picked], state, old_ts)
        perm = order.copy()
        perm[is_new] = n + np.arange(len(picked))
        self.beam = beam.extend(new).take(perm)

    def _children(self, rows, chars, scores, state, old_ts) -> Beam:
        """New prefixes beam[rows] + chars [m] scoring ``scores`` in FST ``state`` [m]
        (PathTrie::get_path_trie)."""
        m, i, o = len(rows), self.beam.i, self.beam.o[:, rows]
        f = np.empty((5, m), np.float32)
        f[S.F_SCORE], f[S.F_B], f[S.F_NB], f[S.F_LM_SPACE :] = scores, NEG_INF, scores, np.nan
        new_i = np.empty((6, m), np.int64)
        new_i[S.I_CHAR], new_i[S.I_PKEY] = chars, i[S.I_KEY, rows]
        new_i[S.I_KEY] = S.child_keys(i[S.I_KEY, rows], chars)
        new_i[S.I_NODE] = self.tokens.add(chars, i[S.I_NODE, rows])
        new_i[S.I_TS] = self.steps.add(np.full(m, self.time), old_ts[rows])
        new_i[S.I_STATE] = 0
        if state is not None:  # a finished word restarts the trie walk
            new_i[S.I_STATE] = np.where(self.finals[state], self.root_state, state)
            words = o[S.O_WORD].copy()
            o[S.O_WORD] = words + self.label_array[chars]
            keep = self.scorer.order - 1
            for j in np.flatnonzero(chars == self.space).tolist():  # a word is complete
                o[S.O_HIST, j] = (o[S.O_HIST, j] + (words[j],))[-keep:] if keep else ()
                o[S.O_WORD, j] = ""
        return Beam(f, new_i, o)

    def _collect_garbage(self) -> None:
        """Drop pool entries no prefix refers to any more (bounded memory on streams)."""
        i = self.beam.i
        if self.tokens.needs_collection():
            i[S.I_NODE] = self.tokens.collect(i[S.I_NODE])
        if self.steps.needs_collection():
            i[S.I_TS] = self.steps.collect(i[S.I_TS])

    def decode(self, num_results: int = 1) -> list[Candidate]:
        """Best candidates, with the unfinished last word scored (DecoderState::decode)."""
        beam = self.beam
        scores, chars = beam.f[S.F_SCORE].copy(), beam.i[S.I_CHAR]
        if self.scorer is not None:
            rows = np.flatnonzero((chars != -1) & (chars != self.space))
            if len(rows):  # float score = lm * alpha; score += beta; total += score
                terms = self._lm_terms(rows)[S.F_LM_END].astype(np.float64)
                scores[rows] += (terms + self.beta).astype(np.float32)
        ranked = np.lexsort((chars, -scores))[:num_results]
        return [self._candidate(int(r), scores[r]) for r in ranked]

    def _candidate(self, row: int, score: np.float32) -> Candidate:
        tokens = self.tokens.chain(int(self.beam.i[S.I_NODE, row]))
        steps = self.steps.chain(int(self.beam.i[S.I_TS, row]))
        return Candidate("".join(self.labels[t] for t in tokens), float(score), tokens, steps)


def make_search(
    labels: list[str],
    beam_width: int,
    scorer: Scorer | None = None,
    hot_words: dict[str, float] | None = None,
) -> FastBeamSearch | BeamSearch:
    """The fastest exact decoder: the C kernel (decode_kernel.BACKEND == "c"), else
    FastBeamSearch; decode.BeamSearch for UTF-8 ("bytes output") scorers."""
    if scorer is not None and scorer.utf8:
        return BeamSearch(labels, beam_width, scorer, hot_words)
    from dstorch import decode_kernel  # imports this module: not at the top

    if decode_kernel.BACKEND == "c":
        return decode_kernel.KernelBeamSearch(labels, beam_width, scorer, hot_words)
    return FastBeamSearch(labels, beam_width, scorer, hot_words)


def fast_beam_search(
    log_probs: np.ndarray,
    labels: list[str],
    beam_width: int,
    scorer: Scorer | None = None,
    hot_words: dict[str, float] | None = None,
    num_results: int = 1,
) -> list[Candidate]:
    """decode.beam_search through make_search: the same candidates, much sooner.

    log_probs [T, C] natural-log softmax, blank = C - 1 = len(labels).
    """
    search = make_search(labels, beam_width, scorer, hot_words)
    search.next(np.exp(np.asarray(log_probs, dtype=np.float64)))
    return search.decode(num_results)
