"""`dstorch <command>`: parse arguments, call the package. Nothing else lives here."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dstorch.config import (
    ENV_FILE,
    ENV_PREFIX,
    ConfigError,
    PipelineConfig,
    TrainConfig,
    add_arguments,
    from_namespace,
)
from dstorch.datafiles import REGISTRY_FILE
from dstorch.entry import command_line, run_guarded
from dstorch.errors import UsageError


def cmd_train(args: argparse.Namespace) -> int:
    from dstorch.training import job

    config = from_namespace(args, TrainConfig)
    if not config.train_files:
        raise UsageError("--train_files is required; give one or more comma-separated CSVs")
    return 0 if job.run(config).ended_well else 1


def cmd_export(args: argparse.Namespace) -> int:
    from dstorch.training import job

    job.export(from_namespace(args, TrainConfig))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from dstorch.training import job

    config = from_namespace(args, TrainConfig)
    if not config.test_files:
        raise UsageError("--test_files is required; give one or more comma-separated CSVs")
    job.test_and_report(config)
    return 0


def cmd_job(args: argparse.Namespace) -> int:
    from dstorch.training import job
    from dstorch.training.tune import ScorerSettings

    pipeline = PipelineConfig.load(args.config)
    config = pipeline.train_config(args.data_dir, args.checkpoint_dir, args.export_dir)
    scorer = ScorerSettings.from_pipeline(pipeline)
    return 0 if job.run(config, scorer=scorer).ended_well else 1


def cmd_transcribe(args: argparse.Namespace) -> int:
    # Before numpy loads: the acoustic model multiplies blocks of 16 time steps
    # (dstorch.inference.numpy_model), too small for BLAS threads to pay, and on a busy
    # machine their start-up and spinning cost more than the whole clip (0.2 s vs 0.01 s).
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from dstorch.inference.transcribe_cli import run

    return run(args)


def cmd_listen(args: argparse.Namespace) -> int:
    """Live recognition from the microphone (or --input), one JSON line per utterance."""
    if "numpy" not in sys.modules:  # as for transcribe: small model calls, no BLAS threads
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from dstorch.inference.listen_cli import run

    return run(args)


def cmd_studio(args: argparse.Namespace) -> int:
    """Record, train and try in the browser (serves STUDIO_HOST:STUDIO_PORT until Ctrl-C)."""
    if "numpy" not in sys.modules:  # Try runs the lean inference path: see cmd_transcribe
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from dstorch.studio.app import serve

    serve(args.config)
    return 0


def cmd_pretrained(args: argparse.Namespace) -> int:
    """Download PRETRAINED_MODEL (when a URL) into the cache and check that it can be used."""
    from dstorch.training import pretrained

    config = _pipeline(args)
    if not config.pretrained_model:
        raise ConfigError("PRETRAINED_MODEL is empty; set it to a .pbmm/.pb path or https URL")
    source = pretrained.load(config.pretrained_model, config.pretrained_sha256)
    print(pretrained.describe(source))
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Build a base model for LANGUAGE from synthetic speech (exported as a .pbmm)."""
    from dstorch.base_model import pretrain

    pretrain(_pipeline(args), Path("."))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from dstorch.importers import importer
    from dstorch.importers.run import format_summary, import_corpus

    out = Path(args.out or Path("imports") / args.corpus)
    summary = import_corpus(
        importer(args.corpus),
        Path(args.path),
        out,
        alphabet=Path(args.alphabet) if args.alphabet else None,
        limit=args.limit,
        workers=args.workers,
        max_duration=args.max_duration,
    )
    print(format_summary(summary))
    return 0


def cmd_train_import(args: argparse.Namespace) -> int:
    """Train on an imported corpus (its CSVs; the rest from configuration.env)."""
    from dstorch.importers.train import train_config
    from dstorch.training import job

    config = train_config(PipelineConfig.load(args.config), Path(args.folder))
    return 0 if job.run(config).ended_well else 1


def _pipeline(args: argparse.Namespace) -> PipelineConfig:
    return PipelineConfig.load(args.config)


def cmd_prepare(args: argparse.Namespace) -> int:
    from dstorch.fs import PREPARE_LOCK, remove_stale_temps, take_lock, write_lock_pid
    from dstorch.prepare import prepare
    from dstorch.prepare.ownership import claim

    config = _pipeline(args)
    claim(Path(config.data_dir))  # before the lock file: a folder of yours gets nothing
    # One prepare at a time per data folder; what a killed one left half-written goes.
    lock = take_lock(config.data_dir, PREPARE_LOCK)
    try:
        write_lock_pid(lock, os.getpid())
        remove_stale_temps(config.data_dir, recursive=True)
        prepare(config, Path("."))
        _warm_augmentation(config)
    finally:
        os.close(lock)
    return 0


