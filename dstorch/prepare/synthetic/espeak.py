"""espeak-ng: formant synthesis for over 100 languages, so most LANGUAGEs get voices.

Why: it is the only engine here that speaks languages other than English, and its ~100
voice variants (male, female, whisper, croak, klatt...) change the timbre a lot for free.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dstorch.prepare.synthetic.base import Engine, Take

DEFAULT_RATE = 175  # words per minute (espeak-ng's default)
PITCH_PER_SEMITONE = 8  # -p runs 0..99 around 50; 8 steps is about a semitone here
SKIPPED_VARIANTS = {"fast"}  # a test variant that speaks faster than any person


class EspeakNg(Engine):
    name = "espeak-ng"
    program = "espeak-ng"
    package = "espeak-ng"

    def voices(self, language: str) -> list[str]:
        rows = self._table(f"--voices={language.strip().lower()}")
        names = []
        for row in rows:
            lang, file = row[1], row[4]
            if file.startswith("mb/") and not shutil.which("mbrola"):
                continue  # MBROLA voices need the separate mbrola program and voice data
            name = row[3] if file.startswith("mb/") else lang
            if lang != "variant" and name not in names:
                names.append(name)
        return sorted(names)

    def variants(self, voice: str) -> list[str]:
        return [voice] + [f"{voice}+{v}" for v in self._variant_names()]

    def _variant_names(self) -> list[str]:
        if not hasattr(self, "_variants"):
            files = [row[4] for row in self._table("--voices=variant")]
            self._variants = sorted(
                f[3:]
                for f in files
                if f.startswith("!v/") and " " not in f and f[3:] not in SKIPPED_VARIANTS
            )
        return self._variants

    def _table(self, flag: str) -> list[list[str]]:
        """`espeak-ng --voices=...` rows as [pty, language, gender, name, file] columns.

        Columns are cut at the header's positions: a few variant files have spaces in
        their names ("Mr serious"), which splitting on spaces would misread.
        """
        lines = self.run([self.program, flag]).splitlines()
        if not lines:
            return []
        header = lines[0]
        starts = [header.index(word) for word in ("Language", "Age", "VoiceName", "File")]
        ends = starts[1:] + [header.find("Other") if "Other" in header else None]
        rows = []
        for line in lines[1:]:
            cells = [line[: starts[0]]] + [line[a:b] for a, b in zip(starts, ends, strict=True)]
            rows.append([cell.strip() for cell in cells])
        return rows

    def synthesize(self, takes: list[Take], raws: list[Path]) -> None:
        for take, raw in zip(takes, raws, strict=True):
            speed = round(DEFAULT_RATE * take.rate)
            pitch = min(99, max(0, round(50 + PITCH_PER_SEMITONE * take.pitch)))
            args = [self.program, "-v", take.voice, "-s", str(speed), "-p", str(pitch)]
            self.run([*args, "-w", str(raw), take.text], take)
