"""Build and read DeepSpeech 0.9.3 external scorers (.scorer).

A scorer is a KenLM binary LM built without vocabulary strings, followed by the
"TRIE" header (magic, version 6, UTF-8 flag, default alpha/beta) and an aligned
OpenFST ConstFst vocabulary trie (see dstorch.lm.fst). The LM is either KenLM's ``lmplz``
estimate (LM_MODE=open) or the command-strict ARPA of dstorch.lm.arpa (LM_MODE=commands),
made binary with KenLM's ``build_binary`` (scripts/build_kenlm.sh).
"""

from __future__ import annotations

import mmap
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dstorch.bytes_mode import codepoint_sentence
from dstorch.config import LM_COMMANDS, LM_OPEN
from dstorch.errors import DstorchError
from dstorch.fs import SOURCE_ROOT, atomic_target
from dstorch.lm.arpa import write_command_arpa
from dstorch.lm.fst import (
    FST_MAGIC,
    ConstFst,
    FstFormatError,
    build_word_acceptor,
    read_const_fst,
    write_const_fst,
)

TRIE_MAGIC = 0x54524945  # the C++ multichar constant 'TRIE'; bytes "EIRT" on disk
TRIE_VERSION = 6
_HEADER = struct.Struct("<ii?dd")  # packed: magic, version, utf8, alpha, beta
DEFAULT_ALPHA = 0.931289039105002
DEFAULT_BETA = 1.1834137581510284
KENLM_BINARY_MAGIC = b"mmap lm "
SPECIAL_TOKENS = ("<s>", "</s>", "<unk>")
KENLM_MAX_ORDER = 6  # KenLM's default compiled maximum, used by the 0.9.3 client too
# Default alpha/beta stored in a command-strict scorer (LM_MODE=commands) when it is not
# tuned: what the strict-scorer probe used. Strictness needs alpha well above 0, because a
# word outside the commands costs about -23 * alpha (ln); see dstorch.lm.arpa.
COMMANDS_ALPHA = 2.0
COMMANDS_BETA = 2.0


def trie_header(utf8: bool, alpha: float, beta: float) -> bytes:
    """The TRIE header the client reads after the KenLM model (its default alpha/beta)."""
    return _HEADER.pack(TRIE_MAGIC, TRIE_VERSION, utf8, alpha, beta)


class ScorerError(DstorchError, ValueError):
    """Bad input for building a scorer, or a malformed .scorer file."""


@dataclass
class ScorerFile:
    """Parsed scorer package: the LM occupies bytes [0, lm_size)."""

    path: Path
    lm_size: int
    utf8: bool
    alpha: float
    beta: float
    fst: ConstFst


def choose_order(sentences: Sequence[str]) -> int:
    """N-gram order for short commands: max words per sentence + 1, clamped to [2, 5]."""
    longest = max((len(s.split()) for s in sentences), default=1)
    return max(2, min(longest + 1, 5))


def find_kenlm_bin(kenlm_bin: str | os.PathLike | None = None) -> Path:
    """Directory holding ``lmplz`` and ``build_binary``.

    Looks at ``kenlm_bin``, $DSTORCH_KENLM_BIN, build/kenlm/bin in the repo, then $PATH.
    """
    candidates = [kenlm_bin, os.environ.get("DSTORCH_KENLM_BIN"), SOURCE_ROOT / "build/kenlm/bin"]
    for cand in candidates:
        if cand and all((Path(cand) / exe).is_file() for exe in ("lmplz", "build_binary")):
            return Path(cand)
    lmplz = shutil.which("lmplz")
    if lmplz and shutil.which("build_binary"):
        return Path(lmplz).parent
    raise ScorerError(
        "KenLM lmplz/build_binary not found; run scripts/build_kenlm.sh "
        "or set DSTORCH_KENLM_BIN to their directory"
    )


def _clean_sentences(sentences: Iterable[str], labels: Sequence[str], utf8: bool) -> list[str]:
    """Whitespace-normalised sentences; every character must be in the alphabet."""
    allowed = set(labels)
    cleaned = []
    for i, sentence in enumerate(sentences):
        text = " ".join(str(sentence).split())
        if not text:
            continue
        bad = sorted({c for c in text if c not in allowed}) if not utf8 else []
        if bad:
            raise ScorerError(
                f"sentence {i} ({text[:40]!r}) has characters outside the "
                f"alphabet: {''.join(bad)!r}; fix the transcript or the alphabet"
            )
        if any(w in SPECIAL_TOKENS for w in text.split()):
            raise ScorerError(
                f"sentence {i} contains a reserved KenLM token "
                f"({'/'.join(SPECIAL_TOKENS)}); remove it"
            )
        cleaned.append(text)
    if not cleaned:
        raise ScorerError(
            "no sentences to build the scorer from; pass at least one non-empty transcript"
        )
    return cleaned


