"""Turn any readable audio file into the 16 kHz mono 16-bit PCM WAV DeepSpeech reads.

Decoders are tried in order: libsndfile (soundfile; WAV, FLAC, OGG, MP3, AIFF, ...) with
resampling in NumPy, so the output does not depend on which tools are installed; then the
`sox` command (AMR, GSM, ...); then pydub, which uses ffmpeg (M4A, AAC, WebM, ...).
"""

from __future__ import annotations

import shutil
import subprocess
import warnings
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from dstorch.features import SAMPLE_RATE
from dstorch.fs import StorageError
from dstorch.prepare.problems import FileProblem
from dstorch.prepare.registry import atomic_target
from dstorch.wav import SOX_TARGET, is_target_format

# Speech is refused below this level (the RMS of its loudest 30 ms, dB below full scale):
# quiet speech far from a microphone is around -45 dBFS, while a second of +-1 LSB of
# near-silence (-90 dBFS) was trained as a command before.
QUIETEST_DBFS = -60
LEVEL_FRAME = SAMPLE_RATE * 30 // 1000  # samples: 30 ms


@dataclass
class Converted:
    samples: int  # at 16 kHz
    silent: bool
    converted: bool  # False: the file already had the right format and was copied
    was: str  # the source format, for the "converted" message
    level_dbfs: float = 0.0  # RMS of the loudest 30 ms; -inf for digital silence


def convert(src: Path, dst: Path) -> Converted:
    """Write `src` to `dst` as 16 kHz mono 16-bit WAV (atomically); FileProblem if unusable."""
    if src.stat().st_size == 0:
        raise FileProblem("empty", "file is empty (0 bytes); re-record or remove it")
    _check_complete(src)
    if is_target_format(src):
        with atomic_target(dst) as tmp:
            shutil.copyfile(src, tmp)
        return _result(dst, False, "16 kHz mono 16-bit WAV")
    errors = []
    for decoder in (_with_soundfile, _with_sox, _with_pydub):
        try:
            was = decoder(src, dst)
        except (FileProblem, StorageError):
            raise  # a full disk is not the file's fault: stop, do not try another decoder
        except Exception as e:  # decoders fail in many library-specific ways; try the next
            errors.append(_reason(e))
            continue
        return _result(dst, True, was)
    # libsndfile's reason is the telling one; the fallbacks mostly say they could not help
    raise FileProblem(
        "unreadable", f"not readable as audio ({errors[0]}); re-export it as WAV or remove it"
    )


def _reason(error: Exception) -> str:
    """The last line of an error, without the file name the message line already has."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return lines[-1].rsplit("': ", 1)[-1].strip().rstrip(".")


def _result(dst: Path, converted: bool, was: str) -> Converted:
    data, _ = sf.read(str(dst), dtype="int16")
    if len(data) == 0:
        raise FileProblem("empty", f"no audio samples ({was}); re-record or remove it")
    return Converted(len(data), not np.any(data), converted, was, level_dbfs(data))


def level_dbfs(pcm: np.ndarray) -> float:
    """The RMS of the loudest LEVEL_FRAME samples of int16 pcm [N], in dBFS (a click
    of one sample does not make near-silence speech; -inf for digital silence)."""
    frames = len(pcm) // LEVEL_FRAME or 1
    blocks = np.resize(pcm.astype(np.float64), (frames, min(len(pcm), LEVEL_FRAME)))
    loudest = np.sqrt(np.mean(blocks**2, axis=1)).max() / 32768.0
    return float(20 * np.log10(loudest)) if loudest > 0 else float("-inf")


def _check_complete(src: Path) -> None:
    """FileProblem when a RIFF WAV holds less audio than its header announces: a copy
    or a recorder cut short; its length would otherwise be blamed on the transcript."""
    with open(src, "rb") as f:
        head = f.read(4096)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    at, block, rate = 12, 0, 0
    while at + 8 <= len(head):
        chunk, size = head[at : at + 4], int.from_bytes(head[at + 4 : at + 8], "little")
        if chunk == b"fmt " and at + 22 <= len(head):
            rate = int.from_bytes(head[at + 12 : at + 16], "little")
            block = int.from_bytes(head[at + 20 : at + 22], "little")
        if chunk == b"data":
            held = src.stat().st_size - (at + 8)
            if block and rate and 0 < size < 0xFFFFFFFF and held < size:  # 0, ~0: streamed
                raise FileProblem(
                    "truncated",
                    f"truncated: its header announces {size / block / rate:.2f} s but the file "
                    f"holds {held / block / rate:.2f} s; copy it again or re-export it",
                )
            return
        at += 8 + size + (size & 1)  # chunks are padded to an even size


def describe(info: sf._SoundFileInfo) -> str:
    bits = {
        "PCM_16": "16-bit",
        "PCM_24": "24-bit",
        "PCM_32": "32-bit",
        "PCM_U8": "8-bit",
        "PCM_S8": "8-bit",
        "FLOAT": "float",
        "DOUBLE": "float",
    }.get(info.subtype, "")
    channels = {1: "mono", 2: "stereo"}.get(info.channels, f"{info.channels}-channel")
    return " ".join(x for x in (f"{info.samplerate} Hz", channels, bits, info.format) if x)


def _with_soundfile(src: Path, dst: Path) -> str:
    info = sf.info(str(src))
    data, rate = sf.read(str(src), dtype="float64", always_2d=True)
    if len(data) == 0:
        raise FileProblem("empty", f"no audio samples ({describe(info)}); re-record it")
    mono = data.mean(axis=1)  # average the channels, as sox -c 1 does
    if rate != SAMPLE_RATE:
        step = gcd(SAMPLE_RATE, rate)
        mono = resample_poly(mono, SAMPLE_RATE // step, rate // step)
    pcm = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
    with atomic_target(dst) as tmp:
        sf.write(str(tmp), pcm, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return describe(info)


def _with_sox(src: Path, dst: Path) -> str:
    if not shutil.which("sox"):
        raise RuntimeError("sox is not installed")
    # -R: repeatable dither, so re-running gives byte-identical files
    with atomic_target(dst) as tmp:
        command = [
            "sox",
            "-R",
            "-V1",
            str(src),
            "-t",
            "wav",
            *SOX_TARGET,
            str(tmp),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip() or f"sox exited {result.returncode}")
        if sf.info(str(tmp)).frames == 0:
            raise FileProblem("empty", "no audio samples; re-record or remove it")
    return f"{src.suffix.lstrip('.').upper()} via sox"


def _with_pydub(src: Path, dst: Path) -> str:
    if not (shutil.which("ffmpeg") or shutil.which("avconv")) and src.suffix.lower() != ".wav":
        raise RuntimeError("ffmpeg is not installed")  # pydub decodes only WAV without it
    with warnings.catch_warnings():  # pydub warns about a missing ffmpeg even for WAV
        warnings.simplefilter("ignore")
        from pydub import AudioSegment  # optional: only needed for what ffmpeg decodes

        segment = AudioSegment.from_file(str(src))
    if len(segment.get_array_of_samples()) == 0:
        raise FileProblem("empty", "no audio samples; re-record or remove it")
    was = f"{segment.frame_rate} Hz {segment.channels}-channel {src.suffix.lstrip('.').upper()}"
    segment = segment.set_frame_rate(SAMPLE_RATE).set_channels(1).set_sample_width(2)
    with atomic_target(dst) as tmp:
        segment.export(str(tmp), format="wav")
    return f"{was} via pydub"
