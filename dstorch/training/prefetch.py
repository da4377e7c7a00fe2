"""Training batches made ahead in worker processes while the model trains on the current one.

Why: augmenting a clip (time-stretch, rooms, noise) and computing its features is numpy and
scipy on one core, and on the example it took two thirds of an epoch on a 2-core machine
(now, made cheaper, about as long as the step), with the training step waiting. A worker
forked from the trainer makes the next batches while the step runs; on the CPU the step
keeps the other cores (`plan`).

A batch's features depend only on (epoch, position in the epoch, its clips)
(`dstorch.augment.core`), so a batch made in a worker is the batch the trainer would have
made itself: resume stays exact. The workers live for the whole run, their caches (the
clips' audio, the room and babble banks) warm after the first epoch.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import threadpoolctl
import torch
from torch.utils.data import DataLoader, Dataset

from dstorch.training.data import Batch

# Past this many workers a GPU step is no longer waiting for features on the example.
MAX_WORKERS = 8
# Batches each worker keeps ready: one being trained on, one more in flight.
BATCHES_AHEAD = 2


@dataclass(frozen=True)
class Job:
    """One batch to make: where it is in the run, and its clips (the global batch)."""

    epoch: int
    position: int
    n_batches: int
    samples: list


@dataclass(frozen=True)
class Plan:
    """workers: processes making batches (0: the trainer makes them itself);
    threads: what torch computes the training step with (None: leave as it is)."""

    workers: int
    threads: int | None


def plan(device: torch.device, environ: dict | None = None) -> Plan:
    """Workers and torch threads for one training process on `device`.

    The cores are shared by the processes torchrun started on this machine
    (LOCAL_WORLD_SIZE). On a GPU the step hardly needs them, so most make batches. On the
    CPU one worker, and the step keeps the rest: on 2 cores an epoch of the example took
    5.8 s, against 8.1 with the trainer making the batches between steps on both cores;
    before the workers kept to one BLAS thread, 9 with two threads for the step beside the
    worker, 7 with two workers against 6.6 with one
    (docs/experiments.md#speed). With a single core there is nothing to overlap.
    """
    env = os.environ if environ is None else environ
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    per_process = max(1, (cores or 1) // max(1, int(env.get("LOCAL_WORLD_SIZE", 1))))
    if "fork" not in torch.multiprocessing.get_all_start_methods():
        return Plan(0, None)  # the features are closures of the trainer's state: fork only
    if device.type == "cuda":
        return Plan(min(MAX_WORKERS, max(1, per_process - 1)), None)
    if per_process < 2:
        return Plan(0, None)
    return Plan(1, min(torch.get_num_threads(), per_process - 1))


class _Failed:
    """An error raised while making a batch, carried to the trainer to raise there as it
    is: the DataLoader would re-raise it with the worker's traceback in its message."""

    def __init__(self, error: Exception):
        self.error = error


class _Jobs(Dataset):
    def __init__(self, make: Callable[[Job], Batch]):
        self.make = make

    def __getitem__(self, job: Job) -> Batch | _Failed:
        try:
            return self.make(job)
        except Exception as error:  # noqa: BLE001 (re-raised by the trainer)
            return _Failed(error)


class _Queue:
    """The sampler: the jobs of the current epoch, set before each pass."""

    def __init__(self):
        self.jobs: list[Job] = []

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)


def _as_made(item):
    return item


def _start_worker(_worker_id: int) -> None:
    # The trainer alone answers `make stop` and Ctrl-C (it saves after the step); a worker
    # killed by them would fail the trainer's next batch. Workers exit with the trainer.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    # A worker is one core's share: numpy's and scipy's BLAS threads (a pool each) took the
    # trainer's core; one thread each made an epoch of the example 11% shorter.
    threadpoolctl.threadpool_limits(1)


class Prefetcher(contextlib.AbstractContextManager):
    """`batches(jobs)` -> the Batch of every job, in order, made `plan.workers` ahead.

    Use as a context: leaving it stops the workers and gives torch its threads back."""

    def __init__(self, make: Callable[[Job], Batch], how: Plan):
        self.make = make
        self._threads = torch.get_num_threads()
        self._queue = _Queue()
        self._loader = None
        if how.workers:
            self._loader = DataLoader(
                _Jobs(make),
                sampler=self._queue,
                batch_size=None,
                collate_fn=_as_made,  # the batch as make_batch gave it, nothing converted
                num_workers=how.workers,
                prefetch_factor=BATCHES_AHEAD,
                persistent_workers=True,
                multiprocessing_context="fork",
                worker_init_fn=_start_worker,
                # Its own: the loader draws a seed per pass, which from torch's global
                # generator would shift the dropout masks of a resumed run.
                generator=torch.Generator().manual_seed(0),
            )
        if how.threads:
            torch.set_num_threads(how.threads)

    def batches(self, jobs: Iterable[Job]) -> Iterator[Batch]:
        if self._loader is None:
            yield from map(self.make, jobs)
            return
        self._queue.jobs = list(jobs)
        for made in self._loader:
            if isinstance(made, _Failed):
                raise made.error
            yield made

    def __exit__(self, *exc) -> None:
        # The workers stop with the loader's last iterator: drop both now, not at exit.
        self._loader = None
        torch.set_num_threads(self._threads)
