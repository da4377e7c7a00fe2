"""Data-parallel training over the processes torchrun starts (DDP).

One process per GPU (nccl), or per CPU worker (gloo). Every rank walks the same global
batches in the same order (`epoch_batches`, seeded by epoch) and trains on its shard of
each, `TRAIN_BATCH_SIZE` clips: the global batch is `TRAIN_BATCH_SIZE x world size`, as in
DeepSpeech, where the batch size is per GPU. The loss is the mean over the global batch, so
the gradient equals a single process's with that global batch (up to float summation
order); see `scale`. The loop's decisions (stop after this step, save now, early stop) use
values every rank shares through `Group.sum`, so all ranks take the same path; only rank 0
writes checkpoints, state.json, the test report and the export.

`Group` is the same interface for one plain process, where every collective is the
identity, so the loop has no separate single-process path.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from dstorch.errors import DstorchError


class DistributedError(DstorchError, ValueError):
    """A launch that cannot work; the message names the setting and the fix."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among torchrun's workers (RANK, WORLD_SIZE, LOCAL_RANK)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, environ: dict | None = None) -> Ranks:
        env = os.environ if environ is None else environ
        return cls(
            int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))
        )


class Group:
    """The ranks training together; one process is a group of one."""

    def __init__(self, ranks: Ranks, device: torch.device):
        self.ranks = ranks
        self.device = device

    @property
    def world_size(self) -> int:
        return self.ranks.world_size

    @property
    def is_main(self) -> bool:
        return self.ranks.is_main

    @property
    def distributed(self) -> bool:
        return self.ranks.world_size > 1

    def shard(self, items: list) -> list:
        """This rank's part of `items`, every world_size-th one: a length-sorted batch
        gives every rank clips of similar length. Empty when len(items) < world size."""
        return items[self.ranks.rank :: self.world_size]

    def scale(self, global_count: int) -> float:
        """Factor turning this rank's summed loss into its part of the global batch's mean:
        DDP averages gradients over ranks, hence the world size."""
        return self.world_size / global_count

    def sum(self, *values: float) -> list[float]:
        """Each value summed over the ranks; every rank gets the same numbers."""
        if not self.distributed:
            return [float(v) for v in values]
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on one of them."""
        return self.sum(float(flag))[0] > 0

    def broadcast(self, value: object) -> object:
        """Rank 0's `value` (any picklable object) on every rank."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def gather(self, value: object) -> list:
        """Every rank's `value`, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        out = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The module the training forward runs through: DDP, which averages gradients
        over the ranks during backward, or the model itself."""
        if not self.distributed:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        wrapped = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        wrapped.n_classes = model.n_classes  # forward_losses reads the blank from it
        return wrapped

    def close(self) -> None:
        """Leave the group together: a rank tearing gloo down while another still has
        collectives in flight aborted now and then ("terminate called without an active
        exception")."""
        if self.distributed and dist.is_initialized():
            with contextlib.suppress(RuntimeError):  # a rank that died: nobody to wait for
                dist.barrier()
            dist.destroy_process_group()


def join(device: torch.device, ranks: Ranks | None = None) -> Group:
    """Join torchrun's process group (nccl on GPUs, one GPU per local rank; gloo on CPU),
    or a group of one when not started by torchrun."""
    ranks = ranks or Ranks.from_env()
    if ranks.world_size == 1:
        return Group(ranks, device)
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if ranks.local_rank >= count:
            raise DistributedError(
                f"process {ranks.local_rank} of this machine has no GPU ({count} visible); "
                f"set GPUS to {count} or fewer, or GPUS=all"
            )
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return Group(ranks, device)
