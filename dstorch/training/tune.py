"""The job's scorer stage: build <export_dir>/<name>.scorer from data/lm_corpus.txt and
tune its default alpha/beta on the dev set, as DeepSpeech's lm_optimizer.py did.

Tuning runs the acoustic model once per dev clip and repeats only the decoding (our
client-parity beam search), so a trial costs a few decodes (dstorch.training.search).

The box and the starting point depend on LM_MODE. The open LM starts at DeepSpeech's
release defaults. The command-strict LM (dstorch.lm.arpa) starts where the probe found it
strict and accurate (alpha 2, beta 2), and keeps alpha >= 1: each word outside the
commands costs about -23 * alpha (ln), so a small alpha would give the strictness away
for a dev-set gain that a handful of clips cannot show.

With dev negatives (DEV_NEGATIVES) and garbage words (LM_GARBAGE beside the corpus), the
command-strict scorer's out-of-grammar path is tuned with alpha/beta on dev positives and
negatives together (dstorch.training.tune_rejection). Whenever there are dev clips, the
confidence gate is then calibrated on them and written beside the scorer as
<name>.gate.json (dstorch.rejection): from positives alone, it keeps 99% of the right
commands.
"""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dstorch.alphabet import BytesAlphabet
from dstorch.config import LM_COMMANDS, LM_OPEN, PipelineConfig, TrainConfig
from dstorch.datafiles import LM_CORPUS, LM_GARBAGE
from dstorch.decoder import beam_search
from dstorch.errors import DstorchError
from dstorch.fs import atomic_write
from dstorch.lm.scorer import (
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    Scorer,
    ScorerError,
    build_scorer,
    find_kenlm_bin,
    read_scorer,
    trie_header,
)
from dstorch.rejection import gate_path
from dstorch.training import checkpoint as ckpt
from dstorch.training.data import FeatureCache, read_csvs
from dstorch.training.evaluate import Output, forward_all, score_all, summarize
from dstorch.training.loop import pick_device
from dstorch.training.noisy import dev_conditions
from dstorch.training.report_schema import ScorerReport
from dstorch.training.search import OPEN_SPACE, SEARCH_SPACES, SearchSpace, search
from dstorch.training.tune_rejection import DevSet, calibrate_gate, tune_rejection


@dataclass
class ScorerSettings:
    """How the job builds the scorer. corpus None: lm_corpus.txt next to the alphabet.
    mode: LM_COMMANDS (strict, the pipeline's default without LM_TEXT) or LM_OPEN."""

    trials: int = 30
    corpus: str | None = None
    beam_width: int | None = None  # None: the export beam width (what the client uses)
    kenlm_bin: str | None = None
    mode: str = LM_COMMANDS

    @classmethod
    def from_pipeline(cls, pipeline: PipelineConfig) -> ScorerSettings:
        return cls(trials=pipeline.lm_tune_trials, mode=pipeline.scorer_mode)

    @property
    def space(self) -> SearchSpace:
        return SEARCH_SPACES[self.mode]

    def corpus_path(self, config: TrainConfig) -> Path:
        return Path(self.corpus or Path(config.alphabet_config_path).parent / LM_CORPUS)

    def garbage_path(self, config: TrainConfig) -> Path:
        """LM_GARBAGE beside the corpus (prepare writes it with GENERAL_SENTENCES or
        NEAR_MISSES): the out-of-grammar path's words."""
        return self.corpus_path(config).parent / LM_GARBAGE


@dataclass
class Tuning:
    """Search result on the dev set; `default_*` are the figures at the search's start
    (DeepSpeech's release defaults for the open LM)."""

    alpha: float
    beta: float
    dev_wer: float
    dev_cer: float
    default_wer: float
    default_cer: float
    trials: int
    dev_samples: int
    # with dev negatives and garbage words (dstorch.training.tune_rejection):
    escape: float | None = None  # the out-of-grammar path's escape (log10); None: none
    dev_negatives: int = 0
    dev_outcomes: dict[str, int] | None = None  # right, wrong, rejected, false_accepts


@dataclass
class ScorerOutcome:
    """What the scorer stage produced: a scorer (maybe untuned) or an error line."""

    path: Path | None = None
    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA
    mode: str = LM_OPEN
    tuning: Tuning | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    gate: Path | None = None  # <name>.gate.json beside the scorer, when calibrated

    def report(self) -> ScorerReport:
        """report.json's scorer section (the job adds the figures on the test set)."""
        if self.path is None:
            return ScorerReport(error=self.error)
        return ScorerReport(
            file=self.path.name,
            mode=self.mode,
            alpha=self.alpha,
            beta=self.beta,
            tuning=asdict(self.tuning) if self.tuning else None,
            notes=list(self.notes),
        )


def set_default_alpha_beta(path: str | Path, alpha: float, beta: float) -> None:
    """Rewrite the alpha/beta stored in a scorer's header (the client's defaults)."""
    path = Path(path)
    parsed = read_scorer(path)
    header = trie_header(parsed.utf8, alpha, beta)
    data = bytearray(path.read_bytes())
    data[parsed.lm_size : parsed.lm_size + len(header)] = header
    atomic_write(path, bytes(data))  # never a half-patched scorer under the final name
    check = read_scorer(path)
    if (check.alpha, check.beta) != (alpha, beta):
        raise ScorerError(f"{path}: alpha/beta rewrite did not stick; rebuild the scorer")


