"""ctypes bindings to the official DeepSpeech 0.9.3 inference library (libdeepspeech.so).

The library is a plain C API with its TensorFlow runtime inside, so any Python can call it.
It is the judge of whether an exported model really works: tests and `dstorch` evaluation
run exported graphs through it. `fetch_library` gets it from the `deepspeech==0.9.3` wheel
through pip (the machine's configured index); nothing fetched belongs in the repository.
The `deepspeech-tflite==0.9.3` wheel holds the same C API on the TFLite runtime, the judge
of our .tflite export (`TFLITE_CLIENT`).
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import sys
import tempfile
import zipfile
from ctypes import POINTER, byref, c_char_p, c_double, c_float, c_int, c_short, c_uint, c_void_p
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dstorch.bytes_mode import bytes_text
from dstorch.errors import DstorchError
from dstorch.fs import atomic_target, file_sha256

WHEEL_MEMBER = "deepspeech/lib/libdeepspeech.so"


@dataclass(frozen=True)
class ClientPackage:
    """One flavour of the official client: the wheel pip fetches and the pinned hashes.

    Both wheels hold the same C API in `WHEEL_MEMBER`: `deepspeech` runs .pb/.pbmm on a
    TensorFlow 2.3 runtime, `deepspeech-tflite` runs .tflite on the TFLite runtime.
    """

    requirement: str  # what pip downloads
    wheel_glob: str  # the downloaded file
    wheel_sha256: str  # of the cp39 manylinux1_x86_64 wheel
    library_sha256: str  # of WHEEL_MEMBER inside it
    cache: Path  # default folder of the unpacked library (git-ignored build/)


TF_CLIENT = ClientPackage(
    "deepspeech==0.9.3",
    "deepspeech-0.9.3-*.whl",
    "e2e7295ba4997ab86b4fb1bd7a784319dfcdb508ce26638063515334c11fa05a",
    "2c54da65e8eb87c45afd1db34a112f40b2db7ca29352e057f65134ddbbde27a3",
    Path("build/deepspeech-0.9.3"),
)
TFLITE_CLIENT = ClientPackage(
    "deepspeech-tflite==0.9.3",
    "deepspeech_tflite-0.9.3-*.whl",
    "46b76baf8ea9b5d43c2d8081b1c4a5aa5e45407016ac8365a0bc859072c4f748",
    "6d0178ced7c690afd07d8a8b6e7e39fa85767e23fb3bd2156a28292d05bad3e9",
    Path("build/deepspeech-tflite-0.9.3"),
)
PIP_ARGS = [
    "download",
    "--no-deps",
    "--only-binary=:all:",
    "--python-version",
    "3.9",
    "--implementation",
    "cp",
    "--platform",
    "manylinux1_x86_64",
]


class ClientError(RuntimeError):
    """A non-zero DeepSpeech return code; the message carries the library's text.

    No DstorchError: the client judges our exports, so here it means a bug; where a user's
    file is at fault (dstorch transcribe --client official), the caller says so.
    """

    def __init__(self, code: int, message: str, action: str = ""):
        self.code = code
        where = f"{action}: " if action else ""
        super().__init__(f"{where}{message} (DeepSpeech error 0x{code:04X})")


class LibraryError(DstorchError, RuntimeError):
    """The pinned client library cannot be fetched; the message names the fix."""


def fetch_library(cache_dir: Path | None = None, client: ClientPackage = TF_CLIENT) -> Path:
    """Download the client's wheel with pip and unpack its .so; idempotent.

    The wheel and the library are pinned by sha256: this library is the judge of our
    exports, so an index serving another file (or a planted cache) must not pass.
    cache_dir None: client.cache. -> cache_dir / libdeepspeech.so
    """
    cache_dir = Path(cache_dir or client.cache)
    target = cache_dir / "libdeepspeech.so"
    if target.is_file() and file_sha256(target) == client.library_sha256:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        cmd = [sys.executable, "-m", "pip", *PIP_ARGS, client.requirement, "--dest", tmp, "-q"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob(client.wheel_glob))
        if result.returncode != 0 or not wheels:
            raise LibraryError(
                f"could not download {client.requirement} with pip (needs access to a package "
                f"index): {result.stderr.strip()[-500:]}"
            )
        found = file_sha256(wheels[0])
        if found != client.wheel_sha256:
            raise LibraryError(
                f"{wheels[0].name} has sha256 {found}, not the pinned {client.wheel_sha256}; "
                "the package index served another file: check the index configured for pip"
            )
        with atomic_target(target, mode=0o755) as partial:
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(WHEEL_MEMBER) as src:
                with open(partial, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            if file_sha256(partial) != client.library_sha256:
                raise LibraryError(f"{WHEEL_MEMBER} in {wheels[0].name} is not the pinned library")
    return target


class TokenMetadata(ctypes.Structure):
    _fields_ = [("text", c_char_p), ("timestep", c_uint), ("start_time", c_float)]


class CandidateTranscript(ctypes.Structure):
    _fields_ = [
        ("tokens", POINTER(TokenMetadata)),
        ("num_tokens", c_uint),
        ("confidence", c_double),
    ]


class Metadata(ctypes.Structure):
    _fields_ = [("transcripts", POINTER(CandidateTranscript)), ("num_transcripts", c_uint)]


_SIGNATURES = {
    # name: (restype, argtypes); pointers to opaque states are c_void_p.
    "DS_CreateModel": (c_int, [c_char_p, POINTER(c_void_p)]),
    "DS_FreeModel": (None, [c_void_p]),
    "DS_GetModelBeamWidth": (c_uint, [c_void_p]),
    "DS_SetModelBeamWidth": (c_int, [c_void_p, c_uint]),
    "DS_GetModelSampleRate": (c_int, [c_void_p]),
    "DS_EnableExternalScorer": (c_int, [c_void_p, c_char_p]),
    "DS_DisableExternalScorer": (c_int, [c_void_p]),
    "DS_SetScorerAlphaBeta": (c_int, [c_void_p, c_float, c_float]),
    "DS_AddHotWord": (c_int, [c_void_p, c_char_p, c_float]),
    "DS_EraseHotWord": (c_int, [c_void_p, c_char_p]),
    "DS_ClearHotWords": (c_int, [c_void_p]),
    "DS_SpeechToText": (c_void_p, [c_void_p, POINTER(c_short), c_uint]),
    "DS_SpeechToTextWithMetadata": (
        POINTER(Metadata),
        [c_void_p, POINTER(c_short), c_uint, c_uint],
    ),
    "DS_CreateStream": (c_int, [c_void_p, POINTER(c_void_p)]),
    "DS_FeedAudioContent": (None, [c_void_p, POINTER(c_short), c_uint]),
    "DS_IntermediateDecode": (c_void_p, [c_void_p]),
    "DS_FinishStream": (c_void_p, [c_void_p]),
    "DS_FinishStreamWithMetadata": (POINTER(Metadata), [c_void_p, c_uint]),
    "DS_FreeStream": (None, [c_void_p]),
    "DS_FreeMetadata": (None, [POINTER(Metadata)]),
    "DS_FreeString": (None, [c_void_p]),
    "DS_Version": (c_void_p, []),
    "DS_ErrorCodeToErrorMessage": (c_void_p, [c_int]),
}

_LOADED: dict[Path, ctypes.CDLL] = {}


def load_library(lib_path: Path | None = None) -> ctypes.CDLL:
    """Load a libdeepspeech.so once per process (each embeds a whole TF or TFLite runtime).

    The TF and TFLite flavours can live side by side: ctypes loads each RTLD_LOCAL, so each
    resolves the DS_* symbols and its runtime's to its own copy.
    lib_path None: the first library loaded, else `fetch_library()` (the TF flavour).
    """
    if lib_path is None:
        if _LOADED:
            return next(iter(_LOADED.values()))
        lib_path = fetch_library()
    path = Path(lib_path).resolve()
    if path in _LOADED:
        return _LOADED[path]
    lib = ctypes.CDLL(str(path))
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    _LOADED[path] = lib
    return lib


def _take_string(lib: ctypes.CDLL, ptr: int | None) -> str:
    """Copy a library-owned char* into Python and free it."""
    if not ptr:
        raise ClientError(0x3003, "the library returned no result; see its stderr")
    try:
        return bytes_text(ctypes.string_at(ptr))
    finally:
        lib.DS_FreeString(ptr)


def library_version(lib_path: Path | None = None) -> str:
    lib = load_library(lib_path)
    return _take_string(lib, lib.DS_Version())


def check(lib: ctypes.CDLL, code: int, action: str) -> None:
    """Raise ClientError for a non-zero return code."""
    if code != 0:
        raise ClientError(code, _take_string(lib, lib.DS_ErrorCodeToErrorMessage(code)), action)


@dataclass
class Token:
    text: str
    timestep: int  # 20 ms output steps
    start_time: float  # seconds


@dataclass
class Transcript:
    text: str
    confidence: float  # the decoder's log score of this candidate
    tokens: list[Token]


def _pcm(pcm: np.ndarray) -> tuple[np.ndarray, ctypes._Pointer, int]:
    """int16 [N] -> (contiguous array kept alive, short*, N)."""
    pcm = np.asarray(pcm)
    if pcm.ndim != 1 or pcm.dtype != np.int16:
        raise ValueError(f"need mono int16 PCM [N], got {pcm.dtype} {pcm.shape}")
    pcm = np.ascontiguousarray(pcm)
    return pcm, pcm.ctypes.data_as(POINTER(c_short)), len(pcm)


def _token_text(raw: bytes) -> str:
    """A token's text; a bytes output mode token that is no UTF-8 on its own is shown as
    its label (chr(byte), dstorch.bytes_mode)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _take_metadata(lib: ctypes.CDLL, ptr: ctypes._Pointer) -> list[Transcript]:
    """Copy a Metadata* into Python objects and free it."""
    if not ptr:
        raise ClientError(0x3003, "the library returned no metadata; see its stderr")
    try:
        out = []
        meta = ptr.contents
        for i in range(meta.num_transcripts):
            cand = meta.transcripts[i]
            raw = [cand.tokens[j] for j in range(cand.num_tokens)]
            tokens = [Token(_token_text(t.text), t.timestep, t.start_time) for t in raw]
            text = bytes_text(b"".join(t.text for t in raw))
            out.append(Transcript(text, cand.confidence, tokens))
        return out
    finally:
        lib.DS_FreeMetadata(ptr)


