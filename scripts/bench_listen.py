"""Live recognition latency (`make listen`, dstorch.inference.live): end of speech to line.

A spoken command of about 2 s with silence around it is fed to the LiveRecogniser in 20 ms
chunks, as a microphone delivers them, on one CPU. Per run, the latency is the audio that
had to follow the end of speech before the line came (the endpointer's wait: EARLY_SILENCE
for a command the gate accepts, HANGOVER otherwise) plus the compute time of the call that
returned it. The end of speech is where webrtcvad's trim (margin 0) ends the command.

The model: --model, else the trained model configuration.env names (MODELS_DIR/
MODEL_NAME.pbmm, with its scorer and gate) and --audio, a WAV of one of its commands;
else (a fresh checkout) a small model trained here in about a minute on the example
voices saying BENCH_COMMANDS (dstorch.bench.listen), and one of its voices saying the
long one. The figure without the early endpoint (no gate) is printed beside it.

    python scripts/bench_listen.py [--model M.pbmm --audio command.wav] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy: one core, as the target says

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_transcribe import configured_model  # noqa: E402

from dstorch.entry import command_line, run_guarded  # noqa: E402
from dstorch.features import SAMPLE_RATE  # noqa: E402
from dstorch.inference.listen_cli import CHUNK  # noqa: E402  (make listen's reads)

BENCH_COMMANDS = {"1": "turn on the light in the kitchen", "2": "stop", "3": "play music"}
LONG = "1"  # the ~2 s one, timed
BEFORE, AFTER = 0.5, 1.0  # seconds of silence around the command


def trained_here(folder: Path, n_hidden: int) -> tuple[Path, Path, np.ndarray]:
    """(model, scorer, the long command said by a voice it learnt) trained in `folder`."""
    import soundfile as sf

    from dstorch.bench.listen import train_command_model
    from dstorch.prepare.example_data import voice_specs

    print(f"no trained model configured: training one (n_hidden {n_hidden}) in {folder}")
    paths = train_command_model(folder, BENCH_COMMANDS, n_hidden=n_hidden)
    speaker = voice_specs()[0]["speaker"]
    take = paths["takes"] / f"shapes_{speaker}_2_3_000000_{LONG}_001.wav"
    return paths["pbmm"], paths["scorer"], sf.read(str(take), dtype="int16")[0]


def one_run(recogniser, pcm: np.ndarray) -> tuple[float, str]:
    """-> (seconds from the end of speech to the line, the line)."""
    from dstorch.vad import SAMPLE_RATE, speech_span

    span = speech_span(pcm, margin=0.0) or (0, len(pcm))
    before = np.zeros(round(BEFORE * SAMPLE_RATE), np.int16)
    audio = np.concatenate([before, pcm, np.zeros(round(AFTER * SAMPLE_RATE), np.int16)])
    speech_end = len(before) + span[1]
    for start in range(0, len(audio), CHUNK):
        began = time.perf_counter()
        found = recogniser.feed(audio[start : start + CHUNK])
        took = time.perf_counter() - began
        if found:
            waited = (min(start + CHUNK, len(audio)) - speech_end) / SAMPLE_RATE
            return waited + took, found[0].to_json()
    raise SystemExit("the endpointer found no end of speech: is the audio silent?")


def timed(make, pcm: np.ndarray, repeats: int) -> tuple[np.ndarray, str]:
    one_run(make(), pcm)  # warm-up: imports, buffers
    times, line = [], ""
    for _ in range(repeats):
        took, line = one_run(make(), pcm)
        times.append(took)
    return np.array(times) * 1000, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help=".pbmm (its .scorer, .gate.json beside)")
    parser.add_argument("--audio", type=Path, help="a WAV of one command (with --model)")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--n_hidden", type=int, default=256, help="of the model trained here")
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from dstorch.inference.live import LiveRecogniser
    from dstorch.inference.transcribe import Transcriber, read_audio
    from dstorch.inference.transcribe_cli import load_gate

    with tempfile.TemporaryDirectory(prefix="dstorch-bench-listen-") as tmp:
        model = args.model or (configured_model() if args.audio else None)
        if model is None:
            model, scorer, pcm = trained_here(Path(tmp), args.n_hidden)
        else:
            scorer, pcm = model.with_suffix(".scorer"), read_audio(args.audio)
        transcriber = Transcriber(model, scorer if scorer.is_file() else None)
        gate = load_gate(None, str(model))
        with_gate, line = timed(lambda: LiveRecogniser(transcriber, gate), pcm, args.repeats)
        no_gate, _ = timed(lambda: LiveRecogniser(transcriber), pcm, args.repeats)
    print(f"model {model}, gate {gate is not None}, 1 CPU, {args.repeats} runs")
    print(f"command {len(pcm) / SAMPLE_RATE:.2f} s; line: {line}")
    print(
        f"end of speech -> line: {np.median(with_gate):.0f} ms median "
        f"(max {with_gate.max():.0f}); without the gate's early endpoint "
        f"{np.median(no_gate):.0f} ms"
    )


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
