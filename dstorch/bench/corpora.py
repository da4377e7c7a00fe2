"""Small corpora in the real layouts of Common Voice, LibriSpeech and LDC93S1, spoken by
espeak-ng and encoded as those corpora ship (48 kHz MP3, 16 kHz FLAC, 16 kHz WAV).

The importer tests and `make bench-import` build their trees here; nothing is downloaded.
`gain` scales a clip so that copies of one sentence are different files.
"""

from __future__ import annotations

import functools
import subprocess
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

LDC93S1_TEXT = "She had your dark suit in greasy wash water all year."
# (as a corpus writes it, what the importer makes of it with an English alphabet)
SENTENCES = [
    ("TURN ON THE LIGHT", "turn on the light"),
    ("HE'S OPENING THE DOOR", "he's opening the door"),
    ("Stop—the “music”, please!", "stop the music please"),
    ("A café by the sea.", "a cafe by the sea"),
]
CV_HEADER = (
    "client_id path sentence_id sentence sentence_domain up_votes down_votes age gender "
    "accents variant locale segment"
).split()
SUBTYPES = {"WAV": "PCM_16", "FLAC": "PCM_16", "MP3": "MPEG_LAYER_III"}


@functools.cache
def _spoken(text: str, voice: str, rate: int) -> bytes:
    """espeak-ng saying `text`, resampled to `rate` Hz: float64 samples as bytes (cached)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
        data, native = sf.read(str(wav), dtype="float64")
    if rate != native:
        step = gcd(rate, native)
        data = resample_poly(data, rate // step, native // step)
    return data.tobytes()


def speak(
    text: str, path: Path, rate: int, fmt: str = "WAV", gain: float = 1.0, voice: str = "en-us"
) -> Path:
    """Write `text` spoken by espeak-ng to `path` at `rate` Hz as `fmt` (WAV, FLAC, MP3)."""
    data = np.frombuffer(_spoken(text, voice, rate), np.float64) * gain
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(data, -1, 1), rate, format=fmt, subtype=SUBTYPES[fmt])
    return path


def _gain(n: int) -> float:
    return 0.5 + 0.5 * ((n * 7919) % 100) / 100  # distinct, repeatable levels


def librispeech_tree(root: Path, splits: dict[str, int]) -> dict[str, list[tuple[str, str]]]:
    """<root>/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac (16 kHz FLAC) and
    <speaker>-<chapter>.trans.txt; -> {split: [(utterance id, expected transcript)]}."""
    expected: dict[str, list[tuple[str, str]]] = {}
    for s, (split, count) in enumerate(splits.items()):
        speaker, chapter = 100 + s, 2000 + s
        folder = root / split / str(speaker) / str(chapter)
        lines = []
        for n in range(count):
            normal = SENTENCES[n % len(SENTENCES)][1]
            utterance = f"{speaker}-{chapter}-{n:04d}"
            speak(normal, folder / f"{utterance}.flac", 16000, "FLAC", _gain(n))
            lines.append(f"{utterance} {normal.upper()}")  # as LibriSpeech writes them
            expected.setdefault(split, []).append((utterance, normal))
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return expected


def cv_clip(n: int) -> str:
    return f"common_voice_en_{n}.mp3"


def commonvoice_tree(root: Path, lists: dict[str, list[int]]) -> None:
    """<root>/clips/common_voice_en_<n>.mp3 (48 kHz MP3) and <list>.tsv naming clips n,
    with a recent release's columns; clip n says SENTENCES[n % 4]."""
    for n in sorted({n for ns in lists.values() for n in ns}):
        text = SENTENCES[n % len(SENTENCES)][0]
        speak(text, root / "clips" / cv_clip(n), 48000, "MP3", _gain(n))
    for name, ns in lists.items():
        rows = ["\t".join(CV_HEADER)]
        for n in ns:
            values = dict.fromkeys(CV_HEADER, "")
            values.update(client_id=f"c{n}", path=cv_clip(n), sentence=SENTENCES[n % 4][0])
            values.update(up_votes="2", down_votes="0", locale="en")
            rows.append("\t".join(values[c] for c in CV_HEADER))
        (root / f"{name}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def ldc93s1_tree(root: Path) -> Path:
    """<root>/LDC93S1.wav (16 kHz mono 16-bit) + LDC93S1.txt ('0 <samples> <sentence>')."""
    wav = speak(LDC93S1_TEXT, root / "LDC93S1.wav", 16000)
    samples = sf.info(str(wav)).frames
    (root / "LDC93S1.txt").write_text(f"0 {samples} {LDC93S1_TEXT}\n")
    return wav
