"""The exported .pb/.pbmm: structure, and behaviour in the official DeepSpeech 0.9.3 client."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import greedy_decode, load_clip, our_log_probs, random_model

from dstorch.alphabet import Alphabet
from dstorch.export import export_bytes, export_model
from dstorch.export.graph import ALLOWED_OPS, build_graph
from dstorch.export.pbmm import ALIGN, GRAPH_REGION, MIN_MEMMAPPED_BYTES, read_pbmm
from dstorch.export.protobuf import DType, Shape, decode_graph, encode_attr, encode_graph
from dstorch.features import CONTEXT_FRAMES, N_MFCC, SAMPLE_RATE, WINDOW, frame_count
from dstorch.inference.official import OfficialModel

KINDS = ["pb", "pbmm"]


@pytest.fixture(scope="module")
def files(exported: dict[str, Path]) -> dict[str, bytes]:
    return {kind: path.read_bytes() for kind, path in exported.items()}


def graph_of(kind: str, data: bytes) -> list:
    return decode_graph(data) if kind == "pb" else read_pbmm(data)[1]


# --- structure ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_op_is_registered_in_the_library(files, kind: str) -> None:
    ops = {node.op for node in graph_of(kind, files[kind])}
    assert ops <= ALLOWED_OPS, f"ops the library lacks: {ops - ALLOWED_OPS}"


@pytest.mark.parametrize("kind", KINDS)
def test_inputs_refer_to_earlier_nodes(files, kind: str) -> None:
    seen: set[str] = set()
    for node in graph_of(kind, files[kind]):
        for name in node.inputs:
            assert name.split(":")[0] in seen, f"{node.name} reads {name} before it exists"
        seen.add(node.name)


def test_graph_follows_the_contract(files, english: Alphabet, peaked_model) -> None:
    nodes = {n.name: n for n in decode_graph(files["pb"])}
    n_hidden, n_classes = peaked_model.n_hidden, len(english) + 1
    placeholders = {
        "input_node": (DType.FLOAT, (1, 16, CONTEXT_FRAMES, N_MFCC)),
        "input_lengths": (DType.INT32, (1,)),
        "previous_state_c": (DType.FLOAT, (1, n_hidden)),
        "previous_state_h": (DType.FLOAT, (1, n_hidden)),
        "input_samples": (DType.FLOAT, (WINDOW,)),
    }
    for name, (dtype, shape) in placeholders.items():
        assert nodes[name].op == "Placeholder"
        assert nodes[name].attrs == {"dtype": dtype, "shape": Shape(shape)}
    assert nodes["logits"].op == "Softmax"
    assert nodes["raw_logits/shape"].attrs["value"].array.tolist() == [-1, 1, n_classes]
    for name in ("new_state_c", "new_state_h", "mfccs"):
        assert nodes[name].op == "Identity"
    metadata = {"version": 6, "sample_rate": 16000, "feature_win_len": 32,
                "feature_win_step": 20, "beam_width": 500}  # fmt: skip
    for key, value in metadata.items():
        tensor = nodes[f"metadata_{key}"].attrs["value"]
        assert (tensor.dtype, tensor.shape, tensor.array.tolist()) == (DType.INT32, (1,), [value])
    alphabet = nodes["metadata_alphabet"].attrs["value"]
    assert (alphabet.dtype, alphabet.shape) == (DType.STRING, (1,))
    assert alphabet.strings == [english.serialize()]
    lstm = nodes["lstm/BlockLSTM"].attrs
    assert (lstm["forget_bias"], lstm["cell_clip"], lstm["use_peephole"]) == (0.0, -1.0, False)
    mfcc = nodes["features/Mfcc"].attrs
    assert (mfcc["dct_coefficient_count"], mfcc["upper_frequency_limit"]) == (26, 8000.0)


def test_weights_are_stored_exactly(files, peaked_model) -> None:
    consts = {n.name: n.attrs["value"] for n in decode_graph(files["pb"]) if n.op == "Const"}
    for name, value in peaked_model.tf_weights().items():
        np.testing.assert_array_equal(consts[name].array, value)


def test_protobuf_roundtrip(english: Alphabet, peaked_model) -> None:
    nodes = build_graph(peaked_model.tf_weights(), english.serialize(), len(english))
    decoded = decode_graph(encode_graph(nodes))
    assert [(n.name, n.op, n.inputs) for n in decoded] == [(n.name, n.op, n.inputs) for n in nodes]
    for ours, back in zip(nodes, decoded, strict=True):
        assert ours.attrs.keys() == back.attrs.keys()
        for key, value in ours.attrs.items():  # strings decode as bytes: compare encodings
            assert encode_attr(back.attrs[key]) == encode_attr(value), (ours.name, key)


def test_pbmm_layout(files, peaked_model) -> None:
    data = files["pbmm"]
    directory, graph = read_pbmm(data)
    (directory_offset,) = struct.unpack("<Q", data[-8:])
    offsets = [offset for offset, _, _ in directory]
    assert offsets == sorted(set(offsets)), "offsets must be strictly increasing"
    assert directory[-1][1] == GRAPH_REGION
    graph_offset, _, graph_length = directory[-1]
    assert graph_offset + graph_length == directory_offset
    for (offset, _, length), (following, _, _) in zip(directory, directory[1:], strict=False):
        assert offset % ALIGN == 0 and offset + length <= following
    weights = peaked_model.tf_weights()
    regions = {name: data[offset : offset + length] for offset, name, length in directory}
    immutable = [n for n in graph if n.op == "ImmutableConst"]
    assert len(immutable) == len(directory) - 1 >= 1
    for node in immutable:
        assert set(node.attrs) == {"dtype", "shape", "memory_region_name"}
        region = node.attrs["memory_region_name"].decode()
        assert region == "memmapped_package://" + node.name.replace("/", "_")
        assert regions[region] == weights[node.name].tobytes()
        assert node.attrs["shape"] == Shape(weights[node.name].shape)
    for node in graph:  # small and string constants stay Const
        if node.op == "Const" and node.attrs["dtype"] != DType.STRING:
            assert node.attrs["value"].nbytes < MIN_MEMMAPPED_BYTES


def test_export_is_atomic_and_deterministic(tmp_path: Path, peaked_model, english) -> None:
    pb, pbmm = export_model(peaked_model, english, tmp_path / "out", "model", beam_width=77)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.pb", "model.pbmm"]
    assert (pb.read_bytes(), pbmm.read_bytes()) == export_bytes(peaked_model, english, 77)


def test_alphabet_size_mismatch_is_rejected(peaked_model) -> None:
    with pytest.raises(ValueError, match="alphabet has 3 labels"):
        export_bytes(peaked_model, Alphabet(["a", "b", "c"]))


# --- the official client --------------------------------------------------------------


@pytest.fixture(scope="module")
def clients(deepspeech_lib: Path, exported: dict[str, Path]):
    """Both files loaded by DS_CreateModel (OfficialModel raises on a non-zero code)."""
    models = {kind: OfficialModel(path, deepspeech_lib) for kind, path in exported.items()}
    yield models
    for model in models.values():
        model.close()


@pytest.mark.parametrize("kind", KINDS)
def test_client_loads_model(clients, kind: str) -> None:
    assert clients[kind].sample_rate == SAMPLE_RATE
    assert clients[kind].beam_width == 500  # read from metadata_beam_width


CLIPS = ["speech", "speech_7000", "speech_32_steps", "speech_300", "noise", "silence", "empty"]


@pytest.mark.parametrize("clip", CLIPS)
@pytest.mark.parametrize("kind", KINDS)
def test_transcript_matches_pytorch_greedy(
    clients, parity_clips, peaked_model, english, kind: str, clip: str
) -> None:
    """The client (TF graph, its own features, beam search) agrees with our forward pass."""
    pcm = parity_clips[clip]
    log_probs = our_log_probs(peaked_model, pcm)
    assert len(log_probs) == frame_count(len(pcm))
    top2 = np.sort(log_probs, axis=1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0]).min() > 1.0, "reference ambiguous: a near-tie frame"
    text, steps = greedy_decode(log_probs, english)
    (best,) = clients[kind].stt_with_metadata(pcm, num_results=1)
    assert best.text == text
    assert [token.timestep for token in best.tokens] == steps
    assert clients[kind].stt(pcm) == text


def test_other_n_steps(deepspeech_lib, tmp_path, parity_clips, peaked_model, english) -> None:
    """The client reads n_steps from input_node's shape; 8-step batches decode the same."""
    _, pbmm = export_model(peaked_model, english, tmp_path, "steps8", n_steps=8)
    pcm = parity_clips["speech_7000"]
    with OfficialModel(pbmm, deepspeech_lib) as client:
        assert client.stt(pcm) == greedy_decode(our_log_probs(peaked_model, pcm), english)[0]