class Stream:
    """A streaming recognition: feed int16 chunks, then `finish`. Frees itself at finish."""

    def __init__(self, lib: ctypes.CDLL, model: c_void_p):
        self._lib, self._ptr = lib, c_void_p()
        check(lib, lib.DS_CreateStream(model, byref(self._ptr)), "DS_CreateStream")

    def _live(self) -> c_void_p:
        if not self._ptr:
            raise ClientError(0x3004, "stream already finished or freed", "Stream")
        return self._ptr

    def feed(self, pcm: np.ndarray) -> None:
        """Append int16 samples [N]."""
        keep, buf, n = _pcm(pcm)
        self._lib.DS_FeedAudioContent(self._live(), buf, n)
        del keep

    def intermediate_decode(self) -> str:
        return _take_string(self._lib, self._lib.DS_IntermediateDecode(self._live()))

    def finish(self) -> str:
        """Flush, decode and free the stream (the library frees it in FinishStream)."""
        ptr, self._ptr = self._live(), c_void_p()
        return _take_string(self._lib, self._lib.DS_FinishStream(ptr))

    def finish_with_metadata(self, num_results: int = 1) -> list[Transcript]:
        ptr, self._ptr = self._live(), c_void_p()
        return _take_metadata(self._lib, self._lib.DS_FinishStreamWithMetadata(ptr, num_results))

    def free(self) -> None:
        """Abandon an unfinished stream."""
        if self._ptr:
            self._lib.DS_FreeStream(self._ptr)
            self._ptr = c_void_p()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()


