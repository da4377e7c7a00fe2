"""torchrun (torch.distributed.run) in this process, what the runners start for GPUS > 1
or NNODES > 1: `python -m dstorch.training.launch <torchrun options> -m dstorch job ...`.

torchrun forwards SIGTERM/SIGINT to every rank; the ranks agree to stop after the same
step and rank 0 saves (loop.py). torchrun itself then raises SignalException, which is
how a `make stop` ends, not a failure: this exits 0 with one line instead of a traceback.
How the run ended is in rank 0's state.json.
"""

from __future__ import annotations

import signal
import sys


def main(argv: list[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        torchrun(argv)
    except SignalException as e:
        name = signal.Signals(e.sigval).name
        print(
            f"torchrun: {name} passed on to every rank (each stops after its current step)",
            flush=True,
        )
        return 0
    except ChildFailedError as e:  # torchrun has printed which rank failed and why
        print(f"torchrun: a rank failed ({e.name}); see its error above", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
