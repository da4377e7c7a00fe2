"""`dstorch train-import`: train on an import (several training CSVs, comma-separated),
export the .pbmm and the .onnx, and both transcribe alike."""

import pytest
from conftest import ROOT
from importer_helpers import librispeech_tree

from dstorch.cli import main
from dstorch.config import PipelineConfig
from dstorch.importers.train import train_config
from dstorch.inference.transcribe import Transcriber
from dstorch.wav import read_wav


@pytest.fixture
def imported(tmp_path):
    splits = {"train-clean-100": 2, "train-other-500": 2, "dev-clean": 1, "test-clean": 1}
    librispeech_tree(tmp_path / "LibriSpeech", splits)
    out = tmp_path / "imports" / "librispeech"
    assert main(["import", "librispeech", str(tmp_path / "LibriSpeech"), "--out", str(out)]) == 0
    return out


def test_flags_come_from_the_import_and_configuration_env(imported, monkeypatch):
    monkeypatch.setenv("DSTORCH_N_HIDDEN", "48")
    config = train_config(PipelineConfig.load(ROOT / "configuration.env"), imported)
    assert config.train_files.split(",") == [
        str(imported / "train-clean-100.csv"),
        str(imported / "train-other-500.csv"),
    ]
    assert config.dev_files == str(imported / "dev-clean.csv")
    assert config.test_files == str(imported / "test-clean.csv")
    assert config.alphabet_config_path == str(imported / "alphabet.txt")
    assert (config.n_hidden, config.export_file_name) == (48, "librispeech")
    assert config.checkpoint_dir == str(imported / "checkpoints")


@pytest.mark.slow
def test_train_export_and_transcribe(imported, monkeypatch):
    settings = {"N_HIDDEN": "32", "MAX_EPOCH": "2", "AUGMENT": "", "EXPORT_ONNX": "yes"}
    for key, value in settings.items():  # as `make train-import KEY=value` sets them
        monkeypatch.setenv(f"DSTORCH_{key}", value)
    assert main(["train-import", str(imported), "--config", str(ROOT / "configuration.env")]) == 0
    model = imported / "model"
    assert {"librispeech.pbmm", "librispeech.onnx", "alphabet.txt"} <= {
        p.name for p in model.iterdir()
    }
    assert '"state": "finished"' in (imported / "checkpoints" / "state.json").read_text()
    pcm = read_wav(next((imported / "clips" / "test-clean").glob("*.wav")))
    onnx = Transcriber(model / "librispeech.onnx", beam_width=8).transcribe(pcm)[0]
    pbmm = Transcriber(model / "librispeech.pbmm", beam_width=8).transcribe(pcm)[0]
    assert (onnx.text, onnx.timesteps) == (pbmm.text, pbmm.timesteps)


def test_an_import_trains_without_the_projects_speech_sets(tmp_path):
    """The speech sets (GENERAL_SENTENCES, on by default) are prepare's; a corpus has none."""
    from config_helpers import shipped_config

    from dstorch.importers.train import train_config

    folder = tmp_path / "imports" / "x"
    folder.mkdir(parents=True)
    (folder / "train.csv").write_text("wav_filename,wav_filesize,transcript\n")
    (folder / "alphabet.txt").write_text(" \na\n")
    (folder / "import.json").write_text(
        '{"corpus": "x", "alphabet": "alphabet.txt", "roles": {"train": ["train.csv"]}}'
    )
    config = train_config(shipped_config(synthetic_voices="auto"), folder)
    assert config.train_files == str(folder / "train.csv")
    assert config.dev_negative_files == config.test_negative_files == ""
