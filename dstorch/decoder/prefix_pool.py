"""Parent-pointer trees in flat arrays, for the array beam search (arrays).

A beam-search prefix is a chain of labels (and of timesteps) shared with the prefixes it
grew from. Python objects per prefix cost a microsecond each; here entries are rows of
two growing arrays, added and walked in bulk, and garbage-collected from time to time
so that a long stream keeps only what the live prefixes still point to.
"""

from __future__ import annotations

import numpy as np

_INITIAL = 4096
_MIN_COLLECT = 1 << 16  # entries before the first collection


class Pool:
    """Entries (value, parent id) in arrays; parent -1 ends a chain.

    A parent is always added before its children, so ids increase down every chain;
    collection keeps that order.
    """

    def __init__(self) -> None:
        self.value = np.empty(_INITIAL, np.int64)
        self.parent = np.empty(_INITIAL, np.int64)
        self.size = 0
        self.stem = 0  # entries [0, stem) form one chain that every live entry descends from
        self.limit = _MIN_COLLECT

    def add(self, values: np.ndarray, parents: np.ndarray) -> np.ndarray:
        """Append entries values [m] with parent ids [m]; -> their ids [m]."""
        m = len(values)
        if self.size + m > len(self.value):
            grow = max(2 * len(self.value), self.size + m)
            self.value = np.resize(self.value, grow)
            self.parent = np.resize(self.parent, grow)
        ids = np.arange(self.size, self.size + m)
        self.value[ids] = values
        self.parent[ids] = parents
        self.size += m
        return ids

    def chain(self, i: int) -> list[int]:
        """Values from the start of the chain down to entry i (-1: empty chain)."""
        out = []
        while i >= 0:
            out.append(int(self.value[i]))
            i = int(self.parent[i])
        out.reverse()
        return out

    def needs_collection(self) -> bool:
        return self.size > self.limit

    def collect(self, roots: np.ndarray) -> np.ndarray:
        """Keep only roots [n] and their ancestors; -> the roots' new ids [n] (-1 stays)."""
        live = self._mark(roots)
        new_id = np.cumsum(live) - 1
        kept = np.flatnonzero(live)
        parents = self.parent[kept]
        self.parent[: len(kept)] = np.where(parents >= 0, new_id[np.maximum(parents, 0)], -1)
        self.value[: len(kept)] = self.value[kept]
        self.size = len(kept)
        self.stem = int(new_id[self.stem - 1]) + 1 if self.stem else 0
        self.limit = max(_MIN_COLLECT, 2 * self.size)
        return np.where(roots >= 0, new_id[np.maximum(roots, 0)], -1)

    def _mark(self, roots: np.ndarray) -> np.ndarray:
        """live [size] bool: roots and their ancestors; moves ``stem`` down if it can.

        Walking up level by level, the walk meets the stem or narrows to one entry A with
        no chain ended or joined the old stem before: then every live entry is an ancestor
        or a descendant of A, and A's ancestors are exactly the live entries with smaller
        ids (a new stem).
        """
        live = np.zeros(self.size, bool)
        live[: self.stem] = True
        front = np.unique(roots[roots >= 0])
        ended, narrowest = bool((roots < 0).any()), -1
        while len(front):
            # A walk that reaches the old stem, like one that ends, may not descend from A.
            ended |= bool((front < self.stem).any())
            front = front[~live[front]]
            if not len(front):
                break
            if len(front) == 1 and not ended and narrowest < 0:
                narrowest = int(front[0])
            live[front] = True
            up = self.parent[front]
            ended |= bool((up < 0).any())
            front = np.unique(up[up >= 0])
        if narrowest >= 0:
            self.stem = narrowest + 1  # in old ids; collect() maps it
        return live
