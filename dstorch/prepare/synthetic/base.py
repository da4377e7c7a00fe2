"""What every speech synthesizer plugged into the data preparation provides.

A synthetic take is a command sentence spoken by one engine voice at one rate and pitch.
Each engine class lists its voices for a language and writes raw WAVs; rate or pitch changes
an engine cannot do itself are left to sox (`effects`), which also brings every take to the
16 kHz mono 16-bit format. All engines here and sox with -R are deterministic, so a take
re-rendered from the same recipe has the same bytes.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from dstorch.datafiles import SYNTHETIC_DIR

# Bump when the rendering chain changes: every take then gets a new recipe and is redone.
RENDER_VERSION = 1
RATES = (0.8, 0.9, 1.0, 1.1, 1.25)  # speaking rate relative to the voice's default
PITCHES = (-3.0, -1.5, 0.0, 1.5, 3.0)  # semitones relative to the voice's default
TIMEOUT = 120  # seconds for one engine call; a stuck synthesizer must not hang prepare


class EngineError(RuntimeError):
    """An engine failed on a take; the message names the engine, voice and text."""


@dataclass(frozen=True)
class Take:
    """One synthetic rendition of one command."""

    command: str  # the commands.csv id
    text: str  # the normalised transcript that is spoken
    engine: str  # Engine.name
    voice: str  # the engine's voice name (espeak-ng: voice+variant)
    rate: float  # in RATES
    pitch: float  # in PITCHES
    gain: float  # peak level in dBFS, varied like the distance to a microphone

    @property
    def speaker(self) -> str:
        """The registry's speaker: the engine and voice, e.g. `espeak-ng:en-us+f3`."""
        return f"{self.engine}:{self.voice}"

    def recipe(self) -> str:
        """Everything the audio depends on; its digest names the file."""
        return (
            "|".join(
                map(
                    str, (RENDER_VERSION, self.engine, self.voice, self.rate, self.pitch, self.gain)
                )
            )
            + f"|{self.text}"
        )

    def relpath(self, language: str) -> str:
        """Path under the data folder: synthetic/<lang>/<engine>/<voice>/<id>_<digest>.wav."""
        digest = hashlib.sha256(self.recipe().encode()).hexdigest()[:12]
        return "/".join(
            (SYNTHETIC_DIR, _safe(language), self.engine, _safe(self.voice))
            + (f"{_safe(self.command)}_{digest}.wav",)
        )


def _safe(text: str) -> str:
    """A file-name-safe form of an id or voice name (the digest keeps names unique)."""
    return re.sub(r"[^\w.+-]", "_", text) or "_"


class Engine:
    """Base class: override `voices`, `synthesize` and, where needed, `effects`."""

    name: ClassVar[str] = ""
    program: ClassVar[str] = ""  # the command that must be on PATH
    package: ClassVar[str] = ""  # Debian/Ubuntu packages that install it

    def installed(self) -> bool:
        return shutil.which(self.program) is not None

    def voices(self, language: str) -> list[str]:
        """Base voices that speak `language` (commands.csv column name); [] if none."""
        raise NotImplementedError

    def variants(self, voice: str) -> list[str]:
        """The full voice names a base voice comes in (espeak-ng adds +variant)."""
        return [voice]

    def synthesize(self, takes: list[Take], raws: list[Path]) -> None:
        """Write takes[i] as a WAV (any rate) to raws[i]; EngineError on failure."""
        raise NotImplementedError

    def effects(self, take: Take) -> list[str]:
        """sox effects for what the engine does not do itself (rate, pitch)."""
        return []

    def run(self, args: list[str], take: Take | None = None, stdin: str | None = None) -> str:
        """Run the engine's program; EngineError with its message when it fails."""
        try:
            result = subprocess.run(
                args, input=stdin, capture_output=True, text=True, timeout=TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise EngineError(f"{self.name}: {e}") from None
        if result.returncode != 0:
            what = f" voice {take.voice} on {take.text!r}" if take else ""
            reason = (result.stderr or result.stdout).strip().splitlines()
            raise EngineError(
                f"{self.name}{what} failed ({reason[-1] if reason else result.returncode})"
            )
        return result.stdout


def is_english(language: str) -> bool:
    """flite's and festival's voices speak English only."""
    word = language.strip().lower().replace("_", "-")
    return word in ("en", "eng", "english") or word.startswith("en-")


def sox_pitch_tempo(take: Take, tempo: bool) -> list[str]:
    """sox effects shifting the pitch (cents) and, with `tempo`, the speaking rate."""
    effects = ["pitch", str(round(take.pitch * 100))] if take.pitch else []
    if tempo and take.rate != 1.0:
        effects += ["tempo", "-s", str(take.rate)]  # -s: tuned for speech
    return effects
