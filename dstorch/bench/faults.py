"""The fault harness (`make bench-faults`, tests/bench/test_faults.py): SIGKILL the trainer,
prepare and the scorer stage at random (seeded) points, rerun each to the end, and check
what a crash may cost.

Trainer trials: each kill may lose at most the work since the last checkpoint (the rerun
resumes from the newest checkpoint present at the kill), leaves no unreadable checkpoint
or state file, and the final weights are bit-identical to an uninterrupted run with the
same seed. Prepare and scorer trials: the rerun ends with the same files, byte for byte,
as an uninterrupted run. No trial may leave a temp file behind once rerun.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from dstorch.config import ENV_FILE, SUMMARIES_DIR
from dstorch.datafiles import (
    ALPHABET_FILE,
    COMMANDS_CSV,
    ORIGINAL_DIR,
    REGISTRY_FILE,
    REPORT_HTML,
    REPORT_JSON,
)
from dstorch.fs import LOCK_FILE, PREPARE_LOCK, SOURCE_ROOT, TEMP_GLOB
from dstorch.runner.state import STATE_FILE, RunPhase, RunStatus, read_state
from dstorch.training import checkpoint as ckpt

ROOT = SOURCE_ROOT  # the example data and configuration.env the trials copy
CLIPS = ROOT / "tests" / "fixtures" / "clips"
RESUMED = re.compile(r"Resuming from \S+: epoch \d+, step (\d+)")
POLL_S = 0.02


@dataclass
class Figures:
    """Counts over all trials of one kind; `problems` says what went wrong where."""

    trials: int = 0
    killed: int = 0  # the kill landed before the run ended
    resumed: int = 0  # the rerun resumed from a checkpoint (not from scratch)
    identical: int = 0  # final result bit-identical to the uninterrupted run
    corrupt: int = 0  # unreadable checkpoint/state/output files, or temp files left
    problems: list[str] = field(default_factory=list)

    def line(self, kind: str) -> str:
        resumed = f"{self.resumed} resumed from a checkpoint, " if kind == "trainer" else ""
        return (
            f"{kind}: {self.trials} trials, {self.killed} killed mid-run, {resumed}"
            f"{self.identical} bit-identical to an uninterrupted run, "
            f"{self.corrupt} with corrupt or leftover temp files"
        )


def _env() -> dict[str, str]:
    # One thread: the same float results in every process (bit-identity is the point).
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSTORCH_")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}


def _start(argv: list[str], log: Path, cwd: Path | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dstorch", *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(),
            cwd=cwd,
            start_new_session=True,  # the kill reaches lmplz and sox too
        )


def _finish(argv: list[str], log: Path, cwd: Path | None = None) -> None:
    code = _start(argv, log, cwd).wait()
    if code != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"dstorch {argv[0]} exited {code}:\n{tail}")


def _kill_after(proc: subprocess.Popen, delay: float, when=lambda: True) -> bool:
    """SIGKILL the process group `delay` s after `when()` holds; False if it ended first."""
    while not when():
        if proc.poll() is not None:
            return False
        time.sleep(POLL_S)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(POLL_S)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def _temps(folder: Path) -> list[Path]:
    return list(folder.rglob(TEMP_GLOB)) if folder.exists() else []


# Not compared: the lock, the run's state and logs, and the report's time stamp.
UNCOMPARED = (PREPARE_LOCK, LOCK_FILE, STATE_FILE, SUMMARIES_DIR, REPORT_JSON, REPORT_HTML)


def _content(path: Path) -> bytes:
    """What must survive a kill: registry.csv without its mtime column (the time a take
    was rendered differs between any two runs; it only lets unchanged files skip hashing)."""
    if path.name != REGISTRY_FILE:
        return path.read_bytes()
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    return repr([{k: v for k, v in row.items() if k != "mtime_ns"} for row in rows]).encode()


def _digests(folder: Path, skip=UNCOMPARED) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(_content(p)).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part in skip for part in p.relative_to(folder).parts)
    }


# --- the trainer ----------------------------------------------------------------------------


def trainer_flags(ck: Path) -> list[str]:
    """A tiny run: 72 steps, a checkpoint after every step, augmentation drawing on RNGs."""
    csv = str(CLIPS / "clips.csv")
    return [
        f"--train_files={','.join([csv] * 6)}",
        f"--dev_files={csv}",
        f"--alphabet_config_path={CLIPS / ALPHABET_FILE}",
        f"--checkpoint_dir={ck}",
        "--n_hidden=32",
        "--epochs=3",
        "--train_batch_size=2",
        "--dev_batch_size=8",
        "--checkpoint_secs=0",
        "--max_to_keep=3",
        "--random_seed=5",
        "--device=cpu",
        "--augment=volume[p=0.5,dbfs=-35:-15]",
        "--augment=time_mask[p=0.5,n=1,size=3]",
    ]


def _check_files(ck: Path) -> list[str]:
    """Problems with what a kill left: unreadable checkpoints or state."""
    problems = []
    for path in ckpt.last_checkpoints(ck) + [p for p in [ck / ckpt.BEST] if p.exists()]:
        try:
            ckpt.read(path)
        except ckpt.CheckpointError as e:
            problems.append(str(e))
    if (ck / STATE_FILE).exists() and read_state(ck) is None:
        problems.append(f"{ck / STATE_FILE}: unreadable JSON")
    return problems


def _newest_step(ck: Path) -> int | None:
    found = ckpt.last_checkpoints(ck)
    return int(ckpt.LAST_PATTERN.match(found[0].name).group(1)) if found else None


def trainer_trial(work: Path, rng: random.Random, span: tuple[float, float], ref: dict, fig):
    """One kill of `dstorch train` at a random moment in `span` (s after start), then a
    resume to the end; adds to `fig`."""
    ck, log = work / "ck", work / "train.log"
    fig.trials += 1
    proc = _start(["train", *trainer_flags(ck)], log)
    killed = _kill_after(proc, rng.uniform(*span))
    saved = _newest_step(ck)  # every checkpoint file present is complete (atomic rename)
    fig.killed += killed
    problems = _check_files(ck) if killed else []
    before = log.stat().st_size
    _finish(["train", *trainer_flags(ck)], log)
    with open(log, "rb") as f:
        f.seek(before)
        match = RESUMED.search(f.read().decode(errors="replace"))
    if match:
        fig.resumed += 1
    if saved is not None and (match is None or int(match.group(1)) < saved):
        problems.append(f"lost work: newest checkpoint at the kill was step {saved}")
    problems += _check_files(ck) + [f"left behind: {p.name}" for p in _temps(ck)]
    final = ckpt.load_latest(ck)
    same = final["state"]["history"] == ref["state"]["history"] and all(
        torch.equal(t, final["model"][k]) for k, t in ref["model"].items()
    )
    fig.identical += same
    if not same:
        problems.append("final weights differ from the uninterrupted run")
    fig.corrupt += bool(problems)
    fig.problems += [f"trainer trial {fig.trials}: {p}" for p in problems]


def trainer_trials(work: Path, trials: int, seed: int) -> Figures:
    """An uninterrupted reference run, then `trials` killed-and-resumed ones."""
    ref_dir = work / "reference"
    ref_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = _start(["train", *trainer_flags(ref_dir / "ck")], ref_dir / "train.log")
    while not (ref_dir / "ck" / STATE_FILE).exists() and proc.poll() is None:
        time.sleep(POLL_S)
    setup = time.monotonic() - started  # imports: kills before this only test a restart
    if proc.wait() != 0:
        raise RuntimeError((ref_dir / "train.log").read_text()[-2000:])
    span = (setup, time.monotonic() - started)
    ref = ckpt.load_latest(ref_dir / "ck")
    fig = Figures()
    for i in range(trials):
        trial = work / f"trainer-{i}"
        trial.mkdir(parents=True)
        trainer_trial(trial, random.Random(seed * 1000 + i), span, ref, fig)
    return fig


# --- prepare and the scorer stage -------------------------------------------------------------


def make_project(folder: Path, speakers: int = 4) -> Path:
    """A project from the example recordings: `speakers` speakers, a tiny configuration."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / COMMANDS_CSV, folder / COMMANDS_CSV)
    wavs = sorted((ROOT / ORIGINAL_DIR / "en").glob("*.wav"))
    keep = sorted({w.name.split("_")[1] for w in wavs})[:speakers]
    (folder / ORIGINAL_DIR / "en").mkdir(parents=True)
    for wav in wavs:
        if wav.name.split("_")[1] in keep:
            shutil.copy2(wav, folder / ORIGINAL_DIR / "en" / wav.name)  # same mtimes
    settings = {
        "MAX_EPOCH": "1",
        "N_HIDDEN": "16",
        "AUGMENT": "",
        "LM_TUNE_TRIALS": "3",
        "EXPORT_BEAM_WIDTH": "8",
        "RUNNER": "local",
    }
    lines = [
        f"{k}={settings.pop(k, v)}"
        for k, _, v in (
            line.partition("=")
            for line in (ROOT / ENV_FILE).read_text().splitlines()
            if "=" in line and not line.lstrip().startswith("#")
        )
    ]
    (folder / ENV_FILE).write_text("\n".join(lines) + "\n")
    return folder


