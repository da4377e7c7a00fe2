"""The test phase's acting section: test commands and negatives decoded with candidates."""

import subprocess
from pathlib import Path

import pytest
from training_helpers import CLIPS, make_config

from dstorch.augment import cache
from dstorch.bench.negatives import render_noise
from dstorch.rejection import Gate, gate_path
from dstorch.training import job
from dstorch.training.evaluate import TestReport


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


def test_acting_section_holds_every_clip_with_candidates_and_the_gate(tmp_path, capsys):
    from dstorch.lm.scorer import ScorerError, find_kenlm_bin
    from dstorch.training.tune import ScorerSettings

    try:
        find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))
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
    gate = Gate("margin", 1.5, 3, ("go", "no", "yes", "stop"))
    gate.save(gate_path(tmp_path / "model" / "m.pbmm"))  # as the scorer stage writes it
    assert job.run(config, scorer=ScorerSettings(trials=0, corpus=str(corpus))) == "finished"
    assert "Test acting (scorer, no gate): right" in capsys.readouterr().out
    acting = TestReport.read(config.test_output_file).acting
    assert acting.decoder == "scorer" and acting.commands == ["go", "no", "stop", "yes"]
    assert acting.gate["measure"] == "margin" and acting.gate["num_results"] == 3
    assert [c.negative for c in acting.clips] == [False] * 8 + [True] * 2
    noise = acting.clips[-1]
    assert noise.reference == "" and 1.5 <= noise.seconds <= 3.0
    assert all(1 <= len(c.candidates) <= 3 for c in acting.clips)
    html = (tmp_path / "model" / "report.html").read_text()
    assert "<h2>Acting on commands</h2>" in html and "report-tradeoff.png" not in html  # embedded
