"""Do the voice augmentations (vtlp, tilt, eq) help on voices of engines never heard in training?

Trains on the example data (espeak-ng voices only) and tests on flite and festival voices
saying the same commands. Each variant (an AUGMENT line) trains with the same seed, data and
settings; greedy accuracy on the unseen engines is printed as a table, per seed.

    OMP_NUM_THREADS=1 nice .venv/bin/python scripts/bench_voice_augment.py --seeds 4568 1
    .venv/bin/python scripts/bench_voice_augment.py --table run1.log run2.log  # merge logs

"commands" is the accuracy of picking the command with the highest CTC likelihood (what
`transcribe --commands` does). One thread per run: on a busy 2-core machine torch's default
thread pool is many times slower. (From a git worktree, add PYTHONPATH=. so that its
dstorch is imported.) The figures are in the README.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from dstorch import job
from dstorch.command_grammar import ctc_log_likelihoods, encode
from dstorch.config import PipelineConfig
from dstorch.data import Alphabet
from dstorch.pipeline import prepare

# flite's awb_time only knows time phrases; kal and kal16 are different diphone sets.
FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
STRETCHES = [0.9, 1.15]  # two speaking rates per voice
VOICE_AUG = "vtlp[p=0.5,alpha=1~0.12] tilt[p=0.5,db=0~2] eq[p=0.5,n=2,gain=0~6]"


def _to_16k(raw: Path, out: Path) -> None:
    """Any WAV -> 16 kHz mono 16-bit, trailing silence trimmed like the example data."""
    subprocess.run(
        ["sox", "-R", "-V1", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(out),
         "reverse", "silence", "1", "0.02", "-45d", "reverse", "pad", "0", "0.15"],
        check=True,
    )  # fmt: skip


def _synthesize(engine: str, voice: str, stretch: float, text: str, raw: Path) -> None:
    if engine == "flite":
        cmd = ["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}", "-t", text]
    else:
        text_file = raw.with_suffix(".txt")
        text_file.write_text(text + "\n")
        cmd = ["text2wave", "-eval", f"(voice_{voice})", "-eval",
               f"(Parameter.set 'Duration_Stretch {stretch})", str(text_file)]  # fmt: skip
    subprocess.run(cmd + ["-o", str(raw)], check=True, capture_output=True)


def render_unseen(commands: dict[str, str], folder: Path) -> list[tuple[Path, str]]:
    """Every command by every flite/festival voice at each rate. -> [(wav, transcript)]"""
    folder.mkdir(parents=True, exist_ok=True)
    engines = {"flite": FLITE_VOICES, "festival": FESTIVAL_VOICES}
    clips = []
    with tempfile.TemporaryDirectory() as scratch:
        raw = Path(scratch, "raw.wav")
        for key, text in commands.items():
            for stretch in STRETCHES:
                for engine, voice in ((e, v) for e, voices in engines.items() for v in voices):
                    out = folder / f"{engine}-{voice}-{stretch}-{key}.wav"
                    clips.append((out, text))
                    if not out.exists():
                        _synthesize(engine, voice, stretch, text, raw)
                        _to_16k(raw, out)
    return clips


def write_csv(path: Path, clips: list[tuple[Path, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["wav_filename", "wav_filesize", "transcript"])
        for wav, text in clips:
            writer.writerow([str(wav.resolve()), wav.stat().st_size, text])


def run(config: PipelineConfig, data: Path, test_csv: Path, out: Path, augment: str) -> dict:
    config.augment = augment
    train = config.train_config(str(data), str(out / "ck"), str(out / "model"))
    train.test_files = str(test_csv)
    train.load_checkpoint = False
    train.export_dir = ""
    train.test_output_file = str(out / "report.json")
    job.run(train)
    report = json.loads(Path(train.test_output_file).read_text())
    train.test_output_file = str(out / "report-commands.json")
    commands = job.test_and_report(train, decoder=command_decoder(train, test_csv))
    return {
        "greedy": report["accuracy"],
        "commands": commands["accuracy"],
        "cer": report["cer"],
        "loss": report["mean_loss"],
        "dev_loss": job.read_state(train.save_dir)["best_dev_loss"],
    }


def command_decoder(train, test_csv: Path):
    """log_probs [T, C] -> the command sentence most likely under CTC (like --commands)."""
    alphabet = Alphabet.from_file(train.alphabet_config_path)
    with open(test_csv, encoding="utf-8", newline="") as f:
        sentences = sorted({row["transcript"] for row in csv.DictReader(f)})
    targets = [encode(sentence, alphabet.labels) for sentence in sentences]
    return lambda lp: sentences[int(np.argmax(ctc_log_likelihoods(lp, targets)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--out", type=Path, default=Path("build/voice-augment"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[4568])
    parser.add_argument("--epochs", type=int, default=None, help="default: MAX_EPOCH")
    parser.add_argument("--n-hidden", type=int, default=None, help="default: N_HIDDEN")
    parser.add_argument("--extra", default=VOICE_AUG, help="specs added to AUGMENT")
    parser.add_argument(
        "--variant", action="append", default=[], help="NAME=SPECS added to AUGMENT (repeatable)"
    )
    parser.add_argument("--only", default=None, help="run only these variants (a,b)")
    parser.add_argument("--table", nargs="+", type=Path, help="only print the table of logs")
    args = parser.parse_args()
    if args.table:
        rows = [json.loads(line) for log in args.table for line in log.read_text().splitlines()
                if line.startswith('{"variant"') and '"commands"' in line]  # fmt: skip
        print(format_table(rows))
        return
    out = args.out
    overrides = {**os.environ, "DATA_DIR": str(out / "data"), "TEST_FRACTION": "0"}
    if args.epochs:
        overrides["MAX_EPOCH"] = str(args.epochs)
    if args.n_hidden:
        overrides["N_HIDDEN"] = str(args.n_hidden)
    config = PipelineConfig.load(args.root / "configuration.env", overrides)
    prepared = prepare(config, args.root, echo=lambda line: None)
    with open(args.root / config.commands_csv, encoding="utf-8", newline="") as f:
        commands = {row["id"]: row[config.language] for row in csv.DictReader(f)}
    test_csv = out / "unseen.csv"
    write_csv(test_csv, render_unseen(commands, out / "unseen"))
    extras = {"base": "", "voice": args.extra} | dict(v.split("=", 1) for v in args.variant)
    variants = {name: f"{config.augment} {extra}".strip() for name, extra in extras.items()}
    if args.only:
        variants = {name: variants[name] for name in args.only.split(",")}
    rows = []
    for seed in args.seeds:
        for name, augment in variants.items():
            config = PipelineConfig.load(args.root / "configuration.env", overrides)
            config.random_seed = seed
            folder = out / f"{name}-s{seed}"
            shutil.rmtree(folder, ignore_errors=True)
            result = run(config, prepared.data_dir, test_csv, folder, augment)
            rows.append({"variant": name, "seed": seed, **result})
            print(json.dumps(rows[-1]), flush=True)
    print(format_table(rows))


def format_table(rows: list[dict]) -> str:
    """One line per (variant, seed), then each variant's mean over its seeds."""
    lines = [
        f"{'variant':<8} {'seed':>6} {'greedy':>7} {'commands':>8} {'CER':>6} {'test loss':>9}"
    ]
    names = list(dict.fromkeys(row["variant"] for row in rows))
    means = [
        {"variant": name, "seed": "mean"}
        | {
            k: float(np.mean([r[k] for r in rows if r["variant"] == name]))
            for k in ("greedy", "commands", "cer", "loss")
        }  # fmt: skip
        for name in names
    ]
    for row in rows + means:
        lines.append(
            f"{row['variant']:<8} {row['seed']:>6} {row['greedy']:>7.1%} "
            f"{row['commands']:>8.1%} {row['cer']:>6.3f} {row['loss']:>9.2f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
