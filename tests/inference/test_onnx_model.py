"""`dstorch transcribe --model x.onnx`: onnxruntime behind our streaming pipeline and
decoder answers what the .pbmm of the same model answers."""

import json
import wave

import numpy as np
import pytest

from dstorch.cli import main
from dstorch.export.onnx_graph import export_onnx
from dstorch.inference.onnx_model import OnnxDeepSpeech, OnnxModelError
from dstorch.inference.transcribe import TranscribeError, Transcriber

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory, peaked_model, english):
    return export_onnx(peaked_model, english, tmp_path_factory.mktemp("onnx") / "peaked.onnx")


def _wav(path, pcm):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.asarray(pcm, "<i2").tobytes())
    return path


@pytest.mark.parametrize("clip", ["speech", "speech_7000", "speech_300", "silence"])
def test_transcripts_equal_the_pbmm(onnx_file, exported, parity_clips, clip):
    pcm = parity_clips[clip]
    ours = Transcriber(onnx_file, beam_width=16).transcribe(pcm)[0]
    pbmm = Transcriber(exported["pbmm"], beam_width=16).transcribe(pcm)[0]
    assert (ours.text, ours.timesteps) == (pbmm.text, pbmm.timesteps)
    assert ours.confidence == pytest.approx(pbmm.confidence, abs=1e-3)
    stream = Transcriber(onnx_file, beam_width=16).stream()  # the client's 16-step calls
    for start in range(0, len(pcm), 5000):
        stream.feed(pcm[start : start + 5000])
    assert stream.finish()[0].text == ours.text


def test_transcribe_command_with_an_onnx_model(onnx_file, exported, parity_clips, tmp_path, capsys):
    wav = _wav(tmp_path / "speech.wav", parity_clips["speech"])
    outputs = []
    for model in (onnx_file, exported["pbmm"]):
        args = ["transcribe", "--model", str(model), "--audio", str(wav), "--no_scorer", "--json"]
        assert main([*args, "--beam_width", "16"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0]["transcripts"][0]["text"] == outputs[1]["transcripts"][0]["text"] != ""
    assert outputs[0]["transcripts"][0]["words"] == outputs[1]["transcripts"][0]["words"]


def test_a_file_that_is_not_our_export_is_one_clear_error(tmp_path, capsys):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(OnnxModelError, match="onnxruntime cannot load it"):
        OnnxDeepSpeech(bad)
    with pytest.raises(TranscribeError, match=r"x\.onnx"):
        Transcriber(bad)
    wav = _wav(tmp_path / "a.wav", np.zeros(1600, np.int16))
    assert main(["transcribe", "--model", str(bad), "--audio", str(wav), "--no_scorer"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