class OfficialModel:
    """A model loaded by the official client library: with the TF flavour a .pb/.pbmm (a
    path containing `.pbmm` is memory-mapped, anything else is read as a plain GraphDef),
    with the TFLite flavour (`fetch_library(client=TFLITE_CLIENT)`) a .tflite."""

    def __init__(self, model_path: str | Path, lib_path: Path | None = None):
        self._lib = load_library(lib_path)
        self._ptr = c_void_p()
        code = self._lib.DS_CreateModel(str(model_path).encode(), byref(self._ptr))
        check(self._lib, code, f"DS_CreateModel({model_path})")

    def _live(self) -> c_void_p:
        if not self._ptr:
            raise ClientError(0x1000, "model is closed", "OfficialModel")
        return self._ptr

    @property
    def sample_rate(self) -> int:
        return self._lib.DS_GetModelSampleRate(self._live())

    @property
    def beam_width(self) -> int:
        return self._lib.DS_GetModelBeamWidth(self._live())

    def set_beam_width(self, beam_width: int) -> None:
        code = self._lib.DS_SetModelBeamWidth(self._live(), beam_width)
        check(self._lib, code, "DS_SetModelBeamWidth")

    def enable_scorer(self, path: str | Path) -> None:
        code = self._lib.DS_EnableExternalScorer(self._live(), str(path).encode())
        check(self._lib, code, f"DS_EnableExternalScorer({path})")

    def disable_scorer(self) -> None:
        check(
            self._lib, self._lib.DS_DisableExternalScorer(self._live()), "DS_DisableExternalScorer"
        )

    def set_scorer_alpha_beta(self, alpha: float, beta: float) -> None:
        code = self._lib.DS_SetScorerAlphaBeta(self._live(), alpha, beta)
        check(self._lib, code, "DS_SetScorerAlphaBeta")

    def add_hot_word(self, word: str, boost: float) -> None:
        code = self._lib.DS_AddHotWord(self._live(), word.encode("utf-8"), boost)
        check(self._lib, code, f"DS_AddHotWord({word!r})")

    def erase_hot_word(self, word: str) -> None:
        code = self._lib.DS_EraseHotWord(self._live(), word.encode("utf-8"))
        check(self._lib, code, f"DS_EraseHotWord({word!r})")

    def clear_hot_words(self) -> None:
        check(self._lib, self._lib.DS_ClearHotWords(self._live()), "DS_ClearHotWords")

    def stt(self, pcm: np.ndarray) -> str:
        """Transcribe int16 PCM [N] at `sample_rate`."""
        keep, buf, n = _pcm(pcm)
        text = _take_string(self._lib, self._lib.DS_SpeechToText(self._live(), buf, n))
        del keep
        return text

    def stt_with_metadata(self, pcm: np.ndarray, num_results: int = 1) -> list[Transcript]:
        """Up to num_results candidates, best first, with per-token timing."""
        keep, buf, n = _pcm(pcm)
        meta = self._lib.DS_SpeechToTextWithMetadata(self._live(), buf, n, num_results)
        del keep
        return _take_metadata(self._lib, meta)

    def stream(self) -> Stream:
        return Stream(self._lib, self._live())

    def close(self) -> None:
        if self._ptr:
            self._lib.DS_FreeModel(self._ptr)
            self._ptr = c_void_p()

    def __enter__(self) -> OfficialModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_ptr", None):
            self.close()
