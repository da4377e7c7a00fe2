"""Voice augmentations (vtlp, tilt, eq): the contract, and that each moves the spectrum the
way its parameters say."""

from __future__ import annotations

import re

import numpy as np
import pytest
from augment_helpers import RATE, run_audio, voice

from dstorch.augment import AugmentError, help_text, parse_augmentation, preview
from dstorch.augment.voice import warp_source_hz

SPECS = {
    "vtlp": "vtlp[alpha=1~0.15,fhi=4000:5000]",
    "tilt": "tilt[db=0~4,pivot=1000]",
    "eq": "eq[n=1:4,gain=0~8,width=1~0.5]",
}


def vowel(formants: tuple[float, ...] = (700.0, 1800.0), f0: float = 120.0) -> np.ndarray:
    """One second of a steady vowel: harmonics of f0 shaped by formant bumps. -> [16000]"""
    t = np.arange(RATE) / RATE

    def envelope(f: float) -> float:
        return 0.01 + sum(np.exp(-0.5 * ((f - fc) / (fc / 6)) ** 2) for fc in formants)

    clip = sum(envelope(f0 * k) * np.sin(2 * np.pi * f0 * k * t + k) for k in range(1, 66))
    return 0.5 * clip / np.abs(clip).max()


def spectrum(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(freqs [F], power [F]) of a Hann-windowed FFT of the whole clip."""
    power = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    return np.fft.rfftfreq(len(audio), 1.0 / RATE), power


def band_db(audio: np.ndarray, low: float, high: float) -> float:
    freqs, power = spectrum(audio)
    return 10 * np.log10(power[(freqs >= low) & (freqs < high)].sum())


def strongest_hz(audio: np.ndarray, low: float, high: float) -> float:
    freqs, power = spectrum(audio)
    inside = (freqs >= low) & (freqs < high)
    return float(freqs[inside][np.argmax(power[inside])])


def noise(seconds: float = 1.0) -> np.ndarray:
    return np.random.default_rng(5).normal(0, 0.1, int(seconds * RATE))


# --- the contract ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SPECS))
def test_voice_augmentation_contract(name):
    spec, clip = SPECS[name], voice()
    out = run_audio(spec)
    assert out.shape == clip.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= 1.0
    np.testing.assert_array_equal(out, run_audio(spec))  # same seed, same result
    assert not np.array_equal(out, run_audio(spec, seed=1))  # random per sample
    assert not np.allclose(out, clip, atol=1e-3)
    assert np.abs(out).max() == pytest.approx(np.abs(clip).max(), rel=1e-3)  # level kept
    np.testing.assert_array_equal(run_audio(spec.replace("[", "[p=0,")), clip.astype(np.float32))
    given = voice()
    run_audio(spec, audio=given)
    np.testing.assert_array_equal(given, clip)  # the caller's array is never modified


@pytest.mark.parametrize("name", list(SPECS))
def test_short_empty_and_silent_clips_survive(name):
    for audio in (voice()[:0], voice()[:1], voice()[:300], np.zeros(4000)):
        out = run_audio(SPECS[name], audio=audio)
        assert out.shape == audio.shape and np.all(np.isfinite(out))


def test_neutral_settings_change_nothing():
    clip = voice()
    for spec in ("vtlp[alpha=1]", "tilt[db=0]", "eq[gain=0]", "eq[n=0,gain=6]"):
        np.testing.assert_allclose(run_audio(spec, audio=clip), clip, atol=1e-4)


# --- what they do to the spectrum -------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.85, 1.2])
def test_vtlp_moves_formants_by_alpha_and_keeps_pitch(alpha):
    clip = vowel()
    out = run_audio(f"vtlp[alpha={alpha}]", audio=clip)
    assert strongest_hz(clip, 300, 1200) == pytest.approx(720, abs=1)  # harmonic nearest 700
    # The first formant's strongest harmonic moves to the harmonic nearest alpha * 700 Hz.
    assert strongest_hz(out, 300, 1200) == pytest.approx(alpha * 700, abs=61)
    assert strongest_hz(out, 1200, 3000) == pytest.approx(alpha * 1800, abs=121)
    freqs, power = spectrum(out)
    near_harmonic = np.abs((freqs + 60) % 120 - 60) <= 4  # within 4 Hz of k * 120 Hz
    below = freqs < 4000
    assert power[below & near_harmonic].sum() / power[below].sum() > 0.99  # pitch unchanged


def test_vtlp_warp_is_monotonic_and_fixes_both_ends():
    freqs = np.linspace(0, 8000, 257)
    for alpha in (0.8, 1.0, 1.25):
        source = warp_source_hz(freqs, alpha, 4800)
        assert source[0] == 0 and source[-1] == pytest.approx(8000)
        assert np.all(np.diff(source) > 0)
        assert source[10] == pytest.approx(freqs[10] / alpha)  # linear f -> alpha f below


@pytest.mark.parametrize("db", [-3.0, 2.0, 5.0])
def test_tilt_changes_high_to_low_band_ratio_by_db_per_octave(db):
    clip = noise()
    out = run_audio(f"tilt[db={db},pivot=1000]", audio=clip)
    before = band_db(clip, 3600, 4400) - band_db(clip, 450, 550)
    after = band_db(out, 3600, 4400) - band_db(out, 450, 550)
    assert after - before == pytest.approx(3 * db, abs=0.6)  # 500 Hz -> 4 kHz: 3 octaves


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eq_boosts_one_band_by_gain(seed):
    clip = noise(2.0)
    out = run_audio("eq[n=1,gain=9,width=0.5]", audio=clip, seed=seed)
    freqs = np.fft.rfftfreq(len(clip), 1.0 / RATE)
    # A linear filter: |FFT(out) / FFT(in)| is its gain; 20 Hz smoothing removes edge ripple.
    gain = np.abs(np.fft.rfft(out)) / np.abs(np.fft.rfft(clip))
    ratio = np.convolve(20 * np.log10(gain), np.ones(41) / 41, "same")
    inside = (freqs > 150) & (freqs < 7000)
    relative = ratio[inside] - np.median(ratio[inside])  # the level is renormalised
    assert relative.max() == pytest.approx(9, abs=0.3)
    peak = freqs[inside][np.argmax(relative)]
    far = np.abs(np.log2(freqs[inside] / peak)) > 1.0  # more than 2 widths away: untouched
    assert np.abs(relative[far]).max() < 0.3


# --- specs ----------------------------------------------------------------------------------


def test_parse_voice_specs():
    vtlp, tilt, eq = (parse_augmentation(s) for s in ("vtlp[p=0.5,alpha=1~0.1]", "tilt", "eq"))
    assert vtlp.p == 0.5 and (vtlp.values["alpha"].start, vtlp.values["alpha"].r) == (1.0, 0.1)
    assert vtlp.values["fhi"].start == 4800
    assert (tilt.values["db"].r, tilt.values["pivot"].start) == (2.0, 1000.0)
    assert (eq.values["n"].start, eq.values["gain"].r, eq.values["width"].start) == (3, 6.0, 1.0)
    for name in ("vtlp", "tilt", "eq"):
        assert re.search(rf"^{name}\[p=<float>", help_text(), re.M)


@pytest.mark.parametrize(
    "spec, says",
    [
        ("vtlp[alpha=1~0.6]", "can reach 0.4..1.6"),
        ("vtlp[fhi=9000]", "[1000, 7900]"),
        ("vtlp[warp=2]", "unknown key 'warp'"),
        ("tilt[db=x]", "<start>:<end>~<r>"),
        ("tilt[db=20]", "[-12, 12]"),
        ("eq[n=1.5]", "integer"),
        ("eq[gain]", "not key=value"),
    ],
)
def test_bad_voice_specs_raise_one_line_errors(spec, says):
    with pytest.raises(AugmentError) as info:
        parse_augmentation(spec)
    message = str(info.value)
    assert "\n" not in message and repr(spec) in message and says in message


def test_preview_renders_voice_augmentations(tmp_path):
    import soundfile

    wav = tmp_path / "vowel.wav"
    soundfile.write(wav, vowel(), RATE, subtype="PCM_16")
    paths = preview(list(SPECS.values()), wav, tmp_path / "out", n=2, seed=3)
    original, _ = soundfile.read(paths[0])
    copies = [soundfile.read(p)[0] for p in paths[1:]]
    assert len(copies) == 2 and all(len(c) == len(original) for c in copies)
    assert not np.allclose(copies[0], original, atol=1e-3)
    assert not np.allclose(copies[0], copies[1], atol=1e-3)