def word_labels(word: str, labels: Sequence[str], utf8: bool) -> list[int] | None:
    """FST labels (alphabet index + 1) for one vocabulary word, or None if unencodable.

    Non-UTF-8 mode appends the space label, as add_word_to_dictionary does; UTF-8
    mode spells the word in bytes (label = byte value, i.e. byte - 1 + 1).
    """
    if utf8:
        return list(word.encode("utf-8"))
    index = {lab: i + 1 for i, lab in enumerate(labels)}
    out = [index.get(c) for c in word]
    if None in out:
        return None
    return out + [index[" "]]


def vocabulary_fst(words: Iterable[str], labels: Sequence[str], utf8: bool = False) -> ConstFst:
    """Vocabulary trie as DeepSpeech's fill_dictionary builds it (skips unencodable words)."""
    if not utf8 and " " not in labels:
        raise ScorerError(
            "the alphabet has no space label; add a line holding one space "
            "to alphabet.txt (or build a UTF-8 scorer)"
        )
    encoded = (word_labels(w, labels, utf8) for w in set(words) if w not in SPECIAL_TOKENS)
    return build_word_acceptor(e for e in encoded if e)


def spellable(words: Iterable[str], labels: Sequence[str], utf8: bool) -> set[str]:
    """The garbage words a decoder can spell (UTF-8 scorer: their codepoints)."""
    split = {w for line in words for w in line.split()}
    if utf8:
        return {cp for w in split for cp in codepoint_sentence(w).split()}
    return {w for w in split if w not in SPECIAL_TOKENS and word_labels(w, labels, utf8)}


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ScorerError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")


def build_lm_binary(corpus: Path, out: Path, order: int, kenlm_bin: Path, tmp: Path) -> None:
    """lmplz (no pruning, discount fallback for tiny corpora) then build_binary -v trie."""
    arpa = tmp / "lm.arpa"
    _run(
        [
            str(kenlm_bin / "lmplz"),
            "-o",
            str(order),
            "--discount_fallback",
            "-S",
            "10%",
            "-T",
            str(tmp),
            "--text",
            str(corpus),
            "--arpa",
            str(arpa),
        ],
        "lmplz",
    )
    arpa_to_binary(arpa, out, kenlm_bin, tmp)


def arpa_to_binary(arpa: Path, out: Path, kenlm_bin: Path, tmp: Path) -> None:
    """build_binary -v trie: no vocabulary strings, so the TRIE header sits right at the
    end of the search data, where the client looks for it."""
    _run(
        [str(kenlm_bin / "build_binary"), "-v", "-T", str(tmp), "trie", str(arpa), str(out)],
        "build_binary",
    )


def write_trie_section(f, fst: ConstFst, utf8: bool, alpha: float, beta: float) -> None:
    """Append header + aligned FST at the current end of ``f`` (opened 'ab' / 'r+b')."""
    f.write(trie_header(utf8, alpha, beta))
    write_const_fst(f, fst)


