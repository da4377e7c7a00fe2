"""The user's inputs: commands.csv, recording file names, transcripts and the alphabet."""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

from dstorch.alphabet import Alphabet, AlphabetError
from dstorch.fs import atomic_write
from dstorch.prepare.problems import FileProblem, PrepareError

# Files users often leave next to recordings; they are not audio, so not worth a warning.
IGNORED_SUFFIXES = {".txt", ".csv", ".md", ".json", ".ini", ".db", ".pdf", ".xlsx", ".zip"}
APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u02bc": "'"}


def normalise_id(text: str) -> str:
    """Strip, and drop leading zeros of numeric ids so `007` in a file name matches `7`."""
    text = text.strip()
    return str(int(text)) if text.isascii() and text.isdigit() else text


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PrepareError(
            f"{path}: not found; create it with a header line `id,<language>`"
        ) from None
    try:
        return raw.decode("utf-8-sig")  # -sig: spreadsheet programs add a byte-order mark
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PrepareError(
            f"{path}: not UTF-8 (byte 0x{raw[e.start]:02x} on line {line}); "
            "re-save it as UTF-8 (spreadsheets: 'CSV UTF-8')"
        ) from None


def _rows(path: Path, text: str) -> list[list[str]]:
    header = text.split("\n", 1)[0]
    # Spreadsheets in many locales save `;`-separated "CSV"; accept it rather than fail.
    delimiter = next((d for d in ",;\t" if d in header), ",")
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if any(row)]
    if not rows:
        raise PrepareError(f"{path}: empty; add a header line `id,<language>` and one row per id")
    return [[cell.strip() for cell in row] for row in rows]


def read_table(path: Path) -> list[list[str]]:
    """commands.csv's rows (header first), cells stripped, as prepare reads them."""
    return _rows(path, _decode(path))


def read_commands(path: Path, language: str) -> tuple[dict[str, str], list[str]]:
    """{id: transcript as written} from the `language` column, plus notes for the user."""
    rows = _rows(path, _decode(path))
    header = [name.lower() for name in rows[0]]
    if "id" not in header:
        raise PrepareError(f"{path}: no `id` column (header: {','.join(rows[0])}); add one")
    if language.lower() not in header:
        others = ", ".join(n for n in rows[0] if n.lower() != "id") or "none"
        raise PrepareError(
            f"{path}: no `{language}` column (language columns: {others}); add the column "
            f"or set LANGUAGE to one of them"
        )
    id_col, text_col = header.index("id"), header.index(language.lower())
    commands: dict[str, str] = {}
    first_line: dict[str, int] = {}
    notes = []
    for line, row in enumerate(rows[1:], start=2):
        row = row + [""] * (len(header) - len(row))
        key, text = normalise_id(row[id_col]), row[text_col]
        if not key:
            notes.append(f"{path}:{line}: row without an id ignored")
        elif key in commands and commands[key] != text:
            raise PrepareError(
                f"{path}: id {key} is on lines {first_line[key]} and {line} with different "
                "transcripts; keep one row per id"
            )
        elif key in commands:
            notes.append(f"{path}:{line}: id {key} repeats line {first_line[key]}; ignored")
        else:
            commands[key], first_line[key] = text, line
    return commands, notes


