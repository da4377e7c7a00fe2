"""CTC prefix beam search in numpy arrays: the fallback where no C compiler exists.

Why it exists: the C kernel (dstorch.decoder.kernel) needs a compiler at first use; where
there is none (or with DSTORCH_DECODER=python) this gives the same candidates in pure
numpy, much faster than the reference. The reference keeps one Python object per prefix
and scores every (prefix, class) pair. Here the beam is a few packed numpy arrays
(beam_state.Beam) and a step is a fixed number of array operations over only the pairs
that can matter: with a scorer, those the vocabulary FST allows; without one, those not
provably below beam_width others. The arithmetic is the reference's, operation for
operation (float32 scores in the client's order), so both give bit-identical candidates
(tests/decoder/test_parity.py checks it).

Prefixes are identified by a 64-bit hash of their label string instead of trie nodes,
which is all the client's trie does: find "prefix + c" among the prefixes. Labels and
timesteps live in two garbage-collected parent-pointer pools (prefix_pool), so memory
stays bounded on long streams. UTF-8 scorers are left to the reference.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from dstorch.decoder import beam_state as bs
from dstorch.decoder.base import (
    NEG_INF,
    ArcLists,
    BeamSearchBase,
    Candidate,
    DecodeError,
    best_first,
    check_probs,
    close_word,
    end_word,
    keeps_all,
    log_sum_exp,
    pruned_rows,
)
from dstorch.decoder.beam_state import Beam
from dstorch.decoder.prefix_pool import Pool

_F32_NEG_INF = np.float32(NEG_INF)


class Step(NamedTuple):
    """One time step's constants: its number t, the classes not pruned cidx [K], their
    float32 log probs lp [K], the column of each class class_pos [C] (-1: pruned), and
    the min-cutoff (None: no pruning)."""

    t: int
    cidx: np.ndarray
    lp: np.ndarray
    class_pos: np.ndarray
    cutoff: np.float32 | None


class ArrayBeamSearch(BeamSearchBase):
    """The reference's results from array operations (not for UTF-8 scorers): ``next``
    per chunk of probabilities [T, C], ``decode`` for the best candidates."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.utf8:
            raise DecodeError("UTF-8 scorers need the reference search; use make_search")
        self.arcs = ArcLists(self.table, self.blank) if self.table is not None else None
        self.label_array = np.array(self.labels + [""], dtype=object)
        self.all_classes = np.arange(self.blank + 1)
        self.beam = Beam.root(self.root_state)
        self.tokens, self.steps = Pool(), Pool()

    def next(self, probs: np.ndarray) -> None:
        """Advance over probabilities [T, C] (softmax output, C = len(labels) + 1)."""
        probs = check_probs(probs, self.blank + 1)
        first = self._first_expanding(probs)
        cidx, lp, nk = pruned_rows(probs[first:], self.cutoff_prob, self.cutoff_top_n)
        with np.errstate(invalid="ignore", divide="ignore"):  # -inf - -inf, log(0): masked
            for j, row in enumerate(probs[first:]):
                step = self._prepare(self.time + first + j, row, cidx[j, : nk[j]], lp[j, : nk[j]])
                self._step(step)
                self._collect_garbage()
        self.time += len(probs)

    def _prepare(self, t: int, row: np.ndarray, cidx: np.ndarray, lp: np.ndarray) -> Step:
        """The Step at time t: probabilities row [C], classes kept cidx [K], logs lp [K]."""
        if keeps_all(self.cutoff_prob, self.cutoff_top_n, self.blank + 1):
            cidx = class_pos = self.all_classes  # in pruned_rows' (natural) order
        else:
            cidx = cidx.astype(np.int64)
            class_pos = np.full(self.blank + 1, -1)
            class_pos[cidx] = np.arange(len(cidx))
        cutoff = None
        # The client partial_sorts when a scorer is set; _select leaves the beam in that
        # order, so a stable sort would only matter for the first step's single prefix.
        if self.scorer is not None and len(self.beam) == self.beam_width:
            p_blank = row[self.blank]
            log_blank = math.log(p_blank) if p_blank > 0 else NEG_INF
            last = float(self.beam.f[bs.F_SCORE, -1])  # float + double - double, to float
            cutoff = np.float32(last + log_blank - max(0.0, self.beta))
        return Step(t, cidx, lp, class_pos, cutoff)

    def _step(self, step: Step) -> None:
        """One time step (the reference's _step)."""
        beam, n = self.beam, len(self.beam)
        score, rows = beam.f[bs.F_SCORE], np.arange(n)
        kb = int(step.class_pos[self.blank])
        b_cur = np.full(n, NEG_INF, np.float32)
        if kb >= 0:
            visit = self._visits(step, rows, np.full(n, kb))
            b_cur = np.where(visit, score + step.lp[kb], _F32_NEG_INF)
        char = beam.i[bs.I_CHAR]
        kc = np.where(char >= 0, step.class_pos[np.maximum(char, 0)], -1)
        safe_kc = np.maximum(kc, 0)
        rep_ok = (kc >= 0) & self._visits(step, rows, safe_kc)
        rep = np.where(rep_ok, beam.f[bs.F_NB] + step.lp[safe_kc], _F32_NEG_INF)
        pi = bs.parent_rows(beam.i[bs.I_KEY], beam.i[bs.I_PKEY])
        e, cand = self._extensions(step, pi, kc)  # scored before the merge changes the beam
        old_ts = beam.i[bs.I_TS].copy()
        self._merge(step.t, pi, e, rep, b_cur, kc, kb, old_ts)
        self._select(step, *cand, old_ts)

    def _visits(self, step: Step, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """bool [m]: does the client visit (prefix rows[m], class cols[m])? (min-cutoff)"""
        score = self.beam.f[bs.F_SCORE, rows]
        ok = score > NEG_INF
        if step.cutoff is not None:
            ok &= step.lp[cols] + score >= step.cutoff
        return ok

    def _ext_at(
        self, step: Step, rows: np.ndarray, cols: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores [m] of beam[rows] + cidx[cols] (-inf: no such prefix) and FST states [m],
        element for element what the reference's _extensions puts in its matrix."""
        f, i, chars = self.beam.f, self.beam.i, step.cidx[cols]
        # Repeating the last label only extends paths that ended in a blank.
        base = np.where(i[bs.I_CHAR, rows] == chars, f[bs.F_B, rows], f[bs.F_SCORE, rows])
        ok = self._visits(step, rows, cols) & (chars != self.blank)
        nxt = None
        if self.table is not None:
            nxt = self.table[i[bs.I_STATE, rows], chars + 1]
            ok &= nxt >= 0  # outside the vocabulary trie: no such prefix
        ext = np.where(ok, step.lp[cols] + base, _F32_NEG_INF)
        if self.scorer is not None:
            at = np.flatnonzero((chars == self.space) & ok)
            if len(at):  # a word is complete: + alpha * (LM + hot boost) + beta
                terms = self._lm_terms(rows[at])[bs.F_LM_SPACE]
                ext[at] = close_word(ext[at], terms, self.beta)
        return ext, nxt

    def _lm_terms(self, rows: np.ndarray) -> np.ndarray:
        """float32 [5, len(rows)] rows of beam.f with the LM terms filled in."""
        f, o = self.beam.f, self.beam.o
        for r in rows[np.isnan(f[bs.F_LM_SPACE, rows])].tolist():
            ngram = o[bs.O_HIST, r] + (o[bs.O_WORD, r],)
            f[bs.F_LM_SPACE, r], f[bs.F_LM_END, r] = self.lm_terms(ngram)
        return f[:, rows]

    def _extensions(self, step: Step, pi: np.ndarray, kc: np.ndarray):
        """-> (score of parent + last label for each prefix [N], -inf where none; the new
        prefixes that may make the beam: rows [M], cols [M], scores [M], FST states)."""
        n, k = len(self.beam), len(step.cidx)
        has = (pi >= 0) & (kc >= 0)
        if self.arcs is not None:  # the vocabulary allows few labels per prefix
            rows, cols = bs.arc_pairs(self.arcs, self.beam.i[bs.I_STATE], step.class_pos)
            bound = NEG_INF
            vals, nxt = self._ext_at(step, rows, cols)
            dense = np.full((n, k), NEG_INF, np.float32)
            dense[rows, cols] = vals
            e = np.where(has, dense[pi, kc], _F32_NEG_INF)
        else:
            e = np.full(n, NEG_INF, np.float32)
            if has.any():
                e[has] = self._ext_at(step, pi[has], kc[has])[0]
            bound = self._lower_bound(step, pi, kc, has)
            rows, cols = bs.staircase(self.beam.f[bs.F_SCORE], self._limits(step, bound))
            vals, nxt = self._ext_at(step, rows, cols)
        # Extensions into a prefix already in the beam merge there: not new.
        consumed = np.zeros((n, k), bool)
        consumed[pi[has], kc[has]] = True
        keep = (vals > NEG_INF) & (vals >= bound) & ~consumed[rows, cols]
        return e, (rows[keep], cols[keep], vals[keep], None if nxt is None else nxt[keep])

    def _lower_bound(self, step: Step, pi: np.ndarray, kc: np.ndarray, has: np.ndarray) -> float:
        """A score at least beam_width new extensions reach (-inf: none known): the
        width-th best over all prefixes x the likeliest few classes. Below it, an
        extension has width better ones and cannot make the beam."""
        n, width, cidx = len(self.beam), self.beam_width, step.cidx
        if n * len(cidx) <= 4 * width:  # small beam: scoring every pair is as cheap
            return NEG_INF
        cols = np.argsort(-step.lp, kind="stable")
        cols = cols[(cidx[cols] != self.blank) & (cidx[cols] != self.space)]
        cols = cols[: -(-2 * width // n) + 1]
        rows, cols = np.repeat(np.arange(n), len(cols)), np.tile(cols, n)
        vals = self._ext_at(step, rows, cols)[0]
        merged = np.zeros((n, len(cidx)), bool)
        merged[pi[has], kc[has]] = True
        vals[merged[rows, cols]] = NEG_INF
        if np.count_nonzero(vals > NEG_INF) < width:
            return NEG_INF
        return float(np.partition(vals, len(vals) - width)[len(vals) - width])

    def _limits(self, step: Step, bound: float) -> np.ndarray:
        """float64 [K]: per class, the least prefix score whose extension may reach
        ``bound`` (+inf for the blank, which never extends)."""
        lp = step.lp.astype(np.float64)
        limit = bound - lp
        # Scores are float32 sums of these: keep a margin far above their rounding error.
        limit -= 1e-4 * (1.0 + abs(bound) + np.abs(lp)) if bound > NEG_INF else 0.0
        limit[step.cidx == self.blank] = np.inf
        return limit

    def _merge(self, t: int, pi, e, rep, b_cur, kc, kb: int, old_ts: np.ndarray) -> None:
        """Fold repeats, blanks and extensions into prefixes already in the beam at step
        t (the reference's _merge): arrays [N] of parent rows, extension, repeat and
        blank scores, label columns."""
        beam, n = self.beam, len(self.beam)
        nb = log_sum_exp(e, rep)
        ext_first = pi < np.arange(n)  # the parent comes first in the prefix loop
        rec = np.where(ext_first, (e > NEG_INF) & ~(e < rep), rep < e)
        rec &= ~((kb > kc) & (nb < b_cur))  # blank is visited after the label
        if rec.any():
            times = np.full(np.count_nonzero(rec), t)
            beam.i[bs.I_TS, rec] = self.steps.add(times, old_ts[pi[rec]])
        beam.f[bs.F_SCORE] = log_sum_exp(b_cur, nb)
        beam.f[bs.F_B], beam.f[bs.F_NB] = b_cur, nb

    def _select(self, step: Step, rows, cols, vals, nxt, old_ts: np.ndarray) -> None:
        """Keep the best beam_width of (updated prefixes + new extensions [M]).

        Ties go by label, then by position: the prefixes in beam order, then the
        extensions in (prefix, class) order, as the reference's _select sorts them.
        """
        beam, width, n, k = self.beam, self.beam_width, len(self.beam), len(step.cidx)
        scores = np.concatenate([beam.f[bs.F_SCORE], vals])
        chars = np.concatenate([beam.i[bs.I_CHAR], step.cidx[cols]])
        pos = np.concatenate([np.arange(n), n + rows * k + cols])
        sel = np.arange(len(scores))
        if len(scores) > width:  # only what ties with or beats the width-th can stay
            kth = np.partition(scores, len(scores) - width)[len(scores) - width]
            sel = np.flatnonzero(scores >= kth)
        order = sel[np.lexsort((pos[sel], chars[sel], -scores[sel]))][:width]
        is_new = order >= n
        picked = order[is_new] - n
        state = None if nxt is None else nxt[picked]
        new = self._children(
            step.t, rows[picked], chars[order[is_new]], vals[picked], state, old_ts
        )
        perm = order.copy()
        perm[is_new] = n + np.arange(len(picked))
        self.beam = beam.extend(new).take(perm)

    def _children(self, t: int, rows, chars, scores, state, old_ts) -> Beam:
        """New prefixes beam[rows] + chars [m] at step t scoring ``scores`` in FST
        ``state`` [m] (PathTrie::get_path_trie)."""
        m, i, o = len(rows), self.beam.i, self.beam.o[:, rows]
        f = np.empty((5, m), np.float32)
        f[bs.F_SCORE], f[bs.F_B], f[bs.F_NB], f[bs.F_LM_SPACE :] = scores, NEG_INF, scores, np.nan
        new_i = np.empty((6, m), np.int64)
        new_i[bs.I_CHAR], new_i[bs.I_PKEY] = chars, i[bs.I_KEY, rows]
        new_i[bs.I_KEY] = bs.child_keys(i[bs.I_KEY, rows], chars)
        new_i[bs.I_NODE] = self.tokens.add(chars, i[bs.I_NODE, rows])
        new_i[bs.I_TS] = self.steps.add(np.full(m, t), old_ts[rows])
        new_i[bs.I_STATE] = 0
        if state is not None:  # a finished word restarts the trie walk
            new_i[bs.I_STATE] = np.where(self.finals[state], self.root_state, state)
            words = o[bs.O_WORD].copy()
            o[bs.O_WORD] = words + self.label_array[chars]
            keep = self.scorer.order - 1
            for j in np.flatnonzero(chars == self.space).tolist():  # a word is complete
                o[bs.O_HIST, j] = (o[bs.O_HIST, j] + (words[j],))[-keep:] if keep else ()
                o[bs.O_WORD, j] = ""
        return Beam(f, new_i, o)

    def _collect_garbage(self) -> None:
        """Drop pool entries no prefix refers to any more (bounded memory on streams)."""
        i = self.beam.i
        if self.tokens.needs_collection():
            i[bs.I_NODE] = self.tokens.collect(i[bs.I_NODE])
        if self.steps.needs_collection():
            i[bs.I_TS] = self.steps.collect(i[bs.I_TS])

    def decode(self, num_results: int = 1) -> list[Candidate]:
        """Best candidates, with the unfinished last word scored (DecoderState::decode)."""
        beam = self.beam
        scores, chars = beam.f[bs.F_SCORE].copy(), beam.i[bs.I_CHAR]
        if self.scorer is not None:
            rows = np.flatnonzero((chars != -1) & (chars != self.space))
            if len(rows):
                terms = self._lm_terms(rows)[bs.F_LM_END]
                scores[rows] = end_word(scores[rows], terms, self.beta)
        rows = best_first(scores, chars, num_results)
        return [self._result(int(r), scores[r]) for r in rows]

    def _result(self, row: int, score: np.float32) -> Candidate:
        tokens = self.tokens.chain(int(self.beam.i[bs.I_NODE, row]))
        steps = self.steps.chain(int(self.beam.i[bs.I_TS, row]))
        return self._candidate(tokens, steps, score)