def build_scorer(
    sentences: Sequence[str],
    alphabet_labels: Sequence[str],
    out_path: str | os.PathLike,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
    utf8: bool = False,
    kenlm_bin: str | os.PathLike | None = None,
    extra_text: str | os.PathLike | None = None,
    order: int | None = None,
    mode: str = LM_OPEN,
    garbage: Iterable[str] = (),
    escape: float = 0.0,
) -> Path:
    """Build a .scorer from transcripts (+ optional extra text file, one sentence a line).

    ``alphabet_labels``: the model's labels in index order (space included).
    ``utf8``: a UTF-8 scorer for a bytes output mode model: the LM's words are the
    codepoints of the sentences (spaces dropped), the vocabulary trie spells them in bytes.
    ``mode``: LM_OPEN estimates the LM with lmplz (``order`` or choose_order's); LM_COMMANDS
    writes the command-strict LM of dstorch.lm.arpa, whose sentences are all the lines;
    with ``garbage`` words (LM_COMMANDS only) it gains their out-of-grammar path at
    ``escape`` (log10), and the trie their spellable ones (the others are dropped).
    Words of ``extra_text`` that the alphabet cannot spell stay in the LM but not in
    the vocabulary trie, as generate_scorer_package does. Returns ``out_path``.
    """
    cleaned = _clean_sentences(sentences, alphabet_labels, utf8)
    extra_lines: list[str] = []
    if extra_text is not None:
        try:
            extra_lines = Path(extra_text).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ScorerError(f"cannot read extra LM text {extra_text}: {exc}") from exc
    if mode not in (LM_OPEN, LM_COMMANDS):
        raise ScorerError(f"LM mode {mode!r} unknown; use {LM_OPEN} or {LM_COMMANDS}")
    order = order or choose_order([codepoint_sentence(c) for c in cleaned] if utf8 else cleaned)
    if not 2 <= order <= KENLM_MAX_ORDER:
        raise ScorerError(
            f"LM order {order} unsupported; use 2..{KENLM_MAX_ORDER} (KenLM's compiled maximum)"
        )
    bins = find_kenlm_bin(kenlm_bin)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    corpus_lines = cleaned + [" ".join(line.split()) for line in extra_lines if line.strip()]
    if utf8:  # UTF-8 scorer: every codepoint is a word (bytes output mode)
        corpus_lines = [cp for cp in map(codepoint_sentence, corpus_lines) if cp]
    words = {w for line in corpus_lines for w in line.split()}
    junk = spellable(garbage, alphabet_labels, utf8) if mode == LM_COMMANDS else set()
    fst = vocabulary_fst(words | junk, alphabet_labels, utf8)
    with tempfile.TemporaryDirectory(prefix="dstorch-lm-") as tmp_dir:
        tmp = Path(tmp_dir)
        corpus = tmp / "corpus.txt"
        corpus.write_text("\n".join(corpus_lines) + "\n", encoding="utf-8")
        lm = tmp / "lm.binary"
        if mode == LM_COMMANDS:
            arpa = tmp / "commands.arpa"
            write_command_arpa(corpus_lines, arpa, KENLM_MAX_ORDER, junk, escape)
            arpa_to_binary(arpa, lm, bins, tmp)
        else:
            build_lm_binary(corpus, lm, order, bins, tmp)
        with atomic_target(out) as partial:  # never a half-written scorer under its name
            shutil.copyfile(lm, partial)
            with open(partial, "ab") as f:
                write_trie_section(f, fst, utf8, alpha, beta)
    return out


def _find_trie_header(data: mmap.mmap, path: Path) -> int:
    """Offset of the TRIE header: the KenLM end-of-search offset.

    Rather than re-implementing KenLM's size arithmetic for every model type, look
    for the first header (magic + version 6) directly followed by the FST magic;
    read_scorer then checks that the FST parses and ends exactly at end of file.
    """
    needle = struct.pack("<ii", TRIE_MAGIC, TRIE_VERSION)
    fst_magic = struct.pack("<i", FST_MAGIC)
    pos = data.find(needle)
    while pos >= 0:
        if data[pos + _HEADER.size : pos + _HEADER.size + 4] == fst_magic:
            return pos
        pos = data.find(needle, pos + 1)
    if data.find(struct.pack("<i", TRIE_MAGIC)) >= 0:
        raise ScorerError(
            f"{path}: scorer trie has an unsupported version (want "
            f"{TRIE_VERSION}); rebuild it with dstorch"
        )
    raise ScorerError(
        f"{path}: no vocabulary trie after the KenLM model; rebuild it with "
        "dstorch (a bare KenLM binary is not a scorer)"
    )


def read_scorer(path: str | os.PathLike) -> ScorerFile:
    """Parse a .scorer: check the KenLM binary magic, the TRIE header and the FST."""
    path = Path(path)
    try:
        fobj = open(path, "rb")
    except OSError as exc:
        raise ScorerError(f"cannot open scorer {path}: {exc.strerror}") from exc
    with fobj:
        head = fobj.read(len(KENLM_BINARY_MAGIC))
        if head.startswith(b"\\data\\") or head.startswith(b"\n\\data"):
            raise ScorerError(
                f"{path} is an ARPA file; convert it with build_binary -v and "
                "package it with dstorch"
            )
        if head != KENLM_BINARY_MAGIC:
            raise ScorerError(f"{path} is not a KenLM binary scorer; rebuild it with dstorch")
        with mmap.mmap(fobj.fileno(), 0, access=mmap.ACCESS_READ) as data:
            start = _find_trie_header(data, path)
        fobj.seek(start)
        magic, version, utf8, alpha, beta = _HEADER.unpack(fobj.read(_HEADER.size))
        try:
            fst = read_const_fst(fobj)
        except FstFormatError as exc:
            raise ScorerError(f"{path}: bad vocabulary trie: {exc}; rebuild the scorer") from exc
        if fobj.read(1):
            raise ScorerError(
                f"{path}: trailing bytes after the vocabulary trie; rebuild the scorer"
            )
    return ScorerFile(path, start, bool(utf8), alpha, beta, fst)


