"""The job's scorer stage: build <export_dir>/<name>.scorer from data/lm_corpus.txt and
tune its default alpha/beta on the dev set, as DeepSpeech's lm_optimizer.py did.

Tuning runs the acoustic model once per dev clip and repeats only the decoding (our
client-parity beam search), so a trial costs a few decodes. The search is deterministic
(no optuna dependency): DeepSpeech's release defaults first, then a low-discrepancy
sweep of the box, then shrinking steps around the best point.

The box and the starting point depend on LM_MODE. The open LM starts at DeepSpeech's
release defaults. The command-strict LM (dstorch.lm.arpa) starts where the probe found it
strict and accurate (alpha 2, beta 2), and keeps alpha >= 1: each word outside the
commands costs about -23 * alpha (ln), so a small alpha would give the strictness away
for a dev-set gain that a handful of clips cannot show.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from dstorch.alphabet import BytesAlphabet
from dstorch.config import LM_COMMANDS, LM_CORPUS, LM_OPEN, PipelineConfig, TrainConfig
from dstorch.decoder import beam_search
from dstorch.fs import atomic_write
from dstorch.lm.scorer import (
    COMMANDS_ALPHA,
    COMMANDS_BETA,
    DEFAULT_ALPHA,
    DEFAULT_BETA,
    Scorer,
    ScorerError,
    build_scorer,
    find_kenlm_bin,
    read_scorer,
    trie_header,
)
from dstorch.training import checkpoint as ckpt
from dstorch.training.data import FeatureCache, read_csvs
from dstorch.training.evaluate import Output, ScorerReport, forward_all, score_all, summarize
from dstorch.training.loop import pick_device

EXPLORE_SHARE = 2 / 3  # of the trials sweep the box; the rest refine the best point


@dataclass(frozen=True)
class SearchSpace:
    """The alpha/beta box the search explores and where it starts (also the tie-break
    anchor, and the values an untuned scorer keeps)."""

    alpha_range: tuple[float, float]
    beta_range: tuple[float, float]
    start: tuple[float, float]


SEARCH_SPACES = {
    # lm_optimizer's lm_alpha_max is 5; a negative beta lets the search penalise words.
    LM_OPEN: SearchSpace((0.0, 5.0), (-2.0, 5.0), (DEFAULT_ALPHA, DEFAULT_BETA)),
    # No end-of-sentence term: beta is what makes a whole command beat its prefixes.
    LM_COMMANDS: SearchSpace((1.0, 5.0), (-1.0, 6.0), (COMMANDS_ALPHA, COMMANDS_BETA)),
}
OPEN_SPACE = SEARCH_SPACES[LM_OPEN]


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


def _halton(index: int, base: int) -> float:
    """index-th element of the van der Corput sequence in `base` (in [0, 1))."""
    result, fraction = 0.0, 1.0
    while index:
        fraction /= base
        index, digit = divmod(index, base)
        result += digit * fraction
    return result


def _point(space: SearchSpace, u: float, v: float) -> tuple[float, float]:
    """Unit square -> (alpha, beta), rounded so the stored values are the ones tried."""
    (a0, a1), (b0, b1) = space.alpha_range, space.beta_range
    return round(a0 + u * (a1 - a0), 3), round(b0 + v * (b1 - b0), 3)


def _unit(space: SearchSpace, alpha: float, beta: float) -> tuple[float, float]:
    (a0, a1), (b0, b1) = space.alpha_range, space.beta_range
    return (alpha - a0) / (a1 - a0), (beta - b0) / (b1 - b0)


def _distance_to_start(space: SearchSpace, alpha: float, beta: float) -> float:
    """Tie-break: tiny dev sets often tie; then stay near the space's starting point."""
    u, v = _unit(space, alpha, beta)
    du, dv = _unit(space, *space.start)
    return math.hypot(u - du, v - dv)


Objective = Callable[[float, float], tuple[float, float]]


