"""One training run end to end, as DeepSpeech.py does it: train (resuming), test, export.

The runners start this in the background (`python -m dstorch job ...`) and watch
`<checkpoint_dir>/state.json` (dstorch.runner.state), which says whether the run is
running, stopped, finished or failed, in which phase, the last finished epoch and the best
dev loss. Under torchrun (GPUS, NNODES) every rank trains; rank 0 alone holds the run lock,
writes state.json and checkpoints, and runs the scorer, test and export phases (PHASES).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from dstorch.alphabet import BytesAlphabet
from dstorch.augment import AugmentError
from dstorch.augment.cache import use_data_dir
from dstorch.config import SUMMARIES_DIR, TrainConfig
from dstorch.datafiles import ALPHABET_FILE, REGISTRY_FILE, REPORT_JSON
from dstorch.decoder import beam_search
from dstorch.fs import (
    StorageError,
    files_digest,
    remove_stale_temps,
    run_lock,
    storage_error,
)
from dstorch.lm.scorer import Scorer, ScorerError
from dstorch.runner.preflight import alphabet_digest
from dstorch.runner.state import (
    STATE_FILE,
    RunPhase,
    RunState,
    RunStatus,
    read_state,
    write_state,
)
from dstorch.training import checkpoint as ckpt
from dstorch.training.acting import acting_report
from dstorch.training.data import FeatureCache, read_csvs
from dstorch.training.distributed import Ranks
from dstorch.training.evaluate import forward_all, greedy_decode, score_all, summarize
from dstorch.training.finite import TrainingDiverged
from dstorch.training.loop import TrainResult, pick_device, train
from dstorch.training.noisy import noisy_figures
from dstorch.training.report_schema import EvaluationReport
from dstorch.training.stop import GracefulStop
from dstorch.training.tune import ScorerOutcome, ScorerSettings, run_stage


def forget_checkpoints(directory: str | Path) -> None:
    """Starting fresh: old checkpoints would otherwise be picked up as the newest."""
    directory = Path(directory)
    for path in ckpt.last_checkpoints(directory) + [directory / ckpt.BEST]:
        path.unlink(missing_ok=True)
    shutil.rmtree(directory / SUMMARIES_DIR, ignore_errors=True)


def test_and_report(
    config: TrainConfig,
    decoder=None,
    scorer: ScorerOutcome | None = None,
    started_from: str | None = None,
) -> EvaluationReport | None:
    """Evaluate the best checkpoint on the test set and write the JSON report; None for
    an empty test set.

    The main figures are without a scorer (greedy unless `decoder` is given); with a
    scorer outcome, the scorer section holds the figures decoding with it, as the client
    would.
    """
    model, alphabet, _ = ckpt.load_for_inference(config.save_dir)
    device = pick_device(config.device)
    samples = read_csvs(config.test_files, alphabet, allow_empty=True)
    if not samples:
        print("Test: the test set is empty; no report written (add recordings or TEST_FRACTION)")
        return None
    outputs = forward_all(model.to(device), samples, FeatureCache(), config.test_batch_size, device)
    figures = summarize(score_all(outputs, decoder or (lambda lp: greedy_decode(lp, alphabet))))
    print(
        f"Test: WER {figures.wer:.3f}, CER {figures.cer:.3f}, "
        f"{figures.accuracy:.0%} exact over {figures.samples} samples"
    )
    report = EvaluationReport(figures, started_from=started_from)
    decoders = {"no_scorer": decoder or (lambda lp: greedy_decode(lp, alphabet))}
    lm = None
    if scorer is not None:
        report.scorer, with_lm, lm = _scorer_report(config, scorer, outputs, alphabet.labels)
        if with_lm is not None:
            decoders["scorer"] = with_lm
    if config.test_negative_files:  # speech that is no command: what a device acts on
        report.acting = acting_report(config, model, alphabet, outputs, lm, device)
    use_data_dir(Path(config.test_files.split(",")[0]).parent)  # the evaluation banks
    try:
        report.noisy = noisy_figures(model, samples, decoders, config.test_batch_size, device)
    except AugmentError as e:  # e.g. no synthesizer for the babble and no prepared bank
        print(f"Test in a noisy room skipped: {e}")
    for condition in report.noisy:
        print(
            f"Test, {condition.condition}: "
            + ", ".join(f"{condition.accuracy(d):.0%} exact ({d})" for d in decoders)
        )
    if config.test_output_file:
        report.write(config.test_output_file)
    return report


def _scorer_report(config: TrainConfig, scorer: ScorerOutcome, outputs, labels):
    """Test figures decoding with the scorer (its stored alpha/beta, export beam width).
    -> (the report section, that decoder: log_probs [T, C] -> text, the loaded scorer),
    both None without a usable scorer"""
    section = scorer.report()
    if scorer.path is None:
        return section, None, None
    try:
        lm = Scorer(scorer.path)
    except ScorerError as e:
        section.error = str(e)
        return section, None, None
    width = config.export_beam_width

    def with_lm(lp):
        return beam_search(lp, labels, width, lm)[0].text

    figures = summarize(score_all(outputs, with_lm))
    print(
        f"Test with the scorer: WER {figures.wer:.3f}, CER {figures.cer:.3f}, "
        f"{figures.accuracy:.0%} exact"
    )
    section.beam_width, section.figures = width, figures
    return section, with_lm, lm


def export(config: TrainConfig) -> list[Path]:
    """Write <export_dir>/<name>.pb, .pbmm (.tflite with --export_tflite, .onnx with
    --export_onnx) and alphabet.txt (not in bytes output mode) from the best checkpoint."""
    from dstorch.export import export_model, export_tflite
    from dstorch.export.onnx_graph import export_onnx

    model, alphabet, _ = ckpt.load_for_inference(config.save_dir, finite=True)
    out = Path(config.export_dir)
    shape = {"beam_width": config.export_beam_width, "n_steps": config.n_steps}
    model = model.cpu()
    paths = list(export_model(model, alphabet, out, config.export_file_name, **shape))
    if config.export_tflite:
        paths.append(export_tflite(model, alphabet, out, config.export_file_name, **shape))
    if config.export_onnx:
        onnx = out / f"{config.export_file_name}.onnx"
        paths.append(export_onnx(model, alphabet, onnx, config.export_beam_width, config.n_steps))
    if not isinstance(alphabet, BytesAlphabet):  # bytes mode has no alphabet file
        alphabet.save(out / ALPHABET_FILE)
        paths.append(out / ALPHABET_FILE)
    print("Exported " + ", ".join(str(p) for p in paths))
    return paths


def write_report_page(
    config: TrainConfig, report: EvaluationReport | None, history: list[dict]
) -> dict[str, float | None]:
    """report.html, plots and the enriched report.json next to the model; -> the test
    accuracy on {"unseen", "seen"} voices for state.json ({} without a page). A failure
    only warns: the exported model matters more than its page."""
    from dstorch.report import build_report, voice_accuracy

    data_dir = Path(config.test_files.split(",")[0]).parent if config.test_files else None
    registry = data_dir / REGISTRY_FILE if data_dir else None
    try:
        registry = registry if registry and registry.is_file() else None
        path = build_report(
            report or EvaluationReport(), history, Path(config.export_dir), registry
        )
        print(f"Report: {path}")
        analysis = EvaluationReport.read(path.parent / REPORT_JSON).analysis
        return voice_accuracy(analysis)
    except Exception as e:  # noqa: BLE001 - any plotting failure must not lose the run
        print(f"warning: no report page ({type(e).__name__}: {e})")
        return {}


def run(config: TrainConfig, scorer: ScorerSettings | None = None) -> RunStatus:
    """Train, then test and export when training finished. Returns the final status.

    With `scorer` (and an export dir), a tuned <name>.scorer is built before testing,
    so the report has figures with and without it. One stop flag (SIGTERM/SIGINT) is
    installed first and honoured between the phases; state.json names the phase a run
    stopped or failed in. The run holds the checkpoint dir's lock throughout.
    """
    if not Ranks.from_env().is_main:
        return _train_only(config)
    with GracefulStop() as stop:  # first: a stop during setup must not be lost
        directory = Path(config.save_dir)
        with run_lock(directory):
            for folder in (directory, config.export_dir):
                if folder:
                    remove_stale_temps(folder)  # left by a killed writer; we hold the lock
            if not config.load_checkpoint:
                forget_checkpoints(directory)
            state = read_state(directory) or RunState()  # a resumed run's figures stay
            state.data = files_digest(config.data_files())
            state.max_epoch, state.pid, state.error = config.epochs, os.getpid(), None
            job = _Job(config, scorer, stop, state)
            job.record(RunStatus.RUNNING, RunPhase.SETUP)
            return _run_phases(job)


def _train_only(config: TrainConfig) -> RunStatus:
    """Ranks other than 0: train alongside rank 0, quietly (rank 0 reports for all)."""
    with GracefulStop() as stop, open(os.devnull, "w") as quiet:
        with contextlib.redirect_stdout(quiet):
            result = train(config, stop=stop)
    return RunStatus.STOPPED if result.stopped else RunStatus.FINISHED


@dataclass
class _Job:
    """What the phases share: the settings, the stop flag, the state they record in
    state.json, and what each phase hands on to the next."""

    config: TrainConfig
    scorer: ScorerSettings | None
    stop: GracefulStop
    state: RunState
    learns: str | None = None  # digest of the alphabet.txt training learns
    result: TrainResult | None = None  # training's
    outcome: ScorerOutcome | None = None  # the scorer stage's
    report: EvaluationReport | None = None  # the test's (None for an empty test set)

    def record(self, status: RunStatus, phase: RunPhase | None = None) -> None:
        """Write state.json: `status`, in `phase` (else the phase it is in)."""
        self.state.status = status
        if phase is not None:
            self.state.phase = phase
        write_state(self.config.save_dir, self.state)

    def begin(self, phase: RunPhase) -> bool:
        """Record that `phase` runs; False when a stop was requested (recorded as stopped
        in the phase before, where `make run` resumes)."""
        if self.stop.requested:
            self.halt()
            return False
        self.record(RunStatus.RUNNING, phase)
        return True

    def halt(self) -> None:
        """Record a requested stop in the phase the run is in."""
        self.record(RunStatus.STOPPED)
        print(f"Stopped during {self.state.phase}; make run resumes from here.")

    def setup_done(self) -> None:
        # A stop during setup is recorded by _train, once train() has saved.
        if not self.stop.requested:
            self.begin(RunPhase.TRAINING)

    def epoch_done(self, trained: ckpt.TrainState) -> None:
        self.learnt(trained)
        self.record(RunStatus.RUNNING, RunPhase.TRAINING)

    def learnt(self, trained: ckpt.TrainState) -> None:
        """What the checkpoints hold now: for make status, the report and preflight
        (check_alphabet compares the alphabet before the next `make run` resumes)."""
        self.state.alphabet = self.learns
        self.state.epoch = trained.epoch
        self.state.best_dev_loss = trained.best_dev_loss
        self.state.started_from = trained.started_from


@dataclass(frozen=True)
class Phase:
    """One step of a run; state.json's "phase" names it while it runs."""

    name: RunPhase
    run: Callable[[_Job], bool]  # False: a stop ended it early (saved and recorded)
    wanted: Callable[[_Job], bool] = lambda job: True  # does this run have the phase?
    begins_itself: bool = False  # records its own start (training: once setup is done)


