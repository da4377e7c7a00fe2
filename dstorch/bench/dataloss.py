"""The data-loss faults of `make bench-faults` (tests/bench/test_dataloss.py): states and
folders a user can get into, each tried on real files with the real `dstorch` verbs.

- every `last-*.pt` corrupt (truncated, zeroed or empty; sometimes best.pt too): the rerun
  resumes from best.pt, or stops naming the files; best.pt is never made worse.
- a loss that becomes NaN (LEARNING_RATE=1e9): the run fails naming LEARNING_RATE, and
  neither the run nor `dstorch export` writes a model.
- `make export` into a MODELS_DIR holding other files (a base model, notes, another
  model): those stay byte for byte, the model's set is installed whole.
- `make prepare`/`make clean` with DATA_DIR a foreign folder, a source folder, or one
  holding COMMANDS_CSV or NOISE_DIR, or a prepared DATA_DIR the user added a file to:
  nothing of the user's goes.

Each kind counts its trials, those where nothing was lost, and those that ended with a
clear message (the expected line, no traceback).
"""

from __future__ import annotations

import hashlib
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dstorch.bench.faults import _env, make_project, trainer_flags
from dstorch.config import ENV_FILE, SUMMARIES_DIR
from dstorch.datafiles import COMMANDS_CSV, TRAIN_CSV
from dstorch.fs import LOCK_FILE
from dstorch.runner.base import set_env_value
from dstorch.runner.install import mismatched
from dstorch.runner.state import RunStatus, read_state
from dstorch.training import checkpoint as ckpt


@dataclass
class Outcome:
    """Counts over the trials of one fault kind; `problems` says what went wrong where."""

    trials: int = 0
    nothing_lost: int = 0
    clear: int = 0  # ended with the expected one-line message and no traceback
    problems: list[str] = field(default_factory=list)

    def add(self, kind: str, lost: list[str], message_ok: bool, output: str) -> None:
        self.trials += 1
        self.nothing_lost += not lost
        self.clear += message_ok
        self.problems += [f"{kind} trial {self.trials}: {p}" for p in lost]
        if not message_ok:
            tail = " | ".join(output.strip().splitlines()[-2:])
            self.problems.append(f"{kind} trial {self.trials}: unclear message: {tail}")

    def line(self, kind: str) -> str:
        return (
            f"{kind}: {self.trials} trials, {self.nothing_lost} nothing lost, "
            f"{self.clear} with a clear message"
        )


def dstorch(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dstorch", *argv],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=900,
    )


def said(done: subprocess.CompletedProcess, expected: str) -> bool:
    text = done.stdout + done.stderr
    return expected in text and "Traceback" not in text


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def reference_checkpoints(work: Path) -> Path:
    """A finished tiny run (trainer_flags: 3 epochs), trained once and copied per trial."""
    ck = work / "reference" / "ck"
    if not (ck / ckpt.BEST).exists():
        done = dstorch(["train", *trainer_flags(ck)])
        if done.returncode != 0:
            raise RuntimeError(f"reference run failed:\n{done.stderr[-2000:]}")
    return ck


# --- every last-*.pt corrupt -------------------------------------------------------------------


