"""The bench's negatives: near-misses from held-out words, everyday sentences, noise."""

import shutil

import numpy as np
import pytest
import soundfile

from dstorch.augment import cache
from dstorch.bench.negatives import (
    EVERYDAY,
    NOISE_KINDS,
    render_noise,
    render_speech,
    speech_phrases,
)
from dstorch.prepare.example_data import COMMANDS, CONFUSABLE
from dstorch.prepare.phrases import HELD_OUT, pool_of
from dstorch.training.evaluate import edit_distance

ALL_COMMANDS = sorted(set(COMMANDS.values()) | set(CONFUSABLE.values()))


def test_everyday_sentences_are_no_command():
    assert len(EVERYDAY) >= 30 and not set(EVERYDAY) & set(ALL_COMMANDS)


def test_near_misses_swap_in_held_out_words_only():
    commands = list(CONFUSABLE.values())
    phrases = speech_phrases(commands, "en", near_per_command=2)
    assert not set(phrases) & set(commands) and set(EVERYDAY) <= set(phrases)
    near = [p for p in phrases if p not in EVERYDAY]
    assert len(near) >= len(commands)
    for phrase in near:
        command = min(commands, key=lambda c: edit_distance(c.split(), phrase.split()))
        (new,) = set(phrase.split()) - set(command.split())  # one word swapped in
        assert pool_of(new) == HELD_OUT, phrase
    assert speech_phrases(commands, "en", 2) == phrases  # seeded


def test_noise_clips_are_written_once_and_say_nothing(tmp_path):
    cache.use_data_dir(tmp_path)  # the evaluation babble bank goes there
    try:
        clips = render_noise(tmp_path / "negatives", per_kind=1, seed=5)
        assert [kind for _, _, kind in clips] == list(NOISE_KINDS)
        assert all(text == "" for _, text, _ in clips)
        first = [wav.read_bytes() for wav, _, _ in clips]
        assert [w.read_bytes() for w, _, _ in render_noise(tmp_path / "negatives", 1, 5)] == first
        levels = {}
        for wav, _, kind in clips:
            audio, rate = soundfile.read(wav)
            assert rate == 16000 and 1.5 <= len(audio) / rate <= 3.0
            levels[kind] = 20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-12)
        assert levels["silence"] < -60 and all(-36 < levels[k] < -19 for k in NOISE_KINDS[1:])
    finally:
        cache.use_data_dir(None)


@pytest.mark.skipif(not shutil.which("flite"), reason="needs flite")
def test_speech_is_spoken_by_the_held_out_engine(tmp_path):
    clips = render_speech("flite", list(EVERYDAY[:2]), tmp_path, "en", per_phrase=1, seed=3)
    assert {text for _, text, _ in clips} == set(EVERYDAY[:2])  # each by every voice
    assert all(wav.is_file() and "flite" in speaker for wav, _, speaker in clips)
