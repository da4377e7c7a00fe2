"""Does a base model help? `make bench-transfer`, in one run on the example data:

1. `make pretrain` (CPU-sized): a base model from synthetic sentences spoken by every
   installed engine except the held-out one;
2. a project with only `takes` recordings per command (the example's first speakers), no
   synthetic voices;
3. two models trained on those same takes: from scratch (LEARNING_RATE, MAX_EPOCH) and
   fine-tuned from the base model (FINE_TUNE_LEARNING_RATE, FINE_TUNE_EPOCHS);
4. both judged by the official client, without and with the scorers, on the voices of the
   held-out engine, which neither the base model nor the fine-tuning ever heard.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from dstorch.base_model import pretrain
from dstorch.bench.experiment import CLIP_SEED, installed_engines, judge
from dstorch.bench.experiment import train as train_and_export
from dstorch.config import ENV_FILE, ENV_PREFIX, PipelineConfig
from dstorch.datafiles import COMMANDS_CSV, ORIGINAL_DIR
from dstorch.errors import UsageError
from dstorch.prepare.sources import read_commands
from dstorch.prepare.synthetic import render

SCRATCH, FINE_TUNED = "from scratch", "fine-tuned from the base model"


@dataclass
class Result:
    model: str  # SCRATCH or FINE_TUNED
    scorer: str  # "none", "open", "commands" (official client) or the GRAMMAR row
    unseen: float  # exact transcripts on the held-out engine's voices
    clips: int


def few_takes_project(root: Path, out: Path, config: PipelineConfig, takes: int) -> Path:
    """out/ with commands.csv, configuration.env and the recordings of the first `takes`
    speakers (one take per command each, as the example data has)."""
    source = root / config.original_dir / config.language
    wavs = sorted(source.glob("*.wav"))
    speakers = sorted({w.name.split("_")[1] for w in wavs})[:takes]
    target = out / ORIGINAL_DIR / config.language
    shutil.rmtree(out, ignore_errors=True)
    target.mkdir(parents=True)
    for wav in wavs:
        if wav.name.split("_")[1] in speakers:
            shutil.copy2(wav, target / wav.name)
    shutil.copy2(root / config.commands_csv, out / COMMANDS_CSV)
    shutil.copy2(root / ENV_FILE, out / ENV_FILE)
    return out


def variant(project: Path, folder: Path, overrides: dict, base: Path | None) -> PipelineConfig:
    settings = {**overrides, f"{ENV_PREFIX}PRETRAINED_MODEL": str(base) if base else ""}
    config = PipelineConfig.load(project / ENV_FILE, settings, root=project)
    return dataclasses.replace(
        config,
        data_dir=str(folder / "data"),
        synthetic_voices="none",  # only the few recordings
        dev_fraction=0.0,
        test_fraction=0.0,
        holdout_speakers="",
        commands_csv=str(project / COMMANDS_CSV),
    )


def transfer_run(
    root: Path, out: Path, holdout: str, takes: int, overrides: dict, clips: int
) -> list[Result]:
    config = PipelineConfig.load(root / ENV_FILE, overrides, root=root)
    engines = installed_engines(config.language)
    if holdout not in engines:
        raise UsageError(
            f"--holdout {holdout}: not installed; install it or hold out one of {engines}"
        )
    trained = ",".join(e for e in engines if e != holdout)
    base_config = dataclasses.replace(config, pretrain_voices=trained, models_dir=str(out / "base"))
    base = pretrain(base_config, out)
    if base is None:
        raise SystemExit("pretraining was stopped; run the bench again to resume it")
    commands, _ = read_commands(root / config.commands_csv, config.language)
    unseen = render(holdout, commands, out / "clips", config.language, clips, CLIP_SEED)
    project = few_takes_project(root, out / "project", config, takes)
    results = []
    for name, source in ((SCRATCH, None), (FINE_TUNED, base)):
        folder = out / name.split()[0]
        shutil.rmtree(folder, ignore_errors=True)
        files = train_and_export(variant(project, folder, overrides, source), project, folder)
        for scorer, (hits, _) in judge(files, unseen, []).items():
            results.append(Result(name, scorer, hits, len(unseen)))
            print(format_results(results[-1:], header=False), flush=True)
    return results


def format_results(results: list[Result], header: bool = True) -> str:
    lines = ["| model | scorer | held-out voices exact |", "|---|---|---|"] if header else []
    lines += [f"| {r.model} | {r.scorer} | {r.unseen:.0%} ({r.clips} clips) |" for r in results]
    return "\n".join(lines)
