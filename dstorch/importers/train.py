"""Training on an imported corpus, as DeepSpeech's bin/run-ldc93s1.sh does for its sample:
the import's CSVs for --train_files/--dev_files/--test_files, everything else from
configuration.env (N_HIDDEN, MAX_EPOCH, ... and their `make KEY=value` overrides)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dstorch.config import PipelineConfig, TrainConfig
from dstorch.importers.base import CorpusError
from dstorch.importers.run import read_manifest, role_files

CHECKPOINTS = "checkpoints"  # in the import folder
MODEL = "model"  # in the import folder: the export


def train_config(pipeline: PipelineConfig, folder: Path) -> TrainConfig:
    """The trainer flags for the import in `folder`; checkpoints and the exported model
    go to <folder>/checkpoints and <folder>/model, named after the corpus."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    train = role_files(folder, "train")
    if not train:
        raise CorpusError(f"{folder}: the import has no training CSV; import a train split")
    config = pipeline.train_config(str(folder), str(folder / CHECKPOINTS), str(folder / MODEL))
    return replace(
        config,
        train_files=train,
        dev_files=role_files(folder, "dev"),
        test_files=role_files(folder, "test"),
        speech_files="",  # a corpus has no speech sets (prepare writes those)
        discriminative_weight=0.0,  # a corpus is sentences, not commands to keep apart
        dev_negative_files="",
        test_negative_files="",
        alphabet_config_path=str(folder / manifest["alphabet"]),
        export_file_name=manifest["corpus"],
    )
