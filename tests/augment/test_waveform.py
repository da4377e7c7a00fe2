"""Waveform augmentations (dstorch.augment.waveform): the shared audio-domain contract and what
each one actually does."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile
from augment_helpers import FEATURE_SPECS, RATE, run_audio, run_features, voice

from dstorch.augment import AugmentError, dsp, parse_augmentation
from dstorch.features import N_MFCC, audio_features


def dominant_hz(audio: np.ndarray) -> float:
    """Frequency of the strongest spectral peak of [N] samples."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * RATE / len(audio))


@pytest.fixture(scope="module")
def overlay_dir(tmp_path_factory) -> Path:
    """Two noise clips at 8 kHz stereo and one at 16 kHz, plus a CSV listing them."""
    folder = tmp_path_factory.mktemp("overlay")
    rng = np.random.default_rng(3)
    soundfile.write(folder / "a.wav", rng.normal(0, 0.1, (4000, 2)), 8000)
    soundfile.write(folder / "b.wav", rng.normal(0, 0.1, 3000), RATE, subtype="PCM_16")
    with open(folder / "noise.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["wav_filename", "wav_filesize", "transcript"])
        writer.writerow(["a.wav", 0, ""])
        writer.writerow([str(folder / "b.wav"), 0, ""])
    return folder


def audio_specs(overlay: Path) -> dict[str, str]:
    """One spec per audio-domain augmentation that certainly changes `voice()`."""
    return {
        "overlay-dir": f"overlay[source={overlay},snr=10~5,layers=1:3]",
        "overlay-csv": f"overlay[source={overlay / 'noise.csv'},snr=3]",
        "reverb": "reverb[delay=50.0~30.0,decay=10.0:2.0~1.0]",
        "gaps": "gaps[n=1:3~2,size=10:100]",
        "resample": "resample[rate=12000:8000~4000]",
        "codec": "codec[bitrate=48000:16000]",
        "volume": "volume[dbfs=-10:-40]",
        "pitch": "pitch[pitch=1.2~0.1]",
        "tempo": "tempo[factor=1.25]",
        "time_mask-signal": "time_mask[domain=signal,n=2,size=50]",
        "dropout-signal": "dropout[domain=signal,rate=0.1]",
        "add-signal": "add[domain=signal,stddev=0.01]",
        "multiply-signal": "multiply[domain=signal,stddev=0.1]",
    }


# --- every augmentation's contract ---------------------------------------------------------


@pytest.mark.parametrize("name", list(audio_specs(Path("x"))))
def test_audio_augmentation_contract(name, overlay_dir):
    spec = audio_specs(overlay_dir)[name]
    clip = voice()
    out = run_audio(spec)
    expected = round(len(clip) / 1.25) if name == "tempo" else len(clip)
    assert out.shape == (expected,) and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= 1.0
    np.testing.assert_array_equal(out, run_audio(spec))  # same rng seed, same result
    if name != "tempo":
        assert not np.allclose(out, clip, atol=1e-3)  # p=1 (default) changes the signal
    np.testing.assert_array_equal(run_audio(spec.replace("[", "[p=0,")), clip.astype(np.float32))
    given = voice()
    run_audio(spec, audio=given)
    np.testing.assert_array_equal(given, clip)  # the caller's (cached) array is never modified


@pytest.mark.parametrize("spec", ["gaps[n=3,size=100]", "time_mask[domain=signal,size=5]"])
def test_random_audio_augmentations_depend_on_the_seed(spec):
    assert not np.array_equal(run_audio(spec, seed=0), run_audio(spec, seed=1))


def test_short_and_empty_clips_survive_every_augmentation(overlay_dir):
    for spec in list(audio_specs(overlay_dir).values()):
        for n in (0, 1, 100):
            out = run_audio(spec, audio=voice()[:n])
            assert out.dtype == np.float32 and np.all(np.isfinite(out))
    for spec in FEATURE_SPECS.values():
        out = run_features(spec, audio_features(voice()[:100]))
        assert out.shape == (1, N_MFCC)


# --- what the audio augmentations actually do ----------------------------------------------


def test_volume_levels_the_peak():
    assert np.abs(run_audio("volume")).max() == pytest.approx(1.0, abs=1e-6)
    peak = np.abs(run_audio("volume[dbfs=-20]")).max()
    assert 20 * np.log10(peak) + 3.0103 == pytest.approx(-20.0, abs=0.01)


def test_gaps_silence_the_requested_duration():
    out = run_audio("gaps[n=1,size=100]")
    assert np.sum(out == 0.0) >= 1600


def test_reverb_keeps_the_level_and_adds_a_tail():
    clip = np.zeros(RATE)
    clip[:800] = voice()[:800]
    out = run_audio("reverb[delay=20,decay=3]", audio=clip)
    assert np.abs(out).max() == pytest.approx(np.abs(clip).max(), rel=1e-4)
    assert np.abs(out[2000:]).max() > 0.01  # silence before, echoes now


def test_resample_removes_content_above_half_the_rate():
    tone = 0.5 * np.sin(2 * np.pi * 6000 * np.arange(RATE) / RATE)
    assert np.abs(run_audio("resample[rate=8000]", audio=tone)[1000:-1000]).max() < 0.01
    low = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE)
    out = run_audio("resample[rate=8000]", audio=low)
    np.testing.assert_allclose(out[100:-100], low[100:-100], atol=0.01)  # edges: filter ramp


