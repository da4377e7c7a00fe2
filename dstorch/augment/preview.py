"""Write augmented copies of a recording so a person can listen to what training will hear."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

from dstorch.augment import dsp
from dstorch.augment.core import Augmenter, rng_for
from dstorch.augment.params import AugmentError
from dstorch.augment.parse import parse_augmentations


def preview(
    specs: list[str],
    wav_in: str | Path,
    out_dir: str | Path,
    n: int = 5,
    clock: float = 0.0,
    seed: int = 0,
) -> list[Path]:
    """Write `<stem>.original.wav` and n augmented copies `<stem>.aug<i>.wav` to out_dir.

    Input: any file soundfile reads (resampled to 16 kHz, mixed to mono). Output: 16 kHz mono
    16-bit WAV, as the client consumes. Copy i uses rng_for(seed, 0, 0, i), i.e. what sample
    0 would get in pass i of the first epoch; `clock` sets where in training (0 = start,
    1 = end) the `<start>:<end>` ranges are. Feature-domain augmentations are inaudible and
    skipped (see `inaudible`). Returns the written paths, original first.
    """
    augmenter = Augmenter(parse_augmentations(specs), seed)
    if not augmenter.has_audio:
        raise AugmentError(
            "nothing to listen to: the given augmentations all work on MFCC features; "
            "give at least one audio augmentation (overlay, reverb, room, noise, gaps, resample, "
            "codec, volume, pitch, tempo, vtlp, tilt, eq, or time_mask/dropout/add/multiply "
            "with domain=signal)"
        )
    audio = _load(Path(wav_in))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(wav_in).stem
    paths = [_write(out / f"{stem}.original.wav", audio)]
    for i in range(n):
        augmented = augmenter.apply_audio(audio, clock, rng_for(seed, 0, 0, i))
        paths.append(_write(out / f"{stem}.aug{i}.wav", augmented))
    return paths


def _load(path: Path) -> np.ndarray:
    """The recording to preview; AugmentError (one line) for a missing or non-audio file."""
    if not path.is_file():
        raise AugmentError(f"{path}: no such file; give AUDIO=<a recording>")
    try:
        return dsp.load_audio(path)
    except soundfile.LibsndfileError as e:
        raise AugmentError(
            f"{path}: not readable as audio ({e.error_string.rstrip('.')}); give a WAV, FLAC "
            "or OGG recording"
        ) from None


def inaudible(specs: list[str]) -> list[str]:
    """The specs `preview` cannot render (feature-domain ones), to tell the user."""
    return [a.spec for a in Augmenter(parse_augmentations(specs)).features]


def _write(path: Path, audio: np.ndarray) -> Path:
    soundfile.write(str(path), np.clip(audio, -1.0, 1.0), dsp.SAMPLE_RATE, subtype="PCM_16")
    return path
