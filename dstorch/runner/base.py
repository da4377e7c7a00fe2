"""What both runners share: the job's state file, the configuration handed to the job,
the CURRENT_EPOCH bookkeeping in configuration.env and the one-line status.

A runner starts `python -m dstorch job` somewhere (a local process, a container) and
only ever *reads* the job's `state.json`; the job alone writes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from dstorch.config import ENV_FILE, ENV_PREFIX, PipelineConfig
from dstorch.datafiles import ALPHABET_FILE
from dstorch.errors import DstorchError
from dstorch.fs import atomic_target, atomic_write, files_digest
from dstorch.runner.install import install
from dstorch.runner.preflight import check_alphabet, check_augment
from dstorch.runner.state import RunPhase, RunState, RunStatus

# In the run folder: the runner that last started the run, which RUNNER=auto follows.
RUNNER_FILE = "runner"
# Exit statuses of follow_log(): the run ended well, badly, or is not known to have run.
OK, FAILED = 0, 1
# What the status line says besides a RunStatus: no state.json yet, "running" in it with
# no process behind it (killed hard, or the machine went away), a word it does not know.
NOT_STARTED, INTERRUPTED, UNKNOWN = "not started", "interrupted", "unknown"


def started_with(config: PipelineConfig, root: Path) -> str | None:
    """The name of the runner that last started this model's run ("local", "docker"), or
    None when none did (or `make clean` forgot it)."""
    try:
        return (config.run_dir(root) / RUNNER_FILE).read_text().strip() or None
    except OSError:
        return None


class RunnerError(DstorchError, ValueError):
    """A problem the user can fix; the message is one line that names the fix."""


def job_environment(config: PipelineConfig) -> dict[str, str]:
    """Every PipelineConfig key as DSTORCH_<KEY>, the text the job parses back."""
    env = {}
    for field in fields(config):
        value = getattr(config, field.name)
        if isinstance(value, bool):
            value = "yes" if value else "no"
        env[ENV_PREFIX + field.name.upper()] = str(value)
    # Logs must stream as they are written (a pipe or container log is not a terminal).
    env["PYTHONUNBUFFERED"] = "1"
    return env


def set_env_value(path: Path, key: str, value: str) -> None:
    """Set KEY=value in a dotenv file, keeping every other line (comments too).

    Written atomically (dstorch.fs), so an interrupted write never leaves a half-written
    configuration.env behind; a symlinked file is written where the link points, so the
    link (a configuration kept elsewhere, in a dotfiles repository) stays a link.
    """
    path = Path(path).resolve() if Path(path).is_symlink() else Path(path)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []
    pattern = re.compile(rf"^\s*(export\s+)?{re.escape(key)}\s*=")
    replaced = False
    for i, line in enumerate(lines):
        if pattern.match(line):
            lines[i] = f"{key}={value}\n"
            replaced = True
    if not replaced:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(f"{key}={value}\n")
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    with atomic_target(path, mode=mode) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")


def effective_state(state: RunState | None, alive: bool) -> str:
    """What the user should be told: the job's word, corrected by whether it still runs."""
    if alive:
        return RunStatus.RUNNING
    if state is None:
        return NOT_STARTED
    if state.status is None:
        return UNKNOWN
    return INTERRUPTED if state.status is RunStatus.RUNNING else state.status


def format_status(state: RunState | None, alive: bool, runner: str) -> str:
    """One line: state, runner, epoch/max epoch, best dev loss."""
    shown = effective_state(state, alive)
    words = [f"{shown} ({runner})"]
    if state is not None:
        epochs = f"{state.epoch or 0}/{'?' if state.max_epoch is None else state.max_epoch}"
        words.append(f"epoch {epochs}")
        loss = state.best_dev_loss
        words.append("best dev loss n/a" if loss is None else f"best dev loss {loss:.4f}")
        known = (state.unseen_accuracy, state.seen_accuracy)
        if shown == RunStatus.FINISHED and any(v is not None for v in known):
            words.append("test accuracy " + _voices(state))
        if shown == RunStatus.FAILED and state.error:
            words.append(f"error: {state.error}")
    return ", ".join(words)


def _voices(state: RunState) -> str:
    """Unseen and seen voices apart: the unseen figure is what the next speaker gets."""
    accuracy = {"unseen": state.unseen_accuracy, "seen": state.seen_accuracy}
    return ", ".join(
        f"{group} n/a" if value is None else f"{group} voices {value:.1%}"
        for group, value in accuracy.items()
    )


def exit_status(state: RunState | None) -> int:
    """follow_log()'s return value once the job is gone."""
    return OK if state is not None and state.status and state.status.ended_well else FAILED


