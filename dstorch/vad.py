"""Voice-activity trim: cut the silence or noise before and after a spoken command.

Real recordings often start a second or two before the speaker talks and stop a while
after. The official client hears all of it; the trim keeps only the span from the first to
the last stretch of speech that webrtcvad (Google's WebRTC VAD) finds, plus MARGIN seconds
at each end, so the model sees what it was trained on. Used by `dstorch transcribe
--vad_trim` and by prepare with VAD_TRIM=yes (on the copies in DATA_DIR only).

Audio is mono at 16 kHz: int16 samples, or floats in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dstorch.errors import DstorchError
from dstorch.features import SAMPLE_RATE  # webrtcvad takes 8/16/32/48 kHz; dstorch is 16 kHz

# 30 ms: the longest frame webrtcvad accepts (the steadiest decisions).
FRAME = SAMPLE_RATE * 30 // 1000  # samples
AGGRESSIVENESS = 3  # 0 (keeps most) .. 3 (strictest about what is speech)
# Seconds kept before the first and after the last speech frame: enough for the faint
# start and end of a word that webrtcvad misses; more of the padding hurt the official
# client (festival clips padded with silence, strict scorer: 0.05 s 86%, 0.1 s 92%, 0.15 s
# 89%, 0.25 s 67%, 0.5 s 69%; with room noise at 20 dB 64/67/72/56/50%, docs/experiments.md).
MARGIN = 0.15
# Speech stretches closer than this are one utterance: the pause between two words (or a
# stop consonant) must not end the command.
HANGOVER = 0.3  # seconds
# webrtcvad's own hangover makes even a blip of noise last 3 frames (90 ms); a run of
# "speech" shorter than this is such a blip, not a word ("yes" and "no" voice well over it).
MIN_RUN = 0.12  # seconds
# webrtcvad calls the first frames speech while its noise estimate settles (measured: the
# first 3 frames of silence or noise). Harmless to skip: MARGIN reaches back over them.
WARMUP = 0.15  # seconds


class VadError(DstorchError, ValueError):
    """Audio the VAD cannot take; the message says what it got and what it needs."""


def to_pcm16(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """int16 [N] from int16 or float (in [-1, 1]) mono audio [N]; VadError otherwise."""
    audio = np.asarray(audio)
    if sample_rate != SAMPLE_RATE:
        raise VadError(f"VAD trim needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz; resample it")
    if audio.ndim != 1:
        raise VadError(f"VAD trim needs mono audio [N], got shape {list(audio.shape)}")
    if audio.dtype == np.int16:
        return audio
    if not np.issubdtype(audio.dtype, np.floating):
        raise VadError(f"VAD trim needs int16 or float samples, got {audio.dtype}")
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)


def speech_frames(pcm: np.ndarray, aggressiveness: int = AGGRESSIVENESS) -> np.ndarray:
    """bool [N // FRAME]: webrtcvad's decision for each whole 30 ms frame of int16 pcm [N]
    (a last partial frame is not judged: webrtcvad takes only whole frames)."""
    import webrtcvad  # a C extension: loaded only when a trim is asked for

    if not 0 <= aggressiveness <= 3:
        raise VadError(f"VAD aggressiveness must be 0..3, got {aggressiveness}")
    vad = webrtcvad.Vad(aggressiveness)
    data = pcm.astype("<i2").tobytes()
    step = FRAME * 2  # bytes per frame
    count = len(pcm) // FRAME
    return np.array(
        [vad.is_speech(data[i * step : (i + 1) * step], SAMPLE_RATE) for i in range(count)],
        dtype=bool,
    )


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[(start, end)) of each run of True in flags [M]."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def utterances(flags: np.ndarray, hangover: int, min_run: int) -> list[tuple[int, int]]:
    """Frame spans [(start, end)) of speech in flags [M]: runs shorter than `min_run`
    frames are dropped (blips of noise), then runs closer than `hangover` frames are merged
    (the pauses inside a command)."""
    merged: list[tuple[int, int]] = []
    for start, end in runs(flags):
        if end - start < min_run:
            continue
        if merged and start - merged[-1][1] <= hangover:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def speech_span(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    aggressiveness: int = AGGRESSIVENESS,
    margin: float = MARGIN,
) -> tuple[int, int] | None:
    """Sample span [start, end) of audio [N] from the first to the last utterance, widened
    by `margin` seconds each side (clipped to the audio); None when there is no speech."""
    pcm = to_pcm16(audio, sample_rate)
    per_second = SAMPLE_RATE / FRAME
    flags = speech_frames(pcm, aggressiveness)
    warmup, hangover = round(WARMUP * per_second), round(HANGOVER * per_second)
    flags[:warmup] = False
    found = utterances(flags, hangover, round(MIN_RUN * per_second))
    if not found:
        return None
    pad = round(margin * SAMPLE_RATE)
    start = max(0, found[0][0] * FRAME - pad)
    if found[0][0] - warmup <= hangover:  # speech may have begun in the warm-up: keep it
        start = 0
    end = min(len(pcm), found[-1][1] * FRAME + pad)
    return start, end


def trim(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    aggressiveness: int = AGGRESSIVENESS,
    margin: float = MARGIN,
) -> np.ndarray:
    """audio [N] (int16 or float) cut to its speech_span, same dtype [M <= N]; unchanged
    when no speech is found (better an untrimmed command than an empty one)."""
    span = speech_span(audio, sample_rate, aggressiveness, margin)
    if span is None:
        return np.asarray(audio)
    return np.asarray(audio)[span[0] : span[1]]


def trim_wav(path: Path, aggressiveness: int = AGGRESSIVENESS, margin: float = MARGIN) -> int:
    """Trim the 16 kHz mono 16-bit WAV at `path` in place, atomically (the file is either
    the old or the new one, never half written); -> its samples afterwards."""
    import soundfile

    from dstorch.fs import atomic_target

    pcm, rate = soundfile.read(str(path), dtype="int16")
    try:
        cut = trim(pcm, rate, aggressiveness, margin)
    except VadError as exc:
        raise VadError(f"{path}: {exc}") from None
    if len(cut) < len(pcm):
        with atomic_target(path) as tmp:
            soundfile.write(str(tmp), cut, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return len(cut)
