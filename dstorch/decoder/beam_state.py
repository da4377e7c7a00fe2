"""Array building blocks of the array beam search (dstorch.decoder.arrays).

`Beam` holds the prefixes of a beam as three packed arrays, so reordering the beam is
three fancy-index operations; the pair generators list the (prefix, class) pairs worth
scoring in one step.
"""

from __future__ import annotations

import numpy as np

from dstorch.decoder.base import NEG_INF, ArcLists

F_SCORE, F_B, F_NB, F_LM_SPACE, F_LM_END = range(5)  # rows of Beam.f
I_CHAR, I_KEY, I_PKEY, I_NODE, I_TS, I_STATE = range(6)  # rows of Beam.i
O_HIST, O_WORD = range(2)  # rows of Beam.o


class Beam:
    """Prefixes in the client's order, N columns.

    f [5, N] float32: score, log P(ends in blank), log P(ends in its label), the LM terms
    at a space and at the end (NaN: not computed yet). i [6, N] int64: last label (-1:
    empty prefix), hash of the label string, hash without the last label, id in the
    label pool, id in the timestep pool (-1: none), vocabulary FST state. o [2, N]
    object: the up to order-1 words before the current word, the current word.
    """

    __slots__ = ("f", "i", "o")

    def __init__(self, f: np.ndarray, i: np.ndarray, o: np.ndarray):
        self.f, self.i, self.o = f, i, o

    @classmethod
    def root(cls, state: int) -> Beam:
        """The empty prefix: P(blank) = 1, in FST state ``state``."""
        f = np.array([[0.0], [0.0], [NEG_INF], [np.nan], [np.nan]], np.float32)
        # pkey 1 matches no prefix: the empty prefix has no parent.
        i = np.array([[-1], [0], [1], [-1], [-1], [state]], np.int64)
        o = np.empty((2, 1), object)
        o[O_HIST, 0], o[O_WORD, 0] = (), ""
        return cls(f, i, o)

    def __len__(self) -> int:
        return self.f.shape[1]

    def take(self, idx: np.ndarray) -> Beam:
        return Beam(self.f[:, idx], self.i[:, idx], self.o[:, idx])

    def extend(self, other: Beam) -> Beam:
        return Beam(
            np.concatenate([self.f, other.f], 1),
            np.concatenate([self.i, other.i], 1),
            np.concatenate([self.o, other.o], 1),
        )


def child_keys(keys: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """int64 hash of "prefix + label" from prefix hashes [n] and labels [n].

    splitmix64's finaliser over a multiply-add; uint64 arithmetic wraps. Two different
    label strings in one beam collide with probability ~1e-16 per step.
    """
    h = keys.view(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h += labels.astype(np.uint64) + np.uint64(1)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(29)
    return h.view(np.int64)


def parent_rows(keys: np.ndarray, pkeys: np.ndarray) -> np.ndarray:
    """Row of each prefix's parent among the prefixes (-1: not in the beam) [N]."""
    order = np.argsort(keys)
    pos = np.minimum(np.searchsorted(keys[order], pkeys), len(keys) - 1)
    return np.where(keys[order][pos] == pkeys, order[pos], -1)


def expand(counts: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups g of counts[g] items: -> (group of each item, first[g] + offset) [M]."""
    group = np.repeat(np.arange(len(counts)), counts)
    offset = np.arange(len(group)) - np.repeat(np.cumsum(counts) - counts, counts)
    return group, first[group] + offset


def staircase(score: np.ndarray, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows [M], cols [M]): for each class k the prefixes scoring at least limit[k].

    score [N] float32, limit [K] float64 (-inf: all live prefixes, +inf: none). Scores
    are sorted once, so each class takes a top slice.
    """
    srt = np.argsort(-score, kind="stable")
    desc = score[srt][: np.count_nonzero(score > NEG_INF)].astype(np.float64)
    counts = np.searchsorted(-desc, -limit, side="right")
    cols, idx = expand(counts, np.zeros(len(limit), np.int64))
    return srt[idx], cols


def arc_pairs(
    arcs: ArcLists, states: np.ndarray, class_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(rows [M], cols [M]): prefixes (FST states [N]) x labels with an arc, as columns
    class_pos[label] (labels pruned this step, -1 there, are left out)."""
    first = arcs.start[states]
    rows, arcs_at = expand(arcs.start[states + 1] - first, first)
    cols = class_pos[arcs.label[arcs_at]]
    ok = cols >= 0
    return rows[ok], cols[ok]
