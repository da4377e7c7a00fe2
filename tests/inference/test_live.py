"""Live recognition (dstorch.inference.live) and `dstorch listen`, with a real trained model
on real (espeak-ng) speech."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from live_helpers import NOT_A_COMMAND, noise, silence, speak, take, write_wav

from dstorch.inference.listen_cli import microphone
from dstorch.inference.live import LiveRecogniser
from dstorch.inference.transcribe import Transcriber
from dstorch.rejection import Gate
from dstorch.vad import MARGIN, speech_span


@pytest.fixture(scope="module")
def long_recording(command_model, tmp_path_factory):
    """Commands separated by silence, noise and speech that is no command:
    -> (wav path, [(expected command or None, start s, end s)])."""
    folder = tmp_path_factory.mktemp("long")
    takes = command_model["takes"]
    parts = [
        (None, silence(1.0)),
        ("stop", take(takes, "2", voice=0)),
        (None, silence(1.0)),
        (None, noise(1.0)),
        (None, silence(0.6)),
        (None, speak(NOT_A_COMMAND, folder)),
        (None, silence(1.0)),
        ("play music", take(takes, "1", voice=3)),
        (None, silence(0.8)),
        ("open the door", take(takes, "3", voice=5)),
        (None, silence(0.8)),
    ]
    spans, at = [], 0
    for command, pcm in parts:
        if command:
            spans.append((command, at / 16000, (at + len(pcm)) / 16000))
        at += len(pcm)
    pcm = np.concatenate([pcm for _, pcm in parts])
    return write_wav(folder / "long.wav", pcm), spans, pcm


def listen(command_model, *args: str, stdin: bytes | None = None) -> list[dict]:
    model = ["--model", str(command_model["pbmm"]), "--scorer", str(command_model["scorer"])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "dstorch", "listen", *model, *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def test_listen_input_wav_gives_one_line_per_utterance(command_model, long_recording):
    wav, spans, _ = long_recording
    lines = listen(command_model, "--input", str(wav))
    assert [line["command"] for line in lines if line["command"]] == [c for c, _, _ in spans]
    for command, start, end in spans:
        line = next(line for line in lines if line["command"] == command)
        assert line["text"] == command and isinstance(line["confidence"], float)
        # vad.MARGIN (and a 30 ms frame) around the speech; a take ends in 0.15 s of silence
        assert start - MARGIN - 0.03 <= line["start"] <= line["end"] <= end + MARGIN + 0.15
    rejected = [line for line in lines if line["command"] is None]
    assert rejected, "the noise and the sentence that is no command must be answered null"
    spoken = [line for line in rejected if 4.2 - MARGIN - 0.03 <= line["start"] <= 4.4]  # 4.2 s in
    assert spoken, f"no line for the non-command speech: {lines}"


def test_listen_raw_pcm_on_stdin_gives_the_same_lines(command_model, long_recording):
    wav, _, pcm = long_recording
    from_file = listen(command_model, "--input", str(wav))
    assert listen(command_model, "--input", "-", stdin=pcm.astype("<i2").tobytes()) == from_file


def test_endpoint_is_the_span_the_clip_trim_cuts(command_model):
    """Fed in uneven chunks, one padded command is one utterance spanning speech_span."""
    pcm = np.concatenate([silence(0.7), take(command_model["takes"], "2", 1), silence(0.7)])
    gate = Gate.load(command_model["gate"])
    recogniser = LiveRecogniser(Transcriber(command_model["pbmm"], command_model["scorer"]), gate)
    found, at = [], 0
    for size in (1, 479, 3000, 17, 320) * 40:
        found += recogniser.feed(pcm[at : at + size])
        at += size
    found += recogniser.flush()
    start, end = speech_span(pcm)
    assert len(found) == 1 and found[0].command == "stop"
    assert (round(found[0].start * 16000), round(found[0].end * 16000)) == (start, end)


def test_no_recorder_is_one_line_naming_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValueError, match="install sox, or pass --input"):
        microphone()
