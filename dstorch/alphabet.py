"""The output alphabet: DeepSpeech's alphabet.txt (Alphabet) or --bytes_output_mode's UTF-8
bytes (BytesAlphabet). Only the standard library and dstorch.bytes_mode: the lean inference,
prepare and importer paths read alphabets without torch.
"""

from __future__ import annotations

import struct
from pathlib import Path

from dstorch.bytes_mode import BYTE_LABELS, bytes_text, encode_bytes, is_byte_labels, label_bytes
from dstorch.errors import DstorchError
from dstorch.fs import atomic_write


# DataError lives here, not in dstorch.training.data, so that AlphabetError can stay a
# DataError (a transcript the alphabet cannot spell is bad input data) without this module
# importing the training data code and torch.
class DataError(DstorchError, ValueError):
    """Input data that cannot be used; the message names the file and the fix."""


class AlphabetError(DataError):
    pass


def ctc_steps_needed(sequence) -> int:
    """The fewest output steps CTC needs to spell `sequence` (text or labels): one per
    symbol, plus a blank between two equal ones."""
    return len(sequence) + sum(a == b for a, b in zip(sequence[:-1], sequence[1:], strict=True))


class Alphabet:
    """Ordered output labels; the CTC blank is the extra class after the last label."""

    def __init__(self, labels: list[str]):
        if len(set(labels)) != len(labels):
            raise AlphabetError(f"alphabet has duplicate labels: {labels}")
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Alphabet) and self.labels == other.labels

    @property
    def blank(self) -> int:
        return len(self.labels)

    @staticmethod
    def of(labels: list[str]) -> Alphabet:
        """The alphabet of saved labels (a checkpoint's): a BytesAlphabet for byte labels."""
        return BytesAlphabet() if is_byte_labels(labels) else Alphabet(labels)

    @classmethod
    def from_file(cls, path: str | Path) -> Alphabet:
        """Read DeepSpeech's alphabet.txt: one label per line, `#` comments, `\\#` is `#`."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            raise AlphabetError(f"{path}: alphabet file not found; check the path") from None
        except UnicodeDecodeError:
            raise AlphabetError(f"{path}: not UTF-8; save the alphabet as UTF-8") from None
        labels = []
        for line in lines:
            line = line.rstrip("\r")
            if line.startswith("#") or line == "":
                continue
            labels.append("#" if line == "\\#" else line)
        if not labels:
            raise AlphabetError(f"{path}: alphabet is empty; list one character per line")
        return cls(labels)

    def save(self, path: str | Path) -> None:
        lines = ["# Each line is one label; a line with one space is the space label."]
        lines += ["\\#" if label == "#" else label for label in self.labels]
        atomic_write(Path(path), "\n".join(lines) + "\n")

    def missing(self, text: str) -> list[str]:
        return sorted({ch for ch in text if ch not in self.index})

    def encode(self, text: str, source: str = "transcript") -> list[int]:
        missing = self.missing(text)
        if missing:
            shown = " ".join(repr(ch) for ch in missing)
            raise AlphabetError(
                f"{source}: characters {shown} are not in the alphabet; "
                "add them to alphabet.txt or remove them from the transcript"
            )
        return [self.index[ch] for ch in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.labels[i] for i in ids if i < len(self.labels))

    def serialize(self) -> bytes:
        """The client's binary alphabet: u16 count, then (u16 index, u16 length, utf-8)."""
        out = [struct.pack("<H", len(self.labels))]
        for i, label in enumerate(self.labels):
            raw = label.encode("utf-8")
            out.append(struct.pack("<HH", i, len(raw)) + raw)
        return b"".join(out)


class BytesAlphabet(Alphabet):
    """--bytes_output_mode's alphabet (UTF8Alphabet): label i is UTF-8 byte i + 1, blank
    255. Why a subclass: encoding, decoding and the serialized labels are byte-wise, and
    every transcript can be encoded (dstorch.bytes_mode)."""

    def __init__(self) -> None:
        super().__init__(BYTE_LABELS)

    def missing(self, text: str) -> list[str]:
        return ["\0"] if "\0" in text else []

    def encode(self, text: str, source: str = "transcript") -> list[int]:
        labels = encode_bytes(text)
        if labels is None:
            raise AlphabetError(f"{source}: a NUL character cannot be spelt in bytes; remove it")
        return labels

    def decode(self, ids: list[int]) -> str:
        return bytes_text(label_bytes(i for i in ids if i < len(self.labels)))

    def save(self, path: str | Path) -> None:
        raise AlphabetError(f"{path}: a bytes output mode model has no alphabet.txt")

    def serialize(self) -> bytes:
        """UTF8Alphabet::Serialize: every label is its one raw byte (not UTF-8 encoded)."""
        out = [struct.pack("<H", len(self.labels))]
        out += [struct.pack("<HHB", i, 1, i + 1) for i in range(len(self.labels))]
        return b"".join(out)


def load_alphabet(alphabet_config_path: str | Path, bytes_output_mode: bool) -> Alphabet:
    """The trainer's alphabet: bytes (the file is then ignored, as in DeepSpeech) or the file."""
    return BytesAlphabet() if bytes_output_mode else Alphabet.from_file(alphabet_config_path)
