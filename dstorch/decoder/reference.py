"""CTC prefix beam search as DeepSpeech 0.9.3's client runs it: the test oracle.

Why it exists: it is the readable one. It mirrors native_client/ctcdecode
(ctc_beam_search_decoder.cpp, path_trie.cpp, scorer.cpp) structure for structure: a path
trie of Python objects, blank last, top-``cutoff_top_n`` pruning per step, no expansion
until P(blank) < 0.999, LM + beta at word ends restricted to the scorer's vocabulary trie,
min-cutoff pruning with a scorer, hot words, a final LM score for the last word. The
C kernel's search (native) is tested against it. It is also the one that handles
UTF-8 ("bytes output") scorers. Per step the (prefix x class) extensions are numpy
arrays; per-prefix work is Python. Scores are float32 in the client's operation order
(prefixes often tie exactly in float32; float64 would prune differently). Known
difference: extensions scoring -inf are dropped instead of occupying beam slots.
"""

from __future__ import annotations

import math

import numpy as np

from dstorch.decoder.base import (
    NEG_INF,
    BeamSearchBase,
    Candidate,
    best_first,
    check_probs,
    close_word,
    end_word,
    log_sum_exp,
    pruned_log_probs,
)
from dstorch.lm.scorer import child_units, completes_codepoint, unit_words


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


class ReferenceBeamSearch(BeamSearchBase):
    """The oracle: a path trie of Python objects, as the client keeps it. Streaming:
    ``next`` per chunk of probabilities [T, C], then ``decode``; the only search that
    takes UTF-8 scorers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.root = _Node(None, -1, self.root_state)
        self.root.b_prev = self.root.score = 0.0
        self.beam = [self.root]

    def next(self, probs: np.ndarray) -> None:
        """Advance over probabilities [T, C] (softmax output, C = len(labels) + 1)."""
        probs = check_probs(probs, self.blank + 1)
        for t in range(self.time + self._first_expanding(probs), self.time + len(probs)):
            self._step(probs[t - self.time], t)
        self.time += len(probs)

    def _step(self, row: np.ndarray, t: int) -> None:
        """Time step t over probabilities row [C]; all scores float32 like the client."""
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
        self._merge(ext, rep, b_cur, kc, kb, old_ts, t)
        self._select(ext, nxt, cidx, old_ts, t)

    def _mask(self, score: np.ndarray, lp: np.ndarray, row: np.ndarray) -> np.ndarray:
        """[N, K] which (prefix, class) pairs the client visits (min-cutoff pruning)."""
        active = (score > NEG_INF)[:, None]
        if self.scorer is not None and len(score) == self.beam_width:
            p_blank = row[self.blank]
            log_blank = math.log(p_blank) if p_blank > 0 else NEG_INF
            # float + double - double, stored in a float
            min_cutoff = np.float32(float(score[-1]) + log_blank - max(0.0, self.beta))
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

    def _scored(self, log_p: np.float32, ngram: tuple[str, ...]) -> np.float32:
        """log_p + alpha * (LM + hot boost) + beta, rounded where the client rounds."""
        return close_word(log_p, self.lm_terms(ngram)[0], self.beta)[()]

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

    def _merge(self, ext, rep, b_cur, kc, kb: int, old_ts: list, t: int) -> None:
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
            beam[j].ts = (t, old_ts[pi[j]])
        for nd, b, nbv, sc in zip(beam, b_cur.tolist(), nb.tolist(), score.tolist(), strict=True):
            nd.b_prev, nd.nb_prev, nd.score = b, nbv, sc

    def _select(
        self, ext: np.ndarray, nxt: np.ndarray | None, cidx: np.ndarray, old_ts: list, t: int
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
            node = self._child(beam[i], int(cidx[k]), state, (t, old_ts[i]))
            node.nb_prev = node.score = float(ext[i, k])
            new_beam.append(node)
        for j in np.nonzero(~kept)[0].tolist():
            _remove(beam[j])
        self.beam = new_beam

    def _child(self, parent: _Node, char: int, state: int, ts: tuple) -> _Node:
        """PathTrie::get_path_trie for a prefix not in the beam (new or revived); ts: its
        timestep list."""
        if self.finals is not None and self.finals[state]:
            state = self.root_state  # a finished word restarts the trie walk
        node = parent.children.get(char)
        if node is None:
            node = parent.children[char] = _Node(parent, char, state)
            if self.utf8:
                node.units = child_units(parent.units, char + 1, self.scorer.order)
        node.exists, node.b_prev = True, NEG_INF
        node.ts = ts
        return node

    def decode(self, num_results: int = 1) -> list[Candidate]:
        """Best candidates, with the unfinished last word scored (DecoderState::decode)."""
        scores = np.fromiter((nd.score for nd in self.beam), np.float32, len(self.beam))
        chars = np.fromiter((nd.char for nd in self.beam), np.int64, len(self.beam))
        if self.scorer is not None:
            for i, nd in enumerate(self.beam):
                if self.utf8:
                    unscored = not (nd.char != -1 and completes_codepoint(nd.units))
                else:
                    unscored = nd.parent is not None and nd.char != self.space
                if unscored:
                    term = self.lm_terms(self._ngram(nd))[1]
                    scores[i] = end_word(scores[i], term, self.beta)
        rows = best_first(scores, chars, num_results)
        return [self._result(self.beam[r], scores[r]) for r in rows.tolist()]

    def _result(self, node: _Node, score: np.float32) -> Candidate:
        tokens, steps, ts = [], [], node.ts
        while node.parent is not None:
            tokens.append(node.char)
            node = node.parent
        while ts is not None:
            steps.append(ts[0])
            ts = ts[1]
        return self._candidate(tokens[::-1], steps[::-1], score)
