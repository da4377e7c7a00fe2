"""Speech that is no command, written by prepare when GENERAL_SENTENCES or NEAR_MISSES is set.

- SPEECH_TRAIN: everyday sentences of frequent words and near-misses (each command with one
  word changed), spoken by the synthetic voices and trained with their true transcripts, so
  the model learns words rather than the shapes of a few commands;
- DEV_NEGATIVES: other near-misses and sentences, and noise, spoken by voices kept out of
  that training speech: the scorer stage tunes the out-of-grammar path and the gate on them;
- TEST_NEGATIVES: the same from the held-out word pool (dstorch.prepare.phrases): the test
  report counts false accepts on them;
- LM_GARBAGE: the words an answer that is no command may use (the scorer's escape path).

Everything lives under DATA_DIR/speech/ (the LM_GARBAGE file beside lm_corpus.txt) and is
rendered incrementally: a take's file name holds a digest of its recipe, and files no CSV
names any more are removed. Noise clips carry an empty transcript (nothing was said): in
training they teach the model to answer nothing.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from dstorch.config import PipelineConfig
from dstorch.datafiles import (
    DEV_NEGATIVES,
    LM_GARBAGE,
    SPEECH_DIR,
    SPEECH_TRAIN,
    SYNTHETIC_DIR,
    TEST_NEGATIVES,
)
from dstorch.features import SAMPLE_RATE
from dstorch.fs import atomic_target, atomic_write
from dstorch.prepare import phrases
from dstorch.prepare.split import FEW_VOICES, seeded_key
from dstorch.prepare.synthetic.catalog import Choice, choose
from dstorch.prepare.synthetic.plan import plan_sentences
from dstorch.prepare.synthetic.render import render_takes
from dstorch.training.data import CSV_HEADER

NEGATIVE_NEAR_MISSES = 2  # per command, in each of the dev and test negatives
NEGATIVE_SENTENCES = 24  # everyday sentences in each of the dev and test negatives
NOISES = ("silence", "white", "pink", "brown", "hum")  # each twice in the negatives
TRAINING_NOISE_COPIES = 4  # of each kind in the training speech
NOISE_SECONDS = (1.0, 3.0)
NOISE_DBFS = (-50.0, -20.0)  # RMS level of a noise negative
GARBAGE_WORDS = 2000  # frequent words the escape path knows (with the training speech's)
RESERVED_EVERY = 4  # one voice group in four of each engine speaks only the negatives


@dataclass(frozen=True)
class SpeechTexts:
    """The texts of each set (noise is added to the negatives when they are written)."""

    train: list[str]
    dev: list[str]
    test: list[str]
    garbage: list[str]


def plan_texts(
    config: PipelineConfig, commands: Sequence[str], labels: Sequence[str] | None
) -> SpeechTexts:
    """The sets' texts for the command sentences, spellable with `labels` (None: any)."""
    words = phrases.frequent_words(config.language)
    words = [w for w in words if labels is None or set(w) <= set(labels)]
    training = phrases.pool(words, phrases.TRAINING)
    seed = config.random_seed
    near = phrases.near_misses(commands, config.near_misses, training, seed)
    said = phrases.everyday_sentences(config.general_sentences, training, seed, commands)
    train = said + near
    avoid = [*commands, *train]
    dev = _negatives(commands, phrases.pool(words, phrases.TUNING), seed + 1, avoid)
    test = _negatives(commands, phrases.pool(words, phrases.HELD_OUT), seed + 2, avoid)
    garbage = dict.fromkeys([*words[:GARBAGE_WORDS], *(w for t in train for w in t.split())])
    return SpeechTexts(train, dev, test, sorted(garbage))


def _negatives(commands: Sequence[str], words: list[str], seed: int, avoid: list[str]) -> list[str]:
    """Near-misses and everyday sentences of `words` (one pool), none of them in `avoid`."""
    near = phrases.near_misses(commands, NEGATIVE_NEAR_MISSES, words, seed)
    return near + phrases.everyday_sentences(NEGATIVE_SENTENCES, words, seed, avoid)


def split_voices(choices: list[Choice], seed: int) -> tuple[list[Choice], list[Choice]]:
    """(voices for the training speech, voices kept for the negatives): one voice group in
    RESERVED_EVERY of each engine with two or more (all of them where none can be spared).
    An engine with fewer than FEW_VOICES voices but variants (espeak-ng in Spanish) keeps
    variants instead, as the dev split does, so every voice also speaks in training."""
    train, kept = [], []
    for choice in choices:
        name = choice.engine.name
        if len(choice.voices) < FEW_VOICES and any(len(v) > 1 for v in choice.voices.values()):
            pairs = [(b, v) for b, variants in choice.voices.items() for v in variants]
            order = sorted(pairs, key=lambda p: seeded_key(seed, name, p[1]))
            n_kept = math.ceil(len(order) / RESERVED_EVERY)
            kept.append(_choice(choice, order[:n_kept]))
            train.append(_choice(choice, order[n_kept:]))
            continue
        bases = sorted(choice.voices, key=lambda b: seeded_key(seed, name, b))
        n_kept = math.ceil(len(bases) / RESERVED_EVERY) if len(bases) > 1 else 0
        if n_kept:
            kept.append(Choice(choice.engine, {b: choice.voices[b] for b in bases[:n_kept]}))
        train.append(Choice(choice.engine, {b: choice.voices[b] for b in bases[n_kept:]}))
    return train, kept or train