@pytest.fixture(scope="module")
def soft_client(deepspeech_lib: Path, tmp_path_factory):
    """A one-label model with soft outputs, exported as .pbmm, and its PyTorch twin."""
    model = random_model(2, seed=99, n_hidden=32)
    _, pbmm = export_model(model, Alphabet(["a"]), tmp_path_factory.mktemp("soft"), "soft")
    with OfficialModel(pbmm, deepspeech_lib) as client:
        client.set_beam_width(1024)  # more beams than prefixes: the search prunes nothing
        yield client, model


def ctc_log_likelihood(log_probs: np.ndarray, n_labels: int) -> float:
    """log P("a" * n_labels) under CTC over log_probs [T, 2] (blank last)."""
    if len(log_probs) == 0:
        return 0.0
    nll = torch.nn.functional.ctc_loss(
        torch.from_numpy(log_probs)[:, None],
        torch.zeros(1, n_labels, dtype=torch.long),
        [len(log_probs)],
        [n_labels],
        blank=1,
        reduction="sum",
    )
    return -nll.item()


def client_view(log_probs: np.ndarray) -> np.ndarray:
    """The decoder skips leading steps until P(blank) < 0.999 (ctc_beam_search_decoder)."""
    start = np.nonzero(np.exp(log_probs[:, -1]) < 0.999)[0]
    return log_probs[start[0] if len(start) else len(log_probs) :]


