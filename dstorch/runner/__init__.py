"""Where training runs: `select_runner()` picks a LocalRunner or a DockerRunner.

Both share one interface (see base.Runner): create_volumes(), build(), start(), stop(grace),
follow_log() -> int, status_line() -> str, fetch_outputs(), clean(), reset().
The verbs (`dstorch run`, `dstorch status`, ...) are dispatched by dstorch.cli.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dstorch.config import PipelineConfig
from dstorch.runner.base import Runner, RunnerError, started_with
from dstorch.runner.local import LocalRunner

__all__ = ["Runner", "RunnerError", "LocalRunner", "select_runner"]


def _say(text: str) -> None:
    # stderr: the choice is commentary, stdout may be parsed (status_line).
    print(f"runner: {text}", file=sys.stderr)


def select_runner(config: PipelineConfig, root: Path) -> Runner:
    """RUNNER=local|docker, or auto: the runner that last started this model's run (so
    `make log` finds a run that `make run RUNNER=local` started); for a new run docker
    when an engine answers, else local."""
    root = Path(root)
    choice, why = config.runner, f"RUNNER={config.runner}"
    started = started_with(config, root) if choice == "auto" else None
    if started:
        choice, run = started, config.run_dir(root).relative_to(root)
        why = f"RUNNER=auto and the {choice} runner last started {run}"
    if choice == "local":
        _say(f"local ({why})")
        return LocalRunner(config, root)
    # Imported here: the Docker SDK is only needed when Docker might be used.
    from dstorch.runner.docker import DockerRunner
    from dstorch.runner.docker_engine import connect

    if choice == "docker":
        runner = DockerRunner(config, root, connect())  # RunnerError names the fix
        _say(f"docker ({why})")
        return runner
    try:
        client = connect(timeout=10)
    except RunnerError as e:
        _say(f"local (RUNNER=auto and {str(e).split(';')[0]})")
        return LocalRunner(config, root)
    _say("docker (RUNNER=auto and a Docker engine answers)")
    return DockerRunner(config, root, client)
