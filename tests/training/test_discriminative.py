"""Commands as rivals (--discriminative_weight)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from training_helpers import make_config

from dstorch.alphabet import Alphabet
from dstorch.training.data import Sample
from dstorch.training.discriminative import RIVALS, Rivals, rivals_of
from dstorch.training.loop import setup, train

ALPHABET = Alphabet.of(list(" abcdefghijklmnopqrstuvwxyz'"))
COMMANDS = ["turn on the light", "turn off the light", "turn on the fan", "turn off the fan"]
COMMANDS += ["open the door", "close the door", "call mark", "call mike"]


def rivals(weight: float = 1.0, commands=COMMANDS) -> Rivals:
    return Rivals({c: ALPHABET.encode(c) for c in commands}, weight, ALPHABET.blank)


def sample(text: str) -> Sample:
    return Sample(Path(f"{text}.wav"), text, ALPHABET.encode(text))


def ctc(log_probs: torch.Tensor, texts: list[str], lengths: torch.Tensor) -> torch.Tensor:
    """[B] -log p(text) of each clip's output."""
    labels = [ALPHABET.encode(t) for t in texts]
    return torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1),
        torch.tensor([x for y in labels for x in y], dtype=torch.long),
        lengths,
        torch.tensor([len(y) for y in labels]),
        blank=ALPHABET.blank,
        reduction="none",
        zero_infinity=True,
    )


def outputs(clips: int, frames: int = 40, seed: int = 0) -> torch.Tensor:
    """[clips, frames, classes] logits."""
    shape = (clips, frames, ALPHABET.blank + 1)
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_the_rivals_are_the_nearest_commands_but_itself():
    r = rivals()
    assert r.of("turn on the light") == [
        "turn off the light",
        "turn on the fan",
        "turn off the fan",
        "open the door",
    ]
    assert r.of("hall mark")[:2] == ["call mark", "call mike"]  # a near-miss: its command
    assert len(r.of("")) == RIVALS and "" not in r.of("")
    assert rivals(commands=["yes", "no"]).of("yes") == ["no"]


def test_it_is_off_without_weight_or_without_a_second_command():
    assert rivals(1.0)
    assert not rivals(0.0)
    assert not rivals(1.0, commands=["yes"])


def test_the_term_is_minus_the_log_posterior_among_the_rivals():
    texts = ["turn on the light", "hall mark", ""]
    log_probs = outputs(3).log_softmax(-1)
    lengths = torch.tensor([40, 40, 40])
    own = ctc(log_probs, texts, lengths)
    got = rivals(0.5).losses(own, log_probs, lengths, [sample(t) for t in texts])
    for i, text in enumerate(texts):
        names = rivals().of(text)
        theirs = ctc(log_probs[[i] * len(names)], names, lengths[[i] * len(names)])
        expected = 0.5 * torch.cat([torch.zeros(1), own[i] - theirs]).logsumexp(0)
        torch.testing.assert_close(got[i], expected)
    assert (got > 0).all()


def test_rivals_too_long_for_the_clip_are_left_out():
    """CTC cannot spell a rival in fewer frames than its letters: no term, not an inf."""
    log_probs = outputs(2, frames=10).log_softmax(-1)
    lengths = torch.tensor([10, 4])
    r = rivals(commands=["call mark", "open the door", "call"])
    own = ctc(log_probs, ["call", "call"], lengths)
    got = r.losses(own, log_probs, lengths, [sample("call"), sample("call")])
    assert torch.isfinite(got).all()
    assert got[0] > 0  # "call mark" fits 10 frames
    assert got[1] == 0  # nothing fits 4 frames: no rival at all


def test_a_step_on_the_term_pulls_the_clip_away_from_its_rival():
    logits = outputs(1, seed=3).requires_grad_(True)
    lengths = torch.tensor([40])
    r = rivals(commands=["call mark", "call mike"])

    def both():
        log_probs = logits.log_softmax(-1)
        return ctc(log_probs, ["call mark"], lengths), ctc(log_probs, ["call mike"], lengths)

    own, rival = both()
    term = r.losses(own, logits.log_softmax(-1), lengths, [sample("call mark")])
    term.sum().backward()
    with torch.no_grad():
        logits -= 0.5 * logits.grad
    own_after, rival_after = both()
    assert (rival_after - own_after) > (rival - own)  # -log p: the rival got less likely


def test_the_trainer_keeps_the_training_transcripts_apart(tmp_path):
    s = setup(make_config(tmp_path, discriminative_weight=1.0))
    assert sorted(s.rivals.commands) == ["go", "no", "stop", "yes"]
    assert s.rivals.weight == 1.0
    assert rivals_of([sample("go")], 1.0, ALPHABET.blank).commands == {"go": [7, 15]}


@pytest.mark.parametrize("views", [0.0, 0.5])
def test_training_with_rivals_reduces_the_loss(tmp_path, views):
    config = make_config(
        tmp_path,
        epochs=3,
        discriminative_weight=1.0,
        consistency_weight=views,
        augment=["volume[p=0.5,dbfs=-30:-10]"],
    )
    history = train(config).state.history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
