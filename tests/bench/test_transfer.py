"""The transfer bench: the few-takes project and the two variants it trains."""

from collections import Counter

from conftest import ROOT

from dstorch.bench.transfer import SCRATCH, Result, few_takes_project, format_results, variant
from dstorch.config import PipelineConfig


def test_few_takes_project_keeps_three_speakers_with_every_command(tmp_path):
    config = PipelineConfig.load(ROOT / "configuration.env", {}, root=ROOT)
    project = few_takes_project(ROOT, tmp_path / "project", config, takes=3)
    wavs = sorted((project / "original" / "en").glob("*.wav"))
    per_command = Counter(w.name.split("_")[-2] for w in wavs)
    assert len({w.name.split("_")[1] for w in wavs}) == 3
    assert set(per_command.values()) == {3} and len(per_command) == 6
    assert (project / "commands.csv").read_bytes() == (ROOT / "commands.csv").read_bytes()
    base = tmp_path / "base.pbmm"
    scratch = variant(project, tmp_path / "a", {}, None)
    tuned = variant(project, tmp_path / "b", {}, base)
    assert scratch.synthetic_voices == tuned.synthetic_voices == "none"
    assert scratch.pretrained_model == "" and tuned.pretrained_model == str(base)
    flags = tuned.train_config(tuned.data_dir, str(tmp_path / "ck"), str(tmp_path / "out"))
    assert flags.learning_rate == tuned.fine_tune_learning_rate
    assert flags.epochs == tuned.fine_tune_epochs
    assert flags.initialize_from_frozen_model == str(base)


def test_results_table():
    table = format_results([Result(SCRATCH, "commands", 0.5, 36)])
    assert table.splitlines()[-1] == "| from scratch | commands | 50% (36 clips) |"
