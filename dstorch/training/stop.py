"""The stop flag of a training job: SIGTERM/SIGINT (`make stop`, Ctrl-C, torchrun passing a
signal on) set it, and the job and the loop check it between phases and steps, so a run
stops where it can save, never in the middle of writing a checkpoint.
"""

from __future__ import annotations

import signal


class GracefulStop:
    """Turns SIGTERM/SIGINT into a flag the loop checks after each step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = {}

    def __enter__(self) -> GracefulStop:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if not self.requested:
            print(f"\nReceived {signal.Signals(signum).name}: saving after this step.", flush=True)
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