@pytest.mark.parametrize("clip", ["speech", "noise", "silence", "short"])
def test_confidences_are_our_ctc_likelihoods(soft_client, clip: str) -> None:
    """Feature parity through the client itself.

    With one label and an unpruned beam, every candidate's confidence is the exact CTC
    log-likelihood of its labelling, a smooth function of every MFCC the client computed.
    Matching ours to ~1e-5 means the client's features equal audio_features'; a 1% gain
    change (0.09 on MFCC 0) already breaks the match.
    """
    client, model = soft_client
    pcm = load_clip(clip)
    candidates = client.stt_with_metadata(pcm, num_results=1024)
    assert len(candidates) > 1 or len(pcm) < WINDOW
    log_probs = client_view(our_log_probs(model, pcm))
    ours = np.array([ctc_log_likelihood(log_probs, len(c.text)) for c in candidates])
    theirs = np.array([c.confidence for c in candidates])
    tolerance = 1e-5 * np.maximum(1.0, np.abs(ours))
    assert np.all(np.abs(theirs - ours) <= tolerance), np.abs(theirs - ours).max()
    if pcm.any():
        louder = client_view(our_log_probs(model, (pcm * 1.01).astype(np.int16)))
        wrong = np.array([ctc_log_likelihood(louder, len(c.text)) for c in candidates])
        assert np.abs(theirs - wrong).max() > 10 * tolerance.max()