def tune(
    outputs: list[Output],
    labels: list[str],
    scorer: Scorer,
    beam_width: int,
    trials: int,
    seed: int = 0,
    space: SearchSpace = OPEN_SPACE,
) -> Tuning:
    """Search alpha/beta on precomputed dev outputs; leaves the best set on `scorer`."""

    def objective(alpha: float, beta: float) -> tuple[float, float]:
        scorer.alpha, scorer.beta = alpha, beta  # as DS_SetScorerAlphaBeta

        def decode(log_probs: np.ndarray) -> str:
            return beam_search(log_probs, labels, beam_width, scorer)[0].text

        figures = summarize(score_all(outputs, decode))
        return figures.wer, figures.cer

    done = search(objective, trials, seed, space)
    wer, cer, _, alpha, beta = min(done)
    scorer.alpha, scorer.beta = alpha, beta
    return Tuning(alpha, beta, wer, cer, done[0][0], done[0][1], len(done), len(outputs))


def run_stage(config: TrainConfig, settings: ScorerSettings) -> ScorerOutcome:
    """Build and tune the scorer, then calibrate the gate. Never raises for scorer problems:
    the trained model matters more, so a failure is one printed line and the export goes
    on without one (and without a gate, which belongs to a scorer)."""
    path = Path(config.export_dir) / f"{config.export_file_name}.scorer"
    gate_path(path).unlink(missing_ok=True)  # a stale gate could mismatch the new model
    try:
        built = _build(config, settings, path)
    except Exception as e:  # noqa: BLE001 - see the docstring
        path.unlink(missing_ok=True)  # a stale scorer could mismatch the new model
        error = _one_line(e)
        print(f"Scorer: not built: {error}; exporting the model without one")
        return ScorerOutcome(error=error)
    outcome = ScorerOutcome(path, *settings.space.start, mode=settings.mode)
    dev = None
    try:
        dev = _dev_set(config, built)
        outcome.tuning = _tune_on_dev(config, settings, path, built, dev, outcome.notes)
    except Exception as e:  # noqa: BLE001 - the untuned scorer is still useful
        outcome.notes.append(f"not tuned ({_one_line(e)}); default alpha/beta kept")
    if outcome.tuning:
        outcome.alpha, outcome.beta = outcome.tuning.alpha, outcome.tuning.beta
    try:
        beam_width = settings.beam_width or config.export_beam_width
        outcome.gate = write_gate(path, built.labels, dev, beam_width, outcome.notes)
    except Exception as e:  # noqa: BLE001 - the scorer alone is still useful
        outcome.notes.append(f"no gate ({_one_line(e)})")
    for note in outcome.notes:
        print(f"Scorer: {note}")
    print(f"Scorer: {path} ({outcome.mode} LM, alpha {outcome.alpha:.3f}, beta {outcome.beta:.3f})")
    return outcome


def _one_line(error: Exception) -> str:
    if not isinstance(error, (DstorchError, OSError)):
        traceback.print_exc()  # anything else is a bug: keep the details in the log
    text = " ".join(str(error).split())
    return text if isinstance(error, ScorerError) else f"{type(error).__name__}: {text}"


@dataclass(frozen=True)
class Built:
    """What building the scorer needed: the corpus lines, the model's alphabet."""

    corpus: Path
    lines: list[str]
    labels: list[str]
    utf8: bool


def _build(config: TrainConfig, settings: ScorerSettings, path: Path) -> Built:
    """Build the scorer from the corpus with the model's alphabet."""
    corpus = settings.corpus_path(config)
    try:
        lines = corpus.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ScorerError(f"{corpus} not found; run `make prepare` to write it") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScorerError(f"cannot read {corpus}: {e}") from None
    find_kenlm_bin(settings.kenlm_bin)  # the usual failure: say it before loading anything
    _, alphabet, _ = ckpt.load_for_inference(config.save_dir)
    built = Built(corpus, lines, alphabet.labels, isinstance(alphabet, BytesAlphabet))
    _make(built, settings, path, *settings.space.start)
    return built


def _make(
    built: Built,
    settings: ScorerSettings,
    path: Path,
    alpha: float,
    beta: float,
    garbage: Sequence[str] = (),
    escape: float = 0.0,
) -> Path:
    """build_scorer for the stage (bytes output mode: a UTF-8 scorer)."""
    try:
        return build_scorer(
            built.lines,
            built.labels,
            path,
            alpha,
            beta,
            utf8=built.utf8,
            kenlm_bin=settings.kenlm_bin,
            mode=settings.mode,
            garbage=garbage,
            escape=escape,
        )
    except ScorerError as e:
        raise ScorerError(f"{built.corpus}: {e}") from None


