"""End to end: train on real clips until they fit, export, and run the official client."""

import json
from pathlib import Path

import pytest
import torch
from conftest import FIXTURES_DIR
from training_helpers import make_config

from dstorch.config import TrainConfig
from dstorch.runner.state import STATE_FILE, RunPhase, RunStatus, read_state
from dstorch.training import checkpoint as ckpt
from dstorch.training import job
from dstorch.training.data import FeatureCache, read_csv
from dstorch.training.evaluate import evaluate
from dstorch.wav import read_wav

FIXTURES = FIXTURES_DIR / "clips"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> TrainConfig:
    """A small model trained to fit the fixture clips, tested and exported by the job."""
    out = tmp_path_factory.mktemp("job")
    config = make_config(
        out,
        test_files=str(FIXTURES / "clips.csv"),
        export_dir=str(out / "model"),
        export_file_name="fit",
        export_tflite=True,
        test_output_file=str(out / "model" / "report.json"),
        # Smaller models get stuck spreading one label over many frames on 8 clips.
        n_hidden=256,
        epochs=100,
        train_batch_size=1,
        dev_batch_size=8,
        learning_rate=0.001,
        random_seed=11,
    )
    # Train until the clips fit: float results (and so the epoch it happens) vary by CPU.
    for epochs in (100, 150, 200):
        config.epochs = epochs
        assert job.run(config) is RunStatus.FINISHED  # later rounds resume from the checkpoint
        if json.loads(Path(config.test_output_file).read_text())["accuracy"] == 1.0:
            break
    return config


@pytest.mark.slow
@pytest.mark.parametrize(
    ("suffix", "library"),
    [(".pb", "deepspeech_lib"), (".pbmm", "deepspeech_lib"), (".tflite", "deepspeech_tflite_lib")],
)
def test_official_client_transcribes_like_us(trained, request, suffix, library):
    """The TF client runs the .pb and .pbmm, the deepspeech-tflite client the .tflite."""
    from dstorch.inference.official import OfficialModel

    model, alphabet, _ = ckpt.load_for_inference(trained.save_dir)
    samples = read_csv(trained.test_files, alphabet)
    ours = evaluate(model, samples, alphabet, FeatureCache(), 8, model.layer_1.weight.device)
    assert all(r.prediction == r.reference for r in ours), "the model did not fit the clips"
    path = Path(trained.export_dir) / f"fit{suffix}"
    lib = request.getfixturevalue(library)
    with OfficialModel(path, lib) as official:  # raises unless DS_CreateModel == 0
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
        "fit.tflite",
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

    from dstorch.training.tune import ScorerSettings

    monkeypatch.setattr("dstorch.lm.scorer.SOURCE_ROOT", tmp_path)
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
    assert job.run(config, scorer=settings) is RunStatus.FINISHED
    lines = [line for line in capsys.readouterr().out.splitlines() if "Scorer" in line]
    assert len(lines) == 1 and "build_kenlm.sh" in lines[0]
    exported = sorted(p.name for p in Path(config.export_dir).iterdir())
    assert {"alphabet.txt", "m.pb", "m.pbmm", "report.html", "report.json"} <= set(exported)
    assert not any(name.endswith(".scorer") for name in exported)
    report = json.loads(Path(config.test_output_file).read_text())
    assert "build_kenlm.sh" in report["scorer"]["error"] and "no_scorer" in report
    assert read_state(config.save_dir).scorer.startswith("error: ")


# --- stops, faults and the lock (fast: a tiny model) ----------------------------------------


def tiny(out: Path, **overrides) -> TrainConfig:
    """make_config's clips, an 8-wide model for one epoch, with a test set and an export:
    every phase of the job, fast."""
    values = dict(
        test_files=str(FIXTURES / "clips.csv"),
        export_dir=str(out / "model"),
        export_file_name="m",
        n_hidden=8,
        epochs=1,
        train_batch_size=4,
        dev_batch_size=8,
        test_batch_size=8,
        export_beam_width=8,
        random_seed=3,
    )
    return make_config(out, **{**values, **overrides})


def sigterm_when(monkeypatch, module, name: str) -> None:
    """Deliver a real SIGTERM to this process as `module.name` is entered (a stop at a
    precise point of a phase)."""
    import os
    import signal

    original = getattr(module, name)

    def wrapped(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


def test_stop_during_setup_is_kept_and_resume_is_exact(tmp_path, monkeypatch):
    from dstorch.training import loop as T

    straight = tiny(tmp_path / "a", epochs=2)
    assert job.run(straight) is RunStatus.FINISHED
    stopped = tiny(tmp_path / "b", epochs=2)
    with monkeypatch.context() as patch:
        sigterm_when(patch, T, "feature_statistics")  # the first thing a fresh setup does
        assert job.run(stopped) is RunStatus.STOPPED
    state = read_state(stopped.save_dir)
    assert (state.status, state.phase) == (RunStatus.STOPPED, RunPhase.SETUP)
    assert ckpt.load_latest(stopped.save_dir)["state"]["step"] == 0, "trained after the stop"
    assert job.run(stopped) is RunStatus.FINISHED
    a, b = ckpt.load_latest(straight.save_dir), ckpt.load_latest(stopped.save_dir)
    assert a["state"]["history"] == b["state"]["history"]
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key


def test_stop_during_scorer_stage_is_not_finished(tmp_path, monkeypatch):
    import dstorch.lm.scorer
    from dstorch.lm.scorer import ScorerError, find_kenlm_bin
    from dstorch.training.tune import ScorerSettings

    try:
        find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))
    corpus = tmp_path / "lm_corpus.txt"
    corpus.write_text("go\nno\nyes\nstop\n")
    config = tiny(tmp_path)
    settings = ScorerSettings(trials=2, corpus=str(corpus))
    with monkeypatch.context() as patch:
        sigterm_when(patch, dstorch.lm.scorer, "_run")  # while KenLM (lmplz or build_binary) runs
        assert job.run(config, scorer=settings) is RunStatus.STOPPED
    state = read_state(config.save_dir)
    assert (state.status, state.phase) == (RunStatus.STOPPED, RunPhase.SCORER)
    assert not (Path(config.export_dir) / "m.pbmm").exists()
    assert job.run(config, scorer=settings) is RunStatus.FINISHED  # make run finishes the stages
    assert (Path(config.export_dir) / "m.scorer").is_file()
    assert read_state(config.save_dir).scorer.endswith("m.scorer")


def test_a_run_an_earlier_version_stopped_resumes_and_keeps_its_keys(tmp_path):
    """state.json as the job wrote it before RunState (stopped in training, without the
    keys added since), plus a key no version knows: the job resumes it and finishes."""
    from dstorch.runner.preflight import alphabet_digest

    config = tiny(tmp_path, test_files="", export_dir="")
    assert job.run(config) is RunStatus.FINISHED
    old = {"state": "stopped", "phase": "training", "data": "x", "max_epoch": 1, "pid": 1}
    old |= {"error": None, "best_dev_loss": None, "epoch": 1, "from_the_future": [1]}
    (Path(config.save_dir) / STATE_FILE).write_text(json.dumps(old, indent=2))
    config.epochs = 2
    assert job.run(config) is RunStatus.FINISHED
    state = read_state(config.save_dir)
    assert (state.status, state.phase, state.epoch, state.max_epoch) == ("finished", "done", 2, 2)
    assert state.alphabet == alphabet_digest(config.alphabet_config_path) and state.data != "x"
    assert state.best_dev_loss is not None and state.others == {"from_the_future": [1]}


def test_second_job_on_a_checkpoint_dir_is_refused(tmp_path):
    import os
    import subprocess
    import sys

    from dstorch.fs import take_lock, write_lock_pid

    config = tiny(tmp_path)
    lock = take_lock(config.save_dir)  # a run in progress: this process
    write_lock_pid(lock, os.getpid())
    try:
        flags = [f"--{k}={getattr(config, k)}" for k in ("train_files", "checkpoint_dir")]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "dstorch",
                "train",
                *flags,
                "--alphabet_config_path",
                config.alphabet_config_path,
                "--n_hidden=8",
                "--device=cpu",
            ],
            capture_output=True,
            text=True,
        )
    finally:
        os.close(lock)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: already running (pid {os.getpid()}) in {config.save_dir}"
    )
    assert not ckpt.last_checkpoints(config.save_dir)


def test_full_disk_fails_in_one_line_with_state_failed(tmp_path):
    from fault_helpers import dstorch, inspect_on_full_disk

    config = tiny(tmp_path, export_dir="")
    ck = Path(config.save_dir)
    keys = ("train_files", "dev_files", "alphabet_config_path", "checkpoint_dir", "n_hidden")
    flags = [f"--{k}={getattr(config, k)}" for k in keys] + ["--device=cpu", "--epochs=1"]
    # 48 KiB: room for state.json, not for a checkpoint (about 100 KiB at n_hidden=8).
    seen = inspect_on_full_disk(ck, 48, dstorch("train", *flags))
    assert seen["rc"] == 2 and "Traceback" not in seen["stderr"], seen["stderr"]
    message = seen["stderr"].strip().splitlines()[-1]
    assert message.startswith(f"error: cannot write {ck}/last-") and "no space left" in message
    state = seen["state"]
    assert state["state"] == "failed" and state["phase"] == "training"
    assert "no space left" in state["error"]
    assert seen["files"] == ["job.lock", "state.json"], "a temp file was left behind"
