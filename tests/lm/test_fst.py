"""dstorch.lm.fst: the word acceptor, its OpenFst property bits, the ConstFst file format."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from conftest import ENGLISH

from dstorch.lm.fst import (
    FstFormatError,
    build_word_acceptor,
    compute_properties,
    read_const_fst,
    write_const_fst,
)
from dstorch.lm.scorer import vocabulary_fst

VOCAB = {"turn", "on", "off", "the", "light", "play", "music", "stop", "open", "door"}


def test_word_acceptor_is_minimal_and_sorted() -> None:
    fst = build_word_acceptor([[3, 1, 20, 1], [2, 1, 20, 1]])  # "cat " and "bat "
    assert (fst.num_states, len(fst.arcs)) == (5, 5)  # the shared suffix "at " is merged
    assert fst.start == 0
    assert np.all(fst.arcs["ilabel"] == fst.arcs["olabel"])
    assert np.all(fst.arcs["weight"] == 0)
    first = fst.arcs[: fst.states["narcs"][0]]
    assert list(first["ilabel"]) == sorted(first["ilabel"])  # SortedMatcher binary-searches
    assert np.isfinite(fst.states["final"]).sum() == 1


def test_fst_properties_match_openfst_bits() -> None:
    fst = build_word_acceptor([[3, 1, 20, 1], [2, 1, 20, 1]])
    # kExpanded kAcceptor kIDeterministic kODeterministic kNoEpsilons kNoIEpsilons
    # kNoOEpsilons kILabelSorted kOLabelSorted kUnweighted kAcyclic kInitialAcyclic
    # kTopSorted kAccessible kCoAccessible kNotString kUnweightedCycles
    assert fst.properties == 0xA56A5A950001
    assert compute_properties(build_word_acceptor([[1, 2]])) & 0x100000000000  # kString


@pytest.mark.parametrize("offset", [0, 1, 7, 16, 25, 31])
def test_const_fst_round_trip_is_aligned_from_file_start(offset: int) -> None:
    fst = vocabulary_fst(VOCAB, ENGLISH)
    buf = io.BytesIO(b"x" * offset)
    buf.seek(offset)
    write_const_fst(buf, fst)
    data = buf.getvalue()
    magic, n = struct.unpack_from("<ii", data, offset)
    # The literal, not FST_MAGIC: the test checks the module against the OpenFst format.
    assert (magic, data[offset + 8 : offset + 8 + n]) == (0x7EB2FDD6, b"const")
    buf.seek(offset)
    back = read_const_fst(buf)
    assert buf.tell() == len(data)
    header_end = offset + 4 + (4 + 5) + (4 + 8) + 40  # magic, "const", "standard", fields
    states_at = header_end + (-header_end % 16)
    arcs_at = states_at + fst.num_states * 20
    arcs_at += -arcs_at % 16
    assert len(data) == arcs_at + len(fst.arcs) * 16
    assert back.start == fst.start and back.properties == fst.properties
    assert np.array_equal(back.states, fst.states) and np.array_equal(back.arcs, fst.arcs)


def test_const_fst_read_errors() -> None:
    buf = io.BytesIO()
    write_const_fst(buf, vocabulary_fst(["stop"], ENGLISH))
    data = buf.getvalue()
    with pytest.raises(FstFormatError, match="magic"):
        read_const_fst(io.BytesIO(b"\0" * 4 + data[4:]))
    with pytest.raises(FstFormatError, match="truncated"):
        read_const_fst(io.BytesIO(data[:-3]))
    assert issubclass(FstFormatError, ValueError)
