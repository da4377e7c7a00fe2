"""Live recognition latency (`make listen`, dstorch.inference.live): end of speech to result.

A 2 s spoken command (espeak-ng, its speed fitted to the length) with silence around it is
fed to the LiveRecogniser in 20 ms chunks, as a microphone delivers it, on one CPU. The
endpointer can only know that speech has ended once HANGOVER seconds of silence have
followed it (dstorch.vad: the pause a command may hold between words); from the chunk that
completes that silence to the result line is the recogniser's own latency, timed per run.
Both are printed: the median (and worst) of the timed part over --repeats runs, and the
total from the true end of speech (HANGOVER of audio plus that).

--model defaults to the trained model configuration.env names, else a random model with
N_HIDDEN (bench_transcribe.py's pick_model); the scorer and gate beside it are used.

    python scripts/bench_listen.py [--model M.pbmm] [--scorer S.scorer] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import subprocess
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

from bench_transcribe import pick_model  # noqa: E402

COMMAND = "turn on the light in the kitchen"
TARGET_SECONDS = 2.0
CHUNK = 320  # 20 ms


def spoken_command(folder: Path, seconds: float = TARGET_SECONDS) -> np.ndarray:
    """int16 PCM of espeak-ng saying COMMAND in about `seconds` (speed fitted, one retry)."""
    from dstorch.inference.transcribe import read_audio
    from dstorch.vad import trim

    speed, pcm = 175, np.zeros(0, np.int16)
    for _ in range(3):
        raw = folder / "command.wav"
        subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(raw), COMMAND], check=True)
        pcm = trim(read_audio(raw), margin=0.0)
        speed = max(80, min(450, round(speed * len(pcm) / 16000 / seconds)))
    return pcm


def one_run(recogniser, pcm: np.ndarray) -> tuple[float, str]:
    """Feed silence, the command, silence; -> (seconds of the call that ended it, answer)."""
    audio = np.concatenate([np.zeros(8000, np.int16), pcm, np.zeros(16000, np.int16)])
    for start in range(0, len(audio), CHUNK):
        began = time.perf_counter()
        found = recogniser.feed(audio[start : start + CHUNK])
        if found:
            return time.perf_counter() - began, found[0].to_json()
    raise SystemExit("the endpointer found no end of speech: is espeak-ng's output silent?")


def main() -> None:
    from dstorch.config import load_env

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help=".pbmm (default: configured, else random)")
    parser.add_argument("--scorer", type=Path, help="default: the model's, else the fixture's")
    parser.add_argument("--repeats", type=int, default=30)
    n_hidden = int(load_env(ROOT / "configuration.env").get("N_HIDDEN") or 256)
    parser.add_argument("--n_hidden", type=int, default=n_hidden)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from dstorch.inference.live import LiveRecogniser
    from dstorch.inference.transcribe import Transcriber
    from dstorch.inference.transcribe_cli import load_gate
    from dstorch.vad import HANGOVER

    with tempfile.TemporaryDirectory(prefix="dstorch-bench-listen-") as tmp:
        model, scorer, what = pick_model(args, Path(tmp))
        pcm = spoken_command(Path(tmp))
        transcriber, gate = Transcriber(model, scorer), load_gate(None, str(model))
        one_run(LiveRecogniser(transcriber, gate), pcm)  # warm-up: imports, buffers
        times, answer = [], ""
        for _ in range(args.repeats):
            if transcriber.scorer is not None:
                transcriber.scorer.clear_caches()  # each utterance is new to the LM
            took, answer = one_run(LiveRecogniser(transcriber, gate), pcm)
            times.append(took)
    ms = np.array(times) * 1000
    print(f"model {model} ({what}), scorer {scorer}, gate {gate is not None}, 1 CPU")
    print(f"command {len(pcm) / 16000:.2f} s ({COMMAND!r}), {args.repeats} runs; last: {answer}")
    print(
        f"end of speech -> line: recogniser {np.median(ms):.1f} ms median "
        f"(max {ms.max():.1f}) after the endpointer's {HANGOVER * 1000:.0f} ms of silence; "
        f"total {HANGOVER * 1000 + np.median(ms):.0f} ms"
    )


if __name__ == "__main__":
    main()
