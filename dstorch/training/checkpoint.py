"""Self-describing, atomically written training checkpoints.

A checkpoint holds the config it was trained with, the alphabet, model and optimizer
tensors, the weight average (--ema_decay), the training state (epoch, step, position in
the epoch, learning rate, early-stopping and plateau counters, best dev loss, history)
and every RNG state, so training resumes exactly and the model can be rebuilt from the
checkpoint alone.

Files in a checkpoint dir: `last-<step>.pt` (the newest `max_to_keep` are kept) and
`best.pt` (lowest dev loss). Loading falls back to an older file when the newest one is
unreadable, so a crash while writing never costs more than the unfinished save; when no
`last` file can be read, a run resumes from `best.pt` (`load_resume`), because a fresh
start would write its first, worse epoch over the best model found so far.
"""

from __future__ import annotations

import io
import math
import pickle
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from dstorch.alphabet import Alphabet
from dstorch.config import TrainConfig
from dstorch.errors import DstorchError
from dstorch.fs import atomic_write
from dstorch.model import DeepSpeech
from dstorch.training.averaging import WeightAverage, averaged_weights

LAST_PATTERN = re.compile(r"last-(\d+)\.pt$")
BEST = "best.pt"


class CheckpointError(DstorchError, ValueError):
    """A checkpoint that cannot be used with the current settings."""


@dataclass
class TrainState:
    epoch: int = 0  # epochs fully finished
    step: int = 0  # optimizer steps taken in total
    batch_in_epoch: int = 0  # batches of the current epoch already trained
    train_loss_sum: float = 0.0  # over those batches, for the epoch's mean train loss
    learning_rate: float = 0.001
    best_dev_loss: float = float("inf")
    es_counter: int = 0  # epochs without dev improvement (early stop)
    plateau_counter: int = 0  # epochs without dev improvement (LR reduction)
    history: list[dict] = field(default_factory=list)  # per-epoch train/dev loss, lr
    world_size: int = 1  # processes that trained: a global batch is TRAIN_BATCH_SIZE x this
    started_from: str = "scratch"  # the pretrained model a fresh run started from


