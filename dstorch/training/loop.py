"""The training loop: CTC + Adam over length-bucketed batches, dev loss every epoch,
early stopping and plateau LR reduction, exact resume, graceful stop on SIGTERM/SIGINT.
"""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dstorch.augment import AugmentedFeatures, Augmenter, clock_for, parse_augmentations
from dstorch.augment.cache import use_data_dir
from dstorch.config import TrainConfig
from dstorch.features import N_CONTEXT
from dstorch.training import checkpoint as ckpt
from dstorch.training.checkpoint import TrainState
from dstorch.training.data import Alphabet, FeatureCache, bucketed_batches, collate, read_csvs
from dstorch.training.evaluate import forward_losses


class GracefulStop:
    """Turns SIGTERM/SIGINT into a flag the loop checks after each step."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self) -> GracefulStop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if not self.requested:
            print(f"\nReceived {signal.Signals(signum).name}: saving after this step.", flush=True)
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass
class TrainResult:
    state: TrainState
    stopped: bool  # True when interrupted by a signal (resume later)
    model: torch.nn.Module
    alphabet: Alphabet


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def epoch_batches(samples, config: TrainConfig, epoch: int) -> list:
    """The batch order of an epoch depends only on (seed, epoch), so resume can skip ahead.

    With --augmentations_per_epoch N every sample appears N times, each copy augmented
    independently.
    """
    rng = random.Random(config.random_seed * 1000 + epoch)
    passes = range(max(config.augmentations_per_epoch, 1))
    copies = [replace(s, pass_index=p) for p in passes for s in samples]
    return bucketed_batches(copies, config.train_batch_size, rng)


def train_features(config: TrainConfig, cache: FeatureCache, augmenter: Augmenter):
    """`features_at(epoch, position, n_batches)` -> the feature function for one batch."""
    if not augmenter:
        return lambda epoch, position, n_batches: cache
    augmented = AugmentedFeatures(augmenter)

    def features_at(epoch: int, position: int, n_batches: int):
        clock = clock_for(epoch, config.epochs, position, n_batches)
        return lambda s: augmented(s.wav, epoch, s.index, s.pass_index, clock)

    return features_at


def dev_loss(model, samples, cache, config: TrainConfig, device) -> float:
    model.eval()
    total = 0.0
    with torch.no_grad():
        for chunk in bucketed_batches(samples, config.dev_batch_size):
            losses, _ = forward_losses(model, collate(chunk, cache), device, amp=False)
            total += losses.sum().item()
    model.train()
    return total / len(samples)


def update_after_epoch(state: TrainState, loss: float, config: TrainConfig) -> tuple[bool, bool]:
    """Record the dev loss; return (is_best, should_stop) and adjust the LR on plateaus."""
    improved = loss < state.best_dev_loss - config.es_min_delta
    is_best = loss < state.best_dev_loss
    state.best_dev_loss = min(state.best_dev_loss, loss)
    state.es_counter = 0 if improved else state.es_counter + 1
    state.plateau_counter = 0 if improved else state.plateau_counter + 1
    if config.reduce_lr_on_plateau and state.plateau_counter >= config.plateau_epochs:
        state.learning_rate *= config.plateau_reduction
        state.plateau_counter = 0
        print(f"Dev loss plateaued: learning rate reduced to {state.learning_rate:g}")
    stop = config.early_stop and state.es_counter >= config.es_epochs
    return is_best, stop


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def feature_statistics(samples, cache: FeatureCache) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-coefficient mean and std over every frame of `samples`: two [N_MFCC] tensors."""
    frames = np.concatenate([cache(s.wav)[:, N_CONTEXT] for s in samples])
    return torch.from_numpy(frames.mean(0)), torch.from_numpy(frames.std(0))


def restore(
    config: TrainConfig, alphabet: Alphabet, model, optimizer, samples, cache
) -> TrainState:
    """Resume from the newest checkpoint when allowed, else a fresh state."""
    payload = ckpt.load_latest(config.load_dir) if config.load_checkpoint else None
    if payload is None:
        model.set_normalization(*feature_statistics(samples, cache))
        return TrainState(learning_rate=config.learning_rate)
    ckpt.check_compatible(payload, config, alphabet)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    ckpt.restore_rng(payload["rng"])
    state = TrainState(**payload["state"])
    print(f"Resuming from {payload['path']}: epoch {state.epoch}, step {state.step}")
    return state


@dataclass
class Session:
    """Everything one training run works with."""

    config: TrainConfig
    alphabet: Alphabet
    train_set: list
    dev_set: list
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    state: TrainState
    device: torch.device
    amp: bool
    cache: FeatureCache
    features_at: object
    writer: object
    last_save: float = 0.0

    def save(self, best: bool = False) -> None:
        ckpt.save(
            self.config.save_dir,
            self.config,
            self.alphabet,
            self.model,
            self.optimizer,
            self.state,
            best=best,
        )
        self.last_save = time.monotonic()


