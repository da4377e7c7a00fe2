"""Export a trained model as the DeepSpeech 0.9.3 client's `.pb` and `.pbmm` files, and as
the `.tflite` of its TFLite flavour (`deepspeech-tflite`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from dstorch.config.training import DEFAULT_BEAM_WIDTH, DEFAULT_EXPORT_NAME, DEFAULT_N_STEPS
from dstorch.export.graph import build_graph
from dstorch.export.pbmm import pbmm_bytes
from dstorch.export.protobuf import encode_graph
from dstorch.fs import atomic_write

if TYPE_CHECKING:  # the lean inference path reads graphs through export/ without torch
    from dstorch.alphabet import Alphabet
    from dstorch.model import DeepSpeech

__all__ = ["export_model", "export_bytes", "export_tflite", "tflite_bytes"]

Built = TypeVar("Built")


def _build(
    builder: Callable[..., Built],
    model: DeepSpeech,
    alphabet: Alphabet,
    beam_width: int,
    n_steps: int,
) -> Built:
    """Call `builder` (build_graph or build_tflite: they take the same inputs) for `model`."""
    return builder(
        model.tf_weights(),
        alphabet.serialize(),
        len(alphabet),
        beam_width=beam_width,
        n_steps=n_steps,
        relu_clip=float(model.relu_clip),
    )


def export_bytes(
    model: DeepSpeech,
    alphabet: Alphabet,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    n_steps: int = DEFAULT_N_STEPS,
) -> tuple[bytes, bytes]:
    """-> (frozen GraphDef bytes, memmapped package bytes) for `model`."""
    nodes = _build(build_graph, model, alphabet, beam_width, n_steps)
    return encode_graph(nodes), pbmm_bytes(nodes)


def export_model(
    model: DeepSpeech,
    alphabet: Alphabet,
    export_dir: Path,
    name: str = DEFAULT_EXPORT_NAME,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    n_steps: int = DEFAULT_N_STEPS,
) -> tuple[Path, Path]:
    """Write `<export_dir>/<name>.pb` and `<name>.pbmm` atomically; -> (pb path, pbmm path).

    The client picks the reader by the path: any path containing `.pbmm` is memory-mapped.
    """
    pb, pbmm = export_bytes(model, alphabet, beam_width=beam_width, n_steps=n_steps)
    export_dir = Path(export_dir)
    pb_path, pbmm_path = export_dir / f"{name}.pb", export_dir / f"{name}.pbmm"
    atomic_write(pb_path, pb)
    atomic_write(pbmm_path, pbmm)
    return pb_path, pbmm_path


def tflite_bytes(
    model: DeepSpeech,
    alphabet: Alphabet,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    n_steps: int = DEFAULT_N_STEPS,
) -> bytes:
    """-> the .tflite flatbuffer for `model` (float32 weights, as the .pb)."""
    # Here, not at the top: `dstorch transcribe` reads graphs through this package and
    # never needs the flatbuffers writer.
    from dstorch.export.tflite import build_tflite

    return _build(build_tflite, model, alphabet, beam_width, n_steps)


def export_tflite(
    model: DeepSpeech,
    alphabet: Alphabet,
    export_dir: Path,
    name: str = DEFAULT_EXPORT_NAME,
    beam_width: int = DEFAULT_BEAM_WIDTH,
    n_steps: int = DEFAULT_N_STEPS,
) -> Path:
    """Write `<export_dir>/<name>.tflite` atomically; -> its path."""
    path = Path(export_dir) / f"{name}.tflite"
    atomic_write(path, tflite_bytes(model, alphabet, beam_width=beam_width, n_steps=n_steps))
    return path
