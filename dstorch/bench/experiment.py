"""Generalisation to voices never heard: hold one synthesizer engine out of training
entirely, train with each lever on or off, and judge with the official client.

A user's recordings come from one to three people; the model must work for the next one.
Synthetic voices of another engine are the closest stand-in for that person we can make
on any machine: different vocal tracts, prosody and signal chain. The levers:
- synthetic voices (SYNTHETIC_VOICES) of the engines not held out, in training;
- voice augmentation (VOICE_AUGMENT: vtlp/tilt/eq, added to AUGMENT);
- room and noise augmentation (ROOM_AUGMENT: room, noise; the default AUGMENT ends with
  it), with best.pt chosen on the dev set in rooms too (DEV_SNRS) and two views of each
  clip trained to agree (CONSISTENCY_WEIGHT); the other variants go without all three, to
  show what they bring;
- speech that is no command in training (GENERAL_SENTENCES, NEAR_MISSES);
- each clip trained against the commands nearest its transcript (DISCRIMINATIVE_WEIGHT);
- the scorer: none, the open LM, or the command-strict LM (LM_MODE).
Scorers need no retraining, so each trained model is judged with all three, and also by
our own decoding constrained to the command sentences (`transcribe --commands`, with the
strict scorer): the ceiling the client's strict scorer should come near. "Seen" clips are
new takes (other rates and pitches) of voices from the engines in training. Every set is
judged clean and in CONDITIONS: each clip in a simulated room with noise at 20, 10 and 5 dB
SNR, from rooms and babble of other seeds than training's (augment.environment.EVAL_SEED).

Exact transcripts are not what a device does with them: with the project scorer, with and
without the confidence gate, each model is also judged on acting (dstorch.bench.acting):
right / wrong command / rejected, and false accepts on speech that is no command and on
noise (dstorch.bench.negatives). `example_project` runs it all on another example command
set (`--example confusable`: commands one word apart, where acting goes wrong).
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from dstorch.augment import (
    Augmenter,
    cache,
    parse_augmentations,
    quantize,
    rng_for,
    split_specs,
)
from dstorch.augment.dsp import SAMPLE_RATE, load_audio
from dstorch.augment.environment import (
    ENVIRONMENT_AUGMENTATIONS,
    EVAL_SEED,
    condition_name,
    condition_specs,
)
from dstorch.augment.presets import ROOMS
from dstorch.augment.voice import VOICE_AUGMENTATIONS
from dstorch.bench.acting import PROJECT, Acting, format_acting, judge_acting
from dstorch.bench.negatives import negatives as make_negatives
from dstorch.config import ENV_FILE, LM_COMMANDS, LM_OPEN, PipelineConfig
from dstorch.datafiles import COMMANDS_CSV, ORIGINAL_DIR
from dstorch.errors import UsageError
from dstorch.fs import atomic_target
from dstorch.inference.official import OfficialModel
from dstorch.inference.transcribe import Transcriber, read_audio
from dstorch.prepare import prepare
from dstorch.prepare.example_data import SIMPLE, example_commands, make_example_data
from dstorch.prepare.sources import read_commands
from dstorch.prepare.synthetic import ENGINES, render
from dstorch.training import job
from dstorch.training.tune import ScorerSettings, run_stage

# Specs that imitate other vocal tracts and signal chains (dstorch/augment/voice.py). Not in
# the default AUGMENT: on the example data they did not help unseen voices
# (docs/experiments.md).
VOICE_AUGMENT = "vtlp[p=0.5,alpha=1~0.12] tilt[p=0.5,db=0~2] eq[p=0.5,n=2,gain=0~6]"
VOICE_SPEC_NAMES = tuple(cls.NAME for cls in VOICE_AUGMENTATIONS)  # vtlp, tilt, eq
# Simulated rooms and generated noise (dstorch/augment/environment.py): the default's
# setting, chosen by the experiments in docs/experiments.md.
ROOM_AUGMENT = " ".join(ROOMS)
ROOM_SPEC_NAMES = tuple(cls.NAME for cls in ENVIRONMENT_AUGMENTATIONS)  # noise, room
CONDITIONS = (None, 20.0, 10.0, 5.0)  # clean, then room + noise at this SNR (dB)
CLIP_SEED = 97  # test takes use other rates/pitches than any training take
SCORERS = ("none", LM_OPEN, LM_COMMANDS)
GRAMMAR = "ours --commands"  # not the client: the command-constrained reference row


@dataclass(frozen=True)
class Variant:
    name: str
    synthetic: bool  # synthetic voices of the engines not held out are in training
    voice_augment: bool  # VOICE_AUGMENT is added to AUGMENT (else its specs are removed)
    # ROOM_AUGMENT is added to AUGMENT, DEV_SNRS and CONSISTENCY_WEIGHT kept (else the specs
    # are removed, DEV_SNRS emptied and the views turned off: choosing best.pt in noise and
    # training two views in different rooms belong to the same lever)
    room_noise: bool = False
    # GENERAL_SENTENCES and NEAR_MISSES kept (else 0): speech that is no command in training,
    # the negatives that tune the scorer's out-of-grammar path and the gate
    speech: bool = False
    # DISCRIMINATIVE_WEIGHT kept (else 0): each clip also trained against its nearest commands
    rivals: bool = False


VARIANTS = (
    Variant("recordings only", synthetic=False, voice_augment=False),
    Variant("+ synthetic voices", synthetic=True, voice_augment=False),
    Variant("+ voice augmentation", synthetic=True, voice_augment=True),
    Variant("+ room and noise", synthetic=True, voice_augment=False, room_noise=True),
    Variant("+ speech that is no command", True, False, room_noise=True, speech=True),
    Variant("+ commands kept apart", True, False, room_noise=True, speech=True, rivals=True),
)


@dataclass
class Outcome:
    holdout: str  # the engine never used in training
    variant: str
    scorer: str  # "none", "open", "commands" (official client) or GRAMMAR
    unseen: float  # exact transcripts on the held-out engine's voices
    seen: float  # exact transcripts on new takes of the engines in training
    clips: int  # unseen clips judged
    condition: str = "clean"  # or "room + <snr> dB" (see condition_name)
    seed: int = 0  # RANDOM_SEED of the training run


@dataclass
class Results:
    """A bench run's rows: exact transcripts per scorer, and acting with the project scorer."""

    outcomes: list[Outcome] = field(default_factory=list)
    acting: list[Acting] = field(default_factory=list)

    def __iadd__(self, other: Results) -> Results:
        self.outcomes += other.outcomes
        self.acting += other.acting
        return self


