"""Installing a model into MODELS_DIR (dstorch.runner.install): only the model's own files
are replaced, each atomically, with a manifest written last; what else lives in the folder
(a base model, notes, another model) survives. Also through the Docker runner's archive
path, which needs no engine to check."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import pytest
from runner_helpers import clear_config_environment, load, make_project

from dstorch.fs import TEMP_GLOB
from dstorch.runner.install import install, mismatched, read_manifest, uninstall
from dstorch.runner.state import RunState, RunStatus

OTHERS = {"base-en/base-en.pbmm": "base model", "notes.txt": "mine", "other.pbmm": "other"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    clear_config_environment(monkeypatch)


def folder_with_others(tmp_path):
    models = tmp_path / "models"
    (models / "base-en").mkdir(parents=True)
    for name, text in OTHERS.items():
        (models / name).write_text(text)
    return models


def writers(contents: dict[str, str]):
    return {n: (lambda target, text=text: target.write_text(text)) for n, text in contents.items()}


def texts(models) -> dict[str, str]:
    return {
        p.relative_to(models).as_posix(): p.read_text()
        for p in models.rglob("*")
        if p.is_file() and not p.name.endswith(".manifest.json")
    }


def test_install_replaces_only_the_models_files_and_drops_its_stale_ones(tmp_path):
    models = folder_with_others(tmp_path)
    first = {"m.pbmm": "1", "m.scorer": "1", "m.tflite": "1", "report.json": "1"}
    install(models, "m", writers(first))
    assert texts(models) == {**OTHERS, **first}
    assert set(read_manifest(models, "m")) == set(first)
    second = {"m.pbmm": "2", "report.json": "2"}  # no scorer, no .tflite this time
    paths = install(models, "m", writers(second))
    assert {p.name for p in paths} == set(second)
    assert texts(models) == {**OTHERS, **second}, "stale or foreign files"
    assert json.loads((models / "m.manifest.json").read_text())["model"] == "m"
    assert mismatched(models, "m") == []
    uninstall(models, "m")
    assert texts(models) == OTHERS and not (models / "m.manifest.json").exists()


def test_a_failed_install_changes_nothing_and_leaves_no_temp(tmp_path):
    models = folder_with_others(tmp_path)
    install(models, "m", writers({"m.pbmm": "old", "m.scorer": "old"}))

    def broken(target):
        target.write_text("half")
        raise OSError("copy failed")

    with pytest.raises(OSError):
        install(models, "m", {**writers({"m.pbmm": "new"}), "m.scorer": broken})
    assert texts(models) == {**OTHERS, "m.pbmm": "old", "m.scorer": "old"}
    assert list(models.rglob(TEMP_GLOB)) == [] and mismatched(models, "m") == []
    with pytest.raises(ValueError, match="not a model file"):
        install(models, "m", writers({"../escape.pbmm": "x"}))


def test_a_set_changed_after_its_install_is_noticed(tmp_path):
    models = tmp_path / "models"
    install(models, "m", writers({"m.pbmm": "1", "m.scorer": "1"}))
    shutil.copy(models / "m.pbmm", tmp_path / "x")
    (tmp_path / "x").write_text("a newer model")  # what an export cut short leaves
    (tmp_path / "x").replace(models / "m.pbmm")
    assert mismatched(models, "m") == ["m.pbmm"]


class _Helper:
    """The volume helper container's archive API, answering with a real tar stream."""

    def __init__(self, files: dict[str, str]):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for name, text in files.items():
                info = tarfile.TarInfo(f"model/{name}")
                info.size = len(text.encode())
                tar.addfile(info, io.BytesIO(text.encode()))
        self.data = buffer.getvalue()

    def get_archive(self, path):
        assert path == "/model"
        return [self.data], {}


def test_docker_fetch_installs_the_same_way(tmp_path, monkeypatch):
    from dstorch.runner.docker import DockerRunner

    root = make_project(tmp_path, RUNNER="docker", MODEL_NAME="m")
    monkeypatch.chdir(root)
    models = folder_with_others(root)
    (models / "m.tflite").write_text("stale")
    runner = DockerRunner(load(root), root, client=object())  # no engine is contacted
    monkeypatch.setattr(runner, "read_state", lambda: RunState(RunStatus.FINISHED, epoch=0))
    exported = {"m.pbmm": "new", "m.scorer": "new", "alphabet.txt": "a", ".hidden": "no"}
    monkeypatch.setattr(runner, "helper", lambda: _Helper(exported))
    copied = {p.name for p in runner.fetch_outputs()}
    assert copied == {"m.pbmm", "m.scorer", "alphabet.txt"}
    assert texts(models) == {**OTHERS, "m.pbmm": "new", "m.scorer": "new", "alphabet.txt": "a"}
    monkeypatch.setattr(runner, "read_state", lambda: RunState(RunStatus.FAILED, error="nan"))
    with pytest.raises(ValueError, match="the run failed.*nan.*nothing exported"):
        runner.fetch_outputs()
