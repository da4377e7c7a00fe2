"""Training from the studio: what `make run` and `make stop` do (prepare and build first,
so new takes count), and the progress the page shows (epoch, losses, accuracy, the log's
tail, the status line)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

from dstorch.config import PipelineConfig
from dstorch.runner.state import RunState

TAIL_LINES = 30  # log lines the page shows
# As `make all` (without the Docker volumes step), then `make log`, which follows the run
# to its end and, when it finished, installs the export in MODELS_DIR for Try and Report.
START_STEPS = ("prepare", "build", "run", "log")
QUIET_STEPS = ("log",)  # its output is the job log, shown apart
EPOCH_LINE = re.compile(r"Epoch (\d+): dev loss ([\d.]+|nan|inf)")
TRAIN_LOSS = re.compile(r"Epoch (\d+)/\d+: 100%.*loss=([\d.]+)")
ACCURACY_LINES = re.compile(r"^(Scorer: gate .*|Test with the scorer: .*|Test: .*% exact.*)$")
CARRIAGE = re.compile(r".*\r")  # tqdm redraws a line with \r: keep the last drawing


def progress(log: str) -> dict:
    """Epochs [{epoch, dev_loss, train_loss}] and accuracy lines parsed from a job log."""
    epochs: dict[int, dict] = {}
    lines = [CARRIAGE.sub("", line) for line in log.split("\n")]  # splitlines cuts at \r
    for piece in log.replace("\r", "\n").splitlines():
        if match := TRAIN_LOSS.search(piece):
            epochs.setdefault(int(match[1]), {"epoch": int(match[1])})["train_loss"] = float(
                match[2]
            )
    for line in lines:
        if match := EPOCH_LINE.search(line):
            epochs.setdefault(int(match[1]), {"epoch": int(match[1])})["dev_loss"] = float(match[2])
    accuracy = [line for line in lines if ACCURACY_LINES.match(line)]
    return {"epochs": [epochs[k] for k in sorted(epochs)], "accuracy": accuracy}


class Trainer:
    """Start (prepare, build, run: each `python -m dstorch <verb>` in the project folder,
    as make does) and stop the training of the project at `root`."""

    def __init__(self, root: Path, config_path: Path):
        self.root, self.config_path = Path(root), Path(config_path)
        self.step: str | None = None  # the start step running now, if any
        self.output: deque[str] = deque(maxlen=TAIL_LINES)  # what the steps printed
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()
        self.stopping = False
        self.runner: tuple | None = None  # (configuration.env's mtime, runner)

    def _dstorch(self, verb: str) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(
            [sys.executable, "-m", "dstorch", verb, "--config", str(self.config_path)],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def _collect(self, process: subprocess.Popen) -> None:
        """Keep what `process` prints; a progress bar redrawn with \r keeps its last state
        (bytes, so \r is not taken for a line end)."""
        for raw in process.stdout:
            self.output.append(raw.decode(errors="replace").rstrip("\r\n").rsplit("\r", 1)[-1])

    def start(self) -> None:
        """Prepare, build and run in the background (a second start while busy: no-op)."""
        with self.lock:
            if self.step is not None:
                return
            self.step, self.stopping = START_STEPS[0], False
            self.output.clear()
        threading.Thread(target=self._start_steps, daemon=True).start()

    def _start_steps(self) -> None:
        try:
            for verb in START_STEPS:
                with self.lock:
                    if self.stopping:
                        self.output.append(f"stopped before {verb}")
                        return
                    self.step, self.process = verb, self._dstorch(verb)
                if verb in QUIET_STEPS:
                    for _ in self.process.stdout:  # the job log is read from its file
                        pass
                else:
                    self._collect(self.process)
                if self.process.wait() != 0:
                    self.output.append(f"dstorch {verb} failed (exit {self.process.returncode})")
                    return
        finally:
            with self.lock:
                self.step, self.process = None, None

    def stop(self) -> None:
        """Stop a start still preparing, then the training itself (make stop)."""
        with self.lock:
            self.stopping = True
            if self.process is not None and self.step in ("prepare", "build"):
                self.process.terminate()  # the run and its follower end with the job
        stopper = self._dstorch("stop")
        self._collect(stopper)
        stopper.wait()

    def _runner(self):
        """The runner `make status` would use, chosen again when configuration.env changes
        (quietly: select_runner says which it took, and this runs every second)."""
        from dstorch.runner import select_runner

        stamp = self.config_path.stat().st_mtime_ns
        if self.runner is None or self.runner[0] != stamp:
            with contextlib.redirect_stderr(io.StringIO()):
                chosen = select_runner(PipelineConfig.load(self.config_path), self.root)
            self.runner = (stamp, chosen)
        return self.runner[1]

    def snapshot(self) -> dict:
        """Everything the Train page shows, now."""
        runner = self._runner()
        state = runner.read_state() or RunState()
        log_file = getattr(runner, "log_file", None)
        log = ""
        if log_file is not None and Path(log_file).is_file():
            # newline="": keep \r, so a progress bar's redraws collapse to its last one
            with open(log_file, encoding="utf-8", errors="replace", newline="") as f:
                log = f.read()
        tail = [CARRIAGE.sub("", line) for line in log.rstrip("\n").split("\n")[-TAIL_LINES:]]
        return {
            "status": runner.status_line(),
            "step": self.step,
            "epoch": state.epoch,
            "max_epoch": state.max_epoch,
            "phase": state.phase,
            **progress(log),
            "output": list(self.output),
            "log": tail,
        }