def rng_states() -> dict:
    """Every RNG's state as plain values and tensors: what a weights_only load accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss]
    states = {"python": random.getstate(), "numpy": numpy_state}
    states["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(states: dict) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))  # a list after a weights_only load
    kind, keys, pos, has_gauss, cached = states["numpy"]
    keys = np.asarray(keys.numpy() if isinstance(keys, torch.Tensor) else keys, np.uint32)
    np.random.set_state((kind, keys, pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def rank_rng(payload: dict, rank: int) -> dict | None:
    """The RNG states rank `rank` saved (rank 0's are "rng"); None when it saved none."""
    if rank == 0:
        return payload["rng"]
    others = payload.get("rank_rng", [])
    return others[rank - 1] if rank - 1 < len(others) else None


def save(
    directory: str | Path,
    config: TrainConfig,
    alphabet: Alphabet,
    model: DeepSpeech,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
    best: bool = False,
    rank_rngs: list[dict] | None = None,
    average: WeightAverage | None = None,
) -> Path:
    """Write `last-<step>.pt` (and `best.pt` when `best`), pruning old `last` files.

    `rank_rngs`: every rank's RNG states in rank order (distributed training), so each
    rank resumes its own dropout stream; default: this process's. `average`: the weight
    average training keeps (--ema_decay), saved beside the raw weights."""
    directory = Path(directory)
    rngs = rank_rngs or [rng_states()]
    payload = {
        "format": 1,
        "config": asdict(config),
        "alphabet": alphabet.labels,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "state": asdict(state),
        "rng": rngs[0],
    }
    if len(rngs) > 1:
        payload["rank_rng"] = rngs[1:]
    if average is not None:
        payload["ema"] = average.state_dict()
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    path = directory / f"last-{state.step:09d}.pt"
    atomic_write(path, data)
    if best:
        atomic_write(directory / BEST, data)
    # DeepSpeech's semantics: MAX_TO_KEEP=0 keeps every checkpoint. The file just
    # written is never pruned, whatever the other files are called.
    if config.max_to_keep > 0:
        for old in last_checkpoints(directory)[config.max_to_keep :]:
            if old != path:
                old.unlink(missing_ok=True)
    return path


def last_checkpoints(directory: str | Path) -> list[Path]:
    """`last-*.pt` files, newest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if LAST_PATTERN.match(p.name)]
    return sorted(found, key=lambda p: int(LAST_PATTERN.match(p.name).group(1)), reverse=True)


def read(path: str | Path) -> dict:
    """Load one checkpoint file; CheckpointError when it is unreadable."""
    try:
        # weights_only: a checkpoint is data; unpickling arbitrary objects would run
        # whatever code a crafted file (`transcribe --model x.pt`) carries.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e):
            raise CheckpointError(f"{path}: unreadable checkpoint (UnpicklingError)") from None
        raise CheckpointError(
            f"{path}: holds objects other than tensors and plain values; refusing to load "
            "it (a checkpoint from an older dstorch: retrain, or convert it where you trust it)"
        ) from None
    except Exception as e:  # torch raises many types for truncated/garbled files
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != 1:
        raise CheckpointError(f"{path}: not a dstorch checkpoint")
    return payload


def load_latest(directory: str | Path, warn=print) -> dict | None:
    """The newest readable `last` checkpoint, skipping (and reporting) broken ones."""
    for path in last_checkpoints(directory):
        try:
            payload = read(path)
        except CheckpointError as e:
            warn(f"warning: {e}; falling back to an older checkpoint")
            continue
        payload["path"] = str(path)
        return payload
    return None


def load_resume(directory: str | Path, warn=print) -> dict | None:
    """What a run resumes from: the newest readable `last` checkpoint, else a readable
    best.pt; None when the folder holds no checkpoint. CheckpointError (naming the files
    and the fix) when it holds checkpoints and none can be read."""
    payload = load_latest(directory, warn)
    if payload is not None:
        return payload
    directory = Path(directory)
    broken = last_checkpoints(directory)
    if (directory / BEST).exists():
        try:
            payload = read(directory / BEST)
        except CheckpointError:
            broken.append(directory / BEST)
        else:
            lost = "every last-*.pt is unreadable" if broken else "no last-*.pt is left"
            warn(f"warning: {lost} in {directory}; resuming from {BEST} (its epoch)")
            payload["path"] = str(directory / BEST)
            return payload
    if not broken:
        return None
    names = ", ".join(p.name for p in broken[:3]) + (", ..." if len(broken) > 3 else "")
    raise CheckpointError(
        f"every checkpoint in {directory} is unreadable ({names}); put back a copy, or "
        "start fresh with LOAD_FROM_CHECKPOINT=no (--load_checkpoint no)"
    )


def load_for_inference(
    path: str | Path, finite: bool = False
) -> tuple[DeepSpeech, Alphabet, TrainConfig]:
    """Rebuild the model from a checkpoint file or dir (prefers best.pt in a dir).

    `finite` (an export): only a best.pt with a finite dev loss and finite weights will
    do; a model whose training diverged would answer nothing and still look exported."""
    path = Path(path)
    if path.is_dir():
        best = path / BEST
        if finite and not best.exists():
            raise CheckpointError(
                f"{path} has no {BEST} (no epoch ended with a finite dev loss); nothing "
                "exported: train until an epoch ends (if the loss became nan, lower "
                "LEARNING_RATE)"
            )
        payload = read(best) if best.exists() else load_latest(path)
        if payload is None:
            raise CheckpointError(f"{path}: no checkpoint found; train a model first")
    else:
        payload = read(path)
    weights = averaged_weights(payload)
    if finite:
        check_finite(payload, weights, path)
    config = TrainConfig(**payload["config"])
    alphabet = Alphabet.of(payload["alphabet"])
    model = build_model(config, alphabet)
    model.load_state_dict(weights)
    return model.eval(), alphabet, config


def check_finite(payload: dict, weights: dict, where: Path) -> None:
    """CheckpointError unless the checkpoint's best dev loss and weights are finite."""
    loss = payload["state"].get("best_dev_loss")
    bad = [k for k, t in weights.items() if t.is_floating_point() and not t.isfinite().all()]
    if bad or not isinstance(loss, (int, float)) or not math.isfinite(loss):
        raise CheckpointError(
            f"{where}: the model is not finite (dev loss {loss}"
            + (f", nan/inf in {bad[0]}" if bad else "")
            + "); nothing exported: lower LEARNING_RATE and start over with "
            "LOAD_FROM_CHECKPOINT=no"
        )


def build_model(config: TrainConfig, alphabet: Alphabet) -> DeepSpeech:
    return DeepSpeech(
        n_classes=len(alphabet) + 1,
        n_hidden=config.n_hidden,
        relu_clip=config.relu_clip,
        dropout_rate=config.dropout_rate,
    )


def check_compatible(payload: dict, config: TrainConfig, alphabet: Alphabet) -> None:
    """Refuse to resume from a checkpoint of another geometry or alphabet."""
    source = payload.get("path", "checkpoint")
    old = TrainConfig(**payload["config"]).geometry()
    for key, value in config.geometry().items():
        if old[key] != value:
            raise CheckpointError(
                f"{source} was trained with {key}={old[key]} but {key}={value} now; "
                f"set {key.upper()}={old[key]}, or start fresh with LOAD_FROM_CHECKPOINT=no"
            )
    if payload["alphabet"] != alphabet.labels:
        raise CheckpointError(
            f"{source} was trained with another alphabet; use the same alphabet.txt, "
            "or start fresh with LOAD_FROM_CHECKPOINT=no"
        )
