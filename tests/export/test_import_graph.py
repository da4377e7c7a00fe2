"""dstorch.export.import_graph: an exported .pb/.pbmm read back into torch, and bad graphs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import ENGLISH, load_clip

from dstorch.alphabet import Alphabet
from dstorch.export.import_graph import GraphImportError, load_graph_model, parse_alphabet
from dstorch.export.protobuf import decode_graph, encode_graph
from dstorch.features import audio_features, context_windows


@pytest.mark.parametrize("kind", ["pb", "pbmm"])
def test_exported_graph_loads_back_to_identical_logits(exported, peaked_model, kind) -> None:
    graph = load_graph_model(exported[kind])
    assert graph.labels == ENGLISH and graph.beam_width == 500 and graph.n_steps == 16
    x = torch.from_numpy(context_windows(audio_features(load_clip("speech"))))[None]
    with torch.no_grad():
        assert torch.equal(graph.model(x)[0], peaked_model(x)[0])


def test_alphabet_reads_back_what_the_export_serializes() -> None:
    labels = [" ", "a", "é", "'", "日本"]  # multi-byte labels shift every later offset
    assert parse_alphabet(Alphabet(labels).serialize()) == labels


def test_unreadable_files_give_one_line_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\xff\xff\xff")
    with pytest.raises(GraphImportError, match="not a readable GraphDef"):
        load_graph_model(junk)
    (tmp_path / "junk.pbmm").write_bytes(b"\x00" * 64)
    with pytest.raises(GraphImportError, match="memory-mapped"):
        load_graph_model(tmp_path / "junk.pbmm")
    with pytest.raises(GraphImportError, match="cannot read model"):
        load_graph_model(tmp_path / "absent.pb")


@pytest.mark.parametrize(
    ("dropped", "match"),
    [("metadata_alphabet", "no metadata_alphabet node"), ("metadata_beam_width", "not a constant")],
)
def test_graph_without_metadata_is_refused(exported, tmp_path, dropped, match) -> None:
    nodes = decode_graph(exported["pb"].read_bytes())
    stripped = tmp_path / "stripped.pb"
    stripped.write_bytes(encode_graph([n for n in nodes if n.name != dropped]))
    with pytest.raises(GraphImportError, match=match):
        load_graph_model(stripped)