def prepare_trials(work: Path, trials: int, seed: int) -> Figures:
    """Kill `dstorch prepare` at a random moment, rerun it; data/ must match a clean run."""
    ref = make_project(work / "prepare-reference")
    started = time.monotonic()
    _finish(["prepare"], ref / "prepare.log", cwd=ref)
    span, expected = time.monotonic() - started, _digests(ref / "data")
    fig = Figures()
    for i in range(trials):
        rng = random.Random(seed * 1000 + 500 + i)
        project = make_project(work / f"prepare-{i}")
        fig.trials += 1
        proc = _start(["prepare"], project / "prepare.log", project)
        fig.killed += _kill_after(proc, rng.uniform(0, span))
        _finish(["prepare"], project / "prepare.log", cwd=project)
        left = _temps(project / "data")
        same = _digests(project / "data") == expected
        fig.identical += same
        fig.corrupt += bool(left)
        fig.problems += [f"prepare trial {i}: left behind {p.name}" for p in left]
        if not same:
            fig.problems.append(f"prepare trial {i}: data/ differs from the uninterrupted run")
    return fig


def _job() -> list[str]:
    return [
        "job",
        "--config=configuration.env",
        "--data_dir=data",
        "--checkpoint_dir=run/ck",
        "--export_dir=run/model",
    ]


