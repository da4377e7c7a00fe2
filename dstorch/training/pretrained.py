"""Start training from a pretrained model: a DeepSpeech 0.7-0.9 `.pbmm`/`.pb` or a dstorch
checkpoint, given as a path or an http(s) URL (`--initialize_from_frozen_model`,
PRETRAINED_MODEL).

The source decides the geometry (n_hidden, relu_clip). Its weights are copied layer by
layer, except the top `--drop_source_layers` layers, which keep their fresh initialisation
(DeepSpeech's order: layer_6 first, then layer_5, lstm, layer_3, layer_2). The output layer
keeps the rows of the characters both alphabets have, and the blank's; rows of new
characters stay freshly initialised. An exported graph carries its input normalisation
folded into layer_1; it is unfolded against the training data's statistics, so the first
forward pass is the source's and layer_1 trains on normalised features as usual.

A source only starts a run: with a checkpoint present, training resumes from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from dstorch.alphabet import Alphabet
from dstorch.config import TrainConfig
from dstorch.download import DownloadError, fetch_model
from dstorch.errors import DstorchError
from dstorch.export.import_graph import GraphImportError, load_graph_model
from dstorch.features import CONTEXT_FRAMES
from dstorch.model import DeepSpeech
from dstorch.training import checkpoint as ckpt

# Bottom to top; --drop_source_layers N re-initialises the last N (DeepSpeech allows 1-5,
# so layer_1 always comes from the source).
LAYERS = ("layer_1", "layer_2", "layer_3", "lstm", "layer_5", "layer_6")
GRAPH_SUFFIXES = (".pb", ".pbmm")
SCRATCH = "scratch"  # TrainState.started_from of a run without a source


class PretrainedError(DstorchError, ValueError):
    """A pretrained model that cannot be used; the message is one line naming the fix."""


@dataclass
class Source:
    model: DeepSpeech  # on the CPU, with its input normalisation buffers
    labels: list[str]  # its alphabet (the blank is the last output, not listed)
    origin: str  # what the user gave (path or URL), for logs and reports
    path: Path  # the local file (in the download cache for a URL)


def dropped_layers(n: int) -> tuple[str, ...]:
    """The layers --drop_source_layers n re-initialises, top first."""
    return tuple(reversed(LAYERS))[:n]


def load(spec: str, sha256: str = "") -> Source:
    """Read a pretrained model given as a path or URL; PretrainedError when unusable."""
    try:
        path = fetch_model(spec, sha256)
        if path.is_dir() or path.suffix == ".pt":
            model, alphabet, _ = ckpt.load_for_inference(path)
            return Source(model, alphabet.labels, spec, path)
        graph = load_graph_model(path)
        return Source(graph.model, graph.labels, spec, path)
    except (GraphImportError, ckpt.CheckpointError) as e:
        raise PretrainedError(
            f"PRETRAINED_MODEL={spec} cannot be used: {e}. It must be a DeepSpeech 0.7-0.9 "
            ".pbmm/.pb or a dstorch checkpoint (.pt)"
        ) from None
    except DownloadError as e:
        raise PretrainedError(f"PRETRAINED_MODEL: {e}") from None


def describe(source: Source) -> str:
    """One line: where the source is, its size and alphabet."""
    chars = "".join(label for label in source.labels if label != " ")
    return (
        f"{source.path}: n_hidden {source.model.n_hidden}, {len(source.labels)} labels "
        f"(space and {chars!r}) + blank"
    )


def adopt_geometry(config: TrainConfig, n_hidden: int, relu_clip: float, why: str) -> TrainConfig:
    """`config` with the source's geometry; one line when the user asked for another."""
    if config.n_hidden != n_hidden:
        print(f"N_HIDDEN={config.n_hidden} ignored: {why} has n_hidden {n_hidden} (it wins)")
    return replace(config, n_hidden=n_hidden, relu_clip=relu_clip)


def starting_point(config: TrainConfig) -> tuple[TrainConfig, Source | None]:
    """(config with the geometry to build, the source to initialise from or None).

    With a checkpoint to resume from, the source is not read: the geometry is the
    checkpoint's, and training resumes as without one.
    """
    spec = config.initialize_from_frozen_model
    if not spec:
        return config, None
    if config.load_checkpoint:
        payload = ckpt.load_resume(config.load_dir)
        if payload is not None:
            print(f"Resuming from {payload['path']}; PRETRAINED_MODEL is only read by a fresh run")
            old = TrainConfig(**payload["config"])
            return adopt_geometry(config, old.n_hidden, old.relu_clip, "the checkpoint"), None
    source = load(spec, config.pretrained_sha256)
    model = source.model
    config = adopt_geometry(config, model.n_hidden, model.relu_clip, "the pretrained model")
    return config, source


def initialize(
    model: DeepSpeech,
    source: Source,
    alphabet: Alphabet,
    drop: int,
    stats: tuple[torch.Tensor, torch.Tensor],
) -> None:
    """Copy `source` into the freshly initialised `model` (same geometry).

    stats: the training features' per-coefficient (mean, std), each [N_MFCC]; the input
    normalisation becomes these, with layer_1 rescaled so that it computes what it did.
    """
    dropped = dropped_layers(drop)
    source = replace(source, model=source.model.to(model.input_mean.device))
    model.set_normalization(*stats)
    target = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in source.model.named_parameters():
            layer = name.split(".")[0]
            if layer in dropped or layer == "layer_6":
                continue
            target[name].copy_(tensor)
        if "layer_1" not in dropped:
            _renormalize_layer_1(model, source.model)
        if "layer_6" not in dropped:
            _copy_output_rows(model, source, alphabet)
    kept = [layer for layer in LAYERS if layer not in dropped]
    print(
        f"Starting from {source.origin}: kept {', '.join(kept)}"
        + (f"; re-initialised {', '.join(reversed(dropped))}" if dropped else "")
    )


def _renormalize_layer_1(model: DeepSpeech, source: DeepSpeech) -> None:
    """layer_1 for `model`'s normalisation (m, s), computing what it did under the
    source's (m0, s0): W_new = W s / s0 (per input column), b_new = b + W (m - m0) / s0."""
    tile = lambda t: t.repeat(CONTEXT_FRAMES)  # noqa: E731 - [N_MFCC] -> [N_INPUT]
    m0, s0 = tile(source.input_mean), tile(source.input_std)
    m, s = tile(model.input_mean), tile(model.input_std)
    weight = source.layer_1.weight.to(torch.float64)
    model.layer_1.weight.copy_(weight * (s / s0).to(torch.float64))
    shift = weight @ ((m - m0) / s0).to(torch.float64)
    model.layer_1.bias.copy_(source.layer_1.bias.to(torch.float64) + shift)


def _copy_output_rows(model: DeepSpeech, source: Source, alphabet: Alphabet) -> None:
    """Output rows of the characters both alphabets share, and the blank's (last)."""
    index = {label: i for i, label in enumerate(source.labels)}
    pairs = [(i, index[label]) for i, label in enumerate(alphabet.labels) if label in index]
    pairs.append((len(alphabet.labels), len(source.labels)))  # blank
    new, old = (torch.tensor(list(side)) for side in zip(*pairs, strict=True))
    model.layer_6.weight[new] = source.model.layer_6.weight[old]
    model.layer_6.bias[new] = source.model.layer_6.bias[old]
    missing = [label for label in alphabet.labels if label not in index]
    if missing:
        shown = ", ".join(repr(label) for label in missing)
        print(f"Alphabet: new output rows for {shown} (not in the pretrained model's alphabet)")
