"""Festival: the Edinburgh synthesizer with diphone and HTS (statistical) voices, English.

Why: its HTS voice (cmu_us_slt_arctic_hts) is a third way of making speech, smoother than
diphones and formants; each extra kind of voice in training helps with unseen speakers.
Each voice is rendered in one festival process, since starting festival costs ~0.2 s.
"""

from __future__ import annotations

from pathlib import Path

from dstorch.prepare.synthetic.base import Engine, EngineError, Take, is_english, sox_pitch_tempo

LIST_VOICES = (
    '(mapcar (lambda (v) (format t "%s %l\\n" v'
    " (cadr (assoc 'language (cadr (voice.description v)))))) (voice.list))"
)


class Festival(Engine):
    name = "festival"
    program = "festival"
    package = "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
    batch_by_voice = True  # one festival process per voice: starting it costs ~0.2 s

    def voices(self, language: str) -> list[str]:
        if not is_english(language):
            return []
        lines = self.run([self.program, "-b", LIST_VOICES]).splitlines()
        pairs = [line.split() for line in lines if len(line.split()) == 2]
        return sorted(name for name, lang in pairs if lang == "english")

    def synthesize(self, takes: list[Take], raws: list[Path]) -> None:
        by_voice: dict[str, list[tuple[Take, Path]]] = {}
        for take, raw in zip(takes, raws, strict=True):
            by_voice.setdefault(take.voice, []).append((take, raw))
        for voice, pairs in by_voice.items():
            script = [f"(voice_{voice})"]
            for take, raw in pairs:
                script.append(
                    f"(utt.save.wave (utt.synth (Utterance Text {_quote(take.text)})) "
                    f"{_quote(str(raw))} 'riff)"
                )
            self.run([self.program, "--pipe"], pairs[0][0], stdin="\n".join(script) + "\n")
            missing = [take for take, raw in pairs if not raw.exists()]
            if missing:
                raise EngineError(f"festival voice {voice} wrote no audio for {missing[0].text!r}")

    def effects(self, take: Take) -> list[str]:
        # HTS voices ignore Duration_Stretch, so sox sets the rate for every voice alike.
        return sox_pitch_tempo(take, tempo=True)


def _quote(text: str) -> str:
    """A Scheme string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
