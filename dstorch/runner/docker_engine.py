"""Talking to the Docker engine: a client for the one that answers (or one line saying why
none does), and the in-memory tars that move files through the archive API."""

from __future__ import annotations

import io
import os
import tarfile

import docker
from dstorch.runner.base import RunnerError


def connect(timeout: int = 30) -> docker.DockerClient:
    """A client for the engine that answers, or RunnerError saying why none does."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception as e:  # the SDK raises its own, requests' and OSError variants
        raise RunnerError(
            f"no Docker engine answers ({engine_problem(e)}); start one "
            "(sudo scripts/start_dockerd.sh) or set RUNNER=local"
        ) from None


def engine_problem(error: Exception) -> str:
    text = str(error)
    if "Permission denied" in text or "PermissionError" in text:
        return "permission denied on the Docker socket; add your user to the docker group"
    if "FileNotFoundError" in text or "No such file" in text or "Connection refused" in text:
        return f"nothing listens at {os.environ.get('DOCKER_HOST', '/var/run/docker.sock')}"
    return text.splitlines()[0][:200] if text else type(error).__name__


def tar_bytes(entries: dict[str, bytes | None], uid: int = 0, gid: int = 0) -> bytes:
    """A tar of files (bytes) and directories (None)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.uid, info.gid = uid, gid
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def empty_tar() -> tarfile.TarFile:
    return tarfile.open(fileobj=io.BytesIO(tar_bytes({})))
