"""The exported .tflite: its contract, and its behaviour in the official deepspeech-tflite
0.9.3 client against the .pbmm in the official TF client and our own forward pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES_DIR, greedy_decode, our_log_probs, random_model
from tflite_helpers import read_model

from dstorch.alphabet import Alphabet
from dstorch.export import export_model, export_tflite, tflite_bytes
from dstorch.export.flatbuffer import BuiltinOp, TensorType
from dstorch.export.tflite import INPUTS, METADATA, OUTPUTS, build_tflite
from dstorch.features import CONTEXT_FRAMES, N_MFCC, WINDOW
from dstorch.inference.official import ClientError, OfficialModel
from dstorch.wav import read_wav

# Every builtin the export emits; all are in the client's BuiltinOpResolver (TFLite 2.3).
BUILTINS = {
    BuiltinOp.ADD,
    BuiltinOp.CONCATENATION,
    BuiltinOp.FULLY_CONNECTED,
    BuiltinOp.LOGISTIC,
    BuiltinOp.MINIMUM,
    BuiltinOp.MUL,
    BuiltinOp.RESHAPE,
    BuiltinOp.RNN,
    BuiltinOp.SOFTMAX,
    BuiltinOp.SPLIT,
    BuiltinOp.TANH,
}


@pytest.fixture(scope="module")
def peaked_tflite(tmp_path_factory, peaked_model, english) -> Path:
    return export_tflite(peaked_model, english, tmp_path_factory.mktemp("tflite"), "peaked")


@pytest.fixture(scope="module")
def random_pair(tmp_path_factory, english) -> dict[str, Path]:
    """A random (not peaked) model as .pbmm and .tflite: its beams are close calls."""
    model = random_model(len(english) + 1, seed=1, n_hidden=64)
    out = tmp_path_factory.mktemp("pair")
    _, pbmm = export_model(model, english, out, "random")
    return {"pbmm": pbmm, "tflite": export_tflite(model, english, out, "random")}


@pytest.fixture(scope="module")
def clips(parity_clips) -> dict[str, np.ndarray]:
    """Edge cases and real speech: the parity clips plus the fixture recordings."""
    recordings = {p.stem: read_wav(p) for p in sorted((FIXTURES_DIR / "clips").glob("*.wav"))}
    return {**parity_clips, **recordings}


# --- structure ------------------------------------------------------------------------


def test_graph_follows_the_client_contract(peaked_tflite, peaked_model, english) -> None:
    model = read_model(peaked_tflite.read_bytes())
    assert model.names(model.inputs) == list(INPUTS)
    assert model.names(model.outputs) == [*OUTPUTS, *METADATA]
    n_hidden, n_classes = peaked_model.n_hidden, len(english) + 1
    shapes = {
        "input_node": (1, 16, CONTEXT_FRAMES, N_MFCC),  # the client reads n_steps here
        "previous_state_c": (1, n_hidden),
        "previous_state_h": (1, n_hidden),
        "input_samples": (WINDOW, 1),
        "logits": (16, n_classes),  # the client checks dim 1 - 1 == alphabet size
        "new_state_c": (1, n_hidden),
        "mfccs": (1, N_MFCC),
    }
    assert {name: model.by_name(name).shape for name in shapes} == shapes
    assert model.by_name("metadata_alphabet").dtype == TensorType.STRING


def test_every_op_is_in_the_client_resolver(peaked_tflite) -> None:
    ops = {op.opcode for op in read_model(peaked_tflite.read_bytes()).operators}
    assert ops - BUILTINS == {"AudioSpectrogram", "Mfcc"}, ops


def test_metadata_each_come_from_an_operator_and_the_string_one_last(peaked_tflite) -> None:
    """The client runs each metadata output's producer; the interpreter prepares operators
    only up to the first dynamic (string) output at allocation."""
    model = read_model(peaked_tflite.read_bytes())
    produced = {out for op in model.operators for out in op.outputs}
    assert {model.tensors.index(model.by_name(m)) for m in METADATA} <= produced
    assert model.names(model.operators[-1].outputs) == ["metadata_alphabet"]


def test_alphabet_must_match_the_output_layer(peaked_model) -> None:
    with pytest.raises(ValueError, match="alphabet size \\+ 1"):
        tflite_bytes(peaked_model, Alphabet(list("abc")))
    with pytest.raises(ValueError, match="positive"):
        build_tflite(peaked_model.tf_weights(), b"", 28, n_steps=0)


# --- the official TFLite client ----------------------------------------------------------


def test_loads_with_its_metadata(deepspeech_tflite_lib, tmp_path, peaked_model, english) -> None:
    path = export_tflite(peaked_model, english, tmp_path, "beam", beam_width=77)
    with OfficialModel(path, deepspeech_tflite_lib) as client:
        assert (client.sample_rate, client.beam_width) == (16000, 77)


def test_unreadable_model_raises(deepspeech_tflite_lib, tmp_path) -> None:
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\xff" * 100)
    with pytest.raises(ClientError, match="0x3000"):
        OfficialModel(junk, deepspeech_tflite_lib)


def test_transcripts_equal_pbmm_and_ours(
    deepspeech_tflite_lib, deepspeech_lib, exported, peaked_tflite, peaked_model, english, clips
) -> None:
    """A peaked model: beam search and greedy decoding agree, so all three must match."""
    with (
        OfficialModel(peaked_tflite, deepspeech_tflite_lib) as tflite,
        OfficialModel(exported["pbmm"], deepspeech_lib) as tf,
    ):
        for name, pcm in clips.items():
            ours = greedy_decode(our_log_probs(peaked_model, pcm), english)[0]
            assert tflite.stt(pcm) == tf.stt(pcm) == ours, name


def test_candidates_and_confidences_equal_pbmm(
    deepspeech_tflite_lib, deepspeech_lib, random_pair, clips
) -> None:
    """Close calls: the top 5 beams and their scores match the TF client's. One model per
    client serves every clip in turn, so the last, partial window of each clip would
    see the previous clip's samples if the export did not clear input_samples."""
    with (
        OfficialModel(random_pair["tflite"], deepspeech_tflite_lib) as tflite,
        OfficialModel(random_pair["pbmm"], deepspeech_lib) as tf,
    ):
        for name, pcm in clips.items():
            ours, theirs = tflite.stt_with_metadata(pcm, 5), tf.stt_with_metadata(pcm, 5)
            assert [c.text for c in ours] == [c.text for c in theirs], name
            for a, b in zip(ours, theirs, strict=True):
                assert a.confidence == pytest.approx(b.confidence, rel=1e-5, abs=1e-3), name
                assert [t.timestep for t in a.tokens] == [t.timestep for t in b.tokens], name


