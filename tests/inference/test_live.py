"""Live recognition (dstorch.inference.live) and `dstorch listen`, with a real trained model
on real (espeak-ng) speech."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from live_helpers import NOT_A_COMMAND, noise, silence, speak, take, write_wav

from dstorch.inference.listen_cli import microphone
from dstorch.inference.live import EARLY_SILENCE, LiveRecogniser
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


def feed_unevenly(recogniser: LiveRecogniser, pcm: np.ndarray) -> list:
    found, at = [], 0
    for size in (1, 479, 3000, 17, 320) * 40:
        found += recogniser.feed(pcm[at : at + size])
        at += size
    return found + recogniser.flush()


def test_endpoint_is_the_span_the_clip_trim_cuts(command_model):
    """Fed in uneven chunks, one padded command is one utterance spanning speech_span;
    with the gate accepting it, it is answered EARLY_SILENCE after the speech instead."""
    pcm = np.concatenate([silence(0.7), take(command_model["takes"], "2", 1), silence(0.7)])
    transcriber = Transcriber(command_model["pbmm"], command_model["scorer"])
    start, end = speech_span(pcm)
    found = feed_unevenly(LiveRecogniser(transcriber), pcm)  # no gate, no commands: no early
    assert len(found) == 1 and found[0].command is None and found[0].text == "stop"
    assert (round(found[0].start * 16000), round(found[0].end * 16000)) == (start, end)
    found = feed_unevenly(LiveRecogniser(transcriber, Gate.load(command_model["gate"])), pcm)
    assert len(found) == 1 and found[0].command == "stop"
    early = end - round((MARGIN - EARLY_SILENCE) * 16000)
    assert (round(found[0].start * 16000), round(found[0].end * 16000)) == (start, early)


def test_a_command_that_a_longer_one_begins_with_waits_for_the_hangover(command_model):
    pcm = np.concatenate([silence(0.7), take(command_model["takes"], "2", 1), silence(0.7)])
    transcriber = Transcriber(command_model["pbmm"], command_model["scorer"])
    recogniser = LiveRecogniser(transcriber, commands=["stop", "stop the music"])
    found = feed_unevenly(recogniser, pcm)
    assert [u.command for u in found] == ["stop"]
    assert round(found[0].end * 16000) == speech_span(pcm)[1]


def test_no_recorder_is_one_line_naming_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValueError, match="install sox, or pass --input"):
        microphone()


def test_make_listen_input_uses_the_exported_model(command_model, long_recording, tmp_path):
    """`make listen INPUT=file` in a project whose MODELS_DIR holds the export."""
    wav, spans, _ = long_recording
    (tmp_path / "models").mkdir()
    for key, name in (("pbmm", "x.pbmm"), ("scorer", "x.scorer"), ("gate", "x.gate.json")):
        shutil.copy(command_model[key], tmp_path / "models" / name)
    (tmp_path / "configuration.env").write_text((ROOT / "configuration.env").read_text())
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSTORCH_", "MAKE"))}
    result = subprocess.run(
        ["make", "-f", str(ROOT / "Makefile"), "listen", f"INPUT={wav}", "MODEL_NAME=x"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["command"] for line in lines if line["command"]] == [c for c, _, _ in spans]
