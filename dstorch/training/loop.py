"""The training loop: CTC + Adam over length-bucketed batches, dev loss every epoch,
early stopping and plateau LR reduction, exact resume, graceful stop on SIGTERM/SIGINT.
Under torchrun every rank runs this loop on its shard of each batch (see distributed.py).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dstorch.alphabet import Alphabet, load_alphabet
from dstorch.augment import AugmentedFeatures, Augmenter, clock_for, parse_augmentations
from dstorch.augment.cache import use_data_dir
from dstorch.config import TrainConfig
from dstorch.features import N_CONTEXT
from dstorch.training import checkpoint as ckpt
from dstorch.training import consistency, discriminative, pretrained
from dstorch.training.averaging import WeightAverage
from dstorch.training.checkpoint import TrainState
from dstorch.training.data import Batch, FeatureCache, bucketed_batches, collate, read_csvs
from dstorch.training.distributed import Group, Ranks, join
from dstorch.training.evaluate import forward_losses
from dstorch.training.finite import check_finite, check_weights
from dstorch.training.noisy import dev_conditions
from dstorch.training.prefetch import Job, Plan, Prefetcher, plan
from dstorch.training.stop import GracefulStop


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


def epoch_batches(samples, config: TrainConfig, epoch: int, world_size: int = 1, speech=()) -> list:
    """The global batches of an epoch (train_batch_size clips per rank), in an order that
    depends only on (seed, epoch), so resume can skip ahead and every rank agrees.

    `speech` (--speech_files) joins as speech_part chooses. With --augmentations_per_epoch
    N every sample appears N times, each copy augmented independently.
    """
    rng = random.Random(config.random_seed * 1000 + epoch)
    chosen = [*samples, *speech_part(speech, config, epoch, len(samples))]
    passes = range(max(config.augmentations_per_epoch, 1))
    copies = [replace(s, pass_index=p) for p in passes for s in chosen]
    return bucketed_batches(copies, config.train_batch_size * world_size, rng)


def speech_part(speech, config: TrainConfig, epoch: int, n_train: int) -> list:
    """The speech clips trained in `epoch` (0-based): all of them with --speech_per_epoch
    0; else ceil(share * n_train), the next slice of one seeded order (wrapping), so each
    clip comes round every len(speech) / that many epochs.

    Why a part: in the example the speech is nearly as many clips as the commands, and an
    epoch of both took twice as long; the sentences teach words, which needs them heard
    often over the run, not every epoch."""
    share = config.speech_per_epoch
    if share <= 0 or not speech:
        return list(speech)
    order = list(speech)
    random.Random(config.random_seed).shuffle(order)
    n = min(len(order), max(1, math.ceil(share * n_train)))
    start = epoch * n % len(order)
    return [order[(start + i) % len(order)] for i in range(n)]


def train_features(config: TrainConfig, cache: FeatureCache, augmenter: Augmenter):
    """`features_at(epoch, position, n_batches)` -> the feature function for one batch."""
    if not augmenter:
        return lambda epoch, position, n_batches: cache
    augmented = AugmentedFeatures(augmenter)

    def features_at(epoch: int, position: int, n_batches: int):
        clock = clock_for(epoch, config.epochs, position, n_batches)
        return lambda s: augmented(s.wav, epoch, s.index, s.pass_index, clock, s.view)

    return features_at


def dev_loss(model, samples, cache, config: TrainConfig, device, group: Group | None = None):
    """Mean per-sample CTC loss over `samples`. Each rank of `group` evaluates its share of
    the batches and the sums are added, so every rank gets the same value (and decision)."""
    group = group or Group(Ranks(), device)
    model.eval()
    total = 0.0
    with torch.no_grad():
        for chunk in group.shard(bucketed_batches(samples, config.dev_batch_size)):
            losses, _ = forward_losses(model, collate(chunk, cache), device, amp=False)
            total += losses.sum().item()
    model.train()
    return group.sum(total)[0] / len(samples)


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
    config: TrainConfig,
    alphabet: Alphabet,
    model,
    optimizer,
    samples,
    cache,
    group: Group,
    source=None,
) -> tuple[TrainState, dict | None]:
    """Resume from the newest checkpoint when allowed, else a fresh state (initialised from
    `source`, a pretrained.Source, when given). Rank 0 reads the checkpoint and hands it to
    the others (ranks on other machines have no checkpoint dir). -> (state, the saved
    weight average or None)."""
    main = group.is_main and config.load_checkpoint
    payload = group.broadcast(ckpt.load_resume(config.load_dir) if main else None)
    restore_rank_rng(payload, config, group)
    if payload is None:
        stats = feature_statistics(samples, cache)
        fresh = TrainState(learning_rate=config.learning_rate, world_size=group.world_size)
        if source is None:
            model.set_normalization(*stats)
            return fresh, None
        pretrained.initialize(model, source, alphabet, config.drop_source_layers, stats)
        fresh.started_from = source.origin
        return fresh, None
    ckpt.check_compatible(payload, config, alphabet)
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    state = TrainState(**payload["state"])
    print(f"Resuming from {payload['path']}: epoch {state.epoch}, step {state.step}")
    if state.world_size != group.world_size:
        print(
            f"note: the checkpoint was trained by {state.world_size} process(es), now "
            f"{group.world_size}: the global batch changes (resume is exact with the same GPUS)"
        )
        state.world_size = group.world_size
    return state, payload.get("ema")


def weight_average(config: TrainConfig, model, saved: dict | None) -> WeightAverage | None:
    """The weight average --ema_decay asks for, continued from a checkpoint's when saved."""
    if not config.ema_decay:
        return None
    average = WeightAverage(model, config.ema_decay)
    if saved is not None:
        average.load_state_dict(saved)
    return average


