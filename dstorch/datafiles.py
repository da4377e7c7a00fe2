"""The names of the files the pipeline lays out: in DATA_DIR (prepare writes them; the
trainer, the runners and `make clean` read them), in an export folder (the job writes
them; `make export` installs them into MODELS_DIR) and in the example project.

Each name is defined here once and imported wherever a path is built, so no two modules
can disagree about one. This module imports nothing of dstorch: config, prepare,
training, runner and inference all import it without a cycle. Names are relative to
their folder, with "/" between parts.
"""

from __future__ import annotations

# --- DATA_DIR -------------------------------------------------------------------------------

TRAIN_CSV = "train.csv"
DEV_CSV = "dev.csv"
TEST_CSV = "test.csv"
SPLITS = ("train", "dev", "test")  # the registry's splits, each listed in its own CSV
SPLIT_CSVS = dict(zip(SPLITS, (TRAIN_CSV, DEV_CSV, TEST_CSV), strict=True))
ALPHABET_FILE = "alphabet.txt"  # also beside an exported model (not in bytes output mode)
REGISTRY_FILE = "registry.csv"  # every recording and take, with its split
LM_CORPUS = "lm_corpus.txt"  # prepare writes it, the scorer stage reads it
SYNTHETIC_DIR = "synthetic"  # synthetic/<lang>/<engine>/<voice>/*.wav: synthetic takes
BANKS_DIR = "augment"  # dstorch.augment.cache: generated rooms and babble, <name>-<digest>.npz
# Written by prepare when GENERAL_SENTENCES or NEAR_MISSES is set: words an answer that is
# no command may use (the scorer's out-of-grammar path), and speech that is no command:
# for training (with its true transcripts), and negatives to tune rejection on (dev) and
# to count false accepts on (test). Their takes and noise live under SPEECH_DIR too.
LM_GARBAGE = "lm_garbage.txt"
SPEECH_DIR = "speech"
SPEECH_TRAIN = f"{SPEECH_DIR}/train.csv"
DEV_NEGATIVES = f"{SPEECH_DIR}/dev_negatives.csv"
TEST_NEGATIVES = f"{SPEECH_DIR}/test_negatives.csv"

# --- an export folder (and MODELS_DIR): besides <MODEL_NAME>.pb, .pbmm, ... ------------------

REPORT_JSON = "report.json"  # the test report (dstorch.training.report_schema)
REPORT_HTML = "report.html"  # its page (dstorch.report); the plots: dstorch.report.plots

# --- the example project (the shipped configuration.env's COMMANDS_CSV and ORIGINAL_DIR) ---

COMMANDS_CSV = "commands.csv"
ORIGINAL_DIR = "original"