def _train(job: _Job) -> bool:
    """Setup (data, model, the checkpoint to resume), then the epochs. state.json says
    "setup" until setup is done; train() honours a stop anywhere in it (saves, returns)."""
    job.learns = alphabet_digest(job.config.alphabet_config_path)
    job.result = train(job.config, on_epoch=job.epoch_done, stop=job.stop, on_setup=job.setup_done)
    job.learnt(job.result.state)
    if job.result.stopped or job.stop.requested:
        job.halt()
        return False
    return True


def _tune_scorer(job: _Job) -> bool:
    """Build <name>.scorer from the corpus; tune alpha/beta and the gate on the dev set."""
    job.outcome = run_stage(job.config, job.scorer)
    path, error = job.outcome.path, job.outcome.error
    job.state.scorer = str(path) if path else f"error: {error}"
    return True


def _test(job: _Job) -> bool:
    """The best checkpoint on the test set, with and without the scorer: report.json."""
    started_from = job.state.started_from
    job.report = test_and_report(job.config, scorer=job.outcome, started_from=started_from)
    return True


def _export(job: _Job) -> bool:
    """The model files, then the report page; state.json gets the voices' accuracy."""
    export(job.config)
    accuracy = write_report_page(job.config, job.report, job.result.state.history)
    if accuracy:
        job.state.unseen_accuracy, job.state.seen_accuracy = accuracy["unseen"], accuracy["seen"]
    return True