def _dev_set(config: TrainConfig, built: Built) -> DevSet | None:
    """The acoustic model's outputs on the dev positives and negatives; None: no dev clips."""
    model, alphabet, _ = ckpt.load_for_inference(config.save_dir)
    samples = read_csvs(config.dev_files, alphabet, allow_empty=True) if config.dev_files else []
    if not samples:
        return None
    negatives = (
        read_csvs(config.dev_negative_files, alphabet, allow_empty=True, silent=True)
        if config.dev_negative_files
        else []
    )
    device = pick_device(config.device)
    model, cache = model.to(device), FeatureCache()
    outputs = forward_all(model, samples + negatives, cache, config.dev_batch_size, device, "Tune")
    in_rooms = []
    for features in dev_conditions(samples, config.dev_snr_list()):
        in_rooms += forward_all(model, samples, features, config.dev_batch_size, device, "Tune")
    commands = frozenset(" ".join(line.split()) for line in built.lines if line.strip())
    return DevSet(outputs[: len(samples)], outputs[len(samples) :], commands, in_rooms)


def _tune_on_dev(
    config: TrainConfig,
    settings: ScorerSettings,
    path: Path,
    built: Built,
    dev: DevSet | None,
    notes: list,
) -> Tuning | None:
    """Tune on the dev set and store the result in the scorer's header."""
    if settings.trials <= 0:
        notes.append(f"LM_TUNE_TRIALS=0: the {settings.mode} LM's default alpha/beta kept")
        return None
    if dev is None:
        notes.append("no dev samples to tune alpha/beta on; default alpha/beta kept")
        return None
    beam_width = settings.beam_width or config.export_beam_width
    garbage = settings.garbage_path(config)
    if settings.mode == LM_COMMANDS and garbage.is_file() and dev.negatives:
        return _tune_rejection(config, settings, path, built, dev, garbage, notes)
    scorer = Scorer(path)
    tuning = tune(
        dev.positives,
        built.labels,
        scorer,
        beam_width,
        settings.trials,
        config.random_seed,
        settings.space,
    )
    set_default_alpha_beta(path, tuning.alpha, tuning.beta)
    notes.append(
        f"tuned on {tuning.dev_samples} dev clips in {tuning.trials} trials: WER "
        f"{tuning.default_wer:.3f} at the starting point -> {tuning.dev_wer:.3f}"
    )
    return tuning


def _tune_rejection(
    config: TrainConfig,
    settings: ScorerSettings,
    path: Path,
    built: Built,
    dev: DevSet,
    garbage_file: Path,
    notes: list,
) -> Tuning:
    """Escape x alpha/beta on dev positives and negatives (tune_rejection); rebuilds the
    scorer at the chosen point."""
    try:
        garbage = garbage_file.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as e:
        raise ScorerError(f"cannot read {garbage_file}: {e}; run `make prepare` again") from None
    beam_width = settings.beam_width or config.export_beam_width
    start = settings.space.start
    with tempfile.TemporaryDirectory(prefix="dstorch-escape-") as tmp:

        def scorer_at(escape: float | None) -> Scorer:
            trial = Path(tmp) / f"{escape}.scorer"
            junk = garbage if escape is not None else []
            return Scorer(_make(built, settings, trial, *start, junk, escape or 0.0))

        def run_search(objective, trials: int) -> list[tuple]:
            return search(objective, trials, config.random_seed, settings.space)

        point, tried = tune_rejection(
            dev, built.labels, scorer_at, run_search, beam_width, settings.trials
        )
        default = Scorer(path)
    junk = garbage if point.escape is not None else []
    _make(built, settings, path, point.alpha, point.beta, junk, point.escape or 0.0)

    def wer_cer(scorer: Scorer) -> tuple[float, float]:
        def decode(log_probs: np.ndarray) -> str:
            return beam_search(log_probs, built.labels, beam_width, scorer)[0].text

        figures = summarize(score_all(dev.positives, decode))
        return figures.wer, figures.cer

    escape = "none" if point.escape is None else f"{point.escape:g}"
    notes.append(
        f"tuned on {len(dev.positives)} dev clips and {len(dev.negatives)} dev negatives in "
        f"{tried} trials: escape {escape}, dev {point.tally.line()}"
    )
    return Tuning(
        point.alpha,
        point.beta,
        *wer_cer(Scorer(path)),
        *wer_cer(default),
        tried,
        len(dev.positives),
        point.escape,
        len(dev.negatives),
        point.tally.as_dict(),
    )


def write_gate(
    path: Path, labels: list[str], dev: DevSet | None, beam_width: int, notes: list[str]
) -> Path | None:
    """Calibrate the gate on the dev clips with the scorer at `path` (its stored alpha/beta)
    and write it beside: <name>.gate.json; -> that file, or None (a line in `notes` says
    why)."""
    if dev is None:
        notes.append("no gate: no dev clips to calibrate it on")
        return None
    gate, before, after = calibrate_gate(dev, labels, Scorer(path), beam_width)
    if gate is None:
        notes.append("no gate: no dev command was decoded right to calibrate it on")
        return None
    target = gate_path(path)
    gate.save(target)
    notes.append(
        f"gate {gate.measure} >= {gate.threshold:.3f} ({target.name}): dev "
        f"{before.line()} -> {after.line()}"
    )
    return target