def example_project(root: Path, out: Path, example: str) -> Path:
    """A project folder out/example-<name> with that example set (commands.csv and
    original/en, made once) and root's configuration.env; root itself for SIMPLE."""
    if example == SIMPLE:
        return root
    commands = example_commands(example)
    project = out / f"example-{example}"
    made = project / ORIGINAL_DIR / "en"
    if not (project / COMMANDS_CSV).is_file() or not made.is_dir():
        make_example_data(project, commands)
    shutil.copy(root / ENV_FILE, project / ENV_FILE)
    return project


def installed_engines(language: str) -> list[str]:
    engines = [cls() for cls in ENGINES]
    return [e.name for e in engines if e.installed() and e.voices(language)]


def without(augment: str, names: tuple[str, ...]) -> str:
    """AUGMENT without the specs of augmentations `names`."""
    return " ".join(s for s in split_specs(augment) if s.split("[")[0] not in names)


def without_voice_augmentation(augment: str) -> str:
    return without(augment, VOICE_SPEC_NAMES)


def with_voice_augmentation(augment: str) -> str:
    return f"{without_voice_augmentation(augment)} {VOICE_AUGMENT}".strip()


def variant_config(
    root: Path, out: Path, variant: Variant, trained_engines: list[str], overrides: dict
) -> PipelineConfig:
    base = PipelineConfig.load(root / ENV_FILE, overrides, root=root)
    engines = ",".join(trained_engines) if variant.synthetic and trained_engines else "none"
    lever = with_voice_augmentation if variant.voice_augment else without_voice_augmentation
    augment = lever(base.augment)
    augment = without(augment, ROOM_SPEC_NAMES)
    if variant.room_noise:
        augment = f"{augment} {ROOM_AUGMENT}".strip()
    return dataclasses.replace(
        base,
        data_dir=str(out / "data"),
        synthetic_voices=engines,
        augment=augment,
        dev_snrs=base.dev_snrs if variant.room_noise else "",
        consistency_weight=base.consistency_weight if variant.room_noise else 0.0,
        general_sentences=base.general_sentences if variant.speech else 0,
        near_misses=base.near_misses if variant.speech else 0,
        discriminative_weight=base.discriminative_weight if variant.rivals else 0.0,
    )