def restore_rank_rng(payload: dict | None, config: TrainConfig, group: Group) -> None:
    """This rank's RNG states from the checkpoint. A rank with none saved (a fresh start, or
    more ranks than before) seeds its own stream, so dropout masks differ between ranks."""
    states = ckpt.rank_rng(payload, group.ranks.rank) if payload else None
    if states is not None:
        ckpt.restore_rng(states)
    elif group.ranks.rank:
        torch.manual_seed(config.random_seed + group.ranks.rank)


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
    dev_features: list  # the dev set's feature functions: clean, then each --dev_snrs room
    features_at: object
    writer: object
    group: Group
    trainer: torch.nn.Module  # what the training forward runs: the model, or DDP over it
    views: consistency.Views  # each clip once, or twice (--consistency_weight)
    rivals: discriminative.Rivals  # the commands each clip is kept apart from
    speech_set: list = ()  # --speech_files: speech_part of it joins each epoch
    average: WeightAverage | None = None  # --ema_decay
    last_save: float = 0.0
    augmented: bool = False  # --augment: every batch is new work (else features are cached)
    prefetcher: Prefetcher | None = None  # makes the batches; set by train()

    def averaged(self):
        """Inside: the model holds the weights dev loss and best.pt stand for."""
        return self.average.applied(self.model) if self.average else contextlib.nullcontext()

    def save(self, best: bool = False) -> None:
        """Every rank calls this together: each hands in its RNG states, rank 0 writes.
        Weights that are no longer finite are never saved (every rank has the same)."""
        check_weights(self.model, self.config, self.state)
        rngs = self.group.gather(ckpt.rng_states())
        if self.group.is_main:
            ckpt.save(
                self.config.save_dir,
                self.config,
                self.alphabet,
                self.model,
                self.optimizer,
                self.state,
                best=best,
                rank_rngs=rngs,
                average=self.average,
            )
        self.last_save = time.monotonic()


def read_speech(config: TrainConfig, alphabet: Alphabet, after: int) -> list:
    """--speech_files' clips (empty transcripts allowed: noise), numbered after the
    `after` training clips so each has its own augmentation seed."""
    if not config.speech_files:
        return []
    speech = read_csvs(config.speech_files, alphabet, allow_empty=True, silent=True)
    return [replace(s, index=after + s.index) for s in speech]


