"""Transcripts normalised against an alphabet, as DeepSpeech's importers' validate_label.

NFC, lower case, typographic apostrophes made plain, punctuation dropped (hyphens and the
like become spaces), single spaces; then a character outside the alphabet is replaced by
its base letter when that is in the alphabet ("café" -> "cafe" for an English alphabet).
Anything still outside (digits, symbols, another script) rejects the row: spelling "42"
out is a guess an importer must not make.
"""

from __future__ import annotations

import unicodedata

from dstorch.alphabet import Alphabet
from dstorch.prepare.problems import FileProblem
from dstorch.prepare.sources import normalise_text

KEPT_PUNCTUATION = {"'"}  # kept inside words ("don't") when no alphabet is given


def _base_letter(ch: str) -> str:
    """'é' -> 'e': the character without its combining marks."""
    decomposed = unicodedata.normalize("NFKD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _is_letter(ch: str) -> bool:
    return ch == " " or ch in KEPT_PUNCTUATION or unicodedata.category(ch)[0] in "LM"


class Normaliser:
    """Callable: corpus text -> transcript; FileProblem("empty_transcript" | "bad_chars").

    alphabet None: any letter of any script is allowed (the alphabet is then built from
    the imported transcripts).
    """

    def __init__(self, alphabet: Alphabet | None = None):
        self.alphabet = alphabet
        labels = set(alphabet.labels) if alphabet else None
        self.allowed = labels.__contains__ if labels is not None else _is_letter
        self.keep = {ch for ch in labels if not ch.isalnum()} if labels else KEPT_PUNCTUATION

    def __call__(self, text: str) -> str:
        text = normalise_text(text, self.keep)
        out = []
        for ch in text:
            if not self.allowed(ch) and all(self.allowed(c) for c in _base_letter(ch)):
                ch = _base_letter(ch)
            out.append(ch)
        text = "".join(out)
        if not text.strip():
            raise FileProblem("empty_transcript", "no transcript left after normalising")
        bad = sorted({ch for ch in text if not self.allowed(ch)})
        if bad:
            shown = " ".join(repr(ch) for ch in bad)
            raise FileProblem("bad_chars", f"characters {shown} outside the alphabet in {text!r}")
        return text
