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
VOICES = 10  # the example data's voices: enough for the model to learn the commands
EPOCHS = 30  # about 30 s on one core; dev (= train) is then right with the scorer
MODEL = "m"
NOT_A_COMMAND = "the weather is nice today"


def need_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed (make system-packages)")


def train_command_model(root: Path) -> dict[str, Path]:
    """root/original/en (the takes), root/model/m.{pbmm,scorer,gate.json}: -> the paths
    {"pbmm", "scorer", "gate", "takes"}."""
    from dstorch.config import TrainConfig
    from dstorch.prepare.example_data import make_example_data
    from dstorch.training import job
    from dstorch.training.tune import ScorerSettings
    from dstorch.vad import MARGIN

    need_tools()
    wavs = make_example_data(root, COMMANDS, voices=VOICES)
    # Also each take with the margin of silence the endpointer keeps around speech
    # (vad.MARGIN), as prepare's VAD_TRIM leaves it: live utterances start that way.
    (root / "padded").mkdir()
    for wav in list(wavs):
        pad = silence(MARGIN)
        pcm = np.concatenate([pad, sf.read(str(wav), dtype="int16")[0], pad])
        wavs.append(write_wav(root / "padded" / wav.name, pcm))
    rows = ["wav_filename,wav_filesize,transcript"]
    rows += [f"{w},{w.stat().st_size},{COMMANDS[w.stem.split('_')[-2]]}" for w in wavs]
    (root / "all.csv").write_text("\n".join(rows) + "\n")
    labels = [" ", *"abcdefghijklmnopqrstuvwxyz", "'"]
    (root / "alphabet.txt").write_text("\n".join(labels) + "\n")
    (root / "corpus.txt").write_text("\n".join(COMMANDS.values()) + "\n")
    every = str(root / "all.csv")
    config = TrainConfig(
        train_files=every,
        dev_files=every,
        test_files=every,
        alphabet_config_path=str(root / "alphabet.txt"),
        checkpoint_dir=str(root / "ck"),
        export_dir=str(root / "model"),
        export_file_name=MODEL,
        n_hidden=64,
        epochs=EPOCHS,
        train_batch_size=4,
        dev_batch_size=16,
        test_batch_size=16,
        export_beam_width=100,
        random_seed=1,
        device="cpu",
        learning_rate=0.003,
    )
    corpus = str(root / "corpus.txt")
    assert job.run(config, scorer=ScorerSettings(trials=0, corpus=corpus)) == "finished"
    model = root / "model"
    return {
        "pbmm": model / f"{MODEL}.pbmm",
        "scorer": model / f"{MODEL}.scorer",
        "gate": model / f"{MODEL}.gate.json",
        "takes": root / "original" / "en",
    }


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