def _warm_augmentation(config) -> None:
    """Simulate the rooms and render the babble that AUGMENT and the noisy test use, into
    DATA_DIR/augment: a Docker trainer has no synthesizers and a read-only data volume."""
    from dstorch.augment import AugmentError
    from dstorch.augment.environment import warm_for_training

    try:
        warmed = warm_for_training(config.augment, config.data_dir)
    except AugmentError as e:  # e.g. babble without espeak-ng: training will say it too
        print(f"Augmentation banks not made: {e}")
        return
    print(f"Augmentation banks ready in {config.data_dir}/augment ({len(warmed)} specs)")


def _runner(args: argparse.Namespace):
    from dstorch.runner import select_runner

    return select_runner(_pipeline(args), Path("."))


def cmd_runner(args: argparse.Namespace) -> int:
    """build | run | stop | log | status | fetch | reset | clean, on the selected runner."""
    runner = _runner(args)
    verb = args.command
    if verb == "build":
        runner.build()
    elif verb == "run":
        runner.start()
    elif verb == "stop":
        runner.stop()
    elif verb == "log":
        from dstorch.runner.state import RunStatus

        code = runner.follow_log()
        state = runner.read_state() if code == 0 else None
        if state is not None and state.status is RunStatus.FINISHED:
            runner.fetch_outputs()  # the export lands in models/ without another command
        return code
    elif verb == "status":
        print(runner.status_line())
    elif verb == "fetch":
        runner.fetch_outputs()
    elif verb == "reset":
        runner.reset()
    elif verb == "clean":
        runner.clean()
        remove_generated(_pipeline(args), models=args.models)
    elif verb == "volumes":
        runner.create_volumes()
    return 0


def remove_generated(config: PipelineConfig, models: bool = False) -> None:
    """Empty DATA_DIR of what prepare wrote, if prepare made it (and, with `models`, remove
    this model's installed files from MODELS_DIR); each folder goes once nothing else is
    in it. PipelineConfig.load has refused folders that hold recordings, inputs or sources."""
    from dstorch.prepare.ownership import MARKER, empty, is_claimed
    from dstorch.runner.install import uninstall

    data = Path(config.data_dir)
    if data.is_dir() and not is_claimed(data):
        print(
            f"kept DATA_DIR={data}/: dstorch did not create it (no {MARKER} in it); "
            "delete it yourself if it holds nothing of yours"
        )
    elif data.is_dir():
        _say_removed("DATA_DIR", data, empty(data, config.language))
    if models and Path(config.models_dir).is_dir():
        folder = Path(config.models_dir)
        uninstall(folder, config.model_name)
        kept = sorted(p.name for p in folder.iterdir())
        if not kept:
            folder.rmdir()
        _say_removed("MODELS_DIR", folder, kept)


