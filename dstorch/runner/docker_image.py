"""Building the trainer image: render Dockerfile.template, pack a minimal build context,
and build it with the host's pip configuration lent to `pip install` (runner.pip_lender).

The context is assembled here rather than sent as the whole checkout: data/, runs/ and
.venv/ can be gigabytes, and a fixed file list keeps the layer cache stable.
"""

from __future__ import annotations

import io
import re
import sys
import tarfile
import tempfile
from pathlib import Path

from dstorch.config import PipelineConfig
from dstorch.runner.base import RunnerError
from dstorch.runner.pip_lender import lend_pip_config

TEMPLATE = "Dockerfile.template"
DOCKERFILE = "Dockerfile"
REQUIREMENTS = "requirements-docker.txt"
KERNEL_SOURCES = "dstorch/decoder/kernel"  # the C kernel's sources and its build.py


def render_dockerfile(config: PipelineConfig, root: Path, uid: int, gid: int) -> str:
    """Dockerfile.template with its {{NAME}} placeholders filled in."""
    template = Path(root) / TEMPLATE
    if not template.exists():
        raise RunnerError(f"{TEMPLATE} is missing from {root}; restore it from git")
    values = {
        "BASE_IMAGE": config.base_image,
        "IMAGE_NAME": config.image_name,  # labels every stage: what `make clean` removes
        "UID": str(uid),
        "GID": str(gid),
    }
    text = re.sub(
        r"\{\{(\w+)\}\}", lambda m: values.get(m.group(1), m.group(0)), template.read_text()
    )
    unknown = sorted(set(re.findall(r"\{\{(\w+)\}\}", text)))
    if unknown:
        raise RunnerError(
            f"{TEMPLATE} uses unknown placeholders {unknown}; known: {sorted(values)}"
        )
    return "# Generated from Dockerfile.template by dstorch; edit the template.\n" + text


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    # Fixed owner and time: only content and mode decide whether a layer is rebuilt.
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    tar.addfile(info, io.BytesIO(data))


def context_files(root: Path) -> dict[str, Path]:
    """Archive name -> file for everything the image needs, and nothing else."""
    root = Path(root)
    files = {
        f"deps/{REQUIREMENTS}": root / REQUIREMENTS,
        "deps/constraints.txt": root / "constraints.txt",  # the venv's versions
        "deps/pip_install.sh": root / "docker" / "pip_install.sh",
        "deps/pip_config.sh": root / "docker" / "pip_config.sh",
        # The builder stage compiles lmplz/build_binary with the same script as `make
        # dependencies`, and the `kenlm` wheel.
        "deps/kenlm_stage.sh": root / "docker" / "kenlm_stage.sh",
        "deps/build_kenlm.sh": root / "scripts" / "build_kenlm.sh",
        "app/docker/entrypoint.sh": root / "docker" / "entrypoint.sh",
    }
    # The builder stage compiles the decoder kernel with the same build.py as `make
    # dependencies`. It never sees app/: only an edit of the kernel rebuilds it.
    kernel = root / KERNEL_SOURCES
    for path in [*sorted(kernel.glob("*.[ch]")), kernel / "build.py"]:
        files[f"deps/ctc_kernel/{path.name}"] = path
    for path in sorted((root / "dstorch").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files[f"app/{path.relative_to(root).as_posix()}"] = path
    missing = [str(p.relative_to(root)) for p in files.values() if not p.exists()]
    if missing:
        raise RunnerError(f"missing from the checkout: {', '.join(missing)}; restore them from git")
    return files


def build_context(root: Path, dockerfile: str) -> tempfile.SpooledTemporaryFile:
    """The build context as an uncompressed tar, rewound and ready to send."""
    buffer = tempfile.SpooledTemporaryFile(max_size=32 << 20)
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        _add(tar, DOCKERFILE, dockerfile.encode())
        for name, path in context_files(root).items():
            _add(tar, name, path.read_bytes(), 0o755 if name.endswith(".sh") else 0o644)
    buffer.seek(0)
    return buffer


def build_image(client, config: PipelineConfig, root: Path, uid: int, gid: int) -> str:
    """Render the Dockerfile, build IMAGE_NAME from it and return the image id."""
    import docker.errors  # the local runner never needs the Docker SDK

    dockerfile = render_dockerfile(config, root, uid, gid)
    (Path(root) / DOCKERFILE).write_text(dockerfile)
    print(f"docker runner: building {config.image_name} from {config.base_image}")
    image_id = None
    with lend_pip_config() as helper, build_context(root, dockerfile) as context:
        try:
            for chunk in client.api.build(
                fileobj=context,
                custom_context=True,
                tag=config.image_name,
                rm=True,
                forcerm=True,
                network_mode="host",
                buildargs={"PIP_HELPER": helper},
                decode=True,
            ):
                if "stream" in chunk:
                    sys.stdout.write(chunk["stream"])
                    sys.stdout.flush()
                if "error" in chunk:
                    raise build_error(config, chunk["error"].strip().splitlines()[0])
                image_id = chunk.get("aux", {}).get("ID", image_id)
        except docker.errors.APIError as e:
            raise build_error(config, str(e.explanation or e)) from None
    return image_id or client.images.get(config.image_name).id


def build_error(config: PipelineConfig, reason: str) -> RunnerError:
    """One line with the likely fix: an unreachable base image is the common case."""
    hint = ""
    if "registry" in reason or "pull access denied" in reason or "not found" in reason:
        hint = (
            f"; BASE_IMAGE={config.base_image} could not be pulled: check network access to"
            " its registry, or build a local base image (scripts/make_base_image.sh "
            "dstorch-base:latest) and set BASE_IMAGE=dstorch-base:latest, or use RUNNER=local"
        )
    return RunnerError(f"docker build of {config.image_name} failed: {reason}{hint}")