def train(config: PipelineConfig, root: Path, out: Path) -> dict[str, Path | None]:
    """Prepare, train, export; -> {scorer name: scorer path (None: no scorer)} + model."""
    prepare(config, root, echo=lambda line: None)
    data = Path(config.data_dir)
    model_dir = out / "model"
    train_config = config.train_config(str(data), str(out / "checkpoints"), str(model_dir))
    train_config.load_checkpoint = False
    project = ScorerSettings.from_pipeline(config)
    job.run(train_config, project)
    scorer = model_dir / f"{config.model_name}.scorer"  # the job's tuned project scorer
    scorers: dict[str, Path | None] = {"none": None, project.mode: scorer}
    scorers[PROJECT] = scorer if scorer.is_file() else None
    for mode in (LM_OPEN, LM_COMMANDS):
        if mode == project.mode:
            scorers[mode] = scorer if scorer.is_file() else None
            continue
        folder = out / f"scorer-{mode}"
        folder.mkdir(parents=True, exist_ok=True)
        settings = dataclasses.replace(project, mode=mode)
        outcome = run_stage(dataclasses.replace(train_config, export_dir=str(folder)), settings)
        scorers[mode] = outcome.path
    scorers["model"] = model_dir / f"{config.model_name}.pbmm"
    return scorers


def exact(recognise, clips: list[tuple[Path, str, str]]) -> float:
    """Share of clips [(wav, transcript, speaker)] that recognise(int16 PCM) gets exactly."""
    hits = [recognise(read_audio(wav)).strip() == text for wav, text, _ in clips]
    return float(np.mean(hits)) if hits else float("nan")


def in_condition(clips: list[tuple[Path, str, str]], out: Path, snr: float | None) -> list:
    """The clips [(wav, transcript, speaker)] in a room of the evaluation bank with noise at
    `snr` dB, written once under out/<condition>/ (None: the clips themselves)."""
    if snr is None:
        return clips
    augmenter = Augmenter(parse_augmentations(condition_specs(snr)), EVAL_SEED)
    folder = out / condition_name(snr).replace(" ", "").replace("+", "-")
    result = []
    for index, (wav, text, speaker) in enumerate(clips):
        target = folder / f"{index:04d}-{wav.name}"
        if not target.exists():
            noisy = augmenter.apply_audio(load_audio(wav), 0.0, rng_for(EVAL_SEED, 0, index))
            with atomic_target(target) as tmp:
                soundfile.write(tmp, quantize(noisy), SAMPLE_RATE, format="WAV")
        result.append((target, text, speaker))
    return result


def judge(files: dict[str, Path | None], unseen: list, seen: list) -> dict[str, tuple]:
    """{scorer: (unseen exact, seen exact)} through the official client, plus GRAMMAR."""
    results = {}
    if files.get(LM_COMMANDS) is not None:
        sentences = sorted({text for _, text, _ in unseen + seen})
        ours = Transcriber(files["model"], files[LM_COMMANDS], commands=sentences)
        results[GRAMMAR] = (exact(ours.text, unseen), exact(ours.text, seen))
    for name in SCORERS:
        if name != "none" and files.get(name) is None:
            continue  # that scorer could not be built; the stage printed why
        with OfficialModel(files["model"]) as model:
            if name != "none":
                model.enable_scorer(files[name])
            results[name] = (exact(model.stt, unseen), exact(model.stt, seen))
    return results


