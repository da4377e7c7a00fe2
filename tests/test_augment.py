"""Augmentation: `--augment` parsing, every augmentation's contract, reproducibility, preview."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile

from dstorch import features as F
from dstorch.augment import (
    AugmentedFeatures,
    Augmenter,
    AugmentError,
    ValueRange,
    clock_for,
    dsp,
    help_text,
    inaudible,
    parse_augmentation,
    parse_augmentations,
    pick,
    preview,
    rng_for,
    split_specs,
)
from dstorch.augment.params import AUDIO, FEATURES, parse_range
from dstorch.data import FeatureCache

RATE = 16000


def voice(seconds: float = 1.0, f0: float = 150.0, seed: int = 0) -> np.ndarray:
    """A speech-like test clip: harmonics of f0 up to 7 kHz, a syllable envelope, some noise.

    -> [seconds * 16000] float64, peak 0.5
    """
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, int(7000 / f0)))
    envelope = 0.55 - 0.45 * np.cos(2 * np.pi * 3 * t)
    noise = np.random.default_rng(seed).normal(0, 0.05, len(t))
    clip = tone * envelope + noise
    return 0.5 * clip / np.abs(clip).max()


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


FEATURE_SPECS = {
    "time_mask": "time_mask[n=2,size=60]",
    "time_mask-features": "time_mask[domain=features,n=1:3,size=40~20]",
    "frequency_mask": "frequency_mask[n=2,size=3]",
    "dropout": "dropout[rate=0.2]",
    "add": "add[stddev=2]",
    "multiply": "multiply[stddev=0.2]",
}


# --- value ranges --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, kind, expected",
    [
        ("5", int, ValueRange(5, 5, 0)),
        ("1.2~0.4", float, ValueRange(1.2, 1.2, 0.4)),
        ("-10:-40", float, ValueRange(-10.0, -40.0, 0.0)),
        ("2000:4000", int, ValueRange(2000, 4000, 0)),
        ("50:20~10", float, ValueRange(50.0, 20.0, 10.0)),
        (" 1:3~2 ", int, ValueRange(1, 3, 2)),
    ],
)
def test_parse_range_forms(text, kind, expected):
    value = parse_range(text, kind)
    assert value == expected
    assert isinstance(value.start, kind) and isinstance(value.r, kind)


@pytest.mark.parametrize("text", ["", "a", "1~2~3", "1:2:3", "1~-1", "nan", "1:inf"])
def test_parse_range_rejects(text):
    with pytest.raises(ValueError):
        parse_range(text, float)


def test_parse_range_int_rejects_fraction():
    with pytest.raises(ValueError, match="integer"):
        parse_range("1.5", int)


def test_pick_follows_clock_and_radius():
    rng = np.random.default_rng(0)
    moving = ValueRange(50.0, 20.0, 0.0)
    assert pick(moving, 0.0, rng) == 50.0
    assert pick(moving, 1.0, rng) == 20.0
    assert pick(moving, 0.5, rng) == 35.0
    assert pick(moving, 7.0, rng) == 20.0  # the clock is clamped to [0, 1]
    values = [pick(ValueRange(50.0, 20.0, 10.0), 1.0, rng) for _ in range(500)]
    assert 10.0 <= min(values) < 11.0 and 29.0 < max(values) <= 30.0


def test_pick_int_ranges_are_rounded_ints():
    rng = np.random.default_rng(1)
    values = [pick(ValueRange(1, 3, 2), 0.5, rng) for _ in range(500)]
    assert all(type(v) is int for v in values)
    assert set(values) == {0, 1, 2, 3, 4}
    assert pick(ValueRange(12000, 8000, 0), 0.25, rng) == 11000


def test_pick_is_deterministic_given_rng():
    value = ValueRange(0.0, 1.0, 0.5)
    a = [pick(value, 0.3, np.random.default_rng(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]


# --- spec parsing --------------------------------------------------------------------------


def test_parse_specs_with_defaults_and_ranges():
    reverb, volume, gaps, codec = parse_augmentations(
        ["reverb", " volume[ dbfs = -10:-40 ] ", "gaps[p=0.05,n=1:3~2,size=10:100]", "codec[]"]
    )
    assert reverb.p == 1.0 and reverb.values["delay"] == ValueRange(20.0, 20.0, 0.0)
    assert volume.values["dbfs"] == ValueRange(-10.0, -40.0, 0.0)
    assert gaps.p == 0.05 and gaps.values["n"] == ValueRange(1, 3, 2)
    assert codec.values["bitrate"] == ValueRange(3200, 3200, 0)
    assert parse_augmentations(None) == []


def test_domains():
    assert parse_augmentation("time_mask").domain == FEATURES
    assert parse_augmentation("time_mask[domain=spectrogram]").domain == FEATURES
    assert parse_augmentation("time_mask[domain=signal]").domain == AUDIO
    assert parse_augmentation("add").domain == FEATURES
    assert parse_augmentation("pitch").domain == AUDIO


@pytest.mark.parametrize(
    "spec, says",
    [
        ("Reverb", "bad syntax"),
        ("reverb[delay=1", "bad syntax"),
        ("foo[p=1]", "valid: overlay, reverb"),
        ("warp[nt=2]", "not supported"),
        ("reverb[x=1]", "valid: reverb[p=<float>,delay=<float-range>,decay=<float-range>]"),
        ("reverb[delay]", "not key=value"),
        ("reverb[delay=1,delay=2]", "given twice"),
        ("reverb[delay=abc]", "<start>:<end>~<r>"),
        ("reverb[delay=1:2:3]", "more than one ':'"),
        ("reverb[delay=5~-1]", "negative radius"),
        ("reverb[p=1.5]", "[0, 1]"),
        ("reverb[p=0.1~0.1]", "one plain number"),
        ("gaps[n=1.5]", "integer"),
        ("tempo[factor=1~1]", "can reach 0..2"),
        ("resample[rate=100]", "[1000, 192000]"),
        ("time_mask[domain=time]", "signal|spectrogram|features"),
        ("overlay[snr=3]", "source= is required"),
        ("overlay[source=/no/such/dir]", "not found"),
        ("overlay[source=noise.sdb]", "SDB"),
    ],
)
def test_bad_specs_raise_one_line_errors(spec, says):
    with pytest.raises(AugmentError) as info:
        parse_augmentation(spec)
    message = str(info.value)
    assert "\n" not in message and repr(spec) in message and says in message
    assert isinstance(info.value, ValueError)


def test_split_specs_for_one_line_settings():
    text = " reverb[p=0.1, delay=50~30]  volume;overlay[source=/n, snr=3] "
    assert split_specs(text) == [
        "reverb[p=0.1, delay=50~30]",
        "volume",
        "overlay[source=/n, snr=3]",
    ]
    assert split_specs("") == []


def test_help_text_lists_every_augmentation():
    text = help_text()
    for name in ["overlay", "reverb", "gaps", "resample", "codec", "volume", "pitch", "tempo"]:
        assert re.search(rf"^{name}\[p=<float>", text, re.M)


# --- every augmentation's contract ---------------------------------------------------------


def run_audio(spec: str, seed: int = 0, clock: float = 0.5, audio=None) -> np.ndarray:
    augmenter = Augmenter(parse_augmentations([spec]))
    audio = voice() if audio is None else audio
    return augmenter.apply_audio(audio, clock, np.random.default_rng(seed))


def run_features(spec: str, mfcc: np.ndarray, seed: int = 0) -> np.ndarray:
    augmenter = Augmenter(parse_augmentations([spec]))
    return augmenter.apply_features(mfcc, 0.5, np.random.default_rng(seed))


@pytest.fixture(scope="module")
def mfcc() -> np.ndarray:
    return F.audio_features(voice())


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


@pytest.mark.parametrize("name", list(FEATURE_SPECS))
def test_feature_augmentation_contract(name, mfcc):
    spec = FEATURE_SPECS[name]
    out = run_features(spec, mfcc)
    assert out.shape == mfcc.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, run_features(spec, mfcc))
    assert not np.array_equal(out, run_features(spec, mfcc, seed=1))
    assert not np.allclose(out, mfcc)
    np.testing.assert_array_equal(run_features(spec.replace("[", "[p=0,"), mfcc), mfcc)
    np.testing.assert_array_equal(mfcc, F.audio_features(voice()))  # input left untouched


@pytest.mark.parametrize("spec", ["gaps[n=3,size=100]", "time_mask[domain=signal,size=5]"])
def test_random_audio_augmentations_depend_on_the_seed(spec):
    assert not np.array_equal(run_audio(spec, seed=0), run_audio(spec, seed=1))


def test_short_and_empty_clips_survive_every_augmentation(overlay_dir):
    for spec in list(audio_specs(overlay_dir).values()):
        for n in (0, 1, 100):
            out = run_audio(spec, audio=voice()[:n])
            assert out.dtype == np.float32 and np.all(np.isfinite(out))
    for spec in FEATURE_SPECS.values():
        out = run_features(spec, F.audio_features(voice()[:100]))
        assert out.shape == (1, F.N_MFCC)


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


@pytest.mark.parametrize("backend", ["soundfile", "opus-tools"])
def test_codec_backends(backend, monkeypatch):
    if backend == "opus-tools" and not (shutil.which("opusenc") and shutil.which("opusdec")):
        pytest.skip("opus-tools not installed")
    if backend == "soundfile" and dsp.opus_backend() != "soundfile":
        pytest.skip("libsndfile without Ogg/Opus")
    clip = voice()
    good = dsp.opus_roundtrip(clip, 64000, backend)
    bad = dsp.opus_roundtrip(clip, 6000, backend)
    assert len(good) == len(bad) == len(clip)
    error = lambda x: float(np.mean((x - clip) ** 2))  # noqa: E731
    assert error(good) < error(bad)
    assert np.corrcoef(good, clip)[0, 1] > 0.9


def test_codec_without_any_backend_fails_at_parse_time(monkeypatch):
    monkeypatch.setattr(dsp, "opus_backend", lambda: None)
    with pytest.raises(AugmentError, match="no Opus codec"):
        parse_augmentation("codec[bitrate=16000]")


def test_feature_masks_fill_with_the_coefficient_mean(mfcc):
    out = run_features("frequency_mask[n=1,size=4]", mfcc)
    changed = np.where(np.any(out != mfcc, axis=0))[0]
    assert 1 <= len(changed) <= 4
    np.testing.assert_allclose(
        out[:, changed], np.broadcast_to(mfcc.mean(0)[changed], (len(out), len(changed)))
    )
    masked = run_features("time_mask[n=1,size=100]", mfcc)
    rows = np.where(np.any(masked != mfcc, axis=1))[0]
    assert len(rows) == 5  # 100 ms of 20 ms frames


# --- Augmenter, rng streams, clock, train-time features ------------------------------------


def test_augmenter_splits_domains_and_keeps_order():
    augmenter = Augmenter(parse_augmentations(["add", "reverb", "time_mask", "gaps"]), seed=3)
    assert augmenter.has_audio and augmenter.has_features
    assert [a.NAME for a in augmenter.audio] == ["reverb", "gaps"]
    assert [a.NAME for a in augmenter.features] == ["add", "time_mask"]
    empty = Augmenter([])
    assert not empty and not empty.has_audio and not empty.has_features


def test_rng_for_is_reproducible_and_distinct():
    draw = lambda *key: rng_for(*key).integers(1 << 62)  # noqa: E731
    assert draw(4568, 2, 7, 1) == draw(4568, 2, 7, 1)
    keys = [(4568, 2, 7, 1), (4568, 2, 7, 0), (4568, 2, 6, 1), (4568, 1, 7, 1), (1, 2, 7, 1)]
    assert len({draw(*key) for key in keys}) == len(keys)
    assert draw(-5, 0, 0, 0) != draw(5, 0, 0, 0)


def test_probability_decisions_do_not_shift_later_streams():
    """Whether an earlier augmentation fires must not change what a later one does."""
    clip = voice()
    with_p0 = Augmenter(parse_augmentations(["reverb[p=0]", "gaps[n=2,size=100]"]))
    without = Augmenter(parse_augmentations(["volume[p=0]", "gaps[n=2,size=100]"]))
    a = with_p0.apply_audio(clip, 0.0, rng_for(0, 0, 0))
    b = without.apply_audio(clip, 0.0, rng_for(0, 0, 0))
    np.testing.assert_array_equal(a, b)


def test_probability_is_respected():
    augmenter = Augmenter(parse_augmentations(["gaps[p=0.3,n=1,size=100]"]))
    clip = voice(0.2)
    hits = sum(
        not np.array_equal(
            augmenter.apply_audio(clip, 0.0, rng_for(0, 0, i)), clip.astype(np.float32)
        )
        for i in range(400)
    )
    assert 80 < hits < 160


def test_clock_for():
    assert clock_for(0, 10, 0, 5) == 0.0
    assert clock_for(5, 10, 0, 5) == 0.5
    assert clock_for(9, 10, 5, 5) == 1.0
    assert clock_for(2, 4, 1, 2) == pytest.approx(0.625)
    assert clock_for(12, 10, 0, 5) == 1.0


@pytest.fixture()
def wav(tmp_path) -> Path:
    path = tmp_path / "clip.wav"
    soundfile.write(path, voice(), RATE, subtype="PCM_16")
    return path


def test_augmented_features_shapes_and_reproducibility(wav):
    augmenter = Augmenter(parse_augmentations(["tempo[factor=0.8:1.25]", "add[stddev=1]"]), 9)
    train = AugmentedFeatures(augmenter)
    first = train(wav, epoch=1, sample_index=3, pass_index=0, clock=0.5)
    assert first.shape[1:] == (F.CONTEXT_FRAMES, F.N_MFCC) and first.dtype == np.float32
    again = AugmentedFeatures(augmenter)(wav, epoch=1, sample_index=3, pass_index=0, clock=0.5)
    np.testing.assert_array_equal(first, again)  # a resumed run recomputes the same thing
    other_pass = train(wav, epoch=1, sample_index=3, pass_index=1, clock=0.5)
    assert not np.array_equal(first[: len(other_pass)], other_pass[: len(first)])


def test_augmented_features_without_augmentations_match_the_cache(wav):
    plain = AugmentedFeatures(Augmenter([]))(wav, 0, 0, 0, 0.0)
    np.testing.assert_array_equal(plain, FeatureCache()(wav))


def test_feature_only_augmentation_reuses_plain_mfcc(wav):
    train = AugmentedFeatures(Augmenter(parse_augmentations(["frequency_mask"])))
    out = train(wav, 0, 0, 0, 0.0)
    assert out.shape == FeatureCache()(wav).shape and len(train._mfcc) == 1


# --- preview -------------------------------------------------------------------------------


def test_preview_writes_listenable_wavs(wav, tmp_path):
    specs = ["reverb[delay=50~30]", "volume[dbfs=-10:-40]", "add[stddev=2]"]
    paths = preview(specs, wav, tmp_path / "out", n=3, clock=1.0, seed=1)
    assert [p.name for p in paths] == [
        "clip.original.wav", "clip.aug0.wav", "clip.aug1.wav", "clip.aug2.wav",
    ]  # fmt: skip
    for path in paths:
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (RATE, 1, "PCM_16")
    aug0, _ = soundfile.read(paths[1])
    assert 20 * np.log10(np.abs(aug0).max()) + 3.0103 == pytest.approx(-40, abs=0.1)
    assert inaudible(specs) == ["add[stddev=2]"]


def test_preview_needs_an_audible_augmentation(wav, tmp_path):
    with pytest.raises(AugmentError, match="nothing to listen to"):
        preview(["add"], wav, tmp_path)