def setup(config: TrainConfig) -> Session:
    """Read data, build (or restore) model, optimizer and state."""
    alphabet = Alphabet.from_file(config.alphabet_config_path)
    train_set = read_csvs(config.train_files, alphabet)
    dev_set = read_csvs(config.dev_files, alphabet, allow_empty=True)
    use_data_dir(Path(config.train_files.split(",")[0]).parent)  # noise/room banks live there
    augmenter = Augmenter(parse_augmentations(config.augment), config.random_seed)
    device = pick_device(config.device)
    seed_everything(config.random_seed)
    model = ckpt.build_model(config, alphabet).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    cache = FeatureCache()
    state = restore(config, alphabet, model, optimizer, train_set, cache)
    set_lr(optimizer, state.learning_rate)
    print(f"Training on {device} ({len(train_set)} train / {len(dev_set)} dev samples)")
    return Session(
        config,
        alphabet,
        train_set,
        dev_set,
        model,
        optimizer,
        state,
        device,
        amp=config.automatic_mixed_precision and device.type == "cuda",
        cache=cache,
        features_at=train_features(config, cache, augmenter),
        writer=summary_writer(config),
        last_save=time.monotonic(),
    )


def train_step(s: Session, batch_samples: list, features) -> float:
    losses, _ = forward_losses(s.model, collate(batch_samples, features), s.device, s.amp)
    loss = losses.mean()
    s.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    s.optimizer.step()
    value = loss.item()
    s.state.step += 1
    s.state.batch_in_epoch += 1
    s.state.train_loss_sum += value
    s.writer.add_scalar("loss/train", value, s.state.step)
    return value


def run_epoch(s: Session, stop: GracefulStop) -> bool:
    """Train the rest of the current epoch; False when a stop signal cut it short."""
    state, config = s.state, s.config
    batches = epoch_batches(s.train_set, config, state.epoch)
    bar = tqdm(batches, desc=f"Epoch {state.epoch + 1}/{config.epochs}", unit="batch")
    bar.update(state.batch_in_epoch)
    for batch_samples in batches[state.batch_in_epoch :]:
        if stop.requested:
            break
        features = s.features_at(state.epoch, state.batch_in_epoch, len(batches))
        value = train_step(s, batch_samples, features)
        bar.update(1)
        bar.set_postfix(loss=f"{value:.3f}")
        if not stop.requested and time.monotonic() - s.last_save >= config.checkpoint_secs:
            s.save()
    bar.close()
    return not stop.requested


def train(
    config: TrainConfig,
    on_epoch: Callable[[TrainState], None] | None = None,
    stop: GracefulStop | None = None,
    on_setup: Callable[[], object] | None = None,
) -> TrainResult:
    """Train until `config.epochs`, early stop, or a stop signal. `on_epoch(state)` is
    called after every finished epoch (the job uses it to publish progress), `on_setup()`
    once the data and model are ready. `stop`: the caller's stop flag (the job installs
    one for all its phases); without it, one is installed here before setup starts, so a
    signal during setup (feature statistics can take minutes) is never lost."""
    with contextlib.ExitStack() as scope:
        stop = stop or scope.enter_context(GracefulStop())
        s = setup(config)
        if on_setup:
            on_setup()
        return _train_loop(config, s, stop, on_epoch)


def _train_loop(config: TrainConfig, s: Session, stop: GracefulStop, on_epoch) -> TrainResult:
    state = s.state
    s.model.train()
    while state.epoch < config.epochs and not stop.requested and run_epoch(s, stop):
        finish_epoch(config, state, s.model, s.dev_set, s.cache, s.device, s.writer)
        is_best, early = update_after_epoch(state, state.history[-1]["dev_loss"], config)
        set_lr(s.optimizer, state.learning_rate)
        s.save(best=is_best)
        if on_epoch:
            on_epoch(state)
        if early:
            print(f"Early stop: no dev improvement for {config.es_epochs} epochs")
            break
    if stop.requested:
        s.save()
        print(f"Stopped at epoch {state.epoch}, step {state.step}; checkpoint saved.")
    s.writer.close()
    return TrainResult(state=state, stopped=stop.requested, model=s.model, alphabet=s.alphabet)


def finish_epoch(config, state: TrainState, model, dev_set, cache, device, writer) -> None:
    """Close an epoch: dev loss, history and TensorBoard scalars."""
    train_loss = state.train_loss_sum / max(state.batch_in_epoch, 1)
    # Without a dev set the train loss is the best signal left for best/early-stop.
    loss = dev_loss(model, dev_set, cache, config, device) if dev_set else train_loss
    state.epoch += 1
    state.batch_in_epoch = 0
    state.train_loss_sum = 0.0
    state.history.append(
        {
            "epoch": state.epoch,
            "train_loss": train_loss,
            "dev_loss": loss,
            "lr": state.learning_rate,
        }
    )
    writer.add_scalar("loss/train_epoch", train_loss, state.epoch)
    writer.add_scalar("loss/dev", loss, state.epoch)
    writer.add_scalar("learning_rate", state.learning_rate, state.epoch)
    print(f"Epoch {state.epoch}: dev loss {loss:.4f} (best {min(loss, state.best_dev_loss):.4f})")


def summary_writer(config: TrainConfig):
    """TensorBoard writer, or a no-op one when no summary dir is configured."""
    if not config.summary_dir:
        return _NullWriter()
    from torch.utils.tensorboard import SummaryWriter

    Path(config.summary_dir).mkdir(parents=True, exist_ok=True)
    return SummaryWriter(config.summary_dir)


class _NullWriter:
    def add_scalar(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass
