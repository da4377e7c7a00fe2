"""Training: it learns, resumes exactly after SIGTERM, and refuses bad input clearly."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from training_helpers import CLIPS, make_config

from dstorch.config import TrainConfig
from dstorch.runner.state import RunStatus, read_state
from dstorch.training import checkpoint as ckpt
from dstorch.training.loop import train


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dstorch", *args], capture_output=True, text=True, cwd=cwd
    )


def flags(config: TrainConfig) -> list[str]:
    keys = [
        "train_files",
        "dev_files",
        "alphabet_config_path",
        "checkpoint_dir",
        "n_hidden",
        "epochs",
        "train_batch_size",
        "dev_batch_size",
        "random_seed",
        "device",
        "ema_decay",
        "consistency_weight",
    ]
    augment = [f"--augment={spec}" for spec in config.augment]
    return [f"--{k}={getattr(config, k)}" for k in keys] + augment


def test_training_reduces_loss(tmp_path):
    result = train(make_config(tmp_path, epochs=6, train_batch_size=2, learning_rate=0.003))
    losses = [h["dev_loss"] for h in result.state.history]
    assert result.state.epoch == 6 and not result.stopped
    assert losses[-1] < 0.7 * losses[0]
    assert (tmp_path / "ck" / "best.pt").exists()


def test_sigterm_mid_epoch_then_resume_is_exact(tmp_path):
    # Three copies of the clips per epoch leave time to signal before training ends.
    csv = str(CLIPS / "clips.csv")
    # Two views of each clip, drawn per (epoch, clip, view): resume redraws the same ones.
    views = dict(consistency_weight=0.5, augment=["volume[p=0.5,dbfs=-30:-10]", "add[stddev=1]"])
    common = dict(epochs=3, train_files=",".join([csv] * 3), ema_decay=0.9, **views)
    straight = make_config(tmp_path / "a", **common)
    train(straight)
    resumed = make_config(tmp_path / "b", **common)
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dstorch", "train", *flags(resumed)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ck = Path(resumed.checkpoint_dir)
    deadline = time.time() + 120
    while not ckpt.last_checkpoints(ck) and time.time() < deadline:
        time.sleep(0.05)  # the first checkpoint lands at the end of epoch 1
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    stopped = ckpt.load_latest(ck)["state"]
    assert stopped["epoch"] < 3, "SIGTERM arrived after training ended; test is too fast"
    assert "Stopped at epoch" in out
    train(resumed)
    a, b = ckpt.load_latest(Path(straight.checkpoint_dir)), ckpt.load_latest(ck)
    assert a["state"]["step"] == b["state"]["step"] == 72
    # The straight run and the resumed one ran in different processes, whose CPU kernels may
    # round the last bits differently; the weights' 1e-6 tolerance covers that, so does this.
    assert len(a["state"]["history"]) == len(b["state"]["history"]) == 3
    for x, y in zip(a["state"]["history"], b["state"]["history"], strict=True):
        assert x == pytest.approx(y, rel=1e-6)
    for key, tensor in a["model"].items():
        torch.testing.assert_close(tensor, b["model"][key], rtol=0, atol=1e-6)
    assert a["ema"]["updates"] == b["ema"]["updates"] == 72
    for key, tensor in a["ema"]["weights"].items():
        torch.testing.assert_close(tensor, b["ema"]["weights"][key], rtol=0, atol=1e-6)


def test_early_stop_and_plateau_state(tmp_path):
    config = make_config(
        tmp_path,
        epochs=5,
        learning_rate=0.0,
        early_stop=True,
        es_epochs=2,
        es_min_delta=0.0,
        reduce_lr_on_plateau=True,
        plateau_epochs=1,
        plateau_reduction=0.5,
    )
    result = train(config)
    # With lr 0 nothing improves after epoch 1: plateau halves the LR, early stop at 3.
    assert result.state.epoch == 3
    assert result.state.es_counter == 2


def test_corrupt_newest_checkpoint_falls_back(tmp_path):
    config = make_config(tmp_path, epochs=2)
    train(config)
    ck = Path(config.checkpoint_dir)
    newest, older = ckpt.last_checkpoints(ck)[:2]
    newest.write_bytes(newest.read_bytes()[:1000])  # a half-written file
    warnings = []
    payload = ckpt.load_latest(ck, warn=warnings.append)
    assert payload["path"] == str(older) and "unreadable" in warnings[0]
    # Training resumes from the good one and writes a newer checkpoint.
    train(make_config(tmp_path, epochs=3))
    assert ckpt.load_latest(ck)["state"]["epoch"] == 3


def test_other_geometry_gives_clear_error(tmp_path):
    config = make_config(tmp_path, epochs=1)
    train(config)
    other = make_config(tmp_path, epochs=2, n_hidden=48)
    result = cli("train", *flags(other))
    assert result.returncode == 2
    assert "n_hidden=32 but n_hidden=48" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("case", ["bad_rate", "bad_chars", "empty_csv", "missing_wav"])
def test_bad_input_is_one_line_error(tmp_path, case):
    shutil.copy(CLIPS / "go_en_m1.wav", tmp_path / "ok.wav")
    row = "ok.wav,1,go"
    if case == "bad_rate":
        subprocess.run(
            ["sox", str(tmp_path / "ok.wav"), "-r", "8000", str(tmp_path / "x.wav")], check=True
        )
        row = "x.wav,1,go"
    elif case == "bad_chars":
        row = "ok.wav,1,go!"
    elif case == "missing_wav":
        row = "gone.wav,1,go"
    csv = tmp_path / "train.csv"
    csv.write_text("wav_filename,wav_filesize,transcript\n" + ("" if case == "empty_csv" else row))
    config = make_config(tmp_path, train_files=str(csv), dev_files="", epochs=1)
    result = cli("train", *flags(config))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    expected = {
        "bad_rate": "x.wav",
        "bad_chars": "'!'",
        "empty_csv": "train.csv",
        "missing_wav": "gone.wav",
    }[case]
    assert message.startswith("error:") and expected in message


def test_state_file_written_by_job(tmp_path):
    from dstorch.training import job

    config = make_config(tmp_path, epochs=1)
    assert job.run(config) is RunStatus.FINISHED
    state = read_state(tmp_path / "ck")
    assert state.status is RunStatus.FINISHED and state.epoch == 1
    assert state.best_dev_loss > 0


def test_every_last_checkpoint_corrupt_resumes_from_best_and_keeps_it(tmp_path, capsys):
    train(make_config(tmp_path, epochs=2))
    ck = tmp_path / "ck"
    kept = ckpt.read(ck / ckpt.BEST)["state"]["best_dev_loss"]
    for path in ckpt.last_checkpoints(ck):
        path.write_bytes(path.read_bytes()[:1000])
    seen = []  # best.pt's dev loss after every epoch of the rerun

    def epoch_done(state):
        seen.append(ckpt.read(ck / ckpt.BEST)["state"]["best_dev_loss"])

    result = train(make_config(tmp_path, epochs=3), on_epoch=epoch_done)
    assert "resuming from best.pt" in capsys.readouterr().out
    assert result.state.epoch == 3 and len(seen) == 1, "restarted instead of resuming"
    assert max(seen) <= kept, "a fresh start overwrote the better best.pt"


def test_no_readable_checkpoint_is_one_line_error_and_keeps_the_files(tmp_path):
    config = make_config(tmp_path, epochs=1)
    train(config)
    ck = tmp_path / "ck"
    for path in [*ckpt.last_checkpoints(ck), ck / ckpt.BEST]:
        path.write_bytes(path.read_bytes()[:1000])
    before = {p.name: p.read_bytes() for p in ck.glob("*.pt")}
    result = cli("train", *flags(make_config(tmp_path, epochs=2)))
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: every checkpoint in") and "best.pt" in message
    assert {p.name: p.read_bytes() for p in ck.glob("*.pt")} == before, "files were replaced"


def test_nan_loss_fails_the_run_names_the_fix_and_exports_nothing(tmp_path):
    config = make_config(tmp_path, epochs=2, train_batch_size=2, learning_rate=1e9)
    out = tmp_path / "out"
    every_step = ("--learning_rate=1e9", "--checkpoint_secs=0", f"--export_dir={out}")
    result = cli("train", *flags(config), *every_step)
    assert result.returncode != 0 and "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: training diverged: the ")  # weights, or the loss
    assert "became nan" in message
    assert "lower LEARNING_RATE" in message
    state = read_state(tmp_path / "ck")
    assert state.status is RunStatus.FAILED and "lower LEARNING_RATE" in state.error
    assert not out.exists() or not any(out.iterdir()), "a diverged model was exported"
    for path in ckpt.last_checkpoints(tmp_path / "ck"):  # what was saved stays usable
        assert all(t.isfinite().all() for t in ckpt.read(path)["model"].values())


# --- speech that is no command: a rotating part each epoch ----------------------------------


def test_speech_part_rotates_so_every_clip_comes_round():
    from dataclasses import replace

    from dstorch.training.loop import epoch_batches, speech_part

    config = replace(TrainConfig(), speech_per_epoch=0.25, random_seed=7, train_batch_size=4)
    speech = [f"s{i}" for i in range(30)]
    parts = [speech_part(speech, config, epoch, n_train=40) for epoch in range(3)]
    assert [len(p) for p in parts] == [10, 10, 10]  # ceil(0.25 * 40)
    assert sorted(c for p in parts for c in p) == sorted(speech)  # all within 30 / 10 epochs
    assert parts[0] == speech_part(speech, config, 0, n_train=40)  # seeded: resume agrees
    assert speech_part(speech, replace(config, speech_per_epoch=0), 5, 40) == speech
    assert len(speech_part(speech, replace(config, speech_per_epoch=2.0), 0, 40)) == 30
    assert speech_part([], config, 0, 40) == []

    from dstorch.training.data import Sample

    wav = sorted(Path(CLIPS).glob("*.wav"))[0]  # batching reads the file's size

    def clip(i: int) -> Sample:
        return Sample(wav, "x", [1], index=i)

    train, extra = [clip(i) for i in range(8)], [clip(100 + i) for i in range(8)]
    batches = epoch_batches(train, config, 0, speech=extra)
    chosen = [s.index for b in batches for s in b]
    assert sorted(chosen)[:8] == list(range(8)) and len(chosen) == 8 + 2  # ceil(0.25 * 8)
