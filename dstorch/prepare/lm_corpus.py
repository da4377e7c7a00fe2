"""data/lm_corpus.txt: the text the job builds the scorer (KenLM + vocabulary) from.

Every command of commands.csv goes in, recorded or not: the scorer should know every
command the user wants recognised. LM_TEXT adds free text (one sentence a line). The
corpus is written at prepare time, so the job (maybe in a container) only needs data/.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dstorch.alphabet import Alphabet, load_alphabet
from dstorch.datafiles import ALPHABET_FILE, LM_CORPUS
from dstorch.fs import atomic_write
from dstorch.prepare.problems import PrepareError
from dstorch.prepare.sources import normalise_text

if TYPE_CHECKING:  # prepare imports this module
    from dstorch.prepare.recording import Transcripts


def read_extra_text(spec: str, root: Path) -> list[str]:
    """Lines of the LM_TEXT file (relative paths are relative to the project root)."""
    path = Path(spec) if Path(spec).is_absolute() else root / spec
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PrepareError(
            f"LM_TEXT={spec}: not found; fix the path or leave LM_TEXT empty"
        ) from None
    except OSError as e:
        raise PrepareError(f"LM_TEXT={spec}: cannot be read ({e.strerror})") from None
    try:
        return raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PrepareError(
            f"LM_TEXT={spec}: not UTF-8 (line {line}); re-save it as UTF-8"
        ) from None


def corpus_lines(
    commands: dict[str, str],
    skipped_ids: set[str],
    extra: list[str],
    alphabet: Alphabet,
    source: str = "LM_TEXT",
) -> tuple[list[str], list[str]]:
    """(corpus lines, notes): commands (already normalised) first, then the extra text."""
    labels = set(alphabet.labels)
    lines = [text for key, text in commands.items() if text and key not in skipped_ids]
    notes = []
    left_out = sorted(k for k, text in commands.items() if text and k in skipped_ids)
    if left_out:
        notes.append(
            f"{LM_CORPUS}: commands {', '.join(left_out)} left out of the language model "
            "(characters outside the alphabet)"
        )
    bad: list[tuple[int, str]] = []
    for number, raw in enumerate(extra, start=1):
        text = normalise_text(raw, labels)
        if not text:
            continue
        if not alphabet.missing(text):
            lines.append(text)
        else:
            bad.append((number, text))
    if bad:
        number, text = bad[0]
        chars = "".join(alphabet.missing(text))
        notes.append(
            f"{source}: {len(bad)} line(s) skipped for characters outside the alphabet "
            f"(first: line {number}, {chars!r}); add them to the alphabet or fix the text"
        )
    return lines, notes


def write_lm_corpus(
    data_dir: Path,
    transcripts: Transcripts,
    lm_text: str = "",
    root: Path = Path("."),
    bytes_output_mode: bool = False,
) -> list[str]:
    """Write data/lm_corpus.txt atomically from prepare's Transcripts (checked against
    the model's alphabet: data/alphabet.txt, or bytes); returns notes for the user."""
    alphabet = load_alphabet(data_dir / ALPHABET_FILE, bytes_output_mode)
    skipped = {k for k, p in transcripts.problems.items() if p.code == "bad_chars"}
    extra = read_extra_text(lm_text, root) if lm_text else []
    lines, notes = corpus_lines(transcripts.text, skipped, extra, alphabet, f"LM_TEXT={lm_text}")
    atomic_write(data_dir / LM_CORPUS, "".join(line + "\n" for line in lines))
    return notes
