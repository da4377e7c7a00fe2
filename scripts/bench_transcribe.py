"""Transcription speed and parity: dstorch vs the official DeepSpeech 0.9.3 client.

Both run the same .pbmm on the same audio with the same beam width, in this one process
pinned to one CPU (numpy's BLAS and torch with 1 thread, the client's TensorFlow with 1
intra/inter-op thread). Times are whole transcriptions (features + acoustic model +
decoder) of the same audio, after one untimed warm-up call each, the best of --repeats
interleaved runs, so a busy machine hurts both alike. The headline is cold: our scorer's
LM caches are emptied before every timed call, because the official client keeps no
cache across clips and a real user transcribes each clip once. "warm" (caches kept from
the previous call of the same audio) is printed after it for reference only. Parity: the
share of clips whose transcript is identical.

--model defaults to the trained model configuration.env names (MODELS_DIR/MODEL_NAME.pbmm)
when it exists, else a small random model (n_hidden --n_hidden, output layer sharpened
like a trained one) exported to a temp folder; --scorer defaults to the model's .scorer
next to it, else the test fixture's.

    python scripts/bench_transcribe.py [--model M.pbmm] [--scorer S.scorer] [--audio DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

# Before TensorFlow (inside libdeepspeech.so), torch and numpy's OpenBLAS (our .pbmm
# runner) start their thread pools.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dstorch.config import ENV_FILE  # noqa: E402
from dstorch.entry import command_line, run_guarded  # noqa: E402
from dstorch.features import SAMPLE_RATE  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
FIXTURE_SCORER = FIXTURES / "scorer" / "commands.scorer"
ENGLISH = [" "] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'"]


def synthetic_model(folder: Path, n_hidden: int, seed: int = 7) -> Path:
    """A random DeepSpeech exported as .pbmm; outputs sharpened x8 like a trained model."""
    from dstorch.alphabet import Alphabet
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
    """(the timing clip [seconds * SAMPLE_RATE], parity clips {name: int16 [N]})."""
    from dstorch.inference.transcribe import read_audio

    if audio is not None:
        files = sorted(p for p in audio.rglob("*") if p.is_file()) if audio.is_dir() else [audio]
        parity = {str(p): read_audio(p) for p in files}
    else:
        parity = {p.name: read_audio(p) for p in sorted((FIXTURES / "clips").glob("*.wav"))}
        for npz in sorted((FIXTURES / "features").glob("*.npz")):
            parity[npz.stem] = np.load(npz)["pcm"]
    joined = np.concatenate(list(parity.values()))
    timing = np.resize(joined, int(seconds * SAMPLE_RATE))  # repeats the clips to the length
    rng = np.random.default_rng(0)
    for i in range(12):  # slices of random length and offset: edge cases for the framing
        start, length = rng.integers(0, len(timing) // 2), rng.integers(300, 5 * SAMPLE_RATE)
        parity[f"slice{i}"] = timing[start : start + length]
    return timing, parity


def best_time(fn, repeats: int) -> tuple[float, str]:
    best, text = float("inf"), ""
    for _ in range(repeats):
        start = time.perf_counter()
        text = fn()
        best = min(best, time.perf_counter() - start)
    return best, text


def cold_text(ours, pcm: np.ndarray) -> str:
    """Our transcript of `pcm` with empty LM caches, as the client always starts a clip."""
    if ours.scorer is not None:
        ours.scorer.clear_caches()
    return ours.text(pcm)


def compare(ours, theirs, timing: np.ndarray, parity: dict, repeats: int, label: str) -> None:
    """Print both times (cold: the headline), their ratio and the parity rate."""
    ours.text(timing)  # warm-up (imports, buffers), untimed; its caches are cleared below
    theirs.stt(timing)
    t_cold = t_warm = t_theirs = float("inf")
    for _ in range(repeats):  # interleaved: both see the same machine load
        t_cold = min(t_cold, best_time(lambda: cold_text(ours, timing), 1)[0])
        t_warm = min(t_warm, best_time(lambda: ours.text(timing), 1)[0])  # caches kept
        t_theirs = min(t_theirs, best_time(lambda: theirs.stt(timing), 1)[0])
    same = [cold_text(ours, pcm) == theirs.stt(pcm) for pcm in parity.values()]
    seconds = len(timing) / SAMPLE_RATE
    warm = f"  (warm LM cache, which the client lacks: {t_warm / t_theirs:.2f})"
    print(
        f"{label:<12} dstorch {t_cold:.3f} s (RTF {t_cold / seconds:.4f})  "
        f"official {t_theirs:.3f} s (RTF {t_theirs / seconds:.4f})  "
        f"ratio {t_cold / t_theirs:.2f}  "
        f"parity {sum(same)}/{len(same)} ({sum(same) / len(same):.1%})"
        + (warm if ours.scorer is not None else ""),
        flush=True,
    )


def configured_model(config: Path = ROOT / ENV_FILE) -> Path | None:
    """MODELS_DIR/MODEL_NAME.pbmm as configuration.env (or the environment) names it,
    if that model has been exported."""
    from dstorch.config import load_env

    values = load_env(config)
    folder = Path(values.get("MODELS_DIR") or "models")
    path = (folder if folder.is_absolute() else ROOT / folder) / (
        f"{values.get('MODEL_NAME') or 'commands'}.pbmm"
    )
    return path if path.is_file() else None


def pick_model(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path | None, str]:
    """(model, scorer, what the model is) from the arguments and defaults."""
    model, what = args.model, "given"
    if model is None:
        model, what = configured_model(), "trained, configured"
    if model is None:
        model = synthetic_model(tmp, args.n_hidden)
        what = f"random, n_hidden {args.n_hidden}"
    scorer = args.scorer or next(
        (p for p in (model.with_suffix(".scorer"), FIXTURE_SCORER) if p.is_file()), None
    )
    return model, scorer, what


def main() -> None:
    from dstorch.config.training import DEFAULT_BEAM_WIDTH

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help=".pbmm (default: configured, else random)")
    parser.add_argument("--scorer", type=Path, help="default: the model's, else the fixture's")
    parser.add_argument("--audio", type=Path, help="file or folder (default: test fixtures)")
    parser.add_argument("--beam_width", type=int, default=DEFAULT_BEAM_WIDTH)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the timed clip")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n_hidden", type=int, default=128)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one CPU for both
    torch.set_num_threads(1)
    from dstorch.inference.official import OfficialModel, fetch_library
    from dstorch.inference.transcribe import Transcriber

    with tempfile.TemporaryDirectory(prefix="dstorch-bench-") as tmp:
        model, scorer, what = pick_model(args, Path(tmp))
        timing, parity = clips(args.audio, args.seconds)
        print(
            f"model {model} ({what}), scorer {scorer}, beam {args.beam_width}, "
            f"{args.seconds:g} s clip, 1 CPU, decoder: the C kernel"
        )
        lib = fetch_library(ROOT / "build" / "deepspeech-0.9.3")
        with OfficialModel(model, lib) as client:
            client.set_beam_width(args.beam_width)
            ours = Transcriber(model, beam_width=args.beam_width)
            compare(ours, client, timing, parity, args.repeats, "no scorer")
            if scorer and scorer.is_file():
                client.enable_scorer(scorer)
                ours = Transcriber(model, scorer, beam_width=args.beam_width)
                compare(ours, client, timing, parity, args.repeats, "with scorer")


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
