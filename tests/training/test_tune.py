"""The job's scorer stage: build + tune the .scorer, fall back cleanly, match the client."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from config_helpers import shipped_config
from conftest import FIXTURES_DIR, ROOT

from dstorch.config import TrainConfig
from dstorch.decoder import beam_search
from dstorch.lm.scorer import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    Scorer,
    ScorerError,
    build_scorer,
    find_kenlm_bin,
    read_scorer,
)
from dstorch.runner.state import RunStatus, read_state
from dstorch.training import checkpoint as ckpt
from dstorch.training import job, tune
from dstorch.training.data import FeatureCache, read_csvs
from dstorch.training.evaluate import forward_all
from dstorch.training.report_schema import ScorerReport
from dstorch.wav import read_wav

CLIPS = FIXTURES_DIR / "clips"


def kenlm_or_skip() -> Path:
    try:
        return find_kenlm_bin()
    except ScorerError as e:
        pytest.skip(str(e))


# --- the search ---------------------------------------------------------------------------


def test_search_starts_at_the_defaults_stays_in_the_box_and_is_deterministic():
    seen: list[tuple[float, float]] = []

    def objective(alpha: float, beta: float) -> tuple[float, float]:
        seen.append((alpha, beta))
        return 1.0, 1.0

    first = tune.search(objective, 12, seed=3)
    assert len(first) == 12 and seen[0] == (round(DEFAULT_ALPHA, 3), round(DEFAULT_BETA, 3))
    assert all(0 <= a <= 5 and -2 <= b <= 5 for a, b in seen)
    assert len(set(seen)) == 12
    assert tune.search(objective, 12, seed=3) == first
    assert min(first)[3:] == seen[0], "ties must keep the release defaults"


def test_commands_space_starts_at_two_two_and_keeps_alpha_strict():
    seen: list[tuple[float, float]] = []

    def objective(alpha: float, beta: float) -> tuple[float, float]:
        seen.append((alpha, beta))
        return 0.0, 0.0

    done = tune.search(objective, 20, seed=1, space=tune.SEARCH_SPACES["commands"])
    assert seen[0] == (2.0, 2.0) and min(done)[3:] == (2.0, 2.0)
    assert all(1.0 <= a <= 5.0 and -1.0 <= b <= 6.0 for a, b in seen)


def test_search_finds_the_better_region():
    def objective(alpha: float, beta: float) -> tuple[float, float]:
        return round((alpha - 3.5) ** 2 + (beta + 1) ** 2, 1), 0.0

    wer, _, _, alpha, beta = min(tune.search(objective, 30, seed=0))
    assert abs(alpha - 3.5) < 0.5 and abs(beta + 1) < 0.5, (alpha, beta)


# --- the stage on a checkpointed random model (fast) ---------------------------------------


def test_stage_builds_tunes_and_stores_alpha_beta(checkpointed: TrainConfig):
    kenlm_or_skip()
    outcome = tune.run_stage(checkpointed, tune.ScorerSettings(trials=4))
    assert outcome.error is None and outcome.path == Path(checkpointed.export_dir) / "m.scorer"
    parsed = read_scorer(outcome.path)
    assert (parsed.alpha, parsed.beta) == (outcome.alpha, outcome.beta)
    assert outcome.tuning is not None and outcome.tuning.trials == 4
    assert outcome.tuning.dev_samples == 8
    report = job.test_and_report(checkpointed, scorer=outcome)
    assert report.scorer.file == "m.scorer" and report.scorer.figures.samples == 8
    assert report.scorer.beam_width == checkpointed.export_beam_width
    assert json.loads(Path(checkpointed.test_output_file).read_text())["scorer"]["alpha"] == (
        outcome.alpha
    )


def test_header_rewrite_keeps_the_lm(tmp_path: Path):
    kenlm_or_skip()
    path = build_scorer(["go", "stop"], list(" abcdefghijklmnopqrstuvwxyz'"), tmp_path / "x")
    before = path.read_bytes()
    tune.set_default_alpha_beta(path, 2.25, -0.5)
    parsed = read_scorer(path)
    assert (parsed.alpha, parsed.beta) == (2.25, -0.5)
    after = path.read_bytes()
    assert len(after) == len(before) and after[: parsed.lm_size] == before[: parsed.lm_size]
    assert Scorer(path).alpha == 2.25


@pytest.mark.parametrize(
    ("mode", "start"), [("open", (DEFAULT_ALPHA, DEFAULT_BETA)), ("commands", (2.0, 2.0))]
)
def test_no_tuning_without_trials_or_dev_set(checkpointed: TrainConfig, mode, start):
    kenlm_or_skip()
    outcome = tune.run_stage(checkpointed, tune.ScorerSettings(trials=0, mode=mode))
    assert outcome.path is not None and outcome.tuning is None
    assert (outcome.alpha, outcome.beta) == start == astuple(read_scorer(outcome.path))
    assert outcome.report().mode == mode
    no_dev = dataclasses.replace(checkpointed, dev_files="")
    outcome = tune.run_stage(no_dev, tune.ScorerSettings(trials=3))
    assert outcome.path is not None and "no dev samples" in outcome.notes[0]


def astuple(parsed) -> tuple[float, float]:
    return parsed.alpha, parsed.beta


def test_stage_builds_the_scorer_of_the_mode(checkpointed: TrainConfig):
    """Corpus go / no / yes / stop / go stop: "stop go" is word salad. The commands-mode
    scorer charges it a -10 (log10) back-off; the open one does not."""
    kenlm_or_skip()
    scores = {}
    for mode in ("commands", "open"):
        outcome = tune.run_stage(checkpointed, tune.ScorerSettings(trials=0, mode=mode))
        lm = Scorer(outcome.path)
        scores[mode] = lm.log_cond_prob(("stop", "go"), bos=True)
        assert lm.log_cond_prob(("go", "stop"), bos=True) > -1.0, mode
    assert scores["commands"] < -23 < -5 < scores["open"], scores


def _hide_kenlm(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr("dstorch.lm.scorer.SOURCE_ROOT", tmp_path)
    monkeypatch.delenv("DSTORCH_KENLM_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))


@pytest.mark.parametrize(
    "corpus, match",
    [
        (None, "lm_corpus.txt not found; run `make prepare`"),
        ("\n \n", "no sentences to build the scorer from"),
        ("go\nnaïve\n", "outside the alphabet"),
        ("kenlm", "build_kenlm.sh"),
    ],
)
def test_stage_failures_are_one_line_and_leave_no_scorer(
    checkpointed: TrainConfig, corpus, match, monkeypatch, tmp_path, capsys
):
    corpus_path = Path(checkpointed.alphabet_config_path).parent / "lm_corpus.txt"
    if corpus is None:
        corpus_path.unlink()
    elif corpus == "kenlm":
        _hide_kenlm(monkeypatch, tmp_path)
    else:
        corpus_path.write_text(corpus)
    stale = Path(checkpointed.export_dir) / "m.scorer"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an earlier run")
    outcome = tune.run_stage(checkpointed, tune.ScorerSettings(trials=2))
    assert outcome.path is None and match in outcome.error and "\n" not in outcome.error
    assert not stale.exists(), "a stale scorer could be shipped with the new model"
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("Scorer: not built:")
    report = job.test_and_report(checkpointed, scorer=outcome)
    assert report.scorer == ScorerReport(error=outcome.error)
    on_disk = json.loads(Path(checkpointed.test_output_file).read_text())
    assert on_disk["scorer"] == {"error": outcome.error}


def test_settings_from_pipeline_and_corpus_path():
    settings = tune.ScorerSettings.from_pipeline(shipped_config(lm_tune_trials=7))
    config = shipped_config().train_config("d", "c", "m")
    assert settings.trials == 7 and settings.corpus_path(config) == Path("d/lm_corpus.txt")
    assert settings.mode == "commands" and settings.space.start == (2.0, 2.0)
    with_text = shipped_config(lm_text="extra.txt")
    assert tune.ScorerSettings.from_pipeline(with_text).mode == "open"
    forced = shipped_config(lm_text="extra.txt", lm_mode="commands")
    assert tune.ScorerSettings.from_pipeline(forced).mode == "commands"


# --- end to end on the example data with the official client (slow) ------------------------


@pytest.fixture(scope="module")
def example_run(tmp_path_factory) -> TrainConfig:
    """original/en + commands.csv -> prepare -> a short training job with the scorer."""
    from dstorch.prepare import prepare

    kenlm_or_skip()
    out = tmp_path_factory.mktemp("example")
    pipeline = shipped_config(  # no augmentation, early stop or plateaus: a plain fit
        augment="",
        early_stop=False,
        reduce_lr_on_plateau=False,
        original_dir=str(ROOT / "original"),
        commands_csv=str(ROOT / "commands.csv"),
        data_dir=str(out / "data"),
        max_epoch=40,
        load_from_checkpoint=False,
        n_hidden=128,
        learning_rate=0.002,
        train_batch_size=8,
        lm_tune_trials=30,
        synthetic_voices="none",  # the scorer is under test here, not the training data
    )
    prepare(pipeline, out, echo=lambda _: None)
    config = pipeline.train_config(str(out / "data"), str(out / "ck"), str(out / "model"))
    config = dataclasses.replace(config, device="cpu")
    assert job.run(config, scorer=tune.ScorerSettings.from_pipeline(pipeline)) is RunStatus.FINISHED
    return config


@pytest.mark.slow
def test_job_exports_a_tuned_scorer_and_reports_both(example_run: TrainConfig):
    model_dir = Path(example_run.export_dir)
    assert (model_dir / "commands.scorer").exists()
    report = json.loads((model_dir / "report.json").read_text())
    with_lm, without = report["scorer"], report["no_scorer"]
    figures = {k: round(with_lm[k], 3) for k in ("wer", "cer", "accuracy", "alpha", "beta")}
    print(f"\ntest set without the scorer: {without}; with it: {figures}")
    assert with_lm["accuracy"] >= without["accuracy"] and with_lm["wer"] <= without["wer"]
    stored = read_scorer(model_dir / "commands.scorer")
    assert (stored.alpha, stored.beta) == (with_lm["alpha"], with_lm["beta"])
    assert with_lm["tuning"]["dev_wer"] <= with_lm["tuning"]["default_wer"]
    state = read_state(example_run.save_dir)
    assert state.status is RunStatus.FINISHED and state.scorer.endswith("commands.scorer")


@pytest.mark.slow
def test_official_client_takes_the_scorer_and_decodes_like_us(example_run, deepspeech_lib):
    from dstorch.inference.official import OfficialModel

    model, alphabet, _ = ckpt.load_for_inference(example_run.save_dir)
    data = Path(example_run.alphabet_config_path).parent
    samples = read_csvs(
        ",".join(str(data / f"{s}.csv") for s in ("train", "dev", "test")), alphabet
    )
    held_out = {s.wav for s in read_csvs(example_run.test_files, alphabet)}
    path = Path(example_run.export_dir) / "commands.scorer"
    lm = Scorer(path)
    outputs = forward_all(model, samples, FeatureCache(), 16, torch.device("cpu"))
    width = example_run.export_beam_width
    ours = [beam_search(o.log_probs, alphabet.labels, width, lm)[0].text for o in outputs]
    with OfficialModel(Path(example_run.export_dir) / "commands.pbmm", deepspeech_lib) as client:
        assert client.beam_width == width
        plain = [client.stt(read_wav(s.wav)) for s in samples]
        client.enable_scorer(path)  # raises unless DS_EnableExternalScorer returns 0
        theirs = [client.stt(read_wav(s.wav)) for s in samples]
    right = [
        (p == s.transcript, t == s.transcript)
        for s, p, t in zip(samples, plain, theirs, strict=True)
        if s.wav in held_out
    ]
    assert sum(t for _, t in right) >= sum(p for p, _ in right), right
    same = sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(samples)
    plain_right, lm_right = sum(p for p, _ in right), sum(t for _, t in right)
    print(
        f"\nclient, {len(right)} held-out clips: {plain_right} right without the scorer, "
        f"{lm_right} with it; parity with our decoder {same:.1%} of {len(samples)}"
    )
    assert same >= 0.99, f"our decoder matches the client on {same:.1%} of clips"
