"""`make pretrain`: a general base model for LANGUAGE from synthetic speech, where no
released DeepSpeech model exists (or none is wanted).

The installed synthesizers (PRETRAIN_VOICES, SYNTHETIC_VOICES syntax) speak PRETRAIN_SENTENCES
short sentences: lines of LM_TEXT when set, else seeded word sequences from the system word
list (/usr/share/dict, `wamerican` for English). Each sentence gets one seeded voice, rate,
pitch and level, and AUGMENT applies in training as usual. The trainer is the pipeline's
(device auto: the GPU when present), run in the foreground with its checkpoints in
runs/pretrain-<LANGUAGE>/, so Ctrl-C saves and a second `make pretrain` resumes. The export,
MODELS_DIR/base-<LANGUAGE>/base-<LANGUAGE>.pbmm, is what PRETRAINED_MODEL accepts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
from collections import Counter
from pathlib import Path

from dstorch.alphabet import Alphabet
from dstorch.config import RUNS_DIR, PipelineConfig, TrainConfig
from dstorch.datafiles import ALPHABET_FILE, DEV_CSV, TRAIN_CSV
from dstorch.prepare.problems import PrepareError
from dstorch.prepare.synthetic.catalog import choose
from dstorch.prepare.synthetic.plan import plan_sentences
from dstorch.prepare.synthetic.render import render_takes, write_takes_csv

# The system word list of a LANGUAGE (Debian packages wamerican, wspanish, ngerman, ...).
WORD_LISTS = {
    "en": ("american-english", "british-english", "words"),
    "es": ("spanish",),
    "de": ("ngerman", "ogerman"),
    "fr": ("french",),
    "it": ("italian",),
    "pt": ("portuguese", "brazilian"),
}
DICT_DIR = Path("/usr/share/dict")
WORDS_PER_SENTENCE = (1, 3)  # short utterances, like commands
MAX_WORD = 9  # letters; the list's long rare words make long clips and little else
DEV_SHARE = 0.05  # of the sentences, for early stopping and the plateau LR
RARE_CHAR = 1e-3  # characters in fewer than this share of the words are not in the alphabet
WORD = re.compile(r"[^\W\d_]+")  # letters only: no possessives, abbreviations or numbers


def base_name(language: str) -> str:
    return f"base-{language}"


def base_model_path(config: PipelineConfig) -> Path:
    """Where `make pretrain` exports the base model (a PRETRAINED_MODEL value)."""
    name = base_name(config.language)
    return Path(config.models_dir) / name / f"{name}.pbmm"


def word_list(language: str, dict_dir: Path = DICT_DIR) -> Path:
    for name in WORD_LISTS.get(language.split("-")[0].lower(), ()):
        if (dict_dir / name).is_file():
            return dict_dir / name
    raise PrepareError(
        f"no word list for LANGUAGE={language} in {dict_dir} (English: apt-get install "
        "wamerican); set LM_TEXT to a file of sentences instead"
    )


def sentences(config: PipelineConfig, count: int, seed: int, dict_dir: Path = DICT_DIR) -> list:
    """`count` distinct lower-case sentences: LM_TEXT's lines, else word-list sequences."""
    rng = random.Random(seed)
    if config.lm_text:
        lines = Path(config.lm_text).read_text(encoding="utf-8").splitlines()
        unique = sorted({" ".join(line.lower().split()) for line in lines if line.strip()})
        rng.shuffle(unique)
        return unique[:count]
    path = word_list(config.language, dict_dir)
    text = path.read_text(encoding="utf-8").split()
    words = sorted({w.lower() for w in text if WORD.fullmatch(w) and len(w) <= MAX_WORD})
    per_char = Counter(ch for w in words for ch in set(w))
    common = {ch for ch, n in per_char.items() if n >= RARE_CHAR * len(words)}
    words = [w for w in words if set(w) <= common]
    low, high = WORDS_PER_SENTENCE
    return [" ".join(rng.sample(words, rng.randint(low, high))) for _ in range(count)]


def build_data(config: PipelineConfig, folder: Path, dict_dir: Path = DICT_DIR) -> Path:
    """Render the sentences into folder/ with train.csv, dev.csv and alphabet.txt; -> folder.

    Rendering is incremental: takes already there (named by their recipe) are kept.
    """
    choices, notes = choose(config.pretrain_voices, config.language)
    if not choices:
        raise PrepareError(notes[0] if notes else "PRETRAIN_VOICES selects no voice")
    print(notes[0])
    texts = sentences(config, config.pretrain_sentences, config.random_seed, dict_dir)
    takes = plan_sentences(choices, texts, config.random_seed)
    todo = [t for t in takes if not (folder / t.relpath(config.language)).exists()]
    by_name = {c.engine.name: c.engine for c in choices}
    failed: list[str] = []
    render_takes(
        todo, by_name, folder, config.language, lambda t, p, e: e and failed.append(t.command)
    )
    if failed:
        print(f"{len(failed)} of {len(takes)} sentences failed to render; training without them")
    rendered = [t for t in takes if (folder / t.relpath(config.language)).exists()]
    labels = sorted({ch for t in rendered for ch in t.text} - {" "})
    Alphabet([" ", *labels]).save(folder / ALPHABET_FILE)
    n_dev = max(1, int(len(rendered) * DEV_SHARE))
    order = sorted(rendered, key=lambda t: hashlib.sha256(t.command.encode()).hexdigest())
    write_takes_csv(folder / DEV_CSV, folder, order[:n_dev], config.language)
    write_takes_csv(folder / TRAIN_CSV, folder, order[n_dev:], config.language)
    return folder


def train_config(config: PipelineConfig, root: Path) -> TrainConfig:
    """The trainer flags of the base model: the pipeline's, from scratch, no test set."""
    run = Path(root) / RUNS_DIR / base_name(config.language)
    export = base_model_path(config).parent
    base = dataclasses.replace(
        config,
        pretrained_model="",
        max_epoch=config.pretrain_epochs,
        general_sentences=0,  # its sentences are already everything but commands
        near_misses=0,
        discriminative_weight=0.0,  # no commands: every sentence is its own transcript
    )
    flags = base.train_config(str(run / "data"), str(run / "checkpoints"), str(export))
    return dataclasses.replace(
        flags,
        test_files="",
        test_output_file="",
        export_file_name=base_name(config.language),
    )


def pretrain(config: PipelineConfig, root: Path) -> Path | None:
    """Build the data, train (resuming), export; -> the base model's .pbmm, None when
    stopped (a signal: the checkpoint is saved)."""
    from dstorch.runner.state import RunStatus
    from dstorch.training import job

    flags = train_config(config, root)
    build_data(config, Path(flags.train_files).parent)
    if job.run(flags) is not RunStatus.FINISHED:
        print("Pretraining stopped; make pretrain resumes it.")
        return None
    path = base_model_path(config)
    print(f"Base model: {path}; use it with PRETRAINED_MODEL={path}")
    return path
