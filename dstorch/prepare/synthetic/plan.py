"""Which takes to render: a seeded draw from each engine's voice x variant x rate x pitch grid.

The full grid is far too big to train on (espeak-ng alone: ~8 English voices x ~100 variants
x 25 rate/pitch pairs per command), so each command gets a budget (SYNTHETIC_TAKES) shared
equally by the engines, and within an engine round-robin by its voices: every voice of every
engine speaks every command at least once. Picks are the lowest seeded hashes, so adding a
voice or command leaves most other picks alone, and re-planning gives the same takes.
"""

from __future__ import annotations

import random

from dstorch.prepare.split import seeded_key
from dstorch.prepare.synthetic.base import PITCHES, RATES, Take
from dstorch.prepare.synthetic.catalog import Choice

GAINS = (-2.0, -4.0, -6.0, -9.0, -12.0)  # dBFS peaks, like near and far microphones


def _shares(total: int, names: list[str], seed: int, *context: str) -> dict[str, int]:
    """`total` split as evenly as possible; the remainder goes to names in draw order."""
    order = sorted(names, key=lambda n: seeded_key(seed, *context, n))
    base, extra = divmod(total, len(names)) if names else (0, 0)
    return {n: base + (i < extra) for i, n in enumerate(order)}


def plan_takes(
    choices: list[Choice], commands: dict[str, str], per_command: int, seed: int
) -> list[Take]:
    """The takes for {id: transcript}: about `per_command` each, at least one per voice."""
    takes = []
    for command, text in commands.items():
        engines = {c.engine.name: c for c in choices}
        shares = _shares(per_command, list(engines), seed, command)
        for name, choice in engines.items():
            budget = max(shares[name], choice.count())
            voices = _shares(budget, sorted(choice.voices), seed, command, name)
            for base, count in voices.items():
                takes += _pick(choice, base, count, command, text, seed)
    return takes


def _pick(choice: Choice, base: str, count: int, command: str, text: str, seed: int) -> list:
    """`count` takes of one base voice: the lowest draws over variants x rates x pitches."""
    name = choice.engine.name
    grid = [
        (seeded_key(seed, command, name, voice, str(rate), str(pitch)), voice, rate, pitch)
        for voice in choice.voices[base]
        for rate in RATES
        for pitch in PITCHES
    ]
    picked = sorted(grid)[:count]
    return [
        Take(command, text, name, voice, rate, pitch, GAINS[int(key[:8], 16) % len(GAINS)])
        for key, voice, rate, pitch in picked
    ]


def plan_sentences(
    choices: list[Choice], texts: list[str], seed: int, prefix: str = "s"
) -> list[Take]:
    """One take per text (not a command: `make pretrain`'s sentences, speech that is no
    command), ids <prefix><index>: a seeded engine, then voice variant, rate, pitch, level."""
    voices = [
        (c.engine.name, v) for c in choices for variants in c.voices.values() for v in variants
    ]
    engines = sorted({name for name, _ in voices})
    takes = []
    for i, text in enumerate(texts):
        rng = random.Random(f"{seed}:{i}:{text}")
        engine = rng.choice(engines)
        voice = rng.choice([v for name, v in voices if name == engine])
        rate, pitch, gain = rng.choice(RATES), rng.choice(PITCHES), rng.choice(GAINS)
        takes.append(Take(f"{prefix}{i:06d}", text, engine, voice, rate, pitch, gain))
    return takes