def _phase(project: Path, phase: RunPhase):
    def reached() -> bool:
        state = read_state(project / "run/ck")
        return state is not None and state.phase is phase

    return reached


def scorer_trials(work: Path, trials: int, seed: int) -> Figures:
    """Kill `dstorch job` (and its lmplz) during the scorer stage, then rerun it."""
    ref = work / "prepare-reference"  # prepared by prepare_trials
    _finish(_job(), ref / "job.log", cwd=ref)
    expected = _digests(ref / "run" / "model")
    fig = Figures()
    for i in range(trials):
        rng = random.Random(seed * 1000 + 900 + i)
        project = work / f"scorer-{i}"
        shutil.copytree(ref, project, ignore=shutil.ignore_patterns("run", "*.log"))
        fig.trials += 1
        proc = _start(_job(), project / "job.log", project)
        fig.killed += _kill_after(proc, rng.uniform(0, 0.3), _phase(project, RunPhase.SCORER))
        _finish(_job(), project / "job.log", cwd=project)
        state = read_state(project / "run/ck")
        left = _temps(project / "run")
        finished = state is not None and state.status is RunStatus.FINISHED
        same = finished and _digests(project / "run/model") == expected
        fig.identical += same
        fig.corrupt += bool(left)
        fig.problems += [f"scorer trial {i}: left behind {p.name}" for p in left]
        if not same:
            fig.problems.append(f"scorer trial {i}: model/ differs from the uninterrupted run")
    return fig
