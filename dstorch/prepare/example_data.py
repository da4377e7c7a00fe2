"""Example recordings: a few English commands spoken by synthetic espeak-ng voices.

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

from dstorch.fs import atomic_write
from dstorch.prepare.registry import atomic_target

# Acoustically distinct on purpose: the example should train to a usable model quickly.
COMMANDS = {
    "1": "turn on the light",
    "2": "play music",
    "3": "stop",
    "4": "volume up",
    "5": "what time is it",
    "6": "open the door",
}
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
                "-r",
                "16000",
                "-c",
                "1",
                "-b",
                "16",
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
        raise RuntimeError(
            f"{' and '.join(missing)} not installed; install the system "
            f"packages ({' '.join(missing)}) and run again"
        )
    folder = Path(root, "original", language)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as scratch:
        for spec in voice_specs(voices, seed):
            for key, text in commands.items():
                out = folder / f"shapes_{spec['speaker']}_2_3_000000_{key}_001.wav"
                _speak(spec, text, out, Path(scratch))
                written.append(out)
    rows = [f"id,{language}"] + [f"{key},{text}" for key, text in commands.items()]
    atomic_write(Path(root, "commands.csv"), "\n".join(rows) + "\n")
    return written
