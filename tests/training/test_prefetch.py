"""Batches made ahead in worker processes: the same batches in the same order, errors as
they were raised, workers deaf to stop signals, and torch's threads given back."""

import os
import signal

import pytest
import torch

from dstorch.alphabet import DataError
from dstorch.training.prefetch import Job, Plan, Prefetcher, plan


def jobs(epoch: int, n: int) -> list[Job]:
    return [Job(epoch, i, n, [f"clip{i}"]) for i in range(n)]


def made(job: Job) -> tuple:
    """What a worker hands back: the job and the process that made it."""
    if job.samples == ["bad"]:
        raise DataError("bad.wav: not a WAV file; convert it to 16 kHz mono")
    return job.epoch, job.position, job.samples, os.getpid()


@pytest.mark.parametrize(
    ("device", "cores", "local_ranks", "expected"),
    [
        ("cpu", 2, 1, Plan(1, 1)),  # one core makes batches, one trains
        ("cpu", 16, 1, Plan(1, 15)),
        ("cpu", 1, 1, Plan(0, None)),  # nothing to overlap on one core
        ("cpu", 2, 2, Plan(0, None)),  # two ranks already fill two cores
        ("cuda", 16, 1, Plan(8, None)),
        ("cuda", 16, 4, Plan(3, None)),
        ("cuda", 1, 1, Plan(1, None)),
    ],
)
def test_plan_shares_the_cores(monkeypatch, device, cores, local_ranks, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(torch, "get_num_threads", lambda: cores)
    assert plan(torch.device(device), {"LOCAL_WORLD_SIZE": str(local_ranks)}) == expected


def test_a_worker_makes_the_same_batches_in_order():
    todo = jobs(3, 7)
    with Prefetcher(made, Plan(1, None)) as prefetcher:
        ahead = list(prefetcher.batches(todo))
    here = [made(job) for job in todo]
    assert [b[:3] for b in ahead] == [b[:3] for b in here]
    assert {b[3] for b in ahead} != {os.getpid()}  # made in another process


def test_without_workers_the_trainer_makes_them():
    with Prefetcher(made, Plan(0, None)) as prefetcher:
        assert [b[3] for b in prefetcher.batches(jobs(0, 3))] == [os.getpid()] * 3


def test_a_pass_cut_short_then_the_next_epoch():
    with Prefetcher(made, Plan(1, None)) as prefetcher:
        for batch in prefetcher.batches(jobs(0, 6)):
            if batch[1] == 1:
                break  # a stop signal after the second step
        # Resume mid-epoch, as run_epoch does after a restart: positions 2 on.
        assert [b[:2] for b in prefetcher.batches(jobs(0, 6)[2:])] == [(0, i) for i in range(2, 6)]
        assert [b[:2] for b in prefetcher.batches(jobs(1, 2))] == [(1, 0), (1, 1)]


def test_an_error_making_a_batch_is_raised_as_it_was():
    todo = [*jobs(0, 2), Job(0, 2, 3, ["bad"])]
    with Prefetcher(made, Plan(1, None)) as prefetcher:
        batches = prefetcher.batches(todo)
        assert next(batches)[1] == 0
        with pytest.raises(DataError) as error:
            list(batches)
    assert str(error.value) == "bad.wav: not a WAV file; convert it to 16 kHz mono"


def test_workers_leave_stop_signals_to_the_trainer():
    with Prefetcher(made, Plan(1, None)) as prefetcher:
        batches = prefetcher.batches(jobs(0, 8))
        worker = next(batches)[3]
        # `make stop` signals the whole process group: the worker must keep working.
        os.kill(worker, signal.SIGTERM)
        os.kill(worker, signal.SIGINT)
        assert [b[1] for b in batches] == list(range(1, 8))


def test_threads_are_given_back():
    before = torch.get_num_threads()
    with Prefetcher(made, Plan(1, 1)):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def blas_threads(job: Job) -> list[int]:
    import threadpoolctl

    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]


def test_a_worker_keeps_to_one_blas_thread():
    import numpy  # noqa: F401  (loads its BLAS, as the augmentations do)

    with Prefetcher(blas_threads, Plan(1, None)) as prefetcher:
        (pools,) = prefetcher.batches(jobs(0, 1))
    assert pools and set(pools) == {1}
