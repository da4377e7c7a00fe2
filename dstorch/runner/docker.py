"""The Docker runner: the job in a detached container of the trainer image.

Three named volumes hold everything that outlives a container: `<VOLUME_PREFIX>_data`
(a copy of data/), `_checkpoints` (checkpoints and the job's state.json) and `_model`
(the export). So `make stop` + `make run`, or a container that was removed, resume from
the volume. Files move in and out through a tiny helper container that is created but
never started (the archive API works on it); it uses a one-layer image with the three
mount points owned by the host user, so fresh volumes get that owner.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import docker.errors
from docker.models.containers import Container
from docker.types import DeviceRequest

from dstorch.config import ENV_PREFIX, PipelineConfig
from dstorch.download import DownloadError, fetch_model
from dstorch.fs import file_sha256
from dstorch.runner.base import (
    FAILED,
    RUNNER_FILE,
    Runner,
    RunnerError,
    exit_status,
    job_environment,
)
from dstorch.runner.docker_engine import connect, empty_tar, tar_bytes
from dstorch.runner.docker_image import DOCKERFILE, build_image
from dstorch.runner.state import STATE_FILE, RunState, parse_state
from dstorch.runner.torchrun import describe, host_has_nvidia_gpu, launcher_args

MOUNTS = {"data": "/data", "checkpoints": "/checkpoints", "model": "/model"}
MANIFEST = ".dstorch-manifest.json"  # in the data volume: file -> sha256 of what it holds
PRETRAINED_DIR = "pretrained"  # in the data volume: PRETRAINED_MODEL, copied from the host
HELPER_IMAGE = "dstorch-volume-helper"
IMAGE_LABEL = "dstorch.image"  # on every stage of the trainer image (Dockerfile.template)
LABEL = {"dstorch": "runner"}


class DockerRunner(Runner):
    """Builds IMAGE_NAME, runs it as `<VOLUME_PREFIX>_trainer` over the named volumes."""

    name = "docker"

    def __init__(
        self, config: PipelineConfig, root: Path, client: docker.DockerClient | None = None
    ):
        super().__init__(config, root)
        self.client = client or connect()
        self.uid, self.gid = os.getuid(), os.getgid()
        prefix = config.volume_prefix
        self.volume_names = {key: f"{prefix}_{key}" for key in MOUNTS}
        self.container_name = f"{prefix}_trainer"
        self.helper_name = f"{prefix}_helper"

    # --- helpers ---------------------------------------------------------------------------
    def _get(self, name: str) -> Container | None:
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _mounts(self, data_mode: str = "rw") -> dict:
        return {
            self.volume_names[k]: {"bind": path, "mode": data_mode if k == "data" else "rw"}
            for k, path in MOUNTS.items()
        }

    def _helper_image(self) -> str:
        tag = f"{HELPER_IMAGE}:{self.uid}-{self.gid}"
        try:
            self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            dirs = tar_bytes({p.lstrip("/"): None for p in MOUNTS.values()}, self.uid, self.gid)
            self.client.api.import_image_from_data(
                dirs, repository=HELPER_IMAGE, tag=f"{self.uid}-{self.gid}"
            )
        return tag

    def helper(self) -> Container:
        """The never-started container through which files enter and leave the volumes."""
        image = self.client.images.get(self._helper_image())
        container = self._get(self.helper_name)
        if container is not None and container.attrs.get("Image") == image.id:
            return container
        if container is not None:
            container.remove(force=True)
        self.create_volumes(quiet=True)
        return self.client.containers.create(
            image.id,
            command=["/none"],
            name=self.helper_name,
            volumes=self._mounts(),
            network_mode="none",
            labels=LABEL,
        )

    def _volume_exists(self, key: str) -> bool:
        try:
            self.client.volumes.get(self.volume_names[key])
        except docker.errors.NotFound:
            return False
        return True

    def _read(self, path: str) -> bytes | None:
        """One file out of a volume (None when it does not exist)."""
        key = next(k for k, mount in MOUNTS.items() if path.startswith(mount + "/"))
        if not self._volume_exists(key):
            return None  # reading must not create volumes as a side effect
        try:
            stream, _ = self.helper().get_archive(path)
        except docker.errors.NotFound:
            return None
        with tempfile.TemporaryFile() as buffer:
            for chunk in stream:
                buffer.write(chunk)
            buffer.seek(0)
            with tarfile.open(fileobj=buffer) as tar:
                member = next((m for m in tar if m.isfile()), None)
                return tar.extractfile(member).read() if member else None

    # --- state ---------------------------------------------------------------------------
    def read_state(self) -> RunState | None:
        return parse_state(self._read(f"{MOUNTS['checkpoints']}/{STATE_FILE}"))

    def alive(self) -> bool:
        container = self._get(self.container_name)
        return container is not None and container.status == "running"

    # --- lifecycle -------------------------------------------------------------------------
    def create_volumes(self, quiet: bool = False) -> None:
        existing = {v.name for v in self.client.volumes.list()}
        for name in self.volume_names.values():
            if name not in existing:
                self.client.volumes.create(name, labels=LABEL)
        if not quiet:
            print(f"docker runner: volumes {', '.join(self.volume_names.values())} ready")

    def build(self) -> None:
        build_image(self.client, self.config, self.root, self.uid, self.gid)
        print(f"docker runner: image {self.config.image_name} built")

    def pretrained(self) -> tuple[dict[str, Path], str]:
        """PRETRAINED_MODEL for the container, which has no network and sees no host path:
        -> ({name in the data volume: host file}, the path the job reads) or ({}, "").
        A URL is downloaded on the host first (into its cache, as `make pretrained` does)."""
        spec = self.config.pretrained_model
        if not spec:
            return {}, ""
        try:
            path = fetch_model(spec, self.config.pretrained_sha256)
        except DownloadError as e:
            raise RunnerError(f"PRETRAINED_MODEL: {e}") from None
        name = f"{PRETRAINED_DIR}/{path.name}"
        if not path.is_dir():
            return {name: path}, f"{MOUNTS['data']}/{name}"
        inside = sorted(p for p in path.rglob("*") if p.is_file())  # a checkpoint folder
        files = {f"{name}/{p.relative_to(path).as_posix()}": p for p in inside}
        return files, f"{MOUNTS['data']}/{name}"

    def sync_data(self, extra: dict[str, Path] | None = None) -> int:
        """Copy new and changed files of data/, and `extra` {name in the volume: host file},
        into the data volume; returns how many."""
        local = {
            p.relative_to(self.data_dir).as_posix(): p
            for p in sorted(self.data_dir.rglob("*"))
            if p.is_file() and not p.name.startswith(".dstorch")  # our locks and temp files
        }
        local.update(extra or {})
        hashes = {name: file_sha256(path) for name, path in local.items()}
        remote = _manifest(self._read(f"{MOUNTS['data']}/{MANIFEST}"))
        changed = [name for name, digest in hashes.items() if remote.get(name) != digest]
        if not changed:
            print(f"docker runner: volume {self.volume_names['data']} already holds data/")
            return 0
        with tempfile.TemporaryFile() as buffer:
            with tarfile.open(fileobj=buffer, mode="w") as tar:
                for name in changed:
                    tar.add(local[name], arcname=name, recursive=False)
                manifest = json.dumps(hashes, indent=1).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode = len(manifest), 0o644
                tar.addfile(info, io.BytesIO(manifest))
            buffer.seek(0)
            self.helper().put_archive(MOUNTS["data"], buffer)
        print(
            f"docker runner: {len(changed)} new or changed files copied into "
            f"{self.volume_names['data']}"
        )
        return len(changed)

    def _run_kwargs(self, gpu: bool, pretrained: str = "") -> dict:
        """The container: every GPU of the host when it has some (asking for GPUs fails on
        machines without); the entrypoint puts `command` (launcher_args: torchrun for
        GPUS/NNODES) before `-m dstorch job`. Several machines talk over the host's network.
        pretrained: where the job finds PRETRAINED_MODEL in the data volume (see pretrained)."""
        environment = job_environment(self.config)
        if pretrained:
            environment[f"{ENV_PREFIX}PRETRAINED_MODEL"] = pretrained
        kwargs = dict(
            command=launcher_args(self.config, gpu) or None,
            image=self.config.image_name,
            name=self.container_name,
            detach=True,
            environment=environment,
            volumes=self._mounts(data_mode="ro"),
            user=f"{self.uid}:{self.gid}",
            network_mode="host" if self.config.nnodes > 1 else "none",
            labels=LABEL,
            shm_size="1g",  # PyTorch shares tensors between processes through /dev/shm
        )
        if gpu:
            kwargs["device_requests"] = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        return kwargs

    def start(self) -> None:
        container = self._get(self.container_name)
        if container is not None and container.status == "running":
            print(f"docker runner: {self.container_name} already running; make log follows it")
            return
        state = self.read_state()
        self.record_epoch(state)
        note = self.finished_note(state)
        if note:
            print(f"docker runner: {note}")
            return
        self.check_data()
        try:
            self.client.images.get(self.config.image_name)
        except docker.errors.ImageNotFound:
            raise RunnerError(
                f"image {self.config.image_name} is not built; run make build"
            ) from None
        pretrained_files, pretrained = self.pretrained()
        self.sync_data(pretrained_files)
        if container is not None:
            container.remove(force=True)  # its settings may be stale (MAX_EPOCH, ...)
        gpu = host_has_nvidia_gpu()
        launch = describe(launcher_args(self.config, gpu))
        try:
            self.client.containers.run(**self._run_kwargs(gpu, pretrained))
        except docker.errors.APIError as e:
            if gpu and "device driver" in str(e):
                raise RunnerError(
                    "this host has NVIDIA GPUs but Docker cannot use them; "
                    "install the NVIDIA Container Toolkit and restart dockerd, "
                    "or set RUNNER=local"
                ) from None
            if e.status_code == 409:  # another `make run` created it a moment ago
                print(f"docker runner: {self.container_name} already running; make log follows it")
                return
            raise RunnerError(f"cannot start {self.container_name}: {e.explanation or e}") from None
        self.remember()
        print(
            f"docker runner: started {self.container_name} "
            f"({'with GPUs' if gpu else 'CPU only'}, {launch}); make log follows it"
        )

    def stop(self, grace: float = 60) -> None:
        container = self._get(self.container_name)
        if container is None or container.status != "running":
            print("docker runner: not running")
        else:
            print(f"docker runner: stopping {self.container_name} (finishing the current step)")
            container.stop(timeout=int(grace))  # SIGTERM, then SIGKILL after `grace`
            container.reload()
            if container.attrs["State"].get("ExitCode") == 137:
                print(
                    f"docker runner: killed after {grace:g}s; the next start resumes "
                    "from the last checkpoint"
                )
        self.record_epoch(self.read_state())

    def follow_log(self) -> int:
        container = self._get(self.container_name)
        if container is None:
            state = self.read_state()
            if state is None:
                raise RunnerError("no training container; start a run first (make run)")
            print(self.status_line())
            return exit_status(state)
        out = sys.stdout.buffer
        try:
            for chunk in container.logs(stream=True, follow=True):
                out.write(chunk)
                out.flush()
            code = container.wait().get("StatusCode", 1)
        except KeyboardInterrupt:
            print("\n(stopped following the log; the job keeps running)")
            return 130
        state = self.read_state()
        self.record_epoch(state)
        return exit_status(state) if code == 0 else FAILED

    def fetch_outputs(self) -> list[Path]:
        self.record_epoch(self.read_state())
        try:
            stream, _ = self.helper().get_archive(MOUNTS["model"])
        except docker.errors.NotFound:
            stream = []
        with tempfile.TemporaryFile() as buffer:
            for chunk in stream:
                buffer.write(chunk)
            buffer.seek(0)
            with tarfile.open(fileobj=buffer) if stream else empty_tar() as tar:
                # Only files directly in the export folder ("model/<file>"): no paths
                # from the archive are trusted beyond a plain file name.
                members = [
                    m
                    for m in tar
                    if m.isfile()
                    and len(Path(m.name).parts) == 2
                    and not Path(m.name).name.startswith(".")
                ]

                def writer(member: tarfile.TarInfo):
                    def write(target: Path) -> None:
                        with open(target, "wb") as out:
                            shutil.copyfileobj(tar.extractfile(member), out)

                    return write

                where = f"volume {self.volume_names['model']}"
                files = {Path(m.name).name: writer(m) for m in members}
                return self.install_models(where, files)

    def _remove_containers(self) -> None:
        for name in (self.container_name, self.helper_name):
            container = self._get(name)
            if container is not None:
                container.remove(force=True)

    def _remove_volumes(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            try:
                self.client.volumes.get(self.volume_names[key]).remove()
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError:
                raise RunnerError(
                    f"volume {self.volume_names[key]} is used by another container; "
                    f"remove it (docker ps -a --filter volume={self.volume_names[key]})"
                ) from None

    def reset(self) -> None:
        if self.alive():
            self.stop()
        self._remove_containers()
        self._remove_volumes(("checkpoints", "model"))
        self.create_volumes(quiet=True)
        self.forget_epoch()
        print("docker runner: checkpoints and state removed; the next run starts from scratch")

    def clean(self) -> None:
        if self.alive():
            self.stop()
        self._remove_containers()
        self._remove_volumes(tuple(MOUNTS))
        removed = self._remove_images()
        (self.root / DOCKERFILE).unlink(missing_ok=True)
        (self.config.run_dir(self.root) / RUNNER_FILE).unlink(missing_ok=True)
        self.forget_epoch()
        print(f"docker runner: containers, volumes and {removed} images removed")

    def _remove_images(self) -> int:
        """IMAGE_NAME, its builder stage (KenLM, about 1.7 GB) and the volume helper."""
        label = f"{IMAGE_LABEL}={self.config.image_name}"
        images = self.client.images.list(all=True, filters={"label": label})
        images += self.client.images.list(name=HELPER_IMAGE)
        names = [self.config.image_name] + [i.id for i in images]
        removed, timeout = 0, self.client.api.timeout
        self.client.api.timeout = max(timeout, 600)  # deleting GBs of layers can take minutes
        try:
            for name in dict.fromkeys(names):  # the final image first: it holds the stages
                try:
                    self.client.images.remove(name, force=True)
                    removed += 1
                except docker.errors.ImageNotFound:
                    pass
                except docker.errors.APIError as e:
                    print(f"docker runner: image {name} kept ({e.explanation})")
        finally:
            self.client.api.timeout = timeout
        return removed


def _manifest(text: bytes | None) -> dict[str, str]:
    """The data volume's MANIFEST: {} when absent or unreadable (then every file is copied)."""
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