def _say_removed(key: str, folder: Path, kept: list[str]) -> None:
    if not kept:
        print(f"removed {folder}/ ({key})")
        return
    shown = ", ".join(kept[:3]) + (", ..." if len(kept) > 3 else "")
    print(f"kept {key}={folder}/: it also holds {len(kept)} other files ({shown})")


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Stop, re-prepare, rebuild, forget the checkpoints unless LOAD_FROM_CHECKPOINT, run."""
    from dstorch.prepare import prepare

    config = _pipeline(args)
    _runner(args).stop()
    prepare(config, Path("."))
    runner = _runner(args)
    runner.build()
    if not config.load_from_checkpoint:
        runner.reset()
    runner.start()
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    """Print the effective configuration, KEY=value a line (it has been validated)."""
    from dstorch.runner.base import job_environment
    from dstorch.runner.preflight import check_augment

    config = _pipeline(args)
    check_augment(config)  # the trainer's own parse, or it fails only in the job
    for key, value in job_environment(config).items():
        if key.startswith(ENV_PREFIX):
            print(f"{key.removeprefix(ENV_PREFIX)}={value}")
    return 0


RUNNER_VERBS = {
    "volumes": "create the Docker volumes (nothing to do for the local runner)",
    "build": "render the Dockerfile / build the image (docker) or check the venv (local)",
    "run": "start or resume training, detached",
    "stop": "pause training gracefully (saves; records CURRENT_EPOCH)",
    "log": "follow the run's output until it ends (non-zero if it failed)",
    "status": "one line: state, runner, epoch/max epoch, best dev loss",
    "fetch": "install the exported model into models/ (only its own files are replaced)",
    "reset": "forget checkpoints and run state (start fresh)",
    "clean": "remove run state, checkpoints, volumes and generated files (never original/)",
}


def cmd_preview(args: argparse.Namespace) -> int:
    from dstorch.augment import inaudible, preview, split_specs
    from dstorch.augment.cache import use_data_dir

    pipeline = _pipeline(args)
    use_data_dir(pipeline.data_dir)  # the room and babble banks prepare made (or makes now)
    specs = args.augment or split_specs(pipeline.augment)
    if not specs:
        raise UsageError("no augmentation given; pass --augment SPEC or set AUGMENT")
    for spec in inaudible(specs):
        print(f"note: {spec} works on features; it cannot be heard in a preview")
    for path in preview(specs, args.wav, args.out_dir, args.n, args.clock, args.seed):
        print(path)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from dstorch.report import print_report_location

    pipeline = _pipeline(args)
    registry = Path(pipeline.data_dir) / REGISTRY_FILE
    return print_report_location(
        pipeline.models_dir, pipeline.model_name, registry if registry.is_file() else None
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dstorch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    for name, func, text in (
        ("train", cmd_train, "train (resuming from --checkpoint_dir), test and export"),
        ("export", cmd_export, "export a checkpoint to .pb and .pbmm (.tflite: --export_tflite)"),
        ("evaluate", cmd_evaluate, "WER/CER of a checkpoint on --test_files"),
    ):
        about = f"{text}. Flag names and defaults are DeepSpeech.py 0.9.3's."
        p = sub.add_parser(name, help=text, description=about)
        add_arguments(p, TrainConfig)
        p.add_argument(  # DeepSpeech's other name for it
            "--load_frozen_graph",
            dest="initialize_from_frozen_model",
            default=argparse.SUPPRESS,
            help="the same as --initialize_from_frozen_model",
        )
        p.set_defaults(func=func)

    p = sub.add_parser("job", help="a pipeline training run (what the runners start)")
    p.add_argument("--config", default=ENV_FILE)
    p.add_argument("--data_dir", required=True)
    p.add_argument("--checkpoint_dir", required=True)
    p.add_argument("--export_dir", required=True)
    p.set_defaults(func=cmd_job)

    p = sub.add_parser("transcribe", help="speech to text with an exported model or checkpoint")
    from dstorch.inference.transcribe_cli import add_arguments as add_transcribe_arguments

    add_transcribe_arguments(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("listen", help=cmd_listen.__doc__.splitlines()[0])
    from dstorch.inference.listen_cli import add_arguments as add_listen_arguments

    add_listen_arguments(p)
    p.set_defaults(func=cmd_listen)

    p = sub.add_parser("preview", help="write augmented copies of a WAV to listen to")
    p.add_argument("wav")
    p.add_argument("--augment", action="append", default=[], help="SPEC (repeatable)")
    p.add_argument("--n", type=int, default=5, help="augmented copies to write")
    p.add_argument("--clock", type=float, default=0.0, help="training progress 0..1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out_dir", default="augment-preview")
    p.add_argument("--config", default=ENV_FILE)
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("report", help="where the evaluation report is, with a summary")
    p.add_argument("--config", default=ENV_FILE)
    p.set_defaults(func=cmd_report)

    from dstorch.importers import IMPORTERS

    about = "; ".join(f"{name}: {cls.about}" for name, cls in IMPORTERS.items())
    p = sub.add_parser("import", help="a public corpus -> DeepSpeech CSVs", description=about)
    p.add_argument("corpus", choices=list(IMPORTERS))
    p.add_argument("path", help="the extracted corpus (never written to)")
    p.add_argument("--out", help="output folder (default: imports/<corpus>)")
    p.add_argument("--limit", type=int, help="at most this many clips per split")
    p.add_argument("--alphabet", help="alphabet.txt to normalise against (default: built)")
    p.add_argument("--workers", type=int, help="conversion processes (default: CPU count)")
    p.add_argument("--max_duration", type=float, default=0.0, help="seconds; 0: no limit")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("train-import", help=cmd_train_import.__doc__.splitlines()[0])
    p.add_argument("folder", help="an import's output folder (with import.json)")
    p.add_argument("--config", default=ENV_FILE)
    p.set_defaults(func=cmd_train_import)

    p = sub.add_parser("prepare", help="original/ + commands.csv -> data/ (CSVs, alphabet)")
    p.add_argument("--config", default=ENV_FILE)
    p.set_defaults(func=cmd_prepare)
    for verb, text in RUNNER_VERBS.items():
        p = sub.add_parser(verb, help=text, description=text)
        p.add_argument("--config", default=ENV_FILE)
        p.set_defaults(func=cmd_runner, models=False)
        if verb == "clean":
            p.add_argument(
                "--models", action="store_true", help="also remove the model's files in MODELS_DIR"
            )
    for name, func in (
        ("rebuild", cmd_rebuild),
        ("studio", cmd_studio),
        ("config", cmd_config),
        ("pretrained", cmd_pretrained),
        ("pretrain", cmd_pretrain),
    ):
        text = func.__doc__.splitlines()[0]
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--config", default=ENV_FILE)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user error is one line (exit 2), a bug shows its traceback."""
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: args.func(args), command_line(argv, "dstorch"))


if __name__ == "__main__":
    sys.exit(main())
