"""Speech that is no command: rendered by the real engines into data/speech/, with CSVs the
trainer reads, negatives by voices kept out of the training speech, and lm_garbage.txt."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile
from pipeline_helpers import project, read_rows, run, snapshot

from dstorch.alphabet import Alphabet
from dstorch.datafiles import DEV_NEGATIVES, LM_GARBAGE, SPEECH_TRAIN, TEST_NEGATIVES
from dstorch.prepare import phrases
from dstorch.prepare.speech import NOISES, TRAINING_NOISE_COPIES, split_voices
from dstorch.prepare.split import FEW_VOICES
from dstorch.prepare.synthetic.catalog import choose
from dstorch.training.data import read_csvs

TWO = {"1": "turn on the light", "2": "stop"}
VOICES = "espeak-ng:en-us+f3,espeak-ng:en-gb+m1,flite:slt,flite:kal"


def rows(root: Path, name: str) -> list[dict]:
    return read_rows(root / "data" / name)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    root = project(tmp_path_factory.mktemp("speech"), commands=TWO, speakers=3)
    messages: list[str] = []
    run(root, messages, synthetic_voices=VOICES, general_sentences=6, near_misses=2)
    assert any(m.startswith("speech that is no command: 30 clips in training") for m in messages)
    return root


def test_training_speech_has_true_transcripts_and_is_no_command(speech):
    train = rows(speech, SPEECH_TRAIN)
    texts = [r["transcript"] for r in train if r["transcript"]]
    assert len(texts) == 10 and not set(texts) & set(TWO.values())
    silent = [r for r in train if not r["transcript"]]  # noise: the model learns to say nothing
    assert len(silent) == len(NOISES) * TRAINING_NOISE_COPIES
    near = [t for t in texts if len(t.split()) == len("turn on the light".split())]
    assert near  # a near-miss of the four-word command: one word changed
    for row in train:
        info = soundfile.info(str(speech / "data/speech" / row["wav_filename"]))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")


def test_negatives_are_spoken_by_voices_kept_out_of_training(speech):
    def voices(name):
        return {r["wav_filename"].split("/")[3] for r in rows(speech, name) if r["transcript"]}

    trained = voices(SPEECH_TRAIN)
    assert voices(DEV_NEGATIVES) and not voices(DEV_NEGATIVES) & trained
    assert voices(TEST_NEGATIVES) and not voices(TEST_NEGATIVES) & trained
    for name in (DEV_NEGATIVES, TEST_NEGATIVES):  # noise: nothing was said
        silent = [r for r in rows(speech, name) if not r["transcript"]]
        assert len(silent) == len(NOISES)


def test_negatives_use_only_words_never_trained_on(speech):
    # Test: held-out words, for measuring. Dev: tuning words, so the escape and the gate
    # are tuned on words the model never heard, as a device hears in use.
    commands = {w for t in TWO.values() for w in t.split()}
    for name, pool in ((TEST_NEGATIVES, phrases.HELD_OUT), (DEV_NEGATIVES, phrases.TUNING)):
        for row in rows(speech, name):
            for word in set(row["transcript"].split()) - commands:
                assert phrases.pool_of(word) == pool, row


def test_the_trainer_reads_every_set(speech):
    alphabet = Alphabet.from_file(speech / "data/alphabet.txt")
    assert "z" in alphabet.labels  # the frequent words' letters joined the alphabet
    train = read_csvs(str(speech / "data" / SPEECH_TRAIN), alphabet, silent=True)
    assert len(train) == 30
    for name in (DEV_NEGATIVES, TEST_NEGATIVES):
        assert read_csvs(str(speech / "data" / name), alphabet, silent=True)


def test_garbage_words_hold_frequent_and_training_words(speech):
    garbage = (speech / "data" / LM_GARBAGE).read_text().split()
    assert {"the", "and", "you"} <= set(garbage)
    spoken = {w for r in rows(speech, SPEECH_TRAIN) for w in r["transcript"].split()}
    assert spoken <= set(garbage)


def test_rerun_renders_nothing_and_a_changed_command_sweeps_its_takes(speech):
    def audio():
        return {p: v for p, v in snapshot(speech / "data/speech").items() if p.suffix == ".wav"}

    before = audio()
    run(speech, synthetic_voices=VOICES, general_sentences=6, near_misses=2)
    assert audio() == before  # nothing rendered or written again
    run(speech, synthetic_voices=VOICES, general_sentences=6, near_misses=0)
    wavs = set((speech / "data/speech/synthetic").rglob("*.wav"))
    named = {
        speech / "data/speech" / r["wav_filename"]
        for n in (SPEECH_TRAIN, DEV_NEGATIVES, TEST_NEGATIVES)
        for r in rows(speech, n)
    }
    assert wavs == {w for w in named if "synthetic" in w.parts}  # nothing stale left
    assert len([r for r in rows(speech, SPEECH_TRAIN) if r["transcript"]]) == 6


def test_off_without_synthetic_voices_or_when_asked(tmp_path):
    root = project(tmp_path / "off", commands=TWO, speakers=3)
    run(root)  # SYNTHETIC_VOICES=none: nobody to speak it
    assert not (root / "data" / SPEECH_TRAIN).exists()
    assert "z" not in (root / "data/alphabet.txt").read_text()  # the commands' letters only
    run(root, synthetic_voices=VOICES, general_sentences=0, near_misses=0)
    assert not (root / "data" / SPEECH_TRAIN).exists()


def test_voice_split_keeps_a_group_per_engine():
    choices, _ = choose(VOICES, "en")
    train, kept = split_voices(choices, 4568)
    for t, k in zip(train, kept, strict=True):
        assert t.engine.name == k.engine.name and not set(t.voices) & set(k.voices)


def test_a_language_without_word_frequencies_trains_without_speech_sets(tmp_path):
    root = project(tmp_path / "xx", commands=TWO, speakers=3)
    (root / "commands.csv").write_text("id,xx\n1,turn on the light\n2,stop\n", encoding="utf-8")
    (root / "original/en").rename(root / "original/xx")
    messages: list[str] = []
    run(root, messages, language="xx", synthetic_voices="auto", general_sentences=3)
    line = "GENERAL_SENTENCES/NEAR_MISSES: no word frequencies for LANGUAGE=xx"
    assert sum(m.startswith(line) for m in messages) == 1
    assert not (root / "data" / SPEECH_TRAIN).exists()


def test_an_engine_with_few_voices_keeps_variants_so_every_voice_trains():
    choices, _ = choose("espeak-ng", "es")  # es and es-419 (MBROLA voices need mbrola)
    assert len(choices[0].voices) < FEW_VOICES
    (train,), (kept,) = split_voices(choices, 4568)
    said = {v for vs in train.voices.values() for v in vs}
    held = {v for vs in kept.voices.values() for v in vs}
    assert set(train.voices) == set(choices[0].voices) and held and not said & held
    assert len(held) <= len(said) / 2
