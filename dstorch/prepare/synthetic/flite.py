"""flite: CMU's small diphone and unit-selection synthesizer, English only.

Why: its voices (kal, awb, rms, slt) come from recordings of real people, so their timbre
and prosody differ from espeak-ng's formant voices, which is what teaches a model that the
next speaker may sound unlike every voice it trained on.
"""

from __future__ import annotations

from pathlib import Path

from dstorch.prepare.synthetic.base import Engine, Take, is_english, sox_pitch_tempo


class Flite(Engine):
    name = "flite"
    program = "flite"
    package = "flite"

    def voices(self, language: str) -> list[str]:
        if not is_english(language):
            return []
        text = self.run([self.program, "-lv"])  # "Voices available: kal awb_time kal16 ..."
        names = text.split(":", 1)[-1].split()
        # *_time voices are limited-domain: they can only say the time of day.
        return sorted(n for n in names if not n.endswith("_time") and "indic" not in n)

    def synthesize(self, takes: list[Take], raws: list[Path]) -> None:
        for take, raw in zip(takes, raws, strict=True):
            stretch = f"duration_stretch={1 / take.rate:.4f}"  # native: sounds better than sox
            args = [self.program, "-voice", take.voice, "--setf", stretch]
            self.run([*args, "-t", take.text, "-o", str(raw)], take)

    def effects(self, take: Take) -> list[str]:
        return sox_pitch_tempo(take, tempo=False)  # voices differ in base pitch: shift it