# A run, top to bottom. A stop is honoured inside training and between the phases.
PHASES = (
    Phase(RunPhase.TRAINING, _train, begins_itself=True),
    Phase(RunPhase.SCORER, _tune_scorer, lambda job: bool(job.scorer and job.config.export_dir)),
    Phase(RunPhase.TEST, _test, lambda job: bool(job.config.test_files)),
    Phase(RunPhase.EXPORT, _export, lambda job: bool(job.config.export_dir)),
)


def _run_phases(job: _Job) -> RunStatus:
    """PHASES in order, each that this run has, then "finished"; a failure is recorded
    with the phase it happened in."""
    try:
        for phase in PHASES:
            if not phase.wanted(job):
                continue
            if not phase.begins_itself and not job.begin(phase.name):
                return RunStatus.STOPPED
            if not phase.run(job):
                return RunStatus.STOPPED
        job.record(RunStatus.FINISHED, RunPhase.DONE)
        return RunStatus.FINISHED
    except BaseException as e:
        plain = isinstance(e, (StorageError, TrainingDiverged, ckpt.CheckpointError))
        error = str(e) if plain else f"{type(e).__name__}: {e}"
        _record_failure(job.config.save_dir, job.state.phase, " ".join(error.split()))
        if isinstance(e, OSError) and storage_error(e) is not None:
            raise storage_error(e) from None  # one line, not a traceback
        raise
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _record_failure(directory: str | Path, phase: RunPhase | None, error: str) -> None:
    """Status failed, the phase and the error on what state.json holds."""
    try:
        state = read_state(directory) or RunState()
        state.status, state.phase, state.error = RunStatus.FAILED, phase, error
        write_state(directory, state)
    except (OSError, ValueError) as e:  # the disk that failed may refuse state.json too
        print(f"warning: could not record the failure in {STATE_FILE}: {e}")
