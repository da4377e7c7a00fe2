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

from dstorch.audio import is_target_format as is_target_format  # re-exported
from dstorch.features import SAMPLE_RATE
from dstorch.fs import StorageError
from dstorch.prepare.registry import atomic_target
from dstorch.prepare.report import FileProblem


@dataclass
class Converted:
    samples: int  # at 16 kHz
    silent: bool
    converted: bool  # False: the file already had the right format and was copied
    was: str  # the source format, for the "converted" message


def convert(src: Path, dst: Path) -> Converted:
    """Write `src` to `dst` as 16 kHz mono 16-bit WAV (atomically); FileProblem if unusable."""
    if src.stat().st_size == 0:
        raise FileProblem("empty", "file is empty (0 bytes); re-record or remove it")
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
    return Converted(len(data), not np.any(data), converted, was)


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
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
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
