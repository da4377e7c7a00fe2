"""torchrun (torch.distributed.run) in this process, what the runners start for GPUS > 1
or NNODES > 1: `python -m dstorch.training.launch <torchrun options> -m dstorch job ...`.

torchrun forwards SIGTERM/SIGINT to every rank; the ranks agree to stop after the same
step and rank 0 saves (loop.py). torchrun itself then raises SignalException, which is
how a `make stop` ends, not a failure: this exits 0 with one line instead of a traceback.
How the run ended is in rank 0's state.json.

The rendezvous store (a TCPStore that answers anyone who connects, no credentials) listens
only on --master_addr: torch's own server binds every interface, so on the NODE_RANK=0
machine this process opens the listening socket itself, bound to that address, and hands
it to a TCPStore server that torchrun's static rendezvous and the ranks then share (one
server per port and process). On one machine the address is loopback, and gloo and NCCL
are told to use the loopback interface too.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
from datetime import timedelta

from dstorch.entry import command_line, run_guarded

LOOPBACK = "127.0.0.1"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_line(argv, "python -m dstorch.training.launch")
    return run_guarded(lambda: launch(argv), command)


def launch(argv: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    try:
        store = host_rendezvous(argv)  # noqa: F841 (kept open for the whole run)
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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


def option(argv: list[str], name: str) -> str | None:
    """The value of `--name=value` among torchrun's options (before the program)."""
    for arg in argv:
        if arg == "-m" or not arg.startswith("-"):
            return None  # the program and its own arguments start here
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


def host_rendezvous(argv: list[str]):
    """On the node of rank 0: a TCPStore server listening on --master_addr only (a free
    port for --master_port=0, written back into `argv`); None elsewhere. OSError (one
    line) when the address is not this machine's or the port is taken."""
    from torch.distributed import TCPStore

    addr, port = option(argv, "master_addr"), option(argv, "master_port")
    if addr is None or port is None or option(argv, "node_rank") not in (None, "0"):
        return None
    family, kind, proto, _, where = socket.getaddrinfo(addr, int(port), type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(where)
        listener.listen(1024)
    except OSError as e:
        listener.close()
        raise OSError(
            f"cannot listen on MASTER_ADDR={addr} port {port} ({e.strerror}); run NODE_RANK=0 "
            "on the machine with that address, or free the port (MASTER_PORT)"
        ) from None
    bound = listener.getsockname()[1]
    argv[argv.index(f"--master_port={port}")] = f"--master_port={bound}"
    if _is_loopback(addr):
        for variable in ("GLOO_SOCKET_IFNAME", "NCCL_SOCKET_IFNAME"):
            os.environ.setdefault(variable, "lo")  # the ranks' own sockets: loopback too
    return TCPStore(
        addr,
        bound,
        is_master=True,
        multi_tenant=True,  # torchrun's rendezvous on this port gets this server
        master_listen_fd=listener.detach(),
        wait_for_workers=False,
        timeout=timedelta(minutes=10),
    )


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return addr == "localhost"


if __name__ == "__main__":
    sys.exit(main())