def setup(config: TrainConfig) -> Session:
    """Read data, build (or restore) model, optimizer and state."""
    alphabet = load_alphabet(config.alphabet_config_path, config.bytes_output_mode)
    # An empty transcript trains the model to answer nothing (noise: dstorch.prepare.speech).
    train_set = read_csvs(config.train_files, alphabet, silent=True)
    speech_set = read_speech(config, alphabet, len(train_set))
    dev_set = read_csvs(config.dev_files, alphabet, allow_empty=True)
    use_data_dir(Path(config.train_files.split(",")[0]).parent)  # noise/room banks live there
    augmenter = Augmenter(parse_augmentations(config.augment), config.random_seed)
    group = join(pick_device(config.device))
    device = group.device
    seed_everything(config.random_seed)
    config, source = pretrained.starting_point(config)  # the source decides the geometry
    model = ckpt.build_model(config, alphabet).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    cache = FeatureCache()
    every = [*train_set, *speech_set]
    state, saved = restore(config, alphabet, model, optimizer, every, cache, group, source)
    set_lr(optimizer, state.learning_rate)
    where = f"{group.world_size} processes ({device} on rank 0)" if group.distributed else device
    speech = ""
    if speech_set:
        each = len(speech_part(speech_set, config, 0, len(train_set)))
        speech = f" + {len(speech_set)} speech clips, {each} an epoch"
    print(f"Training on {where} ({len(train_set)} train{speech} / {len(dev_set)} dev samples)")
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
        dev_features=[cache, *dev_conditions(dev_set, config.dev_snr_list())],
        features_at=train_features(config, cache, augmenter),
        writer=summary_writer(config) if group.is_main else _NullWriter(),
        group=group,
        trainer=group.wrap(model),
        # Without augmentation both views would be the same clip: twice the work, no term.
        views=consistency.Views(config.consistency_weight if augmenter else 0.0),
        rivals=discriminative.rivals_of(train_set, config.discriminative_weight, alphabet.blank),
        speech_set=speech_set,
        augmented=bool(augmenter),
        average=weight_average(config, model, saved),
        last_save=time.monotonic(),
    )


def make_batch(s: Session, job: Job) -> Batch:
    """This rank's part of a global batch, its features computed (in a prefetch worker)."""
    shard = s.group.shard(job.samples)
    # A rank with an empty shard (a last batch smaller than the world) still runs forward
    # and backward, weighted 0: DDP's gradient all-reduce needs every rank.
    features = s.features_at(job.epoch, job.position, job.n_batches)
    return collate(s.views.samples(shard or job.samples[:1]), features)


def train_step(s: Session, batch_samples: list, batch: Batch) -> float:
    """One optimizer step on a global batch (`batch`: make_batch's), the loss being its mean
    per-sample CTC loss (with --consistency_weight: over two views of each clip, plus their
    consistency; with --discriminative_weight: plus the rival commands' term); -> the CTC
    loss summed over this rank's shard."""
    shard = s.group.shard(batch_samples)
    losses, log_probs = forward_losses(s.trainer, batch, s.device, s.amp)
    lengths = batch.input_lengths.to(s.device)
    ctc, objective = s.views.losses(losses, log_probs, lengths)
    if s.rivals:
        rivals = s.rivals.losses(losses, log_probs, lengths, batch.samples)
        objective = objective + s.views.per_clip(rivals)
    weight = s.group.scale(len(batch_samples)) if shard else 0.0
    s.optimizer.zero_grad(set_to_none=True)
    (objective.sum() * weight).backward()
    s.optimizer.step()
    if s.average:
        s.average.update(s.model)
    return ctc.sum().item() if shard else 0.0


def record_step(s: Session, value: float) -> None:
    s.state.step += 1
    s.state.batch_in_epoch += 1
    s.state.train_loss_sum += value
    s.writer.add_scalar("loss/train", value, s.state.step)


