"""OpenFST 1.6.7 ``ConstFst<StdArc>`` reader/writer and the vocabulary acceptor.

The DeepSpeech scorer stores its vocabulary as a determinized, minimized,
acyclic acceptor: one path per word, labels = alphabet index + 1, each word
closed by the space label + 1 (see ``Scorer::fill_dictionary``). We build that
automaton ourselves (no OpenFST needed) and serialize it in the aligned
ConstFst layout that ``ConstFst::Read`` memory-maps.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from dstorch.errors import DstorchError

FST_MAGIC = 0x7EB2FDD6
FST_TYPE = "const"
ARC_TYPE = "standard"
ALIGNED_VERSION = 1  # ConstFstImpl::kAlignedFileVersion
FLAG_ALIGNED = 4  # FstHeader::IS_ALIGNED
ALIGN = 16  # OpenFST kFileAlign
INF = np.float32(np.inf)  # TropicalWeight::Zero(): "not final"

# Property bits from fst/properties.h.
K_EXPANDED = 0x1
K_ACCEPTOR, K_NOT_ACCEPTOR = 0x10000, 0x20000
K_I_DET, K_NON_I_DET = 0x40000, 0x80000
K_O_DET, K_NON_O_DET = 0x100000, 0x200000
K_EPS, K_NO_EPS = 0x400000, 0x800000
K_I_EPS, K_NO_I_EPS = 0x1000000, 0x2000000
K_O_EPS, K_NO_O_EPS = 0x4000000, 0x8000000
K_I_SORTED, K_NOT_I_SORTED = 0x10000000, 0x20000000
K_O_SORTED, K_NOT_O_SORTED = 0x40000000, 0x80000000
K_WEIGHTED, K_UNWEIGHTED = 0x100000000, 0x200000000
K_CYCLIC, K_ACYCLIC = 0x400000000, 0x800000000
K_INIT_CYCLIC, K_INIT_ACYCLIC = 0x1000000000, 0x2000000000
K_TOP_SORTED, K_NOT_TOP_SORTED = 0x4000000000, 0x8000000000
K_ACCESSIBLE, K_NOT_ACCESSIBLE = 0x10000000000, 0x20000000000
K_COACCESSIBLE, K_NOT_COACCESSIBLE = 0x40000000000, 0x80000000000
K_STRING, K_NOT_STRING = 0x100000000000, 0x200000000000
K_UNWEIGHTED_CYCLES = 0x800000000000

_STATE = np.dtype(
    [
        ("final", "<f4"),
        ("pos", "<u4"),
        ("narcs", "<u4"),
        ("niepsilons", "<u4"),
        ("noepsilons", "<u4"),
    ]
)
_ARC = np.dtype([("ilabel", "<i4"), ("olabel", "<i4"), ("weight", "<f4"), ("nextstate", "<i4")])


class FstFormatError(DstorchError, ValueError):
    """A ConstFst section is malformed or not the kind DeepSpeech reads."""


@dataclass
class ConstFst:
    """Arrays of a ConstFst: ``states`` [S] of _STATE, ``arcs`` [A] of _ARC.

    State s owns arcs ``arcs[states.pos[s] : states.pos[s] + states.narcs[s]]``.
    """

    start: int
    states: np.ndarray
    arcs: np.ndarray
    properties: int = 0

    @property
    def num_states(self) -> int:
        return int(len(self.states))

    def is_final(self, state: int) -> bool:
        return bool(np.isfinite(self.states["final"][state]))

    def transition_table(self, num_labels: int) -> np.ndarray:
        """Dense next-state table [S, num_labels + 1] indexed by FST label; -1 = no arc."""
        table = np.full((self.num_states, num_labels + 1), -1, dtype=np.int32)
        src = np.repeat(np.arange(self.num_states), self.states["narcs"].astype(np.int64))
        labels = self.arcs["ilabel"]
        ok = (labels >= 0) & (labels <= num_labels)
        table[src[ok], labels[ok]] = self.arcs["nextstate"][ok]
        return table

    def accepts(self, labels: Sequence[int]) -> bool:
        """True when the label sequence ends in a final state."""
        state = self.start
        for label in labels:
            lo = int(self.states["pos"][state])
            arcs = self.arcs[lo : lo + int(self.states["narcs"][state])]
            hit = np.nonzero(arcs["ilabel"] == label)[0]
            if len(hit) == 0:
                return False
            state = int(arcs["nextstate"][hit[0]])
        return self.is_final(state)


def build_word_acceptor(words: Iterable[Sequence[int]]) -> ConstFst:
    """Minimal deterministic acyclic acceptor for a set of label sequences (labels > 0).

    Equivalent to OpenFST's RmEpsilon + Determinize + Minimize of the
    word-per-path union that DeepSpeech builds: a trie whose states with the
    same right language are merged bottom-up (each signature is hashed once).
    """
    trie: list[dict[int, int]] = [{}]
    final = [False]
    for word in set(map(tuple, words)):
        node = 0
        for label in word:
            nxt = trie[node].get(label)
            if nxt is None:
                nxt = len(trie)
                trie.append({})
                final.append(False)
                trie[node][label] = nxt
            node = nxt
        final[node] = True
    canon: dict[tuple, int] = {}
    rep = [0] * len(trie)  # trie node -> canonical class id
    # Trie nodes are created parent-first, so reverse creation order is a valid
    # bottom-up order: every child is canonicalized before its parent.
    for node in range(len(trie) - 1, -1, -1):
        sig = (final[node], tuple(sorted((lab, rep[c]) for lab, c in trie[node].items())))
        rep[node] = canon.setdefault(sig, len(canon))
    classes = {cid: sig for sig, cid in canon.items()}
    return _number_states(classes, rep[0])


def _number_states(classes: dict[int, tuple], start_class: int) -> ConstFst:
    """Number classes in DFS reverse post-order (start = 0, top-sorted) and pack arrays."""
    order: list[int] = []
    seen = {start_class}
    stack = [(start_class, iter(classes[start_class][1]))]
    while stack:  # iterative DFS: word length would otherwise bound recursion depth
        cid, it = stack[-1]
        for _, child in it:
            if child not in seen:
                seen.add(child)
                stack.append((child, iter(classes[child][1])))
                break
        else:
            order.append(cid)
            stack.pop()
    order.reverse()
    index = {cid: i for i, cid in enumerate(order)}
    states = np.zeros(len(order), dtype=_STATE)
    arc_rows: list[tuple[int, int, float, int]] = []
    for i, cid in enumerate(order):
        is_final, arcs = classes[cid]
        states[i] = (0.0 if is_final else INF, len(arc_rows), len(arcs), 0, 0)
        arc_rows.extend((lab, lab, 0.0, index[child]) for lab, child in arcs)
    fst = ConstFst(0, states, np.array(arc_rows, dtype=_ARC))
    fst.properties = compute_properties(fst)
    return fst


def compute_properties(fst: ConstFst) -> int:
    """OpenFST property bits (as ComputeProperties reports them) for an acyclic FST.

    Raises FstFormatError for cyclic input: the vocabulary trie never has cycles.
    """
    props = (
        K_EXPANDED
        | K_ACCEPTOR
        | K_I_DET
        | K_O_DET
        | K_NO_EPS
        | K_NO_I_EPS
        | K_NO_O_EPS
        | K_I_SORTED
        | K_O_SORTED
        | K_UNWEIGHTED
        | K_TOP_SORTED
        | K_STRING
        | K_ACYCLIC
        | K_INIT_ACYCLIC
        | K_UNWEIGHTED_CYCLES
    )

    def flip(good: int, bad: int) -> None:
        nonlocal props
        props = (props & ~good) | bad

    st, arcs = fst.states, fst.arcs
    src = np.repeat(np.arange(fst.num_states), st["narcs"].astype(np.int64))
    il, ol, nxt = arcs["ilabel"], arcs["olabel"], arcs["nextstate"]
    if np.any(il != ol):
        flip(K_ACCEPTOR, K_NOT_ACCEPTOR)
    for labels, good, bad, sgood, sbad in (
        (il, K_I_DET, K_NON_I_DET, K_I_SORTED, K_NOT_I_SORTED),
        (ol, K_O_DET, K_NON_O_DET, K_O_SORTED, K_NOT_O_SORTED),
    ):
        same_src = src[1:] == src[:-1]
        if np.any(same_src & (labels[1:] < labels[:-1])):
            flip(sgood, sbad)
        pairs = set(zip(src.tolist(), labels.tolist(), strict=True))
        if len(pairs) != len(labels):
            flip(good, bad)
    if np.any((il == 0) & (ol == 0)):
        flip(K_NO_EPS, K_EPS)
    if np.any(il == 0):
        flip(K_NO_I_EPS, K_I_EPS)
    if np.any(ol == 0):
        flip(K_NO_O_EPS, K_O_EPS)
    finals = st["final"]
    if np.any((arcs["weight"] != 0) & np.isfinite(arcs["weight"])) or np.any(
        (finals != 0) & np.isfinite(finals)
    ):
        flip(K_UNWEIGHTED, K_WEIGHTED)
    if np.any(nxt <= src):
        flip(K_TOP_SORTED, K_NOT_TOP_SORTED)
        if _has_cycle(fst):
            raise FstFormatError("FST is cyclic; a DeepSpeech vocabulary trie must be acyclic")
    is_string = (
        np.all(nxt == src + 1)
        and fst.start in (0, -1)
        and np.all(st["narcs"][~np.isfinite(finals)] == 1)
        and np.count_nonzero(np.isfinite(finals)) <= 1
        and (fst.num_states == 0 or np.isfinite(finals[-1]))
    )
    if not is_string:
        flip(K_STRING, K_NOT_STRING)
    return props | _reachability(fst)


def _has_cycle(fst: ConstFst) -> bool:
    """Kahn's algorithm: a cycle leaves states with unresolved in-arcs."""
    indeg = np.bincount(fst.arcs["nextstate"], minlength=fst.num_states)
    ready = list(np.nonzero(indeg == 0)[0])
    done = 0
    while ready:
        s = int(ready.pop())
        done += 1
        lo = int(fst.states["pos"][s])
        for t in fst.arcs["nextstate"][lo : lo + int(fst.states["narcs"][s])]:
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(int(t))
    return done != fst.num_states


