"""Rejection tuning (escape x alpha/beta on dev positives and negatives) and the gate,
with real KenLM scorers and our client-parity decoder; then the job's scorer stage with
dev negatives."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import ENGLISH, load_clip
from decoder_helpers import soft
from training_helpers import write_wav

from dstorch.lm.scorer import Scorer, ScorerError, build_scorer, find_kenlm_bin, read_scorer
from dstorch.rejection import Gate, Tally, calibrate, gate_path
from dstorch.training import job, tune
from dstorch.training.data import Sample
from dstorch.training.evaluate import Output
from dstorch.training.search import SEARCH_SPACES, search
from dstorch.training.tune_rejection import (
    ESCAPES,
    DevSet,
    Point,
    calibrate_gate,
    choose,
    hear,
    tune_rejection,
)

COMMANDS = ["go", "stop", "yes", "no", "turn on the light"]
SAID = ["the cat is here", "we go home", "stop that now", "yes please", "turn on the radio"]
GARBAGE = ["the", "cat", "is", "here", "we", "go", "home", "that", "now", "please", "radio"]


def kenlm_or_skip() -> Path:
    try:
        return find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))


def tally(right: int, wrong: int, false_accepts: int) -> Tally:
    """Of 100 positives and 100 negatives."""
    return Tally(right, wrong, 100 - right - wrong, 100, false_accepts)


def test_choose_fewest_errors_within_two_points_of_the_most_right():
    strict = Point(None, 2.0, 2.0, tally(90, 8, 80), 0.0)
    middle = Point(-2.0, 2.5, 1.0, tally(88, 3, 30), 0.2)
    eager = Point(2.0, 1.0, 0.0, tally(70, 0, 0), 0.5)  # rejects too many commands
    assert choose([strict, middle, eager]) == middle
    same = dataclasses.replace(middle, escape=0.0, distance=0.0)
    assert choose([same, middle]) == middle  # ties: the earlier escape, then the start
    assert choose([strict]) == strict


def output(text: str, index: int) -> Output:
    """Probabilities spelling `text` softly (P = 0.6 per character) as a dev clip's."""
    return Output(Sample(Path(f"{index}.wav"), text, [], index), soft(text, p=0.6), 0.0)


@pytest.fixture(scope="module")
def dev() -> DevSet:
    positives = [output(c, i) for i, c in enumerate(COMMANDS)]
    negatives = [output(s, 10 + i) for i, s in enumerate(SAID)]
    return DevSet(positives, negatives, frozenset(COMMANDS))


def test_the_garbage_path_wins_where_negatives_spell_other_words(dev: DevSet, tmp_path):
    """Without the path every negative comes out as some command (prefix): 'we go home'
    as 'go', 'yes please' as 'yes'. With it they come out as what was spelt, and the
    commands stay right."""
    kenlm_or_skip()
    space = SEARCH_SPACES["commands"]

    def scorer_at(escape):
        path = tmp_path / f"{escape}.scorer"
        junk = GARBAGE if escape is not None else []
        return Scorer(
            build_scorer(
                COMMANDS,
                ENGLISH,
                path,
                2.0,
                2.0,
                mode="commands",
                garbage=junk,
                escape=escape or 0.0,
            )
        )

    def run_search(objective, trials):
        return search(objective, trials, 0, space)

    point, tried = tune_rejection(dev, ENGLISH, scorer_at, run_search, 64, trials=15)
    assert tried == 15 + len(ESCAPES) - 1  # the search without the path, then each escape
    assert point.escape is not None
    assert point.tally.right == 5 and point.tally.false_accepts == 0
    scorer = scorer_at(point.escape)
    scorer.alpha, scorer.beta = point.alpha, point.beta
    gate, before, after = calibrate_gate(dev, ENGLISH, scorer, 64)
    assert isinstance(gate, Gate) and set(gate.commands) == set(COMMANDS)
    assert before.right == after.right == 5
    notes: list[str] = []
    written = tune.write_gate(scorer.file.path, ENGLISH, dev, 64, notes)
    assert written == gate_path(scorer.file.path) and Gate.load(written).commands == gate.commands
    assert notes[0].startswith(f"gate {gate.measure} >= ") and "5/5 right" in notes[0]
    positives_only = dataclasses.replace(dev, negatives=[])
    assert tune.write_gate(scorer.file.path, ENGLISH, positives_only, 64, notes) == written


