"""Transcription speed and parity: dstorch vs the official DeepSpeech 0.9.3 client.

Both run the same .pbmm on the same audio with the same beam width, in this one process
pinned to one CPU (torch with 1 thread, the client's TensorFlow with 1 intra/inter-op
thread). Times are whole transcriptions (features + acoustic model + decoder), the best
of --repeats interleaved runs, so a busy machine hurts both alike. Parity: the share of
clips whose transcript is identical. Without --model a small random model (n_hidden
--n_hidden, output layer sharpened like a trained one) is exported to a temp folder.

    python scripts/bench_transcribe.py [--model M.pbmm] [--scorer S.scorer] [--audio DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# Before TensorFlow (inside libdeepspeech.so) and torch start their thread pools.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
    os.environ[_var] = "1"
os.environ["TF_NUM_INTEROP_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "fixtures"
ENGLISH = [" "] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'"]


def synthetic_model(folder: Path, n_hidden: int, seed: int = 7) -> Path:
    """A random DeepSpeech exported as .pbmm; outputs sharpened x8 like a trained model."""
    from dstorch.data import Alphabet
    from dstorch.export import export_model
    from dstorch.model import DeepSpeech

    torch.manual_seed(seed)
    model = DeepSpeech(len(ENGLISH) + 1, n_hidden=n_hidden).eval()
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 1:
                param.uniform_(-0.1, 0.1)
        model.layer_6.weight.mul_(8.0)
        model.layer_6.bias.mul_(8.0)
    return export_model(model, Alphabet(ENGLISH), folder, "bench")[1]


def clips(audio: Path | None, seconds: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(the timing clip [seconds * 16000], parity clips {name: int16 [N]})."""
    from dstorch.transcribe import read_audio

    if audio is not None:
        files = sorted(p for p in audio.rglob("*") if p.is_file()) if audio.is_dir() else [audio]
        parity = {str(p): read_audio(p) for p in files}
    else:
        parity = {p.name: read_audio(p) for p in sorted((FIXTURES / "clips").glob("*.wav"))}
        for npz in sorted((FIXTURES / "features").glob("*.npz")):
            parity[npz.stem] = np.load(npz)["pcm"]
    joined = np.concatenate(list(parity.values()))
    timing = np.resize(joined, int(seconds * 16000))  # repeats the clips to the length
    rng = np.random.default_rng(0)
    for i in range(12):  # slices of random length and offset: edge cases for the framing
        start, length = rng.integers(0, len(timing) // 2), rng.integers(300, 5 * 16000)
        parity[f"slice{i}"] = timing[start : start + length]
    return timing, parity


def best_time(fn, repeats: int) -> tuple[float, str]:
    best, text = float("inf"), ""
    for _ in range(repeats):
        start = time.perf_counter()
        text = fn()
        best = min(best, time.perf_counter() - start)
    return best, text


def compare(ours, theirs, timing: np.ndarray, parity: dict, repeats: int, label: str) -> None:
    """Print both times, their ratio and the parity rate for one setting."""
    t_ours = t_theirs = float("inf")
    for _ in range(repeats):  # interleaved: both see the same machine load
        t, _ = best_time(lambda: ours.text(timing), 1)
        t_ours = min(t_ours, t)
        t, _ = best_time(lambda: theirs.stt(timing), 1)
        t_theirs = min(t_theirs, t)
    same = [ours.text(pcm) == theirs.stt(pcm) for pcm in parity.values()]
    seconds = len(timing) / 16000
    print(
        f"{label:<14} dstorch {t_ours:.3f} s (RTF {t_ours / seconds:.4f})  "
        f"official {t_theirs:.3f} s (RTF {t_theirs / seconds:.4f})  "
        f"ratio {t_ours / t_theirs:.2f}  parity {sum(same)}/{len(same)} "
        f"({sum(same) / len(same):.1%})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help=".pbmm (default: a random model)")
    parser.add_argument("--scorer", type=Path, default=FIXTURES / "scorer" / "commands.scorer")
    parser.add_argument("--audio", type=Path, help="file or folder (default: test fixtures)")
    parser.add_argument("--beam_width", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the timed clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n_hidden", type=int, default=128)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one CPU for both
    torch.set_num_threads(1)
    from dstorch.client import OfficialModel, fetch_library
    from dstorch.transcribe import Transcriber

    with tempfile.TemporaryDirectory(prefix="dstorch-bench-") as tmp:
        model = args.model or synthetic_model(Path(tmp), args.n_hidden)
        timing, parity = clips(args.audio, args.seconds)
        from dstorch.decode_kernel import BACKEND

        print(
            f"model {model.name}, beam {args.beam_width}, {args.seconds:g} s clip, 1 CPU, "
            f"decoder backend {BACKEND}"
        )
        lib = fetch_library(ROOT / "build" / "deepspeech-0.9.3")
        with OfficialModel(model, lib) as client:
            client.set_beam_width(args.beam_width)
            ours = Transcriber(model, beam_width=args.beam_width)
            compare(ours, client, timing, parity, args.repeats, "no scorer")
            if args.scorer and args.scorer.is_file():
                client.enable_scorer(args.scorer)
                ours = Transcriber(model, args.scorer, beam_width=args.beam_width)
                compare(ours, client, timing, parity, args.repeats, "with scorer")


if __name__ == "__main__":
    main()
