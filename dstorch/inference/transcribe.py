"""Transcribe audio with a trained model exactly as the DeepSpeech 0.9.3 client does.

`Transcriber` loads a checkpoint (dir or .pt, run in PyTorch), the exported .pb/.pbmm
itself (run in numpy by dstorch.inference.numpy_model, so that transcribing with an
exported model imports neither torch, scipy nor pandas) or an exported .onnx (run by
onnxruntime, dstorch.inference.onnx_model), and runs the client's
streaming pipeline: one MFCC frame per 512-sample window every 320 samples, 19-frame
time steps, the acoustic model in batches of 16 steps carrying the LSTM state, a
zero-padded tail window and 9 zero frames of right context at the end, then CTC beam
search (dstorch.decoder, the client's decoder bit for bit) with the optional scorer and
hot words. Optionally the output is constrained to a list of command sentences
(dstorch.decoder.commands).

Whole buffers (`Transcriber.transcribe`) go through the same pipeline in model calls of
WHOLE_BATCH_STEPS steps instead of 16: the LSTM is causal, so only per-call overhead
changes (logits agree to float rounding; transcripts, timesteps and confidences are the
client's). `Stream` (stdin, live audio) keeps the client's 16.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dstorch import features
from dstorch.decoder import Candidate as Candidate
from dstorch.decoder import DecodeError, WordTiming, make_search, word_timings
from dstorch.decoder.base import FLT_MIN
from dstorch.errors import DstorchError
from dstorch.inference.numpy_model import NumpyDeepSpeech
from dstorch.lm.scorer import Scorer
from dstorch.wav import is_target_format, read_wav

WHOLE_BATCH_STEPS = 1024  # time steps per model call for whole buffers (~20 s, 2 MiB)


class TranscribeError(DstorchError, ValueError):
    """Unusable input for transcription; the message names the file and the fix."""


def parse_hot_words(spec: str | None) -> dict[str, float]:
    """'word:boost,word:boost' -> {word: boost}."""
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in (spec or "").split(","))):
        word, sep, boost = item.rpartition(":")
        try:
            if not sep or not word:
                raise ValueError
            out[word] = float(boost)
        except ValueError:
            raise TranscribeError(
                f"hot word {item!r}: write word:boost, e.g. --hot_words lights:4.5,off:-2"
            ) from None
    return out


# steps [T, 19, 26] float32, state or None -> (probabilities [T, C] float32, state)
AcousticModel = Callable[[np.ndarray, Any], tuple[np.ndarray, Any]]


class TorchModel:
    """A PyTorch DeepSpeech (from a checkpoint) behind the AcousticModel interface."""

    def __init__(self, model: Any):
        self.model = model

    def __call__(self, steps: np.ndarray, state: Any = None) -> tuple[np.ndarray, Any]:
        import torch

        with torch.inference_mode():
            logits, state = self.model(torch.from_numpy(steps)[None], state)
            return torch.softmax(logits[0], dim=-1).numpy(), state  # float32, as the graph's


def load_model(path: str | Path) -> tuple[AcousticModel, list[str], int, int]:
    """-> (acoustic model, labels, default beam width, steps per model call) from a
    checkpoint dir/.pt (PyTorch), an exported .pb/.pbmm (numpy, no torch import) or an
    exported .onnx (onnxruntime)."""
    path = Path(path)
    if not path.exists():
        raise TranscribeError(
            f"{path}: no such model; pass --model (a .pbmm, .pb, .onnx or checkpoint)"
        )
    if path.suffix == ".onnx":
        from dstorch.inference.onnx_model import OnnxDeepSpeech, OnnxModelError

        try:
            onnx = OnnxDeepSpeech(path)
        except OnnxModelError as e:
            raise TranscribeError(str(e)) from None
        return onnx, onnx.labels, onnx.beam_width, onnx.n_steps
    if path.is_dir() or path.suffix == ".pt":
        from dstorch.training.checkpoint import load_for_inference

        model, alphabet, config = load_for_inference(path)
        return TorchModel(model), alphabet.labels, config.export_beam_width, config.n_steps
    if path.suffix == ".tflite":
        raise TranscribeError(
            f"{path}: a .tflite runs in the official client: add --client official"
        )
    graph = NumpyDeepSpeech.load(path)
    return graph, graph.labels, graph.beam_width, graph.n_steps


def read_audio(path: str | Path) -> np.ndarray:
    """int16 [N] at 16 kHz mono from any file libsndfile, sox or ffmpeg can read."""
    path = Path(path)
    if not path.is_file():
        raise TranscribeError(f"{path}: no such audio file")
    if is_target_format(path):
        return read_wav(path)
    from dstorch.prepare.convert import convert  # scipy and friends: only to convert
    from dstorch.prepare.problems import FileProblem

    try:
        with tempfile.TemporaryDirectory(prefix="dstorch-audio-") as tmp:
            target = Path(tmp) / "audio.wav"
            convert(path, target)
            return read_wav(target)
    except FileProblem as exc:
        raise TranscribeError(f"{path}: {exc.message}") from None


class Transcriber:
    """Speech to text with our own model runner and decoder.

    model: checkpoint dir / .pt / .pb / .pbmm; scorer: .scorer path or None; beam_width
    None: the model's (metadata_beam_width, 500 by default, like the client); lm_alpha /
    lm_beta None: the scorer's; hot_words {word: boost}; commands: a commands.csv or a
    text file of sentences, or a list of sentences, to constrain the output to.
    """

    def __init__(
        self,
        model: str | Path,
        scorer: str | Path | None = None,
        beam_width: int | None = None,
        lm_alpha: float | None = None,
        lm_beta: float | None = None,
        hot_words: dict[str, float] | None = None,
        commands: str | Path | list[str] | None = None,
    ):
        self.model, self.labels, default_beam, self.n_steps = load_model(model)
        self.beam_width = default_beam if beam_width is None else int(beam_width)
        if self.beam_width < 1:
            raise TranscribeError(f"beam width must be >= 1, got {self.beam_width}")
        self.scorer = Scorer(scorer, lm_alpha, lm_beta) if scorer else None
        if hot_words and self.scorer is None:
            raise TranscribeError("hot words need a scorer; pass --scorer")
        self.hot_words = dict(hot_words or {})
        self.grammar = None
        if commands is not None:
            from dstorch.decoder.commands import CommandGrammar, load_commands

            sentences = (
                list(commands)
                if isinstance(commands, list)
                else load_commands(commands, self.labels)
            )
            self.grammar = CommandGrammar(sentences, self.labels)

    def stream(self) -> Stream:
        """A new streaming recognition (feed / intermediate / finish)."""
        return Stream(self)

    def transcribe(self, pcm: np.ndarray, num_results: int = 1) -> list[Candidate]:
        """Candidates, best first, for int16 PCM [N] at 16 kHz mono."""
        pcm = np.asarray(pcm)
        if pcm.ndim != 1 or pcm.dtype != np.int16:
            raise TranscribeError(f"need mono int16 PCM [N], got {pcm.dtype} {list(pcm.shape)}")
        steps = max(1, WHOLE_BATCH_STEPS // self.n_steps) * self.n_steps  # see NumpyDeepSpeech
        stream = Stream(self, steps)
        block = steps * features.STEP  # audio of one batch: bounded memory per feed
        for start in range(0, len(pcm), block):
            stream.feed(pcm[start : start + block])
        return stream.finish(num_results)

    def text(self, pcm: np.ndarray) -> str:
        """The best transcript of int16 PCM [N]."""
        return self.transcribe(pcm)[0].text

    def transcribe_file(self, path: str | Path, num_results: int = 1) -> list[Candidate]:
        """Candidates for an audio file of any format (converted to 16 kHz mono first)."""
        return self.transcribe(read_audio(path), num_results)

    def words(self, candidate: Candidate) -> list[WordTiming]:
        """Words with start time and duration, as the client's JSON output has them."""
        return word_timings(candidate, self.labels)


