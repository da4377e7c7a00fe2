"""The voice-activity trim on real speech padded with seeded silence and noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from dstorch.augment.noises import coloured, unit_rms
from dstorch.vad import SAMPLE_RATE, VadError, speech_span, trim, trim_wav

CLIPS = Path(__file__).parent / "fixtures" / "clips"
BEFORE, AFTER = 1.7, 2.3  # seconds of padding


def speech(name: str = "stop_en_m1") -> np.ndarray:
    """A real spoken word, float [N] at 16 kHz."""
    audio, rate = soundfile.read(str(CLIPS / f"{name}.wav"), dtype="float64")
    assert rate == SAMPLE_RATE
    return audio


def padded(audio: np.ndarray, snr: float | None, seed: int = 3) -> tuple[np.ndarray, int]:
    """audio [N] with BEFORE/AFTER seconds of silence around it, plus pink noise at `snr`
    dB below the speech's RMS (None: digital silence) -> (float [M], speech start)."""
    before, after = round(BEFORE * SAMPLE_RATE), round(AFTER * SAMPLE_RATE)
    out = np.concatenate([np.zeros(before), audio, np.zeros(after)])
    if snr is not None:
        rms = float(np.sqrt(np.mean(audio**2)))
        noise = unit_rms(coloured(len(out), 1.0, np.random.default_rng(seed)))
        out = out + noise * rms / 10 ** (snr / 20)
    return out, before


@pytest.mark.parametrize("snr", [None, 20.0])
@pytest.mark.parametrize("name", ["stop_en_m1", "yes_en_f2"])
def test_span_covers_the_speech_and_drops_the_padding(name, snr):
    clean = speech(name)
    audio, start = padded(clean, snr)
    span = speech_span(audio)
    assert span is not None
    # The word itself (its loud part: the file's ends may be faint) stays whole.
    loud = np.flatnonzero(np.abs(clean) > 0.1 * np.abs(clean).max())
    assert span[0] <= start + loud[0] and span[1] >= start + loud[-1]
    kept = span[1] - span[0]
    assert kept < len(clean) + 0.8 * SAMPLE_RATE  # most of the 4 s of padding is gone
    assert len(trim(audio)) == kept


def test_int16_and_float_give_the_same_span_and_keep_their_dtype():
    audio, _ = padded(speech(), 20.0)
    pcm = np.round(audio * 32768).astype(np.int16)
    assert speech_span(pcm) == speech_span(audio)
    assert trim(pcm).dtype == np.int16 and trim(audio).dtype == np.float64


def test_margin_is_kept_around_the_speech():
    audio, _ = padded(speech(), None)
    narrow, wide = speech_span(audio, margin=0.0), speech_span(audio, margin=0.25)
    assert wide == (narrow[0] - 4000, narrow[1] + 4000)


@pytest.mark.parametrize("kind", ["silence", "pink", "white"])
def test_no_speech_comes_back_unchanged(kind):
    rng = np.random.default_rng(5)
    audio = {
        "silence": np.zeros(3 * SAMPLE_RATE),
        "pink": 0.05 * unit_rms(coloured(3 * SAMPLE_RATE, 1.0, rng)),
        "white": 0.05 * rng.standard_normal(3 * SAMPLE_RATE),
    }[kind]
    assert np.array_equal(trim(audio), audio)


def test_bad_input_gives_one_line_errors():
    with pytest.raises(VadError, match="needs 16000 Hz audio, got 8000 Hz") as err:
        trim(np.zeros(8000, np.int16), sample_rate=8000)
    assert "\n" not in str(err.value)
    with pytest.raises(VadError, match="mono"):
        trim(np.zeros((100, 2)))
    with pytest.raises(VadError, match="aggressiveness"):
        trim(np.zeros(1000, np.int16), aggressiveness=4)


def test_trim_wav_shortens_a_file_in_place(tmp_path):
    audio, _ = padded(speech(), None)
    wav = tmp_path / "a.wav"
    soundfile.write(str(wav), audio, SAMPLE_RATE, subtype="PCM_16")
    samples = trim_wav(wav)
    assert samples == soundfile.info(str(wav)).frames < len(audio)
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temp file left