def run_epoch(s: Session, stop: GracefulStop) -> bool:
    """Train the rest of the current epoch; False when a stop signal cut it short.

    After each step the ranks agree in one all-reduce on the batch loss, on stopping (a
    signal reached any rank) and on saving (rank 0's clock), so all stop or save after the
    same step."""
    state, config, group = s.state, s.config, s.group
    batches = epoch_batches(s.train_set, config, state.epoch, group.world_size, s.speech_set)
    desc = f"Epoch {state.epoch + 1}/{config.epochs}"
    bar = tqdm(batches, desc=desc, unit="batch", disable=not group.is_main)
    bar.update(state.batch_in_epoch)
    todo = [Job(state.epoch, i, len(batches), b) for i, b in enumerate(batches)]
    todo = todo[state.batch_in_epoch :]
    stopped = False
    with bar:  # closed before an error is printed, not after it
        for job, batch in zip(todo, s.prefetcher.batches(todo), strict=True):
            local = train_step(s, job.samples, batch)
            due = group.is_main and time.monotonic() - s.last_save >= config.checkpoint_secs
            total, stops, saves = group.sum(local, stop.requested, due)
            value = total / len(job.samples)
            check_finite(value, "training loss", config, state)
            record_step(s, value)
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}")
            if stops:
                stopped = stop.requested = True
                break
            if saves:
                s.save()
    return not stopped


def train(
    config: TrainConfig,
    on_epoch: Callable[[TrainState], None] | None = None,
    stop: GracefulStop | None = None,
    on_setup: Callable[[], object] | None = None,
    prefetch: Plan | None = None,
) -> TrainResult:
    """Train until `config.epochs`, early stop, or a stop signal. `on_epoch(state)` is
    called after every finished epoch (the job uses it to publish progress), `on_setup()`
    once the data and model are ready. `stop`: the caller's stop flag (the job installs
    one for all its phases); without it, one is installed here before setup starts, so a
    signal during setup (feature statistics can take minutes) is never lost. `prefetch`:
    who makes the batches (`make bench`'s comparison); None: prefetch.plan's choice with
    augmentation, else the trainer (cached features: nothing to make ahead)."""
    with contextlib.ExitStack() as scope:
        stop = stop or scope.enter_context(GracefulStop())
        s = setup(config)
        scope.callback(s.group.close)
        how = prefetch or (plan(s.device) if s.augmented else Plan(0, None))
        s.prefetcher = scope.enter_context(Prefetcher(partial(make_batch, s), how))
        if on_setup:
            on_setup()
        return _train_loop(config, s, stop, on_epoch)


def _train_loop(config: TrainConfig, s: Session, stop: GracefulStop, on_epoch) -> TrainResult:
    state = s.state
    s.model.train()
    # Stop flags are agreed on (group.any): a signal may reach the ranks at different times.
    while state.epoch < config.epochs and not s.group.any(stop.requested) and run_epoch(s, stop):
        with s.averaged():
            finish_epoch(s)
        is_best, early = update_after_epoch(state, state.history[-1]["dev_loss"], config)
        set_lr(s.optimizer, state.learning_rate)
        s.save(best=is_best)
        if on_epoch:
            on_epoch(state)
        if early:
            print(f"Early stop: no dev improvement for {config.es_epochs} epochs")
            break
    stopped = s.group.any(stop.requested)
    if stopped:
        stop.requested = True
        s.save()
        print(f"Stopped at epoch {state.epoch}, step {state.step}; checkpoint saved.")
    s.writer.close()
    return TrainResult(state=state, stopped=stopped, model=s.model, alphabet=s.alphabet)


def finish_epoch(s: Session) -> None:
    """Close an epoch: dev loss (the mean over the clean dev set and each --dev_snrs room),
    history and TensorBoard scalars."""
    config, state = s.config, s.state
    train_loss = state.train_loss_sum / max(state.batch_in_epoch, 1)
    # Without a dev set the train loss is the best signal left for best/early-stop.
    loss = train_loss
    if s.dev_set:
        losses = [
            dev_loss(s.model, s.dev_set, f, config, s.device, s.group) for f in s.dev_features
        ]
        loss = float(np.mean(losses))
    check_finite(loss, "dev loss", config, state)
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
    s.writer.add_scalar("loss/train_epoch", train_loss, state.epoch)
    s.writer.add_scalar("loss/dev", loss, state.epoch)
    s.writer.add_scalar("learning_rate", state.learning_rate, state.epoch)
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
