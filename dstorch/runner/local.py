"""The local runner: the job as a detached process in this Python environment.

Everything lives in `runs/<MODEL_NAME>/`: job.pid, job.log (appended across restarts),
checkpoints/ (with the job's state.json) and model/ (the export). The process gets its
own session so that `make` returning, or a terminal closing, does not take it down.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from dstorch.config import PipelineConfig
from dstorch.fs import (
    LOCK_FD_ENV,
    LOCK_FILE,
    AlreadyRunning,
    atomic_write,
    lock_busy,
    lock_holder,
    take_lock,
    write_lock_pid,
)
from dstorch.runner.base import (
    Runner,
    RunnerError,
    exit_status,
    job_environment,
)
from dstorch.runner.state import RunState, read_state
from dstorch.runner.torchrun import describe, host_has_nvidia_gpu, launcher_args

POLL_S = 0.2


class LocalRunner(Runner):
    """Runs `sys.executable -m dstorch job` in the background on this machine."""

    name = "local"

    def __init__(self, config: PipelineConfig, root: Path):
        super().__init__(config, root)
        self.run_dir = config.run_dir(self.root)
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.export_dir = self.run_dir / "model"
        self.pid_file = self.run_dir / "job.pid"
        self.log_file = self.run_dir / "job.log"
        self._process: subprocess.Popen | None = None

    # --- process bookkeeping -------------------------------------------------------------
    def pid(self) -> int | None:
        """The job's pid: the pid file, else what the run lock names (a job started by
        hand, or by another `make run`)."""
        for text in (
            self.pid_file.read_text() if self.pid_file.exists() else "",
            lock_holder(self.checkpoint_dir / LOCK_FILE),
        ):
            try:
                return int(text.strip())
            except ValueError:
                continue
        return None

    def alive(self) -> bool:
        """The job's run lock is held: true from before it starts until its process is
        gone, whatever the pid file says (a stale pid file cannot fool it)."""
        if self._process is not None:
            self._process.poll()  # reap our own child so it does not linger as a zombie
        return lock_busy(self.checkpoint_dir)

    def read_state(self) -> RunState | None:
        return read_state(self.checkpoint_dir)

    # --- lifecycle -----------------------------------------------------------------------
    def create_volumes(self) -> None:
        for path in (self.checkpoint_dir, self.export_dir):
            path.mkdir(parents=True, exist_ok=True)
        print(f"local runner: runs in {self.run_dir.relative_to(self.root)}/")

    def build(self) -> None:
        print(f"local runner: nothing to build; the job runs with {sys.executable}")

    def command(self, launch: list[str] | None = None) -> list[str]:
        """The job, under torchrun when GPUS/NNODES ask for more than one process
        (`launch`: launcher_args, computed when not given)."""
        if launch is None:
            launch = launcher_args(self.config, host_has_nvidia_gpu())
        return [
            sys.executable,
            *launch,
            "-m",
            "dstorch",
            "job",
            "--data_dir",
            str(self.data_dir),
            "--checkpoint_dir",
            str(self.checkpoint_dir),
            "--export_dir",
            str(self.export_dir),
        ]

    def start(self) -> None:
        self.create_volumes()
        # The run lock, taken here and inherited by the job: two `make run`s at once can
        # never start two trainers on one checkpoint dir.
        try:
            lock = take_lock(self.checkpoint_dir)
        except AlreadyRunning:
            holder = lock_holder(self.checkpoint_dir / LOCK_FILE)
            print(f"local runner: already running (pid {holder}); `make log` follows it")
            return
        try:
            state = self.read_state()
            self.record_epoch(state)
            note = self.finished_note(state)
            if note:
                print(f"local runner: {note}")
                return
            self.check_data()
            self._spawn(lock)
        finally:
            os.close(lock)

    def _spawn(self, lock: int) -> None:
        launch = launcher_args(self.config, host_has_nvidia_gpu())
        command = self.command(launch)
        env = {**os.environ, **job_environment(self.config), LOCK_FD_ENV: str(lock)}
        # The package is importable from the checkout even when it is not pip-installed.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root), env.get("PYTHONPATH")]))
        with open(self.log_file, "ab") as log:
            log.write(f"=== {datetime.now().isoformat(timespec='seconds')} start ===\n".encode())
            log.flush()
            self._process = subprocess.Popen(
                command,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(lock,),
            )
        write_lock_pid(lock, self._process.pid)
        atomic_write(self.pid_file, f"{self._process.pid}\n")
        self.remember()
        print(
            f"local runner: started {describe(launch)} (pid {self._process.pid}); "
            f"log: {self.log_file.relative_to(self.root)}"
        )

    def _signal(self, pid: int, sig: int) -> None:
        try:
            os.killpg(pid, sig)  # the job leads its own session: reach its children too
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _wait_gone(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)
        return True

    def stop(self, grace: float = 60) -> None:
        pid = self.pid()
        if pid is None or not self.alive():
            print("local runner: not running")
        else:
            print(f"local runner: stopping pid {pid} (finishing the current step)")
            self._signal(pid, signal.SIGTERM)
            if not self._wait_gone(grace):
                print(
                    f"local runner: still running after {grace:g}s; killing it "
                    "(the next start resumes from the last checkpoint)"
                )
                self._signal(pid, signal.SIGKILL)
                self._wait_gone(10)
        self.pid_file.unlink(missing_ok=True)
        self.record_epoch(self.read_state())

    def follow_log(self) -> int:
        if not self.log_file.exists():
            raise RunnerError("no training log yet; start a run first (make run)")
        out = sys.stdout.buffer
        try:
            with open(self.log_file, "rb") as log:
                while True:
                    chunk = log.read(65536)
                    if chunk:
                        out.write(chunk)
                        out.flush()
                        continue
                    if not self.alive():
                        out.write(log.read())  # whatever arrived between read and check
                        out.flush()
                        break
                    time.sleep(POLL_S)
        except KeyboardInterrupt:
            print("\n(stopped following the log; the job keeps running)")
            return 130
        state = self.read_state()
        self.record_epoch(state)
        return exit_status(state)

    def fetch_outputs(self) -> list[Path]:
        self.record_epoch(self.read_state())
        files = sorted(
            p for p in self.export_dir.glob("*") if p.is_file() and not p.name.startswith(".")
        )
        where = f"{self.export_dir.relative_to(self.root)}/"
        return self.install_models(
            where, {p.name: lambda target, p=p: shutil.copy2(p, target) for p in files}
        )

    def reset(self) -> None:
        if self.alive():
            self.stop()
        for path in (self.checkpoint_dir, self.export_dir):
            shutil.rmtree(path, ignore_errors=True)
        self.forget_epoch()
        print("local runner: checkpoints and state removed; the next run starts from scratch")

    def clean(self) -> None:
        if self.alive():
            self.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.forget_epoch()
        print(f"local runner: removed {self.run_dir.relative_to(self.root)}/")