def _reachability(fst: ConstFst) -> int:
    """kAccessible/kCoAccessible bits (and their negations) for an acyclic FST."""
    n = fst.num_states
    src = np.repeat(np.arange(n), fst.states["narcs"].astype(np.int64))
    nxt = fst.arcs["nextstate"]
    acc = np.zeros(n, bool)
    if 0 <= fst.start < n:
        acc[fst.start] = True
    coacc = np.isfinite(fst.states["final"])
    for _ in range(n):  # fixed point; terminates after at most longest-path iterations
        new_acc = acc.copy()
        new_acc[nxt[acc[src]]] = True
        new_co = coacc.copy()
        new_co[src[coacc[nxt]]] = True
        if np.array_equal(new_acc, acc) and np.array_equal(new_co, coacc):
            break
        acc, coacc = new_acc, new_co
    props = K_ACCESSIBLE if acc.all() else K_NOT_ACCESSIBLE
    return props | (K_COACCESSIBLE if coacc.all() else K_NOT_COACCESSIBLE)


def _pad_to_alignment(f: BinaryIO) -> None:
    # OpenFST aligns on the absolute stream position, i.e. from the start of
    # the whole .scorer file, not from the start of the FST section.
    f.write(b"\0" * (-f.tell() % ALIGN))


def _write_str(f: BinaryIO, s: str) -> None:
    data = s.encode()
    f.write(struct.pack("<i", len(data)) + data)