def search(
    objective: Objective, trials: int, seed: int = 0, space: SearchSpace = OPEN_SPACE
) -> list[tuple]:
    """Minimise objective(alpha, beta) -> (wer, cer) over the space's box.

    Returns the trials in order as (wer, cer, distance to the start, alpha, beta); the
    first is the space's start. No early stop at a perfect trial: small dev sets are
    often perfect at many points, and the tie-break should pick the one nearest the
    start rather than the first found.
    """
    rng = np.random.default_rng(seed)
    explore = max(1, round(trials * EXPLORE_SHARE))
    done: list[tuple] = []
    for t in range(trials):
        if t == 0:
            alpha, beta = round(space.start[0], 3), round(space.start[1], 3)
        elif t < explore:
            alpha, beta = _point(space, _halton(t, 2), _halton(t, 3))
        else:  # steps shrink from a quarter to a twentieth of the box
            best_u, best_v = _unit(space, *min(done)[3:])
            share = (t - explore) / max(trials - explore - 1, 1)
            scale = 0.25 + (0.05 - 0.25) * share
            u, v = np.clip(np.array([best_u, best_v]) + rng.normal(0.0, scale, 2), 0.0, 1.0)
            alpha, beta = _point(space, float(u), float(v))
        wer, cer = objective(alpha, beta)
        done.append((wer, cer, _distance_to_start(space, alpha, beta), alpha, beta))
    return done


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
    """Build and tune the scorer. Never raises for scorer problems: the trained model
    matters more, so a failure is one printed line and the export goes on without one."""
    path = Path(config.export_dir) / f"{config.export_file_name}.scorer"
    try:
        labels = _build(config, settings, path)
    except Exception as e:  # noqa: BLE001 - see the docstring
        path.unlink(missing_ok=True)  # a stale scorer could mismatch the new model
        error = _one_line(e)
        print(f"Scorer: not built: {error}; exporting the model without one")
        return ScorerOutcome(error=error)
    outcome = ScorerOutcome(path, *settings.space.start, mode=settings.mode)
    try:
        outcome.tuning = _tune_on_dev(config, settings, path, labels, outcome.notes)
    except Exception as e:  # noqa: BLE001 - the untuned scorer is still useful
        outcome.notes.append(f"not tuned ({_one_line(e)}); default alpha/beta kept")
    if outcome.tuning:
        outcome.alpha, outcome.beta = outcome.tuning.alpha, outcome.tuning.beta
    for note in outcome.notes:
        print(f"Scorer: {note}")
    print(f"Scorer: {path} ({outcome.mode} LM, alpha {outcome.alpha:.3f}, beta {outcome.beta:.3f})")
    return outcome


def _one_line(error: Exception) -> str:
    if not isinstance(error, (ValueError, OSError)):  # our errors are ValueErrors
        traceback.print_exc()  # anything else is a bug: keep the details in the log
    text = " ".join(str(error).split())
    return text if isinstance(error, ScorerError) else f"{type(error).__name__}: {text}"


def _build(config: TrainConfig, settings: ScorerSettings, path: Path) -> list[str]:
    """Build the scorer from the corpus with the model's alphabet; -> the labels."""
    corpus = settings.corpus_path(config)
    try:
        lines = corpus.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ScorerError(f"{corpus} not found; run `make prepare` to write it") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScorerError(f"cannot read {corpus}: {e}") from None
    find_kenlm_bin(settings.kenlm_bin)  # the usual failure: say it before loading anything
    _, alphabet, _ = ckpt.load_for_inference(config.save_dir)
    try:
        alpha, beta = settings.space.start
        build_scorer(
            lines,
            alphabet.labels,
            path,
            alpha,
            beta,
            utf8=isinstance(alphabet, BytesAlphabet),  # bytes output mode: a UTF-8 scorer
            kenlm_bin=settings.kenlm_bin,
            mode=settings.mode,
        )
    except ScorerError as e:
        raise ScorerError(f"{corpus}: {e}") from None
    return alphabet.labels


def _tune_on_dev(
    config: TrainConfig, settings: ScorerSettings, path: Path, labels: list[str], notes: list
) -> Tuning | None:
    """Tune on the dev set and store the result in the scorer's header."""
    if settings.trials <= 0:
        notes.append(f"LM_TUNE_TRIALS=0: the {settings.mode} LM's default alpha/beta kept")
        return None
    model, alphabet, _ = ckpt.load_for_inference(config.save_dir)
    samples = read_csvs(config.dev_files, alphabet, allow_empty=True) if config.dev_files else []
    if not samples:
        notes.append("no dev samples to tune alpha/beta on; default alpha/beta kept")
        return None
    device = pick_device(config.device)
    outputs = forward_all(
        model.to(device), samples, FeatureCache(), config.dev_batch_size, device, desc="Tune"
    )
    beam_width = settings.beam_width or config.export_beam_width
    scorer = Scorer(path)
    tuning = tune(
        outputs, labels, scorer, beam_width, settings.trials, config.random_seed, settings.space
    )
    set_default_alpha_beta(path, tuning.alpha, tuning.beta)
    notes.append(
        f"tuned on {tuning.dev_samples} dev clips in {tuning.trials} trials: WER "
        f"{tuning.default_wer:.3f} at the starting point -> {tuning.dev_wer:.3f}"
    )
    return tuning