class NameParser:
    """File name -> (id, speaker), by FILENAME_PATTERN or the recipe's `_` convention."""

    def __init__(self, pattern: str):
        self.pattern = None
        if pattern:
            try:
                self.pattern = re.compile(pattern)
            except re.error as e:
                raise PrepareError(
                    f"FILENAME_PATTERN={pattern!r} is not a valid regex ({e})"
                ) from None
            if "id" not in self.pattern.groupindex:
                raise PrepareError(
                    f"FILENAME_PATTERN={pattern!r} has no (?P<id>...) group; add one"
                )

    def __call__(self, stem: str) -> tuple[str, str]:
        if self.pattern is not None:
            match = self.pattern.search(stem)
            if not match or not match.group("id"):
                raise FileProblem(
                    "no_id",
                    "file name does not match FILENAME_PATTERN; rename the file or fix the pattern",
                )
            speaker = match.groupdict().get("speaker") or ""
            return normalise_id(match.group("id")), speaker
        parts = stem.split("_")
        if len(parts) < 2 or not parts[-2].strip():
            raise FileProblem(
                "no_id",
                "no id in the file name (expected ..._<id>_<take>); "
                "rename it or set FILENAME_PATTERN",
            )
        # shapes_<speaker hash>_2_3_000000_<id>_<take>: the recipe's names have >= 5 fields;
        # shorter ones like alice_<id>_<take> start with the speaker.
        speaker = parts[1] if len(parts) >= 5 else parts[0] if len(parts) >= 3 else ""
        return normalise_id(parts[-2]), speaker


def normalise_text(text: str, keep: set[str]) -> str:
    """NFC, lower case, single spaces; punctuation not in `keep` is dropped."""
    text = unicodedata.normalize("NFC", text).lower()
    for fancy, plain in APOSTROPHES.items():
        text = text.replace(fancy, plain)
    out = []
    for ch in text:
        if ch in keep or not unicodedata.category(ch).startswith("P"):
            out.append(ch)
        elif ch != "'":  # "what's" -> "whats", but "left,right" -> "left right"
            out.append(" ")
    return " ".join("".join(out).split())


def unspoken_characters(text: str) -> list[str]:
    """Characters of a normalised transcript that are no letter, digit, space or
    apostrophe (emoji, `<`, `=`, a backtick): each would become an alphabet label that no
    one says, and the model would be asked to write it."""
    return sorted(
        {ch for ch in text if ch not in " '" and unicodedata.category(ch)[0] not in "LMN"}
    )


def list_recordings(folder: Path) -> list[Path]:
    """Audio candidates under `folder` (recursively), sorted; hidden and text files skipped."""
    if not folder.is_dir():
        raise PrepareError(
            f"{folder}: no such folder; put the recordings there (or set ORIGINAL_DIR / LANGUAGE)"
        )
    files = [
        p
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink() and not p.exists())  # a broken link is said
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.suffix.lower() not in IGNORED_SUFFIXES
    ]
    if not files:
        raise PrepareError(f"{folder}: no recordings found; copy your audio files there")
    return sorted(files)


def load_alphabet(spec: str, root: Path, target: Path) -> Alphabet | None:
    """The ALPHABET file (copied to data/alphabet.txt for training), or None if not set."""
    if not spec:
        return None
    path = Path(spec) if Path(spec).is_absolute() else root / spec
    try:
        alphabet = Alphabet.from_file(path)
    except AlphabetError as e:
        raise PrepareError(f"ALPHABET: {e}") from None
    if path.resolve() != target.resolve():
        atomic_write(target, path.read_bytes())
    return alphabet


def build_alphabet(transcripts: list[str], target: Path) -> tuple[Alphabet, list[str]]:
    """Alphabet of `transcripts`; an existing data/alphabet.txt keeps its label order."""
    needed = {ch for text in transcripts for ch in text}
    labels: list[str] = []
    if target.exists():
        try:
            labels = Alphabet.from_file(target).labels
        except AlphabetError:
            labels = []  # ours to rebuild: it is generated, not user input
    existing = list(labels)
    labels = labels or [" "]  # a fresh alphabet starts with space, as DeepSpeech's English one
    added = sorted(needed - set(labels))
    notes = []
    if existing and added:
        notes.append(
            f"{target}: added {' '.join(map(repr, added))}; models trained before cannot "
            "continue: train with LOAD_FROM_CHECKPOINT=no"
        )
    alphabet = Alphabet(labels + added)
    if alphabet.labels != existing:
        alphabet.save(target)
    return alphabet, notes