def test_the_gate_keeps_the_dev_commands_said_in_rooms(dev: DevSet, tmp_path):
    """Dev commands in a room score lower; the gate counts them among the right commands
    it may lose 2% of, so its threshold goes lower than the clean dev set's would. The
    tallies stay the clean dev set's."""
    kenlm_or_skip()
    path = build_scorer(COMMANDS, ENGLISH, tmp_path / "s.scorer", 2.0, 2.0, mode="commands")
    scorer = Scorer(path)
    clean, before, _ = calibrate_gate(dev, ENGLISH, scorer, 64)
    muffled = [
        dataclasses.replace(o, log_probs=soft(o.sample.transcript, p=0.3)) for o in dev.positives
    ]
    gate, with_rooms, _ = calibrate_gate(
        dataclasses.replace(dev, in_rooms=muffled), ENGLISH, scorer, 64
    )
    assert gate.threshold < clean.threshold
    assert with_rooms.as_dict() == before.as_dict()
    heard = [hear(o, o.sample.transcript, ENGLISH, scorer, 64) for o in dev.positives + muffled]
    heard += [hear(o, None, ENGLISH, scorer, 64) for o in dev.negatives]
    assert gate == calibrate(heard, dev.commands)


# --- the job's scorer stage with dev negatives ---------------------------------------------


@pytest.fixture
def with_negatives(checkpointed, tmp_path: Path):
    """The checkpointed random model, with noise and silence as dev negatives and garbage
    words beside the corpus."""
    data = Path(checkpointed.alphabet_config_path).parent
    rows = []
    for name in ("noise", "silence"):
        write_wav(data / f"{name}.wav", load_clip(name))
        rows.append(f"{name}.wav,{(data / f'{name}.wav').stat().st_size},")
    csv = data / "dev_negatives.csv"
    csv.write_text("wav_filename,wav_filesize,transcript\n" + "\n".join(rows) + "\n")
    (data / "lm_garbage.txt").write_text("the\nweather\nis\nnice\ngoes\n")
    return dataclasses.replace(checkpointed, dev_negative_files=str(csv))


def test_stage_tunes_the_escape_with_negatives_and_reports_it(with_negatives, capsys):
    kenlm_or_skip()
    outcome = tune.run_stage(with_negatives, tune.ScorerSettings(trials=2))
    tuning = outcome.tuning
    assert outcome.error is None and tuning is not None
    assert tuning.escape in ESCAPES and tuning.trials == 2 + len(ESCAPES) - 1
    assert (tuning.dev_samples, tuning.dev_negatives) == (8, 2)
    figures = tuning.dev_outcomes  # rejected: of the commands said
    assert figures["right"] + figures["wrong"] + figures["rejected"] == 8
    assert figures["false_accept"] <= 2
    parsed = read_scorer(outcome.path)
    assert (parsed.alpha, parsed.beta) == (outcome.alpha, outcome.beta)
    garbage_word = [ENGLISH.index(c) + 1 for c in "weather "]
    assert parsed.fst.accepts(garbage_word) == (tuning.escape is not None)
    printed = capsys.readouterr().out
    assert "dev negatives" in printed and "escape" in printed
    report = job.test_and_report(with_negatives, scorer=outcome)
    on_disk = json.loads(Path(with_negatives.test_output_file).read_text())
    assert on_disk["scorer"]["tuning"]["escape"] == tuning.escape == report.scorer.tuning["escape"]
    assert outcome.gate is None or outcome.gate == gate_path(outcome.path)


def test_stage_without_negatives_keeps_todays_scorer(checkpointed):
    """Garbage words but no dev negatives: no path, alpha/beta tuned on WER as before."""
    kenlm_or_skip()
    data = Path(checkpointed.alphabet_config_path).parent
    (data / "lm_garbage.txt").write_text("the\nweather\n")
    outcome = tune.run_stage(checkpointed, tune.ScorerSettings(trials=2))
    assert outcome.tuning.escape is None and outcome.tuning.dev_negatives == 0
    assert not read_scorer(outcome.path).fst.accepts([ENGLISH.index(c) + 1 for c in "the "])
