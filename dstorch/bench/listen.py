"""A small real command model for the live-recognition bench (scripts/bench_listen.py) and
tests: the example data's espeak-ng voices say a few commands, each take also with the
margin of silence the endpointer keeps (as prepare's VAD_TRIM leaves it: live utterances
start that way), and a small model trains on them with the strict commands scorer and the
gate, the scorer stage's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dstorch.datafiles import ALPHABET_FILE, ORIGINAL_DIR
from dstorch.rejection import GATE_SUFFIX
from dstorch.vad import MARGIN, SAMPLE_RATE

VOICES = 10  # the example voices: enough for the model to learn a few commands
LABELS = [" ", *"abcdefghijklmnopqrstuvwxyz", "'"]


def _padded(wav: Path, folder: Path) -> Path:
    import soundfile as sf

    pad = np.zeros(round(MARGIN * SAMPLE_RATE), np.int16)
    pcm = np.concatenate([pad, sf.read(str(wav), dtype="int16")[0], pad])
    sf.write(str(folder / wav.name), pcm, SAMPLE_RATE, subtype="PCM_16")
    return folder / wav.name


def train_command_model(
    root: Path, commands: dict[str, str], n_hidden: int = 64, epochs: int = 30
) -> dict[str, Path]:
    """root/original/en (the takes) and root/model/m.{pbmm,scorer,gate.json}: -> paths
    {"pbmm", "scorer", "gate", "takes"}. About 15 s on one core with the defaults."""
    from dstorch.config import TrainConfig
    from dstorch.prepare.example_data import make_example_data
    from dstorch.runner.state import RunStatus
    from dstorch.training import job
    from dstorch.training.tune import ScorerSettings

    wavs = make_example_data(root, commands, voices=VOICES)
    (root / "padded").mkdir(exist_ok=True)
    wavs += [_padded(wav, root / "padded") for wav in wavs]
    rows = ["wav_filename,wav_filesize,transcript"]
    rows += [f"{w},{w.stat().st_size},{commands[w.stem.split('_')[-2]]}" for w in wavs]
    (root / "all.csv").write_text("\n".join(rows) + "\n")
    alphabet = root / ALPHABET_FILE
    alphabet.write_text("\n".join(LABELS) + "\n")
    (root / "corpus.txt").write_text("\n".join(commands.values()) + "\n")
    every = str(root / "all.csv")  # train = dev = test: the gate is calibrated on them
    config = TrainConfig(
        train_files=every,
        dev_files=every,
        test_files=every,
        alphabet_config_path=str(alphabet),
        checkpoint_dir=str(root / "ck"),
        export_dir=str(root / "model"),
        export_file_name="m",
        n_hidden=n_hidden,
        epochs=epochs,
        train_batch_size=4,
        dev_batch_size=16,
        test_batch_size=16,
        export_beam_width=100,
        random_seed=1,
        device="cpu",
        learning_rate=0.003,
    )
    corpus = str(root / "corpus.txt")
    if job.run(config, scorer=ScorerSettings(trials=0, corpus=corpus)) is not RunStatus.FINISHED:
        raise RuntimeError(f"{root}: the command model did not finish training")
    model = root / "model"
    return {
        "pbmm": model / "m.pbmm",
        "scorer": model / "m.scorer",
        "gate": model / f"m{GATE_SUFFIX}",
        "takes": root / ORIGINAL_DIR / "en",
    }