# KenLM returns log10 probabilities; DeepSpeech divides by this float constant.
_LOG10_E = float(np.float32(0.4342944819))
OOV_SCORE = -1000.0


class Scorer:
    """A loaded .scorer for decoding: KenLM queries (``kenlm`` package) + vocabulary trie.

    ``alpha``/``beta`` default to the values stored in the file (like the client);
    assign them to mimic DS_SetScorerAlphaBeta.
    """

    def __init__(
        self, path: str | os.PathLike, alpha: float | None = None, beta: float | None = None
    ):
        self.file = read_scorer(path)
        try:
            import kenlm
        except ImportError as exc:
            raise ScorerError(
                "decoding with a scorer needs the kenlm Python package; pip install kenlm"
            ) from exc
        config = kenlm.Config()
        config.load_method = kenlm.LoadMethod.LAZY
        try:
            self.lm = kenlm.Model(str(path), config)
        except (OSError, RuntimeError) as exc:
            raise ScorerError(
                f"{path}: KenLM cannot load the model: {exc}; rebuild the scorer"
            ) from exc
        self._kenlm = kenlm
        self.order = int(self.lm.order)
        self.utf8 = self.file.utf8
        self.alpha = self.file.alpha if alpha is None else float(alpha)
        self.beta = self.file.beta if beta is None else float(beta)
        self._cache: dict[tuple[tuple[str, ...], bool], float] = {}
        # Decoders' LM term caches by their settings (labels, alpha, hot words), kept here
        # so that later searches with this scorer do not query KenLM again.
        self.decoder_caches: dict[tuple, list] = {}

    def clear_caches(self) -> None:
        """Forget every cached LM score (ours and the decoders'): the official client keeps
        no such cache across clips, so honest timings start from here."""
        self._cache.clear()
        self.decoder_caches.clear()

    def log_cond_prob(self, words: tuple[str, ...], bos: bool) -> float:
        """Natural-log P(last word | preceding words), as Scorer::get_log_cond_prob.

        bos: start from <s> instead of the null context. Any OOV word -> OOV_SCORE.
        """
        key = (words, bos)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        state, out = self._kenlm.State(), self._kenlm.State()
        if bos:
            self.lm.BeginSentenceWrite(state)
        else:
            self.lm.NullContextWrite(state)
        result = 0.0
        for word in words:
            if word not in self.lm:
                result = OOV_SCORE
                break
            result = self.lm.BaseScore(state, word, out)
            state, out = out, state
        else:
            result = result / _LOG10_E
        self._cache[key] = result
        return result


# UTF-8 ("bytes output") mode: scored units are codepoints, labels are byte - 1.
def child_units(units: tuple[bytes, ...], byte: int, order: int) -> tuple[bytes, ...]:
    """Trailing codepoints after appending ``byte`` (a new one starts at a lead byte)."""
    if (byte & 0xC0) != 0x80 or not units:
        units = units + (bytes([byte]),)
    else:
        units = units[:-1] + (units[-1] + bytes([byte]),)
    return units[-order:]


def completes_codepoint(units: tuple[bytes, ...]) -> bool:
    """Scorer::is_scoring_boundary in UTF-8 mode: the last codepoint has all its bytes."""
    if not units:
        return False
    lead = units[-1][0]
    # Lead-byte patterns 11110xxx, 1110xxxx, 110xxxxx, 0xxxxxxx -> sequence length.
    for shift, pattern, need in ((3, 0x1E, 4), (4, 0x0E, 3), (5, 0x06, 2), (7, 0x00, 1)):
        if lead >> shift == pattern:
            return len(units[-1]) == need
    return False  # invalid lead byte: the client never scores here either


def unit_words(units: tuple[bytes, ...]) -> tuple[str, ...]:
    return tuple(u.decode("utf-8", "replace") for u in units)
