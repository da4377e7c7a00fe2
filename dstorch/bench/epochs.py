"""Epoch time of the default run: the trainer making every batch itself between steps,
against batches made ahead in a worker (dstorch.training.prefetch), measured in one run.

The project's recordings (the shipped example on a fresh clone) are prepared once into a
scratch folder as `make` prepares them, with its configuration.env (synthetic takes, speech
that is no command, augmentation, two views); then trained from scratch for a few epochs
each way, from the same seed on the same data, one after the other.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from dstorch.config import PipelineConfig, TrainConfig
from dstorch.config.pipeline import ENV_FILE
from dstorch.prepare import prepare
from dstorch.training.loop import train
from dstorch.training.prefetch import Plan, plan


@dataclass
class EpochTiming:
    label: str
    plan: Plan
    batches: int
    epoch_seconds: list[float]
    dev_losses: list[float]  # the same both ways: only who makes the batches differs

    @property
    def seconds(self) -> float:
        """The median epoch: the first also starts the worker and fills its caches."""
        return statistics.median(self.epoch_seconds)


def prepared_example(project: Path, folder: Path) -> TrainConfig:
    """`project`'s recordings prepared into `folder`/data (the project is only read)."""
    config = PipelineConfig.load(project / ENV_FILE, {}, root=project)
    config = dataclasses.replace(config, data_dir=str(folder / "data"))
    prepare(config, project, echo=lambda line: None)
    return config.train_config(config.data_dir, str(folder / "ck"), str(folder / "model"))


def time_epochs(config: TrainConfig, label: str, how: Plan, epochs: int) -> EpochTiming:
    """Train `epochs` epochs from scratch the way `how` says; the time of each."""
    config = dataclasses.replace(config, epochs=epochs, load_checkpoint=False, early_stop=False)
    shutil.rmtree(config.checkpoint_dir, ignore_errors=True)
    marks: list[float] = []
    result = train(
        config,
        on_epoch=lambda state: marks.append(time.monotonic()),
        on_setup=lambda: marks.append(time.monotonic()),
        prefetch=how,
    )
    batches = result.state.step // epochs  # every epoch has the same number
    seconds = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    losses = [h["dev_loss"] for h in result.state.history]
    return EpochTiming(label, how, batches, seconds, losses)


def bench_epochs(project: Path, folder: Path, epochs: int = 3) -> list[EpochTiming]:
    """[the trainer alone, with the prefetch plan for this machine], on the CPU."""
    config = dataclasses.replace(prepared_example(project, folder), device="cpu")
    ahead = plan(torch.device("cpu"))
    alone = time_epochs(config, "trainer makes batches", Plan(0, None), epochs)
    return [alone, time_epochs(config, "made ahead", ahead, epochs)]


def format_epochs(timings: list[EpochTiming]) -> list[str]:
    base = timings[0].seconds
    lines = []
    for t in timings:
        threads = t.plan.threads or torch.get_num_threads()
        lines.append(
            f"epoch  cpu, {t.batches} batches, {t.label} ({t.plan.workers} workers, step on "
            f"{threads} threads): {t.seconds:.1f} s/epoch (median of "
            f"{len(t.epoch_seconds)}) -> {base / t.seconds:.2f}x; dev loss "
            + ", ".join(f"{loss:.3f}" for loss in t.dev_losses)
        )
    return lines
