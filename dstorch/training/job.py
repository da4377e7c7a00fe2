"""One training run end to end, as DeepSpeech.py does it: train (resuming), test, export.

The runners start this in the background (`python -m dstorch job ...`) and watch
`<checkpoint_dir>/state.json`, which says whether the run is running, stopped, finished
or failed, the last finished epoch and the best dev loss. Under torchrun (GPUS, NNODES)
every rank trains; rank 0 alone holds the run lock, writes state.json and checkpoints,
and runs the scorer, test and export phases.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import shutil
from pathlib import Path

import torch

from dstorch.alphabet import BytesAlphabet
from dstorch.augment import AugmentError
from dstorch.augment.cache import use_data_dir
from dstorch.config import REGISTRY_FILE, TrainConfig
from dstorch.decoder import beam_search
from dstorch.fs import (
    STATE_FILE,
    StorageError,
    atomic_write,
    files_digest,
    remove_stale_temps,
    run_lock,
    storage_error,
)
from dstorch.lm.scorer import Scorer, ScorerError
from dstorch.runner.preflight import ALPHABET_KEY, alphabet_digest
from dstorch.training import checkpoint as ckpt
from dstorch.training.acting import acting_report
from dstorch.training.data import FeatureCache, read_csvs
from dstorch.training.distributed import Ranks
from dstorch.training.evaluate import (
    TestReport,
    forward_all,
    greedy_decode,
    score_all,
    summarize,
)
from dstorch.training.finite import TrainingDiverged
from dstorch.training.loop import pick_device, train
from dstorch.training.noisy import noisy_figures
from dstorch.training.stop import GracefulStop
from dstorch.training.tune import ScorerOutcome, ScorerSettings, run_stage


def write_state(checkpoint_dir: str | Path, state: str, **fields) -> None:
    path = Path(checkpoint_dir) / STATE_FILE
    previous = read_state(checkpoint_dir) or {}
    best = fields.get("best_dev_loss", previous.get("best_dev_loss"))
    record = {**previous, **fields, "state": state}
    record["best_dev_loss"] = None if best is None or not math.isfinite(best) else best
    record["updated"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    atomic_write(path, json.dumps(record, indent=2) + "\n")


def read_state(checkpoint_dir: str | Path) -> dict | None:
    path = Path(checkpoint_dir) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def forget_checkpoints(directory: str | Path) -> None:
    """Starting fresh: old checkpoints would otherwise be picked up as the newest."""
    directory = Path(directory)
    for path in ckpt.last_checkpoints(directory) + [directory / ckpt.BEST]:
        path.unlink(missing_ok=True)
    shutil.rmtree(directory / "summaries", ignore_errors=True)


def test_and_report(
    config: TrainConfig,
    decoder=None,
    scorer: ScorerOutcome | None = None,
    started_from: str | None = None,
) -> TestReport | None:
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
    report = TestReport(figures, started_from=started_from)
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
        alphabet.save(out / "alphabet.txt")
        paths.append(out / "alphabet.txt")
    print("Exported " + ", ".join(str(p) for p in paths))
    return paths


def write_report_page(config: TrainConfig, report: TestReport, history: list[dict]) -> dict:
    """report.html, plots and the enriched report.json next to the model; -> the test
    accuracy on unseen and seen voices for state.json. A failure only warns: the exported
    model matters more than its page."""
    from dstorch.report import JSON_NAME, build_report, voice_accuracy

    data_dir = Path(config.test_files.split(",")[0]).parent if config.test_files else None
    registry = data_dir / REGISTRY_FILE if data_dir else None
    try:
        registry = registry if registry and registry.is_file() else None
        path = build_report(report or TestReport(), history, Path(config.export_dir), registry)
        print(f"Report: {path}")
        analysis = TestReport.read(path.parent / JSON_NAME).analysis
        return {f"{k}_accuracy": v for k, v in voice_accuracy(analysis).items()}
    except Exception as e:  # noqa: BLE001 - any plotting failure must not lose the run
        print(f"warning: no report page ({type(e).__name__}: {e})")
        return {}


def data_files(config: TrainConfig) -> list[str]:
    """The files a run's result depends on (CSVs, alphabet), in a fixed order."""
    lists = (config.train_files, config.dev_files, config.test_files)
    return [f for files in lists for f in files.split(",") if f] + [config.alphabet_config_path]


