"""End to end: train on real clips until they fit, export, and run the official client."""

import json
from pathlib import Path

import pytest

from dstorch import checkpoint as ckpt
from dstorch import job
from dstorch.config import TrainConfig
from dstorch.data import FeatureCache, read_csv, read_wav
from dstorch.evaluate import evaluate

FIXTURES = Path(__file__).parent / "fixtures" / "clips"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> TrainConfig:
    """A small model trained to fit the fixture clips, tested and exported by the job."""
    out = tmp_path_factory.mktemp("job")
    config = TrainConfig(
        train_files=str(FIXTURES / "clips.csv"),
        dev_files=str(FIXTURES / "clips.csv"),
        test_files=str(FIXTURES / "clips.csv"),
        alphabet_config_path=str(FIXTURES / "alphabet.txt"),
        checkpoint_dir=str(out / "ck"),
        export_dir=str(out / "model"),
        export_file_name="fit",
        test_output_file=str(out / "model" / "report.json"),
        # Smaller models get stuck spreading one label over many frames on 8 clips.
        n_hidden=256,
        epochs=100,
        train_batch_size=1,
        dev_batch_size=8,
        learning_rate=0.001,
        random_seed=11,
        device="cpu",
    )
    # Train until the clips fit: float results (and so the epoch it happens) vary by CPU.
    for epochs in (100, 150, 200):
        config.epochs = epochs
        assert job.run(config) == "finished"  # later rounds resume from the checkpoint
        if json.loads(Path(config.test_output_file).read_text())["accuracy"] == 1.0:
            break
    return config


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".pb", ".pbmm"])
def test_official_client_transcribes_like_us(trained, deepspeech_lib, suffix):
    from dstorch.client import OfficialModel

    model, alphabet, _ = ckpt.load_for_inference(trained.save_dir)
    samples = read_csv(trained.test_files, alphabet)
    ours = evaluate(model, samples, alphabet, FeatureCache(), 8, model.layer_1.weight.device)
    assert all(r.prediction == r.reference for r in ours), "the model did not fit the clips"
    path = Path(trained.export_dir) / f"fit{suffix}"
    with OfficialModel(path, deepspeech_lib) as official:  # raises unless DS_CreateModel == 0
        theirs = [official.stt(read_wav(s.wav)) for s in samples]
    assert theirs == [r.prediction for r in ours]


@pytest.mark.slow
def test_report_and_export_files(trained):
    import json

    report = json.loads(Path(trained.test_output_file).read_text())
    assert report["samples"] == 8 and report["wer"] == 0.0
    assert {"best", "median", "worst"} <= set(report)
    exported = sorted(p.name for p in Path(trained.export_dir).iterdir())
    assert exported == [
        "alphabet.txt",
        "fit.pb",
        "fit.pbmm",
        "report-accuracy.png",
        "report-confusion.png",
        "report-loss.png",
        "report.html",
        "report.json",
    ]
    assert "<h2>Per command</h2>" in (Path(trained.export_dir) / "report.html").read_text()


def test_missing_kenlm_still_exports_the_model(tmp_path, monkeypatch, capsys):
    """The scorer is optional: without KenLM the job says so in one line and exports."""
    import json

    from dstorch import scorer as S
    from dstorch.tune import ScorerSettings

    monkeypatch.setattr(S, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("DSTORCH_KENLM_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    config = TrainConfig(
        train_files=str(FIXTURES / "clips.csv"),
        dev_files=str(FIXTURES / "clips.csv"),
        test_files=str(FIXTURES / "clips.csv"),
        alphabet_config_path=str(FIXTURES / "alphabet.txt"),
        checkpoint_dir=str(tmp_path / "ck"),
        export_dir=str(tmp_path / "model"),
        export_file_name="m",
        test_output_file=str(tmp_path / "model" / "report.json"),
        n_hidden=32,
        epochs=1,
        train_batch_size=4,
        device="cpu",
    )
    (tmp_path / "lm.txt").write_text("go\nstop\n")
    settings = ScorerSettings(trials=2, corpus=str(tmp_path / "lm.txt"))
    assert job.run(config, scorer=settings) == "finished"
    lines = [line for line in capsys.readouterr().out.splitlines() if "Scorer" in line]
    assert len(lines) == 1 and "build_kenlm.sh" in lines[0]
    exported = sorted(p.name for p in Path(config.export_dir).iterdir())
    assert {"alphabet.txt", "m.pb", "m.pbmm", "report.html", "report.json"} <= set(exported)
    assert not any(name.endswith(".scorer") for name in exported)
    report = json.loads(Path(config.test_output_file).read_text())
    assert "build_kenlm.sh" in report["scorer"]["error"] and "no_scorer" in report
    assert job.read_state(config.save_dir)["scorer"].startswith("error: ")
