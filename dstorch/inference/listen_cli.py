"""`dstorch listen`: live recognition in the terminal, one JSON line per utterance.

Audio comes from the microphone (sox's default device, else ALSA's arecord, else
PulseAudio's parec: the first one installed), or with --input from a WAV file (any format
read_audio reads) or `-`, raw 16 kHz mono 16-bit little-endian PCM on stdin. Each
utterance the endpointer finds (dstorch.inference.live) prints
{"text", "command", "confidence", "start", "end"}: command is what the gate beside the model
(<MODEL_NAME>.gate.json) lets a device act on, or null.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from dstorch.config import ENV_FILE
from dstorch.errors import DstorchError

CHUNK = 320  # samples per read (20 ms): the endpointer judges every 30 ms frame as it comes
BYTES_PER_SAMPLE = 2
# Recorders that write raw mono s16le at {rate} (SAMPLE_RATE) to stdout, tried in this order.
MICROPHONES = (
    (
        "sox",
        [
            "sox",
            "-q",
            "-d",
            "-t",
            "raw",
            "-r",
            "{rate}",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-L",
            "-",
        ],
    ),  # fmt: skip
    ("arecord", ["arecord", "-q", "-f", "S16_LE", "-r", "{rate}", "-c", "1", "-t", "raw"]),
    ("parec", ["parec", "--format=s16le", "--rate={rate}", "--channels=1", "--raw"]),
)


class ListenError(DstorchError, ValueError):
    """No microphone to listen to; the message names the fix."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=ENV_FILE)
    p.add_argument("--model", help=".pbmm/.pb/.onnx (default: MODELS_DIR/MODEL_NAME.pbmm)")
    p.add_argument("--scorer", help=".scorer (default: MODELS_DIR/MODEL_NAME.scorer if any)")
    p.add_argument("--no_scorer", action="store_true", help="decode without a scorer")
    p.add_argument(
        "--gate", help="gate file, or none (default: <model stem>.gate.json beside the model)"
    )
    p.add_argument(
        "--input",
        help="a WAV (or other audio) file, or - for raw 16 kHz mono s16le PCM on stdin "
        "(default: the microphone, through sox, arecord or parec)",
    )


def microphone() -> list[str]:
    """The first recorder found on PATH, as a command line."""
    from dstorch.features import SAMPLE_RATE  # here: the parser loads this module, not numpy

    for name, command in MICROPHONES:
        if shutil.which(name):
            return [arg.format(rate=SAMPLE_RATE) for arg in command]
    names = ", ".join(name for name, _ in MICROPHONES)
    raise ListenError(f"no microphone recorder found ({names}); install sox, or pass --input")


def _pcm_chunks(stream) -> Iterator:
    """int16 chunks of raw little-endian PCM read from a binary stream."""
    import numpy as np

    rest = b""
    while data := stream.read(CHUNK * BYTES_PER_SAMPLE):
        data = rest + data
        cut = len(data) // BYTES_PER_SAMPLE * BYTES_PER_SAMPLE
        rest = data[cut:]
        yield np.frombuffer(data[:cut], "<i2").astype(np.int16)


def audio_chunks(spec: str | None) -> Iterator:
    """int16 chunks from --input (file or -) or the microphone."""
    if spec == "-":
        yield from _pcm_chunks(sys.stdin.buffer)
        return
    if spec:
        from dstorch.inference.transcribe import read_audio

        pcm = read_audio(Path(spec))
        for start in range(0, len(pcm), CHUNK):
            yield pcm[start : start + CHUNK]
        return
    recorder = subprocess.Popen(microphone(), stdout=subprocess.PIPE)
    try:
        yield from _pcm_chunks(recorder.stdout)
    finally:
        recorder.terminate()
        recorder.wait()
    if recorder.returncode not in (0, -15):
        raise ListenError(f"{recorder.args[0]} stopped (exit {recorder.returncode}); check the mic")


def commands_of(config_path: str) -> list[str]:
    """The configured language's commands (used when the model has no gate)."""
    from dstorch.config import PipelineConfig
    from dstorch.prepare.problems import PrepareError
    from dstorch.prepare.sources import normalise_text, read_commands

    config = PipelineConfig.load(config_path)
    path = Path(config.commands_csv)
    if not path.is_absolute():  # relative to the project, where configuration.env is
        path = Path(config_path).parent / path
    try:
        commands, _ = read_commands(path, config.language)
    except PrepareError:
        return []
    return [normalise_text(text, {"'"}) for text in commands.values()]


def run(args: argparse.Namespace) -> int:
    from dstorch.inference.live import load_recogniser
    from dstorch.inference.transcribe_cli import default_paths, load_gate

    args.vad_trim = "no"  # the endpointer does the trimming
    model, scorer = default_paths(args)
    gate = load_gate(args.gate, model)
    commands = None if gate else commands_of(args.config)
    recogniser = load_recogniser(model, scorer, gate, commands=commands)
    if args.input is None:
        print("Listening (Ctrl-C to stop)...", file=sys.stderr, flush=True)
    try:
        for chunk in audio_chunks(args.input):
            for utterance in recogniser.feed(chunk):
                print(utterance.to_json(), flush=True)
    except KeyboardInterrupt:
        pass
    for utterance in recogniser.flush():
        print(utterance.to_json(), flush=True)
    return 0