def test_pitch_moves_frequency_and_keeps_duration():
    tone = 0.5 * np.sin(2 * np.pi * 400 * np.arange(RATE) / RATE)
    out = run_audio("pitch[pitch=1.2]", audio=tone)
    assert len(out) == RATE
    assert dominant_hz(out) == pytest.approx(480, rel=0.02)


@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_tempo_changes_duration_and_keeps_frequency(factor):
    tone = 0.5 * np.sin(2 * np.pi * 400 * np.arange(RATE) / RATE)
    out = run_audio(f"tempo[factor={factor}]", audio=tone)
    assert len(out) == round(RATE / factor)
    assert dominant_hz(out) == pytest.approx(400, rel=0.02)
    # WSOLA keeps a steady tone steady: no gaps or clicks in the middle.
    middle = out[2000:-2000]
    assert np.abs(middle).max() == pytest.approx(0.5, abs=0.03)


def test_tempo_max_time_caps_the_length():
    assert len(run_audio("tempo[factor=0.5,max_time=1500]")) == 24000


def test_overlay_respects_snr(overlay_dir):
    clip = voice()
    out = run_audio(f"overlay[source={overlay_dir},snr=20]", audio=clip).astype(np.float64)
    assert np.abs(out).max() == pytest.approx(0.5, rel=1e-3)  # the sample keeps its peak level
    residual = out - clip
    assert 0.01 < np.abs(residual).max() < 0.2  # ~20 dB below, before re-normalisation


def test_overlay_csv_and_folder_sources_load_mono_16k(overlay_dir):
    folder = parse_augmentation(f"overlay[source={overlay_dir}]")
    listed = parse_augmentation(f"overlay[source={overlay_dir / 'noise.csv'}]")
    lengths = sorted(len(c) for c in folder.clips())
    assert lengths == [3000, 8000]  # 8 kHz stereo a.wav became 16 kHz mono
    assert [len(c) for c in listed.clips()] == [8000, 3000]  # CSV order kept


def test_overlay_with_empty_source_folder_fails_clearly(tmp_path):
    augmentation = parse_augmentation(f"overlay[source={tmp_path}]")
    with pytest.raises(AugmentError, match="no non-empty audio"):
        augmentation.clips()


def test_codec_without_any_backend_fails_at_parse_time(monkeypatch):
    monkeypatch.setattr(dsp, "opus_backend", lambda: None)
    with pytest.raises(AugmentError, match="no Opus codec"):
        parse_augmentation("codec[bitrate=16000]")