PHASES = ("setup", "training", "scorer", "test", "export")  # state.json's "phase"


def run(config: TrainConfig, scorer: ScorerSettings | None = None) -> str:
    """Train, then test and export when training finished. Returns the final state.

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
            write_state(
                directory,
                "running",
                phase="setup",
                data=files_digest(data_files(config)),
                max_epoch=config.epochs,
                pid=os.getpid(),
                error=None,
            )
            return _phases(config, scorer, stop)


def _train_only(config: TrainConfig) -> str:
    """Ranks other than 0: train alongside rank 0, quietly (rank 0 reports for all)."""
    with GracefulStop() as stop, open(os.devnull, "w") as quiet:
        with contextlib.redirect_stdout(quiet):
            result = train(config, stop=stop)
    return "stopped" if result.stopped else "finished"


def _phases(config: TrainConfig, scorer: ScorerSettings | None, stop: GracefulStop) -> str:
    directory = config.save_dir
    phase = "setup"

    def enter(name: str, **fields) -> bool:
        """Record the phase; False (and state "stopped") when a stop was requested."""
        nonlocal phase
        if stop.requested:
            write_state(directory, "stopped", phase=phase, **fields)
            print(f"Stopped during {phase}; make run resumes from here.")
            return False
        phase = name
        write_state(directory, "running", phase=name, **fields)
        return True

    # What preflight.check_alphabet compares before the next `make run` resumes.
    learnt = {ALPHABET_KEY: alphabet_digest(config.alphabet_config_path)}

    def progress(state) -> None:
        write_state(
            directory,
            "running",
            phase="training",
            **learnt,
            epoch=state.epoch,
            best_dev_loss=state.best_dev_loss,
            started_from=state.started_from,
        )

    try:
        # A stop during setup is recorded below, once train() has saved.
        started = lambda: stop.requested or enter("training")  # noqa: E731
        result = train(config, on_epoch=progress, stop=stop, on_setup=started)
        fields = {
            **learnt,
            "epoch": result.state.epoch,
            "best_dev_loss": result.state.best_dev_loss,
            "started_from": result.state.started_from,
        }
        if result.stopped or stop.requested:
            enter("", **fields)  # records "stopped" and the phase it came in
            return "stopped"
        outcome = None
        if scorer and config.export_dir:
            if not enter("scorer", **fields):
                return "stopped"
            outcome = run_stage(config, scorer)
            fields["scorer"] = str(outcome.path) if outcome.path else f"error: {outcome.error}"
        if config.test_files and not enter("test", **fields):
            return "stopped"
        report = None
        if config.test_files:
            report = test_and_report(config, scorer=outcome, started_from=fields["started_from"])
        if config.export_dir:
            if not enter("export", **fields):
                return "stopped"
            export(config)
            fields.update(write_report_page(config, report, result.state.history))
        write_state(directory, "finished", phase="done", **fields)
        return "finished"
    except BaseException as e:
        plain = isinstance(e, (StorageError, TrainingDiverged, ckpt.CheckpointError))
        error = str(e) if plain else f"{type(e).__name__}: {e}"
        _record_failure(directory, phase, " ".join(error.split()))
        if isinstance(e, OSError) and storage_error(e) is not None:
            raise storage_error(e) from None  # one line, not a traceback
        raise
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _record_failure(directory, phase: str, error: str) -> None:
    try:
        write_state(directory, "failed", phase=phase, error=error)
    except (OSError, ValueError) as e:  # the disk that failed may refuse state.json too
        print(f"warning: could not record the failure in {STATE_FILE}: {e}")