def write_const_fst(f: BinaryIO, fst: ConstFst) -> None:
    """Write ``fst`` at the current position of ``f`` in the aligned ConstFst format."""
    f.write(struct.pack("<i", FST_MAGIC))
    _write_str(f, FST_TYPE)
    _write_str(f, ARC_TYPE)
    f.write(
        struct.pack(
            "<iiQqqq",
            ALIGNED_VERSION,
            FLAG_ALIGNED,
            fst.properties,
            fst.start,
            fst.num_states,
            len(fst.arcs),
        )
    )
    _pad_to_alignment(f)
    f.write(fst.states.astype(_STATE).tobytes())
    _pad_to_alignment(f)
    f.write(fst.arcs.astype(_ARC).tobytes())


def _read_exact(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise FstFormatError(f"truncated FST: file ends inside the {what}")
    return data


def _read_str(f: BinaryIO, what: str) -> str:
    (n,) = struct.unpack("<i", _read_exact(f, 4, what))
    if not 0 <= n <= 64:
        raise FstFormatError(f"bad FST header: {what} length {n}")
    return _read_exact(f, n, what).decode("ascii", "replace")


def read_const_fst(f: BinaryIO) -> ConstFst:
    """Read an aligned ConstFst<StdArc> from the current position of ``f``."""
    (magic,) = struct.unpack("<i", _read_exact(f, 4, "FST magic"))
    if magic != FST_MAGIC:
        raise FstFormatError(f"bad FST magic 0x{magic & 0xFFFFFFFF:08X} (want 0x{FST_MAGIC:08X})")
    fst_type, arc_type = _read_str(f, "FST type"), _read_str(f, "arc type")
    if (fst_type, arc_type) != (FST_TYPE, ARC_TYPE):
        raise FstFormatError(f"FST is {fst_type}/{arc_type}, want {FST_TYPE}/{ARC_TYPE}")
    version, flags, props, start, nstates, narcs = struct.unpack(
        "<iiQqqq", _read_exact(f, 40, "FST header")
    )
    if version < 1 or nstates < 0 or narcs < 0 or not -1 <= start < max(nstates, 1):
        raise FstFormatError(
            f"bad FST header (version {version}, start {start}, {nstates} states, {narcs} arcs)"
        )
    aligned = version == ALIGNED_VERSION or flags & FLAG_ALIGNED
    if aligned:
        _read_exact(f, -f.tell() % ALIGN, "alignment padding")
    states = np.frombuffer(_read_exact(f, nstates * _STATE.itemsize, "FST states"), _STATE)
    if aligned:
        _read_exact(f, -f.tell() % ALIGN, "alignment padding")
    arcs = np.frombuffer(_read_exact(f, narcs * _ARC.itemsize, "FST arcs"), _ARC)
    ends = states["pos"].astype(np.int64) + states["narcs"]
    if np.any(ends > narcs) or np.any((arcs["nextstate"] < 0) | (arcs["nextstate"] >= nstates)):
        raise FstFormatError("FST arcs point outside the state/arc tables")
    return ConstFst(int(start), states, arcs, int(props))
