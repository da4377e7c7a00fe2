"""Example recordings: a few English commands spoken by synthetic espeak-ng voices.

Two sets (EXAMPLES): "simple", the shipped example, whose commands share no words, and
"confusable", built around commands one word or one sound apart, where a model that only
matches command shapes acts on the wrong one (`make example-data EXAMPLE=confusable`).

The output follows the recipe's layout (original/<lang>/shapes_<speaker>_2_3_000000_<id>_
<take>.wav plus commands.csv), so the whole pipeline can be tried before recording anything.
espeak-ng and sox are deterministic, so the files are byte-identical on every run.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from dstorch.datafiles import COMMANDS_CSV, ORIGINAL_DIR
from dstorch.errors import DstorchError
from dstorch.fs import atomic_write
from dstorch.prepare.registry import atomic_target
from dstorch.wav import SOX_TARGET

# Acoustically distinct on purpose: the example should train to a usable model quickly.
COMMANDS = {
    "1": "turn on the light",
    "2": "play music",
    "3": "stop",
    "4": "volume up",
    "5": "what time is it",
    "6": "open the door",
}
# Pairs a device must tell apart: on/off and open/close one word apart, a wake word with
# and without its prefix, two names one sound apart, up/down.
CONFUSABLE = {
    "1": "turn on the light",
    "2": "turn off the light",
    "3": "open the door",
    "4": "close the door",
    "5": "ok mirror",
    "6": "hello mirror",
    "7": "mirror",
    "8": "mirror off",
    "9": "call mark",
    "10": "call mike",
    "11": "volume up",
    "12": "volume down",
}
SIMPLE = "simple"
EXAMPLES = {SIMPLE: COMMANDS, "confusable": CONFUSABLE}
# (espeak-ng voice, variant): accents x voice qualities, so speakers really differ.
VOICES = [
    ("en", "m1"),
    ("en-us", "f3"),
    ("en-gb-scotland", "m3"),
    ("en-029", "f2"),
    ("en", "klatt"),
    ("en-us", "klatt2"),
    ("en-gb-x-rp", "f4"),
    ("en", "croak"),
    ("en-us", "m7"),
    ("en-gb", "f1"),
]


class ExampleError(DstorchError, ValueError):
    """No such example, or the tools to speak it are missing; the message names the fix."""


def voice_specs(count: int = len(VOICES), seed: int = 4568) -> list[dict]:
    """Voice settings with seeded speed/pitch, each with a stable speaker hash."""
    rng = random.Random(seed)
    specs = []
    for voice, variant in VOICES[:count]:
        spec = {
            "voice": f"{voice}+{variant}",
            "speed": rng.randint(130, 180),
            "pitch": rng.randint(30, 70),
            "gain": rng.randint(-14, -2),
        }
        key = f"{spec['voice']}|s{spec['speed']}|p{spec['pitch']}|g{spec['gain']}"
        spec["speaker"] = hashlib.md5(key.encode()).hexdigest()  # name only, not security
        specs.append(spec)
    return specs


def example_commands(name: str) -> dict[str, str]:
    """The command set called `name` (a key of EXAMPLES); a clear error for another."""
    if name not in EXAMPLES:
        raise ExampleError(f"unknown example {name!r}; use one of: {', '.join(EXAMPLES)}")
    return EXAMPLES[name]


def _speak(spec: dict, text: str, out: Path, scratch: Path) -> None:
    raw = scratch / "espeak.wav"
    subprocess.run(
        [
            "espeak-ng",
            "-v",
            spec["voice"],
            "-s",
            str(spec["speed"]),
            "-p",
            str(spec["pitch"]),
            "-w",
            str(raw),
            text,
        ],
        check=True,
    )
    with atomic_target(out) as tmp:
        # -R: repeatable dither. Peak level varies per voice like microphone distance does;
        # espeak's trailing silence is trimmed to keep the files small.
        subprocess.run(
            [
                "sox",
                "-R",
                "-V1",
                str(raw),
                *SOX_TARGET,
                str(tmp),
                "gain",
                "-n",
                str(spec["gain"]),
                "reverse",
                "silence",
                "1",
                "0.02",
                "-45d",
                "reverse",
                "pad",
                "0",
                "0.15",
            ],
            check=True,
        )


def make_example_data(
    root: Path,
    commands: dict[str, str] = COMMANDS,
    voices: int = len(VOICES),
    language: str = "en",
    seed: int = 4568,
) -> list[Path]:
    """Write <root>/commands.csv and <root>/original/<language>/*.wav; return the WAVs."""
    missing = [tool for tool in ("espeak-ng", "sox") if not shutil.which(tool)]
    if missing:
        raise ExampleError(
            f"{' and '.join(missing)} not installed; install the system "
            f"packages ({' '.join(missing)}) and run again"
        )
    folder = Path(root, ORIGINAL_DIR, language)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    specs = voice_specs(voices, seed)
    with tempfile.TemporaryDirectory() as scratch:
        for spec in specs:
            for key, text in commands.items():
                out = folder / _take_name(spec["speaker"], key)
                _speak(spec, text, out, Path(scratch))
                written.append(out)
    _remove_stale(folder, specs, set(written))
    atomic_write(Path(root, COMMANDS_CSV), commands_csv(commands, language))
    return written


def commands_csv(commands: dict[str, str], language: str = "en") -> str:
    """The text of an example's commands.csv."""
    rows = [f"id,{language}"] + [f"{key},{text}" for key, text in commands.items()]
    return "\n".join(rows) + "\n"


def _take_name(speaker: str, key: str) -> str:
    return f"shapes_{speaker}_2_3_000000_{key}_001.wav"


def is_example(path: Path, language: str = "en") -> bool:
    """Whether `path` is a file some example set writes (a take of an example voice, or
    an example's commands.csv unchanged): switching sets overwrites none of the user's."""
    path = Path(path)
    if path.name == COMMANDS_CSV:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        return any(text == commands_csv(c, language) for c in EXAMPLES.values())
    keys = {key for commands in EXAMPLES.values() for key in commands}
    names = {_take_name(spec["speaker"], key) for spec in voice_specs() for key in keys}
    return path.name in names


def _remove_stale(folder: Path, specs: list[dict], written: set[Path]) -> None:
    """Remove the example voices' takes of commands another set had: switching sets must
    not leave recordings of commands commands.csv no longer has."""
    for spec in specs:
        for path in folder.glob(f"shapes_{spec['speaker']}_2_3_000000_*_001.wav"):
            if path not in written:
                path.unlink()
