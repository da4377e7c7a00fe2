"""The command-strict scorer (LM_MODE=commands) in the official 0.9.3 client: it loads,
the client then answers only a command or a prefix of one on noise and unrelated speech,
and our beam search gives the client's answers with it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ENGLISH, our_log_probs, random_model

from dstorch.alphabet import Alphabet
from dstorch.lm.scorer import Scorer, ScorerError, build_scorer, find_kenlm_bin
from dstorch.wav import read_wav

# The example data's commands (commands.csv, column en).
COMMANDS = [
    "turn on the light",
    "play music",
    "stop",
    "volume up",
    "what time is it",
    "open the door",
]
UNRELATED = [  # nothing a command set would hold, words mostly outside it
    "the weather is lovely in the mountains today",
    "my brother bought a new bicycle last week",
    "seven green apples fell from the old tree",
    "please send me the report before friday",
    "a quiet river runs through the valley",
]
ESPEAK_VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-us"]
FLITE_VOICES = ["kal", "awb", "rms", "slt", "kal16"]


def render(cmd: list[str], out: Path) -> np.ndarray:
    """Run a TTS command that writes `out`, then -> int16 PCM [N] at 16 kHz mono."""
    from dstorch.prepare.convert import convert

    if shutil.which(cmd[0]) is None:
        pytest.skip(f"{cmd[0]} is not installed (make dependencies installs it)")
    subprocess.run(cmd, check=True, capture_output=True)
    convert(out, out.with_suffix(".16k.wav"))
    return read_wav(out.with_suffix(".16k.wav"))


def noises(rng: np.random.Generator) -> list[np.ndarray]:
    """10 int16 clips [N] of 1-3 s: white, brown, hum, clicks and babble-like noise."""
    clips = []
    for i in range(10):
        n = 16000 * (1 + i % 3)
        t = np.arange(n) / 16000
        kind = i % 5
        if kind == 0:
            x = rng.standard_normal(n)
        elif kind == 1:  # brown noise, with its drift removed
            x = np.cumsum(rng.standard_normal(n))
            x -= np.convolve(x, np.ones(400) / 400, "same")
        elif kind == 2:  # mains hum with harmonics and some hiss
            x = sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 2, 3))
            x = x + 0.1 * rng.standard_normal(n)
        elif kind == 3:  # clicks
            x = np.zeros(n)
            x[rng.integers(0, n, 40)] = rng.choice([-1.0, 1.0], 40)
        else:  # noise bursts shaped like syllables
            x = rng.standard_normal(n) * (np.sin(2 * np.pi * 4 * t) > 0.3)
        clips.append((x / np.abs(x).max() * rng.uniform(2000, 12000)).astype(np.int16))
    return clips


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[np.ndarray]:
    """20 clips that are no command: 5 espeak-ng and 5 flite voices saying unrelated
    sentences (seeded rates and pitches), and 10 noises."""
    tmp = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(8)
    speech = []
    for i, (sentence, voice) in enumerate(zip(UNRELATED, ESPEAK_VOICES, strict=True)):
        rate, pitch = str(rng.integers(120, 200)), str(rng.integers(20, 80))
        out = tmp / f"espeak{i}.wav"
        speech.append(
            render(
                ["espeak-ng", "-v", voice, "-s", rate, "-p", pitch, "-w", str(out), sentence], out
            )
        )
    for i, (sentence, voice) in enumerate(zip(UNRELATED, FLITE_VOICES, strict=True)):
        out = tmp / f"flite{i}.wav"
        speech.append(render(["flite", "-voice", voice, "-t", sentence, "-o", str(out)], out))
    return speech + noises(rng)


@pytest.fixture(scope="module")
def chatty(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """A random model whose output layer is sharpened so that, like a trained model that
    hears something it does not know, it emits characters on every clip: (model, .pbmm)."""
    from dstorch.export import export_model

    model = random_model(len(ENGLISH) + 1, seed=0)
    with torch.no_grad():
        model.layer_6.weight.mul_(4.0)
        model.layer_6.bias.mul_(4.0)
    out = tmp_path_factory.mktemp("chatty")
    return model, export_model(model, Alphabet(ENGLISH), out, "chatty")[1]


@pytest.fixture(scope="module")
def scorers(tmp_path_factory) -> dict[str, Path]:
    """{mode: .scorer} from COMMANDS, both storing alpha 2, beta 2 (the commands default)."""
    try:
        find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))
    out = tmp_path_factory.mktemp("scorers")
    return {
        mode: build_scorer(COMMANDS, ENGLISH, out / f"{mode}.scorer", 2.0, 2.0, mode=mode)
        for mode in ("commands", "open")
    }


def is_command_prefix(answer: str) -> bool:
    """Word-level: "turn on" is a prefix of "turn on the light", "turn o" is not."""
    words = answer.split()
    return any(c.split()[: len(words)] == words for c in COMMANDS)


def test_official_client_accepts_the_strict_scorer(chatty, scorers, deepspeech_lib):
    from dstorch.inference.official import OfficialModel, load_library

    lib = load_library(deepspeech_lib)
    with OfficialModel(chatty[1], deepspeech_lib) as client:
        code = lib.DS_EnableExternalScorer(client._live(), str(scorers["commands"]).encode())
        assert code == 0, f"DS_EnableExternalScorer returned 0x{code:04X}"
        noise = noises(np.random.default_rng(0))[0]
        assert is_command_prefix(client.stt(noise))  # and it decodes with it


@pytest.mark.slow
def test_client_answers_only_commands_on_noise_and_unrelated_speech(
    clips, chatty, scorers, deepspeech_lib
):
    """With the strict scorer every answer is a command, a prefix of one, or empty.
    The open scorer from the same commands, same alpha/beta, lets word salad through on
    the same clips: that is what makes this test able to fail."""
    from dstorch.inference.official import OfficialModel

    answers: dict[str, list[str]] = {}
    with OfficialModel(chatty[1], deepspeech_lib) as client:
        answers["raw"] = [client.stt(pcm) for pcm in clips]
        for mode, path in scorers.items():
            client.enable_scorer(path)
            answers[mode] = [client.stt(pcm) for pcm in clips]
    assert len(clips) == 20 and all(answers["raw"]), "the model must emit characters"
    bad = [a for a in answers["commands"] if not is_command_prefix(a)]
    assert not bad, f"answers outside the commands: {bad}"
    salad = [a for a in answers["open"] if not is_command_prefix(a)]
    assert len(salad) >= 3, f"the open scorer should let some through: {answers['open']}"


@pytest.mark.slow
def test_our_decoders_answer_like_the_client_with_the_strict_scorer(
    clips, chatty, scorers, deepspeech_lib
):
    from dstorch.decoder import beam_search
    from dstorch.decoder.reference import ReferenceBeamSearch
    from dstorch.inference.official import OfficialModel

    model, pbmm = chatty
    lm = Scorer(scorers["commands"])
    with OfficialModel(pbmm, deepspeech_lib) as client:
        client.enable_scorer(scorers["commands"])
        width = client.beam_width
        theirs = [client.stt_with_metadata(pcm, 1)[0] for pcm in clips]
    for pcm, ref in zip(clips, theirs, strict=True):
        log_probs = our_log_probs(model, pcm)
        fast = beam_search(log_probs, ENGLISH, width, lm)[0]
        slow = ReferenceBeamSearch(ENGLISH, width, lm)
        slow.next(np.exp(log_probs.astype(np.float64)))
        slow = slow.decode(1)[0]
        assert fast.text == slow.text == ref.text
        assert fast.confidence == pytest.approx(ref.confidence, abs=1e-2)


def test_client_answers_garbage_words_with_the_out_of_grammar_path(
    chatty, scorers, deepspeech_lib, tmp_path
):
    """The same chatty model on noise: with the strict scorer every answer is a command
    (prefix); with the garbage path (frequent English words, escape 0) the client answers
    words that are no command, and our beam search gives the client's answers."""
    from dstorch.decoder import beam_search
    from dstorch.inference.official import OfficialModel
    from dstorch.prepare.phrases import frequent_words

    garbage = frequent_words("en", 1000)
    path = build_scorer(
        COMMANDS, ENGLISH, tmp_path / "g.scorer", 2.0, 2.0, mode="commands", garbage=garbage
    )
    clips = noises(np.random.default_rng(3))
    with OfficialModel(chatty[1], deepspeech_lib) as client:
        client.enable_scorer(scorers["commands"])
        strict = [client.stt(pcm) for pcm in clips]
        client.enable_scorer(path)
        width = client.beam_width
        theirs = [client.stt_with_metadata(pcm, 1)[0] for pcm in clips]
    assert all(is_command_prefix(a) for a in strict), strict
    outside = [t.text for t in theirs if not is_command_prefix(t.text)]
    assert len(outside) >= 3, [t.text for t in theirs]
    assert all(w in garbage for a in outside for w in a.split()), outside
    lm = Scorer(path)
    for pcm, ref in zip(clips, theirs, strict=True):
        ours = beam_search(our_log_probs(chatty[0], pcm), ENGLISH, width, lm)[0]
        assert ours.text == ref.text
        assert ours.confidence == pytest.approx(ref.confidence, abs=1e-2)
