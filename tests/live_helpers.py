"""A real command model for the live-recognition and studio tests: espeak-ng voices (the
example data's) say three commands, a small model trains on them for a few seconds with the
project's strict commands scorer and gate, and long recordings mix its commands with
silence, noise and speech that is no command."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

COMMANDS = {"1": "play music", "2": "stop", "3": "open the door"}
NOT_A_COMMAND = "the weather is nice today"


def need_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (make system-packages)")


def train_command_model(root: Path) -> dict[str, Path]:
    """A model of COMMANDS (dstorch.bench.listen): {"pbmm", "scorer", "gate", "takes"}."""
    from dstorch.bench.listen import train_command_model as train

    need_tools()
    return train(root, COMMANDS)


def take(takes: Path, key: str, voice: int = 0) -> np.ndarray:
    """int16 PCM of command `key` said by the example voice number `voice`."""
    from dstorch.prepare.example_data import voice_specs

    speaker = voice_specs()[voice]["speaker"]
    path = takes / f"shapes_{speaker}_2_3_000000_{key}_001.wav"
    return sf.read(str(path), dtype="int16")[0]


def speak(text: str, folder: Path, voice: str = "en+m1") -> np.ndarray:
    """int16 PCM at 16 kHz of espeak-ng saying `text`."""
    raw, out = folder / "espeak.wav", folder / "spoken.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    subprocess.run(
        ["sox", "-R", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out)], check=True
    )
    return sf.read(str(out), dtype="int16")[0]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * 16000), np.int16)


def noise(seconds: float, level: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(round(seconds * 16000)) * level).astype(np.int16)


def write_wav(path: Path, pcm: np.ndarray) -> Path:
    sf.write(str(path), pcm, 16000, subtype="PCM_16")
    return path