def holdout_run(
    root: Path,
    out: Path,
    holdout: str,
    variants=VARIANTS,
    overrides: dict | None = None,
    per_command: int = 6,
    conditions: tuple[float | None, ...] = CONDITIONS,
) -> Results:
    """Train every variant without `holdout`'s voices; judge on them and on seen engines,
    in each of `conditions` (None: clean, else room + noise at that SNR): exact transcripts
    per scorer, and acting on the answers with the project scorer (negatives spoken by
    `holdout`'s voices)."""
    overrides = dict(overrides or {})
    config = PipelineConfig.load(root / ENV_FILE, overrides, root=root)
    seed = config.random_seed
    commands, _ = read_commands(root / config.commands_csv, config.language)
    engines = installed_engines(config.language)
    if holdout not in engines:
        raise UsageError(
            f"--holdout {holdout}: not installed; install it or hold out one of {engines}"
        )
    trained = [e for e in engines if e != holdout]
    clips = out / "clips"
    unseen = render(holdout, commands, clips, config.language, per_command, CLIP_SEED)
    seen = render(",".join(trained), commands, clips, config.language, per_command, CLIP_SEED)
    sentences = sorted(set(commands.values()))
    cache.use_data_dir(out)  # the evaluation babble of the noise clips is kept there
    negatives = make_negatives(holdout, sentences, out / "negatives", config.language, CLIP_SEED)
    results = Results()
    for variant in variants:
        folder = out / f"without-{holdout}" / variant.name.strip("+ ").replace(" ", "-")
        shutil.rmtree(folder, ignore_errors=True)
        cfg = variant_config(root, folder, variant, trained, overrides)
        files = train(cfg, root, folder)
        for snr in conditions:
            condition = condition_name(snr)
            sets = [in_condition(c, out / "noisy", snr) for c in (unseen, seen, negatives)]
            for scorer, (u, s) in judge(files, sets[0], sets[1]).items():
                row = Outcome(holdout, variant.name, scorer, u, s, len(unseen), condition, seed)
                results.outcomes.append(row)
                print(format_outcomes([row], header=False), flush=True)
            for gate, (u, s) in judge_acting(files, *sets, sentences).items():
                acting = Acting(holdout, variant.name, condition, cfg.scorer_mode, gate, u, s, seed)
                results.acting.append(acting)
                print(format_acting([acting], header=False), flush=True)
    return results


def format_outcomes(outcomes: list[Outcome], header: bool = True) -> str:
    lines = []
    if header:
        lines += [
            "| held-out engine | training | condition | scorer | unseen voices exact "
            "| seen voices exact |",
            "|---|---|---|---|---|---|",
        ]
    for o in outcomes:
        lines.append(
            f"| {o.holdout} | {o.variant} | {o.condition} | {o.scorer} "
            f"| {o.unseen:.0%} ({o.clips} clips) | {o.seen:.0%} |"
        )
    return "\n".join(lines)


def format_summary(outcomes: list[Outcome]) -> str:
    """One row per (held-out engine, training, condition, scorer): the mean over the seeds
    run, with the lowest and highest unseen figure. A model trained on a few hundred clips
    swings by several clips from seed to seed, so one seed's figure decides little."""
    groups: dict[tuple, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.holdout, o.variant, o.condition, o.scorer), []).append(o)
    lines = [
        "| held-out engine | training | condition | scorer | unseen voices exact, mean "
        "(lowest-highest) | seen voices exact, mean | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for (holdout, variant, condition, scorer), rows in groups.items():
        unseen = [o.unseen for o in rows]
        seen = float(np.mean([o.seen for o in rows]))
        lines.append(
            f"| {holdout} | {variant} | {condition} | {scorer} | {np.mean(unseen):.0%} "
            f"({min(unseen):.0%}-{max(unseen):.0%}, {rows[0].clips} clips) | {seen:.0%} "
            f"| {len(rows)} |"
        )
    return "\n".join(lines)
