"""Which engines and voices SYNTHETIC_VOICES selects for a LANGUAGE.

SYNTHETIC_VOICES is `auto` (every installed engine), `none`, or a comma list of engines
(`espeak-ng,flite`) and engine voices (`flite:slt`, `espeak-ng:en-us`, `espeak-ng:en-us+f3`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dstorch.prepare.problems import PrepareError
from dstorch.prepare.synthetic.base import Engine, EngineError
from dstorch.prepare.synthetic.espeak import EspeakNg
from dstorch.prepare.synthetic.festival import Festival
from dstorch.prepare.synthetic.flite import Flite

# The pluggable list: a new engine is one Engine subclass added here.
ENGINES: tuple[type[Engine], ...] = (EspeakNg, Flite, Festival)
NAMES = tuple(e.name for e in ENGINES)


@dataclass
class Choice:
    """One engine and its selected voices: base voice -> full voice names."""

    engine: Engine
    voices: dict[str, list[str]]

    def count(self) -> int:
        return len(self.voices)


def parse_spec(spec: str) -> dict[str, set[str]] | None:
    """None for `auto`; else {engine: voices} ({} for `none`; an empty set: all voices)."""
    word = spec.strip().lower()
    if word in ("", "auto"):
        return None
    if word in ("none", "no", "off"):
        return {}
    wanted: dict[str, set[str]] = {}
    every: set[str] = set()  # engines named without a voice: all their voices
    for item in (i.strip() for i in spec.split(",") if i.strip()):
        engine, _, voice = item.partition(":")
        engine = engine.strip().lower()
        if engine not in NAMES:
            raise PrepareError(
                f"SYNTHETIC_VOICES: unknown engine {engine!r}; use auto, none or a comma list "
                f"of {', '.join(NAMES)} (each optionally :voice)"
            )
        wanted.setdefault(engine, set())
        if voice.strip():
            wanted[engine].add(voice.strip())
        else:
            every.add(engine)
    return {e: set() if e in every else v for e, v in wanted.items()}


def choose(spec: str, language: str) -> tuple[list[Choice], list[str]]:
    """The engines and voices to render with, and one-line notes for the user."""
    wanted = parse_spec(spec)
    if wanted == {}:
        return [], []
    choices = []
    for cls in ENGINES:
        if wanted is not None and cls.name not in wanted:
            continue
        engine = cls()
        if not engine.installed():
            if wanted is not None:
                raise PrepareError(
                    f"SYNTHETIC_VOICES names {cls.name}, which is not installed; install "
                    f"it (apt-get install {cls.package}) or remove it from SYNTHETIC_VOICES"
                )
            continue
        try:
            voices = _voices(engine, language, (wanted or {}).get(cls.name, set()))
        except EngineError as e:
            raise PrepareError(f"SYNTHETIC_VOICES: cannot list voices ({e})") from None
        if voices:
            choices.append(Choice(engine, voices))
    return choices, _notes(choices, wanted, language)


def _voices(engine: Engine, language: str, only: set[str]) -> dict[str, list[str]]:
    full = {base: engine.variants(base) for base in engine.voices(language)}
    if not only:
        return full
    picked: dict[str, list[str]] = {}
    for name in sorted(only):
        base = name.split("+", 1)[0]
        if base not in full or ("+" in name and name not in full[base]):
            known = ", ".join(sorted(full)) or "none"
            raise PrepareError(
                f"SYNTHETIC_VOICES: {engine.name} has no voice {name!r} for LANGUAGE="
                f"{language} (its voices: {known}); fix or remove it"
            )
        picked.setdefault(base, [])
        picked[base] = full[base] if name == base else sorted({*picked[base], name})
    return picked


def _notes(choices: list[Choice], wanted: dict | None, language: str) -> list[str]:
    if choices:
        used = ", ".join(
            f"{c.engine.name} ({c.count()} voice{'s' * (c.count() > 1)})" for c in choices
        )
        return [f"synthetic voices: {used}"]
    if wanted is None and not any(cls().installed() for cls in ENGINES):
        return [
            "no speech synthesizer installed (apt-get install "
            f"{' '.join(cls.package for cls in ENGINES)}): training goes on without synthetic "
            "takes"
        ]
    checked = [n for n in NAMES if wanted is None or n in wanted]
    return [
        f"no installed speech synthesizer speaks LANGUAGE={language} (checked "
        f"{', '.join(checked)}): training goes on without synthetic takes"
    ]
