"""The test phase's acting section: test commands and negatives decoded with candidates."""

import subprocess
from pathlib import Path

import pytest
import torch
from training_helpers import CLIPS, make_config

from dstorch.augment import cache
from dstorch.bench.negatives import render_noise
from dstorch.rejection import Gate, gate_path
from dstorch.runner.state import RunStatus
from dstorch.training import checkpoint as ckpt
from dstorch.training import job
from dstorch.training.acting import acting_report
from dstorch.training.data import FeatureCache, read_csvs
from dstorch.training.evaluate import forward_all
from dstorch.training.report_schema import EvaluationReport


def negatives_csv(folder: Path) -> Path:
    """Two negatives: espeak-ng saying a near miss of "go", and pink noise (nothing said)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw, said = folder / "raw.wav", folder / "go_on.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(raw), "go on"], check=True)
    subprocess.run(
        ["sox", "-R", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(said)], check=True
    )
    cache.use_data_dir(folder)
    try:
        noise = [wav for wav, _, kind in render_noise(folder, 1, seed=2) if kind == "pink"][0]
    finally:
        cache.use_data_dir(None)
    csv = folder / "test_negatives.csv"
    rows = [f"{said},{said.stat().st_size},go on", f"{noise},{noise.stat().st_size},"]
    csv.write_text("wav_filename,wav_filesize,transcript\n" + "\n".join(rows) + "\n")
    return csv


@pytest.fixture(scope="module")
def tested(tmp_path_factory):
    """A one-epoch job with a strict scorer, test commands and two test negatives."""
    from dstorch.lm.scorer import ScorerError, find_kenlm_bin
    from dstorch.training.tune import ScorerSettings

    try:
        find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))
    tmp_path = tmp_path_factory.mktemp("acting")
    corpus = tmp_path / "lm_corpus.txt"
    corpus.write_text("go\nno\nyes\nstop\n")
    config = make_config(
        tmp_path,
        test_files=str(CLIPS / "clips.csv"),
        test_negative_files=str(negatives_csv(tmp_path / "negatives")),
        export_dir=str(tmp_path / "model"),
        export_file_name="m",
        test_output_file=str(tmp_path / "model" / "report.json"),
        n_hidden=8,
        epochs=1,
        train_batch_size=4,
        test_batch_size=8,
        export_beam_width=8,
    )
    settings = ScorerSettings(trials=0, corpus=str(corpus))
    assert job.run(config, scorer=settings) is RunStatus.FINISHED
    return config


def test_acting_section_holds_every_clip_with_its_candidates(tested):
    acting = EvaluationReport.read(tested.test_output_file).acting
    assert acting.decoder == "scorer" and set(acting.commands) >= {"go", "no", "stop", "yes"}
    assert [c.negative for c in acting.clips] == [False] * 8 + [True] * 2
    noise = acting.clips[-1]
    assert noise.reference == "" and 1.5 <= noise.seconds <= 3.0
    assert all(len(c.candidates) >= 1 for c in acting.clips)
    html = (Path(tested.export_dir) / "report.html").read_text()
    assert "<h2>Acting on commands</h2>" in html and "report-tradeoff.png" not in html  # embedded


def test_the_gate_beside_the_model_sets_the_candidates_asked_for(tested, capsys):
    from dstorch.lm.scorer import Scorer

    model, alphabet, _ = ckpt.load_for_inference(tested.save_dir)
    samples = read_csvs(tested.test_files, alphabet)
    outputs = forward_all(model, samples, FeatureCache(), 8, torch.device("cpu"))
    gate = Gate("margin", 1.5, 3, ("go", "no", "yes", "stop"))
    gate.save(gate_path(Path(tested.export_dir) / "m.pbmm"))  # as the scorer stage writes it
    lm = Scorer(Path(tested.export_dir) / "m.scorer")
    acting = acting_report(tested, model, alphabet, outputs, lm, torch.device("cpu"))
    assert acting.gate["measure"] == "margin" and acting.gate["num_results"] == 3
    assert acting.commands == ["go", "no", "stop", "yes"]
    assert all(1 <= len(c.candidates) <= 3 for c in acting.clips)
    assert "Test acting (scorer, no gate): right" in capsys.readouterr().out
