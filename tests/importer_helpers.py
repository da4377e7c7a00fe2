"""Small corpora in the real layouts, from espeak-ng speech (tests never download)."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

LDC93S1_TEXT = "She had your dark suit in greasy wash water all year."
# (as the corpus writes it, what the importer must make of it)
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


@functools.cache
def _spoken(text: str, voice: str) -> tuple[bytes, int]:
    """espeak-ng's float samples of `text` (cached per process) -> (float32 bytes, rate)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        try:
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
        except FileNotFoundError:
            pytest.skip("espeak-ng is not installed (scripts/system_packages.sh installs it)")
        data, rate = sf.read(str(wav), dtype="float32")
    return data.tobytes(), rate


def speak(text: str, path: Path, rate: int, voice: str = "en-us", fmt: str = "WAV") -> Path:
    """Write `text` spoken by espeak-ng to `path` at `rate` Hz as `fmt` (WAV, FLAC, MP3)."""
    raw, native = _spoken(text, voice)
    data = np.frombuffer(raw, np.float32).astype(np.float64)
    if rate != native:
        step = gcd(rate, native)
        data = resample_poly(data, rate // step, native // step)
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "MP3": "MPEG_LAYER_III"}[fmt]
    sf.write(str(path), np.clip(data, -1, 1), rate, format=fmt, subtype=subtype)
    return path


def librispeech_tree(root: Path, splits: dict[str, int]) -> dict[str, list[tuple[str, str]]]:
    """<root>/<split>/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac (16 kHz FLAC) and
    <speaker>-<chapter>.trans.txt; -> {split: [(utterance id, expected transcript)]}."""
    expected: dict[str, list[tuple[str, str]]] = {}
    for s, (split, count) in enumerate(splits.items()):
        speaker, chapter = 100 + s, 2000 + s
        folder = root / split / str(speaker) / str(chapter)
        lines = []
        for n in range(count):
            raw, normal = SENTENCES[n % len(SENTENCES)]
            utterance = f"{speaker}-{chapter}-{n:04d}"
            speak(raw, folder / f"{utterance}.flac", 16000, fmt="FLAC")
            lines.append(f"{utterance} {normal.upper()}")  # as LibriSpeech writes
            expected.setdefault(split, []).append((utterance, normal))
        (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return expected


def commonvoice_tree(root: Path, lists: dict[str, list[int]]) -> None:
    """<root>/clips/common_voice_en_<n>.mp3 (48 kHz MP3) and <list>.tsv naming clips n,
    with a recent release's columns; sentence n is SENTENCES[n % 4]."""
    numbers = sorted({n for ns in lists.values() for n in ns})
    for n in numbers:
        speak(SENTENCES[n % len(SENTENCES)][0], root / "clips" / _cv_name(n), 48000, fmt="MP3")
    for name, ns in lists.items():
        rows = ["\t".join(CV_HEADER)]
        for n in ns:
            values = dict.fromkeys(CV_HEADER, "")
            values.update(client_id=f"c{n}", path=_cv_name(n), sentence=SENTENCES[n % 4][0])
            values.update(up_votes="2", down_votes="0", locale="en")
            rows.append("\t".join(values[c] for c in CV_HEADER))
        (root / f"{name}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _cv_name(n: int) -> str:
    return f"common_voice_en_{n}.mp3"


def ldc93s1_tree(root: Path) -> Path:
    """<root>/LDC93S1.wav (16 kHz mono 16-bit) + LDC93S1.txt ('0 <samples> <sentence>')."""
    wav = speak(LDC93S1_TEXT, root / "LDC93S1.wav", 16000)
    samples = sf.info(str(wav)).frames
    (root / "LDC93S1.txt").write_text(f"0 {samples} {LDC93S1_TEXT}\n")
    return wav
