"""Start-up of one short clip: `dstorch transcribe` vs the official client, whole processes.

Each run is a fresh process, timed from spawn to exit (wall clock), with its peak RSS
from os.wait4 (that child alone). Linux counts the RSS of the process that spawned it
in a child's peak, so the runs are spawned by a bare launcher (this script with
--launch, stdlib only), not by this process, which has loaded torch to make a model.
Ours: `python -m dstorch transcribe --model M.pbmm --scorer S --audio clip.wav` (the
lean numpy path). The client's: a bare Python that loads libdeepspeech.so through
ctypes (dstorch.inference.official), enables the same scorer and prints the transcript. Runs
alternate (ours, client, ours, ...) after one untimed warm-up each, so a busy machine
hurts both alike; medians are the headline. Transcripts must be identical. Target
(issue 10): ours at most 1.5x the client's time, under 100 MiB.

--model defaults to the configured MODELS_DIR/MODEL_NAME.pbmm when it exists, else a
random model of the configured N_HIDDEN exported to a temp folder (sharpened like a
trained one); --scorer to the model's .scorer, else the test fixture's; --audio to the
first --seconds of the speech fixture.

    python scripts/bench_startup.py [--model M.pbmm] [--scorer S] [--audio a.wav]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dstorch.entry import command_line, run_guarded  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
TARGET_RATIO, TARGET_MIB = 1.5, 100.0

CLIENT = """
import sys, wave
import numpy as np
from dstorch.inference.official import OfficialModel
with wave.open(sys.argv[4], "rb") as w:
    pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
model = OfficialModel(sys.argv[1], sys.argv[3])
model.enable_scorer(sys.argv[2])
print(model.stt(pcm))
"""


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """-> (wall seconds, peak RSS MiB, stdout) of one whole process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command[:4])} failed: {err.read().decode()[-500:]}")
        return wall, usage.ru_maxrss / 1024.0, out.read().decode().strip()  # KiB on Linux


def default_inputs(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path, Path, str]:
    """(model, scorer, clip, what the model is), defaults filled in."""
    from dstorch.config import ENV_FILE, PipelineConfig

    config = PipelineConfig.load(ROOT / ENV_FILE)
    base = ROOT / config.models_dir / config.model_name
    model, what = args.model, "given"
    if model is None and base.with_suffix(".pbmm").is_file():
        model, what = base.with_suffix(".pbmm"), "configured"
    if model is None:
        sys.path.insert(0, str(ROOT / "scripts"))
        from bench_transcribe import synthetic_model

        model = synthetic_model(tmp, config.n_hidden)
        what = f"random, n_hidden {config.n_hidden}"
    scorer = args.scorer or model.with_suffix(".scorer")
    if not scorer.is_file():
        scorer = FIXTURES / "scorer" / "commands.scorer"
    clip = args.audio
    if clip is None:
        import numpy as np

        from dstorch.features import SAMPLE_RATE

        speech = np.load(FIXTURES / "features" / "speech.npz")["pcm"]
        pcm = speech[: int(args.seconds * SAMPLE_RATE)]
        clip = tmp / "clip.wav"
        with wave.open(str(clip), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm.astype("<i2").tobytes())
    return Path(model), Path(scorer), Path(clip), what


def main() -> None:
    if sys.argv[1:] == ["--launch"]:
        print(json.dumps(launch(json.load(sys.stdin))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help=".pbmm (default: configured, else random)")
    parser.add_argument("--scorer", type=Path, help="default: the model's, else the fixture's")
    parser.add_argument("--audio", type=Path, help="a 16 kHz mono WAV (default: speech)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of the default clip")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    from dstorch.inference.official import fetch_library

    lib = fetch_library(ROOT / "build" / "deepspeech-0.9.3")
    with tempfile.TemporaryDirectory(prefix="dstorch-bench-") as tmp:
        model, scorer, clip, what = default_inputs(args, Path(tmp))
        commands = {
            "dstorch": [sys.executable, "-m", "dstorch", "transcribe", "--model", str(model),
                        "--scorer", str(scorer), "--audio", str(clip)],
            "client": [sys.executable, "-c", CLIENT, str(model), str(scorer), str(lib), str(clip)],
        }  # fmt: skip
        print(f"model {model.name} ({what}), scorer {scorer.name}, clip {clip.name}", flush=True)
        spec = json.dumps({"commands": commands, "env": env, "repeats": args.repeats})
        launcher = [sys.executable, __file__, "--launch"]
        out = subprocess.run(launcher, input=spec, stdout=subprocess.PIPE, text=True, check=True)
    report(json.loads(out.stdout))


def launch(spec: dict) -> dict[str, list[tuple[float, float, str]]]:
    """The runs (warm-up, then alternating), from this bare process; progress on stderr."""
    commands, env = spec["commands"], spec["env"]
    runs: dict[str, list[tuple[float, float, str]]] = {name: [] for name in commands}
    for command in commands.values():
        run_once(command, env)  # warm-up: page cache, the kernel's compiled decoder
    for i in range(spec["repeats"]):
        for name, command in commands.items():
            runs[name].append(run_once(command, env))
            wall, mib, _ = runs[name][-1]
            print(f"  run {i + 1} {name:8s} {wall:6.3f} s {mib:6.1f} MiB", file=sys.stderr)
    return runs


def report(runs: dict[str, list[tuple[float, float, str]]]) -> None:
    texts = {name: {text for _, _, text in r} for name, r in runs.items()}
    same = texts["dstorch"] == texts["client"] and len(texts["client"]) == 1
    med = {n: (statistics.median(w for w, _, _ in r), statistics.median(m for _, m, _ in r))
           for n, r in runs.items()}  # fmt: skip
    best = {n: min(w for w, _, _ in r) for n, r in runs.items()}
    for name in runs:
        print(f"{name:8s} median {med[name][0]:.3f} s (best {best[name]:.3f} s), "
              f"peak RSS median {med[name][1]:.1f} MiB")  # fmt: skip
    ratio, best_ratio = med["dstorch"][0] / med["client"][0], best["dstorch"] / best["client"]
    mib, mib_ratio = med["dstorch"][1], med["dstorch"][1] / med["client"][1]
    print(f"time ratio dstorch/client: median {ratio:.2f}x, best {best_ratio:.2f}x (target <= "
          f"{TARGET_RATIO}x); peak RSS {mib:.1f} MiB (target < {TARGET_MIB:.0f}), "
          f"{mib_ratio:.2f}x the client's")  # fmt: skip
    print(f"transcripts identical: {same} {sorted(texts['dstorch'])} vs {sorted(texts['client'])}")


if __name__ == "__main__":
    sys.exit(run_guarded(main, command_line()))
