"""Bytes output mode (DeepSpeech's ``--bytes_output_mode``, native_client's UTF8Alphabet).

The model predicts UTF-8 bytes instead of alphabet letters: 255 labels, label i standing
for byte i + 1 (byte 0 cannot be spelt), and the CTC blank as label 255, 256 classes in
all. The client turns a label sequence into text by concatenating the bytes, so a
transcript may end inside a codepoint; we show such bytes as U+FFFD.

Labels travel through the code as ``list[str]`` like any alphabet's: the bytes alphabet's
label i is ``chr(i + 1)``, the character whose code is the byte (latin-1), so that
``is_byte_labels`` recognises it anywhere (checkpoint, exported graph, decoder).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

BYTE_LABELS: list[str] = [chr(b) for b in range(1, 256)]
BYTE_BLANK = len(BYTE_LABELS)  # 255: the CTC blank, the model has 256 output classes


def is_byte_labels(labels: Sequence[str]) -> bool:
    """Is this the bytes output mode's alphabet (label i = byte i + 1)?"""
    return len(labels) == len(BYTE_LABELS) and list(labels) == BYTE_LABELS


def encode_bytes(text: str) -> list[int] | None:
    """Labels [n] (UTF-8 byte - 1) of ``text``; None when it holds a NUL character."""
    raw = text.encode("utf-8")
    return None if 0 in raw else [b - 1 for b in raw]


def label_bytes(tokens: Iterable[int]) -> bytes:
    """The bytes that labels spell, as the client's Alphabet::Decode concatenates them."""
    return bytes(t + 1 for t in tokens)


def bytes_text(raw: bytes) -> str:
    """Client output bytes as text: invalid or cut-off UTF-8 sequences become U+FFFD."""
    return raw.decode("utf-8", "replace")


def codepoint_sentence(text: str) -> str:
    """A UTF-8 scorer's corpus line: the codepoints of ``text`` separated by spaces.

    KenLM splits words at whitespace, so spaces themselves cannot be scored (DeepSpeech's
    Decoder.rst, "Bytes output mode"): they are dropped, and with a UTF-8 scorer the client
    never outputs one.
    """
    return " ".join(ch for ch in text if not ch.isspace())
