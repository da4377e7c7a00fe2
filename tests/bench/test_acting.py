"""Acting on the official client's answers: outcomes with and without the gate, tables."""

import pytest
import torch
from conftest import ENGLISH, random_model

from dstorch.alphabet import Alphabet
from dstorch.augment import cache
from dstorch.bench.acting import (
    GATED,
    NO_GATE,
    PROJECT,
    Acting,
    format_acting,
    format_acting_summary,
    judge_acting,
)
from dstorch.bench.negatives import render_noise
from dstorch.outcomes import Judged, tally
from dstorch.prepare.example_data import COMMANDS
from dstorch.rejection import Gate, gate_path

SENTENCES = sorted(COMMANDS.values())
ON, MUSIC = "turn on the light", "play music"


def row(gate: str, right: int, wrong: int, accepted: int, seed: int = 0) -> Acting:
    judged = [Judged(ON, ON, 1.0)] * right + [Judged(ON, MUSIC, 1.0)] * wrong
    judged += [Judged(ON, "", 1.0)] * (10 - right - wrong)  # rejected
    judged += [Judged(None, "stop", 1.8, said="stop now")] * accepted
    judged += [Judged(None, "", 1.8, said="")] * (10 - accepted)
    seen = tally([Judged(MUSIC, MUSIC, 1.0)] * 4, SENTENCES)
    return Acting(
        "festival", "defaults", "clean", "commands", gate, tally(judged, SENTENCES), seen, seed
    )


def test_acting_table_has_outcomes_false_accepts_and_confusions():
    table = format_acting([row(NO_GATE, 7, 2, 5), row(GATED, 6, 1, 1)]).splitlines()
    assert len(table) == 4 and "false accepts per hour" in table[0]
    assert "| off | 70% / 20% / 10% (10 clips) | 100% / 0% / 0% (4 clips) |" in table[2]
    assert "| 50% (5 of 10: near miss 5/5, silence or noise 0/5) | 1000 |" in table[2]
    assert table[2].endswith(f"| {ON} → {MUSIC} ×2 |")
    assert "| 10% (1 of 10" in table[3] and "| 200 |" in table[3]


def test_acting_summary_gives_mean_and_spread_over_seeds():
    rows = [row(NO_GATE, 6, 2, 4, seed=1), row(NO_GATE, 8, 0, 6, seed=2)]
    (head, _, line) = format_acting_summary(rows).splitlines()
    assert "unseen right, mean (lowest-highest)" in head
    assert "| off | 70% (60%-80%) | 10% (0%-20%) | 100% (100%-100%) | 50% (40%-60%) |" in line
    assert line.endswith("| 1000 (800-1200) | 2 |")


@pytest.fixture(scope="module")
def chatty(tmp_path_factory):
    """A random model sharpened to emit characters on every clip, exported: its .pbmm."""
    from dstorch.export import export_model

    model = random_model(len(ENGLISH) + 1, seed=0)
    with torch.no_grad():
        model.layer_6.weight.mul_(4.0)
        model.layer_6.bias.mul_(4.0)
    out = tmp_path_factory.mktemp("chatty")
    return export_model(model, Alphabet(ENGLISH), out, "chatty")[1]


def test_judge_acting_with_and_without_the_gate(tmp_path, chatty, deepspeech_lib):
    """The strict scorer makes the chatty model answer commands on noise: false accepts
    without the gate; a gate no answer can pass rejects them all."""
    from dstorch.lm.scorer import ScorerError, build_scorer, find_kenlm_bin

    try:
        find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))
    scorer = build_scorer(SENTENCES, ENGLISH, tmp_path / "c.scorer", 2.0, 2.0, mode="commands")
    cache.use_data_dir(tmp_path)
    try:
        noise = render_noise(tmp_path / "negatives", per_kind=1, seed=4)
    finally:
        cache.use_data_dir(None)
    commands = [(wav, "stop", "x") for wav, _, _ in noise[1:3]]  # "stop" said over noise
    files = {"model": chatty, PROJECT: scorer}
    assert judge_acting({"model": chatty, PROJECT: None}, commands, [], noise, SENTENCES) == {}
    (plain,) = judge_acting(files, commands, commands[:1], noise, SENTENCES).values()
    unseen, seen = plain
    assert (unseen.positives, unseen.negatives, seen.positives) == (2, 5, 1)
    assert unseen.negative_seconds > 5 and unseen.right + unseen.wrong + unseen.rejected == 2
    gate = Gate("confidence_per_second", 1e9, 2, tuple(SENTENCES))
    gate.save(gate_path(chatty))
    try:
        judged = judge_acting(files, commands, commands[:1], noise, SENTENCES)
    finally:
        gate_path(chatty).unlink()
    assert set(judged) == {NO_GATE, GATED} and judged[NO_GATE] == plain
    gated, _ = judged[GATED]
    assert gated.false_accepts == 0 and gated.rejected == 2 and gated.negatives == 5