def _choice(choice: Choice, pairs: list[tuple[str, str]]) -> Choice:
    """`choice`'s engine with only the (base, full voice) `pairs`."""
    voices: dict[str, list[str]] = {}
    for base, voice in sorted(pairs):
        voices.setdefault(base, []).append(voice)
    return Choice(choice.engine, voices)


def _holdout(choices: list[Choice], holdout: set[str]) -> list[Choice]:
    """The choices without HOLDOUT_SPEAKERS' engines and voices (they are test only)."""
    kept = []
    for choice in choices:
        if choice.engine.name in holdout:
            continue
        voices = {
            base: [v for v in variants if f"{choice.engine.name}:{v}" not in holdout]
            for base, variants in choice.voices.items()
            if f"{choice.engine.name}:{base}" not in holdout
        }
        voices = {b: v for b, v in voices.items() if v}
        if voices:
            kept.append(Choice(choice.engine, voices))
    return kept


def write_noise(folder: Path, seed: int, copies: int = 2) -> list[tuple[Path, str]]:
    """Noise and near-silence clips (`copies` of each kind), made once; -> [(wav, "")].
    Nothing is said in them, so their transcript is empty."""
    from dstorch.augment import noises

    out = []
    for index, kind in enumerate(NOISES * copies):
        path = folder / f"{kind}-{index:02d}.wav"
        if not path.exists():
            rng = np.random.default_rng([seed, index])
            audio = noises.nothing_said(kind, rng, NOISE_SECONDS, NOISE_DBFS)
            with atomic_target(path) as tmp:
                soundfile.write(tmp, audio, SAMPLE_RATE, format="WAV", subtype="PCM_16")
        out.append((path, ""))
    return out


def _write_csv(path: Path, rows: list[tuple[Path, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for wav, text in rows:
        writer.writerow([wav.relative_to(path.parent).as_posix(), wav.stat().st_size, text])
    atomic_write(path, buffer.getvalue())


def _render(
    choices: list[Choice], texts: list[str], prefix: str, folder: Path, config: PipelineConfig
) -> list[tuple[Path, str]]:
    """One take per text by a seeded voice of `choices`; -> [(wav, text)] of those that
    rendered and fit MIN/MAX_DURATION."""
    takes = plan_sentences(choices, texts, config.random_seed, prefix)
    todo = [t for t in takes if not (folder / t.relpath(config.language)).exists()]
    engines = {c.engine.name: c.engine for c in choices}
    render_takes(todo, engines, folder, config.language, lambda take, path, error: None)
    rows = []
    for take in takes:
        wav = folder / take.relpath(config.language)
        if wav.exists() and _fits(wav, config):
            rows.append((wav, take.text))
    return rows


def _fits(wav: Path, config: PipelineConfig) -> bool:
    seconds = soundfile.info(str(wav)).frames / SAMPLE_RATE
    return config.min_duration <= seconds <= config.max_duration


def _sweep(folder: Path, keep: set[Path]) -> None:
    """Remove rendered WAVs no set names any more (a changed command or voice list)."""
    for wav in folder.rglob("*.wav"):
        if wav not in keep:
            wav.unlink(missing_ok=True)


def prepare_speech(
    config: PipelineConfig,
    data_dir: Path,
    commands: Sequence[str],
    labels: Sequence[str] | None,
) -> list[str]:
    """Write the speech sets and LM_GARBAGE for the command sentences; -> notes."""
    if not config.speech_sets:
        return []
    if not phrases.knows(config.language):
        return [
            f"GENERAL_SENTENCES/NEAR_MISSES: no word frequencies for LANGUAGE="
            f"{config.language}; training without speech that is no command"
        ]
    holdout = {s.strip() for s in config.holdout_speakers.split(",") if s.strip()}
    choices = _holdout(choose(config.synthetic_voices, config.language)[0], holdout)
    texts = plan_texts(config, commands, labels)
    folder = data_dir / SPEECH_DIR
    atomic_write(data_dir / LM_GARBAGE, "\n".join(texts.garbage) + "\n")
    if not choices:
        for name in (SPEECH_TRAIN, DEV_NEGATIVES, TEST_NEGATIVES):
            folder.mkdir(parents=True, exist_ok=True)
            _write_csv(data_dir / name, [])
        return [
            "GENERAL_SENTENCES/NEAR_MISSES: no synthetic voices (SYNTHETIC_VOICES) to speak "
            "them; training without speech that is no command"
        ]
    speakers, listeners = split_voices(choices, config.random_seed)
    # Noise in training too, with nothing to spell: the model learns to answer nothing.
    train = _render(speakers, texts.train, "s", folder, config)
    train += write_noise(folder / "noise-train", config.random_seed, TRAINING_NOISE_COPIES)
    noise = write_noise(folder / "noise", config.random_seed + 1)
    dev = _render(listeners, texts.dev, "d", folder, config) + noise[::2]
    test = _render(listeners, texts.test, "t", folder, config) + noise[1::2]
    for name, rows in ((SPEECH_TRAIN, train), (DEV_NEGATIVES, dev), (TEST_NEGATIVES, test)):
        _write_csv(data_dir / name, rows)
    _sweep(folder / SYNTHETIC_DIR, {wav for wav, _ in train + dev + test})
    kept = ", ".join(f"{c.engine.name}:{b}" for c in listeners for b in c.voices)
    return [
        f"speech that is no command: {len(train)} clips in training "
        f"({config.general_sentences} everyday sentences, {config.near_misses} near-misses per "
        f"command), negatives {len(dev)} dev and {len(test)} test clips spoken by {kept}"
    ]
