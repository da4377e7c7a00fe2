"""`dstorch transcribe`: files, folders or a raw PCM stream on stdin, as text or JSON.

Output: the best transcript (with `name<TAB>` in front for a folder), or with --json one
JSON object per input line: {"file", "transcripts": [{"text", "confidence", "words":
[{"word", "start_time", "duration"}]}]}, the native client's metadata, and with a gate
(`<model stem>.gate.json` beside the model, or --gate) "command" (the command to act on, or
null) and "rejected"; text output then marks a rejected transcript. --client official
runs the same through the official libdeepspeech.so for comparison. Every input is first
cut to its speech (dstorch.vad; --vad_trim no keeps it whole): padded clips were measured
to gain with it and unpadded ones to lose nothing (docs/experiments.md, `make bench-vad`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dstorch.config import ENV_FILE

if TYPE_CHECKING:  # the parser is built for every dstorch command: import torch lazily
    import numpy as np

    from dstorch.decoder import Candidate
    from dstorch.rejection import Gate

STDIN_CHUNK = 32000  # bytes read at a time: a second of 16-bit samples at 16 kHz
REJECTED_MARK = "[rejected]"  # after a text answer the device must not act on


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=ENV_FILE)
    p.add_argument(
        "--model",
        help=".pbmm/.pb/.onnx/checkpoint, or .tflite with --client official "
        "(default: MODELS_DIR/MODEL_NAME.pbmm)",
    )
    p.add_argument("--scorer", help=".scorer (default: MODELS_DIR/MODEL_NAME.scorer if any)")
    p.add_argument("--no_scorer", action="store_true", help="decode without a scorer")
    p.add_argument("--audio", required=True, help="file, folder, or - for raw PCM on stdin")
    p.add_argument("--json", action="store_true", help="JSON metadata, one object a line")
    p.add_argument("--beam_width", type=int, help="default: the model's (500)")
    p.add_argument("--lm_alpha", type=float)
    p.add_argument("--lm_beta", type=float)
    p.add_argument("--hot_words", help="word:boost,word:boost")
    p.add_argument("--candidate_transcripts", type=int, default=1)
    p.add_argument("--commands", help="commands.csv or text file: answer only these sentences")
    p.add_argument("--client", choices=("dstorch", "official"), default="dstorch")
    p.add_argument(
        "--gate",
        help="confidence gate file, or none (default: <model stem>.gate.json beside the "
        "model if any): answer a command only when the gate accepts it",
    )
    p.add_argument(
        "--vad_trim",
        choices=("yes", "no"),
        default="yes",
        help="yes: cut the silence or noise before and after the speech first (webrtcvad, "
        "dstorch/vad.py; measured with make bench-vad, see docs/experiments.md)",
    )


def default_paths(args: argparse.Namespace) -> tuple[str, str | None]:
    """--model / --scorer, or the exported model in MODELS_DIR named MODEL_NAME."""
    from dstorch.config import PipelineConfig
    from dstorch.inference.transcribe import TranscribeError

    model, scorer = args.model, args.scorer
    if model is None or (scorer is None and not args.no_scorer):
        config = PipelineConfig.load(args.config)
        base = Path(config.models_dir) / config.model_name
        _check_installed(Path(config.models_dir), config.model_name)
        if model is None:
            model = str(base.with_suffix(".pbmm"))
            if not Path(model).is_file():
                raise TranscribeError(
                    f"no model at {model}; export one first (make export) or pass --model"
                )
        if scorer is None and base.with_suffix(".scorer").is_file():
            scorer = str(base.with_suffix(".scorer"))
    return model, None if args.no_scorer else scorer


def _check_installed(models_dir: Path, name: str) -> None:
    """Refuse a model whose install was cut short: a new .pbmm beside an old .scorer."""
    from dstorch.inference.transcribe import TranscribeError
    from dstorch.runner.install import mismatched

    changed = [n for n in mismatched(models_dir, name) if n.startswith(f"{name}.")]
    if changed:
        raise TranscribeError(
            f"{models_dir}/{changed[0]} is not the file `make export` installed last (an "
            "interrupted export, or a hand edit); run make export again"
        )


class Official:
    """The official client behind the Transcriber interface (transcribe / stream)."""

    def __init__(self, args: argparse.Namespace, model: str, scorer: str | None):
        from dstorch.inference.official import (
            TF_CLIENT,
            TFLITE_CLIENT,
            ClientError,
            OfficialModel,
            fetch_library,
        )
        from dstorch.inference.transcribe import TranscribeError, parse_hot_words
        from dstorch.lm.scorer import read_scorer

        if args.commands:
            raise TranscribeError("--commands works with our decoder only; drop --client")
        if Path(model).suffix == ".onnx":
            raise TranscribeError(f"{model}: the official client runs .pbmm/.pb, not ONNX")
        self.labels: list[str] = []  # token texts seen, so tokens can be label indices
        try:
            # A .tflite runs in the deepspeech-tflite flavour of the library.
            flavour = TFLITE_CLIENT if Path(model).suffix == ".tflite" else TF_CLIENT
            self.client = OfficialModel(model, fetch_library(client=flavour))
            if args.beam_width:
                self.client.set_beam_width(args.beam_width)
            if scorer:
                self.client.enable_scorer(scorer)
                if args.lm_alpha is not None or args.lm_beta is not None:
                    stored = read_scorer(scorer)
                    alpha = stored.alpha if args.lm_alpha is None else args.lm_alpha
                    beta = stored.beta if args.lm_beta is None else args.lm_beta
                    self.client.set_scorer_alpha_beta(alpha, beta)
            for word, boost in parse_hot_words(args.hot_words).items():
                self.client.add_hot_word(word, boost)
        except ClientError as exc:
            raise TranscribeError(f"official client: {exc}") from None

    def _candidates(self, transcripts) -> list[Candidate]:
        from dstorch.decoder import Candidate

        out = []
        for t in transcripts:
            for tok in t.tokens:
                if tok.text not in self.labels:
                    self.labels.append(tok.text)
            tokens = [self.labels.index(tok.text) for tok in t.tokens]
            steps = [tok.timestep for tok in t.tokens]
            out.append(Candidate(t.text, t.confidence, tokens, steps))
        return out

    def transcribe(self, pcm: np.ndarray, num_results: int) -> list[Candidate]:
        return self._candidates(self.client.stt_with_metadata(pcm, num_results))

    def transcribe_chunks(self, chunks: Iterator[np.ndarray], num_results: int):
        stream = self.client.stream()
        for chunk in chunks:
            stream.feed(chunk)
        return self._candidates(stream.finish_with_metadata(num_results))

    def words(self, candidate: Candidate):
        from dstorch.decoder import word_timings

        return word_timings(candidate, self.labels)


def load_gate(spec: str | None, model: str) -> Gate | None:
    """--gate FILE, none, or the gate file beside the model when there is one."""
    from dstorch.inference.transcribe import TranscribeError
    from dstorch.rejection import Gate, gate_path

    if spec == "none":
        return None
    path = Path(spec) if spec else gate_path(Path(model))
    if not path.is_file():
        if spec:
            raise TranscribeError(f"{path}: no such gate file; pass --gate none to go without")
        return None
    try:
        return Gate.load(path)
    except ValueError as e:
        raise TranscribeError(str(e)) from None


def _number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None  # JSON has no infinities


def to_json(
    name: str,
    candidates: list[Candidate],
    engine,
    offset: float = 0.0,
    command: str | None | bool = False,
) -> str:
    """offset: seconds cut from the start (--vad_trim), so times are the input's. command:
    what the gate lets the device act on (None: rejected; False: no gate, no such keys)."""
    transcripts = []
    for cand in candidates:
        words = [
            {
                "word": w.word,
                "start_time": round(w.start_time + offset, 4),
                "duration": round(w.duration, 4),
            }
            for w in engine.words(cand)
            if w.word
        ]
        confidence = _number(cand.confidence)
        transcripts.append({"text": cand.text, "confidence": confidence, "words": words})
    record = {"file": name, "transcripts": transcripts}
    if command is not False:
        record |= {"command": command, "rejected": command is None}
    return json.dumps(record, ensure_ascii=False)


def stdin_chunks() -> Iterator[np.ndarray]:
    """int16 chunks of raw little-endian PCM from stdin (an odd last byte is dropped)."""
    import numpy as np

    rest = b""
    while chunk := sys.stdin.buffer.read(STDIN_CHUNK):
        data, cut = rest + chunk, (len(rest) + len(chunk)) // 2 * 2
        rest = data[cut:]
        yield np.frombuffer(data[:cut], "<i2").astype(np.int16)


def _inputs(audio: str) -> list[Path]:
    from dstorch.inference.transcribe import TranscribeError

    path = Path(audio)
    if path.is_dir():
        from dstorch.prepare.sources import list_recordings

        files = list_recordings(path)
        if not files:
            raise TranscribeError(f"{path}: no audio files in this folder")
        return files
    if not path.exists():
        raise TranscribeError(f"{path}: no such file or folder")
    return [path]


def _trimmed(pcm: np.ndarray, trim: bool) -> tuple[np.ndarray, float]:
    """int16 pcm [N] cut to its speech and a margin (dstorch.vad) when `trim` -> ([M <= N],
    seconds cut from the start)."""
    from dstorch.vad import SAMPLE_RATE, speech_span

    span = speech_span(pcm) if trim else None
    if span is None:  # no speech found: the whole input, as the client would hear it
        return pcm, 0.0
    return pcm[span[0] : span[1]], span[0] / SAMPLE_RATE


def _from_stdin(engine, n: int, trim: bool) -> tuple[list[Candidate], float, float]:
    """Candidates for raw PCM on stdin, the seconds cut from its start and those heard."""
    import numpy as np

    from dstorch.features import SAMPLE_RATE

    chunks, offset, samples = stdin_chunks(), 0.0, [0]
    if trim:  # the span of speech is known only once the stream has ended
        pcm, offset = _trimmed(np.concatenate([np.zeros(0, np.int16), *chunks]), trim)
        chunks = iter([pcm])

    def counted() -> Iterator[np.ndarray]:
        for chunk in chunks:
            samples[0] += len(chunk)
            yield chunk

    if isinstance(engine, Official):
        cands = engine.transcribe_chunks(counted(), n)
    else:
        stream = engine.stream()
        for chunk in counted():
            stream.feed(chunk)
        cands = stream.finish(n)
    return cands, offset, samples[0] / SAMPLE_RATE


def run(args: argparse.Namespace) -> int:
    """The whole command; -> exit status (1 if some file of a folder failed)."""
    from dstorch.features import SAMPLE_RATE
    from dstorch.inference.transcribe import (
        TranscribeError,
        Transcriber,
        parse_hot_words,
        read_audio,
    )

    model, scorer = default_paths(args)
    gate = load_gate(args.gate, model)
    shown = max(1, args.candidate_transcripts)
    n = max(shown, gate.num_results if gate else 1)  # the gate may need rivals
    if args.client == "official":
        engine = Official(args, model, scorer)
    else:
        hot = parse_hot_words(args.hot_words)
        engine = Transcriber(
            model, scorer, args.beam_width, args.lm_alpha, args.lm_beta, hot, args.commands
        )

    def emit(name: str | None, cands: list[Candidate], seconds: float, offset: float) -> None:
        command = gate.command(cands, seconds) if gate else False
        if args.json:
            print(to_json(name or "-", cands[:shown], engine, offset, command), flush=True)
            return
        text = f"{cands[0].text} {REJECTED_MARK}" if command is None else cands[0].text
        print(f"{name}\t{text}" if name else text, flush=True)

    trim = args.vad_trim == "yes"
    if args.audio == "-":
        cands, offset, seconds = _from_stdin(engine, n, trim)
        emit(None, cands, seconds, offset)
        return 0
    files, folder, status = _inputs(args.audio), Path(args.audio).is_dir(), 0
    for path in files:
        name = str(path.relative_to(args.audio)) if folder else str(path)
        try:
            pcm, offset = _trimmed(read_audio(path), trim)
            cands = engine.transcribe(pcm, n)
        except TranscribeError as exc:
            if not folder:
                raise
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        emit(name if folder or args.json else None, cands, len(pcm) / SAMPLE_RATE, offset)
    return status
