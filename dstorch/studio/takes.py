"""Takes recorded in the studio: named so FILENAME_PATTERN reads them back, saved into
ORIGINAL_DIR/LANGUAGE/ without ever overwriting, counted per command and speaker."""

from __future__ import annotations

import io
import os
import re
import secrets
from collections import defaultdict
from pathlib import Path

import numpy as np

from dstorch.features import SAMPLE_RATE
from dstorch.fs import TEMP_PREFIX
from dstorch.prepare.problems import FileProblem, PrepareError
from dstorch.prepare.sources import NameParser, list_recordings, normalise_id
from dstorch.studio import StudioError
from dstorch.studio.table import ID_PATTERN

# A speaker is one `_` field of the name, as the command id is (see table.ID_PATTERN).
SPEAKER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}")
TAKES_WANTED = 5  # per speaker and command: what the studio asks for before "enough"
MIN_SECONDS, MAX_SECONDS = 0.3, 10.0  # a take outside this is a mis-click or a forgotten stop
MAX_TAKE = 999  # the take field has three digits


def take_name(speaker: str, key: str, take: int) -> str:
    """The recipe's name: shapes_<speaker>_2_3_000000_<id>_<take>.wav."""
    return f"shapes_{speaker}_2_3_000000_{key}_{take:03d}.wav"


def check_fields(speaker: str, key: str) -> None:
    if not SPEAKER_PATTERN.fullmatch(speaker or ""):
        raise StudioError(
            f"speaker {speaker!r}: use letters, digits or '-' (no '_', '/' or spaces)"
        )
    if not ID_PATTERN.fullmatch(key or ""):
        raise StudioError(f"command id {key!r}: not an id of commands.csv")


def read_take(data: bytes) -> np.ndarray:
    """int16 [N] from the bytes of a 16 kHz mono 16-bit WAV; StudioError otherwise."""
    import soundfile

    try:
        info = soundfile.info(io.BytesIO(data))
        pcm, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    except (RuntimeError, soundfile.LibsndfileError) as e:
        raise StudioError(f"take: not a WAV file ({e}); record it again") from None
    if (rate, info.channels, info.subtype) != (SAMPLE_RATE, 1, "PCM_16"):
        raise StudioError(
            f"take: {rate} Hz, {info.channels} channels, {info.subtype}; the studio keeps "
            f"{SAMPLE_RATE} Hz mono PCM_16 only"
        )
    seconds = len(pcm) / SAMPLE_RATE
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise StudioError(f"take: {seconds:.2f} s; record {MIN_SECONDS}-{MAX_SECONDS:g} s")
    return pcm


class Takes:
    """The recordings of one language folder, named for `pattern` (FILENAME_PATTERN)."""

    def __init__(self, folder: Path, pattern: str):
        self.folder = Path(folder)
        try:
            self.parse = NameParser(pattern)
        except PrepareError as e:
            raise StudioError(str(e)) from None

    def counts(self) -> dict[str, dict[str, int]]:
        """{command id: {speaker: takes}} of every recording whose name parses."""
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        try:
            files = list_recordings(self.folder)
        except PrepareError:
            return {}
        for path in files:
            try:
                key, speaker = self.parse(path.stem)
            except FileProblem:
                continue
            counts[key][speaker] += 1
        return {key: dict(by) for key, by in counts.items()}

    def path(self, speaker: str, key: str, take: int) -> Path:
        """The take's path, checked to read back as (key, speaker) and to stay inside."""
        check_fields(speaker, key)
        path = self.folder / take_name(speaker, key, take)
        if path.resolve().parent != self.folder.resolve():
            raise StudioError(f"{path}: outside {self.folder}; refused")
        try:
            parsed = self.parse(path.stem)
        except FileProblem:
            parsed = None
        if parsed != (normalise_id(key), speaker):
            raise StudioError(
                f"{path.name} would not read back as id {key}, speaker {speaker} with "
                "FILENAME_PATTERN; set FILENAME_PATTERN empty to record in the studio"
            )
        return path

    def save(self, speaker: str, key: str, pcm: np.ndarray) -> Path:
        """Write the next free take of (speaker, key); never replaces a file."""
        import soundfile

        check_fields(speaker, key)  # before the names below are built from them
        self.folder.mkdir(parents=True, exist_ok=True)
        taken = len(list(self.folder.glob(take_name(speaker, key, 0).replace("000.", "*."))))
        for take in range(taken + 1, MAX_TAKE + 1):
            target = self.path(speaker, key, take)
            if target.exists():
                continue
            temp = target.with_name(f"{TEMP_PREFIX}{target.name}.{secrets.token_hex(6)}.tmp")
            soundfile.write(str(temp), pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
            try:
                os.link(temp, target)  # atomic, and fails instead of replacing a take
            except FileExistsError:
                continue
            finally:
                temp.unlink(missing_ok=True)
            return target
        raise StudioError(f"{self.folder}: {MAX_TAKE} takes of id {key} by {speaker}; enough")
