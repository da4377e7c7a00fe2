"""What the bench says to a model that is no command: near-misses of the commands, everyday
sentences a TV or a person in the room might say, and clips where nothing is said (silence,
noise, hum, babble). A device that acts on any of them has made a false accept.

Near-misses swap in words of the HELD_OUT pool only (dstorch.prepare.phrases): a word the
model may have been trained on as speech that is no command would flatter the figure.
Speech is spoken by the held-out engine's voices, like the unseen command clips; babble
comes from the evaluation bank (augment.environment.EVAL_SEED), not training's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from dstorch.augment import noises
from dstorch.augment.dsp import SAMPLE_RATE
from dstorch.augment.environment import EVAL_SEED
from dstorch.fs import atomic_target
from dstorch.prepare.phrases import HELD_OUT, frequent_words, near_misses, pool
from dstorch.prepare.synthetic import render
from dstorch.rejection import normalise

# Said near a device all day, none a command of either example set; plain words only, so
# every synthesizer speaks them alike.
EVERYDAY = (
    "what are we having for dinner tonight",
    "i think it is going to rain later",
    "have you seen my keys anywhere",
    "the traffic was terrible this morning",
    "can you pass me the salt please",
    "we should visit your parents next weekend",
    "and now for the weather in the north",
    "the match will be back after the break",
    "did you remember to feed the cat",
    "i will call you back in five minutes",
    "this recipe needs two cups of flour",
    "the children are still at school",
    "stocks fell sharply in early trading",
    "she told me the story last night",
    "let me know when you are ready to leave",
    "that was the best film i have seen this year",
    "the meeting has been moved to thursday",
    "could you open a window it is warm in here",
    "he is playing football with his friends",
    "my phone battery is almost empty",
    "there is a new bakery on the corner",
    "scientists say the results are surprising",
    "we ran out of milk again",
    "the garden looks lovely in the spring",
    "i forgot to buy bread on the way home",
    "coming up after the news a special report",
    "do you want tea or coffee",
    "the train was twenty minutes late",
    "turn the page and read the next chapter",
    "our neighbours are having a party on saturday",
)
NOISE_KINDS = ("silence", "pink", "brown", "hum", "babble")
NOISE_SECONDS = (1.5, 3.0)  # clip lengths are drawn from this range
NOISE_DBFS = (-35.0, -20.0)  # RMS level, a quiet to a busy room
BABBLE_VOICES = "espeak-ng"  # Noise's default voices, with the evaluation bank's seed
BABBLE_TALKERS = 4
NEAR_MISS_SEED = 31  # the bench's own draw: not the one prepare makes test negatives with


def speech_phrases(commands: list[str], language: str, near_per_command: int) -> list[str]:
    """Near-misses of `commands` from held-out words, then the everyday sentences; none a
    command."""
    known = {normalise(c) for c in commands}
    held_out = pool(frequent_words(language), HELD_OUT)
    near = near_misses(commands, near_per_command, held_out, NEAR_MISS_SEED)
    return [p for p in dict.fromkeys([*near, *EVERYDAY]) if normalise(p) not in known]


def render_speech(
    engine: str, phrases: list[str], out: Path, language: str, per_phrase: int, seed: int
) -> list[tuple[Path, str, str]]:
    """`phrases` spoken by `engine`'s voices (SYNTHETIC_VOICES syntax) into out/.
    -> [(wav, transcript, speaker)], like the command clips."""
    texts = {f"negative{i:03d}": text for i, text in enumerate(phrases)}
    return render(engine, texts, out, language, per_phrase, seed)


def noise_clip(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A clip of NOISE_KINDS `kind` where nothing is said: float [N] at 16 kHz."""
    stream = noises.babble_stream(BABBLE_VOICES, EVAL_SEED) if kind == "babble" else None
    return noises.nothing_said(kind, rng, NOISE_SECONDS, NOISE_DBFS, stream, BABBLE_TALKERS)


def render_noise(out: Path, per_kind: int, seed: int) -> list[tuple[Path, str, str]]:
    """`per_kind` clips of each of NOISE_KINDS in out/noise/, written once.
    -> [(wav, "" (nothing said), kind)]"""
    clips = []
    for kind in NOISE_KINDS:
        for index in range(per_kind):
            target = Path(out) / "noise" / f"{kind}-{seed}-{index}.wav"
            if not target.exists():
                rng = np.random.default_rng([seed, NOISE_KINDS.index(kind), index])
                with atomic_target(target) as tmp:
                    soundfile.write(tmp, noise_clip(kind, rng), SAMPLE_RATE, subtype="PCM_16")
            clips.append((target, "", kind))
    return clips


def negatives(
    engine: str,
    commands: list[str],
    out: Path,
    language: str,
    seed: int,
    near_per_command: int = 2,
    per_phrase: int = 1,
    noise_per_kind: int = 2,
) -> list[tuple[Path, str, str]]:
    """Every negative of the bench: speech spoken by `engine`, then the noise clips.
    -> [(wav, what was said ("" for nothing), speaker or noise kind)]"""
    phrases = speech_phrases(commands, language, near_per_command)
    speech = render_speech(engine, phrases, out, language, per_phrase, seed)
    return speech + render_noise(out, noise_per_kind, seed)