def test_stream_matches_whole_buffer(deepspeech_tflite_lib, random_pair, parity_clips) -> None:
    pcm = parity_clips["speech"]
    with OfficialModel(random_pair["tflite"], deepspeech_tflite_lib) as client:
        expected = client.stt(pcm)
        stream = client.stream()
        for start, end in zip([0, 1, 333, 512, 5000], [1, 333, 512, 5000, len(pcm)], strict=True):
            stream.feed(pcm[start:end])
        assert stream.finish() == expected


def test_other_n_steps(deepspeech_tflite_lib, deepspeech_lib, tmp_path, english, clips) -> None:
    """The client reads n_steps from input_node; 5 steps cuts the clips differently."""
    model = random_model(len(english) + 1, seed=2, n_hidden=32)
    _, pbmm = export_model(model, english, tmp_path, "five", n_steps=5)
    path = export_tflite(model, english, tmp_path, "five", n_steps=5)
    assert read_model(path.read_bytes()).by_name("logits").shape == (5, len(english) + 1)
    with OfficialModel(path, deepspeech_tflite_lib) as tflite:
        with OfficialModel(pbmm, deepspeech_lib) as tf:
            for name in ("speech", "speech_7000", "speech_300", "go_en_m1"):
                assert tflite.stt(clips[name]) == tf.stt(clips[name]), name
