"""Where training runs: `select_runner()` picks a LocalRunner or a DockerRunner.

Both share one interface (see base.Runner): create_volumes(), build(), start(), stop(grace),
follow_log() -> int, status_line() -> str, fetch_outputs(), clean(), reset().
`run_action()` maps the Makefile's verbs onto it and turns user mistakes into one line.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dstorch.config import ConfigError, PipelineConfig
from dstorch.runner.base import ENV_FILE, Runner, RunnerError
from dstorch.runner.local import LocalRunner

__all__ = ["ACTIONS", "Runner", "RunnerError", "LocalRunner", "select_runner", "run_action"]


def _say(text: str) -> None:
    # stderr: the choice is commentary, stdout may be parsed (status_line).
    print(f"runner: {text}", file=sys.stderr)


def select_runner(config: PipelineConfig, root: Path) -> Runner:
    """RUNNER=local|docker, or auto: docker when an engine answers, else local."""
    root = Path(root)
    if config.runner == "local":
        _say("local (RUNNER=local)")
        return LocalRunner(config, root)
    # Imported here: the Docker SDK is only needed when Docker might be used.
    from dstorch.runner.docker import DockerRunner, connect

    if config.runner == "docker":
        runner = DockerRunner(config, root, connect())  # RunnerError names the fix
        _say("docker (RUNNER=docker)")
        return runner
    try:
        client = connect(timeout=10)
    except RunnerError as e:
        _say(f"local (RUNNER=auto and {str(e).split(';')[0]})")
        return LocalRunner(config, root)
    _say("docker (RUNNER=auto and a Docker engine answers)")
    return DockerRunner(config, root, client)


def _status(runner: Runner) -> int:
    print(runner.status_line())
    return 0


def _fetch(runner: Runner) -> int:
    runner.fetch_outputs()
    return 0


def _follow(runner: Runner) -> int:
    return runner.follow_log()


def _call(method: str):
    def action(runner: Runner, **kwargs) -> int:
        getattr(runner, method)(**kwargs)
        return 0

    return action


ACTIONS = {
    "volumes": _call("create_volumes"),
    "build": _call("build"),
    "start": _call("start"),
    "stop": _call("stop"),
    "log": _follow,
    "status": _status,
    "fetch": _fetch,
    "reset": _call("reset"),
    "clean": _call("clean"),
}


def run_action(action: str, root: Path | str = ".", grace: float | None = None) -> int:
    """Run one verb (see ACTIONS) with configuration.env + environment; returns an exit code.

    User mistakes (no engine, unbuilt image, no data, bad configuration) print one
    `error: ...` line and return 2 instead of raising.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown runner action {action!r}; use one of {', '.join(ACTIONS)}")
    root = Path(root)
    try:
        runner = select_runner(PipelineConfig.load(root / ENV_FILE), root)
        kwargs = {"grace": grace} if action == "stop" and grace is not None else {}
        return ACTIONS[action](runner, **kwargs)
    except (RunnerError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    """`python -c 'import sys; from dstorch.runner import main; sys.exit(main())' ACTION`"""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ACTIONS:
        print(
            f"usage: ACTION [GRACE_SECONDS]; ACTION is one of {', '.join(ACTIONS)}", file=sys.stderr
        )
        return 2
    grace = float(args[1]) if len(args) > 1 else None
    return run_action(args[0], ".", grace)