class Runner:
    """The interface shared by LocalRunner and DockerRunner (see their modules)."""

    name = "runner"

    def __init__(self, config: PipelineConfig, root: Path):
        self.config = config
        self.root = Path(root).resolve()

    @property
    def models_dir(self) -> Path:
        return self.root / self.config.models_dir

    @property
    def data_dir(self) -> Path:
        return self.root / self.config.data_dir

    def data_files(self) -> list[Path]:
        """The files of data/ the job's result depends on, as the job is told them."""
        flags = self.config.train_config(str(self.data_dir), "checkpoints", "export")
        return [Path(f) for f in flags.data_files()]

    def check_data(self) -> None:
        """What the job needs, checked before it starts (the job's own errors come only
        after `make run` has returned)."""
        files = self.data_files()
        missing = [p.relative_to(self.data_dir).as_posix() for p in files if not p.exists()]
        if missing:
            raise RunnerError(
                f"{self.config.data_dir}/ lacks {', '.join(missing)}; prepare the data first"
            )
        check_augment(self.config)
        check_alphabet(self.config, self.read_state(), self.data_dir / ALPHABET_FILE)

    def record_epoch(self, state: RunState | None) -> None:
        """Copy the last finished epoch into configuration.env (what `make stop` promises).

        Every verb that reads the state calls this, so CURRENT_EPOCH follows the run:
        after a stop, after it finished, and back to 0 after reset/clean."""
        if state is None or state.epoch is None or state.epoch == self.config.current_epoch:
            return
        set_env_value(self.root / ENV_FILE, "CURRENT_EPOCH", str(state.epoch))
        self.config.current_epoch = state.epoch
        print(f"CURRENT_EPOCH={state.epoch} recorded in {ENV_FILE}")

    def finished_note(self, state: RunState | None) -> str | None:
        """Why `make run` has nothing to do: the run finished at MAX_EPOCH (or stopped
        early) and MAX_EPOCH was not raised since. None when there is work left."""
        if state is None or state.status is not RunStatus.FINISHED:
            return None
        if state.data != files_digest(self.data_files()):
            return None  # new data (make rebuild NEW_DATA=yes): test and export again
        done = state.max_epoch or state.epoch or 0
        if self.config.total_epochs > done:
            return None  # MAX_EPOCH (FINE_TUNE_EPOCHS) raised: train on from the checkpoint
        epoch, key = "?" if state.epoch is None else state.epoch, self.config.epochs_key
        return (
            f"the run already finished (epoch {epoch}, {key}={done}); make export copies "
            f"the model. To train on, raise {key} (make run {key}={done + 20}); "
            "to start over, make reset"
        )

    def remember(self) -> None:
        """Note that this runner started the run, so that `make log`, `status` and `stop`
        with RUNNER=auto reach it even when `make run RUNNER=...` chose it by hand."""
        atomic_write(self.config.run_dir(self.root) / RUNNER_FILE, f"{self.name}\n")

    def forget_epoch(self) -> None:
        if (self.root / ENV_FILE).exists():
            set_env_value(self.root / ENV_FILE, "CURRENT_EPOCH", "0")
        self.config.current_epoch = 0

    # The interface; each runner implements all of these.
    def create_volumes(self) -> None:
        """Create where data, checkpoints and the model live (`make volumes`)."""
        raise NotImplementedError

    def build(self) -> None:
        """Make the job runnable (the trainer image; nothing locally)."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the job detached and return; resumes from the checkpoints."""
        raise NotImplementedError

    def stop(self, grace: float = 60) -> None:
        """SIGTERM, wait up to `grace` seconds, then record CURRENT_EPOCH."""
        raise NotImplementedError

    def follow_log(self) -> int:
        """Stream the output until the job ends; 0 when it finished or was stopped."""
        raise NotImplementedError

    def read_state(self) -> RunState | None:
        """The job's state.json (dstorch.runner.state), None before the first run."""
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def fetch_outputs(self) -> list[Path]:
        """Copy the exported model files into MODELS_DIR; returns the copies."""
        raise NotImplementedError

    def install_models(self, where: str, files: dict[str, Callable[[Path], None]]) -> list[Path]:
        """Install `files` ({name: write(target path)}) into MODELS_DIR as this model's set
        (dstorch.runner.install: only the model's own files are replaced, the rest of the
        folder is left alone). Refused when the run failed, or has not exported yet
        (`where` names the export folder in that error)."""
        state = self.read_state() or RunState()
        if state.status is RunStatus.FAILED:
            raise RunnerError(
                f"the run failed in {state.phase or RunPhase.SETUP} "
                f"({state.error or 'see make log'}); nothing exported: fix it, then "
                "make run"
            )
        if not files:
            raise RunnerError(
                f"no exported model in {where} yet; the run has not finished (see make log)"
            )
        copies = install(self.models_dir, self.config.model_name, files)
        print(f"{self.name} runner: {len(copies)} files copied into {self.config.models_dir}/")
        return copies

    def clean(self) -> None:
        """Remove everything the runner made (processes/containers, checkpoints, images)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget checkpoints and state so the next start trains from scratch."""
        raise NotImplementedError

    def status_line(self) -> str:
        state = self.read_state()
        self.record_epoch(state)
        return format_status(state, self.alive(), self.name)