def corrupt(path: Path, rng: random.Random) -> None:
    """Truncate, zero the header of, or empty a checkpoint (what a bad disk or copy does)."""
    data = path.read_bytes()
    how = rng.choice(("truncate", "zero", "empty"))
    if how == "truncate":
        data = data[: rng.randrange(1, len(data) // 2)]
    elif how == "zero":
        data = bytes(rng.randrange(64, 4096)) + data[4096:]
    else:
        data = b""
    path.write_bytes(data)


def corrupt_trial(work: Path, reference: Path, rng: random.Random, out: Outcome) -> None:
    """Corrupt every last-*.pt of a finished run (best.pt too, one time in three), rerun."""
    ck = work / "ck"
    shutil.copytree(reference, ck, ignore=shutil.ignore_patterns(SUMMARIES_DIR, LOCK_FILE))
    before = ckpt.read(ck / ckpt.BEST)["state"]["best_dev_loss"]
    for path in ckpt.last_checkpoints(ck):
        corrupt(path, rng)
    best_too = rng.random() < 1 / 3
    if best_too:
        corrupt(ck / ckpt.BEST, rng)
    files = {k: v for k, v in snapshot(ck).items() if k.endswith(".pt")}
    done = dstorch(["train", *trainer_flags(ck), "--epochs=4"])
    lost = []
    if best_too:  # nothing readable: stop and touch nothing
        if {k: v for k, v in snapshot(ck).items() if k.endswith(".pt")} != files:
            lost.append("checkpoint files were changed")
        ok = done.returncode == 2 and said(done, "error: every checkpoint in")
    else:
        after = ckpt.read(ck / ckpt.BEST)["state"]
        if after["best_dev_loss"] > before:
            lost.append(f"best.pt got worse: {before:.4f} -> {after['best_dev_loss']:.4f}")
        if f"Resuming from {ck / ckpt.BEST}" not in done.stdout:  # seeded: a restart
            lost.append("restarted at epoch 1: its first epoch overwrote best.pt")  # looks alike
        ok = done.returncode == 0 and said(done, "resuming from best.pt")
    out.add("corrupt checkpoints", lost, ok, done.stdout + done.stderr)


# --- a NaN loss --------------------------------------------------------------------------------


def nan_trial(work: Path, rng: random.Random, out: Outcome) -> None:
    """Train at LEARNING_RATE=1e9 with an export folder, then `dstorch export` by hand."""
    ck, model = work / "ck", work / "model"
    seed = rng.randrange(1000)
    flags = [*trainer_flags(ck), "--learning_rate=1e9", f"--random_seed={seed}"]
    done = dstorch(["train", *flags, f"--export_dir={model}"])
    again = dstorch(["export", *flags, f"--export_dir={model}"])  # `dstorch export` by hand
    lost = [f"exported {p.name}" for p in model.glob("*")] if model.exists() else []
    for path in [*ckpt.last_checkpoints(ck), ck / ckpt.BEST]:
        if path.exists() and not all(t.isfinite().all() for t in ckpt.read(path)["model"].values()):
            lost.append(f"{path.name} holds nan/inf weights")
    state = read_state(ck)
    ok = (
        done.returncode == 2
        and said(done, "error: training diverged")
        and "lower LEARNING_RATE" in done.stderr
        and state is not None
        and state.status is RunStatus.FAILED
        and again.returncode == 2
        and said(again, "nothing exported")
    )
    out.add("NaN loss", lost, ok, done.stderr + again.stderr)


# --- export into a MODELS_DIR with other files ---------------------------------------------------


def others(models: Path, rng: random.Random) -> None:
    """What a MODELS_DIR may hold besides this model: seeded names, sizes and folders."""
    names = ["base-en/base-en.pbmm", "base-en/alphabet.txt", "notes.txt", "other.pbmm"]
    names += ["other.scorer", "other.manifest.json", "old/commands-v1.pbmm", "README"]
    for name in rng.sample(names, rng.randint(3, len(names))):
        (models / name).parent.mkdir(parents=True, exist_ok=True)
        (models / name).write_bytes(rng.randbytes(rng.randint(0, 5000)))


def export_trial(work: Path, reference: Path, rng: random.Random, out: Outcome) -> None:
    """`make export` of a real export into a MODELS_DIR holding seeded other files."""
    project = make_project(work / "project", speakers=1)
    export = project / "runs" / "commands" / "model"
    flags = [f"--checkpoint_dir={reference}", f"--export_dir={export}"]
    made = dstorch(["export", *flags, "--export_file_name=commands"])
    if made.returncode != 0:
        raise RuntimeError(f"export failed:\n{made.stderr[-2000:]}")
    models = project / "models"
    models.mkdir()
    others(models, rng)
    if rng.random() < 0.5:  # this model's own stale file, from an earlier EXPORT_TFLITE=yes
        (models / "commands.tflite").write_bytes(b"stale")
    kept = {k: v for k, v in snapshot(models).items() if not k.startswith("commands.")}
    done = dstorch(["fetch", "--config=configuration.env"], cwd=project)
    now = snapshot(models)
    lost = [
        f"{name} changed or removed" for name, digest in kept.items() if now.get(name) != digest
    ]
    exported = snapshot(export)
    lost += [f"{name} not installed" for name, d in exported.items() if now.get(name) != d]
    lost += ["commands.tflite (stale) survived"] if "commands.tflite" in now else []
    lost += [f"{name} does not match the manifest" for name in mismatched(models, "commands")]
    ok = done.returncode == 0 and said(done, f"{len(exported)} files copied into models/")
    out.add("export beside other files", lost, ok, done.stdout + done.stderr)


# --- make prepare / make clean of a folder that is not dstorch's ---------------------------------

CLEAN_CASES = ("foreign", "scripts", "commands inside", "noise inside", "prepared + yours")
# case -> (DATA_DIR, {other key: path in DATA_DIR}, verbs run, the message expected)
_CASES = {
    "foreign": ("victim", {}, ("prepare", "clean"), "already holds files dstorch did not write"),
    "scripts": ("scripts", {}, ("clean",), "holds the project's scripts"),
    "commands inside": ("victim", {"COMMANDS_CSV": COMMANDS_CSV}, ("clean",), "COMMANDS_CSV"),
    "noise inside": ("victim", {"NOISE_DIR": "noise"}, ("clean",), "holds NOISE_DIR"),
    "prepared + yours": ("data", {}, ("clean",), "kept DATA_DIR="),
}


def clean_trial(work: Path, rng: random.Random, case: str, out: Outcome) -> None:
    """`case` of CLEAN_CASES: the user's files in DATA_DIR must all survive."""
    project = make_project(work / "project", speakers=2)
    config = project / ENV_FILE
    name, inside, verbs, expected = _CASES[case]
    folder = project / name
    set_env_value(config, "SYNTHETIC_VOICES", "none")
    set_env_value(config, "DATA_DIR", str(folder))
    for key, relative in inside.items():
        set_env_value(config, key, str(folder / relative))
    if case == "prepared + yours":
        dstorch(["prepare", "--config=configuration.env"], cwd=project)
    yours = yours_files(folder, rng)
    outputs = [dstorch([verb, "--config=configuration.env"], cwd=project) for verb in verbs]
    now = snapshot(folder) if folder.exists() else {}
    lost = [
        f"{name} removed or changed" for name, digest in yours.items() if now.get(name) != digest
    ]
    if case == "prepared + yours" and (folder / TRAIN_CSV).exists():
        lost.append("what prepare wrote was not removed")  # not a loss, but clean failed
    ok = all("Traceback" not in d.stdout + d.stderr for d in outputs) and said(outputs[0], expected)
    out.add(f"clean ({case})", lost, ok, "".join(d.stdout + d.stderr for d in outputs))


def yours_files(folder: Path, rng: random.Random) -> dict[str, str]:
    """Seeded files of the user's in `folder`; -> {relative name: sha256}."""
    names = ["thesis.tex", "notes/today.txt", "x.py", "noise/fan.wav", "recordings/take.wav"]
    chosen = rng.sample(names, rng.randint(1, len(names))) + [COMMANDS_CSV, "noise/a.wav"]
    digests = {}
    for name in chosen:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.randint(1, 3000))
        (folder / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def dataloss_trials(work: Path, trials: int, seed: int) -> dict[str, Outcome]:
    """`trials` of each kind (the clean trials go through CLEAN_CASES in turn), seeded."""
    reference = reference_checkpoints(work)
    kinds = {
        "every last-*.pt corrupt": (corrupt_trial, (reference,)),
        "NaN loss": (nan_trial, ()),
        "export into a folder with other files": (export_trial, (reference,)),
        "make clean of a foreign folder": (clean_trial, ()),
    }
    results = {}
    for k, (kind, (trial, args)) in enumerate(kinds.items()):
        outcome = results[kind] = Outcome()
        for i in range(trials):
            rng = random.Random(f"{seed}:{k}:{i}")
            folder = work / f"dataloss-{k}-{i}"
            folder.mkdir(parents=True)
            extra = (CLEAN_CASES[i % len(CLEAN_CASES)],) if trial is clean_trial else ()
            trial(folder, *args, rng, *extra, outcome)
    return results