class Stream:
    """The client's streaming state: audio not yet windowed, frames not yet stepped,
    time steps not yet run, the LSTM state and the decoder. Memory stays bounded.
    batch_steps: time steps per model call (None: the model's, 16, as the client)."""

    def __init__(self, owner: Transcriber, batch_steps: int | None = None):
        self.owner = owner
        self.batch_steps = batch_steps or owner.n_steps
        self.samples = np.zeros(0, np.int16)  # < one window + one feed
        self.frames = np.zeros(
            (features.N_CONTEXT, features.N_MFCC), np.float32
        )  # 9 zeros of left context
        self.steps = np.zeros(
            (0, features.CONTEXT_FRAMES, features.N_MFCC), np.float32
        )  # < n_steps
        self.state: Any = None  # the LSTM's (h, c), as the acoustic model keeps it
        self.search = make_search(owner.labels, owner.beam_width, owner.scorer, owner.hot_words)
        self.log_probs: list[np.ndarray] = []  # kept only to rank commands
        self.finished = False

    def feed(self, pcm: np.ndarray) -> None:
        """Append int16 samples [N]; runs the model on every complete batch of steps."""
        if self.finished:
            raise TranscribeError("stream already finished; start a new one")
        self.samples = np.concatenate([self.samples, np.asarray(pcm, np.int16)])
        if len(self.samples) < features.WINDOW:
            return
        count = 1 + (len(self.samples) - features.WINDOW) // features.STEP
        starts = np.arange(count) * features.STEP
        windows = self.samples[starts[:, None] + np.arange(features.WINDOW)] * features.PCM_SCALE
        self.samples = self.samples[count * features.STEP :]
        self._add_frames(features.mfcc_windows(windows))

    def _add_frames(self, frames: np.ndarray) -> None:
        """frames [m, N_MFCC] -> time steps of 19 frames -> model batches of n_steps."""
        self.frames = np.concatenate([self.frames, frames])
        ready = len(self.frames) - features.CONTEXT_FRAMES + 1
        if ready > 0:
            index = np.arange(ready)[:, None] + np.arange(features.CONTEXT_FRAMES)
            self.steps = np.concatenate([self.steps, self.frames[index]])
            self.frames = self.frames[ready:]
        n = self.batch_steps
        full = len(self.steps) // n * n
        if full:
            for start in range(0, full, n):
                self._run(self.steps[start : start + n])
            self.steps = self.steps[full:]

    def _run(self, steps: np.ndarray) -> None:
        """Acoustic model over steps [m, 19, 26] with the carried state, then decode."""
        probs, self.state = self.owner.model(steps, self.state)
        if self.owner.grammar is not None:
            self.log_probs.append(np.log(probs.astype(np.float64) + FLT_MIN))
        try:
            self.search.next(probs)
        except DecodeError as exc:
            raise TranscribeError(str(exc)) from None

    def intermediate(self) -> str:
        """Best transcript of what the model has run over so far (like the client's
        DS_IntermediateDecode: audio still buffered in the batch is not included)."""
        return self.search.decode(1)[0].text

    def finish(self, num_results: int = 1) -> list[Candidate]:
        """Flush like DS_FinishStream: the tail window, 9 zero frames, a partial batch."""
        if self.finished:
            raise TranscribeError("stream already finished; start a new one")
        tail = np.zeros(features.WINDOW)
        tail[: len(self.samples)] = self.samples * features.PCM_SCALE
        self._add_frames(features.mfcc_windows(tail[None]))
        self._add_frames(np.zeros((features.N_CONTEXT, features.N_MFCC), np.float32))
        if len(self.steps):
            self._run(self.steps)
        self.finished = True
        owner = self.owner
        if owner.grammar is not None:
            log_probs = np.concatenate(self.log_probs or [np.zeros((0, len(owner.labels) + 1))])
            return owner.grammar.rank(log_probs, owner.scorer, owner.hot_words, num_results)
        return self.search.decode(num_results)
